"""Faults injected into real 3D pose tracks, for the tests and the accuracy benchmark.

Each function takes ``(T, 17, 3)`` poses (metres, camera axes, H36M order) and returns a modified
copy; reps are given as ``(start, bottom, end)`` frame spans (a reference's calibration, or the reps
a clean clip was counted with).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lifting.joints import H36M

Span = tuple[int, int, int]
"""(start, bottom, end) frame indices of one rep."""


def body_up_left(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 3)`` unit axes of the body: up (pelvis -> thorax) and left (right hip -> left hip, made
    orthogonal to up)."""
    up = p[:, H36M.THORAX] - p[:, H36M.PELVIS]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    left = p[:, H36M.L_HIP] - p[:, H36M.R_HIP]
    left -= np.sum(left * up, axis=-1, keepdims=True) * up
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    return up, left


def bend_share(p: np.ndarray, a: H36M, b: H36M, c: H36M) -> np.ndarray:
    """``(T,)`` how bent the joint ``b`` is in each frame (180 deg minus the angle a-b-c), as a share
    of its deepest bend in the track: 0 straight, 1 at the deepest."""
    u, v = p[:, a] - p[:, b], p[:, c] - p[:, b]
    cos = np.sum(u * v, axis=-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    bend = 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.clip(bend / np.nanmax(bend), 0.0, 1.0)


def forward_axis(p: np.ndarray) -> np.ndarray:
    up, left = body_up_left(p)
    return np.cross(left, up)


def drop_hips(p: np.ndarray, degrees: float) -> np.ndarray:
    """Move the hips toward the floor (the chest's side) until the shoulder-hip-ankle line bends by ``degrees``."""
    out = p.copy()
    shoulders = (p[:, H36M.L_SHOULDER] + p[:, H36M.R_SHOULDER]) / 2
    hips = (p[:, H36M.L_HIP] + p[:, H36M.R_HIP]) / 2
    ankles = (p[:, H36M.L_ANKLE] + p[:, H36M.R_ANKLE]) / 2
    a = np.linalg.norm(shoulders - hips, axis=-1)
    b = np.linalg.norm(ankles - hips, axis=-1)
    # hips off the line by d bend it by atan(d/a) + atan(d/b) ~ d (a + b) / (a b)
    d = np.tan(np.radians(degrees)) * a * b / (a + b)
    shift = forward_axis(p) * d[:, None]
    for joint in (H36M.PELVIS, H36M.L_HIP, H36M.R_HIP):
        out[:, joint] += shift
    out[:, H36M.SPINE] += shift / 2
    return out - out[:, :1]


def lag_left_arm(p: np.ndarray, frames: int) -> np.ndarray:
    """The left elbow and wrist follow the same motion ``frames`` later (relative to the left shoulder)."""
    out = p.copy()
    for joint in (H36M.L_ELBOW, H36M.L_WRIST):
        rel = p[:, joint] - p[:, H36M.L_SHOULDER]
        delayed = np.concatenate([np.repeat(rel[:1], frames, axis=0), rel[:-frames]])
        out[:, joint] = p[:, H36M.L_SHOULDER] + delayed
    return out


def lean_forward(p: np.ndarray, degrees: float) -> np.ndarray:
    """Tip everything above the hips forward about the hip axis by ``degrees`` (the chest toward the knees)."""
    out = p.copy()
    pelvis = (p[:, H36M.L_HIP] + p[:, H36M.R_HIP]) / 2
    axis = p[:, H36M.L_HIP] - p[:, H36M.R_HIP]
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    theta = np.radians(degrees)
    upper = [H36M.SPINE, H36M.THORAX, H36M.NECK_NOSE, H36M.HEAD, H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST,
             H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST]  # fmt: skip
    for joint in upper:
        v = p[:, joint] - pelvis  # Rodrigues' rotation about the left-right axis
        cross = np.cross(axis, v)
        dot = np.sum(axis * v, axis=-1, keepdims=True)
        out[:, joint] = pelvis + v * np.cos(theta) + cross * np.sin(theta) + axis * dot * (1 - np.cos(theta))
    return out


def shallow_to(p: np.ndarray, spans: Sequence[Span], share: float) -> np.ndarray:
    """Each rep goes only ``share`` of the way down (every frame blended back toward the rep's start)."""
    out = p.copy()
    for start, _, end in spans:
        out[start : end + 1] = p[start] + share * (p[start : end + 1] - p[start])
    return out


def short_of_top(
    p: np.ndarray, spans: Sequence[Span], degrees: float, angle: Callable[[np.ndarray], np.ndarray], hold: int = 5
) -> np.ndarray:
    """No lockout: from the first rep's turning point on, the limbs come back up only to ``degrees`` short
    of the straightest the track held (for ``hold`` frames in a row, about 0.15 s at 30 fps) before it:
    the person's own lockout. Between one turning point
    and the next, every frame is pulled part of the way toward the bent pose of those turning points
    (blended in time), as far as needed for ``angle`` (``(T, 17, 3)`` -> ``(T,)`` degrees, larger =
    straighter, e.g. the mean elbow angle) to stay at or under that level; the straight posture before
    the first rep is left as it was."""
    out = p.copy()
    bottoms = [bottom for _, bottom, _ in spans]
    before = angle(p[: bottoms[0] + 1])
    held = np.lib.stride_tricks.sliding_window_view(before, min(hold, len(before))).min(axis=1)
    target = float(np.nanmax(held)) - degrees
    for k, bottom in enumerate(bottoms):
        nxt = bottoms[k + 1] if k + 1 < len(bottoms) else len(p)
        frames = np.arange(bottom, nxt)
        if k + 1 < len(bottoms):
            along = ((frames - bottom) / (nxt - bottom))[:, None, None]
            bent = p[bottom] + along * (p[nxt] - p[bottom])
        else:
            bent = np.broadcast_to(p[bottom], p[bottom:].shape)
        lo, hi = 0.0, 1.0  # the least pull that keeps the gap's straightest frame at the target
        for _ in range(20):
            share = (lo + hi) / 2
            if np.nanmax(angle(p[bottom:nxt] + share * (bent - p[bottom:nxt]))) > target:
                lo = share
            else:
                hi = share
        out[bottom:nxt] = p[bottom:nxt] + hi * (bent - p[bottom:nxt])
    return out


def in_ascent(spans: Sequence[Span], frames: int, start: float = 0.35, stop: float = 0.75) -> np.ndarray:
    """``(frames,)`` bool: between ``start`` and ``stop`` of the way from each rep's turning point back
    to its end: the way up, clear of the bottom and of the top."""
    mask = np.zeros(frames, dtype=bool)
    for _, bottom, end in spans:
        length = end - bottom
        mask[bottom + round(start * length) : bottom + round(stop * length) + 1] = True
    return mask


def retime(timestamps_ms: np.ndarray, speed: int) -> tuple[np.ndarray, np.ndarray]:
    """Play ``speed`` times faster: (frame indices kept, their new timestamps)."""
    keep = np.arange(0, len(timestamps_ms), speed)
    return keep, timestamps_ms[keep // speed]


def knees_in(p: np.ndarray, degrees: float) -> np.ndarray:
    """Knees caving in as the legs bend: each knee moved toward the body's midline, by up to ``degrees``
    inside its hip-ankle line (seen from the middle of that line) at the deepest bend, in proportion
    to the bend (straight legs stay straight, as in a real valgus squat)."""
    out = p.copy()
    _, left = body_up_left(p)
    legs = ((H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE, -left), (H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE, left))
    for hip, knee, ankle, medial in legs:
        share = bend_share(p, hip, knee, ankle)[:, None]
        half = np.linalg.norm(p[:, ankle] - p[:, hip], axis=-1, keepdims=True) / 2
        out[:, knee] += medial * half * np.tan(np.radians(degrees)) * share
    return out


def lift_heels(p: np.ndarray, extras: np.ndarray, degrees: float, spans: Sequence[Span]) -> np.ndarray:
    """Heels coming off the floor as the knees bend: in each rep, each heel raised about its toe (toward
    the camera's up, -y) by up to ``degrees`` of foot angle at the rep's deepest bend, in proportion to
    the bend beyond the rep's start (the feet flat as the rep starts, as in a real lift); frames
    outside the reps are left as they were. ``p``: the ``(T, 17, 3)`` poses (for the knee bend);
    ``extras``: the feet and hands (``lifting.joints.Extra``), ``(T, 6, 3)`` in 3D or ``(T, 6, 2)``
    pixels of the picture (y down in both). Returns the modified extras."""
    from lifting.joints import Extra

    out = extras.copy()
    legs = ((H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE, Extra.L_HEEL, Extra.L_TOE),
            (H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE, Extra.R_HEEL, Extra.R_TOE))  # fmt: skip
    up = np.zeros(extras.shape[-1])
    up[1] = -1.0
    for hip, knee, ankle, heel, toe in legs:
        bend = bend_share(p, hip, knee, ankle)
        share = np.zeros(len(p))
        for start, _, end in spans:
            rep = bend[start : end + 1] - bend[start]
            share[start : end + 1] = np.clip(rep / max(float(np.nanmax(rep)), 1e-6), 0.0, 1.0)
        foot = extras[:, heel] - extras[:, toe]
        length = np.linalg.norm(foot, axis=-1)
        # the foot's angle rises by `degrees * share`: rotate the toe->heel vector in the plane that holds
        # it and the camera's vertical
        along = foot - np.sum(foot * up, axis=-1, keepdims=True) * up
        along /= np.linalg.norm(along, axis=-1, keepdims=True)
        angle = np.arcsin(np.clip(np.sum(foot * up, axis=-1) / length, -1.0, 1.0)) + np.radians(degrees) * share
        out[:, heel] = extras[:, toe] + length[:, None] * (np.cos(angle)[:, None] * along + np.sin(angle)[:, None] * up)
    return out


def flare_elbows(p: np.ndarray, degrees: float) -> np.ndarray:
    """Elbows out toward a T as the arms bend: each upper arm (with its forearm, rigidly) turned about
    the shoulder away from the body's midline by up to ``degrees`` at the deepest bend, in proportion to
    the bend (straight arms stay where they were)."""
    out = p.copy()
    _, left = body_up_left(p)
    arms = ((H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST, left), (H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST, -left))
    for shoulder, elbow, wrist, outward in arms:
        upper = p[:, elbow] - p[:, shoulder]
        theta = np.radians(degrees) * bend_share(p, shoulder, elbow, wrist)
        # the axis that turns the upper arm toward `outward` (Rodrigues' rotation about the shoulder)
        axis = np.cross(upper, outward)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        for joint in (elbow, wrist):
            v = p[:, joint] - p[:, shoulder]
            dot = np.sum(axis * v, axis=-1, keepdims=True)
            c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
            out[:, joint] = p[:, shoulder] + v * c + np.cross(axis, v) * s + axis * dot * (1 - c)
    return out


def one_side_shallow(
    p: np.ndarray, spans: Sequence[Span], joints: Sequence[H36M], root: H36M, share: float
) -> np.ndarray:
    """One limb bends only ``share`` as far as the other: ``joints`` (e.g. the left elbow and wrist)
    blended, relative to ``root`` (the left shoulder), back toward where they were at each rep's start."""
    out = p.copy()
    for start, _, end in spans:
        for joint in joints:
            rel = p[start : end + 1, joint] - p[start : end + 1, root]
            rel0 = p[start, joint] - p[start, root]
            out[start : end + 1, joint] = p[start : end + 1, root] + rel0 + share * (rel - rel0)
    return out


def lag_joints(p: np.ndarray, joints: Sequence[H36M], root: H36M, frames: int) -> np.ndarray:
    """``joints`` follow the same motion ``frames`` later, relative to ``root`` (a leg or an arm lagging)."""
    out = p.copy()
    for joint in joints:
        rel = p[:, joint] - p[:, root]
        delayed = np.concatenate([np.repeat(rel[:1], frames, axis=0), rel[:-frames]])
        out[:, joint] = p[:, root] + delayed
    return out

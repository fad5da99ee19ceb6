"""Held-out evaluation of lifters: MPJPE and P-MPJPE (mm) per lookahead, and two baselines.

The held-out set is every HDM05 clip of the held-out actors (``motion.HELD_OUT_ACTORS``), each filmed
once as a whole stream by a camera and a simulated detector drawn from a fixed seed (``held_out_streams``),
so every lifter and every lookahead sees the same 2D. A frame's window is the live window for the
lookahead (``synth.lookahead_window``: the stream started at the clip's first frame).

Lifters are evaluated through the inference code (``PoseFormerV2Lifter.lift_inputs``: flip averaging,
pelvis zeroed), loaded from the checkpoint file by the official-format loader. Baselines:

- the same network with a one-frame window (a checkpoint trained with ``--preset single``);
- ``NearestPose``: the training pose whose clean projection (pelvis-centred, scale-normalised) is
  nearest to the frame's 2D, returned in its camera's axes.

On real clips there is no ground truth: ``agreement`` compares a lifter's joint angles with MediaPipe's
world landmarks on the same 2D track (``lift_track``: the live windows for a lookahead) and reports both
lifters' smoothness (``mean_acceleration_mm``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lifting.joints import H36M
from lifting.poseformerv2 import PoseFormerV2Config
from lifting.track import PoseTrack
from lifting.training.motion import MotionSet
from lifting.training.synth import (
    CameraOptions,
    NoiseOptions,
    Stream,
    fill_gaps,
    lookahead_window,
    render_stream,
)
from lifting.types import Pose2D
from lifting.window import normalize_screen

if TYPE_CHECKING:
    from lifting.lifter import Lifter

LiftFn = Callable[[np.ndarray], np.ndarray]
"""(B, T, 17, 2) normalised screen coordinates -> (B, 17, 3) metres, camera axes, pelvis at the origin."""


def mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame mean per-joint position error, mm: ``(N, 17, 3)`` metres x2 -> ``(N,)``."""
    return np.linalg.norm(pred - target, axis=-1).mean(axis=-1) * 1000.0


def procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``pred`` ``(N, J, 3)`` moved onto ``target`` per frame by the best similarity transform
    (rotation, uniform scale, translation; no reflection)."""
    mu_p, mu_t = pred.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
    p, t = pred - mu_p, target - mu_t
    cov = np.einsum("nji,njk->nik", p, t)  # (N, 3, 3) = p^T t
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    s[:, -1] *= d
    u[:, :, -1] *= d[:, None]
    rot = np.einsum("nij,njk->nik", u, vt)  # p @ rot ~ t
    scale = s.sum(axis=1) / np.maximum((p**2).sum(axis=(1, 2)), 1e-12)
    return scale[:, None, None] * np.einsum("nji,nik->njk", p, rot) + mu_t


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame MPJPE after Procrustes alignment, mm."""
    return mpjpe(procrustes_align(pred, target), target)


def held_out_streams(
    motion: MotionSet, seed: int, camera: CameraOptions | None = None, noise: NoiseOptions | None = None
) -> list[Stream]:
    """Each clip filmed once as one stream; clip c's camera and noise come from ``(seed, c)``."""
    camera = camera or CameraOptions()
    noise = noise or NoiseOptions()
    return [
        render_stream(clip.poses, np.random.default_rng([seed, c]), camera, noise)
        for c, clip in enumerate(motion.clips)
    ]


@dataclass(frozen=True)
class Score:
    """Errors of one lifter at one lookahead."""

    mpjpe_mm: float
    """Mean per-joint position error, mm (camera axes, pelvis at the origin)."""
    p_mpjpe_mm: float
    """The same after a per-frame similarity (Procrustes) alignment, mm."""
    windows: int
    """Frames evaluated."""


def _windows(streams: Sequence[Stream], frames: int, lookahead: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    inputs, targets = [], []
    for stream in streams:
        for t in range(0, stream.inputs.shape[0], stride):
            if stream.detected[t]:  # live mode lifts only frames with a person
                inputs.append(lookahead_window(stream.inputs, t, frames, lookahead))
                targets.append(stream.targets[t])
    return np.stack(inputs), np.stack(targets)


def evaluate(
    lift: LiftFn,
    frames: int,
    streams: Sequence[Stream],
    lookaheads: Sequence[int],
    stride: int = 2,
    batch_size: int = 256,
) -> dict[int, Score]:
    """MPJPE and P-MPJPE of ``lift`` (a T = ``frames`` window lifter) on the detected frames among every
    ``stride``-th frame of ``streams``, for each lookahead (clipped to the window's pad)."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    pad = (frames - 1) // 2
    out: dict[int, Score] = {}
    for lookahead in lookaheads:
        inputs, targets = _windows(streams, frames, min(lookahead, pad), stride)
        pred = np.concatenate([lift(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)])
        out[lookahead] = Score(float(mpjpe(pred, targets).mean()), float(p_mpjpe(pred, targets).mean()), len(inputs))
    return out


def checkpoint_lifter(path: Path, config: PoseFormerV2Config, device: str = "cpu") -> LiftFn:
    """A checkpoint file as the coach runs it: strict official-format loading, flip averaging, pelvis zeroed."""
    from lifting.lifter import PoseFormerV2Lifter, PoseFormerV2Options

    lifter = PoseFormerV2Lifter(PoseFormerV2Options(path, config, device))
    return lifter.lift_inputs


def _shape_features(points: np.ndarray) -> np.ndarray:
    """``(N, 17, 2)`` -> ``(N, 34)``: pelvis-centred and divided by the RMS distance to the pelvis."""
    centred = points - points[:, H36M.PELVIS : H36M.PELVIS + 1]
    rms = np.sqrt((centred**2).sum(axis=-1).mean(axis=-1))
    return (centred / np.maximum(rms, 1e-9)[:, None, None]).reshape(len(points), -1).astype(np.float32)


class NearestPose:
    """The nearest-mocap-pose baseline: a library of training poses filmed by drawn cameras (clean
    projections); a query frame's 3D is the library pose whose 2D shape is nearest."""

    def __init__(self, motion: MotionSet, seed: int, every: int = 3, cameras: int = 4) -> None:
        feats, poses = [], []
        for c, clip in enumerate(motion.clips):
            for k in range(cameras):
                stream = render_stream(
                    clip.poses[::every], np.random.default_rng([seed, c, k]), CameraOptions(), NoiseOptions.none()
                )
                feats.append(_shape_features(stream.inputs))
                poses.append(stream.targets)
        self.features = np.concatenate(feats)
        """(L, 34) float32 library 2D shapes."""
        self.poses = np.concatenate(poses)
        """(L, 17, 3) float32 metres, camera axes, pelvis at the origin."""
        self._norms = (self.features**2).sum(axis=1)

    def lift(self, inputs: np.ndarray) -> np.ndarray:
        """``(B, T, 17, 2)`` windows -> ``(B, 17, 3)``: uses only the centre frame."""
        centre = inputs[:, (inputs.shape[1] - 1) // 2]
        q = _shape_features(centre)
        dist = self._norms[None, :] - 2 * q @ self.features.T
        return self.poses[np.argmin(dist, axis=1)]


# --- real clips: agreement with MediaPipe's world landmarks and smoothness --------------------------

JOINT_ANGLES: tuple[str, ...] = (
    "ELBOW_L", "ELBOW_R", "SHOULDER_L", "SHOULDER_R", "HIP_L", "HIP_R", "KNEE_L", "KNEE_R",
)  # fmt: skip
"""The view-independent joint angles of ``scoring.features.Feature`` compared between lifters."""


def track_inputs(track: PoseTrack) -> np.ndarray:
    """A track's 2D as the lifter's input: ``(N, 17, 2)`` normalised screen coordinates with gaps filled
    (as ``lifting.window`` fills them). Raises ValueError for a track with nobody in it."""
    if not track.detected.any():
        raise ValueError(f"{track.source or 'the track'}: nobody was detected in any frame")
    width, height = track.image_size
    filled = np.where(track.detected[:, None, None], track.keypoints_2d, 0.0)
    return fill_gaps(normalize_screen(filled, width, height), track.detected)


def lift_track(track: PoseTrack, lift: LiftFn, frames: int, lookahead: int, batch_size: int = 256) -> np.ndarray:
    """Every detected frame of ``track`` lifted with the live window for ``lookahead``:
    ``(N, 17, 3)`` metres, camera axes, pelvis at the origin; NaN rows where nobody was detected."""
    inputs = track_inputs(track)
    todo = np.flatnonzero(track.detected)
    windows = np.stack([lookahead_window(inputs, int(t), frames, min(lookahead, (frames - 1) // 2)) for t in todo])
    out = np.full((len(inputs), 17, 3), np.nan, np.float32)
    out[todo] = np.concatenate([lift(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)])
    return out


def mean_acceleration_mm(poses: np.ndarray) -> float:
    """Mean joint acceleration, mm per frame squared, over frames whose neighbours are both present:
    ``|p[t+1] - 2 p[t] + p[t-1]|`` averaged over joints and frames. A jittery lifter scores high."""
    rel = poses - poses[:, H36M.PELVIS : H36M.PELVIS + 1]
    acc = np.linalg.norm(rel[2:] - 2 * rel[1:-1] + rel[:-2], axis=-1).mean(axis=-1)
    acc = acc[np.isfinite(acc)]
    return float(acc.mean() * 1000.0) if len(acc) else math.nan


@dataclass(frozen=True)
class Agreement:
    """A lifter against MediaPipe's world landmarks on one real clip (no ground truth there)."""

    angle_diff_deg: dict[str, float]
    """Mean absolute difference of each joint angle (``JOINT_ANGLES``), degrees."""
    mean_angle_diff_deg: float
    """Their mean, degrees."""
    accel_mm: float
    """The lifter's mean acceleration (``mean_acceleration_mm``)."""
    mediapipe_accel_mm: float
    """MediaPipe's world landmarks' mean acceleration on the same frames."""
    frames: int
    """Frames compared (those with a person)."""


def agreement(track: PoseTrack, lifted: np.ndarray) -> Agreement:
    """Compare ``lifted`` ``(N, 17, 3)`` with the track's own 3D (MediaPipe world landmarks)."""
    from scoring.features import Feature, compute_features

    if lifted.shape != track.poses_3d.shape:
        raise ValueError(f"lifted poses {lifted.shape} do not match the track's {track.poses_3d.shape}")
    ours, theirs = compute_features(lifted), compute_features(track.poses_3d)
    diffs = {}
    for name in JOINT_ANGLES:
        col = Feature[name]
        d = np.abs(ours[:, col] - theirs[:, col])
        diffs[name.lower()] = float(np.nanmean(d))
    return Agreement(
        diffs,
        float(np.mean(list(diffs.values()))),
        mean_acceleration_mm(lifted),
        mean_acceleration_mm(np.where(np.isfinite(lifted), track.poses_3d, np.nan)),
        int(np.isfinite(lifted).all(axis=(1, 2)).sum()),
    )


def checkpoint_config(checkpoint: Path) -> PoseFormerV2Config:
    """The network shape of a checkpoint: the ``config`` of the metadata file beside it
    (``<name>.json``, as ``train`` writes it), else the official 27_243 shape."""
    meta = checkpoint.with_suffix(".json")
    if not meta.is_file():
        return PoseFormerV2Config()
    try:
        return PoseFormerV2Config(**json.loads(meta.read_text())["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{meta}: no valid 'config' for {checkpoint.name} ({exc})") from None


def relift_track(track: PoseTrack, lifter: Lifter) -> PoseTrack:
    """The track's 2D lifted again by ``lifter`` in batch mode (``Lifter.lift_sequence``), as
    ``coach analyze`` lifts with that lifter; the feet and hands' 3D are dropped (a PoseFormerV2
    lifter gives none)."""
    poses = [
        Pose2D(track.keypoints_2d[i], track.scores[i], float(track.timestamps_ms[i]), track.image_size)
        if track.detected[i]
        else Pose2D.missing(float(track.timestamps_ms[i]), track.image_size)
        for i in range(len(track.detected))
    ]
    joints = np.stack([p.joints for p in lifter.lift_sequence(poses)]).astype(np.float32)
    return replace(track, poses_3d=joints, lifter=lifter.name, extras_3d=None)

"""References written as data: keyframe joint angles compiled into 3D reps on a standard skeleton.

Where no video of good reps of an exercise exists, its ``exercise.json`` says what a good rep looks
like (``AuthoredSpec``): the joint angles at the start posture, at the turning point (and any pose in
between), which joints move and which must stay still. This module

1. poses the standard skeleton (``SEGMENTS``: adult segment lengths) from those angles by forward
   kinematics (``pose``): the trunk's orientation, then each limb from its joint angles, in camera
   axes (x right, y down, z away), the person side-on to the camera;
2. draws a set of reps (``compile_track``): each rep eases from keyframe to keyframe (minimum-jerk
   profile, the shape of an unhurried human movement), with a still second at the start posture,
   rep-to-rep variation in tempo and depth and per-frame joint jitter of the size measured on
   MediaPipe (so the calibrated tolerances include what a pose estimator adds to a correct rep);
3. calibrates it exactly as a video is (``build_authored``: ``scoring.build.build_reference``), so DTW,
   scores and faults work unchanged; the calibration says ``kind = "authored"``.

A reference built from a real video (``coach reference build``) replaces the authored one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from lifting.joints import H36M
from lifting.track import PoseTrack
from scoring.reference import AuthoredSpec, ExerciseSpec, Keyframe, Reference, ReferenceError

SIDES = ("l", "r")

DOFS: dict[str, str] = {
    "trunk_pitch": "trunk (pelvis -> thorax) forward from vertical: 0 upright, 45 hinged, 90 lying face down, "
    "-90 lying face up",
    "trunk_roll": "trunk tilted toward its right side: 90 lying on the left side (a left side plank)",
    "spine_flex": "upper trunk bent forward at the spine (rounding), relative to the pelvis",
    "hip_flex": "thigh forward from the trunk's line: 0 in line, 90 thigh at a right angle in front",
    "hip_abd": "thigh out to its side: 0 legs together",
    "knee_flex": "knee bend: 0 straight, 90 shin at a right angle behind the thigh",
    "shoulder_flex": "upper arm forward and up from hanging beside the trunk: 90 straight ahead, 180 overhead",
    "shoulder_abd": "upper arm out to its side (after the forward raise): 90 a T, 170 overhead",
    "arm_rot": "turns the elbow's bend plane about the upper arm: 0 the forearm comes forward (a curl), 90 "
    "with the arm out to the side the forearm points up (a press)",
    "elbow_flex": "elbow bend: 0 straight, 90 forearm at a right angle",
}
"""The degrees of freedom of the standard skeleton, in degrees. The limb ones exist per side
(``knee_flex_l``); a name without the side sets both."""

SEGMENTS: dict[str, float] = {
    "pelvis_half": 0.12,
    "thigh": 0.44,
    "shin": 0.43,
    "spine": 0.24,
    "thorax": 0.25,
    "neck": 0.12,
    "head": 0.11,
    "shoulder_half": 0.17,
    "upper_arm": 0.29,
    "forearm": 0.26,
}
"""Segment lengths, metres: an adult of about 1.75 m (Human3.6M's subjects average 0.12-0.13 m hip
half-width, 0.44-0.45 m thigh and shin, 0.28-0.29 m upper arm, 0.25-0.26 m forearm)."""

JITTER_M = 0.008
"""Per-joint, per-frame noise drawn into the template set, metres (standard deviation): MediaPipe's
world landmarks on a still person jitter by about 5-10 mm (measured on the shared clips' still frames
before a rep), so the tolerances calibrated on the drawn reps include a pose estimator's noise."""
TEMPO_SPREAD = 0.12
"""Rep-to-rep spread of the drawn reps' durations (share, uniform +-): a person's reps in one set vary
by about 10% in duration (the shared clips: 8-15%)."""
DEPTH_SPREAD = 0.05
"""Rep-to-rep spread of the drawn reps' excursion (share of the start-to-turn change, uniform +-)."""
REST_S = 1.0
"""Still time at the start posture before each drawn rep (the segmenter needs to see the start)."""
DRAWN_REPS = 5
"""Reps drawn for the calibration (the shipped video references have 4-8)."""
FPS = 30.0
AUTHORED_FORM_TOLERANCE_DEG = 18.0
"""Per-part angle deviation from an authored template that costs no points: the analogue of a video
reference's tolerance (the largest deviation among its own good reps). Correct reps of other people,
measured by our pipeline against push-up and squat references authored from textbook angles, deviate
by a median 7.6 deg, 9.6 at the 75th percentile and 18.2 at the 90th (34 part deviations of seen
angles, 8 clips; ``benchmarks/authored_bias.py``): an ideal skeleton is not a body seen by a pose
estimator, and a style within good form (a deeper squat, a wider grip) must not be marked down."""


def _expand(angles: dict[str, float]) -> dict[str, float]:
    """``knee_flex`` -> ``knee_flex_l`` and ``knee_flex_r``; unknown names are an error."""
    out: dict[str, float] = {}
    for name, value in angles.items():
        base, _, side = name.rpartition("_")
        if name in DOFS and name.startswith(("trunk", "spine")):
            out[name] = float(value)
        elif name in DOFS:
            for s in SIDES:
                out[f"{name}_{s}"] = float(value)
        elif side in SIDES and base in DOFS and not base.startswith(("trunk", "spine")):
            out[name] = float(value)
        else:
            raise ReferenceError(f"unknown degree of freedom {name!r}; known: {', '.join(DOFS)} (limbs with _l/_r)")
    return out


ALL_DOFS: tuple[str, ...] = tuple(
    n for d in DOFS for n in ((d,) if d.startswith(("trunk", "spine")) else (f"{d}_l", f"{d}_r"))
)
"""Every concrete degree of freedom (limbs per side)."""


def keyframe_table(authored: AuthoredSpec) -> tuple[np.ndarray, np.ndarray]:
    """(times (k,), angles (k, len(ALL_DOFS))): the keyframes with every degree of freedom filled (not
    named: the previous keyframe's value; in the first: 0), the end (``at`` 1) added as the start when
    missing. ReferenceError for keyframes out of order or still joints that move."""
    frames = list(authored.keyframes)
    if not frames:
        raise ReferenceError("authored: at least one keyframe is needed")
    if frames[0].at != 0.0:
        raise ReferenceError(f"authored: the first keyframe must be at 0 (the start posture), got {frames[0].at}")
    times = [k.at for k in frames]
    if any(b <= a for a, b in itertools.pairwise(times)) or times[-1] > 1.0:
        raise ReferenceError(f"authored: keyframe times must rise from 0 to at most 1, got {times}")
    rows = []
    current = dict.fromkeys(ALL_DOFS, 0.0)
    for k in frames:
        current = {**current, **_expand(k.angles)}
        rows.append([current[n] for n in ALL_DOFS])
    if len(frames) > 1 and times[-1] < 1.0:
        times.append(1.0)
        rows.append(rows[0])
    table = np.array(rows, dtype=np.float64)
    for name in authored.still:
        for concrete in _expand({name: 0.0}):
            column = table[:, ALL_DOFS.index(concrete)]
            if np.ptp(column) > 0:
                raise ReferenceError(f"authored: {name} is listed as still but the keyframes move it")
    for name in authored.moving:
        moved = [np.ptp(table[:, ALL_DOFS.index(c)]) > 0 for c in _expand({name: 0.0})]
        if len(frames) > 1 and not any(moved):
            raise ReferenceError(f"authored: {name} is listed as moving but no keyframe moves it")
    return np.array(times), table


def _rot(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotation matrix about a unit axis (right-hand rule)."""
    a = axis / np.linalg.norm(axis)
    t = math.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


# The person stands side-on to the camera, facing +x (to the right of the picture), y down, z away:
# body up = -y, forward = +x, and (the features' frame has forward = left x up) left = up x forward = +z.
_UP0 = np.array([0.0, -1.0, 0.0])
_FWD0 = np.array([1.0, 0.0, 0.0])
_LEFT0 = np.cross(_UP0, _FWD0)


def pose(angles: dict[str, float], segments: dict[str, float] | None = None) -> np.ndarray:
    """The standard skeleton posed by ``angles`` (DOF names as in keyframes, degrees; missing ones 0): ``(17, 3)``
    metres, pelvis at the origin, camera axes, H36M order."""
    seg = {**SEGMENTS, **(segments or {})}
    a = {**dict.fromkeys(ALL_DOFS, 0.0), **_expand(angles)}
    # Rotations about the left axis by a positive angle take up toward forward (and down toward back).
    # Trunk orientation: pitch about the left axis (forward lean), then roll about the forward axis.
    r_body = _rot(_FWD0, -a["trunk_roll"]) @ _rot(_LEFT0, a["trunk_pitch"])
    up, fwd, left = r_body @ _UP0, r_body @ _FWD0, r_body @ _LEFT0
    p = np.zeros((17, 3))
    spine = up * seg["spine"]
    r_spine = _rot(left, a["spine_flex"])
    up2, fwd2 = r_spine @ up, r_spine @ fwd
    thorax = spine + up2 * seg["thorax"]
    p[H36M.SPINE], p[H36M.THORAX] = spine, thorax
    p[H36M.NECK_NOSE] = thorax + up2 * seg["neck"] + fwd2 * 0.04
    p[H36M.HEAD] = p[H36M.NECK_NOSE] + up2 * seg["head"] - fwd2 * 0.02
    for s, sign, hip_j, knee_j, ankle_j, sh_j, el_j, wr_j in (
        ("l", 1.0, H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE, H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST),
        ("r", -1.0, H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE, H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST),
    ):
        out = left * sign  # this side's outward direction
        # Leg: hanging along -up; flexion swings it forward about the left axis, abduction outward.
        r_thigh = _rot(fwd, sign * a[f"hip_abd_{s}"]) @ _rot(left, -a[f"hip_flex_{s}"])
        thigh = r_thigh @ (-up)
        hip = out * seg["pelvis_half"]
        knee = hip + thigh * seg["thigh"]
        # Knee flexion bends the shin backward, about the thigh's own left axis.
        r_shin = _rot(r_thigh @ left, a[f"knee_flex_{s}"])
        ankle = knee + (r_shin @ thigh) * seg["shin"]
        p[hip_j], p[knee_j], p[ankle_j] = hip, knee, ankle
        # Arm: hanging along -up2 from the shoulder; forward raise about left, then out to the side.
        r_arm = _rot(fwd2, sign * a[f"shoulder_abd_{s}"]) @ _rot(left, -a[f"shoulder_flex_{s}"])
        upper = r_arm @ (-up2)
        bend = r_arm @ fwd2  # the forearm's bend direction: forward for a hanging arm
        bend = _rot(upper, -sign * a[f"arm_rot_{s}"]) @ bend
        shoulder = thorax + out * seg["shoulder_half"]
        elbow = shoulder + upper * seg["upper_arm"]
        t = math.radians(a[f"elbow_flex_{s}"])
        forearm = upper * math.cos(t) + bend * math.sin(t)
        p[sh_j], p[el_j], p[wr_j] = shoulder, elbow, elbow + forearm * seg["forearm"]
    return p


def _min_jerk(u: np.ndarray) -> np.ndarray:
    """The minimum-jerk profile 0 -> 1 (Flash and Hogan 1985): 10u^3 - 15u^4 + 6u^5."""
    return 10 * u**3 - 15 * u**4 + 6 * u**5


def rep_angles(times: np.ndarray, table: np.ndarray, n: int, depth: float = 1.0) -> np.ndarray:
    """``(n, dofs)`` angles of one rep sampled at n evenly spaced instants, easing between keyframes;
    ``depth`` scales every keyframe's change from the start posture."""
    u = np.linspace(0.0, 1.0, n)
    scaled = table[0] + depth * (table - table[0])
    out = np.empty((n, table.shape[1]))
    for i, x in enumerate(u):
        k = min(int(np.searchsorted(times, x, side="right")) - 1, len(times) - 2)
        span = times[k + 1] - times[k]
        w = _min_jerk(np.array((x - times[k]) / span)) if span > 0 else 1.0
        out[i] = scaled[k] + w * (scaled[k + 1] - scaled[k])
    return out


def compile_track(
    spec: ExerciseSpec,
    reps: int = DRAWN_REPS,
    seed: int = 0,
    tempo: float = 1.0,
    jitter_m: float = JITTER_M,
    segments: dict[str, float] | None = None,
    turn_deg: float = 0.0,
    fps: float = FPS,
    offsets: dict[str, float] | None = None,
    in_rep: dict[str, float] | None = None,
    depth: float = 1.0,
    spread: bool = True,
) -> PoseTrack:
    """A pose track of ``reps`` reps drawn from ``spec.authored`` (see the module docstring).

    ``tempo`` scales every rep's duration, ``segments`` overrides segment lengths (another body),
    ``turn_deg`` turns the person about the vertical (0: side-on, 90: facing the camera), ``offsets``
    adds degrees to named DOFs in every frame (a fault drawn in: ``{"knee_flex": 30}``), ``in_rep`` adds
    them during each rep only, in step with the rep: nothing at the start posture, all at the turning
    point (a lean on the way down: ``{"trunk_pitch": 25}``), ``depth`` scales every rep's excursion (0.5: half
    way down), ``spread`` draws rep-to-rep variation (False: every rep alike), ``seed`` draws the
    variation and the jitter. A hold (one keyframe) is drawn as ``reps`` holds of ``duration_s`` each."""
    authored = spec.authored
    if authored is None:
        raise ReferenceError(f"{spec.name}: no authored keyframes to compile")
    times, table = keyframe_table(authored)
    rng = np.random.default_rng(seed)
    extra = _expand(offsets or {})
    add = np.array([extra.get(n, 0.0) for n in ALL_DOFS])
    during = _expand(in_rep or {})
    bump = np.array([during.get(n, 0.0) for n in ALL_DOFS])
    vary = TEMPO_SPREAD if spread else 0.0
    vary_depth = DEPTH_SPREAD if spread else 0.0
    rows: list[np.ndarray] = []
    rest = round(REST_S * fps)
    for _ in range(reps):
        if len(times) == 1:
            n = round(authored.duration_s * tempo * fps)
            rows.append(np.repeat(table[:1], rest + n, axis=0))
            continue
        n = max(round(authored.duration_s * tempo * fps * (1 + rng.uniform(-vary, vary))), 4)
        rows.append(np.repeat(table[:1], rest, axis=0))
        drawn = rep_angles(times, table, n, depth * (1 + rng.uniform(-vary_depth, vary_depth)))
        away = np.abs(drawn - table[0]).sum(axis=1)
        envelope = away / max(float(away.max()), 1e-9)  # 0 at the start posture, 1 at the turning point
        rows.append(drawn + envelope[:, None] * bump)
    rows.append(np.repeat(table[:1], rest, axis=0))
    angles = np.concatenate(rows) + add
    yaw = _rot(np.array([0.0, 1.0, 0.0]), turn_deg)
    poses = np.stack([pose(dict(zip(ALL_DOFS, row, strict=True)), segments) @ yaw.T for row in angles])
    poses = poses + rng.normal(0.0, jitter_m, poses.shape)
    poses = poses - poses[:, :1]  # root-relative, as the lifters give
    count = poses.shape[0]
    # The picture: an orthographic camera, 1.9 m of height in 720 pixels, the pelvis at the centre.
    scale = 720 / 1.9
    keypoints = (poses[:, :, :2] * scale + np.array([640.0, 400.0])).astype(np.float32)
    return PoseTrack(
        keypoints_2d=keypoints,
        scores=np.ones((count, len(H36M)), np.float32),
        poses_3d=poses.astype(np.float32),
        timestamps_ms=np.arange(count) * 1000.0 / fps,
        detected=np.ones(count, bool),
        backend="authored",
        lifter="authored",
        image_size=(1280, 800),
        source=f"{spec.name} keyframes",
    )


def build_authored(spec: ExerciseSpec) -> Reference:
    """The exercise's reference from its keyframes: the drawn set calibrated as a video would be."""
    track = compile_track(spec)
    if spec.kind == "hold":
        from scoring.hold import build_hold_reference

        reference = build_hold_reference(spec, track)
    else:
        from scoring.build import build_reference

        reference = build_reference(spec, track)
    tolerances = reference.calibration.tolerances
    form = {part: max(value, AUTHORED_FORM_TOLERANCE_DEG) for part, value in tolerances.form_deg.items()}
    calibration = replace(
        reference.calibration,
        # no depth read in the picture: the drawn one is an ideal projection, not what a camera shows
        image_top=None,
        image_bottom=None,
        kind="authored",
        source_video="",
        backend="authored",
        tolerances=replace(tolerances, form_deg=form),
    )
    return replace(reference, calibration=calibration)


__all__ = ["DOFS", "SEGMENTS", "Keyframe", "build_authored", "compile_track", "keyframe_table", "pose"]

"""What a video of good reps suggests about a new exercise: its driving angle, which way that angle
moves, the body parts that matter, the posture gate, the camera views; then the reps it counts.

A custom exercise starts here (``coach reference build --custom``, the page's custom exercise
builder): the person films a few good reps, the coach proposes an ``ExerciseSpec`` from what moves
most, and ``scoring.build`` calibrates it. Every choice can be overridden (``suggest(..., driver=...)``).

- Driver: among the joint angles that can drive a rep (``DRIVER_CANDIDATES``), the one whose robust
  range over the clip (5th to 95th percentile) is largest and that repeats (the segmenter counts at
  least ``MIN_REPS`` movements like each other with it). Both sides' mean is preferred to one side,
  unless one side moves ``SIDE_SHARE`` times as far as the mean (a one-sided exercise).
- Direction: ``decrease`` when the person spends most of the clip near the angle's high end (a squat's
  straight knees), ``increase`` when near its low end.
- Body parts: the parts holding the driver, and every part one of whose angles moves within the reps
  at least ``PART_SHARE`` of what the driver moves (arms held still in a squat are left out).
- Posture gate: ``torso_incline``, its value at the reps' start posture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lifting.track import PoseTrack
from scoring.build import DRIVER_SIDES, FoundRep, find_reps
from scoring.features import BODY_PARTS, Feature, compute_features, feature_by_name
from scoring.reference import Calibration, ExerciseSpec, ReferenceError
from scoring.view import CameraView, classify, gravity_axis, majority_view

DRIVER_CANDIDATES: tuple[tuple[Feature, tuple[Feature, ...]], ...] = (
    *DRIVER_SIDES.items(),
    (Feature.SHOULDER_L, ()),
    (Feature.SHOULDER_R, ()),
)
"""Angles that can drive a rep: (both sides' mean or a single angle, its sides)."""

SIDE_SHARE = 1.5
"""One side is taken as the driver instead of both sides' mean when it moves this many times as far."""
MIN_REPS = 2
"""A driver must count at least this many movements like each other (one when no angle does)."""
PART_SHARE = 0.7
"""A body part is scored when one of its angles moves, within the reps, at least this share of the
driver's own movement (median over the reps, 5th to 95th percentile)."""
MAX_CURVE_POINTS = 600
"""The driver's curve is sent with at most this many points (every k-th frame)."""


def driver_names() -> list[str]:
    """Every angle a custom exercise may be driven by (``Feature`` names, lower case)."""
    out = []
    for mean, sides in DRIVER_CANDIDATES:
        out += [mean.name.lower(), *(s.name.lower() for s in sides)]
    return out


def parts_of(driver: Feature) -> tuple[str, ...]:
    """The body parts an angle belongs to (a mean: both sides)."""
    angles = DRIVER_SIDES.get(driver, (driver,))
    return tuple(part for part, features in BODY_PARTS.items() if set(angles) & set(features))


def robust_range(values: np.ndarray) -> float:
    """5th to 95th percentile of the finite values, degrees (0 when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    lo, hi = np.percentile(finite, [5, 95])
    return float(hi - lo)


def direction_of(values: np.ndarray) -> Literal["decrease", "increase"]:
    """``decrease`` when the angle sits near its high end most of the time (the start posture), else
    ``increase``."""
    finite = values[np.isfinite(values)]
    lo, mid, hi = np.percentile(finite, [5, 50, 95])
    return "decrease" if hi - mid <= mid - lo else "increase"


@dataclass(frozen=True)
class Suggestion:
    """An exercise spec proposed from a video, and the reps it counts there."""

    spec: ExerciseSpec
    """The proposed spec (no fault rules yet: ``scoring.build.generated_fault_rules`` adds them)."""
    calibration: Calibration
    """The provisional calibration the reps were counted with (``find_reps``)."""
    reps: tuple[FoundRep, ...]
    """Every movement counted, rep-like or not."""
    ranges: dict[str, float]
    """Robust range over the clip (degrees) of every driver candidate, largest first."""
    part_movement: dict[str, float]
    """Per body part, the most one of its angles moves within the reps (degrees, median over them)."""
    view: CameraView | None
    """The camera view most of the reps were filmed from."""
    curve_t_s: np.ndarray
    """(k,) float64 seconds from the first frame, k <= ``MAX_CURVE_POINTS``."""
    curve_deg: np.ndarray
    """(k,) float64 the driver at those times, degrees (NaN where nobody was seen)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the suggestion, each rep (number, times, range, like_others) and the curve."""
        spec = self.spec
        return {
            "driver": spec.driver,
            "direction": spec.driver_direction,
            "body_parts": list(spec.body_parts),
            "posture_feature": spec.posture_feature,
            "posture_value": round(self.calibration.posture_value, 1),
            "views": list(spec.views),
            "view": self.view,
            "top": round(self.calibration.top, 1),
            "bottom": round(self.calibration.bottom, 1),
            "ranges": {k: round(v, 1) for k, v in self.ranges.items()},
            "part_movement": {k: round(v, 1) for k, v in self.part_movement.items()},
            "reps": [
                {
                    "number": r.number,
                    "start_s": round(r.start_s, 2),
                    "end_s": round(r.end_s, 2),
                    "bottom_s": round(bottom_s(self, r), 2),
                    "range_deg": round(r.range_deg, 1),
                    "like_others": r.like_others,
                    "start_frame": r.span.start,
                    "bottom_frame": r.span.bottom,
                    "end_frame": r.span.end,
                }
                for r in self.reps
            ],
            "curve": {
                "t": [round(float(t), 3) for t in self.curve_t_s],
                "deg": [round(float(v), 1) if np.isfinite(v) else None for v in self.curve_deg],
            },
        }


def bottom_s(suggestion: Suggestion, rep: FoundRep) -> float:
    """A rep's turning point, seconds from the first frame (between its start and end times)."""
    span = rep.span
    share = (span.bottom - span.start) / max(span.end - span.start, 1)
    return rep.start_s + share * (rep.end_s - rep.start_s)


def driver_curve(track: PoseTrack, features: np.ndarray, driver: Feature) -> tuple[np.ndarray, np.ndarray]:
    """The driver over the clip, every k-th frame so that at most ``MAX_CURVE_POINTS`` remain:
    ((k,) seconds from the first frame, (k,) degrees)."""
    step = max(1, -(-track.frames // MAX_CURVE_POINTS))
    ts = track.timestamps_ms[::step]
    return (ts - track.timestamps_ms[0]) / 1000.0, features[::step, driver].astype(np.float64)


def _spec(name: str, display_name: str, driver: Feature, direction: str, parts: tuple[str, ...], views: Any) -> Any:
    return ExerciseSpec(
        name=name,
        display_name=display_name,
        camera="the camera placed as in the reference video, whole body in frame",
        body_parts=parts,
        driver=driver.name.lower(),
        driver_direction=direction,  # type: ignore[arg-type]
        views=views,
    )


def _count(spec: ExerciseSpec, track: PoseTrack) -> tuple[Calibration, list[FoundRep]] | None:
    try:
        return find_reps(spec, track)
    except ReferenceError:
        return None


def suggest(
    track: PoseTrack,
    name: str = "custom",
    display_name: str = "Custom exercise",
    driver: str | None = None,
    direction: Literal["decrease", "increase"] | None = None,
    body_parts: tuple[str, ...] | None = None,
) -> Suggestion:
    """Propose a spec for the exercise a video shows (see the module docstring) and count its reps;
    ``driver``, ``direction`` and ``body_parts`` override the proposal. ReferenceError when nobody is
    seen, a choice is not valid, or no angle repeats like a rep."""
    if track.frames == 0 or not track.detected.any():
        raise ReferenceError(f"{track.source or 'the video'}: no person was found, so no exercise can be suggested")
    features = compute_features(track.poses_3d)
    ranges: dict[str, float] = {}
    candidates: list[Feature] = []
    for mean, sides in DRIVER_CANDIDATES:
        ranges[mean.name.lower()] = robust_range(features[:, mean])
        chosen = mean
        for side in sides:
            ranges[side.name.lower()] = robust_range(features[:, side])
            if ranges[side.name.lower()] > SIDE_SHARE * ranges[mean.name.lower()]:
                chosen = side
        candidates.append(chosen)
    ranges = dict(sorted(ranges.items(), key=lambda kv: -kv[1]))
    if driver is not None:
        if driver not in driver_names():
            raise ReferenceError(f"driver {driver!r} cannot drive a rep; choose one of {', '.join(driver_names())}")
        candidates = [feature_by_name(driver)]
    else:
        candidates.sort(key=lambda f: -ranges[f.name.lower()])
    if body_parts is not None and (not body_parts or set(body_parts) - set(BODY_PARTS)):
        raise ReferenceError(
            f"body parts must be a non-empty subset of {', '.join(BODY_PARTS)}, got {list(body_parts)}"
        )
    best: tuple[Feature, Literal["decrease", "increase"], Calibration, list[FoundRep]] | None = None
    for feature in candidates:
        way = direction or direction_of(features[:, feature])
        counted = _count(_spec(name, display_name, feature, way, parts_of(feature), ("side",)), track)
        if counted is None:
            continue
        like = sum(r.like_others for r in counted[1])
        if best is None or (like >= MIN_REPS > sum(r.like_others for r in best[3])):
            best = (feature, way, *counted)
        if like >= MIN_REPS:
            break
    if best is None:
        tried = ", ".join(f"{f.name.lower()} ({ranges[f.name.lower()]:.0f} deg)" for f in candidates)
        raise ReferenceError(
            f"{track.source or 'the video'}: no angle moved like repeated reps (tried {tried}); film whole reps "
            "from the start posture, the whole body in the picture"
        )
    feature, way, calibration, reps = best
    reps_like = [r for r in reps if r.like_others] or reps
    movement: dict[str, float] = {}
    for part, part_features in BODY_PARTS.items():
        movement[part] = max(
            float(np.median([robust_range(features[r.span.start : r.span.end + 1, f]) for r in reps_like]))
            for f in part_features
        )
    driver_moves = float(np.median([robust_range(features[r.span.start : r.span.end + 1, feature]) for r in reps_like]))
    if body_parts is None:
        body_parts = tuple(
            part for part in BODY_PARTS if part in parts_of(feature) or movement[part] >= PART_SHARE * driver_moves
        )
    starts = track.poses_3d[[r.span.start for r in reps_like]]
    starts = starts[np.isfinite(starts).all(axis=(1, 2))]
    view: CameraView | None = None
    if len(starts):
        gravity = gravity_axis(starts)
        frames = [i for r in reps_like for i in range(r.span.start, r.span.end + 1) if track.detected[i]]
        view = majority_view([classify(track.poses_3d[i], gravity) for i in frames])
    views: tuple[CameraView, ...] = {
        "side": ("side", "oblique"),
        "oblique": ("side", "oblique"),
        "front": ("front", "back"),
        "back": ("front", "back"),
    }.get(view or "side", ("side", "oblique"))  # type: ignore[assignment]
    spec = _spec(name, display_name, feature, way, body_parts, views)
    t_s, deg = driver_curve(track, features, feature)
    return Suggestion(spec, calibration, tuple(reps), ranges, movement, view, t_s, deg)

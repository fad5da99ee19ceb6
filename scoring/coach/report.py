"""The full report of a recorded set: what ``coach analyze`` prints and an uploaded video's job returns.

``build_report(reference, track, tips)`` runs the scoring core over the track (``analyze_track``),
lets a tip writer speak over its events, and (``detail``) adds what the results page draws: per-frame
joint-angle curves of the scored angles beside the reference's template rep, each rep frame beside the
template frame DTW matched it with (the alignment the rep was scored on, so a slow descent and a fast
ascent line up with the template's own), the 2D keypoints and the skeleton for the overlay, and the
3D poses for the 3D view: the user's per frame, the template rep's (a hold: its held posture), and per
frame the template frame to show beside the user's. Pure: no I/O, JSON-ready output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lifting.joints import h36m_skeleton
from lifting.track import PoseTrack
from scoring.coach.writer import Tip, TipWriter
from scoring.core import analyze_track
from scoring.features import BODY_PARTS, Feature, compute_features
from scoring.hold import held_posture
from scoring.reference import Reference
from scoring.score import hold_fill
from scoring.types import CoachEvent, RepResult


def _rounded(values: np.ndarray, digits: int) -> list[Any]:
    """A float array as a JSON list with NaN as null."""
    out: list[Any] = np.round(values.astype(np.float64), digits).tolist()
    if np.isnan(values).any():
        return _nan_to_none(out)
    return out


def _nan_to_none(values: list[Any]) -> list[Any]:
    return [_nan_to_none(v) if isinstance(v, list) else (None if v != v else v) for v in values]


def matched_template_frames(path: np.ndarray, frames: int) -> np.ndarray:
    """``(frames,)`` int64: for each frame of a rep, the template frame a DTW ``path`` (``(P, 2)``
    pairs (rep frame, template frame), monotone, covering every rep frame) matches it with; a frame
    matched with a run of template frames (the template slower there) takes the run's middle."""
    if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] == 0:
        raise ValueError(f"path must be (P, 2) with P >= 1, got {path.shape}")
    if path[:, 0].min() != 0 or path[:, 0].max() != frames - 1:
        raise ValueError(f"path must cover rep frames 0 to {frames - 1}")
    first = np.full(frames, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(frames, -1, dtype=np.int64)
    np.minimum.at(first, path[:, 0], path[:, 1])
    np.maximum.at(last, path[:, 0], path[:, 1])
    return (first + last) // 2


def aligned_reference_frames(reps: Sequence[RepResult], alignments: Sequence[np.ndarray], frames: int) -> np.ndarray:
    """``(frames,)`` int64: per frame of the clip, the template frame (0-based within the template rep)
    its rep was matched with along the alignment the rep was scored on (``Analysis.alignments``); -1
    outside the counted reps."""
    if len(reps) != len(alignments):
        raise ValueError(f"one alignment per rep is needed: {len(reps)} reps, {len(alignments)} alignments")
    out = np.full(frames, -1, dtype=np.int64)
    for rep, path in zip(reps, alignments, strict=True):
        out[rep.start_frame : rep.end_frame + 1] = matched_template_frames(path, rep.end_frame - rep.start_frame + 1)
    return out


def _held_reference_frame(reference: Reference) -> int:
    """The frame of a hold reference's template whose scored angles are nearest its held posture (a real
    pose, where a per-joint median could be none)."""
    span = reference.template
    features = reference.features[span.start : span.end + 1]
    with np.errstate(all="ignore"):
        distance = np.nanmean(np.abs(features - held_posture(reference)), axis=1)
    distance[~np.isfinite(distance) | ~np.isfinite(reference.poses_3d[span.start : span.end + 1]).all(axis=(1, 2))] = (
        np.inf
    )
    return int(np.argmin(distance))


def _tips(writer: TipWriter, events: list[CoachEvent]) -> list[Tip]:
    tips = [tip for event in events for tip in writer.add(event)]
    return tips + writer.drain()  # a language model's tips still being written


def build_report(
    reference: Reference,
    track: PoseTrack,
    tips: TipWriter,
    *,
    detail: bool = True,
    alternatives: Sequence[Reference] = (),
) -> dict[str, Any]:
    """Reps (or a hold exercise's holds, with their fault episodes), movements not counted (with their
    reasons), warnings, summary and tips of one recorded set. With ``detail`` also:

    - ``curves``: per scored angle the user's and the reference's degrees per frame (the reference's
      along the scorer's DTW alignment; null outside the reps), and the body parts it belongs to (as
      faults name them);
    - ``keypoints``: per frame 17 [x, y], fractions of the picture; null where nobody was found;
    - ``skeleton``: joint names, bones, left and right joints;
    - ``poses_3d``: per frame 17 [x, y, z], metres to the mm, root-relative, camera axes, H36M order;
      null where nobody was found;
    - ``reference_poses_3d``: the template rep's frames the same way (a hold: its one held posture);
    - ``reference_frame``: per frame the index into ``reference_poses_3d`` matched with it; null
      outside the counted reps or holds.

    ``alternatives``: the other exercises, to recognise a mix-up."""
    analysis = analyze_track(reference, track, alternatives)
    width, height = track.image_size
    report: dict[str, Any] = {
        "exercise": reference.spec.name,
        "display_name": reference.spec.display_name,
        "frames": track.frames,
        "detected_fraction": round(track.detected_fraction, 4),
        "backend": track.backend,
        "lifter": track.lifter,
        "image_size": [int(width), int(height)],
        "kind": reference.spec.kind,
        "reps": [r.as_dict() for r in analysis.reps],
        "holds": [h.as_dict() for h in analysis.holds],
        "not_counted": [d.as_dict() for d in analysis.not_counted],
        "warnings": analysis.warnings,
        "summary": analysis.summary.as_dict(),
        "tips": [tip.as_dict() for tip in _tips(tips, analysis.events)],
        "persona": tips.persona.id,
    }
    if not detail:
        return report
    columns = sorted({int(f) for part in reference.spec.body_parts for f in BODY_PARTS[part]})  # the scored angles
    names = [Feature(c).name.lower() for c in columns]
    user = compute_features(track.poses_3d)[:, columns]
    span = reference.template
    if reference.spec.kind == "hold":  # the reference's held posture over each hold
        ref = np.full((track.frames, len(columns)), np.nan)
        matched = np.full(track.frames, -1, dtype=np.int64)
        held = _held_reference_frame(reference)
        for hold in analysis.holds:
            ref[hold.start_frame : hold.end_frame + 1] = held_posture(reference)[columns]
            matched[hold.start_frame : hold.end_frame + 1] = 0
        reference_poses = reference.poses_3d[span.start + held : span.start + held + 1]
    else:  # each rep frame beside the template frame DTW matched it with (the scorer's alignment)
        matched = aligned_reference_frames(analysis.reps, analysis.alignments, track.frames)
        template = hold_fill(reference.template_features())  # what the scorer aligns with (gaps held)
        ref = np.where((matched >= 0)[:, None], template[np.maximum(matched, 0)][:, columns], np.nan)
        reference_poses = reference.poses_3d[span.start : span.end + 1]
    keypoints = track.keypoints_2d / np.array([width, height], dtype=np.float64)
    keypoints[~track.detected] = np.nan
    user_poses = track.poses_3d.astype(np.float64)
    user_poses[~track.detected] = np.nan
    report["curves"] = {
        "timestamps_ms": _rounded(track.timestamps_ms, 1),
        "angles": names,
        "user": {name: _rounded(user[:, j], 1) for j, name in enumerate(names)},
        "reference": {name: _rounded(ref[:, j], 1) for j, name in enumerate(names)},
        "body_parts": {
            name: [part for part in reference.spec.body_parts if Feature(c) in BODY_PARTS[part]]
            for c, name in zip(columns, names, strict=True)
        },
    }
    report["keypoints"] = [
        frame if seen else None for frame, seen in zip(_rounded(keypoints, 4), track.detected, strict=True)
    ]
    report["skeleton"] = h36m_skeleton()
    report["poses_3d"] = _poses(user_poses)
    report["reference_poses_3d"] = _poses(reference_poses.astype(np.float64))
    report["reference_frame"] = [int(j) if j >= 0 else None for j in matched]
    return report


def _poses(poses: np.ndarray) -> list[Any]:
    """``(T, 17, 3)`` metres as JSON, to the mm; a frame with any non-finite joint is null."""
    finite = np.isfinite(poses).all(axis=(1, 2))
    rounded = np.round(np.where(finite[:, None, None], poses, 0.0), 3).tolist()
    return [frame if ok else None for frame, ok in zip(rounded, finite.tolist(), strict=True)]

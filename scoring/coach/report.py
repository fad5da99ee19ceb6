"""The full report of a recorded set: what ``coach analyze`` prints and an uploaded video's job returns.

``build_report(reference, track, tips)`` runs the scoring core over the track (``analyze_track``),
lets a tip writer speak over its events, and (``detail``) adds what the results page draws: per-frame
joint-angle curves of the scored angles beside the reference's template rep (stretched over each
counted rep), the 2D keypoints and the skeleton for the overlay. Pure: no I/O, JSON-ready output.
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
from scoring.types import CoachEvent


def _rounded(values: np.ndarray, digits: int) -> list[Any]:
    """A float array as a JSON list with NaN as null."""
    out: list[Any] = np.round(values.astype(np.float64), digits).tolist()
    if np.isnan(values).any():
        return _nan_to_none(out)
    return out


def _nan_to_none(values: list[Any]) -> list[Any]:
    return [_nan_to_none(v) if isinstance(v, list) else (None if v != v else v) for v in values]


def reference_curves(reference: Reference, columns: list[int], spans: list[tuple[int, int]], frames: int) -> np.ndarray:
    """``(frames, len(columns))`` the template rep's angles stretched linearly over each ``(start, end)``
    frame span (inclusive); NaN outside the spans."""
    template = reference.template_features()[:, columns]
    out = np.full((frames, len(columns)), np.nan)
    source = np.linspace(0.0, 1.0, len(template))
    for start, end in spans:
        target = np.linspace(0.0, 1.0, end - start + 1)
        for j in range(len(columns)):
            out[start : end + 1, j] = np.interp(target, source, template[:, j])
    return out


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
    reasons), warnings, summary and tips of one recorded set;
    with ``detail`` also the angle curves, the keypoints (fractions of the picture, null where nobody was
    found) and the skeleton. ``alternatives``: the other exercises, to recognise a mix-up."""
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
    if reference.spec.kind == "hold":  # the reference's held posture over each hold
        ref = np.full((track.frames, len(columns)), np.nan)
        for hold in analysis.holds:
            ref[hold.start_frame : hold.end_frame + 1] = held_posture(reference)[columns]
    else:
        spans = [(r.start_frame, r.end_frame) for r in analysis.reps]
        ref = reference_curves(reference, columns, spans, track.frames)
    keypoints = track.keypoints_2d / np.array([width, height], dtype=np.float64)
    keypoints[~track.detected] = np.nan
    report["curves"] = {
        "timestamps_ms": _rounded(track.timestamps_ms, 1),
        "angles": names,
        "user": {name: _rounded(user[:, j], 1) for j, name in enumerate(names)},
        "reference": {name: _rounded(ref[:, j], 1) for j, name in enumerate(names)},
    }
    report["keypoints"] = _rounded(keypoints, 4)
    report["skeleton"] = h36m_skeleton()
    return report

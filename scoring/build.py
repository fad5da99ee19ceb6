"""Building a reference from a video's pose track: calibration, template choice, tolerances.

Kept apart from ``scoring.reference`` (the data) because it uses the scorer to measure the
reference's own reps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from lifting.track import PoseTrack
from scoring.dtw import dtw
from scoring.features import BODY_PARTS, IMAGE_ANGLES, Feature, compute_features, feature_by_name, image_angle
from scoring.phases import Phase
from scoring.reference import (
    Calibration,
    ExerciseSpec,
    FaultRule,
    Reference,
    ReferenceError,
    RepSpan,
    Tolerances,
    parse_rep_range,
    segment,
    segmenter_options,
)
from scoring.score import FORM_TOLERANCE_DEG, RepMeasures, RepScorer, held_image_angles, hold_fill
from scoring.view import JUDGED_VIEWS, classify, majority_view

FORM_MARGIN_DEG = 1.5
"""Added to the largest deviation among the reference's reps to get a part's form tolerance."""
FAULT_MARGIN_DEG = 3.0
"""Added to the largest value among the reference's reps to get an angle fault's threshold."""
FAULT_MARGIN_S = 0.05
"""Added to the largest left/right lag among the reference's reps to get a lag fault's threshold."""


SHALLOW_SHARE = 0.5
"""A movement found in a reference video that moves the driving angle less than this share of the deepest
one found is not a rep of the exercise (walking into the picture, settling into position): it is listed,
never chosen by default, and refused when asked for."""


@dataclass(frozen=True)
class FoundRep:
    """One movement the segmenter counted in a reference video (before the reference is calibrated)."""

    number: int
    """1-based, as ``--reps`` counts."""
    span: RepSpan
    """Its frames."""
    start_s: float
    """Its first frame's time in the video, seconds."""
    end_s: float
    """Its last frame's time, seconds."""
    range_deg: float
    """How far the driving angle moved in it, degrees."""
    like_others: bool
    """Whether it moved at least ``SHALLOW_SHARE`` of the deepest movement found (a rep, not a fidget)."""

    def describe(self) -> str:
        note = "" if self.like_others else " (under half the deepest: not a rep)"
        return f"rep {self.number}: {self.start_s:.1f}-{self.end_s:.1f} s, {self.range_deg:.0f} deg{note}"


def find_reps(spec: ExerciseSpec, track: PoseTrack) -> tuple[Calibration, list[FoundRep]]:
    """The movements a video shows, counted with thresholds from the driving angle's distribution (its 5th
    and 95th percentiles): the provisional calibration, and each movement with its range. ReferenceError
    when there is no person or no movement."""
    if track.frames == 0 or not track.detected.any():
        raise ReferenceError(f"{track.source}: no person was found in the video, so no reference can be built")
    features = compute_features(track.poses_3d)
    ts = track.timestamps_ms
    driver = features[:, feature_by_name(spec.driver)]
    posture = features[:, feature_by_name(spec.posture_feature)]
    found = np.isfinite(driver)
    lo, hi = np.percentile(driver[found], [5, 95])
    top, bottom = (hi, lo) if spec.driver_direction == "decrease" else (lo, hi)
    at_top = found & (np.abs(driver - top) < 0.25 * abs(hi - lo))
    provisional = Calibration(
        top=float(top),
        bottom=float(bottom),
        posture_value=float(np.median(posture[at_top])) if at_top.any() else float(np.nanmedian(posture)),
        reps=(),
        template=0,
        source_video=Path(track.source).name,
        backend=track.backend,
        lifter=track.lifter,
    )
    spans = segment(features, ts, spec, segmenter_options(spec, provisional, 2000.0))
    if not spans:
        raise ReferenceError(
            f"{track.source}: no {spec.display_name} rep was found (driver {spec.driver} moved between "
            f"{lo:.0f} and {hi:.0f} deg); check the video shows full reps from the start posture"
        )
    ranges = [float(np.nanmax(driver[s.start : s.end + 1]) - np.nanmin(driver[s.start : s.end + 1])) for s in spans]
    deepest = max(ranges)
    t0 = float(ts[0])
    return provisional, [
        FoundRep(i + 1, s, (ts[s.start] - t0) / 1000, (ts[s.end] - t0) / 1000, r, r >= SHALLOW_SHARE * deepest)
        for i, (s, r) in enumerate(zip(spans, ranges, strict=True))
    ]


def build_reference(spec: ExerciseSpec, track: PoseTrack, reps: str | Sequence[int] | None = None) -> Reference:
    """Calibrate ``spec`` on a video's pose track.

    1. Provisional thresholds from the driving angle's distribution (5th and 95th percentiles); the
       movements they count (``find_reps``).
    2. Keep the asked reps (``"2-3"`` or rep numbers such as ``[1, 3]``, 1-based; default: every movement
       like the others). A chosen movement much shallower than the deepest found is refused: it is not a rep.
    3. Re-calibrate from those reps (medians at starts/ends, at turning points, posture at starts),
       segment again with the final thresholds (exactly as live scoring will), and pick the template
       rep: the medoid under DTW.
    4. Score every reference rep against the template and widen the tolerances to their spread
       (``calibrate_tolerances``).
    """
    provisional, movements = find_reps(spec, track)
    features = compute_features(track.poses_3d)
    ts = track.timestamps_ms
    driver = features[:, feature_by_name(spec.driver)]
    posture = features[:, feature_by_name(spec.posture_feature)]
    listing = "; ".join(m.describe() for m in movements)
    if reps is None:
        picked = [m for m in movements if m.like_others]
        selected = ",".join(str(m.number) for m in picked)
    else:
        if isinstance(reps, str):
            first, last = parse_rep_range(reps, len(movements))
            picked = movements[first - 1 : last]
            selected = f"{first}-{last}"
        else:
            numbers = sorted(set(reps))
            unknown = [n for n in numbers if not 1 <= n <= len(movements)]
            if not numbers or unknown:
                raise ReferenceError(
                    f"{track.source}: pick reps among the {len(movements)} found (1-{len(movements)}), "
                    f"got {list(reps)} (found: {listing})"
                )
            picked = [movements[n - 1] for n in numbers]
            selected = ",".join(str(n) for n in numbers)
        odd = [m for m in picked if not m.like_others]
        if odd:
            raise ReferenceError(
                f"{track.source}: rep {odd[0].number} moved {spec.driver} only {odd[0].range_deg:.0f} deg, under "
                f"{SHALLOW_SHARE:.0%} of the deepest movement found: it is not a rep of {spec.display_name}; pick "
                f"other reps (found: {listing})"
            )
    chosen = [m.span for m in picked]
    ends = np.array([s.start for s in chosen] + [s.end for s in chosen])
    calibrated = replace(
        provisional,
        top=float(np.median(driver[ends])),
        bottom=float(np.median(driver[[s.bottom for s in chosen]])),
        posture_value=float(np.median(posture[[s.start for s in chosen]])),
    )
    rep_ms = float(np.median([ts[s.end] - ts[s.start] for s in chosen]))
    final = segment(features, ts, spec, segmenter_options(spec, calibrated, rep_ms))
    kept = tuple(s for s in final if any(c.start <= s.bottom <= c.end for c in chosen))
    if not kept:
        raise ReferenceError(f"{track.source}: the reps disappeared after calibration; pick other reps with --reps")
    columns = sorted({int(f) for part in spec.body_parts for f in BODY_PARTS[part]})
    filled = hold_fill(features[:, columns])
    costs = np.zeros((len(kept), len(kept)))
    for a, sa in enumerate(kept):
        for b, sb in enumerate(kept):
            if a < b:
                costs[a, b] = costs[b, a] = dtw(filled[sa.start : sa.end + 1], filled[sb.start : sb.end + 1]).mean_cost
    calibration = replace(
        calibrated, reps=kept, template=int(np.argmin(costs.sum(axis=1))), extra={"reps_selected": selected}
    )
    reference = Reference(spec, calibration, track.poses_3d.astype(np.float32), ts.astype(np.float64), features)
    image_top, image_bottom = reference_image_range(reference, track)
    calibration = replace(calibration, image_top=image_top, image_bottom=image_bottom)
    reference = replace(reference, calibration=calibration)
    tolerances = calibrate_tolerances(reference)
    return replace(reference, calibration=replace(calibration, tolerances=tolerances))


def reference_image_range(reference: Reference, track: PoseTrack) -> tuple[float | None, float | None]:
    """The driving angle read in the picture at the reference's start postures and turning points
    (medians over its reps, each value held for ``HOLD_MS``), or (None, None) when the driver cannot be
    read in the picture or the reps were not filmed from the side."""
    driver = feature_by_name(reference.spec.driver)
    if driver not in IMAGE_ANGLES:
        return None, None
    decrease = reference.spec.driver_direction == "decrease"
    tops, bottoms = [], []
    for span in reference.calibration.reps:
        frames = range(span.start, span.end + 1)
        views = [classify(track.poses_3d[i], reference.gravity) if track.detected[i] else None for i in frames]
        if majority_view(views) != "side":
            continue
        angles = np.array(
            [
                image_angle(track.keypoints_2d[i], track.scores[i], driver) if track.detected[i] else np.nan
                for i in frames
            ]
        )
        held = held_image_angles(angles, track.timestamps_ms[span.start : span.end + 1])
        if held.size:
            tops.append(held.max() if decrease else held.min())
            bottoms.append(held.min() if decrease else held.max())
    if not tops:
        return None, None
    return round(float(np.median(tops)), 2), round(float(np.median(bottoms)), 2)


def measure_reference_reps(reference: Reference) -> list[RepMeasures]:
    """Measure each of the reference's reps against its template, with default tolerances."""
    scorer = RepScorer(replace(reference, calibration=replace(reference.calibration, tolerances=Tolerances())))
    out = []
    for span in reference.calibration.reps:
        rep = hold_fill(reference.features[span.start : span.end + 1])
        alignment = dtw(rep[:, scorer.columns], scorer.template)
        out.append(
            scorer.measure(rep, reference.timestamps_ms[span.start : span.end + 1], span.bottom - span.start, alignment)
        )
    return out


def calibrate_tolerances(reference: Reference) -> Tolerances:
    """Widen every tolerance and fault threshold to the spread of the reference's own reps.

    A gold-standard set is good form by definition: what varies between its reps (including the
    pose estimator's noise, e.g. on the arm that faces away from the camera) must cost no points.
    """
    measures = measure_reference_reps(reference)
    form = {
        part: max(FORM_TOLERANCE_DEG, max(m.deviation.get(part, 0.0) for m in measures) + FORM_MARGIN_DEG)
        for part in reference.spec.body_parts
    }
    tempos = [m.tempo for m in measures]
    faults: dict[str, dict[str, float]] = {}
    for rule in reference.spec.faults:
        values = [m.rules[rule.id] for m in measures if np.isfinite(m.rules[rule.id])]
        if not values or rule.kind == "lockout":
            # judged on absolute bounds only (no relative threshold to widen), general tempo bounds, or
            # against the person's own lockout (the reference's reps say nothing about another body)
            continue
        if rule.kind in ("offset", "symmetry", "lag"):
            margin = FAULT_MARGIN_S if rule.kind == "lag" else FAULT_MARGIN_DEG
            widened = max(rule.threshold, max(values) + margin)
            if widened != rule.threshold:
                faults[rule.id] = {"threshold": round(widened, 2)}
        elif rule.kind == "rom":
            widened = min(rule.threshold, min(values) - 3.0)
            if widened != rule.threshold:
                faults[rule.id] = {"threshold": round(widened, 2)}
        else:  # a prescribed tempo: the ratio window widened to the reference's own reps
            lo = min(rule.min_ratio, min(values) * 0.85) if rule.min_ratio > 0 else rule.min_ratio
            hi = max(rule.max_ratio, max(values) * 1.15)
            if (lo, hi) != (rule.min_ratio, rule.max_ratio):
                faults[rule.id] = {"min_ratio": round(lo, 3), "max_ratio": round(hi, 3)}
    return Tolerances(
        form_deg={k: round(v, 2) for k, v in form.items()},
        rom_full_pct=round(min(90.0, min(m.rom_pct for m in measures) - 2.0), 2),
        tempo_min=round(min(0.7, min(tempos) * 0.9), 3),
        tempo_max=round(max(1.5, max(tempos) * 1.1), 3),
        symmetry_deg=round(max(3.0, max(m.symmetry for m in measures) + 1.0), 2),
        jerk=round(max(m.jerk for m in measures), 3),
        faults=faults,
    )


# -- fault rules generated from a reference (custom exercises) ------------------------------------

GENERATED_FLOOR_DEG = 10.0
"""Least threshold of a generated offset rule, degrees: the pose estimator's 3D joint angles move by
several degrees between frames of a still pose (the far-side limbs most; the shipped exercises' relative
thresholds are 8-15 deg), so a smaller excess over the reference is noise, not form."""
GENERATED_FEATURES = 3
"""Generated offset rules cover at most this many angles (those that move most in the reference's
reps): two rules each, so at most six."""
MOVING_DEG = 10.0
"""An angle that moves less than this within the reference's reps is a posture to hold (both ways are
faults); one that moves more has a movement direction (going further, and not going as far)."""
DRIVER_SIDES: dict[Feature, tuple[Feature, ...]] = {
    Feature.KNEE_MEAN: (Feature.KNEE_L, Feature.KNEE_R),
    Feature.HIP_MEAN: (Feature.HIP_L, Feature.HIP_R),
    Feature.ELBOW_MEAN: (Feature.ELBOW_L, Feature.ELBOW_R),
}
"""Both sides' mean angles and their sides."""

_JOINT_WORDS: dict[Feature, str] = {
    Feature.ELBOW_L: "left elbow",
    Feature.ELBOW_R: "right elbow",
    Feature.KNEE_L: "left knee",
    Feature.KNEE_R: "right knee",
    Feature.HIP_L: "left hip",
    Feature.HIP_R: "right hip",
    Feature.SHOULDER_L: "left shoulder",
    Feature.SHOULDER_R: "right shoulder",
    Feature.ARM_ABDUCTION_L: "left elbow",
    Feature.ARM_ABDUCTION_R: "right elbow",
    Feature.BODY_LINE: "hips",
}
_VERBS: dict[Feature, tuple[str, str]] = {
    # (what the angle growing means, what it shrinking means): the rule's direction +1, -1
    **{f: ("bends less", "bends more") for f in (Feature.ELBOW_L, Feature.ELBOW_R, Feature.KNEE_L, Feature.KNEE_R)},
    **{f: ("folds less", "folds more") for f in (Feature.HIP_L, Feature.HIP_R)},
    **{f: ("opens more", "opens less") for f in (Feature.SHOULDER_L, Feature.SHOULDER_R)},
    **{f: ("flares more", "flares less") for f in (Feature.ARM_ABDUCTION_L, Feature.ARM_ABDUCTION_R)},
    Feature.BODY_LINE: ("sag", "pike"),
}


def _offset_rule(
    feature: Feature, direction: Literal[1, -1], phases: tuple[Phase, ...], spec: ExerciseSpec
) -> FaultRule:
    who, verb = _JOINT_WORDS[feature], _VERBS[feature][0 if direction > 0 else 1]
    part = next(p for p, features in BODY_PARTS.items() if feature in features)
    if feature is Feature.BODY_LINE:
        text = f"hips {verb} {{delta:.0f}} deg more than in the reference {{where}}"
    else:
        amount, _, rest = verb.partition(" ")
        text = f"{who} {amount} {{delta:.0f}} deg {rest} than in the reference {{where}}"
    return FaultRule(
        id=re.sub(r"[^a-z0-9]+", "_", f"{who} {verb}").strip("_"),
        kind="offset",
        message=text,
        body_parts=(part,),
        feature=feature.name.lower(),
        phases=phases,
        views=tuple(v for v in spec.views if v in JUDGED_VIEWS) or JUDGED_VIEWS,
        direction=direction,
        relative=True,
    )


def generated_fault_rules(reference: Reference) -> tuple[FaultRule, ...]:
    """Fault rules for an exercise that has none authored, from its calibrated reference.

    For the angles of the scored body parts that move most within the reference's reps (at most
    ``GENERATED_FEATURES``; the driver itself is left out: its depth is the ``shallow`` rule's): an
    angle that moves gets a rule for going further than the reference on the way down, at the bottom
    or on the way up, and one for not going as far at the bottom; an angle held still gets one rule
    each way. Each is an ``offset`` rule relative to the reference's own value in the same phase; its
    threshold is the most the reference's reps themselves exceed the template rep there (their natural
    spread) plus ``FAULT_MARGIN_DEG``, and never under ``GENERATED_FLOOR_DEG``. Plus the general rules:
    ``shallow`` (depth under 80 % of the reference's) and ``too_fast`` / ``too_slow`` (tempo bounds
    that suit people in general, widened to the reference's own rep duration)."""
    spec = reference.spec
    driver = feature_by_name(spec.driver)
    skip = {driver, *DRIVER_SIDES.get(driver, ())}
    features = reference.features
    movement: dict[Feature, float] = {}
    for part in spec.body_parts:
        for feature in BODY_PARTS[part]:
            if feature in skip or feature not in _JOINT_WORDS:
                continue
            ranges = []
            for span in reference.calibration.reps:
                values = features[span.start : span.end + 1, feature]
                values = values[np.isfinite(values)]
                if values.size:
                    lo, hi = np.percentile(values, [5, 95])
                    ranges.append(float(hi - lo))
            if ranges:
                movement[feature] = float(np.median(ranges))
    chosen = sorted(movement, key=lambda f: -movement[f])[:GENERATED_FEATURES]
    template = reference.template_features()
    turn = reference.template.bottom - reference.template.start
    rules: list[FaultRule] = []
    for feature in chosen:
        if movement[feature] < MOVING_DEG:
            rules += [_offset_rule(feature, d, ("descent", "bottom", "ascent"), spec) for d in (1, -1)]
            continue
        way: Literal[1, -1] = 1 if template[turn, feature] > template[0, feature] else -1
        rules += [
            _offset_rule(feature, way, ("descent", "bottom", "ascent"), spec),
            _offset_rule(feature, -1 if way > 0 else 1, ("bottom",), spec),
        ]
    rep_s = reference.template_duration_ms() / 1000
    rules += [
        FaultRule(
            id="shallow",
            kind="rom",
            message="range {value:.0f}% of the reference's: go as far as in the reference",
            body_parts=spec.body_parts,
            threshold=80.0,
        ),
        FaultRule(
            id="too_fast",
            kind="tempo",
            message="rep took {value:.1f} s: slow down and control it",
            body_parts=spec.body_parts,
            min_s=round(min(0.8, 0.5 * rep_s), 2),
        ),
        FaultRule(
            id="too_slow",
            kind="tempo",
            message="rep took {value:.1f} s: keep a steady pace",
            body_parts=spec.body_parts,
            max_s=round(max(8.0, 3.0 * rep_s), 1),
        ),
    ]
    # each offset rule's threshold: the reference's own reps against its template, plus the margin
    trial = replace(reference, spec=replace(spec, faults=tuple(rules)))
    measures = measure_reference_reps(trial)
    out = []
    for rule in rules:
        if rule.kind == "offset":
            spread = [m.rules[rule.id] for m in measures if np.isfinite(m.rules[rule.id])]
            threshold = max(GENERATED_FLOOR_DEG, max(spread, default=0.0) + FAULT_MARGIN_DEG)
            rule = replace(rule, threshold=round(threshold, 1))
        out.append(rule)
    return tuple(out)


def with_generated_faults(reference: Reference) -> Reference:
    """``reference`` with ``generated_fault_rules`` as its spec's faults and its tolerances measured
    again with them (``calibrate_tolerances``)."""
    spec = replace(reference.spec, faults=generated_fault_rules(reference))
    reference = replace(reference, spec=spec)
    tolerances = calibrate_tolerances(reference)
    return replace(reference, calibration=replace(reference.calibration, tolerances=tolerances))

"""Per-rep scores and named faults, from a rep's features aligned with the reference's template rep.

Score = 0.5 form + 0.2 range of motion + 0.1 tempo + 0.1 symmetry + 0.1 stability, each 0-100:

- form: per body part, the mean absolute angle deviation along the DTW alignment; full marks up to
  ``FORM_TOLERANCE_DEG`` (natural rep-to-rep variation), then falling linearly to 0 over
  ``FORM_SPAN_DEG`` more degrees; the mean over the exercise's parts;
- range of motion: the driving angle's range as a percentage of the template's; full marks from 90%;
- tempo: duration over the template's; full marks from 0.7x to 1.5x;
- symmetry: left/right differences beyond the reference's own; full marks up to 3 degrees more;
- stability: jerk (second differences) of the scored angles against the template's.

Because DTW absorbs timing, tempo and depth are scored separately, so a fast or shallow rep with a
perfect shape still loses points and gets its named fault. Each named fault then costs
``FAULT_PENALTY`` points (safety faults more), so a rep with a fault never scores like a clean one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from scoring.dtw import Alignment, dtw
from scoring.features import (
    BODY_PARTS,
    EXTRA_COLUMNS,
    EXTRA_COMBINE,
    EXTRA_NEEDS,
    FEATURE_JOINTS,
    SYMMETRIC_PAIRS,
    VISIBLE_SCORE,
    ExtraFeature,
    Feature,
    feature_by_name,
    resolve_feature,
    unseen_groups,
    visible_frames,
)
from scoring.phases import HOLD_MS, PHASE_WORDS, Phase, held_worst, phase_masks
from scoring.reference import FaultRule, Reference
from scoring.types import Fault, HoldResult, RepResult, SetSummary
from scoring.view import VIEW_WORDS, CameraView

FORM_TOLERANCE_DEG = 6.0
FORM_SPAN_DEG = 30.0
ONE_SIDE_DRIVERS = frozenset({Feature.ELBOW_MIN})
"""Drivers that either side can drive alone (the more bent elbow): reps may be done one side at a time."""
REST_SHARE = 0.3
"""A part that moved under this share of its template range rested through the rep (one side at a time):
an alternating curl's resting arm moves its elbow 5-20 deg (pose noise, a little sway) against the
working arm's 110."""
WEIGHTS = {"form": 0.5, "rom": 0.2, "tempo": 0.1, "symmetry": 0.1, "stability": 0.1}
FAULT_PENALTY = {"safety": 8.0, "form": 4.0}
SEVERITY_RANK = {"safety": 2, "form": 1}
"""How severe a fault is, for ties in the set summary: safety over form over anything else (0)."""
MAX_LAG_FRAMES = 15
MIN_SIGNAL_RANGE_DEG = 10.0
"""A second depth signal counts only if it moves at least this much in the reference's template rep."""


def _shifted(alignment: Alignment, begin: int) -> Alignment:
    """An alignment against ``template[begin:]`` with its path in the whole template's frames."""
    path = alignment.path.copy()
    path[:, 1] += begin
    return Alignment(alignment.cost, path)


def hold_fill(features: np.ndarray) -> np.ndarray:
    """Fill NaN rows with the previous finite row (the first finite row before it)."""
    out = np.array(features, dtype=np.float64, copy=True)
    finite = np.isfinite(out).all(axis=1)
    if not finite.any():
        raise ValueError("no finite feature rows")
    last = out[np.argmax(finite)]
    for i in range(out.shape[0]):
        if finite[i]:
            last = out[i]
        else:
            out[i] = last
    return out


IMAGE_SEEN_SHARE = 0.8
"""The share of a rep's frames in which the picture must show the driving joint for it to be read there."""


START_SHARE = 0.1
"""The share of a rep's first frames over which its start posture is taken (``FaultRule.from_start``)."""


def start_value(angle: np.ndarray, valid: np.ndarray | None = None) -> float:
    """An angle at the rep's start posture: its median over the first ``START_SHARE`` of the rep's
    frames (at least 3), on frames where it was seen; NaN when it was not."""
    n = max(3, round(START_SHARE * angle.shape[0]))
    head = angle[:n] if valid is None else angle[:n][valid[:n]]
    head = head[np.isfinite(head)]
    return float(np.median(head)) if head.size else float("nan")


def extra_signal(extra_features: np.ndarray | None, feature: ExtraFeature, from_start: bool) -> np.ndarray | None:
    """An ``ExtraFeature`` over one rep from its columns: each taken from its own start (``from_start``),
    then combined per frame (``EXTRA_COMBINE``: the lower of two feet, so one foot's misplaced points
    cannot make a fault; the more forward knee); None when none of its columns was seen in any frame (or
    the pose pipeline has no feet)."""
    if extra_features is None:
        return None
    columns = extra_features[:, EXTRA_COLUMNS[feature]]
    if from_start:
        columns = columns - np.array([start_value(columns[:, k]) for k in range(columns.shape[1])])
    seen = np.isfinite(columns).any(axis=1)
    if not seen.any():
        return None
    out = np.full(columns.shape[0], np.nan)
    combine = np.nanmin if EXTRA_COMBINE[feature] == "min" else np.nanmax
    out[seen] = combine(columns[seen], axis=1)
    return out


def held_image_angles(angles: np.ndarray, timestamps_ms: np.ndarray) -> np.ndarray:
    """A driving angle read in the picture over one rep, each value held for ``HOLD_MS`` (the running
    median over that long), so a single frame's misplaced wrist cannot make a shallow rep look deep;
    empty when the joint was seen in too few frames."""
    seen = np.isfinite(angles)
    if angles.size == 0 or seen.mean() < IMAGE_SEEN_SHARE:
        return np.empty(0)
    values = angles[seen]
    step_ms = float(np.median(np.diff(timestamps_ms))) if timestamps_ms.size > 1 else HOLD_MS
    k = max(1, round(HOLD_MS / max(step_ms, 1e-3)))  # frames in HOLD_MS
    if values.size < k:
        return np.empty(0)
    return np.median(np.lib.stride_tricks.sliding_window_view(values, k), axis=1)


def _jerk(x: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(x, n=2, axis=0)))) if x.shape[0] > 2 else 0.0


def _lag(left: np.ndarray, right: np.ndarray) -> int:
    """Shift k (frames) minimising mean |left[t] - right[t - k]|; k > 0 means left lags right."""
    n = left.shape[0]
    best, best_k = np.inf, 0
    for k in range(-min(MAX_LAG_FRAMES, n // 3), min(MAX_LAG_FRAMES, n // 3) + 1):
        a = left[max(k, 0) : n + min(k, 0)]
        b = right[max(-k, 0) : n - max(k, 0)]
        cost = float(np.mean(np.abs(a - b)))
        if cost < best - 1e-9:
            best, best_k = cost, k
    return best_k


@dataclass(frozen=True)
class RepMeasures:
    """Raw measurements of one rep against the template, before any tolerance is applied."""

    deviation: dict[str, float]
    """Per body part, mean absolute angle deviation along the alignment, degrees."""
    rom_pct: float
    """Driving angle's range, percent of the template's."""
    duration_ms: float
    """Rep duration."""
    tempo: float
    """Duration over the template's."""
    symmetry: float
    """Largest left/right mean difference beyond the template's, degrees (may be negative)."""
    jerk: float
    """Mean absolute second difference of the scored angles, degrees per frame squared."""
    rules: dict[str, float]
    """Per fault id, the quantity its (relative) threshold applies to, for calibration: offset: the
    largest directed excess over the reference's value in the rule's phases (NaN when not relative);
    symmetry: difference beyond the reference; rom: percent; lag: seconds; tempo: NaN (general bounds)."""
    fields: dict[str, dict[str, float | str]]
    """Per fault id, the values its message names."""
    fired: dict[str, bool]
    """Per fault id, whether the rule fires with the scorer's thresholds."""
    skipped: dict[str, str]
    """Per fault id that could not be judged, why."""


class RepScorer:
    """Scores reps against one reference (stateless between reps)."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        spec = reference.spec
        self.tolerances = reference.calibration.tolerances
        self.columns = sorted({int(f) for part in spec.body_parts for f in BODY_PARTS[part]})
        """Feature columns that are aligned and scored."""
        self.part_columns = {part: [self.columns.index(int(f)) for f in BODY_PARTS[part]] for part in spec.body_parts}
        self.template_all = hold_fill(reference.template_features())
        self._movers = {
            part: max(BODY_PARTS[part], key=lambda f: float(np.ptp(self.template_all[:, f])))
            for part in spec.body_parts
        }
        """Per part, its feature that moves most in the template (the elbow for an arm in a curl)."""
        self.template = np.ascontiguousarray(self.template_all[:, self.columns])
        """(m, len(columns)) the template rep in the scored columns: what DTW aligns with."""
        t = reference.template
        self._template_turn = t.bottom - t.start
        template_ts = reference.timestamps_ms[t.start : t.end + 1]
        self._template_ts = np.asarray(template_ts, dtype=np.float64)
        self._driver = int(feature_by_name(spec.driver))
        cal = reference.calibration
        self._top, self._range = cal.top, cal.bottom - cal.top
        drv = self.template_all[:, self._driver]
        self._template_rom = float(np.max(drv) - np.min(drv))
        self._depth_signals = [
            (column, rom)
            for column in (int(feature_by_name(name)) for name in spec.depth_signals)
            if (rom := float(np.ptp(self.template_all[:, column]))) >= MIN_SIGNAL_RANGE_DEG
        ]
        """Other depth signals and the template's range of each (those that move in the reference)."""
        self._template_ms = float(template_ts[-1] - template_ts[0])
        self._template_jerk = _jerk(self.template)
        self._pairs = [
            (int(a), int(b)) for a, b in SYMMETRIC_PAIRS.values() if int(a) in self.columns and int(b) in self.columns
        ]
        self.rules = tuple(replace(rule, **self.tolerances.faults.get(rule.id, {})) for rule in spec.faults)  # type: ignore[arg-type]
        """The fault rules with (relative) thresholds widened to the reference's own spread."""
        self._template_phases = phase_masks(self._progress(self.template_all), self._template_turn)
        bounds = [(r.min_s, r.max_s) for r in self.rules if r.kind == "tempo"]
        self._tempo_bounds_s = (
            max((lo for lo, _ in bounds), default=0.0),
            min((hi for _, hi in bounds), default=np.inf),
        )
        """Rep durations (s) that suit people in general: full tempo marks inside, unless a tempo is prescribed."""

    def _deviation(self, diff: np.ndarray, rested: list[str], visibility: np.ndarray | None) -> dict[str, float]:
        """Mean aligned deviation per body part (``diff``: ``(path, len(columns))``), over the part's angles
        whose joints were seen in at least half of the rep (an angle made with guessed joints, e.g. the
        hips of a person framed from the waist up, measures the guess); a part with none, or one that
        rested (``rested_parts``), is left out."""
        out = {}
        for part, cols in self.part_columns.items():
            if part in rested:
                continue
            if visibility is not None:
                cols = [c for c in cols if visible_frames(visibility, Feature(self.columns[c]))[0].mean() >= 0.5]
            if cols:
                out[part] = float(diff[:, cols].mean())
        return out

    def rested_parts(self, features: np.ndarray) -> list[str]:
        """The body parts that rested through a rep of an exercise done one side at a time (its driver is
        in ``ONE_SIDE_DRIVERS``: an alternating curl bends one elbow while the other arm hangs): each
        part whose most moving feature moved under ``REST_SHARE`` of the template's range, while another
        part moved. Empty for every other exercise."""
        if feature_by_name(self.reference.spec.driver) not in ONE_SIDE_DRIVERS:
            return []
        rested = [
            part
            for part, f in self._movers.items()
            if np.nanmax(features[:, f]) - np.nanmin(features[:, f])
            < REST_SHARE * float(np.ptp(self.template_all[:, f]))
        ]
        return rested if len(rested) < len(self._movers) else []

    def joined_alignment(self, features: np.ndarray) -> tuple[Alignment, int]:
        """DTW of a rep the recording began in the middle of (``features``: ``(n, NUM_FEATURES)``, gaps
        filled) against the template from the frame before its turning point whose progress matches the
        rep's first frame (path in template frames); that frame's index in the template."""
        before = self._progress(self.template_all)[: self._template_turn + 1]
        first = float(self._progress(features[:1])[0])
        begin = int(np.nanargmin(np.abs(before - max(first, float(np.nanmin(before))))))
        return _shifted(dtw(features[:, self.columns], self.template[begin:]), begin), begin

    def cut_alignment(self, features: np.ndarray) -> tuple[Alignment, int]:
        """DTW of a rep the set ended in before it came back (``features``: ``(n, NUM_FEATURES)``, gaps
        filled) against the template up to the frame after its turning point whose progress matches the
        rep's last frame; that frame's index in the template."""
        after = self._progress(self.template_all)[self._template_turn :]
        last = float(self._progress(features[-1:])[0])
        end = self._template_turn + int(np.nanargmin(np.abs(after - min(last, float(np.nanmax(after))))))
        return dtw(features[:, self.columns], self.template[: end + 1]), end

    def final_alignment(
        self, features: np.ndarray, alignment: Alignment, cut_at: int | None = None, joined_at: int | None = None
    ) -> Alignment:
        """The alignment a rep is measured along (``measure``), path in the whole template's frames:
        ``alignment`` itself, or, for a rep done one side at a time with a resting part
        (``rested_parts``), DTW again on the working side alone (the resting one would pull the
        alignment). ``features``: ``(n, NUM_FEATURES)``, gaps filled; ``cut_at``/``joined_at`` as in
        ``score``."""
        rested = self.rested_parts(features)
        if not rested:
            return alignment
        keep = [c for part, cols in self.part_columns.items() if part not in rested for c in cols]
        end = self.template.shape[0] if cut_at is None else cut_at + 1
        begin = joined_at or 0
        return _shifted(dtw(features[:, self.columns][:, keep], self.template[begin:end, keep]), begin)

    def _progress(self, features: np.ndarray) -> np.ndarray:
        """Driving-angle progress in reference units (0 start posture, 1 the reference's turning point)."""
        return (features[:, self._driver] - self._top) / self._range

    def measure(
        self,
        features: np.ndarray,
        timestamps_ms: np.ndarray,
        turn: int,
        alignment: Alignment,
        visibility: np.ndarray | None = None,
        view: CameraView | None = None,
        extra_features: np.ndarray | None = None,
        image_driver: np.ndarray | None = None,
        lockout: tuple[float, float] | None = None,
        cut_at: int | None = None,
        joined_at: int | None = None,
    ) -> RepMeasures:
        """Raw measurements of a rep (see ``score`` for the arguments)."""
        n = features.shape[0]
        if features.ndim != 2 or timestamps_ms.shape != (n,) or not 0 <= turn < n:
            raise ValueError("features (n, F), timestamps (n,) and 0 <= turn < n are required")
        if visibility is not None and visibility.shape != (n, 17):
            raise ValueError(f"visibility must be ({n}, 17), got {visibility.shape}")
        scored = features[:, self.columns]
        rested = self.rested_parts(features)
        path = self.final_alignment(features, alignment, cut_at, joined_at).path
        diff = np.abs(scored[path[:, 0]] - self.template[path[:, 1]])
        drv = features[:, self._driver]
        duration_ms = float(timestamps_ms[-1] - timestamps_ms[0])
        excess = [
            float(np.mean(np.abs(features[:, a] - features[:, b])))
            - float(np.mean(np.abs(self.template_all[:, a] - self.template_all[:, b])))
            for a, b in self._pairs
        ]
        rom_pct = 100.0 * float(np.max(drv) - np.min(drv)) / max(self._template_rom, 1e-6)
        for column, template_rom in self._depth_signals:
            signal = features[:, column]
            if np.isfinite(signal).all():
                rom_pct = max(rom_pct, 100.0 * float(np.ptp(signal)) / template_rom)
        cal = self.reference.calibration
        # The driving angle at the turning point, held for HOLD_MS: the deepest the 3D pose or (from the
        # side) the picture shows; an absolute depth standard is judged on it.
        sign = -1.0 if self._range < 0 else 1.0  # +1: the angle grows toward the turning point
        bottom_deg = sign * held_worst(sign * drv, timestamps_ms, np.ones(n, dtype=bool))
        if view == "side" and image_driver is not None and cal.image_top is not None and cal.image_bottom is not None:
            held = held_image_angles(image_driver, timestamps_ms)
            if held.size:  # how far toward the reference's turning point the picture shows the rep going
                depth = np.max((cal.image_top - held) / (cal.image_top - cal.image_bottom))
                rom_pct = max(rom_pct, 100.0 * float(depth))
                picture = float(held.max() if sign > 0 else held.min())
                bottom_deg = picture if not np.isfinite(bottom_deg) else sign * max(sign * bottom_deg, sign * picture)
        if cut_at is not None or joined_at is not None:  # part of the rep was seen: its whole duration, estimated
            last = cut_at if cut_at is not None else len(self._template_ts) - 1
            first = joined_at if joined_at is not None else 0
            seen_ms = float(self._template_ts[last] - self._template_ts[first])
            duration_ms *= self._template_ms / max(seen_ms, 1e-6)
        tempo = duration_ms / max(self._template_ms, 1e-6)
        rules: dict[str, float] = {}
        fields: dict[str, dict[str, float | str]] = {}
        fired: dict[str, bool] = {}
        skipped: dict[str, str] = {}
        phases = phase_masks(self._progress(features), turn)
        for rule in self.rules:
            if view is not None and view not in rule.views:
                rules[rule.id], fields[rule.id], fired[rule.id] = float("nan"), {}, False
                skipped[rule.id] = f"not judged {VIEW_WORDS[view]}"
                continue
            if cut_at is not None and rule.kind in ("tempo", "lag"):
                rules[rule.id], fields[rule.id], fired[rule.id] = float("nan"), {}, False
                skipped[rule.id] = "the set ended before this rep came back to the start position"
                continue
            if joined_at is not None and (rule.kind in ("tempo", "lag") or rule.from_start):
                rules[rule.id], fields[rule.id], fired[rule.id] = float("nan"), {}, False
                skipped[rule.id] = "the recording began in the middle of this rep: its start was not seen"
                continue
            if rule.kind == "offset":
                feature = resolve_feature(rule.feature)
                judged = rule
                if isinstance(feature, ExtraFeature):
                    feet = extra_signal(extra_features, feature, rule.from_start)
                    if feet is None:
                        rules[rule.id], fields[rule.id], fired[rule.id] = float("nan"), {}, False
                        skipped[rule.id] = (
                            "this pose pipeline does not track the feet"
                            if extra_features is None
                            else f"{EXTRA_NEEDS[feature]} not seen for {HOLD_MS / 1000:.2f} s in any part of the rep"
                        )
                        continue
                    signal, template, valid, never = feet, None, None, [EXTRA_NEEDS[feature]]
                    judged = replace(rule, from_start=False)  # taken from each foot's own start already
                else:
                    signal, template = features[:, feature], self.template_all[:, feature]
                    valid, never = (None, []) if visibility is None else visible_frames(visibility, feature)
                rules[rule.id], fields[rule.id], fired[rule.id] = self._offset(
                    judged, signal, template, timestamps_ms, phases, valid
                )
                if not fields[rule.id].get("phase"):
                    unseen = " and ".join(never) if never else "the joints it needs"
                    skipped[rule.id] = f"{unseen} not seen for {HOLD_MS / 1000:.2f} s in any part of the rep"
                elif (
                    not fired[rule.id]
                    and "bottom" in str(fields[rule.id].get("unjudged_phases", "")).split(",")
                    and visibility is not None
                ):
                    # no fault where it was seen, but the turning point, where faults show most, went
                    # unseen (the far elbow at the bottom of a push-up seen at an angle): say so
                    mask = np.zeros(n, dtype=bool)
                    for phase in str(fields[rule.id]["unjudged_phases"]).split(","):
                        mask |= phases[phase]  # type: ignore[index]
                    groups = unseen_groups(visibility[mask], feature) if isinstance(feature, Feature) else []
                    who = " and ".join(groups) if groups else "the joints it needs"
                    skipped[rule.id] = f"{who} not seen {fields[rule.id]['unjudged']}"
                continue
            if rule.kind == "lockout":
                rules[rule.id], fields[rule.id], fired[rule.id] = self._lockout(rule, lockout)
                if not fields[rule.id]:
                    skipped[rule.id] = "the top of the rep or the straight start position not seen"
                continue
            if rule.kind in ("symmetry", "lag") and visibility is not None:
                hidden = self._hidden_side(rule.pair, visibility)
                if hidden:  # comparing a seen arm with a guessed one would judge the guess
                    rules[rule.id], fields[rule.id], fired[rule.id] = float("nan"), {}, False
                    skipped[rule.id] = f"the {hidden} not seen in most of the rep"
                    continue
            rules[rule.id], fields[rule.id], fired[rule.id] = self._rule_measure(
                rule, features, timestamps_ms, rom_pct, duration_ms, bottom_deg
            )
        if feature_by_name(self.reference.spec.driver) in ONE_SIDE_DRIVERS or view == "oblique":
            # one side at a time (or both): the sides need not match; at an angle one side is foreshortened
            # differently from the other (as the symmetry rules, not judged there)
            excess = []
        return RepMeasures(
            deviation=self._deviation(diff, rested, visibility),
            rom_pct=rom_pct,
            duration_ms=duration_ms,
            tempo=tempo,
            symmetry=max(excess) if excess else 0.0,
            jerk=_jerk(scored),
            rules=rules,
            fields=fields,
            fired=fired,
            skipped=skipped,
        )

    def score(
        self,
        index: int,
        features: np.ndarray,
        timestamps_ms: np.ndarray,
        frames: np.ndarray,
        turn: int,
        alignment: Alignment,
        visibility: np.ndarray | None = None,
        view: CameraView | None = None,
        extra_features: np.ndarray | None = None,
        image_driver: np.ndarray | None = None,
        lockout: tuple[float, float] | None = None,
        cut_at: int | None = None,
        joined_at: int | None = None,
    ) -> RepResult:
        """Score one rep.

        Args:
            index: 1-based rep number.
            features: ``(n, NUM_FEATURES)`` degrees, start to end inclusive, gaps already filled.
            timestamps_ms: ``(n,)`` source timestamps.
            frames: ``(n,)`` frame indices in the stream.
            turn: position of the turning point within the rep (0-based).
            alignment: DTW of ``features[:, columns]`` against ``self.template``.
            visibility: ``(n, 17)`` joint confidences of the frames (H36M order; 0 where a frame's
                features are held from an earlier one); a rule whose joints were not seen is skipped,
                never judged on guessed joints. None: every joint counts as seen.
            view: where the camera saw the rep from (``scoring.view``); a rule that cannot be judged
                from there is skipped. None: unknown, every rule is judged.
            extra_features: ``(n, NUM_EXTRA_FEATURES)`` of the feet in the picture (NaN where not seen);
                None when the pose pipeline gives no such points (those rules are then skipped).
            image_driver: ``(n,)`` the driving angle read in the picture (``features.image_angle``,
                NaN where it could not be); in a side view it is a second depth signal. None: not known.
            lockout: (the straightest the driving angle came back to after the turning point, the
                person's own lockout before it), degrees (``ScoringCore``); None: not known, lockout
                rules are skipped.
            cut_at: the set ended before the rep came back (``ExerciseSpec.counts_at_turn``): the template
                frame the rep's last frame matches (``cut_alignment``); its duration is estimated from
                the part seen and its tempo and lag rules are not judged. None: a whole rep.
            joined_at: the recording began in the middle of the rep: the template frame its first frame
                matches (``joined_alignment``); tempo, lag and rules measured from the rep's start are not
                judged. None: the rep was seen from its start.
        """
        if frames.shape != timestamps_ms.shape:
            raise ValueError("frames and timestamps must have the same shape")
        m = self.measure(
            features,
            timestamps_ms,
            turn,
            alignment,
            visibility,
            view,
            extra_features,
            image_driver,
            lockout,
            cut_at,
            joined_at,
        )
        tol = self.tolerances
        part_scores = {
            part: round(
                100.0
                * float(np.clip(1 - max(0.0, dev - tol.form_deg.get(part, FORM_TOLERANCE_DEG)) / FORM_SPAN_DEG, 0, 1)),
                1,
            )
            for part, dev in m.deviation.items()
        }
        tempo_score = self._tempo_score(m.duration_ms / 1000)
        symmetry = max(0.0, m.symmetry)
        jerk_ok = self._template_jerk if tol.jerk is None else tol.jerk
        stability = 100.0 * min(1.0, (jerk_ok + 0.5) / (m.jerk + 0.5))
        components = {
            "form": float(np.mean(list(part_scores.values()))),
            "rom": 100.0 if m.rom_pct >= tol.rom_full_pct else max(0.0, 100.0 - 2.5 * (tol.rom_full_pct - m.rom_pct)),
            "tempo": tempo_score,
            "symmetry": max(0.0, 100.0 - 4.0 * max(0.0, symmetry - tol.symmetry_deg)),
            "stability": stability,
        }
        faults = [self._fault(rule, m) for rule in self.rules if m.fired[rule.id]]
        faults.sort(key=lambda f: f.severity != "safety")
        return RepResult(
            index=index,
            start_ms=float(timestamps_ms[0]),
            bottom_ms=float(timestamps_ms[turn]),
            end_ms=float(timestamps_ms[-1]),
            start_frame=int(frames[0]),
            bottom_frame=int(frames[turn]),
            end_frame=int(frames[-1]),
            score=round(
                max(
                    0.0,
                    sum(WEIGHTS[k] * v for k, v in components.items()) - sum(FAULT_PENALTY[f.severity] for f in faults),
                ),
                1,
            ),
            part_scores=part_scores,
            part_deviation_deg={k: round(v, 2) for k, v in m.deviation.items()},
            rom_pct=round(m.rom_pct, 1),
            duration_s=round(m.duration_ms / 1000, 3),
            tempo_ratio=round(m.tempo, 3),
            down_s=round(float(timestamps_ms[turn] - timestamps_ms[0]) / 1000, 3),
            up_s=round(float(timestamps_ms[-1] - timestamps_ms[turn]) / 1000, 3),
            symmetry_deg=round(symmetry, 2),
            stability=round(stability, 1),
            faults=tuple(faults),
            checks_skipped=dict(m.skipped),
            view=view,
        )

    def _tempo_score(self, duration_s: float) -> float:
        """100 inside the bounds: the prescribed tempo's ratio window, or the general duration bounds."""
        tempo_s = self.reference.spec.tempo_s
        if tempo_s is not None:
            ratio, lo, hi = duration_s / tempo_s, self.tolerances.tempo_min, self.tolerances.tempo_max
        else:
            ratio, (lo, hi) = duration_s, self._tempo_bounds_s
        if ratio < lo:
            return max(0.0, 100.0 - 200.0 * (lo - ratio) / lo)
        return max(0.0, 100.0 - 50.0 * max(0.0, ratio - hi) / hi) if np.isfinite(hi) else 100.0

    @staticmethod
    def _fault(rule: FaultRule, m: RepMeasures) -> Fault:
        fields = m.fields[rule.id]
        phase = fields.get("phase")
        return Fault(
            id=rule.id,
            message=rule.message.format(**fields),
            value=round(float(fields["value"]), 2),
            reference=round(float(fields["reference"]), 2),
            severity=rule.severity,
            body_parts=rule.body_parts,
            kind=rule.kind,
            details={k: round(float(v), 2) if not isinstance(v, str) else v for k, v in fields.items()},
            phase=str(phase) if phase is not None else None,
        )

    def _offset(
        self,
        rule: FaultRule,
        angle: np.ndarray,
        template_angle: np.ndarray | None,
        timestamps_ms: np.ndarray,
        phases: dict[Phase, np.ndarray],
        valid: np.ndarray | None,
    ) -> tuple[float, dict[str, float | str], bool]:
        """Judge an offset rule on its angle ``(n,)`` in each of its phases (on the frames where its
        joints were seen; ``template_angle``: the same angle over the template rep, None when the
        reference has none); report the worst phase, a firing one first. No ``phase`` in the fields:
        nothing could be judged."""
        if rule.from_start:
            angle = angle - start_value(angle, valid)
            template_angle = template_angle - start_value(template_angle) if template_angle is not None else None
        signal = rule.direction * angle
        template = rule.direction * template_angle if template_angle is not None else None
        candidates = []
        unjudged: list[Phase] = []
        for phase in rule.phases:
            value = held_worst(signal, timestamps_ms, phases[phase], valid)
            if not np.isfinite(value):
                if phases[phase].any():
                    unjudged.append(phase)
                continue
            ref = (
                held_worst(template, self._template_ts, self._template_phases[phase])
                if template is not None
                else float("nan")
            )
            excess = value - ref if np.isfinite(ref) else np.nan
            fires = (rule.limit is None or value > rule.limit) and (
                not rule.relative or (np.isfinite(excess) and excess > rule.threshold)
            )
            candidates.append((fires, value, phase, ref, excess))
        if not candidates:
            return float("nan"), {"value": float("nan"), "reference": float("nan"), "delta": float("nan")}, False
        fires, value, phase, ref, excess = max(candidates, key=lambda c: (c[0], c[1]))
        excesses = [c[4] for c in candidates if np.isfinite(c[4])]
        measure = max(excesses) if rule.relative and excesses else float("nan")
        if rule.relative:  # against the reference's own value in that phase
            reference, delta = ref, excess
        else:  # against the absolute bound
            assert rule.limit is not None
            reference, delta = rule.limit, value - rule.limit
        span = np.flatnonzero(phases[phase])  # never empty: the phase had frames to judge
        fields: dict[str, float | str] = {
            "value": value,
            "reference": reference,
            "delta": delta,
            "angle": rule.direction * value,  # the angle itself (``value`` is directed: -angle when direction -1)
            "phase": phase,
            "where": self.reference.spec.phase_words.get(phase, PHASE_WORDS[phase]),
            # when that phase ran (source timestamps, ms): where a chart marks the fault
            "phase_start_ms": float(timestamps_ms[span[0]]),
            "phase_end_ms": float(timestamps_ms[span[-1]]),
        }
        if unjudged:  # judged elsewhere in the rep, not in these phases
            fields["unjudged"] = " and ".join(self.reference.spec.phase_words.get(p, PHASE_WORDS[p]) for p in unjudged)
            fields["unjudged_phases"] = ",".join(unjudged)
        return measure, fields, fires

    def _tempo(self, rule: FaultRule, duration_ms: float) -> tuple[float, dict[str, float | str], bool]:
        seconds = duration_ms / 1000
        tempo_s = self.reference.spec.tempo_s
        if tempo_s is not None:
            ratio = seconds / tempo_s
            fires = not rule.min_ratio <= ratio <= rule.max_ratio
            fields: dict[str, float | str] = {"value": seconds, "reference": tempo_s, "delta": abs(seconds - tempo_s)}
            return ratio, {**fields, "ratio": ratio}, fires
        bound = rule.min_s if rule.min_s > 0 else rule.max_s
        fires = not rule.min_s <= seconds <= rule.max_s
        ratio = seconds / max(self._template_ms / 1000, 1e-6)
        return (
            float("nan"),
            {"value": seconds, "reference": bound, "delta": abs(seconds - bound), "ratio": ratio},
            fires,
        )

    @staticmethod
    def _hidden_side(pair: str, visibility: np.ndarray) -> str:
        """The side of a left/right pair (e.g. "right elbow") seen in under ``IMAGE_SEEN_SHARE`` of the
        frames (the far arm in a side view), or "" when both were seen."""
        for feature in SYMMETRIC_PAIRS[pair]:
            seen = visibility[:, [j for _, joints in FEATURE_JOINTS[feature] for j in joints]] >= VISIBLE_SCORE
            if seen.all(axis=1).mean() < IMAGE_SEEN_SHARE:
                return FEATURE_JOINTS[feature][1][0]  # the middle joint's name: "left elbow", "right knee"
        return ""

    def _lockout(
        self, rule: FaultRule, lockout: tuple[float, float] | None
    ) -> tuple[float, dict[str, float | str], bool]:
        """How far short of the person's own lockout the rep came back up (degrees, > 0: short), its
        fields, and whether it fires; empty fields when it could not be judged."""
        if lockout is None or not all(np.isfinite(lockout)):
            return float("nan"), {}, False
        finish, own = lockout
        straighter = -1.0 if self._range > 0 else 1.0  # +1: the angle grows as the limb straightens
        short = straighter * (own - finish)
        straight = rule.limit is not None and straighter * finish >= straighter * rule.limit
        fields: dict[str, float | str] = {
            "value": finish,
            "reference": own,
            "delta": short,
            "where": PHASE_WORDS["top"],
            "phase": "top",
        }
        return short, fields, short > rule.threshold and not straight

    def _rule_measure(
        self,
        rule: FaultRule,
        features: np.ndarray,
        timestamps_ms: np.ndarray,
        rom_pct: float,
        duration_ms: float,
        bottom_deg: float = float("nan"),
    ) -> tuple[float, dict[str, float | str], bool]:
        """(what the relative threshold applies to, the message's fields, whether the rule fires) of a
        rule over the whole rep (range of motion, tempo, symmetry, lag)."""
        if rule.kind == "rom":
            fields: dict[str, float | str] = {
                "value": rom_pct,
                "reference": 100.0,
                "delta": 100.0 - rom_pct,
                "bottom": bottom_deg,
            }
            sign = -1.0 if self._range < 0 else 1.0
            deep_enough = rule.limit is not None and sign * bottom_deg >= sign * rule.limit  # False when NaN
            return rom_pct, fields, rom_pct < rule.threshold and not deep_enough
        if rule.kind == "tempo":
            return self._tempo(rule, duration_ms)
        a, b = (int(f) for f in SYMMETRIC_PAIRS[rule.pair])
        rep_diff = float(np.mean(np.abs(features[:, a] - features[:, b])))
        ref_diff = float(np.mean(np.abs(self.template_all[:, a] - self.template_all[:, b])))
        lag = _lag(features[:, a], features[:, b])
        frame_ms = float(np.median(np.diff(timestamps_ms))) if len(timestamps_ms) > 1 else 33.3
        if rule.kind == "lag":
            seconds = abs(lag) * frame_ms / 1000
            return (
                seconds,
                {
                    "value": seconds,
                    "reference": 0.0,
                    "delta": seconds,
                    "side": "left" if lag > 0 else "right",
                    "other": "right" if lag > 0 else "left",
                    "lag": seconds,
                    "difference": float(np.max(np.abs(features[:, a] - features[:, b]))),
                },
                seconds > rule.threshold,
            )
        excess = rep_diff - ref_diff
        return (
            excess,
            {
                "value": float(np.max(np.abs(features[:, a] - features[:, b]))),
                "reference": ref_diff,
                "delta": excess,
                "side": "left" if lag > 0 else "right",
                "other": "right" if lag > 0 else "left",
                "lag": abs(lag) * frame_ms / 1000,
            },
            excess > rule.threshold,
        )


def set_statistics(results: Sequence[RepResult | HoldResult], not_counted: int = 0) -> SetSummary:
    """What every set summary has, reps or holds: mean/best/worst score, the trend over the set (the
    least-squares slope beyond +-1 point per rep or hold, from 3 of them), the fault seen in most of them
    with its severity (ties: the more severe, ``SEVERITY_RANK``, then the earlier id), and how many
    movements did not count; ``reps`` is left 0."""
    counts: dict[str, int] = {}
    severity: dict[str, str] = {}
    for result in results:
        for fault in result.faults:
            if SEVERITY_RANK.get(fault.severity, 0) >= SEVERITY_RANK.get(severity.get(fault.id, ""), 0):
                severity[fault.id] = fault.severity
        for fault_id in {f.id for f in result.faults}:
            counts[fault_id] = counts.get(fault_id, 0) + 1
    if not results:
        return SetSummary(0, None, None, None, "n/a", 0.0, None, 0, {}, not_counted)
    scores = np.array([r.score for r in results])
    slope = float(np.polyfit(np.arange(len(scores)), scores, 1)[0]) if len(scores) >= 3 else 0.0
    trend = "n/a" if len(scores) < 3 else ("improving" if slope > 1 else "declining" if slope < -1 else "steady")
    top = (
        min(counts.items(), key=lambda kv: (-kv[1], -SEVERITY_RANK.get(severity[kv[0]], 0), kv[0]))
        if counts
        else (None, 0)
    )
    return SetSummary(
        reps=0,
        mean_score=round(float(scores.mean()), 1),
        best_score=float(scores.max()),
        worst_score=float(scores.min()),
        trend=trend,  # type: ignore[arg-type]
        trend_per_rep=round(slope, 2),
        most_frequent_fault=top[0],
        most_frequent_fault_count=top[1],
        fault_counts=counts,
        not_counted=not_counted,
        most_frequent_fault_severity=severity[top[0]] if top[0] is not None else None,
    )


def summarize(results: list[RepResult], not_counted: int = 0, looks_like: str | None = None) -> SetSummary:
    """The set summary: count, mean/best/worst score, trend over the set, most frequent fault; how many
    movements did not count, and the exercise the movement looked like instead (if any)."""
    return replace(set_statistics(results, not_counted), reps=len(results), looks_like=looks_like)

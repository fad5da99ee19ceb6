"""Hold exercises (a plank): time under tension while the posture is held, and the hold's faults.

``HoldTracker`` is the hold's counterpart of the rep segmenter + scorer: pure and synchronous, no
clock (every timestamp comes from the poses), ``add(frame) -> [CoachEvent]``. Per frame it decides
whether the person is *in position*: the posture gate holds (``posture_feature`` within
``posture_tolerance_deg`` of the reference's held value) and every ``HoldSpec`` bound holds (a bound
whose joints were not seen is not held against the person: a leg out of the picture is no broken
plank). Then:

- a hold begins once the person has been in position for ``SETTLE_MS`` (a frame that flickers into
  position while getting down is no hold); it goes on through breaks shorter than ``grace_s`` (a
  wobble, missed frames) and ends at the last frame in position before a longer break;
- time under tension = first to last frame in position; a hold shorter than ``min_s`` is not counted
  and is reported with the reason (``RepDiscarded``: "held 1.2 s, under the 2 s that count");
- ``HoldProgress`` at most once a second (whole seconds held), so a page can show a timer.

Faults: the exercise's offset rules with phase ``hold``, judged on the frames in position whose joints
were seen, from the rule's views only. An *episode* is the directed value (``direction`` x angle,
held for ``HOLD_MS`` as in ``scoring.phases``: the lowest value of the last 0.15 s, so one frame of
pose noise never counts) beyond the rule's bound (its absolute ``limit``, and when ``relative`` the
reference's held value + ``threshold``) for at least ``EPISODE_MIN_MS`` (0.5 s: a real sag or pike
lasts seconds, while MediaPipe's far-side joints jump for a few frames at a time); returns inside the
bound shorter than ``EPISODE_MIN_MS`` are bridged. ``HoldFault`` goes out when an episode is
confirmed (a tip can be said while it happens); the hold's result lists every episode with its start,
duration and worst value ("hips pike 21 deg above the shoulder-ankle line for 3.2 s from 0.4 s").

Score (0-100) = ``FORM_WEIGHT`` x form + (1 - ``FORM_WEIGHT``) x clean, minus ``FAULT_PENALTY`` per
rule with an episode (safety faults more), where form is the mean over the exercise's body parts of
the part score of ``scoring.score`` (mean absolute deviation of the part's angles from the reference's
held posture, full marks within the reference's own spread) and clean is the share of the hold free
of any fault episode.

``build_hold_reference`` makes a hold's reference from a pose track (a video of a good hold, or the
authored keyframes compiled by ``scoring.authored``): the longest in-position window is the held
posture.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lifting.track import PoseTrack
from scoring.features import (
    BODY_PARTS,
    FEATURE_JOINTS,
    Feature,
    compute_features,
    feature_by_name,
    resolve_feature,
    visible_frames,
)
from scoring.phases import HOLD_MS, PHASE_WORDS, held_worst
from scoring.reference import (
    Calibration,
    ExerciseSpec,
    FaultRule,
    HoldSpec,
    Reference,
    ReferenceError,
    RepSpan,
    Tolerances,
)
from scoring.score import FAULT_PENALTY, FORM_SPAN_DEG, FORM_TOLERANCE_DEG, set_statistics
from scoring.types import (
    CoachEvent,
    Fault,
    HoldEnded,
    HoldFault,
    HoldProgress,
    HoldResult,
    HoldStarted,
    PostureChanged,
    RepDiscarded,
    SetSummary,
)
from scoring.view import VIEW_WORDS, BodyAxis, CameraView, majority_view

SETTLE_MS = 500.0
"""In position this long before a hold begins (getting down into a plank swings the posture through
the gate for a frame or two)."""
EPISODE_MIN_MS = 500.0
"""A fault episode lasts at least this long (and shorter returns inside the bound do not end one)."""
FORM_WEIGHT = 0.5
"""The posture's share of a hold's score; the rest is the share of the hold free of fault episodes."""
FORM_MARGIN_DEG = 1.5
"""Added to the reference's own spread (95th percentile) to get a body part's form tolerance."""
FAULT_MARGIN_DEG = 3.0
"""Added to the reference's own spread of a relative rule's value to get its threshold."""

HoldState = str  # "no_person" | "out_of_position" | "holding"


AXIS_WORDS: dict[str, str] = {"up": "upright", "forward": "face down or up", "left": "on a side"}
"""How a message names the body axis that is vertical (``scoring.view.vertical_axis``)."""


def hold_rules(spec: ExerciseSpec) -> tuple[FaultRule, ...]:
    """The rules a hold judges: offset rules with phase ``hold``. ReferenceError for any other rule of a
    hold (a range of motion, a tempo or a lockout means nothing without reps)."""
    if spec.kind != "hold" or spec.hold is None:
        raise ReferenceError(f"{spec.name}: not a hold exercise")
    for rule in spec.faults:
        if rule.kind != "offset" or "hold" not in rule.phases or rule.from_start:
            raise ReferenceError(
                f"{spec.name}: fault {rule.id!r}: a hold judges offset rules with phases ['hold'] (from_start "
                "false) only"
            )
        if not isinstance(resolve_feature(rule.feature), Feature):
            raise ReferenceError(f"{spec.name}: fault {rule.id!r}: a hold judges angles of the skeleton only")
    return spec.faults


def held_posture(reference: Reference) -> np.ndarray:
    """``(NUM_FEATURES,)`` the reference's held posture: each feature's median over its hold."""
    span = reference.template
    with np.errstate(all="ignore"):
        return np.nanmedian(reference.features[span.start : span.end + 1], axis=0)


@dataclass
class _Episode:
    start_ms: float
    last_ms: float
    worst: float
    angle: float  # the angle itself at the worst value
    confirmed: bool = False


@dataclass
class _Rule:
    """One fault rule's running state within a hold."""

    rule: FaultRule
    column: int
    reference: float  # the reference's held directed value (NaN when not relative)
    window: deque[tuple[float, float]] = field(default_factory=deque)  # (ts, directed value), usable frames in a row
    episode: _Episode | None = None
    episodes: list[_Episode] = field(default_factory=list)
    judged: int = 0  # frames with a held value


@dataclass
class _Hold:
    start_ms: float
    start_frame: int
    last_in_ms: float
    last_in_frame: int
    announced: bool = False
    progress: int = 0
    in_ms: float = 0.0  # time seen in position (frame intervals)
    prev_ms: float = math.nan
    prev_in: bool = False
    deviations: list[np.ndarray] = field(default_factory=list)  # per in-position frame, |features - held posture|
    views: list[CameraView | None] = field(default_factory=list)


class HoldTracker:
    """Holds of one set against one hold reference (see the module docstring). Frames in order."""

    def __init__(self, reference: Reference) -> None:
        spec = reference.spec
        rules = hold_rules(spec)
        assert spec.hold is not None
        self.reference = reference
        self.spec: HoldSpec = spec.hold
        self._posture = int(feature_by_name(spec.posture_feature))
        self._posture_value = reference.calibration.posture_value
        self._bounds = [(feature_by_name(name), lo, hi) for name, (lo, hi) in spec.hold.bounds.items()]
        self._held = held_posture(reference)
        tolerances = reference.calibration.tolerances
        self.rules = tuple(replace(r, **tolerances.faults.get(r.id, {})) for r in rules)  # type: ignore[arg-type]
        """The hold's rules with relative thresholds widened to the reference's spread."""
        self._reference_values = {
            r.id: float(r.direction * self._held[feature_by_name(r.feature)]) if r.relative else math.nan
            for r in self.rules
        }
        self._parts = {part: [int(f) for f in BODY_PARTS[part]] for part in spec.body_parts}
        self._form_tol = tolerances.form_deg
        self.results: list[HoldResult] = []
        """Every counted hold, in order."""
        self.not_counted: list[RepDiscarded] = []
        """Every hold that began but was too short to count."""
        self.state: HoldState = "no_person"
        self._hold: _Hold | None = None
        self._rules: list[_Rule] = []
        self._last_ms = math.nan

    @property
    def holding(self) -> _Hold | None:
        """The hold under way, if any."""
        return self._hold

    def seconds_held(self, now_ms: float | None = None) -> float | None:
        """Seconds into the hold under way (None when none)."""
        hold = self._hold
        if hold is None or not hold.announced:
            return None
        now = self._last_ms if now_ms is None else now_ms
        return max(0.0, (now - hold.start_ms) / 1000)

    def in_position(
        self, features: np.ndarray | None, visibility: np.ndarray, vertical: BodyAxis | None = None
    ) -> tuple[bool, str]:
        """Whether a frame's posture is the hold's, and if not why ("" when it is, or nobody is there).
        ``vertical``: the person's body axis closest to the vertical (``scoring.view.vertical_axis``); it
        must be the reference's (a plank lies face down, a side plank on its side: the angles alone can
        read alike). None: not known, not checked."""
        if features is None:
            return False, ""
        if vertical is not None and vertical != self.reference.gravity:
            return False, f"lying {AXIS_WORDS[vertical]}, the hold lies {AXIS_WORDS[self.reference.gravity]}"
        posture = float(features[self._posture])
        tolerance = self.reference.spec.posture_tolerance_deg
        if not abs(posture - self._posture_value) <= tolerance:
            return False, f"{self.reference.spec.posture_feature.replace('_', ' ')} {posture:.0f} deg"
        for feature, lo, hi in self._bounds:
            seen, _ = visible_frames(visibility[None], feature)
            value = float(features[feature])
            if seen[0] and not lo <= value <= hi:
                return False, f"{feature.name.lower().replace('_', ' ')} {value:.0f} deg, outside {lo:.0f}-{hi:.0f}"
        return True, ""

    def add(
        self,
        index: int,
        timestamp_ms: float,
        features: np.ndarray | None,
        visibility: np.ndarray,
        view: CameraView | None = None,
        vertical: BodyAxis | None = None,
    ) -> list[CoachEvent]:
        """The next frame: its index in the stream, source timestamp, features (``(NUM_FEATURES,)``
        degrees, None without a person), joint confidences (``(17,)``, H36M order), camera view and the
        body axis closest to the vertical (``in_position``)."""
        if visibility.shape != (17,):
            raise ValueError(f"visibility must be (17,), got {visibility.shape}")
        self._last_ms = timestamp_ms
        inside, _ = self.in_position(features, visibility, vertical)
        out: list[CoachEvent] = []
        hold = self._hold
        if hold is not None and not inside:
            if not hold.announced:  # a flicker into position while getting down: nothing to tell
                self._hold = hold = None
            elif timestamp_ms - hold.last_in_ms > self.spec.grace_s * 1000:
                out.extend(self._close())
                hold = None
        if hold is None and inside:
            hold = self._hold = _Hold(timestamp_ms, index, timestamp_ms, index)
            self._rules = [self._rule_state(r) for r in self.rules]
        if hold is not None:
            self._track(hold, index, timestamp_ms, features, visibility, view, inside)
            if not hold.announced and hold.last_in_ms - hold.start_ms >= SETTLE_MS:
                hold.announced = True
                out.append(HoldStarted(len(self.results) + 1, hold.start_ms, self.spec.target_s))
            faults = self._faults(hold, timestamp_ms, features, visibility, view, inside)
            if hold.announced:
                out.extend(faults)
                seconds = int((hold.last_in_ms - hold.start_ms) // 1000)  # time in position, not the grace
                if seconds > hold.progress:
                    hold.progress = seconds
                    out.append(
                        HoldProgress(len(self.results) + 1, seconds, hold.start_ms, timestamp_ms, self.spec.target_s)
                    )
        if self._hold is not None and self._hold.announced:
            state = "holding"
        else:
            state = "no_person" if features is None else "out_of_position"
        if state != self.state:
            self.state = state
            out.append(PostureChanged(state, timestamp_ms, self._guidance(state)))  # type: ignore[arg-type]
        return out

    def finish(self) -> list[CoachEvent]:
        """End of the set: the hold under way ends at its last frame in position."""
        return self._close() if self._hold is not None else []

    def interrupt(self) -> list[CoachEvent]:
        """Another person is followed from now on: the hold under way ends where it is (counted when
        long enough), and the next one starts from that person's own posture."""
        out = self.finish()
        self.state = "no_person"
        return out

    # -- internals --------------------------------------------------------------------------------

    def _guidance(self, state: str) -> str:
        spec = self.reference.spec
        if state == "no_person":
            return "step into the frame: the camera must see your whole body"
        if state == "out_of_position":
            return f"get into the {spec.display_name} position ({spec.camera})"
        target = f" for {self.spec.target_s:.0f} s" if self.spec.target_s else ""
        return f"holding: keep the {spec.display_name}{target}"

    def _rule_state(self, rule: FaultRule) -> _Rule:
        return _Rule(rule, int(feature_by_name(rule.feature)), self._reference_values[rule.id])

    def _track(
        self,
        hold: _Hold,
        index: int,
        timestamp_ms: float,
        features: np.ndarray | None,
        visibility: np.ndarray,
        view: CameraView | None,
        inside: bool,
    ) -> None:
        if math.isfinite(hold.prev_ms) and hold.prev_in:
            hold.in_ms += timestamp_ms - hold.prev_ms
        hold.prev_ms, hold.prev_in = timestamp_ms, inside
        if inside and features is not None:
            hold.last_in_ms, hold.last_in_frame = timestamp_ms, index
            hold.deviations.append(np.abs(features - self._held))
            hold.views.append(view)

    def _bound(self, state: _Rule) -> float:
        """The directed value beyond which ``state``'s rule fires."""
        rule = state.rule
        bound = -math.inf if rule.limit is None else rule.limit
        if rule.relative:
            bound = max(bound, state.reference + rule.threshold) if math.isfinite(state.reference) else math.inf
        return bound

    def _faults(
        self,
        hold: _Hold,
        timestamp_ms: float,
        features: np.ndarray | None,
        visibility: np.ndarray,
        view: CameraView | None,
        inside: bool,
    ) -> list[CoachEvent]:
        out: list[CoachEvent] = []
        for state in self._rules:
            rule = state.rule
            usable = (
                inside
                and features is not None
                and (view is None or view in rule.views)
                and bool(visible_frames(visibility[None], Feature(state.column))[0][0])
                and math.isfinite(float(features[state.column]))
            )
            if not usable:
                state.window.clear()
            else:
                assert features is not None
                window = state.window
                window.append((timestamp_ms, rule.direction * float(features[state.column])))
                while len(window) > 1 and window[1][0] <= timestamp_ms - HOLD_MS:
                    window.popleft()
                if timestamp_ms - window[0][0] >= HOLD_MS:
                    state.judged += 1
                    held = min(v for _, v in window)
                    if held > self._bound(state):
                        episode = state.episode
                        if episode is None:
                            episode = state.episode = _Episode(window[0][0], timestamp_ms, held, rule.direction * held)
                        episode.last_ms = timestamp_ms
                        if held > episode.worst:
                            episode.worst, episode.angle = held, rule.direction * held
                        if not episode.confirmed and episode.last_ms - episode.start_ms >= EPISODE_MIN_MS:
                            episode.confirmed = True
                            fault = self._fault(state, episode, live=True)
                            out.append(HoldFault(len(self.results) + 1, fault, (timestamp_ms - hold.start_ms) / 1000,
                                                 timestamp_ms))  # fmt: skip
                        continue
            episode = state.episode
            if episode is not None and timestamp_ms - episode.last_ms >= EPISODE_MIN_MS:
                self._end_episode(state)
        return out

    @staticmethod
    def _end_episode(state: _Rule) -> None:
        if state.episode is not None and state.episode.confirmed:
            state.episodes.append(state.episode)
        state.episode = None

    def _fault(self, state: _Rule, episode: _Episode, live: bool = False) -> Fault:
        rule = state.rule
        reference = state.reference if rule.relative else float(rule.limit)  # type: ignore[arg-type]
        duration = (episode.last_ms - episode.start_ms) / 1000
        fields: dict[str, float | str] = {
            "value": episode.worst,
            "reference": reference,
            "delta": episode.worst - reference,
            "angle": episode.angle,
            "where": PHASE_WORDS["hold"],
            "phase": "hold",
            "start_s": episode.start_ms / 1000,
            "duration_s": duration,
        }
        message = rule.message.format(**fields)
        if not live:
            message += f" for {duration:.1f} s from {episode.start_ms / 1000:.1f} s"
        return Fault(
            id=rule.id,
            message=message,
            value=round(episode.worst, 2),
            reference=round(reference, 2),
            severity=rule.severity,
            body_parts=rule.body_parts,
            kind="offset",
            details={k: round(float(v), 2) if not isinstance(v, str) else v for k, v in fields.items()},
            phase="hold",
        )

    def _close(self) -> list[CoachEvent]:
        hold = self._hold
        assert hold is not None
        self._hold = None
        for state in self._rules:
            self._end_episode(state)
        if not hold.announced:
            return []
        duration_s = (hold.last_in_ms - hold.start_ms) / 1000
        if duration_s < self.spec.min_s:
            discarded = RepDiscarded(
                hold.start_ms,
                f"held {math.floor(duration_s * 10) / 10:.1f} s, under the {self.spec.min_s:g} s that count",
                hold.last_in_ms,
                None,
            )
            self.not_counted.append(discarded)
            return [discarded]
        result = self._score(hold, duration_s)
        self.results.append(result)
        return [HoldEnded(result)]

    def _score(self, hold: _Hold, duration_s: float) -> HoldResult:
        view = majority_view(hold.views)
        faults = [self._fault(s, e) for s in self._rules for e in s.episodes]
        faults.sort(key=lambda f: (f.severity != "safety", float(f.details["start_s"])))
        skipped: dict[str, str] = {}
        for state in self._rules:
            if state.judged or state.episodes:
                continue
            rule = state.rule
            if view is not None and view not in rule.views:
                skipped[rule.id] = f"not judged {VIEW_WORDS[view]}"
            else:
                groups = " and ".join(name for name, _ in FEATURE_JOINTS[Feature(state.column)])
                skipped[rule.id] = f"{groups} not seen for {HOLD_MS / 1000:.2f} s during the hold"
        spans = sorted((e.start_ms, e.last_ms) for s in self._rules for e in s.episodes)
        fault_ms, reach = 0.0, -math.inf
        for start, end in spans:  # the union of the episodes
            start = max(start, reach)
            if end > start:
                fault_ms += end - start
            reach = max(reach, end)
        deviations = np.array(hold.deviations) if hold.deviations else np.full((1, len(self._held)), np.nan)
        part_dev: dict[str, float] = {}
        part_scores: dict[str, float] = {}
        for part, columns in self._parts.items():
            with np.errstate(all="ignore"):
                dev = float(np.nanmean(deviations[:, columns]))
            part_dev[part] = round(dev, 2) if math.isfinite(dev) else float("nan")
            tol = self._form_tol.get(part, FORM_TOLERANCE_DEG)
            part_scores[part] = (
                round(100.0 * float(np.clip(1 - max(0.0, dev - tol) / FORM_SPAN_DEG, 0, 1)), 1)
                if math.isfinite(dev)
                else 0.0
            )
        form = float(np.mean(list(part_scores.values()))) if part_scores else 100.0
        total_ms = max(hold.last_in_ms - hold.start_ms, 1e-6)
        clean = 100.0 * max(0.0, 1.0 - fault_ms / total_ms)
        penalty = sum(FAULT_PENALTY[f.severity] for f in {f.id: f for f in faults}.values())
        score = max(0.0, min(100.0, FORM_WEIGHT * form + (1 - FORM_WEIGHT) * clean - penalty))
        return HoldResult(
            index=len(self.results) + 1,
            start_ms=hold.start_ms,
            end_ms=hold.last_in_ms,
            start_frame=hold.start_frame,
            end_frame=hold.last_in_frame,
            duration_s=round(duration_s, 3),
            held_share=round(min(1.0, hold.in_ms / total_ms), 3),
            target_s=self.spec.target_s,
            score=round(score, 1),
            part_scores=part_scores,
            part_deviation_deg=part_dev,
            fault_s=round(fault_ms / 1000, 3),
            faults=tuple(faults),
            checks_skipped=skipped,
            view=view,
        )


def summarize_holds(results: list[HoldResult], not_counted: int = 0) -> SetSummary:
    """The set summary of a hold exercise: holds, time under tension (total, longest), mean/best/worst
    score, the fault seen in most holds; ``reps`` is 0 and the trend is per hold."""
    stats = replace(set_statistics(results, not_counted), kind="hold", holds=len(results))
    if not results:
        return stats
    return replace(
        stats,
        hold_total_s=round(sum(r.duration_s for r in results), 2),
        hold_longest_s=round(max(r.duration_s for r in results), 2),
    )


# -- building a hold's reference ----------------------------------------------------------------------


def _bounds_ok(spec: ExerciseSpec, features: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """``(T,)`` frames whose features are finite and inside every ``HoldSpec`` bound (where seen)."""
    assert spec.hold is not None
    ok = np.isfinite(features).all(axis=1)
    for name, (lo, hi) in spec.hold.bounds.items():
        feature = feature_by_name(name)
        seen, _ = visible_frames(visibility, feature)
        with np.errstate(invalid="ignore"):
            ok &= ~seen | ((features[:, feature] >= lo) & (features[:, feature] <= hi))
    return ok


def longest_window(inside: np.ndarray, timestamps_ms: np.ndarray, grace_s: float) -> tuple[int, int] | None:
    """(first, last) frame of the longest run of ``inside`` frames, breaks shorter than ``grace_s``
    bridged, by duration; None when no frame is inside."""
    best: tuple[int, int] | None = None
    start = last = -1
    for i in np.flatnonzero(inside):
        if start >= 0 and timestamps_ms[i] - timestamps_ms[last] <= grace_s * 1000:
            last = int(i)
        else:
            start = last = int(i)
        if best is None or timestamps_ms[last] - timestamps_ms[start] > timestamps_ms[best[1]] - timestamps_ms[best[0]]:
            best = (start, last)
    return best


def build_hold_reference(spec: ExerciseSpec, track: PoseTrack) -> Reference:
    """Calibrate a hold exercise on a pose track of a good hold (a video, or the authored keyframes).

    1. The frames inside every ``HoldSpec`` bound; the posture gate's value is their median, and the
       frames within ``posture_tolerance_deg`` of it are in position.
    2. The longest in-position window (breaks under ``grace_s`` bridged) is the held posture: the
       calibration's one ``RepSpan`` (start, middle, end); ``top`` = ``bottom`` = the driving angle's
       median there; ``posture_value`` the gate's median there.
    3. Tolerances from the window's own spread: each body part's form tolerance is the 95th percentile
       of its deviation from the held posture plus ``FORM_MARGIN_DEG`` (at least ``FORM_TOLERANCE_DEG``),
       each relative rule's threshold is widened to the worst value held for ``HOLD_MS`` above the
       median plus ``FAULT_MARGIN_DEG``.
    4. The reference's own hold is run through ``HoldTracker``: it must count as one hold without a
       fault (an absolute bound the reference breaks is a bad reference, never a widened bound).

    ReferenceError when there is nobody, no window in position of ``min_s``, or the hold has faults."""
    hold_rules(spec)
    assert spec.hold is not None
    if track.frames == 0 or not track.detected.any():
        raise ReferenceError(f"{track.source}: no person was found, so no reference can be built")
    features = compute_features(track.poses_3d)
    ts = np.asarray(track.timestamps_ms, dtype=np.float64)
    visibility = np.where(track.detected[:, None], track.scores, 0.0)
    posture = features[:, feature_by_name(spec.posture_feature)]
    ok = _bounds_ok(spec, features, visibility)
    if not ok.any():
        bounds = ", ".join(f"{k} {lo:g}-{hi:g}" for k, (lo, hi) in spec.hold.bounds.items())
        raise ReferenceError(f"{track.source}: no frame is inside the hold's bounds ({bounds})")
    gate = float(np.median(posture[ok]))
    inside = ok & (np.abs(posture - gate) <= spec.posture_tolerance_deg)
    window = longest_window(inside, ts, spec.hold.grace_s)
    held_s = 0.0 if window is None else (ts[window[1]] - ts[window[0]]) / 1000
    if window is None or held_s < max(spec.hold.min_s, 1.0):
        raise ReferenceError(
            f"{track.source}: the longest hold in position lasts {held_s:.1f} s, under the {spec.hold.min_s:g} s "
            f"that count: film a longer hold of {spec.display_name}"
        )
    start, end = window
    frames = slice(start, end + 1)
    driver = features[frames, feature_by_name(spec.driver)]
    calibration = Calibration(
        top=float(np.nanmedian(driver)),
        bottom=float(np.nanmedian(driver)),
        posture_value=float(np.nanmedian(posture[frames])),
        reps=(RepSpan(start, (start + end) // 2, end),),
        template=0,
        source_video=Path(track.source).name,
        backend=track.backend,
        lifter=track.lifter,
        extra={"hold_s": round(held_s, 2)},
    )
    reference = Reference(spec, calibration, track.poses_3d.astype(np.float32), ts, features)
    reference = replace(reference, calibration=replace(calibration, tolerances=_tolerances(reference, visibility)))
    tracker = HoldTracker(reference)
    for i in range(start, end + 1):
        row = features[i] if track.detected[i] and np.isfinite(features[i]).all() else None
        tracker.add(i, float(ts[i]), row, visibility[i])
    tracker.finish()
    faults = [f for r in tracker.results for f in r.faults]
    if len(tracker.results) != 1 or faults:
        found = f"faults: {'; '.join(f.message for f in faults)}" if faults else f"{len(tracker.results)} holds"
        raise ReferenceError(f"{track.source}: the reference's own hold is not one clean hold ({found})")
    return reference


def _tolerances(reference: Reference, visibility: np.ndarray) -> Tolerances:
    spec = reference.spec
    span = reference.template
    frames = slice(span.start, span.end + 1)
    features = reference.features[frames]
    held = held_posture(reference)
    ts = reference.timestamps_ms[frames]
    form: dict[str, float] = {}
    with np.errstate(all="ignore"):
        for part in spec.body_parts:
            columns = [int(f) for f in BODY_PARTS[part]]
            per_frame = np.nanmean(np.abs(features[:, columns] - held[columns]), axis=1)
            spread = float(np.nanpercentile(per_frame, 95)) if np.isfinite(per_frame).any() else 0.0
            form[part] = round(max(FORM_TOLERANCE_DEG, spread + FORM_MARGIN_DEG), 2)
    faults: dict[str, dict[str, float]] = {}
    for rule in hold_rules(spec):
        if not rule.relative:
            continue
        feature = feature_by_name(rule.feature)
        signal = rule.direction * features[:, feature]
        valid, _ = visible_frames(visibility[frames], feature)
        worst = held_worst(signal, ts, np.ones(len(ts), dtype=bool), valid)
        if np.isfinite(worst):
            widened = max(rule.threshold, worst - float(rule.direction * held[feature]) + FAULT_MARGIN_DEG)
            if widened != rule.threshold:
                faults[rule.id] = {"threshold": round(widened, 2)}
    return Tolerances(form_deg=form, faults=faults)

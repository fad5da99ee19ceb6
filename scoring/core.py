"""The scoring core: ``add(pose3d) -> [CoachEvent]``, the same for live frames and whole videos.

Pure and synchronous: no threads, no asyncio, no clock. Live mode calls ``add`` as 3D poses come out
of the lifter; batch mode (``analyze_track``) calls it in a loop over a clip, so both give the same
reps and scores on the same poses.

Per frame: features (about 40 us) -> the rep segmenter -> while a rep runs, one online-DTW row against
the reference's template rep. When the rep ends, the alignment is closed and the rep scored.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lifting.joints import H36M
from lifting.track import PoseTrack
from lifting.types import Pose3D
from scoring import dtw
from scoring.dtw import OnlineDTW
from scoring.features import (
    BODY_PARTS,
    IMAGE_ANGLES,
    NUM_EXTRA_FEATURES,
    compute_extra_features,
    compute_features,
    feature_by_name,
    image_angle,
)
from scoring.hold import HoldTracker, summarize_holds
from scoring.phases import HOLD_MS
from scoring.reference import Reference
from scoring.reps import RepSegmenter, SegmentEvent
from scoring.score import RepScorer, hold_fill, summarize
from scoring.types import (
    CoachEvent,
    ExerciseMismatch,
    HoldResult,
    PersonChanged,
    PostureChanged,
    RepDiscarded,
    RepResult,
    RepScored,
    RepStarted,
    SetFinished,
    SetSummary,
)
from scoring.view import VIEW_WORDS, CameraView, classify, majority_view, vertical_axis
from scoring.view import warm_up as warm_up_view


def warm_up() -> None:
    """Compile (or load from Numba's cache) every kernel the core uses: call once at start-up."""
    compute_features(np.zeros((1, 17, 3)))
    dtw.warm_up()
    warm_up_view()


_SEEN = np.ones(len(H36M), dtype=np.float32)  # a pose without confidences: every joint counts as seen
_UNSEEN = np.zeros(len(H36M), dtype=np.float32)
_NO_EXTRA = np.full(NUM_EXTRA_FEATURES, np.nan)


@dataclass(frozen=True)
class _Frame:
    index: int
    timestamp_ms: float
    features: np.ndarray | None  # (NUM_FEATURES,) or None before anybody was seen
    visibility: np.ndarray  # (17,) joint confidence; 0 where the frame's features are held from an earlier one
    view: CameraView | None  # where the camera saw this frame from (None without a person)
    extra: np.ndarray  # (NUM_EXTRA_FEATURES,) of the feet and hands; NaN where not known
    image_driver: float  # the driving angle read in the picture (``image_angle``); NaN where it cannot be


@dataclass
class _Watcher:
    """Another exercise's rep counter, run beside the chosen one to recognise a mix-up."""

    reference: Reference
    segmenter: RepSegmenter
    driver: int
    posture: int
    reps: int = 0
    distances: list[float] = field(default_factory=list)
    """Per rep it counted, how far the person's rep was from its reference's template rep
    (``rep_distance``)."""

    @functools.cached_property
    def columns(self) -> list[int]:
        """The other exercise's scored angles."""
        return sorted({int(f) for part in self.reference.spec.body_parts for f in BODY_PARTS[part]})

    @functools.cached_property
    def template(self) -> np.ndarray:
        """The other reference's template rep in its scored angles."""
        return np.ascontiguousarray(hold_fill(self.reference.template_features())[:, self.columns])

    @functools.cached_property
    def template_ranges(self) -> np.ndarray:
        """How far each of the other exercise's scored angles travels in its template rep, degrees."""
        return np.ptp(self.template, axis=0)

    def count(self, events: list[SegmentEvent], rep_features: Callable[[int, int], np.ndarray | None]) -> None:
        """Count the reps deep enough, each with how far it was from the reference's template rep: the mean
        angle difference along their DTW alignment, over the other exercise's scored angles."""
        for e in events:
            if e.kind == "end" and e.peak_progress >= MISMATCH_DEPTH:
                self.reps += 1
                rows = rep_features(e.start_frame, e.frame)
                if rows is not None:
                    rep = rows[:, self.columns]
                    path = dtw.dtw(rep, self.template).path
                    shape = float(np.mean(np.abs(rep[path[:, 0]] - self.template[path[:, 1]])))
                    moving = self.template_ranges >= MOVING_DEG  # how far each of its moving angles travels
                    ranges = float(np.mean(np.abs(np.ptp(rep[:, moving], axis=0) - self.template_ranges[moving])))
                    self.distances.append(shape + ranges)

    def rep_distance(self) -> float:
        """The median distance of its reps from the reference's template (inf when none is known)."""
        return float(np.median(self.distances)) if self.distances else math.inf


MISMATCH_REPS = 2
"""Reps another exercise must count, while the chosen one counts none, before the user is told (two,
so one stray movement that happens to fit is not enough)."""

MISMATCH_DEPTH = 0.7
"""...each at least this deep in that exercise's reference units: a knee bend while walking up to a
wall (measured: 0.62 in a wall push-up clip) is no squat; real squats of other people reached 0.91-1.04."""


MOVING_DEG = 10.0
"""An angle that travels at least this far in a template rep moves in that exercise."""

MISMATCH_FORM_DEG = 55.0
"""...and those reps within this distance of that exercise's template rep: the mean angle difference
along their DTW alignment plus the mean difference in how far each moving angle travels (over that
exercise's scored angles; a deadlift's knees travel 50 deg, a squat's 85, so a squat is no deadlift
though its angles pass through a deadlift's). Measured on real clips of other people analysed as the
wrong exercise: each clip's own exercise sat 3.7-51 deg from its template (51: an alternating curl
against the both-arms template; 24-32 the squats), the closest wrong one 5-25 deg further on all but one
front-view squat (a deadlift 25 deg, the squat 32); a wall push-up sat 61 deg from the curl, whose
counter counts its elbows (measured on the accuracy set's pose tracks, analysed as push-up or squat; the
set's mix-ups are then recognised 5 of 5, ``benchmarks/RESULTS.md``)."""


def _article(name: str) -> str:
    word = name.lower()
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


class ScoringCore:
    """Counts and scores the reps of one set against one reference.

    ``alternatives``: the other exercises; their rep counters run beside (a few microseconds a frame)
    so that a set that counts nothing but clearly is another exercise says so (``ExerciseMismatch``)
    instead of a silent "0 reps".

    A hold exercise (``spec.kind == "hold"``) is followed by a ``scoring.hold.HoldTracker`` instead of
    the rep segmenter and DTW: the same features, views and person changes, hold events out; no other
    exercise is watched (a hold has no reps to mix up), and hold references are never watchers.
    """

    def __init__(
        self, reference: Reference, max_rep_frames: int = 2400, alternatives: Sequence[Reference] = ()
    ) -> None:
        self.reference = reference
        self.hold = HoldTracker(reference) if reference.spec.kind == "hold" else None
        """The hold tracker of a hold exercise (None for reps)."""
        if self.hold is None:
            self.scorer = RepScorer(reference)
            self.segmenter = RepSegmenter(reference.segmenter_options())
            self._dtw = OnlineDTW(self.scorer.template, capacity=512)
        self._driver = int(feature_by_name(reference.spec.driver))
        self._posture = int(feature_by_name(reference.spec.posture_feature))
        driver = feature_by_name(reference.spec.driver)
        self._image_driver = driver if driver in IMAGE_ANGLES else None
        """The driving angle, when it can also be read in the picture (a second depth signal from the side)."""
        self._recent: deque[_Frame] = deque(maxlen=max_rep_frames)
        cal = reference.calibration
        self._straighter = 1.0 if cal.top > cal.bottom else -1.0  # +1: the driving angle grows as the limb straightens
        self._own_top = math.nan
        """The person's own lockout: the straightest driving angle held for ``HOLD_MS`` while in position
        (ready or in a rep) since the set began; a rep that comes back up well short of it is told."""
        self._top_window: deque[tuple[float, float]] = deque()  # (timestamp, straightness) of the last HOLD_MS
        self._frame = 0
        self._last_features: np.ndarray | None = None
        self._rep_start = -1
        self.results: list[RepResult] = []
        """Every rep scored so far, in order."""
        self.alignments: list[np.ndarray] = []
        """Per scored rep, the ``(P, 2)`` int64 path (frame in the rep, frame in the template rep) it was
        measured along (``RepScorer.final_alignment``): what the report's reference curve follows."""
        self.not_counted: list[RepDiscarded] = self.hold.not_counted if self.hold is not None else []
        """Every movement that started like a rep (or a hold) but did not count, in order."""
        self._gravity = reference.gravity
        self._has_extras = False  # whether the pose pipeline gives the feet and hands at all
        self.view_counts: Counter[CameraView] = Counter()
        """Frames with a person, by camera view."""
        self.mismatch: ExerciseMismatch | None = None
        self.person: int | None = None
        """The id of the person whose poses arrive (``Pose3D.person``)."""
        self.person_changes: list[PersonChanged] = []
        """Every change of person in the middle of the set."""
        """Set once the movement was recognised as another exercise."""
        self._watchers = [
            _Watcher(
                other,
                RepSegmenter(other.segmenter_options()),
                int(feature_by_name(other.spec.driver)),
                int(feature_by_name(other.spec.posture_feature)),
            )
            for other in alternatives
            if other.spec.name != reference.spec.name and other.spec.kind == "reps" and self.hold is None
        ]

    def add(self, pose: Pose3D) -> list[CoachEvent]:
        """The next frame's 3D pose (frames in order; undetected frames too)."""
        index = self._frame
        self._frame += 1
        changed: list[CoachEvent] = []
        if pose.detected and pose.person != self.person:
            if self.person is not None:
                changed = self._person_changed(index, pose)
            self.person = pose.person
        features = compute_features(pose.joints[None])[0] if pose.detected else None
        if features is not None and np.isfinite(features).all():
            self._last_features = features
        else:
            features = None
        held = features if features is not None else self._last_features
        visibility = _UNSEEN if features is None else (pose.scores if pose.scores is not None else _SEEN)
        view = classify(pose.joints, self._gravity) if features is not None else None
        if view is not None:
            self.view_counts[view] += 1
        extra = _NO_EXTRA
        if features is not None and pose.extras_2d is not None:
            self._has_extras = True
            scores = pose.extra_scores[None] if pose.extra_scores is not None else None
            skeleton = pose.keypoints_2d[None] if pose.keypoints_2d is not None else None
            joint_scores = pose.scores[None] if pose.scores is not None and skeleton is not None else None
            extra = compute_extra_features(pose.extras_2d[None], scores, skeleton, joint_scores)[0]
        image_driver = math.nan
        if features is not None and pose.keypoints_2d is not None and self._image_driver is not None:
            image_driver = image_angle(pose.keypoints_2d, pose.scores, self._image_driver)
        if self.hold is not None:
            vertical = vertical_axis(pose.joints) if features is not None else None
            return changed + self.hold.add(index, pose.timestamp_ms, features, visibility, view, vertical)
        self._recent.append(_Frame(index, pose.timestamp_ms, held, visibility, view, extra, image_driver))
        if self._rep_start >= 0 and held is not None:
            self._dtw.add(held[self.scorer.columns])
        driver = float(features[self._driver]) if features is not None else None
        posture = float(features[self._posture]) if features is not None else None
        self._follow_own_top(pose.timestamp_ms, driver)
        out: list[CoachEvent] = changed
        for event in self.segmenter.add(index, pose.timestamp_ms, driver, posture):
            out.extend(self._handle(event, pose.timestamp_ms))
        for watcher in self._watchers:
            other_driver = float(features[watcher.driver]) if features is not None else None
            other_posture = float(features[watcher.posture]) if features is not None else None
            watcher.count(watcher.segmenter.add(index, pose.timestamp_ms, other_driver, other_posture), self._rep_rows)
        out.extend(self._check_mismatch(MISMATCH_REPS, pose.timestamp_ms))
        return out

    def _follow_own_top(self, timestamp_ms: float, driver: float | None) -> None:
        """Update the person's own lockout with this frame (in position, as the segmenter saw the frames
        so far): the straightest value the driving angle stayed at for ``HOLD_MS`` in a row."""
        window = self._top_window
        if driver is None or self.segmenter.state not in ("ready", "in_rep"):
            window.clear()
            return
        window.append((timestamp_ms, self._straighter * driver))
        while len(window) > 1 and window[1][0] <= timestamp_ms - HOLD_MS:
            window.popleft()
        if timestamp_ms - window[0][0] >= HOLD_MS:
            held = self._straighter * min(value for _, value in window)
            if not self._straighter * held <= self._straighter * self._own_top:  # also when NaN so far
                self._own_top = held

    def _lockout(self, event: SegmentEvent) -> tuple[float, float] | None:
        """(the straightest the driving angle came back to after the turning point, up to the rep's top
        frame; the person's own lockout), or None when either is unknown."""
        values = [
            self._straighter * float(f.features[self._driver])
            for f in self._frames_since(event.start_frame)
            if event.bottom_frame < f.index <= max(event.top_frame, event.frame) and f.features is not None
        ]
        if not values or not math.isfinite(self._own_top):
            return None
        return self._straighter * max(values), self._own_top

    def _person_changed(self, index: int, pose: Pose3D) -> list[CoachEvent]:
        """Another person is followed from this frame on: a rep under way is given up, the counter starts
        afresh on the new person; reported when it happens mid-set."""
        out: list[CoachEvent] = []
        if self.hold is not None:
            out.extend(self.hold.interrupt())
            if self.hold.results or out:
                change = PersonChanged(
                    pose.person,
                    pose.timestamp_ms,
                    f"now following another person from {pose.timestamp_ms / 1000:.1f} s: the one exercising",
                )
                self.person_changes.append(change)
                out.append(change)
            return out
        mid_rep = self.segmenter.state == "in_rep"
        if mid_rep:
            reason = "the coach moved to another person during the rep: not scored"
            start = self._rep_start if self._rep_start >= 0 else index
            out.extend(self._handle(SegmentEvent("discard", index, start_frame=start, state=reason), pose.timestamp_ms))
        self.segmenter.reset()
        for watcher in self._watchers:
            watcher.segmenter.reset()
        self._own_top = math.nan  # another body, another lockout
        self._top_window.clear()
        self._rep_start = -1
        if mid_rep or self.results:
            change = PersonChanged(
                pose.person,
                pose.timestamp_ms,
                f"now following another person from {pose.timestamp_ms / 1000:.1f} s: the one exercising",
            )
            self.person_changes.append(change)
            out.append(change)
        return out

    def unsupported_view(self) -> str | None:
        """A warning when most frames with a person came from a view the exercise is not coached from."""
        if not self.view_counts:
            return None
        view, count = self.view_counts.most_common(1)[0]
        spec = self.reference.spec
        if view in spec.views or count * 2 <= sum(self.view_counts.values()):
            return None
        words = [VIEW_WORDS[v] for v in spec.views]
        supported = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
        return f"the camera saw you {VIEW_WORDS[view]}: {spec.display_name} is coached {supported}"

    def _check_mismatch(self, reps_needed: int, timestamp_ms: float, final: bool = False) -> list[CoachEvent]:
        """Another exercise counted ``reps_needed`` reps while the chosen one counted none: say so, once.

        Several other exercises may count the same movement (a squat is counted by the lunge's and the
        deadlift's counters too; a wall push-up bends the elbows like a curl): the one whose reps looked
        most like its template rep is named (``_Watcher.rep_distance``), only when they looked like it
        at all (``MISMATCH_FORM_DEG``), and, before the set ends (``final``), only while no exercise
        that counted fewer reps so far looked more like it."""
        if self.mismatch is not None or self.results or not self._watchers:
            return []
        counted = [w for w in self._watchers if w.reps >= reps_needed]
        if not counted:
            return []
        best = min(counted, key=lambda w: w.rep_distance())
        if best.rep_distance() > MISMATCH_FORM_DEG:
            return []
        if not final and any(w.rep_distance() < best.rep_distance() for w in self._watchers):
            return []  # another one looks closer: wait for its reps
        own, other = self.reference.spec.display_name, best.reference.spec.display_name
        self.mismatch = ExerciseMismatch(
            exercise=self.reference.spec.name,
            looks_like=best.reference.spec.name,
            message=f"this looks like {_article(other)}, not {_article(own)}: pick {other} to count it",
            timestamp_ms=timestamp_ms,
        )
        return [self.mismatch]

    def finish(self) -> list[CoachEvent]:
        """End of the set. A rep already on its way back to the start posture is complete and is
        scored; one still before its turning point is not counted. The last event is
        ``SetFinished`` with the summary. The core is then ready for a new set."""
        out: list[CoachEvent] = []
        if self.hold is not None:
            out.extend(self.hold.finish())
            out.append(SetFinished(self.summary()))
            return out
        last_ms = self._recent[-1].timestamp_ms if self._recent else 0.0
        for event in self.segmenter.flush():
            out.extend(self._handle(event, last_ms))
        for watcher in self._watchers:
            watcher.count(watcher.segmenter.flush(), self._rep_rows)
        out.extend(self._check_mismatch(MISMATCH_REPS, last_ms, final=True))
        self._rep_start = -1
        looks_like = self.mismatch.looks_like if self.mismatch is not None else None
        out.append(SetFinished(summarize(self.results, len(self.not_counted), looks_like)))
        return out

    @property
    def holds(self) -> list[HoldResult]:
        """Every hold counted so far (a hold exercise; empty for reps)."""
        return self.hold.results if self.hold is not None else []

    @property
    def counted(self) -> int:
        """Reps or holds counted so far."""
        return len(self.hold.results) if self.hold is not None else len(self.results)

    def summary(self) -> SetSummary:
        """The set so far at a glance (``summarize``, or ``summarize_holds`` for a hold)."""
        if self.hold is not None:
            return summarize_holds(self.hold.results, len(self.hold.not_counted))
        looks_like = self.mismatch.looks_like if self.mismatch is not None else None
        return summarize(self.results, len(self.not_counted), looks_like)

    def _rep_rows(self, start: int, end: int) -> np.ndarray | None:
        """The features of frames ``start`` to ``end`` (gaps held), if they are still among the recent
        frames and somebody was seen (None otherwise)."""
        if not self._recent or start < self._recent[0].index or end > self._recent[-1].index or end < start:
            return None
        rows = [f.features for f in self._frames_since(start)[: end - start + 1]]
        if any(r is None for r in rows):
            return None
        return hold_fill(np.stack(rows))  # type: ignore[arg-type]

    def _frames_since(self, start: int) -> list[_Frame]:
        first = self._recent[0].index
        return list(self._recent)[max(0, start - first) :]

    def _handle(self, event: SegmentEvent, timestamp_ms: float) -> list[CoachEvent]:
        if event.kind == "start":
            self._rep_start = event.start_frame
            self._dtw.reset()
            frames = self._frames_since(event.start_frame)
            for frame in frames:
                if frame.features is not None:
                    self._dtw.add(frame.features[self.scorer.columns])
            return [RepStarted(len(self.results) + 1, frames[0].timestamp_ms)]
        if event.kind == "end":
            # The rep ended at event.frame; the frames after it (seen while waiting for the top) are not part of it.
            rows = [f for f in self._frames_since(event.start_frame) if f.index <= event.frame]
            self._rep_start = -1
            features = np.stack([f.features for f in rows])  # type: ignore[misc]
            cut_at = joined_at = None
            if event.state == "cut":  # the set ended before the rep came back: aligned with the template so far
                alignment, cut_at = self.scorer.cut_alignment(features)
            elif event.state == "joined":  # the recording began mid-rep: aligned with the rest of the template
                alignment, joined_at = self.scorer.joined_alignment(features)
            else:
                alignment = self._dtw.finish(len(rows))
            result = self.scorer.score(
                index=len(self.results) + 1,
                features=features,
                timestamps_ms=np.array([f.timestamp_ms for f in rows]),
                frames=np.array([f.index for f in rows]),
                turn=next(i for i, f in enumerate(rows) if f.index >= event.bottom_frame),
                alignment=alignment,
                visibility=np.stack([f.visibility for f in rows]),
                view=majority_view([f.view for f in rows]),
                extra_features=np.stack([f.extra for f in rows]) if self._has_extras else None,
                image_driver=np.array([f.image_driver for f in rows]),
                lockout=self._lockout(event) if cut_at is None else None,
                cut_at=cut_at,
                joined_at=joined_at,
            )
            self.results.append(result)
            self.alignments.append(self.scorer.final_alignment(features, alignment, cut_at, joined_at).path)
            return [RepScored(result)]
        if event.kind == "discard":
            start_ms = self._frames_since(event.start_frame)[0].timestamp_ms if event.start_frame >= 0 else timestamp_ms
            self._rep_start = -1
            depth = round(100.0 * event.peak_progress, 1) if math.isfinite(event.peak_progress) else None
            discarded = RepDiscarded(start_ms, event.state, timestamp_ms, depth)
            if event.state:  # a flicker (no reason) closes the rep started, and is not reported
                self.not_counted.append(discarded)
            return [discarded]
        return [PostureChanged(event.state, timestamp_ms, self._guidance(event.state))]  # type: ignore[arg-type]

    def _guidance(self, state: str) -> str:
        spec = self.reference.spec
        if state == "no_person":
            return "step into the frame: the camera must see your whole body"
        if state == "out_of_position":
            return f"get into the {spec.display_name} start position ({spec.camera})"
        return f"ready: start your {spec.display_name} reps"


@dataclass(frozen=True)
class Analysis:
    """A whole clip scored: what ``coach analyze`` reports."""

    exercise: str
    """Exercise name."""
    reps: list[RepResult]
    """Counted reps in order."""
    summary: SetSummary
    """The set summary."""
    events: list[CoachEvent]
    """Everything the core emitted, in order."""
    not_counted: list[RepDiscarded]
    """Movements that did not count, with their reasons."""
    mismatch: ExerciseMismatch | None
    """The other exercise the movement looked like, when the chosen one counted nothing."""
    warnings: list[str]
    """What the user should know about the recording: a mix-up of exercises, an unsupported view."""
    holds: list[HoldResult] = field(default_factory=list)
    """Counted holds in order (a hold exercise)."""
    alignments: list[np.ndarray] = field(default_factory=list)
    """Per counted rep, the DTW path it was scored along (``ScoringCore.alignments``)."""


def analyze_poses(reference: Reference, poses: list[Pose3D], alternatives: Sequence[Reference] = ()) -> Analysis:
    """Batch mode over 3D poses: the same ``ScoringCore.add`` loop as live mode."""
    core = ScoringCore(reference, alternatives=alternatives)
    events: list[CoachEvent] = []
    for pose in poses:
        events.extend(core.add(pose))
    events.extend(core.finish())
    assert isinstance(events[-1], SetFinished)
    warnings = [core.mismatch.message] if core.mismatch is not None else []
    warnings += [change.message for change in core.person_changes]
    view = core.unsupported_view()
    if view is not None and core.mismatch is None:
        warnings.append(view)
    return Analysis(
        reference.spec.name,
        list(core.results),
        events[-1].summary,
        events,
        list(core.not_counted),
        core.mismatch,
        warnings,
        list(core.holds),
        list(core.alignments),
    )


def analyze_track(reference: Reference, track: PoseTrack, alternatives: Sequence[Reference] = ()) -> Analysis:
    """Batch mode over a pose track (from ``coach poses`` or ``PosePipeline``)."""
    extras, extra_scores, extras_2d = track.extras_3d, track.extra_scores, track.extras_2d
    poses = [
        Pose3D(
            track.poses_3d[i],
            float(track.timestamps_ms[i]),
            track.lifter,
            bool(track.detected[i]),
            track.scores[i],
            extras[i] if extras is not None and bool(track.detected[i]) else None,
            extra_scores[i] if extra_scores is not None and bool(track.detected[i]) else None,
            person=int(track.person[i]) if track.person is not None else 0,
            keypoints_2d=track.keypoints_2d[i] if bool(track.detected[i]) else None,
            extras_2d=extras_2d[i] if extras_2d is not None and bool(track.detected[i]) else None,
        )
        for i in range(track.frames)
    ]
    return analyze_poses(reference, poses, alternatives)

"""Frozen messages the scoring core emits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["offset", "rom", "tempo", "symmetry", "lag", "lockout"]

FAULT_UNITS: dict[str, str] = {
    "offset": "deg",
    "rom": "%",
    "tempo": "s",
    "symmetry": "deg",
    "lag": "s",
    "lockout": "deg",
}
"""Unit of a fault's ``value`` by rule kind."""


@dataclass(frozen=True)
class Fault:
    """Something that went wrong in a rep, with the measured value that shows it."""

    id: str
    """Rule id from the exercise (e.g. ``hips_sag``)."""
    message: str
    """Human sentence naming the measured value, e.g. "hips sag 17 deg below the shoulder-ankle line"."""
    value: float
    """The measured value (unit as in the message)."""
    reference: float
    """The reference's value of the same measure."""
    severity: Literal["safety", "form"]
    """Safety faults come first when coaching."""
    body_parts: tuple[str, ...]
    """Body parts concerned."""
    kind: FaultKind = "offset"
    """What the rule measures; gives the unit of ``value`` (see ``FAULT_UNITS``)."""
    details: dict[str, float | str] = field(default_factory=dict)
    """Every field the rule's message was formatted with (``value``, ``reference``, ``delta``, and
    ``side``/``other``/``lag`` for left-right rules), numbers rounded to 2 decimals. Where the fault was
    measured, when known: ``phase_start_ms``/``phase_end_ms`` (source timestamps) of the phase a rep's
    offset rule fired in; ``start_s``/``duration_s`` of a hold's fault episode."""
    phase: str | None = None
    """Where in the rep it was measured (``descent``, ``bottom``, ``ascent``, ``top``, ``rep``; see
    ``scoring.phases``); None for rules over the whole rep's shape (depth, tempo, symmetry, lag)."""


@dataclass(frozen=True)
class RepResult:
    """One counted and scored repetition."""

    index: int
    """1-based number of the rep in the set."""
    start_ms: float
    """Source timestamp of the rep's first frame (start posture)."""
    bottom_ms: float
    """Source timestamp of the turning point."""
    end_ms: float
    """Source timestamp of the rep's last frame (back at the start posture)."""
    start_frame: int
    """Index of the first frame in the stream."""
    bottom_frame: int
    """Index of the turning-point frame."""
    end_frame: int
    """Index of the last frame."""
    score: float
    """Overall score 0-100."""
    part_scores: dict[str, float]
    """Score 0-100 per body part, from the deviation of its angles from the aligned reference."""
    part_deviation_deg: dict[str, float]
    """Mean absolute angle deviation per body part along the alignment, degrees."""
    rom_pct: float
    """Range of motion of the driving angle as a percentage of the reference's."""
    duration_s: float
    """Rep duration, seconds."""
    tempo_ratio: float
    """Duration divided by the reference rep's duration."""
    down_s: float
    """Time from start to turning point, seconds."""
    up_s: float
    """Time from turning point to end, seconds."""
    symmetry_deg: float
    """Mean left/right difference of the paired angles beyond the reference's own, degrees (0 = as symmetric)."""
    stability: float
    """0-100: how steady the non-moving angles stayed compared with the reference (100 = as steady)."""
    faults: tuple[Fault, ...] = field(default=())
    """Named faults, safety first."""
    checks_skipped: dict[str, str] = field(default_factory=dict)
    """Fault rules that could not be judged on this rep, by id, with the reason (e.g. the ankles were
    not visible, or the view does not show it): no fault is claimed, and none is denied."""
    view: str | None = None
    """Where the camera saw the rep from (side, oblique, front, back, overhead; ``scoring.view``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class HoldResult:
    """One counted hold of a hold exercise (a plank), scored (``scoring.hold``)."""

    index: int
    """1-based number of the hold in the set."""
    start_ms: float
    """Source timestamp of the hold's first frame in position."""
    end_ms: float
    """Source timestamp of its last frame in position."""
    start_frame: int
    """Index of the first frame in the stream."""
    end_frame: int
    """Index of the last frame."""
    duration_s: float
    """Time under tension, seconds: first to last frame in position (breaks shorter than the exercise's
    ``grace_s`` bridged)."""
    held_share: float
    """Share of that time actually seen in position (0-1; the rest: bridged breaks, missed frames)."""
    target_s: float | None
    """The time the exercise asks for (None: no target)."""
    score: float
    """Overall score 0-100 (``scoring.hold``: posture against the reference's held posture, time free of
    fault episodes, a penalty per fault)."""
    part_scores: dict[str, float]
    """Score 0-100 per body part, from the deviation of its angles from the reference's held posture."""
    part_deviation_deg: dict[str, float]
    """Mean absolute angle deviation per body part from the reference's held posture, degrees."""
    fault_s: float
    """Time inside fault episodes (any rule), seconds."""
    faults: tuple[Fault, ...] = field(default=())
    """One fault per episode, safety first then by time: ``details`` has ``start_s`` (source time, s) and
    ``duration_s``; ``value`` is the worst value held for ``HOLD_MS`` in the episode."""
    checks_skipped: dict[str, str] = field(default_factory=dict)
    """Fault rules that could not be judged in this hold, by id, with the reason."""
    view: str | None = None
    """Where the camera saw the hold from (``scoring.view``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class SetSummary:
    """The set at a glance."""

    reps: int
    """Number of counted reps."""
    mean_score: float | None
    """Mean rep score (None without reps)."""
    best_score: float | None
    """Best rep score."""
    worst_score: float | None
    """Worst rep score."""
    trend: Literal["improving", "steady", "declining", "n/a"]
    """Direction of the score over the set (least-squares slope beyond +-1 point per rep)."""
    trend_per_rep: float
    """Slope of score against rep number, points per rep."""
    most_frequent_fault: str | None
    """Id of the fault seen in most reps (None if none); equally frequent faults: the more severe one."""
    most_frequent_fault_count: int
    """In how many reps it was seen."""
    fault_counts: dict[str, int]
    """Reps per fault id."""
    not_counted: int = 0
    """Movements that started like a rep but did not count (each reported with its reason)."""
    looks_like: str | None = None
    """Another exercise the set's movement matched, when the chosen one counted nothing."""
    kind: Literal["reps", "hold"] = "reps"
    """What the set counted: reps, or holds (then ``reps`` is 0 and the scores and faults are the holds')."""
    holds: int = 0
    """Counted holds (a hold exercise)."""
    hold_total_s: float = 0.0
    """Time under tension over the counted holds, seconds."""
    hold_longest_s: float = 0.0
    """The longest counted hold, seconds."""
    most_frequent_fault_severity: str | None = None
    """The severity of ``most_frequent_fault`` (``safety`` or ``form``; None without a fault)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class RepStarted:
    """A rep began: the person left the start posture towards the turning point."""

    index: int
    """Number the rep will get if it completes."""
    start_ms: float
    """Timestamp of its first frame."""


@dataclass(frozen=True)
class RepScored:
    """A rep ended and was scored."""

    result: RepResult
    """The per-rep result."""


@dataclass(frozen=True)
class RepDiscarded:
    """A movement that looked like a rep's start but did not count: every one is reported."""

    start_ms: float
    """Timestamp where it began."""
    reason: str
    """Why it was not counted, with the measured value and what to do (e.g. "too shallow: depth 48%
    of the reference's, go lower")."""
    end_ms: float | None = None
    """Timestamp where it was given up (None when unknown)."""
    depth_pct: float | None = None
    """How deep it went, percent of the reference's range (None when unknown)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ExerciseMismatch:
    """The movement looks like another exercise than the one chosen (that one counts reps, this does not)."""

    exercise: str
    """The exercise chosen."""
    looks_like: str
    """The exercise the movement matches."""
    message: str
    """What to tell the user, e.g. "this looks like a squat, not a push-up: pick Squat to count it"."""
    timestamp_ms: float
    """When it became clear."""


@dataclass(frozen=True)
class PersonChanged:
    """The coach moved to another person in the middle of a set (``lifting.people``): what that person
    does is counted from their own start posture, never scored together with the first one's."""

    person: int
    """The id of the person followed from now on."""
    timestamp_ms: float
    """When."""
    message: str
    """What to tell the user."""


PostureState = Literal["no_person", "out_of_position", "ready", "in_rep", "holding"]


@dataclass(frozen=True)
class PostureChanged:
    """The person's state relative to the exercise changed."""

    state: PostureState
    """New state."""
    timestamp_ms: float
    """When."""
    message: str
    """Guidance for the user (e.g. "get into the start position: side view, body horizontal")."""


@dataclass(frozen=True)
class SetFinished:
    """The set ended (end of the video, or the user stopped)."""

    summary: SetSummary
    """The set summary."""


@dataclass(frozen=True)
class HoldStarted:
    """A hold began: the person has been in position for ``scoring.hold.SETTLE_MS``."""

    index: int
    """Number the hold will get if it lasts ``min_s``."""
    start_ms: float
    """Timestamp of its first frame in position."""
    target_s: float | None = None
    """The time the exercise asks for (None: no target)."""


@dataclass(frozen=True)
class HoldProgress:
    """A hold goes on: at most once a second of it (a timer for the page, progress tips)."""

    index: int
    """Number of the hold."""
    seconds: int
    """Whole seconds held so far."""
    start_ms: float
    """When the hold began."""
    timestamp_ms: float
    """Now (source time)."""
    target_s: float | None = None
    """The time the exercise asks for (None: no target)."""


@dataclass(frozen=True)
class HoldFault:
    """A fault episode began in the hold under way (held ``scoring.hold.EPISODE_MIN_MS``): said while it
    happens, so a tip can go out; the whole episode is in the hold's result."""

    index: int
    """Number of the hold."""
    fault: Fault
    """The fault so far (``details``: ``start_s``, ``duration_s`` so far)."""
    seconds: float
    """Seconds held when it was found."""
    timestamp_ms: float
    """When it was found (source time)."""


@dataclass(frozen=True)
class HoldEnded:
    """A hold ended (out of position longer than the grace time, or the set ended) and counted."""

    result: HoldResult
    """The hold, scored."""


CoachEvent = (
    RepStarted | RepScored | RepDiscarded | ExerciseMismatch | PersonChanged | PostureChanged | SetFinished
    | HoldStarted | HoldProgress | HoldFault | HoldEnded
)  # fmt: skip
"""Everything ``ScoringCore.add`` can emit."""

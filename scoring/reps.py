"""Online rep segmentation driven by the reference: ``add(frame) -> [SegmentEvent]``.

A rep runs from the reference's start posture, through its turning point, and back. Progress of
the driving angle is measured in reference units, p = (value - top) / (bottom - top): 0 at the
reference's start posture, 1 at its turning point, whichever way the angle moves. A rep:

1. may start only from the start posture (p < ``enter``) with the posture gate open (the torso's
   inclination within tolerance of the reference's: lying for a push-up, upright for a squat);
2. starts when p rises past ``enter``; its first frame is the last frame at the top of the start
   posture (within ``top_margin`` of the lowest p seen while ready, or below 0.4 ``enter``), where
   the movement began;
3. turns in the middle of the plateau around peak p (frames within ``top_margin`` of the peak), so
   a flat bottom gives its centre, not whichever frame happened to be deepest;
4. ends at the first frame clearly back at the top (p below 0.4 ``enter``), mirroring the start, and
   closes once the person stops straightening there (no straighter frame for ``top_hold_ms``, or p
   rises by ``top_margin``): the straightest frame is the rep's ``top_frame``, where its lockout is
   judged. If the return stops short of the top band, the rep closes once p stops falling (rises by
   ``top_margin``, goes down into a new rep, or ``settle_ms`` passed) and ends at the lowest p after
   the turn;
5. counts only if the peak reached ``min_depth``, it lasted at least ``min_duration_ms`` and its last
   frame is back in the start posture (the posture gate's own tolerance);
6. is not counted, and is reported ("it never came back up to the start position"), when it comes
   clearly back up from its deepest (by ``PARTIAL_RISE``) but turns down again before reaching the
   start posture: two reps without a lockout between them are not merged into one; the next rep
   starts where the movement turned.

The person lost for longer than ``max_gap_ms``, or the posture leaving ``posture_rep_tolerance`` mid-rep
(wider than at the start: the reference's own in-rep excursion is allowed on top), abandons the rep.
Nothing is counted while the person gets into position, stands, talks or is out of frame. Half reps
at the bottom that never come back up to the start posture are reported, one by one, with how far
down they stayed ("straighten fully between reps"), instead of a silent 0. A full
rep-like cycle of the driving angle made in a steady posture outside the gate (a wall push-up, upright,
with push-up chosen) is not counted either, but reported with the posture measured: a movement that
looked like a rep is never silently dropped. A cycle while the posture swings (getting down to the
floor, standing up) is not such a movement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

PARTIAL_RISE = 0.3
"""How far (in the reference's range) a movement must come back up from its deepest point, short of the
top, to count as a half rep at the bottom; half of it down again completes the cycle. Well above the
0.04 the top is held to, so holding still or shaking at the bottom is no cycle."""

STEADY_SHARE = 0.5
"""A posture counts as steady over a cycle when it moved less than this share of the gate's tolerance
(20 deg for a push-up's 40): a rep done in the wrong position holds that position, while getting into
or out of position swings it through the whole gate (about 90 deg from standing to a push-up)."""


CUT_HOLD_MS = 500.0
"""A set that ends at the turning point counts the rep there (``counts_at_turn``) when the turn was held at
least this long (a deadlift's lockout, a bridge's top) or the way back had clearly begun (half of
``enter``); a rep still arriving when the recording stops is not counted (two frames alike at the end of
a 12-fps clip are 160 ms, a slow arrival creeps a few degrees deeper over 400 ms; pose noise moves a held
angle by a few degrees)."""
JOIN_MS = 500.0
"""A stream whose first person is already inside a rep within this time of its first frame began in the
middle of that rep (a clip cut from a longer set): the rep is followed from there. Later in a stream,
somebody appearing mid-movement is walking in, not exercising. Such a rep is followed only once it goes
deeper by at least ``enter`` (the share of the range that starts a rep) before coming back up: it was
on its way to the turning point when the recording began, not already there (a rep turning, a held
squat), which go on as usual (reported as a half rep or not at all)."""


@dataclass(frozen=True)
class SegmenterOptions:
    """Thresholds, mostly from the reference's calibration."""

    top: float
    """Driving angle at the start posture (degrees)."""
    bottom: float
    """Driving angle at the turning point (degrees)."""
    posture_value: float
    """Posture-gate angle at the start posture (degrees)."""
    posture_tolerance: float
    """Largest allowed posture-gate deviation (degrees)."""
    min_duration_ms: float
    """Shortest rep that counts."""
    max_duration_ms: float
    """Longest rep; beyond it the movement is dropped."""
    enter: float = 0.25
    """Progress that separates the start posture from the rep."""
    min_depth: float = 0.4
    """Progress the turning point must reach for the rep to count (0.4 = 40% of the reference's range)."""
    top_margin: float = 0.04
    """Progress within which a frame still counts as the top (rep boundaries sit on the top)."""
    settle_ms: float = 800.0
    """Longest wait after the return for the movement to settle before the rep is closed."""
    top_hold_ms: float = 150.0
    """Back at the top, how long without a straighter frame closes the rep: the person has stopped
    straightening, so the top they reached (``SegmentEvent.top_frame``) is known."""
    max_gap_ms: float = 600.0
    """Longest run of frames without a person inside a rep."""
    smoothing: float = 0.5
    """Weight of the newest value in the causal exponential smoothing of the driving angle, (0, 1]."""
    counts_at_turn: bool = False
    """A set that ends at or past the turning point counts the rep under way (``ExerciseSpec.counts_at_turn``)."""
    posture_rep_tolerance: float | None = None
    """Largest posture-gate deviation once a rep runs (None: ``posture_tolerance``). A squat's torso
    tips forward on the way down: the gate tells standing from lying, not a lean from an upright rep."""

    def __post_init__(self) -> None:
        if abs(self.bottom - self.top) < 5.0:
            raise ValueError(f"top ({self.top}) and bottom ({self.bottom}) must differ by at least 5 degrees")
        if not 0.0 < self.enter < self.min_depth <= 1.5:
            raise ValueError(f"need 0 < enter ({self.enter}) < min_depth ({self.min_depth}) <= 1.5")
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")
        if self.posture_tolerance <= 0 or self.min_duration_ms <= 0 or self.max_duration_ms <= self.min_duration_ms:
            raise ValueError("posture_tolerance and min_duration_ms must be > 0, and max_duration_ms > min_duration_ms")


@dataclass(frozen=True)
class SegmentEvent:
    """A change in the segmenter's view of the movement."""

    kind: Literal["start", "end", "discard", "posture"]
    """start: a rep began; end: a rep completed and counts; discard: a begun rep did not count;
    posture: the posture state changed."""
    frame: int
    """Frame index at which it happened."""
    start_frame: int = -1
    """For start/end/discard: the rep's first frame."""
    bottom_frame: int = -1
    """For end: the turning point."""
    peak_progress: float = math.nan
    """For end/discard: the deepest progress reached."""
    top_frame: int = -1
    """For end: the straightest frame after the return, where the person stopped straightening (the top
    they came back to, at or after ``frame``); the lockout is judged there."""
    state: str = ""
    """For posture: no_person, out_of_position, ready or in_rep. For discard: the reason ("" for a
    flicker of the driving angle too small and too short to be a movement: nothing to report). For end:
    "cut" when the set ended before the rep came back (``SegmenterOptions.counts_at_turn``), "joined" when
    the stream began in the middle of the rep (``JOIN_MS``), else ""."""


class RepSegmenter:
    """The online segmenter (see module doc). Frames must be added in order, one index each."""

    def __init__(self, options: SegmenterOptions) -> None:
        self.options = options
        self._span = options.bottom - options.top
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next frame starts a new stream."""
        self._state = "no_person"
        self._stream_start_ms: float | None = None  # the stream's first frame
        self._seen_anyone = False
        self._joined = False  # the rep under way began before the stream did
        self._join_p = math.nan
        self._pending: list[tuple[int, float, float]] = []  # (frame, ms, p) since a first frame inside a rep
        self._smoothed: float | None = None
        self._start = -1  # first frame of the rep being watched (or of the next one, while ready)
        self._start_ms = 0.0
        self._ready_min = math.inf
        self._peak = -math.inf
        self._deepest_ms = -math.inf  # when the rep last went deeper than its deepest so far (by top_margin)
        self._trace: list[tuple[int, float]] = []  # (frame, progress) of the rep up to the return
        self._rise_low = math.inf  # lowest p since the movement came clearly back up from its deepest
        self._rise_frame, self._rise_ms = -1, 0.0
        self._returning = False  # back below `enter` after the turn, waiting for the top
        self._end = -1
        self._end_ms = 0.0
        self._end_p = math.inf
        self._end_posture = math.nan
        self._return_ms = 0.0
        self._topped = False  # back in the top band (p <= 0.4 enter) since the return
        self._top, self._top_ms, self._top_p = -1, 0.0, math.inf  # the straightest frame since the return
        self._band, self._band_ms = -1, 0.0  # the last frame still at that top
        self._last_seen_ms = -math.inf
        self._wrong = _Cycle()  # a rep-like cycle while out of position, reported when it completes
        self._partial = _Cycle()  # down-and-up cycles in position that never reach the top

    @property
    def state(self) -> str:
        """no_person, out_of_position, ready or in_rep."""
        return self._state

    def progress(self, driver: float) -> float:
        """Driving angle -> progress in reference units."""
        return (driver - self.options.top) / self._span

    def add(self, frame: int, timestamp_ms: float, driver: float | None, posture: float | None) -> list[SegmentEvent]:
        """Next frame. ``driver``/``posture`` are the two angles, or None when nobody was found."""
        o = self.options
        events: list[SegmentEvent] = []
        if self._stream_start_ms is None:
            self._stream_start_ms = timestamp_ms
        if driver is None or posture is None or not (math.isfinite(driver) and math.isfinite(posture)):
            if self._state == "in_rep":
                if self._returning:
                    events.extend(self._close())
                elif timestamp_ms - self._last_seen_ms <= o.max_gap_ms:
                    return events  # a short dropout inside a rep is bridged
                else:
                    events.append(self._discard(frame, "you left the picture during the rep: stay in view"))
            self._set(events, "no_person", frame)
            self._smoothed = None
            return events
        self._last_seen_ms = timestamp_ms
        self._smoothed = driver if self._smoothed is None else o.smoothing * driver + (1 - o.smoothing) * self._smoothed
        p = self.progress(self._smoothed)
        tolerance = o.posture_tolerance
        if self._state == "in_rep" and o.posture_rep_tolerance is not None:
            tolerance = max(tolerance, o.posture_rep_tolerance)
        in_posture = abs(posture - o.posture_value) <= tolerance
        first, self._seen_anyone = not self._seen_anyone, True
        if first and in_posture and p >= o.enter and timestamp_ms - self._stream_start_ms <= JOIN_MS:
            # the recording may have begun in the middle of a rep (a clip cut from a longer set): if it now
            # goes on deeper by a rep's own start share, it is that rep ("joined"); if it does not, it was
            # no rep under way (a held squat, a rep already turning) and the frames go on as usual
            self._pending = [(frame, timestamp_ms, p)]
        elif self._pending and self._state != "in_rep":
            if not in_posture or p < min(self._pending[0][2] - o.enter / 2, o.enter):
                self._pending = []  # out of the posture, or coming back up: no rep was under way
            else:
                self._pending.append((frame, timestamp_ms, p))
                if p >= self._pending[0][2] + o.enter:
                    return self._join(events)
        if self._state == "in_rep":
            if not in_posture or (not self._returning and timestamp_ms - self._start_ms > o.max_duration_ms):
                if self._returning:
                    events.extend(self._close())
                else:
                    why = (
                        "left the exercise posture"
                        if not in_posture
                        else f"too slow to be a rep (over {o.max_duration_ms / 1000:.0f} s)"
                    )
                    events.append(self._discard(frame, why))
                self._set(events, "out_of_position", frame)
                return events
            if not self._returning:
                self._trace.append((frame, p))
                if p > self._peak + o.top_margin:  # still going deeper: the turning point is not reached yet
                    self._deepest_ms = timestamp_ms
                self._peak = max(self._peak, p)
                if self._peak - p < PARTIAL_RISE:
                    self._rise_low = math.inf
                elif p < self._rise_low:
                    self._rise_low, self._rise_frame, self._rise_ms = p, frame, timestamp_ms
                if self._peak >= o.min_depth and p >= self._rise_low + PARTIAL_RISE / 2:
                    # Up from the bottom, short of the top, and down again: this rep never came back up
                    # (told, not counted); the next one starts where it turned.
                    reason = (
                        f"it never came back up to the start position (stayed {self._rise_low:.0%} of the way "
                        "down): straighten fully between reps"
                    )
                    events.append(self._discard(frame, reason))
                    self._start, self._start_ms = self._rise_frame, self._rise_ms
                    events.append(self._begin(frame, p))
                    return events
                if p < o.enter:
                    self._returning = True
                    self._end, self._end_ms, self._end_p, self._return_ms = frame, timestamp_ms, p, timestamp_ms
                    self._top, self._top_ms, self._top_p = frame, timestamp_ms, p
                    self._band, self._band_ms = frame, timestamp_ms
                    self._topped = p <= 0.4 * o.enter
                    self._end_posture = posture
                return events
            if p < self._end_p and not self._topped:
                self._end, self._end_ms, self._end_p, self._end_posture = frame, timestamp_ms, p, posture
            if p < self._top_p:
                self._top, self._top_ms, self._top_p = frame, timestamp_ms, p
            if p <= max(self._top_p + o.top_margin, 0.4 * o.enter):  # still at the top reached
                self._band, self._band_ms = frame, timestamp_ms
            self._topped = self._topped or p <= 0.4 * o.enter
            if self._topped:  # back at the top: wait until the person stops straightening (settle_ms at most)
                done = (
                    timestamp_ms - self._top_ms >= o.top_hold_ms
                    or p > self._top_p + o.top_margin
                    or timestamp_ms - self._return_ms > o.settle_ms
                )
            else:
                done = p > self._end_p + o.top_margin or timestamp_ms - self._return_ms > o.settle_ms
            if done or p >= o.enter:
                topped = self._topped
                events.extend(self._close())
                # The rep's last frame at the top is the next one's candidate first frame.
                if topped:
                    self._start, self._start_ms, self._ready_min = self._band, self._band_ms, self._top_p
                else:
                    self._start, self._start_ms, self._ready_min = self._end, self._end_ms, self._end_p
                if p >= o.enter:
                    events.append(self._begin(frame, p))
            return events
        if not in_posture:
            self._set(events, "out_of_position", frame)
            self._partial = _Cycle()
            self._watch_wrong_posture(events, frame, timestamp_ms, p, posture)
        elif p < o.enter:
            if self._state != "ready":
                self._ready_min = math.inf
            self._set(events, "ready", frame)
            # Still at the top: near the lowest p seen while ready, or clearly low anyway (so slow
            # drift at the top does not pin the start to a frame long before the descent).
            if p <= max(self._ready_min + o.top_margin, 0.4 * o.enter):
                self._start, self._start_ms = frame, timestamp_ms
            self._ready_min = min(self._ready_min, p)
        elif self._state == "ready":
            events.append(self._begin(frame, p))
        else:  # in position, but never back at the top since: half reps at the bottom?
            self._set(events, "out_of_position", frame)
            self._watch_partial(events, frame, timestamp_ms, p)
        return events

    def _watch_partial(self, events: list[SegmentEvent], frame: int, ms: float, p: float) -> None:
        """In position but never back up at the start posture: report each down-and-up that turned
        around short of the top (half reps at the bottom), with how far down it stayed."""
        o, c = self.options, self._partial
        if c.top_frame < 0:
            c.top_frame, c.top_ms, c.peak, c.low = frame, ms, p, p
            return
        if not c.active:  # going down: wait for a turn that rose clearly back up
            c.peak = max(c.peak, p)
            if c.peak >= o.min_depth and p <= c.peak - PARTIAL_RISE:
                c.active, c.low = True, p
            return
        c.low = min(c.low, p)
        if p >= c.low + PARTIAL_RISE / 2 and ms - c.top_ms >= o.min_duration_ms:  # turned down again: one cycle
            reason = (
                f"it never came back up to the start position (stayed {c.low:.0%} of the way down): "
                "straighten fully between reps"
            )
            events.append(SegmentEvent("discard", frame, start_frame=c.top_frame, peak_progress=c.peak, state=reason))
            self._partial = _Cycle(top_frame=frame, top_ms=ms, peak=p, low=p)

    def _watch_wrong_posture(self, events: list[SegmentEvent], frame: int, ms: float, p: float, posture: float) -> None:
        """Follow the driving angle while out of position; report a whole rep-like cycle made in a
        steady posture (see the module doc)."""
        o, c = self.options, self._wrong
        if not c.active:
            if p < o.enter:
                c.top_frame, c.top_ms = frame, ms
            elif c.top_frame >= 0:
                c.active, c.peak, c.low, c.high = True, p, posture, posture
            return
        c.peak, c.low, c.high = max(c.peak, p), min(c.low, posture), max(c.high, posture)
        if p >= o.enter:
            if ms - c.top_ms > o.max_duration_ms:
                self._wrong = _Cycle()  # too slow to be a rep: forget it
            return
        steady = c.high - c.low < STEADY_SHARE * o.posture_tolerance
        if steady and c.peak >= o.min_depth and ms - c.top_ms >= o.min_duration_ms:
            lo, hi = o.posture_value - o.posture_tolerance, o.posture_value + o.posture_tolerance
            reason = (
                f"out of position: your body was at {(c.low + c.high) / 2:.0f} deg from upright, "
                f"the exercise is done at {max(lo, 0):.0f}-{min(hi, 180):.0f} deg"
            )
            events.append(SegmentEvent("discard", frame, start_frame=c.top_frame, peak_progress=c.peak, state=reason))
        self._wrong = _Cycle()
        self._wrong.top_frame, self._wrong.top_ms = frame, ms

    def flush(self) -> list[SegmentEvent]:
        """End of stream: a rep that already came back below ``enter`` is complete and closes now; one
        past its turning point counts when the exercise's work is done there (``counts_at_turn``: an end
        event with state "cut"), else, cut off on its way back up (clearly up from its deepest, not yet
        at the top), it is reported as such; one still on its way down is dropped. The segmenter is reset."""
        o = self.options
        events = self._close() if self._state == "in_rep" and self._returning else []
        p_now = self._trace[-1][1] if self._trace else math.nan
        # turned: on the way back from the deepest, or held there for top_hold_ms (not still going deeper)
        turned = self._peak - p_now >= o.enter / 2 or self._last_seen_ms - self._deepest_ms >= CUT_HOLD_MS
        at_turn = (
            self._state == "in_rep"
            and not self._returning
            and self._peak >= o.min_depth
            and turned
            and not self._joined
        )
        if at_turn and o.counts_at_turn and self._last_seen_ms - self._start_ms >= o.min_duration_ms / 2:
            # the set ended at (or on the way back from) the turning point of an exercise whose work is done
            # there: the rep counts, cut where the set ended ("cut")
            last = self._trace[-1][0]
            events.append(
                SegmentEvent(
                    "end", last, start_frame=self._start, bottom_frame=self._turn_frame(),
                    peak_progress=self._peak, top_frame=last, state="cut",
                )
            )  # fmt: skip
        elif self._state == "in_rep" and not self._returning and math.isfinite(self._rise_low):
            # the stream ended on a rep on its way back up (a clip cut off mid-rep): say so
            reason = f"the set ended before it came back up to the start position (still {p_now:.0%} of the way down)"
            events.append(self._discard(self._rise_frame, reason))
        self.reset()
        return events

    def _set(self, events: list[SegmentEvent], state: str, frame: int) -> None:
        if state != "out_of_position":
            self._wrong = _Cycle()
            self._partial = _Cycle()
        if state != self._state:
            self._state = state
            events.append(SegmentEvent("posture", frame, state=state))

    def _join(self, events: list[SegmentEvent]) -> list[SegmentEvent]:
        """The rep the recording began in (``_pending``) goes on deeper: follow it from its first frame."""
        (first, first_ms, first_p), (frame, _, p) = self._pending[0], self._pending[-1]
        trace = [(f, q) for f, _, q in self._pending]
        self._pending = []
        self._partial = _Cycle()
        self._start, self._start_ms = first, first_ms
        events.append(self._begin(frame, p))
        self._trace, self._peak = trace, max(q for _, q in trace)
        self._deepest_ms = self._last_seen_ms
        self._joined, self._join_p = True, first_p
        return events

    def _begin(self, frame: int, p: float) -> SegmentEvent:
        self._state = "in_rep"
        self._returning = False
        self._joined = False
        self._peak = p
        self._deepest_ms = self._last_seen_ms
        self._rise_low = math.inf  # lowest p since the movement came clearly back up from its deepest
        self._trace = [(frame, p)]
        return SegmentEvent("start", frame, start_frame=self._start)

    def _discard(self, frame: int, reason: str) -> SegmentEvent:
        self._returning = False
        self._joined = False
        return SegmentEvent("discard", frame, start_frame=self._start, peak_progress=self._peak, state=reason)

    def _close(self) -> list[SegmentEvent]:
        """The rep is back at the top: count it (end) or drop it (discard; with no reason for a flicker
        both too shallow and too quick to be any movement: pose-estimation jitter, not reported)."""
        o = self.options
        self._state = "ready"
        self._returning = False
        joined, self._joined = self._joined, False
        quick = self._end_ms - self._start_ms < o.min_duration_ms
        if self._peak < o.min_depth:  # back at the start posture, but this was no rep
            reason = "" if quick else f"too shallow: depth {self._peak:.0%} of the reference's, go lower"
            return [SegmentEvent("discard", self._end, start_frame=self._start, peak_progress=self._peak, state=reason)]
        if quick:
            reason = f"too quick: {(self._end_ms - self._start_ms) / 1000:.2f} s from start to finish"
            return [SegmentEvent("discard", self._end, start_frame=self._start, peak_progress=self._peak, state=reason)]
        if not abs(self._end_posture - o.posture_value) <= o.posture_tolerance:
            # The driving angle came back, the body did not (e.g. knees straightened while getting down
            # to the floor): a rep starts and ends in the start posture.
            reason = "it did not end in the start posture"
            return [SegmentEvent("discard", self._end, start_frame=self._start, peak_progress=self._peak, state=reason)]
        return [
            SegmentEvent(
                "end",
                self._end,
                start_frame=self._start,
                bottom_frame=self._turn_frame(),
                peak_progress=self._peak,
                top_frame=max(self._top, self._end),
                state="joined" if joined else "",
            )
        ]

    def _turn_frame(self) -> int:
        """Middle of the contiguous plateau (within top_margin) around the deepest frame."""
        values = [p for _, p in self._trace]
        deepest = values.index(max(values))
        floor = values[deepest] - self.options.top_margin
        lo = hi = deepest
        while lo > 0 and values[lo - 1] >= floor:
            lo -= 1
        while hi < len(values) - 1 and values[hi + 1] >= floor:
            hi += 1
        return self._trace[(lo + hi) // 2][0]


@dataclass
class _Cycle:
    """A rep-like cycle of the driving angle followed while out of position."""

    top_frame: int = -1
    """Last frame at the top before the cycle (-1: none seen yet)."""
    top_ms: float = 0.0
    active: bool = False
    """Past ``enter``, waiting for the return."""
    peak: float = 0.0
    low: float = math.inf
    """Lowest and highest posture angle during the cycle."""
    high: float = -math.inf

"""Following the person who exercises when several are in the picture.

A backend that finds up to N people a frame (``MediaPipeBackend`` with ``max_people`` > 1) gives a
list of ``Pose2D``. Here they get identities across frames (``PeopleTracker``: nearest torso centre,
in torso lengths, so a zoom or a cut does not matter), and one of them is followed:

- live (``OnlineFollower``): start with the first person found; move to another one only when that one
  has clearly been moving the exercise's joints more (``SWITCH_MARGIN_DEG`` more range of the focus
  angles over the last ``ACTIVITY_WINDOW_MS``, for ``SWITCH_HOLD_MS``), or when the followed one has
  been gone for ``LOST_MS``;
- batch (``follow_offline``): with the whole clip known, follow the most active person throughout,
  and another one only while that one is out of the picture.

Movement counts only where the detector saw the joints (``SEEN_SCORE``) and after a short running
median (``SMOOTH_DETECTIONS``): a phantom the second detector makes of a cushion or a patch of floor
once the real person is greyed out (``MediaPipeBackend``) has low-confidence limbs whose angles jump
tens of degrees from frame to frame, and ranked on raw angles it outscores the person exercising.

Each followed ``Pose2D`` carries its ``person`` id and how many ``people`` were seen in the frame; the
scoring core reports a change of person instead of scoring across it.

Only NumPy; which joints matter (the focus) comes from the caller: the chosen exercise's driving
joints (a push-up's elbows), by default every limb.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lifting.joints import H36M
from lifting.types import Pose2D

Triple = tuple[H36M, H36M, H36M]
"""Three joints: the angle at the middle one."""

LIMBS: tuple[Triple, ...] = (
    (H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST),
    (H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST),
    (H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE),
    (H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE),
)
"""The default focus: elbows and knees (every exercise shipped bends one of them)."""

ACTIVITY_WINDOW_MS = 3000.0
"""How far back a person's movement is measured: longer than one rep (0.8-8 s; most are 1-3 s), so a
person between two reps still counts as exercising."""
SWITCH_MARGIN_DEG = 25.0
"""How much more range of the focus angles another person must show before the coach moves to them:
about a third of a push-up's or a squat's (70-80 deg), well above the 5-10 deg a standing person's
elbows and knees jitter in MediaPipe."""
SWITCH_HOLD_MS = 500.0
"""...and for how long, so one arm wave does not move the coach."""
LOST_MS = 1000.0
"""A followed person unseen this long is gone: the coach follows whoever else is there."""
MATCH_TORSOS = 1.0
"""A detection belongs to a known person when its torso centre is within this many torso lengths of
where that person was last seen."""
FORGET_MS = 2000.0
"""A person unseen this long is forgotten (a new detection there gets a new id)."""
SEEN_SCORE = 0.5
"""A focus angle counts towards a person's movement only in frames where its three joints' confidence
reaches this: MediaPipe's visibility is the likelihood that the landmark is in view, so 0.5 is its
even-odds point (the same bound as ``scoring.features.VISIBLE_SCORE``); below it the joint was guessed,
and guessed joints move without anyone moving them. Measured on the mirrored alternating-curl clip
(``dev/fit__biceps-curl.mp4``, MediaPipe looking for two people): a phantom on the sofa's cushions, its
elbows seen (>= 0.5) in 11-27 % of its frames, jumping 5-11 deg a frame (the curler: 1.7-3.7), was
ranked above the curler on all angles (clip score 19525 against 16832) and below her on the seen
ones (5059 against 11368). The curler's own legs, which MediaPipe invents below the frame
(visibility 0) and swings through 80 deg, no longer count either."""
SMOOTH_DETECTIONS = 5
"""The seen angles are median-filtered over this many consecutive detections (centred) before their
range is taken: about 170 ms at 30 fps, 200 ms at 25, well inside one way of the fastest rep (0.4 s of
the 0.8 s, ``ACTIVITY_WINDOW_MS``), so a rep keeps its range while a phantom's isolated seen frames do not add theirs
(on the mirrored curl clip the phantom's score falls from 5059 to 2856, the curler's from 11368 to 11215)."""


def torso(pose: Pose2D) -> tuple[np.ndarray, float] | None:
    """(centre, length) of the torso in pixels: mid-shoulders to mid-hips; None when not found."""
    k = pose.keypoints
    shoulders = (k[H36M.L_SHOULDER] + k[H36M.R_SHOULDER]) / 2
    hips = (k[H36M.L_HIP] + k[H36M.R_HIP]) / 2
    if not (np.isfinite(shoulders).all() and np.isfinite(hips).all()):
        return None
    return (shoulders + hips) / 2, max(float(np.hypot(*(shoulders - hips))), 1.0)


def focus_angles(pose: Pose2D, focus: Sequence[Triple]) -> np.ndarray:
    """The angle (degrees) at the middle joint of each triple; 3D world joints where the backend gives
    them (the same whichever way the person faces), else the picture's; NaN where not found."""
    points = pose.world if pose.world is not None else pose.keypoints
    out = np.full(len(focus), np.nan)
    for i, (a, b, c) in enumerate(focus):
        u, v = points[a] - points[b], points[c] - points[b]
        norm = float(np.linalg.norm(u) * np.linalg.norm(v))
        if norm > 0:
            out[i] = math.degrees(math.acos(min(1.0, max(-1.0, float(np.dot(u, v)) / norm))))
    return out


def seen_angles(pose: Pose2D, focus: Sequence[Triple]) -> np.ndarray:
    """``focus_angles`` where the three joints of the triple were seen (confidence >= ``SEEN_SCORE``),
    NaN elsewhere: ``(len(focus),)`` float64 degrees."""
    angles = focus_angles(pose, focus)
    for i, triple in enumerate(focus):
        if min(float(pose.scores[j]) for j in triple) < SEEN_SCORE:
            angles[i] = np.nan
    return angles


def running_median(values: np.ndarray, size: int) -> np.ndarray:
    """Centred running median down axis 0 of ``values`` ``(T, K)``, over the finite values of each
    window of ``size`` (odd) rows; NaN where the centre value is NaN. Same shape, float64."""
    if size % 2 != 1:
        raise ValueError(f"size must be odd, got {size}")
    values = np.asarray(values, dtype=np.float64)
    half = size // 2
    padded = np.pad(values, ((half, half), (0, 0)), constant_values=np.nan)
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(padded, size, axis=0), axis=-1)  # NaN last
    count = np.isfinite(windows).sum(axis=-1)
    lo = np.take_along_axis(windows, np.maximum(count - 1, 0)[..., None] // 2, axis=-1)[..., 0]
    hi = np.take_along_axis(windows, (count // 2)[..., None], axis=-1)[..., 0]
    return np.where(np.isfinite(values), (lo + hi) / 2, np.nan)


@dataclass
class _Track:
    id: int
    centre: np.ndarray
    length: float
    last_ms: float
    history: deque[tuple[float, np.ndarray]] = field(default_factory=deque)  # (timestamp, seen focus angles)

    def activity(self, now_ms: float) -> float:
        """Largest range of one focus angle over the last ``ACTIVITY_WINDOW_MS``, degrees: only where
        its joints were seen (``SEEN_SCORE``), median-filtered (``SMOOTH_DETECTIONS``), 10th to 90th
        percentile (so a misplaced joint in a frame or two does not count)."""
        while self.history and self.history[0][0] < now_ms - ACTIVITY_WINDOW_MS:
            self.history.popleft()
        if len(self.history) < 3:
            return 0.0
        angles = running_median(np.stack([a for _, a in self.history]), SMOOTH_DETECTIONS)
        best = 0.0
        for column in angles.T:
            seen = column[np.isfinite(column)]
            if seen.size >= 3:
                lo, hi = np.percentile(seen, [10, 90])
                best = max(best, float(hi - lo))
        return best


class PeopleTracker:
    """Gives the people found in each frame ids that persist across frames."""

    def __init__(self, focus: Sequence[Triple] = LIMBS) -> None:
        self.focus = tuple(focus)
        self._tracks: dict[int, _Track] = {}
        self._next = 0

    def reset(self) -> None:
        """Forget everyone (a new stream)."""
        self._tracks.clear()
        self._next = 0

    def update(self, people: Sequence[Pose2D], timestamp_ms: float) -> list[tuple[int, Pose2D]]:
        """The frame's detections with their person ids (greedy nearest match, closest pairs first)."""
        for tid in [t.id for t in self._tracks.values() if timestamp_ms - t.last_ms > FORGET_MS]:
            del self._tracks[tid]
        found = [(i, torso(p)) for i, p in enumerate(people) if p.detected]
        pairs = []
        for i, body in found:
            if body is None:
                continue
            centre, length = body
            for track in self._tracks.values():
                distance = float(np.hypot(*(centre - track.centre))) / max(length, track.length)
                if distance <= MATCH_TORSOS:
                    pairs.append((distance, i, track.id))
        assigned: dict[int, int] = {}
        for _, i, tid in sorted(pairs):
            if i not in assigned and tid not in assigned.values():
                assigned[i] = tid
        out = []
        for i, body in found:
            if body is None:
                continue
            if i not in assigned:
                assigned[i] = self._next
                self._tracks[self._next] = _Track(self._next, body[0], body[1], timestamp_ms)
                self._next += 1
            track = self._tracks[assigned[i]]
            track.centre, track.length, track.last_ms = body[0], body[1], timestamp_ms
            track.history.append((timestamp_ms, seen_angles(people[i], self.focus)))
            out.append((track.id, people[i]))
        return out

    def activity(self, person: int, now_ms: float) -> float:
        """How much ``person`` has been moving the focus joints lately (degrees; 0 if unknown)."""
        track = self._tracks.get(person)
        return track.activity(now_ms) if track is not None else 0.0


class OnlineFollower:
    """Live mode: one followed person per frame, moving to another only for a clear reason."""

    def __init__(self, focus: Sequence[Triple] = LIMBS) -> None:
        self.tracker = PeopleTracker(focus)
        self.followed: int | None = None
        self._followed_ms = -math.inf
        self._challenger: tuple[int, float] | None = None  # (id, since when it has been clearly more active)

    def reset(self) -> None:
        """A new stream."""
        self.tracker.reset()
        self.followed, self._followed_ms, self._challenger = None, -math.inf, None

    def choose(self, people: Sequence[Pose2D], timestamp_ms: float, image_size: tuple[int, int]) -> Pose2D:
        """The followed person's pose in this frame (``Pose2D.missing`` when they are not in it)."""
        seen = self.tracker.update(people, timestamp_ms)
        by_id = dict(seen)
        if self.followed in by_id:
            self._followed_ms = timestamp_ms
        if seen and (self.followed is None or timestamp_ms - self._followed_ms > LOST_MS):
            self.followed = max(by_id, key=lambda i: self.tracker.activity(i, timestamp_ms))
            self._followed_ms, self._challenger = timestamp_ms, None
        elif self.followed in by_id:
            own = self.tracker.activity(self.followed, timestamp_ms)
            rivals = [(self.tracker.activity(i, timestamp_ms), i) for i in by_id if i != self.followed]
            best = max(rivals, default=(0.0, -1))
            if best[0] > own + SWITCH_MARGIN_DEG:
                if self._challenger is None or self._challenger[0] != best[1]:
                    self._challenger = (best[1], timestamp_ms)
                elif timestamp_ms - self._challenger[1] >= SWITCH_HOLD_MS:
                    self.followed, self._challenger = best[1], None
            else:
                self._challenger = None
        if self.followed not in by_id:
            return Pose2D.missing(timestamp_ms, image_size)
        return dataclasses.replace(by_id[self.followed], person=self.followed, people=len(seen))


def follow_offline(frames: Sequence[Sequence[Pose2D]], focus: Sequence[Triple] = LIMBS) -> list[Pose2D]:
    """Batch mode: one pose per frame, the whole clip known.

    People are ranked by how much they moved the focus joints over the clip. The first-ranked is
    followed wherever present; a gap in them shorter than ``LOST_MS`` stays a gap (a frame or two the
    detector missed, or the first frames before it found them); through a longer absence the
    best-ranked person present is followed instead.
    """
    tracker = PeopleTracker(focus)
    ids: list[dict[int, Pose2D]] = []
    score: dict[int, float] = {}
    for people in frames:
        if not people:
            raise ValueError("every frame needs at least its missing marker (Pose2D.missing)")
        ts = people[0].timestamp_ms
        seen = dict(tracker.update(people, ts))
        for pid in seen:
            score[pid] = score.get(pid, 0.0) + tracker.activity(pid, ts)
        ids.append(seen)
    ranked = sorted(score, key=lambda pid: -score[pid])
    times = np.array([people[0].timestamp_ms for people in frames])
    # for each frame: how long the first-ranked person is absent around it (0 where present)
    main = ranked[0] if ranked else None
    present = np.array([main in seen for seen in ids])
    gap_ms = np.zeros(len(frames))
    i = 0
    while i < len(frames):
        if present[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(frames) and not present[j + 1]:
            j += 1
        before = times[i - 1] if i > 0 else times[i]
        after = times[j + 1] if j + 1 < len(frames) else times[j]
        gap_ms[i : j + 1] = after - before
        i = j + 1
    out = []
    for people, seen, gap in zip(frames, ids, gap_ms, strict=True):
        if main in seen:
            pid = main
        else:
            others = [p for p in ranked if p in seen]
            if not others or gap < LOST_MS:
                out.append(Pose2D.missing(people[0].timestamp_ms, people[0].image_size))
                continue
            pid = others[0]
        out.append(dataclasses.replace(seen[pid], person=pid, people=len(seen)))
    return out

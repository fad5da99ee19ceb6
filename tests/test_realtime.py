"""Live sessions without a browser: the latest-frame-wins slot, the outbox, the state machine, camera
guidance, tips, and whole sessions fed real camera frames through the manager and the inference loop."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from lifting.lifter import WorldLandmarkLifter
from lifting.pose2d import MediaPipeBackend
from lifting.types import Pose2D, Pose3D
from realtime.events import PoseEvent, RepEvent, StatusEvent, SummaryEvent, TipEvent
from realtime.guidance import FramingMonitor, FramingOptions
from realtime.ingest import FrameSlot, frame_timestamp_ms, to_rgb
from realtime.manager import LiveOptions, SessionLimitError, SessionManager
from realtime.outbox import Outbox, Outgoing
from realtime.session import Session, SessionState, SessionStateError
from scoring.coach.model import CausalLM, GenerationOptions, ModelTips
from scoring.coach.persona import BUILTIN_DIR, PersonaLibrary
from scoring.coach.select import TipOptions
from scoring.coach.writer import Tip, TipService
from scoring.core import analyze_poses
from scoring.reference import Reference, example_rep, load_reference
from scoring.score import summarize


def test_the_slot_keeps_only_the_newest_frame_and_counts_drops() -> None:
    woken = []
    slot: FrameSlot[int] = FrameSlot(on_put=lambda: woken.append(1))
    assert slot.take() is None
    for i in range(5):
        slot.put(i)
    assert slot.take() == 4
    assert slot.take() is None
    assert (slot.received, slot.dropped, len(woken)) == (5, 4, 5)
    slot.put(7)
    slot.close()
    assert slot.dropped == 5
    assert not slot.put(8)
    assert slot.take() is None


def _pose(n: int) -> PoseEvent:
    return PoseEvent(float(n), n, False, 640, 360, None)


def _tip(n: int) -> TipEvent:
    return TipEvent(Tip(f"tip {n}", "praise", "plain", n, None, None, "info"))


def test_the_outbox_sheds_stale_pose_events_first() -> None:
    def names(box: Outbox) -> list[str]:
        async def drain() -> list[str]:
            box.close()
            out = []
            while (item := await box.get()) is not None:
                event = item.event.as_json()
                out.append(f"{event['type']}{event.get('frame', event.get('rep', ''))}")
            return out

        return asyncio.run(drain())

    rep = RepEvent(example_rep(1, 90.0))
    box = Outbox(capacity=3, hard_limit=4)
    for event in (_pose(1), rep, _pose(2), _tip(4)):
        box.put(Outgoing(event))
    box.put(Outgoing(_pose(3)))
    assert names(box) == ["rep1", "tip4", "pose3"]  # the oldest poses made room
    assert box.dropped == 2

    box = Outbox(capacity=2, hard_limit=3)
    for n in range(3):
        box.put(Outgoing(_tip(n)))
    box.put(Outgoing(_pose(9)))  # full of tips: the pose is the one to go
    box.put(Outgoing(SummaryEvent(summarize([]), (), (), "stopped")))  # past the hard limit: the oldest event goes
    assert names(box) == ["tip1", "tip2", "summary"]
    assert box.dropped == 2


def test_events_serialise_exactly_their_declared_fields() -> None:
    pose = Pose2D(np.full((17, 2), 32.0), np.full(17, 0.9), 1234.56, (640, 320), True)
    event = PoseEvent.of(pose, 7).as_json()
    assert event == {
        "type": "pose", "t": 1234.6, "frame": 7, "detected": True, "width": 640, "height": 320,
        "keypoints": [[0.05, 0.1, 0.9]] * 17,
    }  # fmt: skip
    assert PoseEvent.of(Pose2D.missing(5.0, (640, 320)), 8).as_json()["keypoints"] is None
    rep = example_rep(3, 81.5)
    assert RepEvent(rep).as_json() == {"type": "rep", "rep": 3, **rep.as_dict()}
    status = StatusEvent(
        state="live", posture="ready", message="go", advice=None, rep_in_progress=None, notice=None, reps=0,
        persona="plain", backend="mediapipe", lifter="mediapipe-world", delay_frames=0, fps=29.5, received=10,
        processed=9, dropped=1,
    )  # fmt: skip
    assert set(status.as_json()) == {"type"} | {f.name for f in dataclasses.fields(StatusEvent)}
    assert json.loads(json.dumps(status.as_json()))["fps"] == 29.5


def test_session_states_follow_the_machine() -> None:
    loop = asyncio.new_event_loop()
    try:
        session = Session("pushup", "plain", loop=loop, wake=lambda: None)
        assert session.state is SessionState.CREATED
        with pytest.raises(SessionStateError, match="cannot become live"):
            session.transition(SessionState.LIVE)
        session.transition(SessionState.CONNECTING)
        with pytest.raises(SessionStateError):
            session.transition(SessionState.CONNECTING)  # a second offer
        session.transition(SessionState.LIVE)
        session.transition(SessionState.ENDING)
        session.transition(SessionState.CLOSED)
        assert session.check_token(session.token)
        # change the last character to one it is not (a token may end in "x")
        forged = session.token[:-1] + ("y" if session.token.endswith("x") else "x")
        assert not session.check_token(forged)
        assert not session.check_token(None)
    finally:
        loop.close()


def _poses(track: Any) -> tuple[list[Pose2D], list[Pose3D]]:
    poses2d, poses3d = [], []
    for i in range(track.frames):
        ts = float(track.timestamps_ms[i])
        if track.detected[i]:
            poses2d.append(Pose2D(track.keypoints_2d[i], track.scores[i], ts, tuple(track.image_size), True))
            poses3d.append(Pose3D(track.poses_3d[i], ts, track.lifter, True))
        else:
            poses2d.append(Pose2D.missing(ts, tuple(track.image_size)))
            poses3d.append(Pose3D.missing(ts, track.lifter))
    return poses2d, poses3d


@pytest.mark.slow
def test_camera_guidance_on_real_clips(pose_tracks, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    pushup, squat = load_reference(references_dir, "pushup"), load_reference(references_dir, "squat")

    def advice_over(track: Any, reference: Reference) -> list[str | None]:
        monitor = FramingMonitor(FramingOptions(views=reference.spec.views, gravity=reference.gravity))
        out = []
        for pose2d, pose3d in zip(*_poses(track), strict=True):
            monitor.add_2d(pose2d)
            monitor.add_3d(pose3d)
            advice = monitor.advice()
            out.append(advice.code if advice else None)
        return out

    side = advice_over(pose_tracks("pushup_side_nasm.mp4"), pushup)
    assert "change_view" not in side
    assert side.count(None) > 0.8 * len(side)
    front = advice_over(pose_tracks("pushup_front_phone.mp4"), pushup)
    assert "change_view" not in front  # a phone on the floor ahead of you: a view push-ups are coached from
    assert "step_back" in front[:60]  # the person walks up to the phone: face fills the picture
    assert "change_view" not in advice_over(pose_tracks("squat_side.mp4"), squat)

    # The same push-ups filmed from above: the 3D turned so that the camera looks down on the back.
    track = pose_tracks("pushup_side_nasm.mp4")
    above = dataclasses.replace(
        track, poses_3d=np.stack([track.poses_3d[..., 0], -track.poses_3d[..., 2], track.poses_3d[..., 1]], axis=-1)
    )
    advice = advice_over(above, pushup)
    first = advice.index("change_view")
    seen = np.flatnonzero(track.detected)[0]
    assert track.timestamps_ms[first] - track.timestamps_ms[seen] < 2000  # warned within 2 s
    changes = sum(a != b for a, b in itertools.pairwise(advice[first:]))
    assert advice[first:].count("change_view") > 0.9 * len(advice[first:]) and changes <= 2  # no flicker


# -- whole sessions through the manager and the inference loop -----------------------------------


def _camera_frames(clip: Path, count: int) -> list[av.VideoFrame]:
    """The first ``count`` frames of a clip as a camera would deliver them: 640x360 yuv420p with pts."""
    frames = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.reformat(width=640, height=360, format="yuv420p"))
            if len(frames) == count:
                break
    return frames


class ClipTrack:
    """A stand-in for aiortc's remote track: hands out the clip's frames, then ends.

    ``paced``: the next frame is released only after the previous one was processed, so nothing is
    dropped and the result must equal batch mode; otherwise frames come as fast as they are asked for.
    """

    kind = "video"

    def __init__(self, frames: list[av.VideoFrame], session: Session, paced: bool, hang: bool = False) -> None:
        self.frames = frames
        self.session = session
        self.paced = paced
        self.hang = hang  # after the last frame, go silent instead of ending (a frozen client)
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.sent == len(self.frames):
            if self.hang:
                await asyncio.Event().wait()
            raise MediaStreamError
        while self.paced and self.session.stats.processed < self.sent:
            await asyncio.sleep(0.002)
        self.sent += 1
        return self.frames[self.sent - 1]


async def _drain(session: Session, on_event: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    events = []
    while (item := await session.outbox.get()) is not None:
        events.append(item.event.as_json())
        if on_event is not None:
            on_event(events[-1])
    return events


def _tips() -> TipService:
    return TipService(PersonaLibrary(BUILTIN_DIR))


@pytest.mark.slow
class _OverlappedWorldLifter(WorldLandmarkLifter):
    """The world-landmark lifter run as a network lifter is: on the loop's lift thread, a step behind."""

    overlapped = True


@pytest.mark.parametrize("lifter_kind", [WorldLandmarkLifter, _OverlappedWorldLifter])
def test_two_sessions_share_one_loop_and_count_like_batch_mode(
    media: Path, pushup: Reference, lifter_kind: type[WorldLandmarkLifter]
) -> None:
    """Two paced sessions on one loop get every frame's pose and the same reps as batch mode, whether the
    lifter runs in series with the 2D stage or on the lift thread beside the next frame's 2D."""
    clip = media / "pushup_side_nasm.mp4"
    frames = _camera_frames(clip, 175)  # two whole reps (bottoms at frames 50 and 130)
    backends: list[MediaPipeBackend] = []

    def backend() -> MediaPipeBackend:
        backends.append(MediaPipeBackend())
        return backends[-1]

    async def run() -> tuple[list[list[dict[str, Any]]], list[Session], SessionManager]:
        manager = SessionManager(LiveOptions(max_sessions=2), lifter_kind(), backend, lambda name: pushup, _tips())
        async with manager:
            sessions = [await manager.create("pushup", "plain") for _ in range(2)]
            with pytest.raises(SessionLimitError, match="already coaches 2 live sessions"):
                await manager.create("pushup", "plain")
            drains = [asyncio.create_task(_drain(s)) for s in sessions]
            for s in sessions:
                manager.offer_received(s)
                manager.attach_track(s, ClipTrack(frames, s, paced=True))
            events = await asyncio.wait_for(asyncio.gather(*drains), 120)
        return events, sessions, manager

    events, sessions, manager = asyncio.run(run())

    # Batch mode over the same pictures: every frame detected, centred windows, then the core.
    with MediaPipeBackend() as batch_backend:
        poses2d = []
        for frame in frames:
            image, size = to_rgb(frame, 640)
            poses2d.append(batch_backend.detect(image, frame_timestamp_ms(frame), size))
    batch = analyze_poses(pushup, WorldLandmarkLifter().lift_sequence(poses2d))
    assert len(batch.reps) == 2

    for session, stream in zip(sessions, events, strict=True):
        kinds = [e["type"] for e in stream]
        assert kinds.count("pose") == len(frames)
        reps = [e for e in stream if e["type"] == "rep"]
        assert [r["rep"] for r in reps] == [1, 2]
        assert [{k: v for k, v in r.items() if k not in ("type", "rep")} for r in reps] == [
            r.as_dict() for r in batch.reps
        ]
        assert kinds[-2:] == ["summary", "tip"] or kinds[-3:-1] == ["summary", "tip"]
        summary = next(e for e in stream if e["type"] == "summary")
        assert summary["reps"] == 2 and summary["reason"] == "the camera stopped"
        assert any(e["type"] == "tip" for e in stream)
        first = stream[0]
        assert first["type"] == "status" and first["skeleton"]["bones"][0] == [1, 0]
        skeleton = first["skeleton"]
        assert [skeleton["joints"][j] for j in skeleton["left"]][:3] == ["l_hip", "l_knee", "l_ankle"]
        assert [skeleton["joints"][j] for j in skeleton["right"]][-1] == "r_wrist"
        pose = next(e for e in stream if e["type"] == "pose" and e["detected"])
        assert (pose["width"], pose["height"]) == (640, 360)
        assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y, _ in pose["keypoints"])
        assert session.state is SessionState.CLOSED
        assert session.info()["frames_dropped"] == 0
        assert session.stats.processed == len(frames)
    # The loop lifted both sessions' windows in one call most of the time.
    assert manager.loop_thread.batch_sizes.get(2, 0) > len(frames) // 2
    assert manager.loop_thread.overlap_lift is lifter_kind.overlapped
    assert not manager.loop_thread.alive
    assert all(b._pose is None for b in backends)  # every session's 2D model was closed


@pytest.mark.slow
def test_model_tips_reach_a_live_session_without_holding_up_its_frames(
    media: Path, pushup: Reference, tiny_lm: Path
) -> None:
    frames = _camera_frames(media / "pushup_side_nasm.mp4", 175)  # two reps
    model = CausalLM(tiny_lm, "cpu")
    generate = model.generate
    writing = threading.Event()  # the first tip is being written
    release = threading.Event()  # ... and may finish
    poses_while_writing = [0]

    def slow_generate(*args: Any, **kwargs: Any) -> str:
        # A busy GPU: the first tip is written only after 10 more frames went out. If the loop waited
        # for the model, no frame would go out and this would give up (and the tip fall back).
        if not release.is_set():
            writing.set()
            release.wait(30)
        return generate(*args, **kwargs)

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "pose" and writing.is_set() and not release.is_set():
            poses_while_writing[0] += 1
            if poses_while_writing[0] == 10:
                release.set()

    model.generate = slow_generate  # type: ignore[method-assign]
    options = TipOptions(cooldown_s=0.0, time_budget_s=60.0)

    async def run() -> tuple[list[dict[str, Any]], Session]:
        with ModelTips(model, GenerationOptions(max_new_tokens=8)) as generator:
            tips = TipService(PersonaLibrary(BUILTIN_DIR), options, generator)
            manager = SessionManager(LiveOptions(), WorldLandmarkLifter(), MediaPipeBackend, lambda n: pushup, tips)
            async with manager:
                session = await manager.create("pushup", "plain")
                manager.set_persona(session, "hype_beast")  # before the first tip
                drain = asyncio.create_task(_drain(session, on_event))
                manager.offer_received(session)
                manager.attach_track(session, ClipTrack(frames, session, paced=True))
                return await asyncio.wait_for(drain, 120), session

    stream, session = asyncio.run(run())
    kinds = [e["type"] for e in stream]
    tips = [e for e in stream if e["type"] == "tip"]
    assert [(t["rep"], t["kind"], t["source"], t["persona"]) for t in tips] == [
        (1, "praise", "model", "hype_beast"),
        (2, "praise", "model", "hype_beast"),
        (None, "summary", "model", "hype_beast"),
    ]
    # The summary tip was written after the summary event, and the session closed only then.
    assert kinds.index("summary") < len(kinds) - 1 - kinds[::-1].index("tip")
    assert stream[-1]["type"] == "status" and stream[-1]["state"] == "closed"
    # Frames kept flowing while the model wrote: no pose waited for a tip.
    assert session.info()["frames_dropped"] == 0 and kinds.count("pose") == len(frames)
    assert poses_while_writing[0] == 10


@pytest.mark.slow
def test_a_flooded_session_drops_frames_instead_of_queueing(media: Path, pushup: Reference) -> None:
    frames = _camera_frames(media / "pushup_side_nasm.mp4", 60)

    async def run() -> Session:
        manager = SessionManager(LiveOptions(), WorldLandmarkLifter(), MediaPipeBackend, lambda name: pushup, _tips())
        async with manager:
            session = await manager.create("pushup", "plain")
            drain = asyncio.create_task(_drain(session))
            manager.offer_received(session)
            manager.attach_track(session, ClipTrack(frames, session, paced=False))
            await asyncio.wait_for(drain, 60)
        return session

    session = asyncio.run(run())
    info = session.info()
    assert info["frames_received"] == len(frames)
    assert info["frames_dropped"] > 0
    assert info["frames_processed"] + info["frames_dropped"] == len(frames)
    assert session.end_reason == "the camera stopped"


@pytest.mark.slow
def test_silent_sessions_are_ended_and_freed(media: Path, pushup: Reference) -> None:
    frames = _camera_frames(media / "pushup_side_nasm.mp4", 10)
    options = LiveOptions(connect_timeout_s=0.6, idle_timeout_s=0.6)

    async def run() -> tuple[Session, Session, SessionManager]:
        manager = SessionManager(options, WorldLandmarkLifter(), MediaPipeBackend, lambda name: pushup, _tips())
        async with manager:
            frozen, no_video = [await manager.create("pushup", "plain") for _ in range(2)]
            drains = [asyncio.create_task(_drain(s)) for s in (frozen, no_video)]
            for s in (frozen, no_video):
                manager.offer_received(s)
            manager.attach_track(frozen, ClipTrack(frames, frozen, paced=True, hang=True))
            await asyncio.wait_for(asyncio.gather(*drains), 20)
            assert manager.sessions == []
        return frozen, no_video, manager

    frozen, no_video, manager = asyncio.run(run())
    assert frozen.end_reason == "no video for 0.6 s" and frozen.stats.processed == len(frames)
    assert no_video.end_reason == "no video arrived within 0.6 s of the offer"
    assert {e["id"] for e in manager.ended} == {frozen.id, no_video.id}
    assert all(s.state is SessionState.CLOSED and s.closed.is_set() for s in (frozen, no_video))


def test_frame_timestamps_come_from_pts() -> None:
    frame = av.VideoFrame(64, 48, "yuv420p")
    frame.pts = 90000
    frame.time_base = Fraction(1, 90000)
    assert frame_timestamp_ms(frame) == 1000.0
    frame.pts = None
    with pytest.raises(ValueError, match="no timestamp"):
        frame_timestamp_ms(frame)


def scoring_pipeline(reference: Reference, other: Reference) -> Any:
    """A session's pipeline for 3D poses fed straight to ``score`` (no 2D model), the other exercise watching."""
    from realtime.pipeline import LivePipeline
    from scoring.coach.writer import create_tip_writer
    from scoring.core import ScoringCore

    return LivePipeline(
        backend=None,  # type: ignore[arg-type]  # score() never touches the 2D model
        lift=WorldLandmarkLifter().stream(),
        core=ScoringCore(reference, alternatives=[other]),
        tips=create_tip_writer("plain"),
        framing=FramingMonitor(FramingOptions(views=reference.spec.views, gravity=reference.gravity)),
        max_side=640,
    )


def test_the_live_pipeline_reports_what_did_not_count_and_a_mix_up(references_dir: Path) -> None:
    """Frame by frame, as the inference thread feeds it: a not-counted event with its reason for each
    movement that did not count, and the mix-up as the notice of the next status."""
    from realtime.events import NotCountedEvent

    pushup, squat = load_reference(references_dir, "pushup"), load_reference(references_dir, "squat")

    def run(reference: Reference, other: Reference, poses: np.ndarray, ts: np.ndarray) -> tuple[list, Any]:
        pipeline = scoring_pipeline(reference, other)
        out = []
        for i in range(len(ts)):
            out += pipeline.score(Pose3D(poses[i], float(ts[i]), "mediapipe-world", bool(np.isfinite(poses[i]).all())))
        out += pipeline.finish("stopped by the client")
        return [item.event for item in out], pipeline

    # Push-ups about a third as deep: each one a not-counted event with its reason, then the summary.
    p = pushup.poses_3d.astype(np.float64)
    shallow = p.copy()
    for span in pushup.calibration.reps:
        shallow[span.start : span.end + 1] = p[span.start] + 0.25 * (p[span.start : span.end + 1] - p[span.start])
    events, pipeline = run(pushup, squat, shallow, pushup.timestamps_ms)
    missed = [e for e in events if isinstance(e, NotCountedEvent)]
    assert len(missed) == len(pushup.calibration.reps)
    assert all(e.as_json()["reason"].startswith("too shallow: depth") for e in missed)
    summary = next(e for e in events if isinstance(e, SummaryEvent)).as_json()
    assert summary["reps"] == 0 and summary["not_counted"] == len(summary["movements_not_counted"]) == len(missed)
    assert pipeline.notice is not None and pipeline.notice.startswith("not counted: too shallow")
    # Squats while the push-up is chosen: the user is told what it looks like.
    _, pipeline = run(pushup, squat, squat.poses_3d, squat.timestamps_ms)
    assert pipeline.notice == "this looks like a squat, not a push-up: pick Squat to count it"
    assert pipeline.summary().looks_like == "squat"


def test_the_guidance_banner_names_the_mix_up(references_dir: Path) -> None:
    """Out of the chosen exercise's position while clearly doing another: the banner says which."""
    pushup, squat = load_reference(references_dir, "pushup"), load_reference(references_dir, "squat")
    pipeline = scoring_pipeline(pushup, squat)
    for i in range(len(squat.timestamps_ms)):
        pipeline.score(Pose3D(squat.poses_3d[i], float(squat.timestamps_ms[i]), "mediapipe-world", True))
    assert pipeline.posture == "out_of_position"
    assert pipeline.message() == "this looks like a squat, not a push-up: pick Squat to count it"


class _StubStats:
    def __init__(self) -> None:
        self.latencies: list[float] = []

    def frame_processed(self, now: float, detected: bool, latency_ms: float) -> None:
        self.latencies.append(latency_ms)


class _StubSession:
    """What the loop's 2D step touches of a session: its slot, stats, events and failure."""

    def __init__(self, name: str) -> None:
        self.id = name
        self.slot: FrameSlot[Any] = FrameSlot()
        self.stats = _StubStats()
        self.failure: str | None = None
        self.events: list[Any] = []

    def emit(self, event: Any, arrival: float | None = None, kind: str = "") -> None:
        self.events.append(event)


class _MeetingBackend:
    """A 2D model that only finishes when the other session's runs at the same time (a barrier), and
    records the thread it ran on; or one that fails."""

    batched = False

    def __init__(self, barrier: threading.Barrier, fail: bool = False) -> None:
        self.barrier, self.fail, self.threads = barrier, fail, list[str]()

    def detect(self, image: Any, timestamp_ms: float, size: tuple[int, int]) -> Pose2D:
        self.threads.append(threading.current_thread().name)
        self.barrier.wait(timeout=5)
        if self.fail:
            raise RuntimeError("corrupt frame")
        return Pose2D.missing(timestamp_ms, size)


class _MeetingPipeline:
    """A session's pipeline around ``_MeetingBackend``: the frame conversion records its thread too (it
    must stay on the loop thread: PyAV frames are never converted from two threads at once)."""

    def __init__(self, barrier: threading.Barrier, fail: bool = False) -> None:
        self.backend = _MeetingBackend(barrier, fail)
        self.threads = self.backend.threads
        self.prepared_on: list[str] = []

    def prepare(self, frame: Any) -> tuple[None, tuple[int, int]]:
        self.prepared_on.append(threading.current_thread().name)
        return None, (640, 360)

    def accept(self, frame: Any, pose: Pose2D) -> tuple[Pose2D, list[Any]]:
        return pose, []

    def detect(self, frame: Any) -> tuple[Pose2D, list[Any]]:
        image, size = self.prepare(frame)
        return self.accept(frame, self.backend.detect(image, frame.timestamp_ms, size))


def test_sessions_2d_stages_run_side_by_side_on_the_pose_workers() -> None:
    """With two sessions waiting, their 2D stages run at the same time on the pool (each waits for the
    other at a barrier, which only a parallel run passes); a failing one ends its own session only; with
    one worker everything stays on the loop thread (and the barrier of one passes alone)."""
    from realtime.ingest import IncomingFrame
    from realtime.loop import InferenceLoop, _Served

    loop = InferenceLoop(WorldLandmarkLifter(), pose_workers=2)
    loop.start()
    try:
        barrier = threading.Barrier(2)
        sessions = [_StubSession("a"), _StubSession("b")]
        pipelines = [_MeetingPipeline(barrier), _MeetingPipeline(barrier, fail=True)]
        served = [_Served(s, p) for s, p in zip(sessions, pipelines, strict=True)]  # type: ignore[arg-type]
        failed: list[str] = []
        loop._fail = lambda item, reason: failed.append(f"{item.session.id}: {reason}")  # type: ignore[method-assign]
        for i, session in enumerate(sessions):
            session.slot.put(IncomingFrame(None, 1000.0 + i, 0.0, 0))
        assert loop._process(served) == 1  # type: ignore[arg-type]
        assert all(p.threads[0].startswith("pose2d") for p in pipelines)
        assert all(p.prepared_on == [threading.current_thread().name] for p in pipelines)  # not on the pool
        assert failed == ["b: 2D pose estimation failed: corrupt frame"]
        assert len(sessions[0].events) == 1 and sessions[1].events == []
    finally:
        loop.stop()
    alone = InferenceLoop(WorldLandmarkLifter(), pose_workers=1)
    single = _MeetingPipeline(threading.Barrier(1))
    session = _StubSession("c")
    session.slot.put(IncomingFrame(None, 5.0, 0.0, 0))
    assert alone._process([_Served(session, single)]) == 1  # type: ignore[arg-type, list-item]
    assert single.threads == [threading.current_thread().name]
    with pytest.raises(ValueError, match="pose_workers must be >= 1"):
        InferenceLoop(WorldLandmarkLifter(), pose_workers=0)


class _MeetingLifter:
    """A lifter (for the loop: ``lift_windows`` and ``overlapped``) whose first call only finishes when the
    next frame's 2D model runs at the same time (the barrier); records the threads it ran on."""

    overlapped = True

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier, self.threads, self.calls = barrier, list[str](), 0

    def lift_windows(self, windows: list[float]) -> list[Pose3D]:
        self.threads.append(threading.current_thread().name)
        self.calls += 1
        if self.calls == 1:
            self.barrier.wait(timeout=5)
        return [Pose3D.missing(timestamp, "meeting") for timestamp in windows]


class _OrderPipeline:
    """A session's pipeline whose 2D model meets the lifter at the barrier on the second frame; every
    frame makes one window (its timestamp); ``score`` records the order poses reach it."""

    reps = 0

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier, self.scored, self.frames = barrier, list[float](), 0
        self.backend = SimpleNamespace(batched=False)

    def detect(self, frame: Any) -> tuple[Pose2D, list[float]]:
        self.frames += 1
        if self.frames == 2:
            self.barrier.wait(timeout=5)
        return Pose2D.missing(frame.timestamp_ms, (640, 360)), [frame.timestamp_ms]

    def score(self, pose: Pose3D) -> list[Any]:
        self.scored.append(pose.timestamp_ms)
        return []


def test_a_network_lifter_runs_beside_the_next_frames_2d_and_scores_in_order() -> None:
    """With a lifter that runs a network (``overlapped``), frame 1's windows are lifted on the "lift"
    thread while frame 2 goes through its 2D model (they meet at a barrier, which a run in series never
    passes), and the 3D poses reach the scoring core in frame order; without it (the world-landmark
    lifter's case) the lift runs on the loop thread, after the 2D stage."""
    from concurrent.futures import ThreadPoolExecutor

    from realtime.ingest import IncomingFrame
    from realtime.loop import InferenceLoop, _Served

    session = _StubSession("a")
    session.send = lambda item: session.events.append(item.event)  # type: ignore[attr-defined]
    barrier = threading.Barrier(2)
    lifter, pipeline = _MeetingLifter(barrier), _OrderPipeline(barrier)
    loop = InferenceLoop(lifter, pose_workers=1)  # type: ignore[arg-type]
    assert loop.overlap_lift
    loop._lift_pool = ThreadPoolExecutor(1, thread_name_prefix="lift")  # what start() makes (no loop thread here)
    served = [_Served(session, pipeline)]  # type: ignore[arg-type]
    try:
        for timestamp in (1.0, 2.0, 3.0):
            session.slot.put(IncomingFrame(None, timestamp, 0.0, int(timestamp)))
            assert loop._process(served) == 1  # type: ignore[arg-type]
            assert pipeline.scored == [1.0, 2.0][: int(timestamp) - 1]  # a step behind the 2D stage
        loop._collect()
    finally:
        loop._lift_pool.shutdown()
    assert pipeline.scored == [1.0, 2.0, 3.0] and session.failure is None
    assert lifter.threads and all(name.startswith("lift") for name in lifter.threads)
    assert [e.type for e in session.events if e.type == "pose3d"] == ["pose3d"] * 3
    assert sorted(loop.batch_sizes.items()) == [(1, 3)] and len(loop.stage_ms["lift"]) == 3

    serial_lifter, serial_pipeline = _MeetingLifter(threading.Barrier(1)), _OrderPipeline(threading.Barrier(1))
    serial = InferenceLoop(serial_lifter, pose_workers=1, overlap_lift=False)  # type: ignore[arg-type]
    second = _StubSession("b")
    second.send = lambda item: second.events.append(item.event)  # type: ignore[attr-defined]
    for timestamp in (1.0, 2.0):
        second.slot.put(IncomingFrame(None, timestamp, 0.0, int(timestamp)))
        serial._process([_Served(second, serial_pipeline)])  # type: ignore[arg-type, list-item]
        assert serial_pipeline.scored[-1] == timestamp  # scored in the same step
    assert serial_lifter.threads == [threading.current_thread().name] * 2


def test_coach_bench_is_the_latency_benchmark(capfd: pytest.CaptureFixture[str]) -> None:
    """``coach bench`` runs benchmarks/latency.py with every option handed over (its own --help and
    checks, its exit code), while other commands still refuse options they do not know."""
    from server.cli import main

    assert main(["bench", "--help"]) == 0 and "--sessions" in capfd.readouterr().out
    assert main(["bench", "--sessions", "0"]) == 2
    assert "--sessions, --fps and --seconds must be positive" in capfd.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        main(["checkpoints", "--sessions", "2"])
    assert unknown.value.code == 2 and "unrecognized arguments: --sessions 2" in capfd.readouterr().err

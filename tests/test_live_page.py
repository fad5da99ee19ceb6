"""The live coaching page (web_client/index.html, app.js, live-state.js, speech.js) and what it is fed:
the ``pose3d`` event of a live session, the page's state machine driven with an injected clock, and
whole sets in headless Chromium at a desktop and a phone width (3D view, voice, Stop at any moment,
layout, accessibility). One app and one browser serve every browser test of this module."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lifting.lifter import WorldLandmarkLifter
from lifting.pose2d import MediaPipeBackend
from lifting.types import Pose3D
from realtime.events import Pose3DEvent
from realtime.manager import LiveOptions, SessionManager
from scoring.reference import Reference, load_reference
from tests.test_realtime import ClipTrack, _camera_frames, _drain, _tips


@pytest.fixture(scope="module")
def pushup(references_dir: Path) -> Reference:
    return load_reference(references_dir, "pushup")


def test_a_pose3d_event_is_the_lifted_pose_in_millimetres() -> None:
    joints = np.arange(51, dtype=np.float32).reshape(17, 3) / 1234.5678
    event = Pose3DEvent.of(Pose3D(joints, 1000.04, "test")).as_json()
    assert set(event) == {"type", "t", "joints"} and event["type"] == "pose3d" and event["t"] == 1000.0
    assert len(event["joints"]) == 17 and all(len(j) == 3 for j in event["joints"])
    assert np.abs(np.array(event["joints"]) - joints).max() <= 0.0005  # rounded to the millimetre
    assert all(round(v * 1000) == pytest.approx(v * 1000, abs=1e-6) for j in event["joints"] for v in j)
    assert Pose3DEvent.of(Pose3D.missing(5.0, "test")).as_json()["joints"] is None
    broken = joints.copy()
    broken[4, 1] = np.nan  # a lifter's NaN is never sent as a number
    assert Pose3DEvent.of(Pose3D(broken, 5.0, "test")).as_json()["joints"] is None


@pytest.mark.slow
def test_a_live_session_sends_every_lifted_pose(media: Path, pushup: Reference) -> None:
    """Each processed frame's lifted pose goes out once as a ``pose3d``, after that frame's ``pose``, with
    17 root-relative joints in metres that make a human-sized skeleton; about half a kilobyte each."""
    frames = _camera_frames(media / "pushup_side_nasm.mp4", 45)

    async def run() -> list[dict[str, Any]]:
        manager = SessionManager(LiveOptions(), WorldLandmarkLifter(), MediaPipeBackend, lambda name: pushup, _tips())
        async with manager:
            session = await manager.create("pushup", "plain")
            drain = asyncio.create_task(_drain(session))
            manager.offer_received(session)
            manager.attach_track(session, ClipTrack(frames, session, paced=True))
            return await asyncio.wait_for(drain, 60)

    events = asyncio.run(run())
    poses = [e for e in events if e["type"] == "pose"]
    lifted = [e for e in events if e["type"] == "pose3d"]
    assert len(poses) == len(frames)
    assert [e["t"] for e in lifted] == [e["t"] for e in poses]  # one each, in order
    order = [(e["type"], e["t"]) for e in events if e["type"] in ("pose", "pose3d")]
    assert all(order.index(("pose", t)) < order.index(("pose3d", t)) for _, t in order if _ == "pose3d")
    skeleton = next(e for e in events if e["type"] == "status")["skeleton"]
    seen = [e for e, p in zip(lifted, poses, strict=True) if p["detected"]]
    assert len(seen) > 0.9 * len(frames)
    assert all(e["joints"] is None for e, p in zip(lifted, poses, strict=True) if not p["detected"])
    for event in seen:
        joints = np.array(event["joints"])
        assert joints.shape == (17, 3) and np.isfinite(joints).all()
        assert np.abs(joints[0]).max() <= 0.002  # root-relative: the pelvis at the origin
        bones = [np.linalg.norm(joints[a] - joints[b]) for a, b in skeleton["bones"]]
        assert min(bones) > 0.03 and max(bones) < 0.8, bones  # metres, an adult's bones
        height = joints[:, 1].max() - joints[:, 1].min()
        assert 0.2 < height < 2.2
    size = np.mean([len(json.dumps(e)) for e in seen])
    print(f"pose3d: {size:.0f} bytes of JSON per event")
    assert size < 700, f"a pose3d event is {size:.0f} bytes of JSON"

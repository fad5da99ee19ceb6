"""The batch pose pipeline and `coach poses` on real clips (MediaPipe on the CPU, a few seconds each)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lifting.joints import H36M, Extra
from lifting.lifter import WorldLandmarkLifter
from lifting.pipeline import PosePipeline
from lifting.pose2d import MediaPipeBackend, MediaPipeOptions, create_backend
from lifting.track import PoseTrack
from lifting.video import VideoReader
from server.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def side_npz(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("poses") / "side.npz"
    assert main(["poses", str(media / "pushup_side_nasm.mp4"), "-o", str(out), "--json"]) == 0
    return out


def test_side_clip_has_a_person_in_95_percent_and_full_3d(side_npz: Path, labels: dict) -> None:
    track = PoseTrack.load_npz(side_npz)
    assert track.frames == labels["pushup_side_nasm.mp4"]["frames"] == 325
    assert track.detected_fraction >= 0.95
    assert track.poses_3d.shape == (325, 17, 3) and track.poses_3d.dtype == np.float32
    assert track.keypoints_2d.shape == (325, 17, 2) and track.scores.shape == (325, 17)
    assert np.all(np.diff(track.timestamps_ms) > 0)
    assert (track.backend, track.lifter) == ("mediapipe", "mediapipe-world")
    assert track.image_size == (1920, 1080)
    found = track.detected
    np.testing.assert_allclose(track.poses_3d[found, H36M.PELVIS], 0.0, atol=1e-6)
    # Metric and plausible: a thigh (hip -> knee) is 0.3 to 0.6 m long.
    thigh = np.linalg.norm(track.poses_3d[found, H36M.L_KNEE] - track.poses_3d[found, H36M.L_HIP], axis=-1)
    assert 0.3 < np.median(thigh) < 0.6
    # Keypoints are in source pixels even though inference ran on a 640-pixel frame.
    assert np.nanmax(track.keypoints_2d[..., 0]) > 640
    # The feet and hands travel beside the skeleton, in the same metric frame.
    assert track.extras_3d is not None and track.extras_3d.shape == (325, 6, 3)
    assert track.extra_scores is not None and track.extra_scores.shape == (325, 6)
    assert np.isfinite(track.extras_3d[found]).all() and np.isnan(track.extras_3d[~found]).all()
    heel_to_ankle = np.linalg.norm(track.extras_3d[found, Extra.L_HEEL] - track.poses_3d[found, H36M.L_ANKLE], axis=-1)
    assert 0.02 < np.median(heel_to_ankle) < 0.15  # a heel sits a few centimetres from its ankle
    # ... and in the picture, in source pixels like the skeleton's keypoints: a heel sits near its ankle
    assert track.extras_2d is not None and track.extras_2d.shape == (325, 6, 2)
    assert np.isfinite(track.extras_2d[found]).all() and np.isnan(track.extras_2d[~found]).all()
    shin = np.linalg.norm(track.keypoints_2d[found, H36M.L_KNEE] - track.keypoints_2d[found, H36M.L_ANKLE], axis=-1)
    heel_px = np.linalg.norm(track.extras_2d[found, Extra.L_HEEL] - track.keypoints_2d[found, H36M.L_ANKLE], axis=-1)
    assert np.median(heel_px) < 0.4 * np.median(shin)


def test_the_cli_writes_every_field(side_npz: Path) -> None:
    with np.load(side_npz) as data:
        assert set(data.files) >= {
            "extras_3d",
            "extras_2d",
            "extra_scores",
            "keypoints_2d",
            "scores",
            "poses_3d",
            "timestamps_ms",
            "detected",
            "backend",
            "lifter",
        }
        assert str(data["backend"]) == "mediapipe" and str(data["lifter"]) == "mediapipe-world"


def test_portrait_phone_clip_comes_out_upright(media: Path, rotated_phone_clip: Path) -> None:
    with MediaPipeBackend() as backend:
        pipeline = PosePipeline(backend, WorldLandmarkLifter())
        track, _ = pipeline.run(media / "pushup_front_phone.mp4")
        turned, _ = pipeline.run(rotated_phone_clip)
    assert track.image_size == turned.image_size == (360, 640)
    assert track.detected_fraction == 1.0
    # Upright: the head is above the pelvis in the image in (nearly) every frame.
    head_above = track.keypoints_2d[:, H36M.HEAD, 1] < track.keypoints_2d[:, H36M.PELVIS, 1]
    assert head_above.mean() > 0.95
    # The same clip stored sideways with a rotation flag gives the same skeleton.
    n = turned.frames
    err = np.linalg.norm(turned.keypoints_2d - track.keypoints_2d[:n], axis=-1)
    assert np.nanmedian(err) < 6.0  # pixels, after re-encoding


def test_live_and_batch_modes_of_the_backend_agree(media: Path) -> None:
    with VideoReader(media / "pushup_front_phone.mp4") as reader:
        frames = list(itertools.islice(reader, 40))
    assert len(frames) == 40
    with create_backend("mediapipe") as backend:
        batch = list(backend.detect_video(frames))
        backend.reset()
        live = [backend.detect(f.image, f.timestamp_ms, f.source_size) for f in frames]
        with pytest.raises(ValueError, match="timestamps must increase"):
            backend.detect(frames[0].image, frames[0].timestamp_ms)
    for b, s in zip(batch, live, strict=True):
        np.testing.assert_array_equal(b.keypoints, s.keypoints)
        assert b.timestamp_ms == s.timestamp_ms


def test_a_clip_with_nobody_is_clearly_marked(
    empty_room_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "empty.npz"
    assert main(["poses", str(empty_room_clip), "-o", str(out), "--json"]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["frames"] == 30 and summary["detected_fraction"] == 0.0
    assert any("no person" in w for w in summary["warnings"])
    assert "no person was found" in captured.err
    track = PoseTrack.load_npz(out)
    assert not track.detected.any() and np.isnan(track.poses_3d).all() and track.frames == 30


def test_bad_inputs_end_in_a_message_not_a_traceback(media: Path, tmp_path: Path) -> None:
    text = tmp_path / "holiday.mp4"
    text.write_text("not a video\n")
    data = (media / "pushup_side_nasm.mp4").read_bytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(data[:3000] + bytes(range(256)) * 40)
    cases = {text: "not a video file", corrupt: "", tmp_path / "absent.mp4": "no such file"}
    for path, expected in cases.items():
        result = subprocess.run(
            [sys.executable, "-m", "server.cli", "poses", str(path), "-o", str(tmp_path / "x.npz")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("coach: error: ") and expected in result.stderr
        assert "W0000" not in result.stderr  # the native libraries' log lines are kept off the terminal
    wrong_suffix = subprocess.run(
        [sys.executable, "-m", "server.cli", "poses", str(text), "-o", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong_suffix.returncode == 2 and ".npz" in wrong_suffix.stderr


def test_backend_options_are_validated() -> None:
    with pytest.raises(ValueError, match="model_complexity=2"):
        MediaPipeOptions(model_complexity=2)
    with pytest.raises(ValueError, match="min_detection_confidence"):
        MediaPipeOptions(min_detection_confidence=1.5)
    with pytest.raises(ValueError, match="unknown 2D backend"):
        create_backend("openpose")

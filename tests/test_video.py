"""Video input: real timestamps, rotation, and clear errors for files that are not videos."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from lifting.video import ReaderOptions, VideoError, VideoReader, probe


def test_timestamps_come_from_pts(media: Path, labels: dict) -> None:
    with VideoReader(media / "pushup_side_nasm.mp4") as reader:
        frames = list(reader)
    assert len(frames) == labels["pushup_side_nasm.mp4"]["frames"] == 325
    ts = np.array([f.timestamp_ms for f in frames])
    assert np.all(np.diff(ts) > 0)
    # 23.976 fps, time base 1/24000, first pts 1001: frame k is at (k + 1) * 1001 / 24 ms
    np.testing.assert_allclose(ts[:3], [1001 / 24, 2002 / 24, 3003 / 24])
    np.testing.assert_allclose(np.diff(ts), 1001 / 24, rtol=1e-9)
    assert frames[0].image.shape == (1080, 1920, 3) and frames[0].image.dtype == np.uint8
    assert [f.index for f in frames[:3]] == [0, 1, 2]


def test_downscale_keeps_aspect_and_reports_source_size(media: Path) -> None:
    with VideoReader(media / "squat_side.mp4", ReaderOptions(max_side=640, prefetch=4)) as reader:
        first = next(iter(reader))
    assert first.source_size == (608, 1080)
    assert first.image.shape == (640, 360, 3)


@pytest.mark.parametrize(("turn", "flag"), [("transpose=clock", 90), ("hflip,vflip", 180), ("transpose=cclock", 270)])
def test_every_rotation_flag_gives_the_upright_picture(
    media: Path, ffmpeg: str, tmp_path: Path, turn: str, flag: int
) -> None:
    """The portrait clip stored turned (as phones store them), with the display matrix that undoes the
    turn: the reader must give back the upright picture, whichever way it was turned."""
    source = media / "pushup_front_phone.mp4"
    stored, flagged = tmp_path / "stored.mp4", tmp_path / "flagged.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(source), "-frames:v", "12", "-vf", turn, "-c:v", "libx264",
         "-crf", "12", "-an", str(stored)],
        check=True,
    )  # fmt: skip
    # The tag a phone writes for a picture stored turned this way (the conftest's clip is the 270 case).
    tag = f"rotate={flag}"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(stored), "-c", "copy", "-metadata:s:v:0", tag, str(flagged)],
        check=True,
    )  # fmt: skip
    info = probe(flagged)
    assert info.rotation != 0 and (info.width, info.height) == (360, 640)
    with VideoReader(flagged) as reader:
        turned = [f.image for f in reader]
    with VideoReader(source) as reader:
        original = [f.image for f in itertools.islice(reader, len(turned))]
    assert len(turned) == len(original) == 12 and turned[6].shape == original[6].shape == (640, 360, 3)
    diff = np.abs(turned[6].astype(int) - original[6].astype(int)).mean()
    wrong = np.abs(np.rot90(turned[6], 2).astype(int) - original[6].astype(int)).mean()
    assert diff < 4 < wrong


def test_missing_empty_and_non_video_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "absent.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is a shopping list, not a video\n" * 20)
    with pytest.raises(VideoError, match="not a video file"):
        probe(text)
    with pytest.raises(VideoError, match="not a regular file"):
        probe(tmp_path)


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 8) * 0.3).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        probe(path)


def test_corrupt_and_truncated_files(media: Path, tmp_path: Path) -> None:
    data = (media / "pushup_side_nasm.mp4").read_bytes()
    head_only = tmp_path / "head.mp4"
    head_only.write_bytes(data[:2000])
    with pytest.raises(VideoError, match="not a video file"):
        probe(head_only)
    garbled = bytearray(data)
    for i in range(len(data) // 4, len(data) // 4 + 200_000, 7):
        garbled[i] ^= 0x5A
    bad = tmp_path / "garbled.mp4"
    bad.write_bytes(bytes(garbled))
    with pytest.raises(VideoError, match=r"corrupt after frame \d+"), VideoReader(bad) as reader:
        for _ in reader:
            pass
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    with VideoReader(truncated) as reader:
        count = sum(1 for _ in reader)
        warning = reader.ended_early()
    assert 0 < count < 325
    assert warning is not None and "truncated" in warning
    with VideoReader(media / "pushup_side_nasm.mp4") as reader:
        for _ in reader:
            pass
        assert reader.ended_early() is None


def test_reader_options_are_validated() -> None:
    with pytest.raises(ValueError, match="max_side"):
        ReaderOptions(max_side=4)
    with pytest.raises(ValueError, match="prefetch"):
        ReaderOptions(prefetch=-1)

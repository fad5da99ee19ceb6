"""Shared fixtures: the real clips in ../shared/media and small videos made on the fly."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
import pytest

from scoring.reference import Reference, load_reference

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"


@pytest.fixture(scope="session")
def media() -> Path:
    if not (MEDIA / "labels.json").is_file():
        pytest.fail(f"the shared clips are missing: expected {MEDIA}/labels.json (../shared/media beside the repo)")
    return MEDIA


@pytest.fixture(scope="session")
def labels(media: Path) -> dict[str, dict]:
    return {clip["file"]: clip for clip in json.loads((media / "labels.json").read_text())["clips"]}


@pytest.fixture(scope="session")
def labels_dev(media: Path) -> dict[str, dict]:
    """The labels of the development clips of other people (``media/dev``), by file name."""
    return {clip["file"]: clip for clip in json.loads((media / "dev" / "labels.json").read_text())["clips"]}


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg is not installed: run `make setup` (it installs Debian's ffmpeg)")
    return path


def write_video(path: Path, frames: np.ndarray, fps: int = 30, codec: str = "libx264") -> Path:
    """Encode (N, H, W, 3) uint8 RGB frames into a video file with PyAV."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def empty_room_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-second 320x240 clip of a textured wall: nobody in it."""
    rng = np.random.default_rng(0)
    base = rng.integers(60, 200, size=(240, 320, 3), dtype=np.uint8)
    frames = np.stack([np.roll(base, i, axis=1) for i in range(30)])
    return write_video(tmp_path_factory.mktemp("clips") / "empty_room.mp4", frames)


@pytest.fixture(scope="session")
def rotated_phone_clip(media: Path, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 frames of the portrait phone clip stored sideways (landscape) with a display
    matrix that says 'turn 90 degrees clockwise to show', as phones write them."""
    out = tmp_path_factory.mktemp("clips")
    sideways = out / "sideways.mp4"
    rotated = out / "rotated.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(media / "pushup_front_phone.mp4"), "-frames:v", "60",
         "-vf", "transpose=cclock", "-c:v", "libx264", "-crf", "12", "-an", str(sideways)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(sideways), "-c", "copy", "-metadata:s:v:0", "rotate=270",
         str(rotated)],
        check=True,
    )  # fmt: skip
    return rotated


@pytest.fixture(scope="session")
def pose_tracks(media: Path):  # type: ignore[no-untyped-def]
    """The pose track of each shared clip with the embedded default (computed once per session)."""
    from lifting.lifter import WorldLandmarkLifter
    from lifting.pipeline import PosePipeline
    from lifting.pose2d import MediaPipeBackend

    cache: dict[str, object] = {}

    def get(name: str):  # type: ignore[no-untyped-def]
        if name not in cache:
            with MediaPipeBackend() as backend:
                cache[name], _ = PosePipeline(backend, WorldLandmarkLifter()).run(media / name)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (started once, about 2 s; removed at the end)."""
    from tests.support.postgres import PostgresUnavailable, throwaway_postgres

    try:
        with throwaway_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """What a ``Store`` opens, once per engine: a new SQLite file, or a new database on the session's
    PostgreSQL server (its URL)."""
    if request.param == "sqlite":
        return tmp_path / "coach.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture(scope="session")
def references_dir() -> Path:
    return REPO / "references"


@pytest.fixture(scope="session")
def pushup(references_dir: Path) -> Reference:
    """The shipped push-up reference (read-only: tests that change one load their own)."""
    return load_reference(references_dir, "pushup")


@pytest.fixture(scope="session")
def squat(references_dir: Path) -> Reference:
    """The shipped squat reference (read-only)."""
    return load_reference(references_dir, "squat")


TINY_WORDS = [
    "keep",
    "your",
    "hips",
    "up",
    "chest",
    "down",
    "slow",
    "breathe",
    "brace",
    "core",
    "arms",
    "knees",
    "together",
    "deeper",
    "good",
    "rep",
    "score",
    "set",
    "nice",
    "push",
    "lower",
    "steady",
    "strong",
    "form",
    "again",
    "line",
    "back",
    "tall",
    "even",
    "control",
    "great",
]
"""The tiny test model's whole vocabulary (besides its special tokens and . !)."""

DRILL_SERGEANT = """
name = "Drill Sergeant"
description = "Loud and strict."
tone = "a strict drill sergeant: loud, short orders"
emoji = "never"

[phrases]
fault = ["REP {rep}! {message}! AGAIN!", "{message}, rep {rep}! MOVE!"]
praise = ["Rep {rep}: {score:.0f}. ACCEPTABLE.", "{score:.0f} on rep {rep}. CARRY ON."]
summary = ["{reps} reps, {mean_score:.0f} average. {top_fault}: {top_fault_count} times. DISMISSED.",
           "DONE: {reps} reps at {mean_score:.0f}. Fix {top_fault}."]
summary_clean = ["{reps} reps at {mean_score:.0f}, no faults. DISMISSED.", "{reps} clean reps, {mean_score:.0f}."]
summary_no_reps = ["{reps} reps? GET DOWN AND GIVE ME ONE!", "Nothing counted ({reps}). AGAIN!"]
"""
"""A persona file written by a coach, not by us (tests add it to copies of the shipped personas)."""


def with_drill_sergeant(folder: Path) -> Path:
    """``folder``: the shipped personas plus ``drill_sergeant.toml``."""
    from scoring.coach.persona import BUILTIN_DIR

    shutil.copytree(BUILTIN_DIR, folder)
    (folder / "drill_sergeant.toml").write_text(DRILL_SERGEANT, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny persona-format causal LM folder (no chat template)."""
    from tests.support.lm import build_random_lm

    return build_random_lm(tmp_path_factory.mktemp("models") / "tiny-gpt2", TINY_WORDS)


@pytest.fixture(scope="session")
def tiny_chat_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny LM with a chat template."""
    from tests.support.lm import build_random_lm

    template = (
        "{% for m in messages %}<|input|>{{ m['role'] }}: {{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<|output|>{% endif %}"
    )
    return build_random_lm(tmp_path_factory.mktemp("models") / "tiny-gpt2-chat", TINY_WORDS, chat_template=template)

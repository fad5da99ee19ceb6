"""What the ``coach`` commands share: exit codes, the one input-error type, settings from the
arguments, the progress bar and the pose track of a video."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifting.joints import H36M
    from lifting.pipeline import StageTimes
    from lifting.track import PoseTrack
    from server.settings import Settings

EXIT_OK, EXIT_NOTHING_FOUND, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """A command's arguments cannot work; the message says what to do (exit 2)."""


def input_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input or configuration (their message is for the user), not a bug.
    Imported when needed: a command that never fails never loads the model libraries for this."""
    from lifting.lifter import LifterError
    from lifting.pose2d import BackendError
    from lifting.poseformerv2 import CheckpointError
    from lifting.video import VideoError
    from scoring.coach.model import TextModelError
    from scoring.coach.persona import PersonaError
    from scoring.reference import ReferenceError
    from server.jobs.cluster import ClusterError
    from server.jobs.database import DatabaseError

    return (UsageError, VideoError, CheckpointError, LifterError, BackendError, ReferenceError, PersonaError,
            TextModelError, DatabaseError, ClusterError, ValueError)  # fmt: skip


def warn(message: str) -> None:
    print(f"coach: warning: {message}", file=sys.stderr)


_OVERRIDES = {
    # Settings field: the argparse attribute it comes from.
    "checkpoints_dir": "checkpoints_dir",
    "references_dir": "references_dir",
    "lifter": "lifter",
    "backend": "backend",
    "device": "device",
    "host": "host",
    "port": "port",
    "max_sessions": "max_sessions",
    "personas_dir": "personas_dir",
    "tips_model": "tips_model",
    "tips_prompt": "tips_prompt",
    "tips_device": "tips_device",
    "tips_budget_s": "tips_budget",
    "tips_seed": "seed",
    "tip_cooldown_s": "tip_cooldown",
    "data_dir": "data_dir",
    "auth": "auth",
    "ray_address": "ray_address",
    "ray_cpus": "ray_cpus",
    "ray_actors": "actors",
}


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: defaults, ``COACH_*`` variables, then the command's own options
    (``pydantic.ValidationError`` names a bad value)."""
    from server.settings import Settings

    overrides: dict[str, Any] = {
        field: getattr(args, name) for field, name in _OVERRIDES.items() if getattr(args, name, None) is not None
    }
    if overrides.get("tips_model") is not None:
        overrides["tips_backend"] = "transformers"
    return Settings.model_validate(overrides)


class Progress:
    """A tqdm bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str) -> None:
        self._bar: Any = None
        self._label = label
        self._enabled = sys.stderr.isatty()

    def __call__(self, done: int, expected: int) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=expected or None, desc=self._label, unit="frame", file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_pipeline(
    video: str, settings: Settings, focus: Sequence[tuple[H36M, H36M, H36M]] = ()
) -> tuple[PoseTrack, StageTimes]:
    """The pose pipeline over a video with the configured components (progress bar on a terminal);
    ``focus``: the joints whose movement tells the person exercising from others in the picture."""
    from lifting.pipeline import PosePipeline
    from server.services import make_backend, make_lifter

    lifter = make_lifter(settings)
    progress = Progress(Path(video).name)
    with make_backend(settings) as backend:
        backend.follow(focus)
        try:
            return PosePipeline(backend, lifter, max_side=settings.max_side).run(video, progress)
        finally:
            progress.close()


def track_of(video: str, settings: Settings, focus: Sequence[tuple[H36M, H36M, H36M]] = ()) -> PoseTrack:
    """The pose track of a video; input warnings (truncated file...) go to stderr."""
    track, times = run_pipeline(video, settings, focus)
    for warning in times.warnings:
        warn(warning)
    return track


def add_tip_arguments(parser: argparse.ArgumentParser, persona: bool = True) -> None:
    """The options of the coach's voice and of the optional tip model."""
    if persona:
        parser.add_argument("--persona", default="plain", help="coach voice (see `coach personas`; default plain)")
    parser.add_argument("--personas-dir", type=Path, help="folder of persona files (.toml)")
    parser.add_argument(
        "--tips-model", type=Path, help="folder of a local causal LM (transformers) that writes the tips"
    )
    parser.add_argument("--tips-prompt", choices=["auto", "chat", "persona"], help="the model's prompt format")
    parser.add_argument("--tips-device", help="torch device of the tip model: auto, cpu, cuda, cuda:N")
    parser.add_argument("--tips-budget", type=float, help="seconds a tip may take before the template is used")
    parser.add_argument("--seed", type=int, help="seed of the tips' wording (default 0)")
    parser.add_argument("--tip-cooldown", type=float, help="least seconds between two tips (default 5)")


LIFTERS = ["auto", "poseformerv2", "ours", "mediapipe-world"]
BACKENDS = ["mediapipe", "yolo-hrnet"]
"""Choices of ``--lifter``."""

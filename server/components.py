"""Builds the long-lived pipeline components from the settings (used by the CLI and the app)."""

from __future__ import annotations

from lifting.checkpoints import POSEFORMERV2_FILE, entry_config, read_manifest
from lifting.lifter import Lifter, create_lifter
from lifting.pose2d import PoseBackend, create_backend
from lifting.poseformerv2 import PoseFormerV2Config
from server.settings import Settings


def poseformerv2_config(settings: Settings) -> PoseFormerV2Config:
    """The shapes the manifest declares for the PoseFormerV2 checkpoint (official defaults otherwise)."""
    for entry in read_manifest(settings.checkpoints_dir):
        if entry.name == POSEFORMERV2_FILE:
            return entry_config(entry)
    return PoseFormerV2Config()


def make_backend(settings: Settings) -> PoseBackend:
    """The configured 2D backend."""
    return create_backend(settings.backend)


def make_lifter(settings: Settings) -> Lifter:
    """The configured lifter; ``auto`` picks PoseFormerV2 when its checkpoint is in the checkpoints folder."""
    checkpoint = settings.checkpoints_dir / POSEFORMERV2_FILE
    config = poseformerv2_config(settings) if checkpoint.is_file() else None
    return create_lifter(settings.lifter, checkpoint, config, settings.device)

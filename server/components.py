"""Builds the long-lived pipeline components from the settings (used by the CLI and the app)."""

from __future__ import annotations

from pathlib import Path

from lifting.checkpoints import POSEFORMERV2_FILE, entry_config, read_manifest
from lifting.lifter import Lifter, create_lifter
from lifting.pose2d import PoseBackend, create_backend
from lifting.poseformerv2 import PoseFormerV2Config
from scoring.persona import Persona, PersonaLibrary
from scoring.textgen import CausalLM, GenerationOptions, ModelTips, TextModelError
from scoring.tips import TipOptions, TipService
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


def tip_options(settings: Settings) -> TipOptions:
    """Cooldown, seed and time budget of the tips."""
    return TipOptions(cooldown_s=settings.tip_cooldown_s, seed=settings.tips_seed, time_budget_s=settings.tips_budget_s)


def make_tips(settings: Settings) -> tuple[TipService, ModelTips | None]:
    """The personas and, for ``tips_backend = transformers``, the language model thread (not started).

    Every model is loaded here (the default one and each persona's own), so a bad folder is one
    clear ``TextModelError`` at start-up, not a silent fallback later. ``PersonaError`` for a
    missing personas folder.
    """
    library = PersonaLibrary(settings.personas_dir)
    options = tip_options(settings)
    if settings.tips_backend == "templates":
        return TipService(library, options), None

    def persona_model(persona: Persona) -> Path | None:
        return settings.checkpoints_dir / persona.model if persona.model else None

    own = {p.id: settings.checkpoints_dir / p.model for p in library.list() if p.model}
    if settings.tips_model is None and not own:
        raise TextModelError(
            "tips_backend is transformers but no model is named: pass --tips-model FOLDER "
            '(or give personas a model = "folder" under the checkpoints folder)'
        )
    default = CausalLM(settings.tips_model, settings.tips_device, settings.tips_prompt) if settings.tips_model else None
    generation = GenerationOptions(
        device=settings.tips_device, prompt_format=settings.tips_prompt, seed=settings.tips_seed
    )
    generator = ModelTips(default, generation, persona_model)
    for persona_id, folder in own.items():
        try:
            generator.load(folder)
        except TextModelError as exc:
            raise TextModelError(f"persona {persona_id!r}: {exc}") from None
    return TipService(library, options, generator), generator

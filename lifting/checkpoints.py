"""The checkpoint manifest: which weight files the coach can use, whether they are present, and which
lifter the coach runs.

Two kinds of entries: files users put into the checkpoints folder themselves (``shipped`` false: the
official PoseFormerV2 ``27_243_45.2.bin``, HRNet, YOLOv3), and the project's own lifter checkpoint,
committed in the repository (``shipped`` true, under ``checkpoints/ours/``: ``.gitignore`` keeps only
top-level weight files out). A shipped entry must give ``size_bytes`` and ``sha256`` (checked before
every load: a different file is refused, naming it), its network ``config``, its ``licence`` and the
training ``metrics`` file beside it; it may be stored in float16 (``write_shipped``; the official-format
loader copies the values into the float32 network) and carries the accuracy ``verdict``: whether it
measured better than MediaPipe's world landmarks on ``benchmarks/accuracy.py``, with the numbers and
the commit. ``choose_lifter`` turns the ``lifter`` setting, the folder and the verdict into a choice
with its reason (shown by ``/api/health`` and ``coach checkpoints``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from lifting.poseformerv2 import CheckpointError, PoseFormerV2Config, check_state_dict, read_state_dict

MANIFEST_NAME = "manifest.json"
POSEFORMERV2_FILE = "27_243_45.2.bin"


@dataclass(frozen=True)
class ManifestEntry:
    """One expected weight file."""

    name: str
    """File name inside the checkpoints folder."""
    model: str
    """The network it holds."""
    purpose: str
    """What it is for."""
    used_by: str
    """The backend or lifter that loads it."""
    obtain: str
    """Where users obtain it."""
    size_bytes: int | None
    """Exact size when known."""
    size_note: str
    """Approximate size, in words."""
    sha256: str | None
    """Hex digest when known."""
    config: dict[str, Any] | None = None
    """Network shapes for loaders that need them (PoseFormerV2)."""
    shipped: bool = False
    """Committed in the repository (the project's own lifter checkpoint), not put there by users."""
    dtype: str | None = None
    """Storage precision of a shipped checkpoint (``float16`` or ``float32``); it runs in float32."""
    licence: str | None = None
    """Licence and attribution of a shipped checkpoint (of its training data)."""
    metrics: str | None = None
    """Training metadata JSON of a shipped checkpoint (path inside the checkpoints folder)."""
    verdict: dict[str, Any] | None = None
    """The accuracy benchmark's verdict (``Verdict``); None until measured."""


@dataclass(frozen=True)
class CheckpointStatus:
    """What was found on disk for one manifest entry."""

    entry: ManifestEntry
    """The expected file."""
    path: Path
    """Where it goes."""
    present: bool
    """Whether a file is there."""
    size_bytes: int | None
    """Its size on disk, if present."""
    problem: str | None
    """Why a present file looks wrong (size or digest mismatch), else None."""


def read_manifest(checkpoints_dir: Path) -> list[ManifestEntry]:
    """Parse ``checkpoints_dir/manifest.json``; raise CheckpointError if it is missing or malformed."""
    path = checkpoints_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: the checkpoint manifest is missing") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    names = {f.name for f in fields(ManifestEntry)}
    entries = []
    for raw in data.get("files", []):
        unknown = set(raw) - names
        if unknown:
            raise CheckpointError(f"{path}: entry {raw.get('name')!r} has unknown fields {sorted(unknown)}")
        try:
            entries.append(ManifestEntry(**raw))
        except TypeError as exc:
            raise CheckpointError(f"{path}: entry {raw.get('name')!r} is incomplete ({exc})") from None
    return entries


def entry_config(entry: ManifestEntry) -> PoseFormerV2Config:
    """The PoseFormerV2 shapes a manifest entry declares (defaults when it declares none)."""
    try:
        return PoseFormerV2Config(**(entry.config or {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"manifest entry {entry.name!r} has a bad config: {exc}") from None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_status(checkpoints_dir: Path, verify: bool = False) -> list[CheckpointStatus]:
    """Check every manifest entry against the folder; ``verify`` also compares SHA-256 where known."""
    out = []
    for entry in read_manifest(checkpoints_dir):
        path = checkpoints_dir / entry.name
        present = path.is_file()
        size = path.stat().st_size if present else None
        problem = None
        if present and entry.size_bytes is not None and size != entry.size_bytes:
            problem = f"size is {size} bytes, expected {entry.size_bytes}: an incomplete or different file"
        elif present and verify and entry.sha256 and sha256_of(path) != entry.sha256:
            problem = "SHA-256 differs from the manifest: a corrupt or different file"
        out.append(CheckpointStatus(entry, path, present, size, problem))
    return out


def verify_sha256(entry: ManifestEntry, path: Path) -> None:
    """Refuse ``path`` unless its size and SHA-256 are the manifest's (both required for shipped files)."""
    if entry.sha256 is None or entry.size_bytes is None:
        raise CheckpointError(f"manifest entry {entry.name!r} gives no sha256 and size_bytes: it cannot be checked")
    size = path.stat().st_size
    if size != entry.size_bytes:
        raise CheckpointError(
            f"{path}: {size} bytes, the manifest says {entry.size_bytes}: an incomplete or different file "
            "(restore it with `git checkout` or write the manifest entry again with `coach checkpoints --ship`)"
        )
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise CheckpointError(
            f"{path}: SHA-256 {digest} differs from the manifest's {entry.sha256}: a corrupt or different file "
            "(restore it with `git checkout` or write the manifest entry again with `coach checkpoints --ship`)"
        )


@dataclass(frozen=True)
class Verdict:
    """Whether our checkpoint measured better than MediaPipe's world landmarks on the accuracy benchmark."""

    better: bool
    """True when it did: ``lifter = auto`` then uses it."""
    summary: str
    """The deciding numbers, e.g. ``counts exact 93 % vs 98 %``."""
    commit: str
    """The commit the benchmark ran at."""
    date: str
    """When (ISO date)."""

    @classmethod
    def of(cls, entry: ManifestEntry) -> Verdict | None:
        """The entry's verdict, None when it has none; CheckpointError when it is malformed."""
        if entry.verdict is None:
            return None
        raw = entry.verdict
        kinds = {"better": bool, "summary": str, "commit": str, "date": str}
        bad = [key for key, kind in kinds.items() if not isinstance(raw.get(key), kind)]
        if bad:
            raise CheckpointError(
                f"manifest entry {entry.name!r}: its verdict needs {', '.join(bad)} "
                "(better: true/false, summary, commit and date as text)"
            )
        return cls(raw["better"], raw["summary"], raw["commit"], raw["date"])


def shipped_lifter(checkpoints_dir: Path) -> ManifestEntry | None:
    """The manifest's entry for our own lifter checkpoint (the first shipped entry), if any."""
    return next((e for e in read_manifest(checkpoints_dir) if e.shipped), None)


LIFTER_CHOICES = ("auto", "poseformerv2", "ours", "mediapipe-world")
"""Values of the ``lifter`` setting."""


@dataclass(frozen=True)
class LifterChoice:
    """Which lifter to build, from which file, and why."""

    lifter: str
    """``poseformerv2`` (the official checkpoint or ours) or ``mediapipe-world``."""
    checkpoint: Path | None
    """The PoseFormerV2 checkpoint, None for ``mediapipe-world``."""
    config: PoseFormerV2Config | None
    """Its network shapes."""
    reason: str
    """One line: the source chosen and why (``/api/health``'s ``lifter_reason``)."""


def _official_config(checkpoints_dir: Path) -> PoseFormerV2Config:
    for entry in read_manifest(checkpoints_dir):
        if entry.name == POSEFORMERV2_FILE:
            return entry_config(entry)
    return PoseFormerV2Config()


def choose_lifter(checkpoints_dir: Path, setting: str) -> LifterChoice:
    """Resolve the ``lifter`` setting against the folder and the manifest.

    ``auto``: the official checkpoint when the user put it there; else our shipped checkpoint when its
    verdict says it measured better than MediaPipe's world landmarks; else ``mediapipe-world``.
    ``ours`` asks for our checkpoint whatever its verdict. Our checkpoint's size and SHA-256 are
    checked before it is chosen (CheckpointError names the file). ``poseformerv2`` and
    ``mediapipe-world`` are passed on as asked (``create_lifter`` says what is missing).
    """
    if setting not in LIFTER_CHOICES:
        raise ValueError(f"unknown lifter {setting!r}; choose one of {list(LIFTER_CHOICES)}")
    official = checkpoints_dir / POSEFORMERV2_FILE
    if setting == "mediapipe-world":
        return LifterChoice("mediapipe-world", None, None, "mediapipe-world: asked for by the lifter setting")
    if setting == "poseformerv2" or (setting == "auto" and official.is_file()):
        why = "asked for by the lifter setting" if setting == "poseformerv2" else "it is in the checkpoints folder"
        config = _official_config(checkpoints_dir) if official.is_file() else None
        return LifterChoice("poseformerv2", official, config, f"poseformerv2: the official {POSEFORMERV2_FILE}, {why}")
    entry = shipped_lifter(checkpoints_dir)
    if entry is None:
        if setting == "ours":
            raise CheckpointError(f"{checkpoints_dir / MANIFEST_NAME}: no shipped lifter checkpoint is declared")
        return LifterChoice("mediapipe-world", None, None, "mediapipe-world: no PoseFormerV2 checkpoint found")
    path = checkpoints_dir / entry.name
    if not path.is_file():
        if setting == "ours":
            raise CheckpointError(f"{path}: our lifter checkpoint is missing (the manifest declares it)")
        return LifterChoice(
            "mediapipe-world",
            None,
            None,
            f"mediapipe-world: no PoseFormerV2 checkpoint found ({entry.name} is missing)",
        )
    verdict = Verdict.of(entry)
    if verdict is None:
        measured = "has not been measured against MediaPipe's world landmarks on the accuracy benchmark"
    else:
        measured = (
            f"measured {'better' if verdict.better else 'worse'} than MediaPipe's world landmarks on the "
            f"accuracy benchmark ({verdict.summary}; commit {verdict.commit}, {verdict.date})"
        )
    if setting == "auto" and (verdict is None or not verdict.better):
        return LifterChoice("mediapipe-world", None, None, f"mediapipe-world: our checkpoint {entry.name} {measured}")
    verify_sha256(entry, path)
    asked = ", asked for by the lifter setting" if setting == "ours" else ""
    return LifterChoice("poseformerv2", path, entry_config(entry), f"ours: {entry.name}{asked}; {measured}")


def write_shipped(source: Path, target: Path, config: PoseFormerV2Config, dtype: torch.dtype = torch.float16) -> None:
    """Copy a training checkpoint's ``model_pos`` (official layout, checked against ``config``) to
    ``target`` with floating tensors stored as ``dtype``; everything else in the source (optimiser
    state, RNG) is left out."""
    state = read_state_dict(source)
    check_state_dict(state, config)
    small = {key: (v.to(dtype) if v.is_floating_point() else v).contiguous() for key, v in state.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_pos": small}, target)

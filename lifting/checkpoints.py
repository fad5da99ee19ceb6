"""The checkpoint manifest: which weight files the coach can use and whether they are present."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lifting.poseformerv2 import CheckpointError, PoseFormerV2Config

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

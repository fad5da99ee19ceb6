"""Shipping our own PoseFormerV2 checkpoint (issue 17 item 5): float16 storage loaded strictly into the
float32 network, SHA-256 integrity, the accuracy verdict deciding ``lifter = auto``, and the reason in
``coach checkpoints`` and ``/api/health``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from lifting.checkpoints import POSEFORMERV2_FILE, choose_lifter, read_manifest, shipped_lifter
from lifting.poseformerv2 import CheckpointError, PoseFormerV2, load_poseformerv2, save_checkpoint
from lifting.training.train import PRESETS
from server.app import create_app
from server.cli import main
from server.services import make_lifter
from server.settings import PROJECT_ROOT, Settings

TINY = PRESETS["tiny"]
SHIPPED = "ours/run.bin"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A checkpoints folder with the project's manifest before anything was shipped: the entries users
    download, without the repository's own shipped checkpoint (tests/test_shipped_lifter.py checks that)."""
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    manifest = json.loads((PROJECT_ROOT / "checkpoints" / "manifest.json").read_text())
    manifest["files"] = [entry for entry in manifest["files"] if not entry.get("shipped")]
    assert manifest["files"], "the project's manifest lists no downloadable weights"
    (ckpt / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return ckpt


def _training_run(tmp_path: Path) -> tuple[Path, PoseFormerV2]:
    """A tiny checkpoint in the official layout with the metadata JSON `coach train-lifter` writes beside it."""
    torch.manual_seed(1)
    model = PoseFormerV2(TINY)
    run = tmp_path / "run.bin"
    save_checkpoint(model, run, epoch=3)
    meta = {"config": {k: getattr(TINY, k) for k in TINY.__dataclass_fields__}, "training": {"preset": "tiny"}}
    run.with_suffix(".json").write_text(json.dumps(meta))
    return run, model


def _ship(folder: Path, tmp_path: Path) -> PoseFormerV2:
    run, model = _training_run(tmp_path)
    assert main(["checkpoints", "--checkpoints-dir", str(folder), "--ship", str(run)]) == 0
    return model


def _verdict(folder: Path, verdict: str, summary: str) -> int:
    return main(["checkpoints", "--checkpoints-dir", str(folder), "--verdict", verdict, "--summary", summary])


def test_ship_stores_float16_declares_the_file_and_loads_strictly(folder: Path, tmp_path: Path) -> None:
    model = _ship(folder, tmp_path)
    path = folder / SHIPPED
    stored = torch.load(path, weights_only=True)
    assert set(stored) == {"model_pos"}  # no optimiser state or epoch
    assert {v.dtype for v in stored["model_pos"].values()} == {torch.float16}
    entry = shipped_lifter(folder)
    assert entry is not None and entry.name == SHIPPED and entry.dtype == "float16"
    assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry.size_bytes == path.stat().st_size
    assert entry.config is not None and entry.config["frames"] == TINY.frames
    assert entry.licence is not None and "CC BY-SA 3.0" in entry.licence and "HDM05" in entry.licence
    assert entry.metrics == "ours/run.json"
    metrics = json.loads((folder / entry.metrics).read_text())
    assert metrics["training"] == {"preset": "tiny"} and metrics["shipped_copy"]["file"] == SHIPPED
    assert entry.verdict is None
    # The official-format loader takes it strictly into float32: each weight is the source rounded to float16.
    loaded = load_poseformerv2(path, TINY)
    source = dict(model.named_parameters())
    for name, param in loaded.named_parameters():
        assert param.dtype == torch.float32
        assert torch.equal(param, source[name].detach().half().float()), name
    # Every other entry is kept, and shipping again replaces ours rather than adding a second.
    _ship(folder, tmp_path)
    names = [e.name for e in read_manifest(folder)]
    assert names.count(SHIPPED) == 1 and POSEFORMERV2_FILE in names and "yolov3.weights" in names


def test_auto_uses_ours_only_when_its_verdict_says_better(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    choice = choose_lifter(folder, "auto")
    assert (choice.lifter, choice.reason) == ("mediapipe-world", "mediapipe-world: no PoseFormerV2 checkpoint found")
    _ship(folder, tmp_path)
    choice = choose_lifter(folder, "auto")
    assert choice.lifter == "mediapipe-world" and "has not been measured against" in choice.reason
    ours = choose_lifter(folder, "ours")  # asked for by name: used whatever its verdict
    assert ours.lifter == "poseformerv2" and ours.checkpoint == folder / SHIPPED and ours.config == TINY

    assert _verdict(folder, "worse", "counts exact 93% vs 98%") == 0
    choice = choose_lifter(folder, "auto")
    assert choice.lifter == "mediapipe-world" and choice.checkpoint is None
    assert choice.reason.startswith(f"mediapipe-world: our checkpoint {SHIPPED} measured worse than MediaPipe's")
    assert "counts exact 93% vs 98%" in choice.reason
    verdict = shipped_lifter(folder).verdict  # type: ignore[union-attr]
    assert verdict is not None and verdict["better"] is False and len(verdict["commit"]) >= 7

    assert _verdict(folder, "better", "counts exact 98% vs 93%") == 0
    choice = choose_lifter(folder, "auto")
    assert choice.lifter == "poseformerv2" and choice.checkpoint == folder / SHIPPED and choice.config == TINY
    assert choice.reason.startswith(f"ours: {SHIPPED}; measured better") and "98% vs 93%" in choice.reason
    lifter = make_lifter(Settings(checkpoints_dir=folder, lifter="auto", device="cpu"))
    assert lifter.name == "poseformerv2" and lifter.receptive_field == TINY.frames and lifter.reason == choice.reason

    # The user's official checkpoint still comes first, as before.
    save_checkpoint(PoseFormerV2(), folder / POSEFORMERV2_FILE)
    choice = choose_lifter(folder, "auto")
    assert choice.checkpoint == folder / POSEFORMERV2_FILE and choice.reason.startswith("poseformerv2: the official")
    capsys.readouterr()


def test_a_different_file_is_refused_naming_it(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ship(folder, tmp_path)
    assert main(["checkpoints", "--checkpoints-dir", str(folder), "--verdict", "better", "--summary", "x"]) == 0
    path = folder / SHIPPED
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    path.write_bytes(bytes(data))
    for setting in ("auto", "ours"):
        with pytest.raises(CheckpointError, match=f"{path}: SHA-256 [0-9a-f]{{64}} differs from the manifest's"):
            choose_lifter(folder, setting)
    with pytest.raises(CheckpointError, match=str(path)):
        make_lifter(Settings(checkpoints_dir=folder, lifter="ours", device="cpu"))
    capsys.readouterr()
    assert main(["checkpoints", "--checkpoints-dir", str(folder), "--lifter", "auto"]) == 0
    assert f"Lifter (setting auto): cannot be chosen: {path}: SHA-256" in capsys.readouterr().out
    path.write_bytes(bytes(data[:-10]))
    with pytest.raises(CheckpointError, match=f"{path}: {len(data) - 10} bytes, the manifest says {len(data)}"):
        choose_lifter(folder, "ours")


def test_bad_manifest_entries_and_missing_files_say_what_is_wrong(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no shipped lifter checkpoint is declared"):
        choose_lifter(folder, "ours")
    _ship(folder, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][-1]["verdict"] = {"better": "yes", "summary": "s"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="its verdict needs better, commit, date"):
        choose_lifter(folder, "auto")
    (folder / SHIPPED).unlink()
    assert (
        choose_lifter(folder, "auto").reason
        == f"mediapipe-world: no PoseFormerV2 checkpoint found ({SHIPPED} is missing)"
    )
    with pytest.raises(CheckpointError, match="our lifter checkpoint is missing"):
        choose_lifter(folder, "ours")
    with pytest.raises(ValueError, match="unknown lifter 'best'"):
        choose_lifter(folder, "best")
    assert main(["checkpoints", "--checkpoints-dir", str(folder), "--summary", "x"]) == 2


def test_the_reason_is_in_coach_checkpoints_and_api_health(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ship(folder, tmp_path)
    assert _verdict(folder, "better", "counts exact 98% vs 93%") == 0
    capsys.readouterr()
    assert main(["checkpoints", "--checkpoints-dir", str(folder), "--lifter", "auto"]) == 0
    out = capsys.readouterr().out
    assert f"[present] {SHIPPED}" in out and f"Lifter (setting auto): ours: {SHIPPED}; measured better" in out
    assert main(["checkpoints", "--checkpoints-dir", str(folder), "--lifter", "mediapipe-world", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["lifter_reason"] == "mediapipe-world: asked for by the lifter setting"
    assert [f["name"] for f in listed["files"] if f["shipped"]] == [SHIPPED]

    settings = Settings.model_validate(
        {
            "allowed_hosts": ["testserver"],
            "checkpoints_dir": folder,
            "data_dir": tmp_path / "data",
            "device": "cpu",
            "lifter": "auto",
        }
    )
    with TestClient(create_app(settings)) as client:
        health = client.get("/api/health").json()
    assert health["lifter"] == "poseformerv2" and health["receptive_field"] == TINY.frames
    assert health["lifter_reason"].startswith(f"ours: {SHIPPED}; measured better than MediaPipe's world landmarks")
    assert "counts exact 98% vs 93%" in health["lifter_reason"]

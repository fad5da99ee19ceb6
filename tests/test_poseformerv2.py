"""PoseFormerV2: official checkpoint format, strict loading, DCT matrices, parameter count."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lifting.poseformerv2 import (
    CheckpointError,
    PoseFormerV2,
    PoseFormerV2Config,
    count_parameters,
    dct_matrix,
    idct_matrix,
    load_poseformerv2,
    official_state_dict,
    save_checkpoint,
)

TINY = PoseFormerV2Config(frames=81, kept_frames=9, kept_coeffs=7, embed_dim_ratio=8, depth=2, num_heads=2)


def randomized(config: PoseFormerV2Config, seed: int = 0) -> PoseFormerV2:
    """A model whose every parameter is random (LayerNorm included), so a lost tensor shows."""
    torch.manual_seed(seed)
    model = PoseFormerV2(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.2)
    return model


def official_like_extras() -> dict:
    """What the official training script stores beside model_pos."""
    return {
        "epoch": 12,
        "lr": 3.2e-4,
        "random_state": np.random.RandomState(1234),
        "optimizer": {"state": {}, "param_groups": [{"lr": 3.2e-4, "params": [0, 1]}]},
    }


def test_parameter_count_of_the_official_model_is_14_381_899() -> None:
    model = PoseFormerV2(PoseFormerV2Config())
    assert count_parameters(model) == 14_381_899
    state = official_state_dict(model)
    assert len(state) == 139
    assert all(key.startswith("module.") for key in state)
    assert tuple(state["module.Freq_embedding.weight"].shape) == (544, 34)
    assert tuple(state["module.weighted_mean_.weight"].shape) == (1, 27, 1)
    assert tuple(state["module.blocks.3.mlp2.fc2.weight"].shape) == (544, 1088)
    assert tuple(state["module.head.1.weight"].shape) == (51, 1088)


def test_dct_matrices_match_the_dct_ii_definition() -> None:
    for n in (1, 5, 27, 243):
        d = dct_matrix(n)
        expected = np.array([[2 * math.cos(math.pi * k * (2 * i + 1) / (2 * n)) for i in range(n)] for k in range(n)])
        np.testing.assert_allclose(d, expected, atol=1e-12)
        np.testing.assert_allclose(idct_matrix(n) @ d, np.eye(n), atol=1e-10)
    # By hand for n = 2: X0 = 2(x0 + x1), X1 = 2(x0 cos(pi/4) + x1 cos(3pi/4)) = sqrt(2)(x0 - x1)
    x = np.array([3.0, 1.0])
    np.testing.assert_allclose(dct_matrix(2) @ x, [8.0, math.sqrt(2) * 2])
    # The inverse formula of the spec, written out: x[n] = X0/(2N) + (1/N) sum_k>=1 X[k] cos(...)
    big_x = np.array([1.0, -2.0, 0.5])
    by_formula = [
        big_x[0] / 6 + sum(big_x[k] * math.cos(math.pi * k * (2 * i + 1) / 6) for k in (1, 2)) / 3 for i in range(3)
    ]
    np.testing.assert_allclose(idct_matrix(3) @ big_x, by_formula, atol=1e-12)


def test_round_trip_in_the_official_layout_gives_identical_outputs(tmp_path: Path) -> None:
    model = randomized(TINY)
    path = tmp_path / "tiny.bin"
    save_checkpoint(model, path, **official_like_extras())
    raw = torch.load(path, map_location="cpu", weights_only=False)
    assert set(raw) == {"epoch", "lr", "random_state", "optimizer", "model_pos"}
    assert all(key.startswith("module.") for key in raw["model_pos"])

    loaded = load_poseformerv2(path, TINY)
    assert not loaded.training
    x = torch.randn(3, TINY.frames, 17, 2)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    assert model(x).shape == (3, 1, 17, 3)


def test_output_depends_only_on_kept_frames_and_low_frequencies() -> None:
    """The time branch sees the F centre frames; the rest enters through K DCT coefficients only."""
    model = randomized(TINY)
    x = torch.randn(1, TINY.frames, 17, 2)
    changed = x.clone()
    changed[:, 0] += 1.0  # an edge frame moves: only the DCT branch can see it
    with torch.no_grad():
        base, moved = model(x), model(changed)
    assert not torch.allclose(base, moved)
    # A change orthogonal to the first K DCT basis vectors, outside the kept frames, is invisible.
    basis = torch.from_numpy(dct_matrix(TINY.frames)[: TINY.kept_coeffs]).float()
    centre = TINY.pad
    mask = torch.ones(TINY.frames)
    mask[centre - TINY.kept_frames // 2 : centre + TINY.kept_frames // 2 + 1] = 0
    v = torch.randn(TINY.frames) * mask
    # project v off the span of the DCT rows restricted to the masked support
    rows = basis * mask
    q, _ = torch.linalg.qr(rows.T.double())
    v = (v.double() - q @ (q.T @ v.double())).float() * mask
    hidden = x.clone()
    hidden[0, :, 3, 0] += v * 5
    with torch.no_grad():
        torch.testing.assert_close(model(hidden), base, atol=2e-4, rtol=1e-4)


@pytest.fixture()
def tiny_checkpoint_state() -> dict[str, torch.Tensor]:
    return official_state_dict(randomized(TINY))


def write(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save({**official_like_extras(), "model_pos": state}, path)
    return path


def test_missing_key_is_refused_naming_the_key(tmp_path: Path, tiny_checkpoint_state: dict) -> None:
    del tiny_checkpoint_state["module.blocks.1.norm3.bias"]
    path = write(tmp_path / "missing.bin", tiny_checkpoint_state)
    with pytest.raises(CheckpointError, match=r"missing key module\.blocks\.1\.norm3\.bias"):
        load_poseformerv2(path, TINY)


def test_misshapen_key_is_refused_naming_the_key_and_shapes(tmp_path: Path, tiny_checkpoint_state: dict) -> None:
    tiny_checkpoint_state["module.Temporal_pos_embed"] = torch.zeros(1, 8, 136)
    path = write(tmp_path / "bad_shape.bin", tiny_checkpoint_state)
    with pytest.raises(
        CheckpointError, match=r"module\.Temporal_pos_embed has shape \[1, 8, 136\], expected \[1, 9, 136\]"
    ):
        load_poseformerv2(path, TINY)


def test_unexpected_key_and_wrong_config_are_refused(tmp_path: Path, tiny_checkpoint_state: dict) -> None:
    tiny_checkpoint_state["module.extra.weight"] = torch.zeros(3)
    path = write(tmp_path / "extra.bin", tiny_checkpoint_state)
    with pytest.raises(CheckpointError, match=r"unexpected key module\.extra\.weight"):
        load_poseformerv2(path, TINY)
    del tiny_checkpoint_state["module.extra.weight"]
    path = write(tmp_path / "tiny.bin", tiny_checkpoint_state)
    with pytest.raises(CheckpointError, match=r"Spatial_pos_embed has shape \[1, 17, 8\], expected \[1, 17, 32\]"):
        load_poseformerv2(path)  # the official config does not fit a tiny checkpoint


def test_files_that_are_not_official_checkpoints_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.bin"
    text.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_poseformerv2(text, TINY)
    bare = tmp_path / "bare.bin"
    torch.save(official_state_dict(randomized(TINY)), bare)
    with pytest.raises(CheckpointError, match="'model_pos'"):
        load_poseformerv2(bare, TINY)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_poseformerv2(tmp_path / "absent.bin", TINY)


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    path = tmp_path / "evil.bin"
    torch.save({"model_pos": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_poseformerv2(path, TINY)


def test_config_validation_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="frames"):
        PoseFormerV2Config(frames=242)
    with pytest.raises(ValueError, match="kept_frames"):
        PoseFormerV2Config(kept_frames=28)
    with pytest.raises(ValueError, match="divisible"):
        PoseFormerV2Config(embed_dim_ratio=30, num_heads=8)

"""HRNet-W48: official key names and shapes, strict loading, the crop, decoding and the flip test.

Every expected number below comes from ../shared/specs/hrnet_w48.md or is worked out by hand in the
comments; none is computed by the code under test.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from lifting.hrnet import (
    COCO_FLIP_PAIRS,
    CropBatch,
    HighResolutionModule,
    HRNet,
    HRNetConfig,
    box_to_center_scale,
    crop_people,
    crop_transform,
    decode_heatmaps,
    estimate_batch,
    estimate_poses,
    load_hrnet,
    normalize_crops,
    save_hrnet,
    unflip_heatmaps,
)
from lifting.joints import COCO
from lifting.poseformerv2 import CheckpointError, count_parameters

torch.set_num_threads(1)

TINY = HRNetConfig(width=8, stem_channels=8)
"""Same modules and keys as W48, narrow enough for fast forward passes at 384x288."""


def randomized(config: HRNetConfig = TINY, seed: int = 0) -> HRNet:
    """A model whose every tensor is random (BN statistics included), so a lost tensor shows."""
    torch.manual_seed(seed)
    model = HRNet(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
        model.final_layer.bias.normal_(0.0, 0.1)
    return model


@pytest.fixture(scope="module")
def tiny_model() -> HRNet:
    return randomized()


# ------------------------------------------------------------------------------------------ structure


def test_w48_state_dict_matches_the_spec() -> None:
    with torch.device("meta"):
        model = HRNet()
    state = model.state_dict()
    assert count_parameters(model) == 63_595_745
    assert len(state) == 1754
    assert len([k for k in state if not k.endswith(".num_batches_tracked")]) == 1462
    assert len([k for k in state if k.endswith(".running_var")]) == 292
    assert sum(v.numel() for k, v in state.items() if ".running_" in k) == 79_584
    assert not any(k.startswith("module.") for k in state)
    shapes = {
        "conv1.weight": (64, 3, 3, 3),
        "conv2.weight": (64, 64, 3, 3),
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.1.conv1.weight": (64, 256, 1, 1),
        "layer1.3.conv3.weight": (256, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.0.downsample.1.running_var": (256,),
        "transition1.0.0.weight": (48, 256, 3, 3),
        "transition1.1.0.0.weight": (96, 256, 3, 3),
        "transition1.1.0.1.bias": (96,),
        "transition2.2.0.0.weight": (192, 96, 3, 3),
        "transition3.3.0.0.weight": (384, 192, 3, 3),
        "stage2.0.branches.1.3.conv2.weight": (96, 96, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (48, 96, 1, 1),
        "stage2.0.fuse_layers.1.0.0.0.weight": (96, 48, 3, 3),
        "stage3.3.fuse_layers.2.0.0.0.weight": (48, 48, 3, 3),
        "stage3.3.fuse_layers.2.0.1.0.weight": (192, 48, 3, 3),
        "stage3.0.fuse_layers.1.2.0.weight": (96, 192, 1, 1),
        "stage4.1.branches.3.0.conv1.weight": (384, 384, 3, 3),
        "stage4.0.fuse_layers.3.0.2.0.weight": (384, 48, 3, 3),
        "stage4.0.fuse_layers.3.1.1.0.weight": (384, 96, 3, 3),
        "stage4.1.fuse_layers.2.3.0.weight": (192, 384, 1, 1),
        "stage4.2.fuse_layers.0.3.0.weight": (48, 384, 1, 1),
        "final_layer.weight": (17, 48, 1, 1),
        "final_layer.bias": (17,),
        "bn1.num_batches_tracked": (),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    # No keys for identity slots; the last module fuses into branch 0 only; no BasicBlock downsample.
    assert not any(k.startswith(("transition2.0", "transition2.1", "transition3.0")) for k in state)
    assert not any(re.match(r"stage\d\.\d\.fuse_layers\.(\d)\.\1\.", k) for k in state)
    assert not any(k.startswith("stage4.2.fuse_layers.1") for k in state)
    assert "stage4.1.fuse_layers.3.2.0.0.weight" in state
    assert not any("branches" in k and "downsample" in k for k in state)
    per_prefix = {
        "conv1.": 1_728,
        "bn1.": 128,
        "conv2.": 36_864,
        "bn2.": 128,
        "layer1.": 286_208,
        "transition1.": 332_064,
        "stage2.0.": 878_112,
        "transition2.": 166_272,
        "stage3.0.": 3_833_760,
        "stage3.3.": 3_833_760,
        "transition3.": 664_320,
        "stage4.0.": 15_874_752,
        "stage4.1.": 15_874_752,
        "stage4.2.": 14_144_544,
        "final_layer.": 833,
    }
    params = dict(model.named_parameters())
    for prefix, count in per_prefix.items():
        assert sum(p.numel() for k, p in params.items() if k.startswith(prefix)) == count, prefix
    # Top-level order, then inside a module: all branches before the fuse layers.
    tops = list(dict.fromkeys(k.split(".")[0] for k in state))
    assert tops == [
        "conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2",
        "transition2", "stage3", "transition3", "stage4", "final_layer",
    ]  # fmt: skip
    module_keys = [k for k in state if k.startswith("stage3.1.")]
    assert module_keys[0] == "stage3.1.branches.0.0.conv1.weight"
    last_branch = max(i for i, k in enumerate(module_keys) if ".branches." in k)
    first_fuse = min(i for i, k in enumerate(module_keys) if ".fuse_layers." in k)
    assert last_branch < first_fuse


def test_tiny_forward_shape_and_input_check(tiny_model: HRNet) -> None:
    with torch.inference_mode():
        out = tiny_model(torch.randn(2, 3, 384, 288))
    assert out.shape == (2, 17, 96, 72) and out.dtype == torch.float32
    with pytest.raises(ValueError, match="384, 288"):
        tiny_model(torch.randn(1, 3, 288, 384))


def test_every_parameter_reaches_the_output() -> None:
    """No branch, transition or fuse path is built but left out of the forward pass."""
    model = randomized(seed=1)
    model(torch.randn(1, 3, 384, 288)).square().sum().backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unused == []


def test_narrow_config_keeps_the_official_keys() -> None:
    with torch.device("meta"):
        official, tiny = HRNet().state_dict(), HRNet(TINY).state_dict()
    assert list(official) == list(tiny)
    assert tuple(tiny["transition3.3.0.0.weight"].shape) == (64, 32, 3, 3)


def test_config_validation_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="input_width"):
        HRNetConfig(input_width=300)
    with pytest.raises(ValueError, match="stage_modules"):
        HRNetConfig(stage_modules=(1, 0, 3))
    with pytest.raises(ValueError, match="width=32"):
        HRNetConfig(width=32, stem_channels=8)
    assert (TINY.heatmap_width, TINY.heatmap_height) == (72, 96)


def test_fusion_upsamples_nearest_and_has_no_relu_after_the_last_downsampling_step() -> None:
    # Two branches (2 and 4 channels). Zero every BasicBlock conv so each branch passes its (non-negative)
    # input through; make every BN an identity (var 1 - eps) unless stated.
    module = HighResolutionModule((2, 4), blocks=1, all_outputs=True).eval()
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.Conv2d):
                sub.weight.zero_()
            if isinstance(sub, torch.nn.BatchNorm2d):
                assert sub.running_var is not None
                sub.running_var.fill_(1.0 - sub.eps)
        up_conv = module.fuse_layers[0][1][0]  # f_01: 1x1 conv 4 -> 2, BN, upsample
        up_conv.weight[0, 0, 0, 0] = 1.0  # output channel 0 = input channel 0
        down_bn = module.fuse_layers[1][0][0][1]  # f_10: one stride-2 conv3x3 (zero) then BN (bias -5), no ReLU
        down_bn.bias.fill_(-5.0)
    x0 = torch.zeros(1, 2, 4, 4)
    x1 = torch.zeros(1, 4, 2, 2)
    x1[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x1[0, 1] = 7.0
    with torch.no_grad():
        y0, y1 = module([x0, x1])
    # Nearest x2: each value fills a 2x2 block (bilinear would blend them).
    expected = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    torch.testing.assert_close(y0[0, 0], expected)
    torch.testing.assert_close(y0[0, 1], torch.zeros(4, 4))
    # y1 = ReLU(x1 - 5): 0 where x1 <= 5, 2 for the channel of 7s (a ReLU before the sum would give x1).
    torch.testing.assert_close(y1[0, 0], torch.zeros(2, 2))
    torch.testing.assert_close(y1[0, 1], torch.full((2, 2), 2.0))


# ------------------------------------------------------------------------------------------ checkpoints


def test_round_trip_in_the_official_layout_gives_identical_outputs(tmp_path: Path, tiny_model: HRNet) -> None:
    path = tmp_path / "tiny.pth"
    save_hrnet(tiny_model, path)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(raw, OrderedDict)  # a plain state_dict, no wrapper dict
    assert list(raw)[:2] == ["conv1.weight", "bn1.weight"] and "final_layer.bias" in raw
    assert all(isinstance(v, torch.Tensor) for v in raw.values())

    loaded = load_hrnet(path, TINY)
    assert not loaded.training
    x = torch.randn(2, 3, 384, 288)
    with torch.inference_mode():
        np.testing.assert_array_equal(tiny_model(x).numpy(), loaded(x).numpy())

    # num_batches_tracked may be absent from the file (spec section 1, UNSURE): still loads, same outputs.
    bare = tmp_path / "no_nbt.pth"
    torch.save(OrderedDict((k, v) for k, v in raw.items() if not k.endswith("num_batches_tracked")), bare)
    with torch.inference_mode():
        np.testing.assert_array_equal(tiny_model(x).numpy(), load_hrnet(bare, TINY)(x).numpy())


@pytest.fixture()
def tiny_state(tiny_model: HRNet) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((k, v.clone()) for k, v in tiny_model.state_dict().items())


def refused(path: Path, pattern: str, config: HRNetConfig = TINY) -> None:
    """load_hrnet must raise CheckpointError naming ``path`` and matching ``pattern``."""
    with pytest.raises(CheckpointError) as info:
        load_hrnet(path, config)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert re.search(pattern, message), message


def test_missing_unreadable_and_truncated_files_are_refused(tmp_path: Path, tiny_model: HRNet) -> None:
    refused(tmp_path / "absent.pth", "no such checkpoint file")
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    refused(text, "not a readable PyTorch checkpoint")
    good = tmp_path / "good.pth"
    save_hrnet(tiny_model, good)
    data = good.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    refused(cut, "not a readable PyTorch checkpoint")


def test_misshapen_tensor_is_refused_naming_key_and_shapes(tmp_path: Path, tiny_state: OrderedDict) -> None:
    tiny_state["stage3.2.fuse_layers.2.0.1.0.weight"] = torch.zeros(32, 8, 1, 1)
    path = tmp_path / "misshapen.pth"
    torch.save(tiny_state, path)
    refused(path, r"key stage3\.2\.fuse_layers\.2\.0\.1\.0\.weight has shape \[32, 8, 1, 1\], expected \[32, 8, 3, 3\]")


def test_missing_and_unexpected_keys_are_refused_naming_them(tmp_path: Path, tiny_state: OrderedDict) -> None:
    missing = OrderedDict(tiny_state)
    del missing["stage4.2.fuse_layers.0.3.1.running_var"]
    path = tmp_path / "missing.pth"
    torch.save(missing, path)
    refused(path, r"missing key stage4\.2\.fuse_layers\.0\.3\.1\.running_var \[8\]")

    extra = OrderedDict(tiny_state)
    extra["stage4.2.fuse_layers.1.0.0.0.weight"] = torch.zeros(16, 8, 3, 3)  # the last module fuses to 0 only
    path = tmp_path / "extra.pth"
    torch.save(extra, path)
    refused(path, r"unexpected key stage4\.2\.fuse_layers\.1\.0\.0\.0\.weight")

    prefixed = OrderedDict((f"module.{k}", v) for k, v in tiny_state.items())
    path = tmp_path / "prefixed.pth"
    torch.save(prefixed, path)
    refused(path, r"missing key conv1\.weight.*unexpected key module\.conv1\.weight")


def test_wrapper_dicts_and_wrong_configs_are_refused(tmp_path: Path, tiny_state: OrderedDict) -> None:
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": tiny_state, "epoch": 3}, wrapped)
    refused(wrapped, r"plain state_dict.*'state_dict'")
    tiny = tmp_path / "tiny.pth"
    torch.save(tiny_state, tiny)
    refused(tiny, r"key conv1\.weight has shape \[8, 3, 3, 3\], expected \[64, 3, 3, 3\]", HRNetConfig())


# ------------------------------------------------------------------------------------------ crop


def test_tall_box_is_widened_never_cut() -> None:
    # A 60 x 180 (1:3) box at x 100..160, y 50..230: centre (130, 140). 60 < 0.75 * 180 = 135, so the
    # width becomes 135; scale = (135, 180) / 200 * 1.25 = (0.84375, 1.125).
    center, scale = box_to_center_scale(np.array([100.0, 50.0, 160.0, 230.0]))
    np.testing.assert_allclose(center, [130.0, 140.0])
    np.testing.assert_allclose(scale, [0.84375, 1.125])
    # Zoom 288 / (0.84375 * 200) = 288 / 168.75 = 1.70666...: the box corners land at
    # u = 144 -/+ 30 * 1.70666 = 92.8 / 195.2 and v = 192 -/+ 90 * 1.70666 = 38.4 / 345.6, inside 288 x 384.
    m = crop_transform(center, scale, (288, 384))
    corners = m @ np.array([[100.0, 50.0, 1.0], [160.0, 230.0, 1.0]]).T
    np.testing.assert_allclose(corners.T, [[92.8, 38.4], [195.2, 345.6]], atol=1e-9)

    # The real warp: a white person on black keeps head and feet inside the crop.
    image = np.zeros((300, 300, 3), np.uint8)
    image[50:230, 100:160] = 255
    crops = crop_people(image, np.array([[100.0, 50.0, 160.0, 230.0]]))
    column = crops.pixels[0, :, 144, 0]
    assert crops.pixels.shape == (1, 384, 288, 3)
    assert (column[40:344] == 255).all()
    assert (column[:37] == 0).all() and (column[348:] == 0).all()
    row = crops.pixels[0, 192, :, 0]
    assert (row[94:194] == 255).all() and (row[:91] == 0).all() and (row[197:] == 0).all()


def test_wide_box_is_heightened() -> None:
    # 300 x 100: 300 > 0.75 * 100, so the height becomes 300 / 0.75 = 400; scale = (300, 400) / 200 * 1.25.
    center, scale = box_to_center_scale(np.array([0.0, 0.0, 300.0, 100.0]))
    np.testing.assert_allclose(center, [150.0, 50.0])
    np.testing.assert_allclose(scale, [1.875, 2.5])


def test_normalisation_is_rgb_with_imagenet_statistics() -> None:
    pixels = np.zeros((1, 384, 288, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 255, 0, 128
    x = normalize_crops(pixels)
    assert x.shape == (1, 3, 384, 288) and x.dtype == torch.float32
    # R: (1 - 0.485) / 0.229; G: (0 - 0.456) / 0.224; B: (128 / 255 - 0.406) / 0.225
    np.testing.assert_allclose(x[0, :, 10, 10].numpy(), [2.248908, -2.035714, 0.426492], atol=1e-5)


# ------------------------------------------------------------------------------------------ decoding


def test_decode_takes_the_peak_a_quarter_pixel_toward_the_higher_neighbour() -> None:
    heatmaps = np.zeros((1, 17, 96, 72), np.float32)
    # Left shoulder: peak (v 40, u 30), right neighbour higher than left, upper higher than lower.
    heatmaps[0, COCO.L_SHOULDER, 40, 30] = 1.0
    heatmaps[0, COCO.L_SHOULDER, 40, 31], heatmaps[0, COCO.L_SHOULDER, 40, 29] = 0.5, 0.2
    heatmaps[0, COCO.L_SHOULDER, 39, 30], heatmaps[0, COCO.L_SHOULDER, 41, 30] = 0.3, 0.1
    # Left wrist: peak at u = 1 (outside 1 < u < 71): no shift even with a higher neighbour.
    heatmaps[0, COCO.L_WRIST, 50, 1], heatmaps[0, COCO.L_WRIST, 50, 2] = 0.9, 0.8
    # Right wrist: two equal maxima; the first in row-major order (v 20, u 60) wins over (v 21, u 5).
    heatmaps[0, COCO.R_WRIST, 20, 60] = heatmaps[0, COCO.R_WRIST, 21, 5] = 0.7
    # Nose: all negative -> (0, 0) in the heatmap, score is the (negative) maximum.
    heatmaps[0, COCO.NOSE] = -1.0
    heatmaps[0, COCO.NOSE, 10, 10] = -0.5
    # Crop centre (500, 300), scale[0] = 1.44: 1.44 * 200 / 72 = 4 source pixels per heatmap pixel.
    keypoints, scores = decode_heatmaps(heatmaps, np.array([[500.0, 300.0]]), np.array([[1.44, 1.92]]))
    assert keypoints.shape == (1, 17, 2) and keypoints.dtype == np.float32
    assert scores.shape == (1, 17) and scores.dtype == np.float32
    # u = 30.25, v = 39.75: x = 500 + (30.25 - 36) * 4 = 477, y = 300 + (39.75 - 48) * 4 = 267.
    np.testing.assert_allclose(keypoints[0, COCO.L_SHOULDER], [477.0, 267.0], atol=1e-4)
    np.testing.assert_allclose(keypoints[0, COCO.L_WRIST], [500 + (1 - 36) * 4, 300 + (50 - 48) * 4], atol=1e-4)
    # (60, 20): the row-20 neighbours are both 0, no shift.
    np.testing.assert_allclose(keypoints[0, COCO.R_WRIST], [500 + 24 * 4, 300 - 28 * 4], atol=1e-4)
    np.testing.assert_allclose(keypoints[0, COCO.NOSE], [500 - 144, 300 - 192], atol=1e-4)
    np.testing.assert_allclose(scores[0, [COCO.L_SHOULDER, COCO.L_WRIST, COCO.R_WRIST, COCO.NOSE]], [1, 0.9, 0.7, -0.5])


# ------------------------------------------------------------------------------------------ flip test


def test_flip_pairs_are_the_coco_ones() -> None:
    assert [(int(a), int(b)) for a, b in COCO_FLIP_PAIRS] == [
        (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
    ]  # fmt: skip


def test_unflip_mirrors_swaps_pairs_and_shifts_one_pixel_right() -> None:
    flipped = torch.zeros(1, 17, 96, 72)
    flipped[0, COCO.L_WRIST, 30, 10] = 1.0  # mirrored: column 71 - 10 = 61; shifted right: 62
    flipped[0, COCO.NOSE, 5, 71] = 2.0  # mirrored to column 0, which keeps its value and is copied to column 1
    flipped[0, COCO.R_ANKLE, 7, 40] = 3.0  # -> L_ANKLE column 31 + 1 = 32
    back = unflip_heatmaps(flipped)
    assert back[0, COCO.R_WRIST, 30, 62] == 1.0 and back[0, COCO.R_WRIST].sum() == 1.0
    assert back[0, COCO.L_WRIST].sum() == 0.0
    assert back[0, COCO.NOSE, 5, 0] == 2.0 and back[0, COCO.NOSE, 5, 1] == 2.0 and back[0, COCO.NOSE].sum() == 4.0
    assert back[0, COCO.L_ANKLE, 7, 32] == 3.0 and back[0, COCO.R_ANKLE].sum() == 0.0


class FixedHeatmaps(HRNet):
    """A stand-in whose heatmaps ignore the input: the flip pass then sees the same maps as the plain one."""

    def __init__(self, heatmaps: torch.Tensor) -> None:
        super().__init__(TINY)
        self.fixed = heatmaps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fixed.expand(x.shape[0], -1, -1, -1).clone()


def test_flip_test_averages_with_the_unflipped_shifted_maps_by_hand() -> None:
    maps = torch.zeros(1, 17, 96, 72)
    maps[0, COCO.L_SHOULDER, 30, 20] = 1.0
    model = FixedHeatmaps(maps).eval()
    # Box 230.4 x 200 centred at (500, 300): scale[0] = 230.4 * 1.25 / 200 = 1.44, 4 pixels per heatmap cell.
    box = np.array([[384.8, 200.0, 615.2, 400.0]])
    image = np.zeros((600, 700, 3), np.uint8)
    keypoints, scores = estimate_poses(model, image, box, flip=True)
    # Average: L_SHOULDER = 0.5 at (30, 20), neighbours 0 -> no shift: x = 500 - 16 * 4, y = 300 - 18 * 4.
    # R_SHOULDER = 0.5 * (L mirrored to 71 - 20 = 51, shifted to 52): x = 500 + 16 * 4.
    np.testing.assert_allclose(keypoints[0, COCO.L_SHOULDER], [436.0, 228.0], atol=1e-3)
    np.testing.assert_allclose(keypoints[0, COCO.R_SHOULDER], [564.0, 228.0], atol=1e-3)
    assert scores[0, COCO.L_SHOULDER] == 0.5 and scores[0, COCO.R_SHOULDER] == 0.5
    # Everything else is 0 everywhere: maximum <= 0 -> heatmap (0, 0) -> crop corner (500 - 144, 300 - 192).
    np.testing.assert_allclose(keypoints[0, COCO.NOSE], [356.0, 108.0], atol=1e-3)
    plain, plain_scores = estimate_poses(model, image, box, flip=False)
    np.testing.assert_allclose(plain[0, COCO.L_SHOULDER], [436.0, 228.0], atol=1e-3)
    assert plain_scores[0, COCO.L_SHOULDER] == 1.0 and plain_scores[0, COCO.R_SHOULDER] == 0.0


def test_flip_test_on_a_mirror_symmetric_person_gives_mirror_symmetric_pairs(tiny_model: HRNet) -> None:
    # An image mirror-symmetric about x = 199.5 (column c equals column 399 - c) and a box centred at
    # x = 200 with zoom 1 (scale[0] * 200 = 288): the crop takes columns 56..343, so it is itself
    # exactly mirror-symmetric, and the flip pass sees the very same input. With the one-pixel shift the
    # averaged left map is the right map mirrored about heatmap column 36, which maps to x = 200:
    # every left/right pair ends up at x_left + x_right = 400 with equal y and equal scores, unless one of
    # them peaks in heatmap column 0 (x = 200 - 144 = 56, also where maxima <= 0 go), the one column the
    # shift leaves without a mirror partner. (Without the shift the sum would be 396.)
    rng = np.random.default_rng(3)
    half = rng.integers(0, 256, size=(300, 200, 3), dtype=np.uint8)
    image = np.ascontiguousarray(np.concatenate([half, half[:, ::-1]], axis=1))
    box = np.array([[84.8, 50.0, 315.2, 250.0]])
    crops = crop_people(image, box)
    np.testing.assert_array_equal(crops.pixels[0], crops.pixels[0, :, ::-1])
    keypoints, scores = estimate_poses(tiny_model, image, box, flip=True)
    checked = 0
    for left, right in COCO_FLIP_PAIRS:
        if min(keypoints[0, left, 0], keypoints[0, right, 0]) < 56.5:
            continue
        checked += 1
        assert keypoints[0, left, 0] + keypoints[0, right, 0] == pytest.approx(400.0, abs=1e-3)
        assert keypoints[0, left, 1] == pytest.approx(keypoints[0, right, 1], abs=1e-3)
        assert scores[0, left] == pytest.approx(scores[0, right], rel=1e-6)
    assert checked >= 5
    # Some of them moved a quarter pixel (x - 200 is not a multiple of the 4-pixel cell).
    assert np.any(np.abs(np.remainder(keypoints[0, :, 0] - 200.0, 4.0) - 1.0) < 1e-3)
    plain, _ = estimate_poses(tiny_model, image, box, flip=False)
    assert not np.allclose(plain, keypoints)


# ------------------------------------------------------------------------------------------ batching


def test_batch_over_several_images_matches_one_image_at_a_time(tiny_model: HRNet) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8) for _ in range(2)]
    boxes = [np.array([[20.0, 10.0, 120.0, 230.0], [150.0, 40.0, 300.0, 200.0]]), np.array([[0.0, 0.0, 320.0, 240.0]])]
    batch = CropBatch.concat([crop_people(img, b) for img, b in zip(images, boxes, strict=True)])
    assert len(batch) == 3
    keypoints, scores = estimate_batch(tiny_model, batch)
    assert keypoints.shape == (3, 17, 2) and scores.shape == (3, 17)
    one_by_one = [estimate_poses(tiny_model, img, b) for img, b in zip(images, boxes, strict=True)]
    np.testing.assert_allclose(keypoints, np.concatenate([k for k, _ in one_by_one]), atol=1e-3)
    np.testing.assert_allclose(scores, np.concatenate([s for _, s in one_by_one]), rtol=1e-4, atol=1e-6)
    # Keypoints land inside each crop's region of its image (the crop covers the padded box).
    for k, (cx, cy), (sx, _) in zip(keypoints, batch.centers, batch.scales, strict=True):
        half_w, half_h = sx * 100, sx * 100 * 384 / 288
        assert (np.abs(k[:, 0] - cx) <= half_w + 1e-3).all() and (np.abs(k[:, 1] - cy) <= half_h + 1e-3).all()
    empty_k, empty_s = estimate_poses(tiny_model, images[0], np.zeros((0, 4)))
    assert empty_k.shape == (0, 17, 2) and empty_s.shape == (0, 17)
    with pytest.raises(ValueError, match="box 0"):
        estimate_poses(tiny_model, images[0], np.array([[10.0, 10.0, 5.0, 20.0]]))

"""YOLOv3 (Darknet): cfg parsing, the official .weights layout, decoding, NMS, letterbox, people detection.

A tiny cfg in the official syntax, written here, has every layer kind yolov3 uses; the real
../shared/specs/yolov3.cfg is only built on the meta device, to check its size against the spec.
Expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from lifting.yolov3 import (
    ConvLayer,
    Darknet,
    Letterbox,
    RouteSpec,
    ShortcutSpec,
    UpsampleSpec,
    WeightsHeader,
    YoloError,
    YoloHead,
    YoloSpec,
    box_iou,
    count_parameters,
    detect_people,
    letterbox,
    load_darknet_weights,
    load_yolov3,
    nms,
    parse_cfg,
    save_darknet_weights,
    select_people,
)

OFFICIAL_CFG = Path(__file__).resolve().parents[2] / "shared" / "specs" / "yolov3.cfg"

TINY_CFG = """\
[net]
# Testing
batch=1
width= 32
height = 32
channels=3
momentum=0.9

# 0: 3 -> 8, stride 1
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

# 1: 8 -> 16, stride 2
[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

# 2
[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

# 3
[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

# 4: out[3] + out[1]
[shortcut]
from=-3
activation=linear

# 5: 16 -> 32, stride 4
[convolutional]
batch_normalize=1
filters=32
size=3
stride=2
pad=1
activation=leaky

# 6: head conv, 2 anchors x (5 + 2) = 14
[convolutional]
size=1
stride=1
pad=1
filters=14
activation=linear

# 7
[yolo]
mask = 3,4
anchors = 4,6,  8,10,  12,9,  20,24,  30,28
classes=2
num=5
jitter=.3
ignore_thresh = .5
truth_thresh = 1
random=1

# 8: out[5]
[route]
layers = -3

# 9
[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

# 10: stride 4 -> 2
[upsample]
stride=2

# 11: out[10] || out[4], 8 + 16 = 24 channels
[route]
layers = -1, 4

# 12: head conv, 3 anchors x 7 = 21
[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

# 13
[yolo]
mask = 0,1,2
anchors = 4,6,  8,10,  12,9,  20,24,  30,28
classes=2
num=5
jitter=.3
ignore_thresh = .5
truth_thresh = 1
random=1
"""

# Floats per conv, by hand: BN convs 4n + n*c*k*k, head convs n + n*c*k*k.
#   0: 32 + 8*3*9 = 248       1: 64 + 16*8*9 = 1216    2: 32 + 8*16 = 160     3: 64 + 16*8*9 = 1216
#   5: 128 + 32*16*9 = 4736   6: 14 + 14*32 = 462      9: 32 + 8*32 = 288     12: 21 + 21*24 = 525
TINY_FLOATS = 8851
TINY_OFFSETS = {0: 0, 1: 248, 2: 1464, 3: 1624, 5: 2840, 6: 7576, 9: 8038, 12: 8326}
# Running mean and variance of 8 + 16 + 8 + 16 + 32 + 8 = 88 BN channels are not parameters.
TINY_PARAMS = TINY_FLOATS - 2 * 88
# At 32 x 32: head 7 (stride 4) 8 x 8 cells x 2 anchors, head 13 (stride 2) 16 x 16 x 3.
TINY_ROWS = 8 * 8 * 2 + 16 * 16 * 3


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def tiny_cfg(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.cfg"
    path.write_text(TINY_CFG)
    return path


def randomized(cfg: Path, seed: int = 0) -> Darknet:
    """A tiny model whose every stored float is random (BN statistics too), so a lost tensor shows."""
    torch.manual_seed(seed)
    model = Darknet(parse_cfg(cfg)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.3)
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.normal_(0.0, 0.2)
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
    return model


def write_weights(path: Path, header: bytes, floats: np.ndarray) -> Path:
    path.write_bytes(header + floats.astype("<f4").tobytes())
    return path


# ------------------------------------------------------------------------------------------------ cfg + model


def test_tiny_cfg_builds_every_layer_kind_with_the_hand_counted_sizes(tiny_cfg: Path) -> None:
    sections = parse_cfg(tiny_cfg)
    assert [s.kind for s in sections] == [
        "net",
        *["convolutional"] * 4,
        "shortcut",
        *["convolutional"] * 2,
        "yolo",
        "route",
        "convolutional",
        "upsample",
        "route",
        "convolutional",
        "yolo",
    ]
    assert sections[0].options["width"] == "32" and sections[1].line == 10
    model = Darknet(sections)
    assert model.input_size == (32, 32) and model.max_stride == 4 and model.num_classes == 2
    layers = model.plan.layers
    assert isinstance(layers[4], ShortcutSpec) and layers[4].source == 1
    assert isinstance(layers[8], RouteSpec) and layers[8].sources == (5,)
    assert isinstance(layers[11], RouteSpec) and layers[11].sources == (10, 4)
    assert isinstance(layers[10], UpsampleSpec) and layers[10].factor == 2
    assert isinstance(layers[7], YoloSpec) and layers[7].anchors == ((20.0, 24.0), (30.0, 28.0))
    assert layers[7].stride == 4
    assert isinstance(layers[13], YoloSpec) and layers[13].stride == 2
    conv6, conv0 = model.layers[6], model.layers[0]
    assert isinstance(conv6, ConvLayer) and conv6.bn is None and conv6.conv.bias is not None and not conv6.leaky
    assert isinstance(conv0, ConvLayer) and conv0.bn is not None and conv0.conv.bias is None and conv0.leaky
    assert model.weight_count() == TINY_FLOATS
    assert count_parameters(model) == TINY_PARAMS
    with torch.no_grad():
        out = model.eval()(torch.rand(2, 3, 32, 32))
        assert out.shape == (2, TINY_ROWS, 7) and out.dtype == torch.float32
        assert model(torch.rand(1, 3, 48, 64)).shape == (1, 12 * 16 * 2 + 24 * 32 * 3, 7)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 3, 30, 32))


def test_official_cfg_builds_the_model_the_spec_describes() -> None:
    sections = parse_cfg(OFFICIAL_CFG)
    with torch.device("meta"):
        model = Darknet(sections, input_size=416)
    assert len(model.layers) == 107
    assert count_parameters(model) == 61_949_149  # spec §2
    assert model.weight_count() == 62_001_757  # spec §1, §2
    assert 20 + 4 * model.weight_count() == 248_007_048  # spec §1: expected file size
    kinds = [type(layer).__name__ for layer in model.plan.layers]
    assert kinds.count("ConvSpec") == 75 and kinds.count("ShortcutSpec") == 23 and kinds.count("RouteSpec") == 4
    assert sum(isinstance(layer, ConvLayer) and layer.bn is not None for layer in model.layers) == 72
    # Float offsets of a few convs, from the spec §2 table.
    offsets: dict[int, int] = {}
    position = 0
    for index, _, tensor in model.weight_blocks():
        offsets.setdefault(index, position)
        position += tensor.numel()
    assert {i: offsets[i] for i in (1, 62, 81, 84, 87, 93, 99, 105)} == {
        1: 992,
        62: 14901856,
        81: 56367712,
        84: 56629087,
        87: 56761183,
        93: 60768095,
        99: 60932190,
        105: 61936222,
    }
    heads = {i: layer for i, layer in enumerate(model.plan.layers) if isinstance(layer, YoloSpec)}
    assert sorted(heads) == [82, 94, 106]
    assert [heads[i].stride for i in (82, 94, 106)] == [32, 16, 8]
    assert heads[82].anchors == ((116, 90), (156, 198), (373, 326))
    assert heads[106].anchors == ((10, 13), (16, 30), (33, 23))
    assert model.plan.layers[86] == RouteSpec(model.plan.layers[86].where, (85, 61))
    assert model.plan.layers[98] == RouteSpec(model.plan.layers[98].where, (97, 36))
    assert model.input_size == (416, 416) and model.max_stride == 32
    assert Darknet(sections).input_size == (320, 320)  # the demo cfg's own [net] size (spec §0)


def test_shortcut_adds_and_two_layer_route_puts_the_upsampled_map_first(tiny_cfg: Path) -> None:
    model = randomized(tiny_cfg)
    seen: dict[str, torch.Tensor] = {}
    model.layers[1].register_forward_hook(lambda _m, _i, out: seen.__setitem__("out1", out))
    model.layers[3].register_forward_hook(lambda _m, _i, out: seen.__setitem__("out3", out))
    model.layers[9].register_forward_hook(lambda _m, _i, out: seen.__setitem__("out9", out))
    model.layers[12].register_forward_pre_hook(lambda _m, args: seen.__setitem__("in12", args[0]))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    upsampled = seen["out9"].repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert seen["in12"].shape == (1, 24, 16, 16)
    torch.testing.assert_close(seen["in12"][:, :8], upsampled, rtol=0, atol=0)
    torch.testing.assert_close(seen["in12"][:, 8:], seen["out1"] + seen["out3"], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ decoding


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_decode_of_a_hand_built_raw_prediction_follows_the_spec_formula(tiny_cfg: Path) -> None:
    model = Darknet(parse_cfg(tiny_cfg))
    head = model.layers[7]  # stride 4, anchors (20, 24), (30, 28), 2 classes
    assert isinstance(head, YoloHead)
    raw = torch.zeros(1, 14, 8, 8)
    a, y, x = 1, 2, 5
    values = [0.3, -1.2, 0.5, -0.25, 2.0, -1.0, 3.0]  # tx, ty, tw, th, objectness, class 0, class 1
    for e, v in enumerate(values):
        raw[0, a * 7 + e, y, x] = v  # spec §3: channel = a * (5 + C) + e
    out = head(raw)
    assert out.shape == (1, 8 * 8 * 2, 7)
    row = (y * 8 + x) * 2 + a  # spec §3: y outer, x inner, anchor innermost
    expected = [
        (sigmoid(0.3) + 5) * 4,
        (sigmoid(-1.2) + 2) * 4,
        math.exp(0.5) * 30,
        math.exp(-0.25) * 28,
        sigmoid(2.0),
        sigmoid(-1.0),
        sigmoid(3.0),
    ]
    np.testing.assert_allclose(out[0, row].numpy(), expected, rtol=1e-6)
    # An all-zero cell: centre of the cell, anchor size, every score 0.5.
    np.testing.assert_allclose(out[0, 0].numpy(), [2, 2, 20, 24, 0.5, 0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out[0, (7 * 8 + 7) * 2].numpy(), [30, 30, 20, 24, 0.5, 0.5, 0.5], rtol=1e-6)


def test_forward_concatenates_the_heads_in_cfg_order(tiny_cfg: Path) -> None:
    model = randomized(tiny_cfg)
    raw: dict[int, torch.Tensor] = {}
    for index in (6, 12):
        model.layers[index].register_forward_hook(lambda _m, _i, out, index=index: raw.__setitem__(index, out))
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
        first, second = model.layers[7](raw[6]), model.layers[13](raw[12])
    assert first.shape[1] == 128 and second.shape[1] == 768
    torch.testing.assert_close(out, torch.cat((first, second), dim=1), rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ weights


def test_the_file_layout_is_the_official_one_float_by_float(tiny_cfg: Path, tmp_path: Path) -> None:
    floats = np.arange(TINY_FLOATS, dtype=np.float32) / 1000
    path = write_weights(tmp_path / "hand.weights", struct.pack("<iiiQ", 0, 2, 0, 5), floats)
    model = Darknet(parse_cfg(tiny_cfg))
    assert load_darknet_weights(model, path) == WeightsHeader(0, 2, 0, 5)

    def at(start: int, count: int) -> torch.Tensor:
        return torch.from_numpy(floats[start : start + count])

    conv0, conv6, conv12 = model.layers[0], model.layers[6], model.layers[12]
    assert isinstance(conv0, ConvLayer) and isinstance(conv6, ConvLayer) and isinstance(conv12, ConvLayer)
    assert conv0.bn is not None
    # With BN: beta, gamma, running mean, running var, then the OIHW weights (spec §1).
    assert torch.equal(conv0.bn.bias, at(0, 8))
    assert torch.equal(conv0.bn.weight, at(8, 8))
    assert torch.equal(conv0.bn.running_mean, at(16, 8))
    assert torch.equal(conv0.bn.running_var, at(24, 8))
    assert torch.equal(conv0.conv.weight, at(32, 216).reshape(8, 3, 3, 3))
    # Without BN: bias, then weights.
    assert torch.equal(conv6.conv.bias, at(TINY_OFFSETS[6], 14))
    assert torch.equal(conv6.conv.weight, at(TINY_OFFSETS[6] + 14, 448).reshape(14, 32, 1, 1))
    assert torch.equal(conv12.conv.bias, at(TINY_OFFSETS[12], 21))
    assert torch.equal(conv12.conv.weight, at(TINY_OFFSETS[12] + 21, 504).reshape(21, 24, 1, 1))
    conv5 = model.layers[5]
    assert isinstance(conv5, ConvLayer) and conv5.bn is not None
    assert torch.equal(conv5.bn.running_var, at(TINY_OFFSETS[5] + 96, 32))


def test_saved_weights_load_into_a_fresh_model_with_identical_outputs(tiny_cfg: Path, tmp_path: Path) -> None:
    model = randomized(tiny_cfg)
    path = tmp_path / "tiny.weights"
    seen = 2**40 + 3  # needs the high half of the 64-bit field
    save_darknet_weights(model, path, seen=seen)
    assert path.stat().st_size == 20 + 4 * TINY_FLOATS
    assert path.read_bytes()[:20] == struct.pack("<iiiQ", 0, 2, 0, seen)
    fresh = Darknet(parse_cfg(tiny_cfg)).eval()
    assert load_darknet_weights(fresh, path) == WeightsHeader(0, 2, 0, seen)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(fresh(x), expected)
        assert not torch.equal(Darknet(parse_cfg(tiny_cfg)).eval()(x), expected)  # the weights do matter
    loaded = load_yolov3(tiny_cfg, path, input_size=None)
    assert not loaded.training and loaded.input_size == (32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)


def test_both_widths_of_the_seen_counter_load(tiny_cfg: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.weights"
    save_darknet_weights(randomized(tiny_cfg), source)
    floats = np.frombuffer(source.read_bytes()[20:], dtype="<f4")
    # Version 0.1: major*10 + minor = 1 < 2, so seen is an int32 and the header is 16 bytes (spec §1).
    short = write_weights(tmp_path / "v01.weights", struct.pack("<iiii", 0, 1, 0, 7), floats)
    # Version 0.2 (Darknet's writer): seen is a uint64, header 20 bytes.
    long = write_weights(tmp_path / "v02.weights", struct.pack("<iiiQ", 0, 2, 0, 2**33), floats)
    # Version 1.0: 1*10 + 0 >= 2, also 64-bit.
    one = write_weights(tmp_path / "v10.weights", struct.pack("<iiiQ", 1, 0, 0, 9), floats)
    outputs = []
    x = torch.rand(1, 3, 32, 32)
    for path, header in (
        (short, WeightsHeader(0, 1, 0, 7)),
        (long, WeightsHeader(0, 2, 0, 2**33)),
        (one, WeightsHeader(1, 0, 0, 9)),
    ):
        model = Darknet(parse_cfg(tiny_cfg)).eval()
        assert load_darknet_weights(model, path) == header
        with torch.no_grad():
            outputs.append(model(x))
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])
    # The saver writes the 32-bit form for version 0.1.
    saved = tmp_path / "saved01.weights"
    save_darknet_weights(randomized(tiny_cfg), saved, version=(0, 1, 0), seen=7)
    assert saved.stat().st_size == 16 + 4 * TINY_FLOATS
    assert load_darknet_weights(Darknet(parse_cfg(tiny_cfg)), saved) == WeightsHeader(0, 1, 0, 7)
    with pytest.raises(ValueError, match="32-bit"):
        save_darknet_weights(randomized(tiny_cfg), saved, version=(0, 1, 0), seen=2**31)


def test_bad_weights_files_are_refused_naming_the_file_and_the_problem(tiny_cfg: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.weights"
    save_darknet_weights(randomized(tiny_cfg), good)
    data = good.read_bytes()
    model = Darknet(parse_cfg(tiny_cfg))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def refused(name: str, content: bytes | None, pattern: str) -> None:
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(YoloError, match=pattern) as info:
            load_darknet_weights(model, path)
        assert str(info.value).startswith(str(path))

    refused("absent.weights", None, "no such weights file")
    refused(
        "short.weights",
        data[:-4],
        rf"truncated: the cfg needs {TINY_FLOATS} floats after the header, the file has {TINY_FLOATS - 1} floats; "
        r"it ends in layer 12 conv weights",
    )
    refused(
        "cut.weights", data[: 20 + 4 * 100 + 2], r"the file has 100 floats and 2 bytes; it ends in layer 0 conv weights"
    )
    refused("long.weights", data + b"\0" * 8, rf"8 trailing bytes: the cfg needs {TINY_FLOATS} floats")
    refused("negative.weights", struct.pack("<iii", -1, 2, 0) + data[12:], r"wrong header: version -1\.2\.0")
    refused("zip.weights", b"PK\x03\x04" + data[4:], "wrong header")
    refused("stub.weights", data[:10], "truncated header: 10 bytes")
    refused("stub16.weights", data[:16], "truncated header: 16 bytes, version 0.2.0 needs 20")
    # A 32-bit seen under a version that means 64-bit: one float short, and the message says why.
    refused("width.weights", struct.pack("<iiii", 0, 2, 0, 7) + data[20:], "exactly one float off")
    nan = bytearray(data)
    nan[20 + 4 * TINY_OFFSETS[6] : 20 + 4 * TINY_OFFSETS[6] + 4] = struct.pack("<f", float("nan"))
    refused("nan.weights", bytes(nan), rf"malformed: float {TINY_OFFSETS[6]} \(layer 6 conv bias\) is nan")
    # Another cfg's weights: the tiny file is far too short for yolov3.
    with torch.device("meta"):
        official = Darknet(parse_cfg(OFFICIAL_CFG))
    with pytest.raises(YoloError, match=rf"{good.name}: truncated: the cfg needs 62001757 floats"):
        load_darknet_weights(official, good)
    # Nothing was loaded by any refused file.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_cfg_files_are_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    def refused(text: str | None, pattern: str) -> None:
        path = tmp_path / "bad.cfg"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
        with pytest.raises(YoloError, match=pattern) as info:
            parse_cfg(path)
        assert str(info.value).startswith(str(path))

    refused(None, "no such cfg file")
    refused("", "empty cfg")
    lines = TINY_CFG.splitlines()
    assert lines[9] == "[convolutional]" and lines[11] == "filters=8"

    def edited(line: int, new: str) -> str:
        changed = list(lines)
        changed[line - 1] = new
        return "\n".join(changed)

    refused(edited(12, "filters 8"), r"bad\.cfg:12: expected 'key=value'")
    refused(edited(12, "filters=eight"), r"bad\.cfg:10: \[convolutional\] filters='eight' is not an integer")
    refused(edited(12, "size=3"), r"bad\.cfg:13: option 'size' given twice")  # the second one
    refused(edited(10, "[maxpool]"), r"bad\.cfg:10: unsupported section \[maxpool\]")
    refused(edited(12, "groups=2"), r"bad\.cfg:10: \[convolutional\] option 'groups' is not supported")
    refused(edited(16, "activation=mish"), r"bad\.cfg:10: \[convolutional\] activation='mish' is not supported")
    refused(
        TINY_CFG.replace("layers = -1, 4", "layers = -1, 12"), r"bad\.cfg:\d+: \[route\] layer 11 refers to layer 12"
    )
    refused(TINY_CFG.replace("layers = -3", "layers = -1"), r"\[route\] layer 8 refers to layer -1 \(= 7\), a \[yolo\]")
    refused(TINY_CFG.replace("layers = -1, 4", "layers = -1, 5"), r"\[route\] joins maps of different sizes")
    refused(TINY_CFG.replace("filters=14", "filters=15"), r"\[yolo\] needs 2 x \(5 \+ 2\) = 14 input channels")
    refused(TINY_CFG.replace("mask = 3,4", "mask = 3,5"), r"mask=\[3, 5\] must be distinct anchor indices in 0\.\.4")
    refused(
        TINY_CFG.replace("width= 32", "width= 30"), r"bad\.cfg:1: \[net\] width=30 height=32 must be multiples of 4"
    )
    refused(TINY_CFG.replace("[net]", "[netz]"), r"bad\.cfg:1: unsupported section \[netz\]")


# ------------------------------------------------------------------------------------------------ NMS


def test_iou_uses_the_plus_one_pixel_convention() -> None:
    a = torch.tensor([[0.0, 0.0, 9.0, 9.0]])
    b = torch.tensor([[4.0, 0.0, 13.0, 9.0], [5.0, 0.0, 14.0, 9.0], [20.0, 20.0, 29.0, 29.0]])
    # 10 x 10 boxes; overlaps 6 x 10 and 5 x 10 pixels: 60 / 140 and 50 / 150.
    np.testing.assert_allclose(box_iou(a, b).numpy(), [[60 / 140, 50 / 150, 0.0]], rtol=1e-6)


def test_nms_keeps_the_best_of_two_overlapping_boxes_and_both_of_two_disjoint_ones() -> None:
    overlapping = torch.tensor([[4.0, 0.0, 13.0, 9.0], [0.0, 0.0, 9.0, 9.0]])
    # IoU 60/140 = 0.43 >= 0.4 (it would be 45/117 = 0.38 without the +1): only the better one stays.
    assert nms(overlapping, torch.tensor([0.8, 0.9]), 0.4).tolist() == [1]
    disjoint = torch.tensor([[0.0, 0.0, 9.0, 9.0], [20.0, 20.0, 29.0, 29.0]])
    assert nms(disjoint, torch.tensor([0.6, 0.7]), 0.4).tolist() == [1, 0]
    # IoU 50/150 = 0.33 < 0.4: both stay.
    near = torch.tensor([[0.0, 0.0, 9.0, 9.0], [5.0, 0.0, 14.0, 9.0]])
    assert nms(near, torch.tensor([0.9, 0.8]), 0.4).tolist() == [0, 1]
    # A box removed by the best one does not remove a third box (greedy, kept boxes only).
    chain = torch.tensor([[0.0, 0.0, 9.0, 9.0], [4.0, 0.0, 13.0, 9.0], [8.0, 0.0, 17.0, 9.0]])
    assert nms(chain, torch.tensor([0.9, 0.8, 0.7]), 0.4).tolist() == [0, 2]


# ------------------------------------------------------------------------------------------------ letterbox


@pytest.mark.parametrize(
    ("width", "height", "resized", "offset"),
    [
        (416, 832, (208, 416), (104, 0)),  # portrait: r = 0.5, centred horizontally
        (832, 208, (416, 104), (0, 156)),  # landscape: r = 0.5, centred vertically
    ],
)
def test_letterbox_places_the_frame_and_boxes_map_back_to_source_pixels(
    width: int, height: int, resized: tuple[int, int], offset: tuple[int, int]
) -> None:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[...] = (10, 200, 30)  # RGB
    tensor, placement = letterbox(frame, 416)
    assert tensor.shape == (3, 416, 416) and tensor.dtype == torch.float32
    assert placement == Letterbox(width, height, 416, 416, 0.5, *resized, *offset)
    left, top = offset
    inside = tensor[:, top : top + resized[1], left : left + resized[0]]
    np.testing.assert_allclose(inside.numpy(), np.array([10, 200, 30])[:, None, None] / 255 * np.ones_like(inside))
    padding = tensor.clone()
    padding[:, top : top + resized[1], left : left + resized[0]] = 128 / 255
    np.testing.assert_allclose(padding.numpy(), 128 / 255)
    assert not np.allclose(tensor.numpy(), 128 / 255)  # there is a frame in it
    # A box 20..100 x 40..200 in source pixels sits at offset + half that in the letterbox.
    in_letterbox = np.array([[left + 10, top + 20, left + 50, top + 100]], dtype=np.float64)
    np.testing.assert_allclose(placement.to_source(in_letterbox), [[20, 40, 100, 200]])


def test_letterbox_of_a_non_power_of_two_scale_and_clamping() -> None:
    # 480 x 640 portrait: r = min(416/480, 416/640) = 0.65, resized 312 x 416, left (416 - 312) // 2 = 52.
    tensor, placement = letterbox(np.zeros((640, 480, 3), dtype=np.uint8), 416)
    assert (placement.resized_width, placement.resized_height, placement.left, placement.top) == (312, 416, 52, 0)
    assert tensor[:, :, 52:364].max() == 0 and torch.all(tensor[:, :, :52] == 128 / 255)
    boxes = np.array([[52 + 65, 13, 52 + 130, 26], [0, -10, 500, 430]], dtype=np.float64)
    # (117 - 52) / 0.65 = 100, 13 / 0.65 = 20; the second box is clamped to the 480 x 640 frame.
    np.testing.assert_allclose(placement.to_source(boxes), [[100, 20, 200, 40], [0, 0, 480, 640]], atol=1e-9)


def test_letterbox_resize_is_opencv_cubic() -> None:
    import cv2

    frame = np.random.default_rng(1).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    tensor, placement = letterbox(frame, 416)
    reference = cv2.resize(frame, (placement.resized_width, placement.resized_height), interpolation=cv2.INTER_CUBIC)
    region = tensor[:, placement.top : placement.top + placement.resized_height, placement.left :]
    ours = np.round(region.permute(1, 2, 0).numpy() * 255).astype(np.int32)[:, : placement.resized_width]
    np.testing.assert_array_equal(ours, reference.astype(np.int32))  # the demo's own resize, value for value


# ------------------------------------------------------------------------------------------------ detection


def test_select_people_applies_the_demo_rules_and_maps_to_source_pixels() -> None:
    _, placement = letterbox(np.zeros((208, 832, 3), dtype=np.uint8), 416)  # r = 0.5, top = 156
    rows = torch.tensor(
        [
            # cx,   cy,   w,    h,   obj,  person, bicycle, car
            [100.0, 200.0, 40.0, 60.0, 0.9, 0.6, 0.1, 0.1],  # kept
            [102.0, 201.0, 40.0, 60.0, 0.8, 0.9, 0.1, 0.1],  # overlaps the first: removed by NMS
            [300.0, 200.0, 40.0, 60.0, 0.95, 0.2, 0.1, 0.7],  # a car
            [200.0, 200.0, 40.0, 60.0, 0.3, 0.9, 0.1, 0.1],  # objectness not > 0.30
            [250.0, 200.0, 40.0, 60.0, 0.25, 0.9, 0.1, 0.1],  # objectness below
            [400.0, 170.0, 60.0, 40.0, 0.6, 0.05, 0.01, 0.02],  # person by argmax, small class prob: kept
        ]
    )
    out = select_people(rows, placement)
    assert out.dtype == np.float32 and out.shape == (2, 5)
    # Row 0: corners (80, 170, 120, 230) -> x / 0.5, (y - 156) / 0.5 = (160, 28, 240, 148).
    # Row 5: corners (370, 150, 430, 190) -> (740, -12, 860, 68), clamped to the 832 x 208 frame.
    np.testing.assert_allclose(out, [[160, 28, 240, 148, 0.9], [740, 0, 832, 68, 0.6]], rtol=1e-6)
    assert select_people(rows, placement, conf_threshold=0.95).shape == (0, 5)


def test_detect_people_runs_frames_of_different_sizes_in_one_batch(tiny_cfg: Path) -> None:
    model = randomized(tiny_cfg, seed=3)
    head6, head12 = model.layers[6], model.layers[12]
    assert isinstance(head6, ConvLayer) and isinstance(head12, ConvLayer)
    with torch.no_grad():  # person-heavy heads, so there are detections to compare
        for head, anchors in ((head6, 2), (head12, 3)):
            assert head.conv.bias is not None
            for a in range(anchors):
                head.conv.bias[a * 7 + 4] += 1.0
                head.conv.bias[a * 7 + 5] += 4.0
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8), rng.integers(0, 256, (90, 30, 3), dtype=np.uint8)]
    calls: list[int] = []
    model.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    both = detect_people(model, frames)
    assert calls == [2]  # one forward pass for the batch
    assert len(both) == 2
    for found, frame in zip(both, frames, strict=True):
        assert found.dtype == np.float32 and found.ndim == 2 and found.shape[1] == 5 and len(found) > 0
        assert np.all(np.diff(found[:, 4]) <= 0) and np.all(found[:, 4] > 0.30)
        h, w = frame.shape[:2]
        assert np.all((found[:, [0, 2]] >= 0) & (found[:, [0, 2]] <= w))
        assert np.all((found[:, [1, 3]] >= 0) & (found[:, [1, 3]] <= h))
    alone = [detect_people(model, [frame])[0] for frame in frames]
    for batched, single in zip(both, alone, strict=True):
        np.testing.assert_allclose(batched, single, atol=1e-4)
    assert detect_people(model, []) == []
    with pytest.raises(ValueError, match="training mode"):
        detect_people(model.train(), frames)

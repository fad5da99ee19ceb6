"""YOLOv3 (Darknet ``yolov3.cfg`` + ``yolov3.weights``, COCO-80): a clean-room person detector.

Written from ../shared/specs/yolov3_darknet.md (cited below as "spec §n") and the cfg syntax of
../shared/specs/yolov3.cfg; no code was copied. It reproduces the PoseFormerV2 demo's detector:

- ``parse_cfg`` reads and validates a Darknet cfg (``[net]``, ``[convolutional]``, ``[shortcut]``,
  ``[route]``, ``[upsample]``, ``[yolo]``); ``Darknet`` is the network it describes.
- ``load_darknet_weights`` / ``save_darknet_weights`` read and write the official ``.weights`` layout
  (spec §1) and refuse a file that does not match the cfg to the byte.
- ``letterbox`` + ``detect_people`` are the demo's pre- and post-processing (spec §4, §6): a 416 x 416
  grey-128 letterbox, objectness > 0.30, argmax class = person, greedy NMS at IoU 0.4 with the "+1"
  pixel convention, boxes mapped back to frame pixels.

UNSURE (spec §1, §7): the version fields stored in the released ``yolov3.weights`` were not read by the
spec's author. The header is read by the rule of spec §1 (a 64-bit ``seen`` when major*10 + minor >= 2,
else 32-bit) and the file size is then checked exactly, so a wrong guess can only fail loudly.

The resize is the demo's own, ``cv2.resize(INTER_CUBIC)`` on the uint8 frame (spec §4.2).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

DEMO_INPUT_SIZE = 416
"""Network input side used by the demo, which overrides the cfg's 320 (spec §0, §4)."""
DEMO_CONF_THRESHOLD = 0.30
"""Objectness threshold of the pose demo (``--thred-score``); a row is kept when objectness > it (spec §6.1)."""
DEMO_NMS_THRESHOLD = 0.4
"""NMS IoU threshold of the demo (``--nms-thresh``); a box is dropped when IoU >= it (spec §6.4)."""
LETTERBOX_FILL = 128
"""Grey level of the letterbox padding, before the /255 scaling (spec §4.3)."""
LEAKY_SLOPE = 0.1
"""Negative slope of Darknet's leaky activation (spec §2)."""
BN_EPS = 1e-5
"""Batch-norm epsilon at inference, as the demo's nn.BatchNorm2d and Darknet's GPU kernel (spec §1)."""
_MAX_VERSION = 1000
"""Version fields at or above this are not a Darknet header this loader accepts (spec §1's size rule)."""


class CocoClass(IntEnum):
    """COCO-80 class indices this module uses (spec §3: class 0 = person)."""

    PERSON = 0


class YoloError(Exception):
    """A cfg or weights file is missing, malformed, truncated, has extra bytes, or does not match the cfg.

    The message starts with the file's path (and the cfg line, where there is one) and says what is wrong.
    """


# ----------------------------------------------------------------------------------------------------------
# cfg parsing


@dataclass(frozen=True)
class CfgSection:
    """One ``[section]`` of a Darknet cfg file, with its options as written."""

    kind: str
    """Section name without brackets: ``net``, ``convolutional``, ``shortcut``, ``route``, ``upsample``, ``yolo``."""
    options: dict[str, str]
    """``key=value`` lines of the section, keys and values stripped of surrounding whitespace."""
    path: str
    """The cfg file it came from, for error messages."""
    line: int
    """1-based line number of the ``[section]`` header."""

    @property
    def where(self) -> str:
        """``path:line``, the prefix of every error about this section."""
        return f"{self.path}:{self.line}"


_SECTION_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (keys this implementation reads, training-only keys it accepts and ignores)
    "convolutional": (frozenset({"filters", "size", "stride", "pad", "activation", "batch_normalize"}), frozenset()),
    "shortcut": (frozenset({"from", "activation"}), frozenset()),
    "route": (frozenset({"layers"}), frozenset()),
    "upsample": (frozenset({"stride"}), frozenset()),
    "yolo": (
        frozenset({"mask", "anchors", "classes", "num"}),
        frozenset({"jitter", "ignore_thresh", "truth_thresh", "random"}),
    ),
}
"""Options allowed per layer kind. Any other option is refused rather than silently ignored: it would
change the network (``groups``, ``dilation``...) in a way this implementation does not support.
``[net]`` is not listed: only width, height and channels matter at inference, the rest is training."""


@dataclass(frozen=True)
class ConvSpec:
    """``[convolutional]``: conv (+ batch norm) + leaky or linear; 'same' padding (spec §2)."""

    where: str
    in_channels: int
    filters: int
    size: int
    stride: int
    batch_normalize: bool
    leaky: bool


@dataclass(frozen=True)
class ShortcutSpec:
    """``[shortcut]``: out[i-1] + out[source], linear (spec §2)."""

    where: str
    source: int
    """Absolute layer index of the second addend."""


@dataclass(frozen=True)
class RouteSpec:
    """``[route]``: the listed layers' outputs concatenated on channels, in the listed order (spec §2)."""

    where: str
    sources: tuple[int, ...]
    """Absolute layer indices, in concatenation order."""


@dataclass(frozen=True)
class UpsampleSpec:
    """``[upsample]``: nearest-neighbour by an integer factor (x2 in yolov3, spec §2)."""

    where: str
    factor: int


@dataclass(frozen=True)
class YoloSpec:
    """``[yolo]``: decodes the previous conv's raw map into boxes (spec §3, §5)."""

    where: str
    anchors: tuple[tuple[float, float], ...]
    """(w, h) in network-input pixels of the anchors this head uses, in mask order."""
    classes: int
    stride: int
    """Input pixels per grid cell (32, 16, 8 in yolov3)."""


LayerSpec = ConvSpec | ShortcutSpec | RouteSpec | UpsampleSpec | YoloSpec


@dataclass(frozen=True)
class NetSpec:
    """A validated cfg: the [net] input and the layers, with each layer's output channels and stride."""

    width: int
    height: int
    channels: int
    layers: tuple[LayerSpec, ...]
    out_channels: tuple[int, ...]
    strides: tuple[int, ...]
    """Input pixels per output pixel of each layer (1 = input resolution)."""


def parse_cfg(path: str | Path) -> list[CfgSection]:
    """Read a Darknet cfg file into its sections, and validate it as a network this module can build.

    Syntax: ``[kind]`` headers, ``key=value`` lines, ``#`` or ``;`` comment lines, blank lines. The first
    section must be ``[net]``. Raises YoloError naming the file and line of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise YoloError(f"{path}: no such cfg file (expected a Darknet cfg such as the official yolov3.cfg)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YoloError(f"{path}: cannot read the cfg as UTF-8 text ({type(exc).__name__}: {exc})") from exc
    sections: list[CfgSection] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise YoloError(f"{path}:{number}: malformed section header {raw.strip()!r}, expected '[name]'")
            kind = line[1:-1].strip()
            if kind != "net" and kind not in _SECTION_KEYS:
                known = ", ".join(f"[{k}]" for k in ("net", *_SECTION_KEYS))
                raise YoloError(f"{path}:{number}: unsupported section [{kind}]; this implementation knows {known}")
            if kind == "net" and sections:
                raise YoloError(f"{path}:{number}: a second [net] section; [net] must come once, first")
            if kind != "net" and not sections:
                raise YoloError(f"{path}:{number}: [{kind}] before [net]; the cfg must start with [net]")
            sections.append(CfgSection(kind, {}, str(path), number))
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise YoloError(f"{path}:{number}: expected 'key=value', got {raw.strip()!r}")
        if not sections:
            raise YoloError(f"{path}:{number}: option {key!r} before any [section]")
        options = sections[-1].options
        if key in options:
            raise YoloError(f"{path}:{number}: option {key!r} given twice in the [{sections[-1].kind}] section")
        options[key] = value
    if not sections:
        raise YoloError(f"{path}: empty cfg, expected a [net] section and layers")
    plan_network(sections)
    return sections


def _int(section: CfgSection, key: str, default: int | None = None, minimum: int | None = None) -> int:
    """An integer option of ``section``; YoloError if absent (without default), not an integer or too small."""
    raw = section.options.get(key)
    if raw is None:
        if default is None:
            raise YoloError(f"{section.where}: [{section.kind}] lacks the required option {key!r}")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise YoloError(f"{section.where}: [{section.kind}] {key}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise YoloError(f"{section.where}: [{section.kind}] {key}={value} must be >= {minimum}")
    return value


def _list(section: CfgSection, key: str) -> list[str]:
    """A comma-separated option, items stripped; YoloError if absent or with an empty item."""
    raw = section.options.get(key)
    if raw is None:
        raise YoloError(f"{section.where}: [{section.kind}] lacks the required option {key!r}")
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise YoloError(f"{section.where}: [{section.kind}] {key}={raw!r} has an empty item")
    return items


def _ints(section: CfgSection, key: str) -> list[int]:
    try:
        return [int(item) for item in _list(section, key)]
    except ValueError:
        raise YoloError(
            f"{section.where}: [{section.kind}] {key}={section.options[key]!r} is not a list of integers"
        ) from None


def _floats(section: CfgSection, key: str) -> list[float]:
    try:
        values = [float(item) for item in _list(section, key)]
    except ValueError:
        raise YoloError(
            f"{section.where}: [{section.kind}] {key}={section.options[key]!r} is not a list of numbers"
        ) from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise YoloError(f"{section.where}: [{section.kind}] {key} must all be positive numbers")
    return values


def _activation(section: CfgSection, allowed: tuple[str, ...]) -> str:
    value = section.options.get("activation")
    if value is None:
        raise YoloError(f"{section.where}: [{section.kind}] lacks the required option 'activation'")
    if value not in allowed:
        raise YoloError(
            f"{section.where}: [{section.kind}] activation={value!r} is not supported here (use {' or '.join(allowed)})"
        )
    return value


def _source(section: CfgSection, index: int, ref: int, kinds: Sequence[LayerSpec]) -> int:
    """Resolve a layer reference (negative: relative to ``index``; else absolute) to an earlier layer."""
    absolute = index + ref if ref < 0 else ref
    shown = f"{ref} (= {absolute})" if ref < 0 else str(ref)
    if not 0 <= absolute < index:
        raise YoloError(
            f"{section.where}: [{section.kind}] layer {index} refers to layer {shown}, "
            f"which is not an earlier layer (0..{index - 1})"
        )
    if isinstance(kinds[absolute], YoloSpec):
        raise YoloError(f"{section.where}: [{section.kind}] layer {index} refers to layer {shown}, a [yolo] layer")
    return absolute


def plan_network(sections: Sequence[CfgSection]) -> NetSpec:
    """Turn parsed sections into typed layer specs, checking every shape the cfg implies.

    Layer ``i`` is the ``i``-th section after ``[net]`` (spec §2's numbering). Raises YoloError naming
    the file and line of the first layer that cannot be built.
    """
    if not sections or sections[0].kind != "net":
        where = sections[0].where if sections else "<cfg>"
        raise YoloError(f"{where}: the cfg must start with [net]")
    net = sections[0]
    width = _int(net, "width", minimum=1)
    height = _int(net, "height", minimum=1)
    channels = _int(net, "channels", minimum=1)
    layers: list[LayerSpec] = []
    out_channels: list[int] = []
    strides: list[int] = []
    for index, section in enumerate(sections[1:]):
        used, ignored = _SECTION_KEYS[section.kind]
        unknown = sorted(set(section.options) - used - ignored)
        if unknown:
            raise YoloError(
                f"{section.where}: [{section.kind}] option {unknown[0]!r} is not supported "
                f"(this implementation reads {', '.join(sorted(used))})"
            )
        if layers and isinstance(layers[-1], YoloSpec) and section.kind != "route":
            raise YoloError(
                f"{section.where}: [{section.kind}] cannot follow a [yolo] layer; start the next branch with [route]"
            )
        prev_c = out_channels[-1] if out_channels else channels
        prev_s = strides[-1] if strides else 1
        spec: LayerSpec
        if section.kind == "convolutional":
            filters = _int(section, "filters", minimum=1)
            size = _int(section, "size", minimum=1)
            stride = _int(section, "stride", minimum=1)
            pad = _int(section, "pad", minimum=0)
            bn = _int(section, "batch_normalize", default=0, minimum=0)
            if pad > 1 or bn > 1:
                raise YoloError(f"{section.where}: [convolutional] pad and batch_normalize must be 0 or 1")
            # Spec §2: padding is (k - 1)/2 when pad=1, so spatial size is kept (stride 1) or halved.
            if size % 2 == 0 or (pad == 0 and size != 1):
                raise YoloError(
                    f"{section.where}: [convolutional] size={size} pad={pad} is not supported; "
                    "use an odd size with pad=1 (or size=1) so the layer keeps the grid aligned"
                )
            leaky = _activation(section, ("leaky", "linear")) == "leaky"
            spec = ConvSpec(section.where, prev_c, filters, size, stride, bn == 1, leaky)
            channels_out, stride_out = filters, prev_s * stride
        elif section.kind == "shortcut":
            _activation(section, ("linear",))
            source = _source(section, index, _int(section, "from"), layers)
            if index == 0:
                raise YoloError(f"{section.where}: [shortcut] cannot be the first layer")
            if (out_channels[source], strides[source]) != (prev_c, prev_s):
                raise YoloError(
                    f"{section.where}: [shortcut] adds layer {source} ({out_channels[source]} channels at stride "
                    f"{strides[source]}) to layer {index - 1} ({prev_c} channels at stride {prev_s}); they must match"
                )
            spec = ShortcutSpec(section.where, source)
            channels_out, stride_out = prev_c, prev_s
        elif section.kind == "route":
            sources = tuple(_source(section, index, ref, layers) for ref in _ints(section, "layers"))
            if len({strides[s] for s in sources}) != 1:
                shown = ", ".join(f"layer {s} at stride {strides[s]}" for s in sources)
                raise YoloError(f"{section.where}: [route] joins maps of different sizes ({shown})")
            spec = RouteSpec(section.where, sources)
            channels_out, stride_out = sum(out_channels[s] for s in sources), strides[sources[0]]
        elif section.kind == "upsample":
            factor = _int(section, "stride", minimum=1)
            if prev_s % factor:
                raise YoloError(
                    f"{section.where}: [upsample] stride={factor} at stride {prev_s} would exceed the input resolution"
                )
            spec = UpsampleSpec(section.where, factor)
            channels_out, stride_out = prev_c, prev_s // factor
        else:  # yolo
            spec = _plan_yolo(section, index, prev_c, prev_s)
            channels_out, stride_out = prev_c, prev_s
        layers.append(spec)
        out_channels.append(channels_out)
        strides.append(stride_out)
    heads = [layer for layer in layers if isinstance(layer, YoloSpec)]
    if not heads:
        raise YoloError(f"{net.path}: the cfg has no [yolo] layer, so the network detects nothing")
    if len({head.classes for head in heads}) != 1:
        raise YoloError(f"{heads[0].where}: all [yolo] layers must have the same number of classes")
    lcm = math.lcm(*strides)
    if width % lcm or height % lcm:
        raise YoloError(f"{net.where}: [net] width={width} height={height} must be multiples of {lcm}")
    return NetSpec(width, height, channels, tuple(layers), tuple(out_channels), tuple(strides))


def _plan_yolo(section: CfgSection, index: int, in_channels: int, stride: int) -> YoloSpec:
    classes = _int(section, "classes", minimum=1)
    num = _int(section, "num", minimum=1)
    anchors = _floats(section, "anchors")
    if len(anchors) != 2 * num:
        raise YoloError(f"{section.where}: [yolo] has {len(anchors)} anchor numbers; num={num} needs {2 * num}")
    mask = _ints(section, "mask")
    if any(not 0 <= m < num for m in mask) or len(set(mask)) != len(mask):
        raise YoloError(f"{section.where}: [yolo] mask={mask} must be distinct anchor indices in 0..{num - 1}")
    if index == 0:
        raise YoloError(f"{section.where}: [yolo] cannot be the first layer")
    expected = len(mask) * (5 + classes)
    if in_channels != expected:
        raise YoloError(
            f"{section.where}: [yolo] needs {len(mask)} x (5 + {classes}) = {expected} input channels, "
            f"the layer before it gives {in_channels}"
        )
    pairs = tuple((anchors[2 * m], anchors[2 * m + 1]) for m in mask)
    return YoloSpec(section.where, pairs, classes, stride)


# ----------------------------------------------------------------------------------------------------------
# the network


class ConvLayer(nn.Module):
    """Conv2d (bias only without BN) -> BatchNorm2d (eps 1e-5) -> leaky(0.1) or nothing (spec §1, §2)."""

    def __init__(self, spec: ConvSpec) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            spec.in_channels,
            spec.filters,
            spec.size,
            spec.stride,
            padding=spec.size // 2,
            bias=not spec.batch_normalize,
        )
        self.bn = nn.BatchNorm2d(spec.filters, eps=BN_EPS) if spec.batch_normalize else None
        self.leaky = spec.leaky

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.leaky else x


class YoloHead(nn.Module):
    """Decodes a raw ``(B, A * (5 + C), Gh, Gw)`` map into ``(B, Gh * Gw * A, 5 + C)`` rows (spec §3, §5).

    Row ``(y * Gw + x) * A + a`` (y outer, x inner, anchor innermost) holds, in network-input pixels,
    ``cx = (sigmoid(tx) + x) * stride``, ``cy = (sigmoid(ty) + y) * stride``, ``w = exp(tw) * anchor_w``,
    ``h = exp(th) * anchor_h``, then ``sigmoid(objectness)`` and ``sigmoid`` of each class logit (no softmax).
    """

    def __init__(self, spec: YoloSpec) -> None:
        super().__init__()
        self.classes = spec.classes
        self.stride = spec.stride
        self.anchors: torch.Tensor
        self.register_buffer("anchors", torch.tensor(spec.anchors, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()  # decode in float32 even when the convolutions ran in half precision (autocast)
        b, c, gh, gw = x.shape
        a = self.anchors.shape[0]
        if c != a * (5 + self.classes):
            raise ValueError(f"expected {a * (5 + self.classes)} channels, got {c}")
        # Spec §3: channel = a * (5 + C) + e; rows ordered (y, x, a).
        p = x.view(b, a, 5 + self.classes, gh, gw).permute(0, 3, 4, 1, 2)
        gy, gx = torch.meshgrid(
            torch.arange(gh, device=x.device, dtype=x.dtype),
            torch.arange(gw, device=x.device, dtype=x.dtype),
            indexing="ij",
        )
        offsets = torch.stack((gx, gy), dim=-1)[:, :, None, :]  # (Gh, Gw, 1, 2): (x, y) of each cell
        xy = (torch.sigmoid(p[..., 0:2]) + offsets) * self.stride
        wh = torch.exp(p[..., 2:4]) * self.anchors.to(x.dtype)
        scores = torch.sigmoid(p[..., 4:])
        return torch.cat((xy, wh, scores), dim=-1).reshape(b, gh * gw * a, 5 + self.classes)


class Darknet(nn.Module):
    """The network a Darknet cfg describes (yolov3: 107 layers, spec §2).

    ``forward``: ``(B, C, H, W)`` float32 RGB in [0, 1] (C = the cfg's channels, 3; H and W multiples of
    ``max_stride``, 32 for yolov3) -> ``(B, N, 5 + classes)`` float32, N = sum over [yolo] layers in cfg
    order of Gh * Gw * anchors (10,647 at 416 x 416). Each row: box centre x, centre y, width, height in
    input pixels, objectness, per-class probabilities (independent sigmoids).
    """

    def __init__(self, sections: Sequence[CfgSection], input_size: int | tuple[int, int] | None = None) -> None:
        """Build from ``parse_cfg``'s sections. ``input_size`` (side, or (height, width)) is what
        ``detect_people`` letterboxes to; by default the cfg's [net] height and width."""
        super().__init__()
        plan = plan_network(sections)
        self.plan = plan
        self.source = sections[0].path
        self.in_channels = plan.channels
        self.max_stride = math.lcm(*plan.strides)
        heads = [layer for layer in plan.layers if isinstance(layer, YoloSpec)]
        self.num_classes = heads[0].classes
        if input_size is None:
            input_size = (plan.height, plan.width)
        elif isinstance(input_size, int):
            input_size = (input_size, input_size)
        if min(input_size) < 1 or any(side % self.max_stride for side in input_size):
            raise ValueError(f"input_size {input_size} must be positive multiples of {self.max_stride}")
        self.input_size: tuple[int, int] = input_size
        """(height, width) of the letterboxed network input."""
        modules: list[nn.Module] = []
        for spec in plan.layers:
            if isinstance(spec, ConvSpec):
                modules.append(ConvLayer(spec))
            elif isinstance(spec, UpsampleSpec):
                modules.append(nn.Upsample(scale_factor=spec.factor, mode="nearest"))
            elif isinstance(spec, YoloSpec):
                modules.append(YoloHead(spec))
            else:  # shortcut and route hold nothing; the forward loop reads their specs
                modules.append(nn.Identity())
        self.layers = nn.ModuleList(modules)
        referenced = {s for layer in plan.layers if isinstance(layer, RouteSpec) for s in layer.sources}
        referenced |= {layer.source for layer in plan.layers if isinstance(layer, ShortcutSpec)}
        self._kept = frozenset(referenced)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or not x.is_floating_point():
            raise ValueError(f"expected a float (B, {self.in_channels}, H, W) tensor, got {x.dtype} {tuple(x.shape)}")
        if x.shape[2] % self.max_stride or x.shape[3] % self.max_stride:
            raise ValueError(f"H and W must be multiples of {self.max_stride}, got {tuple(x.shape[2:])}")
        kept: dict[int, torch.Tensor] = {}
        detections: list[torch.Tensor] = []
        for index, (spec, layer) in enumerate(zip(self.plan.layers, self.layers, strict=True)):
            if isinstance(spec, ShortcutSpec):
                x = x + kept[spec.source]
            elif isinstance(spec, RouteSpec):
                # Spec §2: one layer is a copy; several are concatenated in the listed order.
                parts = [kept[s] for s in spec.sources]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            elif isinstance(spec, YoloSpec):
                detections.append(layer(x))  # nothing may read a [yolo] layer's output (plan_network)
            else:
                x = layer(x)
            if index in self._kept:
                kept[index] = x
        return torch.cat(detections, dim=1)  # spec §3: heads in cfg order (82, 94, 106)

    def weight_blocks(self) -> list[tuple[int, str, torch.Tensor]]:
        """The tensors a ``.weights`` file stores, in file order (spec §1): (cfg layer index, part, tensor).

        With batch norm: BN beta, gamma, running mean, running variance, then conv weights (OIHW);
        without: conv bias, then conv weights.
        """
        blocks: list[tuple[int, str, torch.Tensor]] = []
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, ConvLayer):
                continue
            if layer.bn is not None:
                assert layer.bn.running_mean is not None and layer.bn.running_var is not None
                blocks += [
                    (index, "batch-norm beta", layer.bn.bias),
                    (index, "batch-norm gamma", layer.bn.weight),
                    (index, "batch-norm running mean", layer.bn.running_mean),
                    (index, "batch-norm running variance", layer.bn.running_var),
                ]
            else:
                assert layer.conv.bias is not None
                blocks.append((index, "conv bias", layer.conv.bias))
            blocks.append((index, "conv weights", layer.conv.weight))
        return blocks

    def weight_count(self) -> int:
        """Floats a ``.weights`` file for this cfg holds after its header (62,001,757 for yolov3)."""
        return sum(t.numel() for _, _, t in self.weight_blocks())


# ----------------------------------------------------------------------------------------------------------
# .weights files


@dataclass(frozen=True)
class WeightsHeader:
    """The header of a Darknet ``.weights`` file (spec §1)."""

    major: int
    minor: int
    revision: int
    seen: int
    """Training images seen; not used at inference."""

    @property
    def seen_is_64bit(self) -> bool:
        """Spec §1: ``seen`` is a uint64 when major*10 + minor >= 2 (and both < 1000), else an int32."""
        return self.major * 10 + self.minor >= 2 and self.major < _MAX_VERSION and self.minor < _MAX_VERSION

    @property
    def size(self) -> int:
        """Header bytes: 20 with a 64-bit ``seen``, 16 with a 32-bit one."""
        return 20 if self.seen_is_64bit else 16


def _expected(model: Darknet) -> str:
    return f"a Darknet .weights file for {model.source}: a 20-byte header, then {model.weight_count()} float32"


def _locate(model: Darknet, float_index: int) -> str:
    """'layer 79 conv weights' for the block holding float ``float_index`` of the file."""
    start = 0
    for index, part, tensor in model.weight_blocks():
        if float_index < start + tensor.numel():
            return f"layer {index} {part}"
        start += tensor.numel()
    return "past the last layer"


def read_weights_header(path: str | Path) -> WeightsHeader:
    """Read and check only the header of a ``.weights`` file; YoloError naming the file if it is wrong."""
    path = Path(path)
    if not path.is_file():
        raise YoloError(f"{path}: no such weights file (expected a Darknet .weights file, e.g. yolov3.weights)")
    with path.open("rb") as f:
        return _read_header(f.read(20), path)


def _read_header(head: bytes, path: Path) -> WeightsHeader:
    if len(head) < 12:
        raise YoloError(f"{path}: truncated header: {len(head)} bytes, a Darknet header has at least 16")
    major, minor, revision = struct.unpack("<iii", head[:12])
    if not all(0 <= v < _MAX_VERSION for v in (major, minor, revision)):
        raise YoloError(
            f"{path}: wrong header: version {major}.{minor}.{revision} is not a Darknet weights version "
            f"(three int32 in 0..{_MAX_VERSION - 1} expected; is this a .weights file?)"
        )
    header = WeightsHeader(major, minor, revision, 0)
    if len(head) < header.size:
        raise YoloError(
            f"{path}: truncated header: {len(head)} bytes, version {major}.{minor}.{revision} needs {header.size}"
        )
    seen = struct.unpack("<Q", head[12:20])[0] if header.seen_is_64bit else struct.unpack("<i", head[12:16])[0]
    if seen < 0:
        raise YoloError(f"{path}: wrong header: negative seen count {seen}")
    return WeightsHeader(major, minor, revision, seen)


def load_darknet_weights(model: Darknet, path: str | Path) -> WeightsHeader:
    """Load an official-layout ``.weights`` file into ``model`` (spec §1) and return its header.

    The file must hold exactly ``model.weight_count()`` little-endian float32 after the header, all
    finite. Nothing in ``model`` changes unless the whole file is valid. Raises YoloError naming the file
    and the problem (missing, wrong header, truncated, trailing bytes, non-finite value).
    """
    path = Path(path)
    header = read_weights_header(path)
    needed = model.weight_count()
    available = path.stat().st_size - header.size
    if available != 4 * needed:
        have = f"{available // 4} floats" + (f" and {available % 4} bytes" if available % 4 else "")
        hint = ""
        if abs(available - 4 * needed) == 4:
            hint = (
                f" (exactly one float off: the header says version {header.major}.{header.minor}.{header.revision}, "
                f"a {64 if header.seen_is_64bit else 32}-bit seen count; was it written with the other width?)"
            )
        if available < 4 * needed:
            where = _locate(model, max(available, 0) // 4)
            raise YoloError(
                f"{path}: truncated: the cfg needs {needed} floats after the header, the file has {have}; "
                f"it ends in {where}{hint}. Expected {_expected(model)}"
            )
        extra = available - 4 * needed
        raise YoloError(
            f"{path}: {extra} trailing bytes: the cfg needs {needed} floats after the header, "
            f"the file has {have}{hint}. Is the cfg the one these weights were trained with?"
        )
    with path.open("rb") as f:
        f.seek(header.size)
        values = np.fromfile(f, dtype="<f4", count=needed).astype(np.float32, copy=False)
    if values.size != needed:
        raise YoloError(f"{path}: truncated: read {values.size} of {needed} floats (did the file change?)")
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise YoloError(f"{path}: malformed: float {bad} ({_locate(model, bad)}) is {values[bad]}; the file is corrupt")
    start = 0
    with torch.no_grad():
        for _, _, tensor in model.weight_blocks():
            chunk = values[start : start + tensor.numel()]
            tensor.copy_(torch.from_numpy(chunk).view_as(tensor))
            start += tensor.numel()
    return header


def save_darknet_weights(
    model: Darknet, path: str | Path, version: tuple[int, int, int] = (0, 2, 0), seen: int = 0
) -> None:
    """Write ``model`` in the official ``.weights`` layout (spec §1): header, then every conv's floats.

    ``version`` (major, minor, revision) decides the width of ``seen``: 64-bit for (0, 2, 0), Darknet's
    own writer, 32-bit for (0, 1, 0) and older.
    """
    if len(version) != 3 or not all(0 <= v < _MAX_VERSION for v in version):
        raise ValueError(f"version must be three integers in 0..{_MAX_VERSION - 1}, got {version}")
    header = WeightsHeader(*version, seen=seen)
    limit = 2**64 if header.seen_is_64bit else 2**31
    if not 0 <= seen < limit:
        raise ValueError(f"seen={seen} does not fit the {8 * (header.size - 12)}-bit field of version {version}")
    with Path(path).open("wb") as f:
        f.write(struct.pack("<iii", *version))
        f.write(struct.pack("<Q", seen) if header.seen_is_64bit else struct.pack("<i", seen))
        for _, _, tensor in model.weight_blocks():
            f.write(tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes())


def load_yolov3(
    cfg_path: str | Path,
    weights_path: str | Path,
    device: str | torch.device = "cpu",
    input_size: int | tuple[int, int] | None = DEMO_INPUT_SIZE,
) -> Darknet:
    """Parse the cfg, build the network, load the weights strictly and return it in eval mode on ``device``.

    ``input_size`` defaults to the demo's 416 (spec §0); ``None`` keeps the cfg's [net] width and height.
    """
    model = Darknet(parse_cfg(cfg_path), input_size)
    load_darknet_weights(model, weights_path)
    return model.to(device).eval()


def count_parameters(model: nn.Module) -> int:
    """Number of learnable scalars (61,949,149 for yolov3, spec §2)."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------------
# pre- and post-processing


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the network input, to map boxes back (spec §4, §6.6)."""

    source_width: int
    source_height: int
    input_width: int
    input_height: int
    scale: float
    """r = min(input_width / source_width, input_height / source_height)."""
    resized_width: int
    resized_height: int
    left: int
    top: int

    def to_source(self, boxes: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """``(K, 4)`` x1, y1, x2, y2 in input pixels -> the same in source-frame pixels, float64.

        As the demo (spec §6.6): x <- (x - (input_w - r * w) / 2) / r, likewise y, clamped to [0, w] and
        [0, h]. The offset is the unrounded one, while the letterbox pasted at an integer offset: a
        sub-pixel difference the demo has too.
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"expected (K, 4) boxes, got {boxes.shape}")
        r = self.scale
        dx = (self.input_width - r * self.source_width) / 2
        dy = (self.input_height - r * self.source_height) / 2
        out = np.empty_like(boxes)
        out[:, 0::2] = np.clip((boxes[:, 0::2] - dx) / r, 0.0, self.source_width)
        out[:, 1::2] = np.clip((boxes[:, 1::2] - dy) / r, 0.0, self.source_height)
        return out


def letterbox(image: npt.NDArray[np.uint8], size: int | tuple[int, int]) -> tuple[torch.Tensor, Letterbox]:
    """The demo's letterbox (spec §4): keep aspect, bicubic resize, paste centred on grey 128, /255.

    ``image``: ``(H, W, 3)`` uint8 RGB. ``size``: side, or (height, width), of the network input.
    Returns ``(3, size_h, size_w)`` float32 RGB in [0, 1] and the ``Letterbox`` to map boxes back.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shown = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {shown}")
    out_h, out_w = (size, size) if isinstance(size, int) else size
    h, w = image.shape[:2]
    # Spec §4.1: r = min(S/w, S/h) and truncated sizes, in the same float arithmetic as the demo.
    r = min(out_w / w, out_h / h)
    new_w, new_h = int(w * r), int(h * r)
    if new_w < 1 or new_h < 1:
        raise ValueError(f"a {w}x{h} frame is too thin to letterbox into {out_w}x{out_h}")
    # spec §4.2: cv2.resize(..., INTER_CUBIC) on the uint8 frame, as the demo does
    scaled = image if (new_h, new_w) == (h, w) else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    resized = torch.from_numpy(np.ascontiguousarray(scaled)).permute(2, 0, 1).to(torch.float32)
    left, top = (out_w - new_w) // 2, (out_h - new_h) // 2  # spec §4.3
    canvas = torch.full((3, out_h, out_w), float(LETTERBOX_FILL), dtype=torch.float32)
    canvas[:, top : top + new_h, left : left + new_w] = resized
    info = Letterbox(w, h, out_w, out_h, r, new_w, new_h, left, top)
    return canvas / 255.0, info


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of ``(N, 4)`` x1, y1, x2, y2 boxes with ``(M, 4)`` ones -> ``(N, M)``, Darknet/VOC "+1" pixels.

    Spec §6.4: width = x2 - x1 + 1, height = y2 - y1 + 1, intersection sides clamped at 0.
    """
    iw = (torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0]) + 1).clamp(min=0)
    ih = (torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1]) + 1).clamp(min=0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS (spec §6.4): ``(K, 4)`` boxes, ``(K,)`` scores -> int64 indices of the kept boxes, best first.

    Boxes are taken by descending score (a stable sort, so ties keep input order: the demo's sort is
    not stable); each kept box removes every later one whose "+1" IoU with it is >= ``iou_threshold``.
    """
    if boxes.dim() != 2 or boxes.shape[1] != 4 or scores.shape != (boxes.shape[0],):
        raise ValueError(f"expected (K, 4) boxes and (K,) scores, got {tuple(boxes.shape)} and {tuple(scores.shape)}")
    order = torch.sort(scores, descending=True, stable=True).indices
    iou = box_iou(boxes[order], boxes[order])
    removed = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)
    keep: list[int] = []
    for i in range(len(order)):
        if removed[i]:
            continue
        keep.append(i)
        removed[i + 1 :] |= iou[i, i + 1 :] >= iou_threshold
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def select_people(
    predictions: torch.Tensor,
    placement: Letterbox,
    conf_threshold: float = DEMO_CONF_THRESHOLD,
    nms_threshold: float = DEMO_NMS_THRESHOLD,
) -> npt.NDArray[np.float32]:
    """The demo's post-processing of one image (spec §6) -> ``(K, 5)`` float32 [x1, y1, x2, y2, score].

    ``predictions``: ``(N, 5 + C)`` rows of ``Darknet.forward`` for this image (input pixels). A row is
    kept when objectness > ``conf_threshold`` (strict) and its argmax class is person; the class
    probability is neither multiplied in nor thresholded, and the score is the objectness (spec §6.1,
    §6.7). Greedy "+1" NMS at ``nms_threshold``, then boxes go back to source-frame pixels, clamped to
    the frame and rounded to 2 decimals as the demo does. Rows are sorted by score, best first.
    """
    if predictions.dim() != 2 or predictions.shape[1] < 6:
        raise ValueError(f"expected (N, 5 + classes) predictions, got {tuple(predictions.shape)}")
    predictions = predictions.detach().float()
    objectness = predictions[:, 4]
    person = predictions[:, 5:].argmax(dim=1) == CocoClass.PERSON
    rows = predictions[(objectness > conf_threshold) & person].cpu()  # few rows: NMS runs on the CPU
    if rows.shape[0] == 0:
        return np.zeros((0, 5), dtype=np.float32)
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    corners = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=1)  # spec §6.2
    keep = nms(corners, rows[:, 4], nms_threshold)
    boxes = placement.to_source(corners[keep].numpy())
    out = np.empty((len(keep), 5), dtype=np.float32)
    out[:, :4] = np.round(boxes, 2)
    out[:, 4] = rows[keep, 4].numpy()
    return out


def detect_people(
    model: Darknet,
    images: Sequence[npt.NDArray[np.uint8]],
    conf_threshold: float = DEMO_CONF_THRESHOLD,
    nms_threshold: float = DEMO_NMS_THRESHOLD,
) -> list[npt.NDArray[np.float32]]:
    """People in each frame, as the PoseFormerV2 demo finds them (spec §4-§6), in one forward pass.

    ``images``: ``(H, W, 3)`` uint8 RGB frames, sizes may differ; each is letterboxed to
    ``model.input_size``. ``model`` must be in eval mode (``load_yolov3`` returns it so). Returns one
    ``(K, 5)`` float32 array per frame: x1, y1, x2, y2 in that frame's pixels, then the objectness
    score, sorted by score, best first (K may be 0).
    """
    if model.training:
        raise ValueError("the model is in training mode (batch norm would use batch statistics); call model.eval()")
    if not (0.0 <= conf_threshold < 1.0 and 0.0 < nms_threshold <= 1.0):
        raise ValueError(f"thresholds out of range: conf_threshold={conf_threshold}, nms_threshold={nms_threshold}")
    if len(images) == 0:
        return []
    prepared = [letterbox(image, model.input_size) for image in images]
    device = next(model.parameters()).device
    batch = torch.stack([tensor for tensor, _ in prepared]).to(device)
    with torch.inference_mode():
        predictions = model(batch)
    return [
        select_people(rows, placement, conf_threshold, nms_threshold)
        for rows, (_, placement) in zip(predictions, prepared, strict=True)
    ]

"""HRNet-W48 top-down 2D pose (COCO-17, 384x288 input): a clean-room model, loader and crop pipeline.

Written from ../shared/specs/hrnet_w48.md only. Parameter names are the official ones, so the official
``pose_hrnet_w48_384x288.pth`` (a plain state_dict: no wrapper dict, no ``module.`` prefix) loads
strictly. The pipeline is the official test path (spec sections 5 and 6), not the PoseFormerV2 demo's
(spec section 7): boxes are widened to the model's 288:384 aspect, never cut; the net sees RGB.

- ``crop_people(image, boxes)`` -> ``CropBatch``: each box's 288x384 affine crop with its centre/scale;
- ``estimate_batch(model, crops, flip)``: one forward pass over every crop (any number of images),
  decoded back to source pixels;
- ``estimate_poses(model, image, boxes, flip)``: the two above for one image.

Keypoints are ``(K, 17, 2)`` float32 source-image pixels (x right, y down), COCO order (``COCO``);
scores are the raw heatmap maxima ``(K, 17)`` float32, not probabilities.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from lifting.joints import COCO
from lifting.poseformerv2 import CheckpointError

PIXEL_STD = 200.0
"""Box sizes are expressed as ``scale = size / PIXEL_STD`` (the official convention)."""
SCALE_PADDING = 1.25
"""The box (after widening to the model's aspect) is enlarged by this factor before cropping."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean, RGB order, of pixels scaled to [0, 1]."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation, RGB order, of pixels scaled to [0, 1]."""
HEATMAP_STRIDE = 4
"""Input pixels per heatmap pixel, in both axes."""
BN_EPS = 1e-5

COCO_FLIP_PAIRS: tuple[tuple[COCO, COCO], ...] = tuple(
    (joint, COCO[f"R_{joint.name[2:]}"]) for joint in COCO if joint.name.startswith("L_")
)
"""(left, right) keypoints swapped by a horizontal mirror: (1, 2), (3, 4), ..., (15, 16)."""

COCO_FLIP_PERMUTATION: np.ndarray = np.arange(len(COCO))
COCO_FLIP_PERMUTATION[[left for left, _ in COCO_FLIP_PAIRS]] = [right for _, right in COCO_FLIP_PAIRS]
COCO_FLIP_PERMUTATION[[right for _, right in COCO_FLIP_PAIRS]] = [left for left, _ in COCO_FLIP_PAIRS]
COCO_FLIP_PERMUTATION.setflags(write=False)
"""Index array that swaps every COCO left keypoint with its right partner (an involution)."""


@dataclass(frozen=True)
class HRNetConfig:
    """Shapes of the network. Defaults are the official W48 384x288 COCO model.

    Narrow variants for tests (``HRNetConfig(width=8, stem_channels=16)``) keep the same modules and
    state_dict keys; only tensor shapes change.
    """

    width: int = 48
    """C: channels of branch 0; branch b has ``C * 2**b`` (48/96/192/384 for W48)."""
    stem_channels: int = 64
    """Channels of the two stride-2 stem convs and of layer1's bottleneck planes (output 4x this)."""
    bottleneck_blocks: int = 4
    """Bottleneck blocks in layer1 (only the first has a ``downsample``)."""
    basic_blocks: int = 4
    """BasicBlocks per branch in every module of stages 2-4."""
    stage_modules: tuple[int, int, int] = (1, 4, 3)
    """Modules in stages 2, 3 and 4 (which have 2, 3 and 4 branches)."""
    num_joints: int = 17
    """Heatmaps out (COCO-17 order)."""
    input_width: int = 288
    """Crop width in pixels; a multiple of 32."""
    input_height: int = 384
    """Crop height in pixels; a multiple of 32."""

    def __post_init__(self) -> None:
        checks = [
            (self.width >= 1, f"width must be >= 1, got {self.width}"),
            (self.stem_channels >= 1, f"stem_channels must be >= 1, got {self.stem_channels}"),
            (self.bottleneck_blocks >= 1, f"bottleneck_blocks must be >= 1, got {self.bottleneck_blocks}"),
            (self.basic_blocks >= 1, f"basic_blocks must be >= 1, got {self.basic_blocks}"),
            (
                len(self.stage_modules) == 3 and all(m >= 1 for m in self.stage_modules),
                f"stage_modules must be three counts >= 1 (stages 2, 3, 4), got {self.stage_modules}",
            ),
            (self.num_joints >= 1, f"num_joints must be >= 1, got {self.num_joints}"),
            (
                4 * self.stem_channels != self.width,
                f"width={self.width} must differ from 4 * stem_channels={4 * self.stem_channels}: transition1's "
                "branch 0 is a conv (keys transition1.0.*) only when the widths differ",
            ),
            (
                self.input_width >= 32 and self.input_width % 32 == 0,
                f"input_width must be a positive multiple of 32, got {self.input_width}",
            ),
            (
                self.input_height >= 32 and self.input_height % 32 == 0,
                f"input_height must be a positive multiple of 32, got {self.input_height}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def branch_channels(self) -> tuple[int, int, int, int]:
        """Channels of branches 0-3: (C, 2C, 4C, 8C)."""
        return (self.width, 2 * self.width, 4 * self.width, 8 * self.width)

    @property
    def heatmap_width(self) -> int:
        """Heatmap width: input_width / 4 (72)."""
        return self.input_width // HEATMAP_STRIDE

    @property
    def heatmap_height(self) -> int:
        """Heatmap height: input_height / 4 (96)."""
        return self.input_height // HEATMAP_STRIDE

    @property
    def aspect_ratio(self) -> float:
        """Crop width / height (0.75)."""
        return self.input_width / self.input_height


# ----------------------------------------------------------------------------------------------- model


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.1)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) residual block of layer1."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, downsample: bool) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = _conv1x1(in_channels, planes)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = _bn(planes)
        self.conv3 = _conv1x1(planes, out_channels)
        self.bn3 = _bn(out_channels)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(_conv1x1(in_channels, out_channels), _bn(out_channels)) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class BasicBlock(nn.Module):
    """3x3 -> 3x3 residual block with an identity shortcut (same width in and out)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(channels, channels)
        self.bn1 = _bn(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = _bn(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


def _fuse_path(channels: tuple[int, ...], i: int, j: int) -> nn.Module:
    """The map f_ij from branch j's resolution and width to branch i's (spec section 2, Fusion)."""
    if j == i:
        return nn.Identity()  # no keys, like the official None slot
    if j > i:  # lower resolution: 1x1 conv + BN, then nearest upsampling (index 2, no keys)
        return nn.Sequential(
            _conv1x1(channels[j], channels[i]), _bn(channels[i]), nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")
        )
    steps: list[nn.Module] = []
    for t in range(i - j):  # higher resolution: (i - j) stride-2 3x3 convs; ReLU on all but the last
        last = t == i - j - 1
        out_channels = channels[i] if last else channels[j]
        layers: list[nn.Module] = [_conv3x3(channels[j], out_channels, stride=2), _bn(out_channels)]
        if not last:
            layers.append(nn.ReLU())
        steps.append(nn.Sequential(*layers))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then the exchange unit (``fuse_layers``).

    Takes one tensor per branch; returns one per branch, or only branch 0 when ``all_outputs`` is False
    (the last module of the last stage).
    """

    def __init__(self, channels: tuple[int, ...], blocks: int, all_outputs: bool) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*(BasicBlock(c) for _ in range(blocks))) for c in channels)
        outputs = len(channels) if all_outputs else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(channels, i, j) for j in range(len(channels))) for i in range(outputs)
        )
        self.relu = nn.ReLU()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for row in self.fuse_layers:
            assert isinstance(row, nn.ModuleList)
            y = row[0](xs[0])
            for j in range(1, len(xs)):  # summation from branch 0, adding j = 1, 2, ... in order
                y = y + row[j](xs[j])
            fused.append(self.relu(y))
        return fused


def _transition(previous: tuple[int, ...], current: tuple[int, ...]) -> nn.ModuleList:
    """Branch inputs for the next stage. Existing branches keep their tensor (identity, no keys) unless
    the width changes (conv3x3 + BN + ReLU); a new branch is a stride-2 conv3x3 + BN + ReLU of the
    previous stage's last branch, nested one level deeper (``transitionN.b.0.0``)."""
    layers: list[nn.Module] = []
    for b, channels in enumerate(current):
        if b < len(previous):
            if previous[b] == channels:
                layers.append(nn.Identity())
            else:
                layers.append(nn.Sequential(_conv3x3(previous[b], channels), _bn(channels), nn.ReLU()))
        else:
            layers.append(
                nn.Sequential(nn.Sequential(_conv3x3(previous[-1], channels, stride=2), _bn(channels), nn.ReLU()))
            )
    return nn.ModuleList(layers)


def _stage(channels: tuple[int, ...], modules: int, blocks: int, final: bool) -> nn.Sequential:
    """``modules`` HighResolutionModules in a row; the final stage's last module outputs branch 0 only."""
    return nn.Sequential(
        *(HighResolutionModule(channels, blocks, all_outputs=not (final and m == modules - 1)) for m in range(modules))
    )


class HRNet(nn.Module):
    """HRNet (pose_hrnet); state_dict keys and order match the official checkpoint.

    Input ``(B, 3, 384, 288)`` float32, normalised RGB crops (``normalize_crops``); output
    ``(B, 17, 96, 72)`` float32 raw heatmaps, COCO order, one heatmap pixel per 4 crop pixels.
    """

    def __init__(self, config: HRNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or HRNetConfig()
        self.config = cfg
        stem = cfg.stem_channels
        self.conv1 = _conv3x3(3, stem, stride=2)
        self.bn1 = _bn(stem)
        self.conv2 = _conv3x3(stem, stem, stride=2)
        self.bn2 = _bn(stem)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(
            *(
                Bottleneck(stem if k == 0 else stem * Bottleneck.expansion, stem, downsample=k == 0)
                for k in range(cfg.bottleneck_blocks)
            )
        )
        widths = cfg.branch_channels
        stages = []
        previous: tuple[int, ...] = (stem * Bottleneck.expansion,)
        for s, modules in enumerate(cfg.stage_modules):
            current = widths[: s + 2]
            final_stage = s == len(cfg.stage_modules) - 1
            stages.append((_transition(previous, current), _stage(current, modules, cfg.basic_blocks, final_stage)))
            previous = current
        (self.transition1, self.stage2), (self.transition2, self.stage3), (self.transition3, self.stage4) = stages
        self.final_layer = nn.Conv2d(widths[0], cfg.num_joints, kernel_size=1, stride=1, padding=0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H_in, W_in) normalised RGB -> (B, J, H_in / 4, W_in / 4) heatmaps."""
        cfg = self.config
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, cfg.input_height, cfg.input_width):
            raise ValueError(f"expected input (B, 3, {cfg.input_height}, {cfg.input_width}), got {tuple(x.shape)}")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for transition, stage in (
            (self.transition1, self.stage2),
            (self.transition2, self.stage3),
            (self.transition3, self.stage4),
        ):
            # Existing branches take their own output; a new branch takes the last branch's.
            xs = [layer(ys[b] if b < len(ys) else ys[-1]) for b, layer in enumerate(transition)]
            ys = stage(xs)
        return self.final_layer(ys[0])


# ------------------------------------------------------------------------------------------ checkpoints


def save_hrnet(model: HRNet, path: str | Path) -> None:
    """Write ``model`` in the official layout: a plain ``OrderedDict`` state_dict, official key names."""
    torch.save(OrderedDict(model.state_dict()), Path(path))


def read_hrnet_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a plain state_dict from ``path`` without executing pickled code.

    Raises CheckpointError, naming the file, when it is missing, unreadable, or not a flat dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such checkpoint file (expected the official pose_hrnet_w48_384x288.pth, a plain state_dict)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {first_line})"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a plain state_dict (a dict of tensors), found {type(obj).__name__}")
    not_tensors = [key for key, value in obj.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        shown = ", ".join(repr(key) for key in not_tensors[:4])
        raise CheckpointError(
            f"{path}: expected the official plain state_dict of tensors (no wrapper dict); "
            f"{len(not_tensors)} entries are not tensors, e.g. {shown}"
        )
    return dict(obj)


def check_hrnet_state_dict(
    state: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]], config: HRNetConfig
) -> None:
    """Compare a state_dict with the keys and shapes ``expected`` from the model for ``config``.

    ``*.num_batches_tracked`` may be absent (it does not affect inference). Raises CheckpointError naming
    the first few misshapen, non-float, missing and unexpected keys (each kind, with its count).
    """
    misshapen = [
        f"key {key} has shape {list(state[key].shape)}, expected {list(shape)}"
        for key, shape in expected.items()
        if key in state and tuple(state[key].shape) != shape
    ]
    not_float = [
        f"key {key} has dtype {state[key].dtype}, expected a floating-point tensor"
        for key in expected
        if key in state and not key.endswith(".num_batches_tracked") and not state[key].is_floating_point()
    ]
    missing = [
        f"missing key {key} {list(shape)}"
        for key, shape in expected.items()
        if key not in state and not key.endswith(".num_batches_tracked")
    ]
    unexpected = [f"unexpected key {key}" for key in state if key not in expected]
    problems = []
    for kind in (misshapen, not_float, missing, unexpected):
        problems += kind[:3] + ([f"and {len(kind) - 3} more like it"] if len(kind) > 3 else [])
    if problems:
        hint = ""
        if state and all(key.startswith("module.") for key in state):
            hint = " (every key has a DataParallel 'module.' prefix; the official file is a plain state_dict)"
        raise CheckpointError(f"checkpoint does not match HRNet {asdict(config)}{hint}: " + "; ".join(problems))


def load_hrnet(path: str | Path, config: HRNetConfig | None = None, device: str | torch.device = "cpu") -> HRNet:
    """Build HRNet for ``config`` and load an official-format checkpoint strictly; returns it in eval mode.

    Raises CheckpointError whose message starts with the path and names the offending keys.
    """
    cfg = config or HRNetConfig()
    with torch.device("meta"):  # shapes only: no time spent initialising weights the file replaces
        model = HRNet(cfg)
    template = model.state_dict()
    try:
        state = read_hrnet_state_dict(path)
        check_hrnet_state_dict(state, {key: tuple(value.shape) for key, value in template.items()}, cfg)
    except CheckpointError as exc:
        message = str(exc)
        raise CheckpointError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    full = {
        key: state[key].to(torch.float32)
        if not key.endswith(".num_batches_tracked")
        else state.get(key, torch.zeros((), dtype=torch.long)).to(torch.long)
        for key in template
    }
    model.load_state_dict(full, strict=True, assign=True)
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------ crops


def box_to_center_scale(box: np.ndarray, config: HRNetConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A person box -> the crop's centre and scale (spec section 5.1).

    The box is widened (or heightened) to the model's aspect (288:384) around its centre, never cut,
    then enlarged by ``SCALE_PADDING``.

    Args:
        box: ``(4,)`` x1, y1, x2, y2 in source pixels (x right, y down).
    Returns:
        center ``(2,)`` float64 pixels; scale ``(2,)`` float64, (width, height) / ``PIXEL_STD``.
    """
    cfg = config or HRNetConfig()
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    w, h = x2 - x1, y2 - y1
    center = np.array([x1 + w * 0.5, y1 + h * 0.5])
    a = cfg.aspect_ratio
    if w > a * h:
        h = w / a
    elif w < a * h:
        w = h * a
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD])
    if center[0] != -1:  # the official sentinel "no centre"; every real box takes the padding
        scale = scale * SCALE_PADDING
    return center, scale


def crop_transform(center: np.ndarray, scale: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """The affine map from source pixels to an ``output_size`` = (width, height) crop (no rotation).

    A uniform zoom set by the width only, ``s = width / (scale[0] * PIXEL_STD)``, with the centre going
    to (width / 2, height / 2): ``u = (x - cx) s + width / 2``, ``v = (y - cy) s + height / 2``.
    Returns ``(2, 3)`` float64, for ``cv2.warpAffine``.
    """
    out_w, out_h = output_size
    s = out_w / (float(scale[0]) * PIXEL_STD)
    cx, cy = float(center[0]), float(center[1])
    return np.array([[s, 0.0, out_w * 0.5 - cx * s], [0.0, s, out_h * 0.5 - cy * s]])


@dataclass(frozen=True)
class CropBatch:
    """Person crops ready for the network, with what is needed to map heatmaps back to their image."""

    pixels: np.ndarray
    """(N, 384, 288, 3) uint8 RGB crops (``config.input_height``, ``config.input_width``)."""
    centers: np.ndarray
    """(N, 2) float64 source pixels: each crop's centre in its image."""
    scales: np.ndarray
    """(N, 2) float64: each crop's (width, height) in source pixels / ``PIXEL_STD`` (padding included)."""

    def __post_init__(self) -> None:
        n = self.pixels.shape[0] if self.pixels.ndim == 4 else -1
        if self.pixels.ndim != 4 or self.pixels.shape[-1] != 3 or self.pixels.dtype != np.uint8:
            raise ValueError(f"pixels must be (N, H, W, 3) uint8, got {self.pixels.shape} {self.pixels.dtype}")
        if self.centers.shape != (n, 2) or self.scales.shape != (n, 2):
            raise ValueError(f"centers and scales must be ({n}, 2), got {self.centers.shape} and {self.scales.shape}")

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    @classmethod
    def concat(cls, batches: list[CropBatch]) -> CropBatch:
        """Several images' crops as one batch, in order (for one forward pass)."""
        if not batches:
            raise ValueError("concat needs at least one CropBatch")
        return cls(
            pixels=np.concatenate([b.pixels for b in batches]),
            centers=np.concatenate([b.centers for b in batches]),
            scales=np.concatenate([b.scales for b in batches]),
        )


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")


def _check_boxes(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be (K, 4) x1, y1, x2, y2 pixels, got shape {b.shape}")
    bad = ~np.isfinite(b).all(axis=1) | (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
    if bad.any():
        raise ValueError(f"box {int(np.argmax(bad))} is not finite with x2 > x1 and y2 > y1: {b[bad][0].tolist()}")
    return b


def crop_people(image: np.ndarray, boxes: np.ndarray, config: HRNetConfig | None = None) -> CropBatch:
    """Cut each box's crop out of one image (spec section 5.1-5.2).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(K, 4)`` x1, y1, x2, y2 source pixels, one row per person.
    Returns:
        a ``CropBatch`` of K crops (bilinear warp, outside the image is black).
    """
    cfg = config or HRNetConfig()
    _check_image(image)
    b = _check_boxes(boxes)
    size = (cfg.input_width, cfg.input_height)
    pixels = np.zeros((len(b), cfg.input_height, cfg.input_width, 3), np.uint8)
    centers = np.zeros((len(b), 2))
    scales = np.zeros((len(b), 2))
    source = np.ascontiguousarray(image)
    for k, box in enumerate(b):
        centers[k], scales[k] = box_to_center_scale(box, cfg)
        pixels[k] = cv2.warpAffine(
            source,
            crop_transform(centers[k], scales[k], size),
            size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
    return CropBatch(pixels=pixels, centers=centers, scales=scales)


def normalize_crops(pixels: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB crops -> ``(N, 3, H, W)`` float32: ``(pixel / 255 - mean) / std`` per
    channel, ImageNet mean/std in RGB order (spec section 5.3)."""
    if pixels.ndim != 4 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"crops must be (N, H, W, 3) uint8 RGB, got {pixels.shape} {pixels.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).permute(0, 3, 1, 2).contiguous()
    x = x.to(torch.float32).div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device)[:, None, None]
    return x.sub(mean).div(std)


# ------------------------------------------------------------------------------------------ heatmaps


def unflip_heatmaps(heatmaps: torch.Tensor) -> torch.Tensor:
    """Heatmaps of a left-right mirrored crop, brought back to the crop's frame (spec section 6, Flip test).

    Mirrors along the width, swaps each COCO left/right pair, then shifts one pixel right (column c takes
    column c - 1; column 0 keeps its value). ``(N, 17, h, w)`` -> ``(N, 17, h, w)``, same dtype.
    """
    if heatmaps.ndim != 4 or heatmaps.shape[1] != len(COCO):
        raise ValueError(f"heatmaps must be (N, {len(COCO)}, h, w), got {tuple(heatmaps.shape)}")
    permutation = torch.tensor(COCO_FLIP_PERMUTATION, dtype=torch.long, device=heatmaps.device)
    back = torch.flip(heatmaps, dims=[3])[:, permutation]
    shifted = back.clone()
    shifted[..., 1:] = back[..., :-1]
    return shifted


def predict_heatmaps(model: HRNet, inputs: torch.Tensor, flip: bool = False) -> torch.Tensor:
    """Run the net on normalised crops ``(N, 3, 384, 288)``; returns ``(N, 17, 96, 72)`` float32 heatmaps.

    With ``flip``, a second pass sees the mirrored crops and the result is ``(plain + unflipped) * 0.5``.
    """
    with torch.inference_mode():
        heatmaps = model(inputs)
        if flip:
            heatmaps = (heatmaps + unflip_heatmaps(model(torch.flip(inputs, dims=[3])))) * 0.5
    return heatmaps


def decode_heatmaps(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps -> keypoints in source pixels (spec section 6).

    Per joint: the first maximum in row-major order at (u, v); (0, 0) when the maximum is <= 0; then a
    quarter pixel toward the larger neighbour in each axis where 1 < u < w - 1 and 1 < v < h - 1; then
    ``x = cx + (u - w / 2) * scale[0] * 200 / w`` and ``y = cy + (v - h / 2) * scale[0] * 200 / w``.

    Args:
        heatmaps: ``(N, J, h, w)`` float32.
        centers, scales: ``(N, 2)`` each crop's centre (pixels) and scale (see ``CropBatch``).
    Returns:
        keypoints ``(N, J, 2)`` float32 source pixels (x, y), heatmap channel order (COCO for HRNet);
        scores ``(N, J)`` float32 heatmap maxima.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, J, h, w), got {heatmaps.shape}")
    n, j, h, w = heatmaps.shape
    centers = np.asarray(centers, dtype=np.float64)
    scales = np.asarray(scales, dtype=np.float64)
    if centers.shape != (n, 2) or scales.shape != (n, 2):
        raise ValueError(f"centers and scales must be ({n}, 2), got {centers.shape} and {scales.shape}")
    flat = heatmaps.reshape(n, j, h * w)
    index = np.argmax(flat, axis=2)  # first maximum
    scores = np.take_along_axis(flat, index[..., None], axis=2)[..., 0].astype(np.float32)
    found = scores > 0
    u_int = np.where(found, index % w, 0)
    v_int = np.where(found, index // w, 0)
    u = u_int.astype(np.float64)
    v = v_int.astype(np.float64)
    inner = (u_int > 1) & (u_int < w - 1) & (v_int > 1) & (v_int < h - 1)
    ni, ji = np.nonzero(inner)
    ui, vi = u_int[inner], v_int[inner]
    maps = heatmaps
    u[inner] += 0.25 * np.sign(maps[ni, ji, vi, ui + 1] - maps[ni, ji, vi, ui - 1])
    v[inner] += 0.25 * np.sign(maps[ni, ji, vi + 1, ui] - maps[ni, ji, vi - 1, ui])
    pixels_per_cell = scales[:, 0:1] * PIXEL_STD / w
    x = centers[:, 0:1] + (u - w * 0.5) * pixels_per_cell
    y = centers[:, 1:2] + (v - h * 0.5) * pixels_per_cell
    return np.stack([x, y], axis=-1).astype(np.float32), scores


# ------------------------------------------------------------------------------------------ estimation


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def estimate_batch(model: HRNet, crops: CropBatch, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """2D poses for already-cut crops (from one image or several), in one forward pass.

    Args:
        model: an HRNet in eval mode.
        crops: ``CropBatch`` of N crops sized for ``model.config``.
        flip: also run the mirrored crops and average (the official flip test).
    Returns:
        keypoints ``(N, 17, 2)`` float32, pixels of each crop's source image, COCO order;
        scores ``(N, 17)`` float32 raw heatmap maxima.
    """
    cfg = model.config
    if crops.pixels.shape[1:3] != (cfg.input_height, cfg.input_width):
        raise ValueError(
            f"crops are {crops.pixels.shape[1:3]} (H, W); the model takes ({cfg.input_height}, {cfg.input_width})"
        )
    if len(crops) == 0:
        return np.zeros((0, cfg.num_joints, 2), np.float32), np.zeros((0, cfg.num_joints), np.float32)
    inputs = normalize_crops(crops.pixels, _model_device(model))
    heatmaps = predict_heatmaps(model, inputs, flip=flip).float().cpu().numpy()
    return decode_heatmaps(heatmaps, crops.centers, crops.scales)


def estimate_poses(
    model: HRNet, image_rgb: np.ndarray, boxes: np.ndarray, flip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """2D poses of the people in one image, all crops in one batch.

    Args:
        model: an HRNet in eval mode.
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(K, 4)`` x1, y1, x2, y2 source pixels, one per person.
        flip: run the official flip test (two passes).
    Returns:
        keypoints ``(K, 17, 2)`` float32 source pixels (x right, y down), COCO order;
        scores ``(K, 17)`` float32 raw heatmap maxima.
    """
    return estimate_batch(model, crop_people(image_rgb, boxes, model.config), flip=flip)

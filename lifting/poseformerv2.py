"""PoseFormerV2: a clean-room implementation of the official model and checkpoint format.

Written from ../shared/specs/poseformerv2.md. Parameter names are the official ones, so the official
``27_243_45.2.bin`` (a ``torch.save`` dict whose ``model_pos`` is a DataParallel state_dict with
``module.`` prefixes) loads strictly. The DCT/IDCT are precomputed matrices (float64 built, float32
stored) instead of torch-dct's FFTs: the same maths to float32 rounding, and one matmul each.

Input ``(B, T, 17, 2)`` float32 normalised screen coordinates (see ``normalize_screen``), H36M order;
output ``(B, 1, 17, 3)`` float32 metres, camera axes, for the window's centre frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable, or not in the expected format; the message says which."""


@dataclass(frozen=True)
class PoseFormerV2Config:
    """Hyper-parameters that set PoseFormerV2's shapes. Defaults are the official 27_243 model."""

    frames: int = 243
    """T: input window length (receptive field), odd."""
    kept_frames: int = 27
    """F: centre frames fed to the time-domain branch, odd and <= T."""
    kept_coeffs: int = 27
    """K: low-frequency DCT coefficients fed to the frequency branch, <= T."""
    num_joints: int = 17
    """J: joints per frame (H36M-17)."""
    embed_dim_ratio: int = 32
    """E: per-joint embedding width; the temporal token width is E * J."""
    depth: int = 4
    """Number of spatial blocks, and of mixed blocks."""
    num_heads: int = 8
    """Attention heads in both the spatial and the temporal attention."""
    mlp_ratio: float = 2.0
    """MLP hidden width as a multiple of the block width."""

    def __post_init__(self) -> None:
        checks = [
            (self.frames >= 1 and self.frames % 2 == 1, f"frames (T) must be odd and >= 1, got {self.frames}"),
            (
                1 <= self.kept_frames <= self.frames and self.kept_frames % 2 == 1,
                f"kept_frames (F) must be odd and in [1, frames={self.frames}], got {self.kept_frames}",
            ),
            (
                1 <= self.kept_coeffs <= self.frames,
                f"kept_coeffs (K) must be in [1, frames={self.frames}], got {self.kept_coeffs}",
            ),
            (self.num_joints >= 1, f"num_joints must be >= 1, got {self.num_joints}"),
            (self.depth >= 1, f"depth must be >= 1, got {self.depth}"),
            (
                self.num_heads >= 1 and self.embed_dim_ratio % self.num_heads == 0,
                f"embed_dim_ratio={self.embed_dim_ratio} must be divisible by num_heads={self.num_heads}",
            ),
            (self.mlp_ratio > 0, f"mlp_ratio must be > 0, got {self.mlp_ratio}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def pad(self) -> int:
        """Frames on each side of the centre frame: (T - 1) // 2."""
        return (self.frames - 1) // 2


def dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II as a matrix: ``X = D @ x`` with ``D[k, i] = 2 cos(pi k (2i + 1) / 2n)``. float64."""
    k = np.arange(n, dtype=np.float64)[:, None]
    i = np.arange(n, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


def idct_matrix(n: int) -> np.ndarray:
    """Exact inverse of ``dct_matrix(n)`` (a scaled DCT-III): ``x = I @ X``. float64."""
    i = np.arange(n, dtype=np.float64)[:, None]
    k = np.arange(n, dtype=np.float64)[None, :]
    inv = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) / n
    inv[:, 0] = 1.0 / (2 * n)
    return inv


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class FreqMlp(Mlp):
    """An MLP applied in the DCT domain of the token axis: DCT -> fc1 -> GELU -> fc2 -> IDCT."""

    def __init__(self, dim: int, hidden: int, tokens: int) -> None:
        super().__init__(dim, hidden)
        self.dct_basis: torch.Tensor
        self.idct_basis: torch.Tensor
        self.register_buffer("dct_basis", torch.from_numpy(dct_matrix(tokens)).float(), persistent=False)
        self.register_buffer("idct_basis", torch.from_numpy(idct_matrix(tokens)).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) with N = tokens."""
        coeffs = torch.matmul(self.dct_basis, x)
        return torch.matmul(self.idct_basis, super().forward(coeffs))


class Attention(nn.Module):
    """Multi-head self-attention, timm ViT layout (one qkv projection, heads head-major)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block of the spatial branch."""

    def __init__(self, dim: int, num_heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MixedBlock(nn.Module):
    """Joint attention over [frequency tokens; time tokens], then a plain MLP on the frequency tokens
    and a DCT-domain MLP on the time tokens. Split explicitly at ``freq_tokens``."""

    def __init__(self, dim: int, num_heads: int, hidden: int, freq_tokens: int, time_tokens: int) -> None:
        super().__init__()
        self.freq_tokens = freq_tokens
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp1 = Mlp(dim, hidden)
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp2 = FreqMlp(dim, hidden, time_tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        freq, time = x[:, : self.freq_tokens], x[:, self.freq_tokens :]
        freq = freq + self.mlp1(self.norm2(freq))
        time = time + self.mlp2(self.norm3(time))
        return torch.cat((freq, time), dim=1)


class PoseFormerV2(nn.Module):
    """The PoseFormerV2 network; parameter names match the official checkpoint (without ``module.``)."""

    def __init__(self, config: PoseFormerV2Config | None = None) -> None:
        super().__init__()
        cfg = config or PoseFormerV2Config()
        self.config = cfg
        e, j = cfg.embed_dim_ratio, cfg.num_joints
        d = e * j
        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, j, e))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, cfg.kept_frames, d))
        self.Temporal_pos_embed_ = nn.Parameter(torch.zeros(1, cfg.kept_coeffs, d))
        self.Joint_embedding = nn.Linear(2, e)
        self.Freq_embedding = nn.Linear(2 * j, d)
        self.Spatial_blocks = nn.ModuleList(Block(e, cfg.num_heads, int(e * cfg.mlp_ratio)) for _ in range(cfg.depth))
        self.blocks = nn.ModuleList(
            MixedBlock(d, cfg.num_heads, int(d * cfg.mlp_ratio), cfg.kept_coeffs, cfg.kept_frames)
            for _ in range(cfg.depth)
        )
        self.Spatial_norm = nn.LayerNorm(e, eps=1e-6)
        self.Temporal_norm = nn.LayerNorm(d, eps=1e-6)
        self.weighted_mean = nn.Conv1d(cfg.kept_coeffs, 1, kernel_size=1)
        self.weighted_mean_ = nn.Conv1d(cfg.kept_frames, 1, kernel_size=1)
        self.head = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, 3 * j))
        # Frequency-branch input transform: the first K rows of the T-point DCT-II.
        freq_in = dct_matrix(cfg.frames)[: cfg.kept_coeffs]
        self.freq_in: torch.Tensor
        self.register_buffer("freq_in", torch.from_numpy(freq_in).float(), persistent=False)
        self._first_kept = cfg.pad - cfg.kept_frames // 2
        for param in (self.Spatial_pos_embed, self.Temporal_pos_embed, self.Temporal_pos_embed_):
            nn.init.trunc_normal_(param, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, 2) normalised screen coords -> (B, 1, J, 3) metres for the centre frame."""
        cfg = self.config
        b, t, j, c = x.shape
        if (t, j, c) != (cfg.frames, cfg.num_joints, 2):
            raise ValueError(f"expected input (B, {cfg.frames}, {cfg.num_joints}, 2), got {tuple(x.shape)}")
        # Time-domain branch: the F centre frames, joints as tokens.
        kept = x[:, self._first_kept : self._first_kept + cfg.kept_frames].reshape(b * cfg.kept_frames, j, 2)
        s = self.Joint_embedding(kept) + self.Spatial_pos_embed
        for block in self.Spatial_blocks:
            s = block(s)
        s = self.Spatial_norm(s).reshape(b, cfg.kept_frames, j * cfg.embed_dim_ratio)
        # Frequency branch: the K lowest DCT-II coefficients of all T frames.
        coeffs = torch.einsum("kt,btjc->bkjc", self.freq_in, x).reshape(b, cfg.kept_coeffs, j * 2)
        f = self.Freq_embedding(coeffs)
        z = torch.cat((f + self.Temporal_pos_embed_, s + self.Temporal_pos_embed), dim=1)
        for mixed in self.blocks:
            z = mixed(z)
        z = self.Temporal_norm(z)
        pooled = torch.cat(
            (self.weighted_mean(z[:, : cfg.kept_coeffs]), self.weighted_mean_(z[:, cfg.kept_coeffs :])), dim=-1
        )
        return self.head(pooled).reshape(b, 1, j, 3)


def official_state_dict(model: PoseFormerV2) -> dict[str, torch.Tensor]:
    """The model's state_dict as the official file stores it: DataParallel ``module.`` prefixes."""
    return {f"module.{key}": value for key, value in model.state_dict().items()}


def save_checkpoint(model: PoseFormerV2, path: str | Path, **extra: Any) -> None:
    """Write a checkpoint in the official layout (``{"model_pos": {"module.*": tensor}}`` plus ``extra``)."""
    torch.save({**extra, "model_pos": official_state_dict(model)}, Path(path))


def _safe_numpy_globals() -> list[Any]:
    """Globals needed to unpickle the NumPy RandomState that training scripts store as ``random_state``.
    They rebuild plain data (arrays, dtypes, RNG state) and nothing else."""
    from numpy.random import _pickle as np_random_pickle

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    names = ["__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"]
    found = [getattr(np_random_pickle, name) for name in names if hasattr(np_random_pickle, name)]
    rng_classes = [np.random.RandomState, np.random.Generator, np.random.MT19937, np.random.PCG64]
    dtype_classes = {type(np.dtype(t)) for t in ("u4", "i8", "f8")}
    reconstruct = multiarray._reconstruct  # type: ignore[attr-defined]
    return [*found, *rng_classes, reconstruct, np.ndarray, np.dtype, *dtype_classes]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read ``model_pos`` from an official-format checkpoint, without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with torch.serialization.safe_globals(_safe_numpy_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc
    if not isinstance(obj, dict) or "model_pos" not in obj:
        keys = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{path}: expected the official PoseFormerV2 layout, a dict with a 'model_pos' state_dict; found {keys}"
        )
    state = obj["model_pos"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'model_pos' is not a state_dict of tensors")
    return state


def check_state_dict(state: dict[str, torch.Tensor], config: PoseFormerV2Config) -> dict[str, torch.Tensor]:
    """Validate an official state_dict against ``config`` and return it without ``module.`` prefixes.

    Raises CheckpointError naming every missing, unexpected or misshapen key.
    """
    prefixed = [key.startswith("module.") for key in state]
    if any(prefixed) and not all(prefixed):
        odd = next(key for key, p in zip(state, prefixed, strict=True) if not p)
        raise CheckpointError(f"mixed key prefixes: {odd!r} lacks the 'module.' prefix the other keys have")
    stripped = {key.removeprefix("module."): value for key, value in state.items()}
    expected = {key: tuple(v.shape) for key, v in PoseFormerV2(config).state_dict().items()}
    shown = "module." if all(prefixed) and prefixed else ""
    # Shape mismatches first: they tell most about a wrong config or a wrong file.
    problems = [
        f"key {shown}{key} has shape {list(stripped[key].shape)}, expected {list(shape)}"
        for key, shape in expected.items()
        if key in stripped and tuple(stripped[key].shape) != shape
    ]
    problems += [f"missing key {shown}{key} {list(shape)}" for key, shape in expected.items() if key not in stripped]
    problems += [f"unexpected key {shown}{key}" for key in stripped if key not in expected]
    if problems:
        head = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise CheckpointError(f"checkpoint does not match PoseFormerV2 {asdict(config)}: {head}")
    return stripped


def load_poseformerv2(
    path: str | Path, config: PoseFormerV2Config | None = None, device: str | torch.device = "cpu"
) -> PoseFormerV2:
    """Build PoseFormerV2 for ``config`` and load an official-format checkpoint strictly, in eval mode."""
    cfg = config or PoseFormerV2Config()
    try:
        state = check_state_dict(read_state_dict(path), cfg)
    except CheckpointError as exc:
        message = str(exc)
        raise CheckpointError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    model = PoseFormerV2(cfg)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def count_parameters(model: nn.Module) -> int:
    """Number of learnable scalars."""
    return sum(math.prod(p.shape) for p in model.parameters())

"""Synthetic training windows: 3D motion -> virtual camera -> detector-like 2D -> the lifter's input.

One window is made as live mode would see it (``sample_window``):

1. a stretch of a clip, time-warped (x0.8-1.25 speed), its bones re-scaled (another body), maybe mirrored
   and maybe laid down on the floor (``AugmentOptions``);
2. a camera placed like a webcam on a desk, a phone on the floor looking up or a tripod, at any
   azimuth, its distance chosen so the subject fills a drawn share of the picture, the subject anywhere
   in frame (``sample_camera``);
3. pinhole projection to pixels, then detector-like noise: per-frame jitter, a per-joint bias (where a
   detector puts a joint vs. the mocap joint), left/right swaps for a few frames, feet guessed near
   the knees, and frames without a detection (``add_detector_noise``);
4. normalisation with the inference code itself (``lifting.window.normalize_screen``) and gaps filled
   as ``lifting.window`` fills them (the last detection; before the first one, the first);
5. the window rows exactly as ``LiftStream`` (``lifting.window.StreamingWindow``) builds them for a
   lookahead L: frame t's window covers t - pad ... t + pad, positions before the stream's first frame
   repeat it, positions after t + L (the newest frame that has arrived) repeat that frame
   (``window_rows``). L is drawn over the live range, and sometimes L = pad (batch mode).

The target is frame t's 3D pose in camera axes (x right, y down, z away), metres, pelvis at the origin,
as the lifter outputs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lifting.joints import H36M, H36M_FLIP_PERMUTATION, H36M_PARENTS
from lifting.training.motion import MotionClip, MotionSet
from lifting.window import normalize_screen

LEFT_LEG = (H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE)
RIGHT_LEG = (H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE)
LEFT_ARM = (H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST)
RIGHT_ARM = (H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST)
BONE_GROUPS: tuple[tuple[int, ...], ...] = (
    (H36M.R_HIP, H36M.L_HIP),
    (H36M.R_KNEE, H36M.L_KNEE),
    (H36M.R_ANKLE, H36M.L_ANKLE),
    (H36M.SPINE,),
    (H36M.THORAX,),
    (H36M.NECK_NOSE,),
    (H36M.HEAD,),
    (H36M.L_SHOULDER, H36M.R_SHOULDER),
    (H36M.L_ELBOW, H36M.R_ELBOW),
    (H36M.L_WRIST, H36M.R_WRIST),
)
"""Joints whose bone (to the parent) is scaled together: left and right stay alike."""
_EXTREMITY = np.ones(17)
_EXTREMITY[[H36M.L_WRIST, H36M.R_WRIST, H36M.L_ANKLE, H36M.R_ANKLE, H36M.HEAD]] = 1.5


@dataclass(frozen=True)
class CameraOptions:
    """Where virtual cameras go. Angles in degrees; ``subject_fraction`` is the subject's larger
    extent in the picture over the window (height for a standing person, length lying down)."""

    image_sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (640, 360), (720, 1280), (480, 640))
    """(width, height) choices: landscape webcams and portrait phones."""
    hfov_deg: tuple[float, float] = (50.0, 80.0)
    """Horizontal field of view range (webcams and phone main cameras)."""
    subject_fraction: tuple[float, float] = (0.35, 0.9)
    """Share of the picture the subject fills."""
    elevation_deg: tuple[tuple[float, float], ...] = ((-5.0, 15.0), (-30.0, -5.0), (0.0, 25.0))
    """Camera elevation above the subject's centre, per setting: desk webcam, phone on the floor, tripod."""
    roll_deg: float = 5.0
    """Largest roll (a phone leaned against something)."""
    margin: float = 0.02
    """Share of the picture kept free around the subject."""

    def __post_init__(self) -> None:
        lo, hi = self.subject_fraction
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"subject_fraction must satisfy 0 < low <= high <= 1, got {self.subject_fraction}")
        if not 1 <= self.hfov_deg[0] <= self.hfov_deg[1] < 170:
            raise ValueError(f"hfov_deg must be a range within [1, 170), got {self.hfov_deg}")
        if not self.image_sizes or any(w < 16 or h < 16 for w, h in self.image_sizes):
            raise ValueError(f"image_sizes must be (width, height) pairs of at least 16 px, got {self.image_sizes}")


@dataclass(frozen=True)
class NoiseOptions:
    """Detector-like corruption of the projected 2D, sizes as shares of the subject's picture height."""

    jitter: tuple[float, float] = (0.003, 0.015)
    """Per-frame, per-joint Gaussian noise (standard deviation) range; wrists, ankles and head x1.5."""
    bias: float = 0.012
    """Per-window, per-joint constant offset (standard deviation): a detector's joint is not the mocap's."""
    p_swap: float = 0.08
    """Chance that a window has a run of frames with left and right legs (or arms, or both) swapped."""
    p_feet: float = 0.08
    """Chance that a window has a run of frames whose ankles are guessed near the knees (feet out of
    frame or hidden)."""
    p_drop: float = 0.15
    """Chance that a window has frames without a detection (each dropped with a drawn rate of 5-30%)."""

    @staticmethod
    def none() -> NoiseOptions:
        """Clean projections."""
        return NoiseOptions(jitter=(0.0, 0.0), bias=0.0, p_swap=0.0, p_feet=0.0, p_drop=0.0)


@dataclass(frozen=True)
class AugmentOptions:
    """Changes to the 3D motion before it is filmed."""

    time_warp: tuple[float, float] = (0.8, 1.25)
    """Playback speed range."""
    body_scale: tuple[float, float] = (0.85, 1.15)
    """Whole-body size range."""
    bone_spread: float = 0.06
    """Per-bone-group length change, uniform +-."""
    p_mirror: float = 0.5
    """Chance of mirroring left and right."""
    p_lie_down: float = 0.12
    """Chance of laying an upright motion down on the floor (a turn of 90 deg about a horizontal axis)."""

    @staticmethod
    def none() -> AugmentOptions:
        return AugmentOptions(
            time_warp=(1.0, 1.0), body_scale=(1.0, 1.0), bone_spread=0.0, p_mirror=0.0, p_lie_down=0.0
        )


@dataclass(frozen=True)
class SynthOptions:
    """How training windows are drawn."""

    frames: int
    """T, the lifter's window (odd)."""
    live_lookahead_max: int = 30
    """Lookaheads are drawn uniformly from 0 ... min(this, pad): the range live mode uses (default 13)."""
    p_full_lookahead: float = 0.25
    """Chance of lookahead = pad (batch mode's centred window)."""
    p_young_stream: float = 0.1
    """Chance that the stream began less than pad frames before the target (left edge padding)."""
    history: int = 8
    """Frames before the window that are also rendered (their detections fill dropped frames)."""
    camera: CameraOptions = field(default_factory=CameraOptions)
    noise: NoiseOptions = field(default_factory=NoiseOptions)
    augment: AugmentOptions = field(default_factory=AugmentOptions)

    def __post_init__(self) -> None:
        if self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"frames must be odd and >= 1, got {self.frames}")
        if self.live_lookahead_max < 0:
            raise ValueError(f"live_lookahead_max must be >= 0, got {self.live_lookahead_max}")
        if not 0 <= self.p_full_lookahead <= 1:
            raise ValueError(f"p_full_lookahead must be in [0, 1], got {self.p_full_lookahead}")

    @property
    def pad(self) -> int:
        return (self.frames - 1) // 2


@dataclass(frozen=True)
class Camera:
    """A pinhole camera in the world frame (Y up)."""

    rotation: np.ndarray
    """(3, 3) world -> camera; rows are the camera's right, down and forward axes in world coordinates."""
    position: np.ndarray
    """(3,) metres, world."""
    focal_px: float
    """Focal length in pixels (square pixels)."""
    principal: tuple[float, float]
    """(cx, cy) pixels."""
    image_size: tuple[int, int]
    """(width, height) pixels."""

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> camera axes (x right, y down, z away), metres, float64."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> pixels ``(..., 2)`` float64 (x right, y down)."""
        cam = self.to_camera(points)
        z = np.maximum(cam[..., 2:3], 1e-3)
        return cam[..., :2] / z * self.focal_px + np.asarray(self.principal)


def _unit_cross(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]
    n = math.sqrt(x * x + y * y + z * z)
    return (x / n, y / n, z / n) if n > 1e-9 else (1.0, 0.0, 0.0)


def look_at(position: np.ndarray, target: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """World -> camera rotation of a camera at ``position`` looking at ``target``, upright (world +Y
    is up in the picture) and then rolled by ``roll_deg`` about its optical axis. (Plain floats: it
    runs a few thousand times per batch.)"""
    fx, fy, fz = (float(t) - float(p) for t, p in zip(target, position, strict=True))
    n = math.sqrt(fx * fx + fy * fy + fz * fz)
    forward = (fx / n, fy / n, fz / n)
    right = _unit_cross((0.0, -1.0, 0.0), forward)  # straight up or down: any right will do
    down = _unit_cross(forward, right)
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    rolled_right = tuple(c * r - s * d for r, d in zip(right, down, strict=True))
    rolled_down = tuple(s * r + c * d for r, d in zip(right, down, strict=True))
    return np.array([rolled_right, rolled_down, forward])


def _bbox(pixels: np.ndarray) -> tuple[float, float, float, float]:
    flat = pixels.reshape(-1, 2)
    return float(flat[:, 0].min()), float(flat[:, 1].min()), float(flat[:, 0].max()), float(flat[:, 1].max())


def sample_camera(
    rng: np.random.Generator, poses: np.ndarray, options: CameraOptions, fraction: float | None = None
) -> Camera:
    """A camera that films ``poses`` ``(N, 17, 3)`` (world, metres) with the subject's larger extent over
    all N frames filling ``fraction`` of the picture (drawn from ``options.subject_fraction`` when None),
    entirely in frame when it fits."""
    width, height = options.image_sizes[int(rng.integers(len(options.image_sizes)))]
    hfov = math.radians(rng.uniform(*options.hfov_deg))
    focal = width / 2 / math.tan(hfov / 2)
    share = float(rng.uniform(*options.subject_fraction)) if fraction is None else fraction
    lo, hi = options.elevation_deg[int(rng.integers(len(options.elevation_deg)))]
    elevation = math.radians(rng.uniform(lo, hi))
    azimuth = rng.uniform(0.0, 2 * math.pi)
    roll = rng.uniform(-options.roll_deg, options.roll_deg)
    # At most ~24 frames are measured (at 30 fps the extremes move little between them).
    flat = poses[:: max(1, poses.shape[0] // 24)].reshape(-1, 3).astype(np.float64)
    centre = (flat.min(axis=0) + flat.max(axis=0)) / 2
    direction = np.array(
        [math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)]
    )
    principal = (width / 2, height / 2)

    def film(distance: float) -> tuple[Camera, float]:
        position = centre + direction * distance
        position[1] = max(position[1], 0.03)  # never below the floor
        cam = Camera(look_at(position, centre, roll), position, focal, principal, (width, height))
        if cam.to_camera(flat)[:, 2].min() < 0.2:  # a joint at or behind the lens: far too close
            return cam, math.inf
        x0, y0, x1, y1 = _bbox(cam.project(flat))
        return cam, max((x1 - x0) / width, (y1 - y0) / height)

    # The share of the picture falls as the camera backs away: bisect the distance (in log steps).
    near, far = 0.2, 60.0
    for _ in range(14):  # the interval shrinks to a factor of 300 ** (1 / 2 ** 14): 0.04 %
        mid = math.sqrt(near * far)
        if film(mid)[1] > share:
            near = mid
        else:
            far = mid
    camera = film(far)[0]
    # Anywhere in frame: move the principal point (a crop of a centred camera) within the free margin.
    x0, y0, x1, y1 = _bbox(camera.project(poses))
    cx, cy = width / 2, height / 2
    m = options.margin
    shift = []
    for low, high, size in ((x0, x1, width), (y0, y1, height)):
        free_lo, free_hi = m * size - low, (1 - m) * size - high
        shift.append(rng.uniform(free_lo, free_hi) if free_lo <= free_hi else 0.0)
    return Camera(camera.rotation, camera.position, focal, (cx + shift[0], cy + shift[1]), (width, height))


def resample(poses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``poses`` ``(N, 17, 3)`` at fractional frame ``positions`` ``(n,)`` in [0, N-1]."""
    n = poses.shape[0]
    pos = np.clip(positions, 0, n - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0)[:, None, None].astype(np.float32)
    return poses[i0] * (1 - w) + poses[i1] * w


def rescale_bones(poses: np.ndarray, scale: float, factors: np.ndarray) -> np.ndarray:
    """Another body doing the same motion: every bone (joint to parent) times ``scale`` times its
    group's factor (``factors`` ``(len(BONE_GROUPS),)``), rebuilt from the pelvis outwards; the pelvis
    path is scaled about its mean over the window horizontally and from the floor vertically."""
    per_joint = np.ones(17)
    for group, f in zip(BONE_GROUPS, factors, strict=True):
        per_joint[list(group)] = f
    per_joint *= scale
    out = np.empty_like(poses)
    root = poses[:, H36M.PELVIS]
    mean = root.mean(axis=0)
    out[:, H36M.PELVIS] = root
    out[:, H36M.PELVIS, 0::2] = mean[0::2] + (root[:, 0::2] - mean[0::2]) * scale
    out[:, H36M.PELVIS, 1] = root[:, 1] * scale
    for j in range(1, 17):  # parents come before children in H36M order
        p = H36M_PARENTS[j]
        out[:, j] = out[:, p] + (poses[:, j] - poses[:, p]) * per_joint[j]
    return out


def mirror(poses: np.ndarray) -> np.ndarray:
    """Left and right exchanged: x negated, left and right joints swapped (world or camera frame)."""
    out = np.array(poses[..., H36M_FLIP_PERMUTATION, :], copy=True)
    out[..., 0] *= -1
    return out


def lie_down(poses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The motion turned 75-105 deg about a random horizontal axis through the pelvis' mean (face up,
    face down or on a side), then put on the floor (lowest point 0-0.1 m above y = 0)."""
    heading = rng.uniform(0, 2 * math.pi)
    axis = np.array([math.cos(heading), 0.0, math.sin(heading)])
    angle = math.radians(rng.uniform(75, 105)) * (1 if rng.random() < 0.5 else -1)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k  # Rodrigues
    centre = poses[:, H36M.PELVIS].mean(axis=0)
    out = ((poses - centre) @ rot.T + centre).astype(np.float32)
    out[..., 1] -= out[..., 1].min() - rng.uniform(0.0, 0.1)
    return out


def augment_motion(poses: np.ndarray, rng: np.random.Generator, options: AugmentOptions) -> np.ndarray:
    """Bone lengths, mirroring and lying down (time warping is done when the frames are picked)."""
    factors = 1 + rng.uniform(-options.bone_spread, options.bone_spread, len(BONE_GROUPS))
    out = rescale_bones(poses, float(rng.uniform(*options.body_scale)), factors)
    if rng.random() < options.p_mirror:
        out = mirror(out)
    if rng.random() < options.p_lie_down:
        out = lie_down(out, rng)
    return out.astype(np.float32)


def _run(rng: np.random.Generator, n: int, longest: int) -> slice:
    length = int(rng.integers(1, max(2, min(longest, n) + 1)))
    start = int(rng.integers(0, max(1, n - length + 1)))
    return slice(start, start + length)


def add_detector_noise(
    pixels: np.ndarray, rng: np.random.Generator, options: NoiseOptions, keep: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt clean projections ``(N, 17, 2)`` pixels as a 2D detector would.

    Returns ``(keypoints, detected)``: ``(N, 17, 2)`` float32 pixels and ``(N,)`` bool, frame ``keep``
    always detected (and at least one frame in any case)."""
    n = pixels.shape[0]
    out = np.array(pixels, dtype=np.float64, copy=True)
    x0, y0, x1, y1 = _bbox(pixels)
    size = max(y1 - y0, x1 - x0, 1.0)
    sigma = rng.uniform(*options.jitter) * size
    out += rng.normal(0.0, 1.0, out.shape) * sigma * _EXTREMITY[None, :, None]
    out += rng.normal(0.0, options.bias * size, (1, 17, 2))
    if rng.random() < options.p_swap:
        which = int(rng.integers(3))
        pairs = [(LEFT_LEG, RIGHT_LEG), (LEFT_ARM, RIGHT_ARM), (LEFT_LEG + LEFT_ARM, RIGHT_LEG + RIGHT_ARM)][which]
        run = _run(rng, n, 8)
        left, right = list(pairs[0]), list(pairs[1])
        out[run, left + right] = out[run, right + left]
    if rng.random() < options.p_feet:
        run = _run(rng, n, n)
        for knee, ankle in ((H36M.L_KNEE, H36M.L_ANKLE), (H36M.R_KNEE, H36M.R_ANKLE)):
            t = rng.uniform(0.0, 0.6)
            out[run, ankle] = out[run, knee] + t * (out[run, ankle] - out[run, knee]) + rng.normal(0, 0.03 * size, 2)
    detected = np.ones(n, dtype=bool)
    if rng.random() < options.p_drop:
        detected = rng.random(n) >= rng.uniform(0.05, 0.3)
    if keep is not None:
        detected[keep] = True
    elif not detected.any():
        detected[int(rng.integers(n))] = True
    return out.astype(np.float32), detected


def fill_gaps(inputs: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Frames without a detection take the last detection before them; frames before the first
    detection take the first (as ``lifting.window.fill_sequence`` and ``StreamingWindow``).
    ``(N, 17, 2)``, ``(N,)`` bool with at least one True -> ``(N, 17, 2)``."""
    if not detected.any():
        raise ValueError("fill_gaps needs at least one detected frame")
    index = np.where(detected, np.arange(len(detected)), -1)
    index = np.maximum.accumulate(index)
    index[index < 0] = int(np.argmax(detected))
    return inputs[index]


def window_rows(target: int, newest: int, frames: int) -> np.ndarray:
    """Rows of the window of frame ``target`` of a stream whose frames 0 ... ``newest`` have arrived:
    ``target - pad ... target + pad`` clipped to that range (edge padding, as ``StreamingWindow``).
    ``newest = min(target + lookahead, last frame)``. Returns ``(frames,)`` int64."""
    if not 0 <= target <= newest:
        raise ValueError(f"need 0 <= target <= newest, got {target}, {newest}")
    pad = (frames - 1) // 2
    return np.clip(np.arange(target - pad, target + pad + 1), 0, newest)


def lookahead_window(inputs: np.ndarray, target: int, frames: int, lookahead: int) -> np.ndarray:
    """The live window of frame ``target`` of a stream ``inputs`` ``(N, 17, 2)`` (gaps filled) that
    started at frame 0, with ``lookahead`` future frames: ``(frames, 17, 2)``."""
    newest = min(target + lookahead, inputs.shape[0] - 1)
    return inputs[window_rows(target, newest, frames)]


@dataclass(frozen=True)
class Stream:
    """A motion filmed by one camera and seen by a (simulated) detector."""

    keypoints: np.ndarray
    """(N, 17, 2) float32 pixels after detector noise; rows of undetected frames are kept but unused."""
    detected: np.ndarray
    """(N,) bool, whether the simulated detector found the person in each frame."""
    inputs: np.ndarray
    """(N, 17, 2) float32 normalised screen coordinates (``normalize_screen``), gaps filled."""
    targets: np.ndarray
    """(N, 17, 3) float32 metres, camera axes (x right, y down, z away), pelvis at the origin."""
    camera: Camera
    """The camera that filmed it."""


def render_stream(
    poses: np.ndarray,
    rng: np.random.Generator,
    camera: CameraOptions,
    noise: NoiseOptions,
    keep: int | None = None,
    fixed_camera: Camera | None = None,
) -> Stream:
    """Film ``poses`` ``(N, 17, 3)`` (world, metres) with a drawn camera (or ``fixed_camera``) and a
    simulated detector; frame ``keep`` is always detected."""
    if poses.ndim != 3 or poses.shape[1:] != (17, 3):
        raise ValueError(f"poses must have shape (N, 17, 3), got {poses.shape}")
    cam = fixed_camera or sample_camera(rng, poses, camera)
    pixels = cam.project(poses)
    keypoints, detected = add_detector_noise(pixels, rng, noise, keep)
    width, height = cam.image_size
    inputs = fill_gaps(normalize_screen(keypoints, width, height), detected)
    in_camera = cam.to_camera(poses)
    targets = (in_camera - in_camera[:, H36M.PELVIS : H36M.PELVIS + 1]).astype(np.float32)
    return Stream(keypoints, detected, inputs, targets, cam)


def sample_lookahead(rng: np.random.Generator, options: SynthOptions) -> int:
    """A lookahead drawn over the live range, or pad (batch mode) with ``p_full_lookahead``."""
    if rng.random() < options.p_full_lookahead:
        return options.pad
    return int(rng.integers(0, min(options.live_lookahead_max, options.pad) + 1))


def sample_window(
    clip: MotionClip, rng: np.random.Generator, options: SynthOptions, lookahead: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """One training example from ``clip``: ``(inputs (T, 17, 2) float32, target (17, 3) float32, lookahead)``."""
    poses = clip.poses
    n = poses.shape[0]
    rate = float(rng.uniform(*options.augment.time_warp))
    length = int((n - 1) / rate) + 1  # frames of the clip played at ``rate``
    t = int(rng.integers(length))
    ahead = sample_lookahead(rng, options) if lookahead is None else lookahead
    pad = options.pad
    if rng.random() < options.p_young_stream:
        first = max(0, t - int(rng.integers(0, pad + 1)))
    else:
        first = max(0, t - pad - options.history)
    newest = min(length - 1, t + ahead)
    picked = resample(poses, np.arange(first, newest + 1) * rate)
    moved = augment_motion(picked, rng, options.augment)
    stream = render_stream(moved, rng, options.camera, options.noise, keep=t - first)
    # The stream is frames first ... newest, so this is LiftStream's window for frame t.
    return lookahead_window(stream.inputs, t - first, options.frames, ahead), stream.targets[t - first], ahead


@dataclass(frozen=True)
class Batch:
    """Training windows and their targets."""

    inputs: np.ndarray
    """(B, T, 17, 2) float32 normalised screen coordinates."""
    targets: np.ndarray
    """(B, 17, 3) float32 metres, camera axes, pelvis at the origin."""
    lookahead: np.ndarray
    """(B,) int64, the lookahead each window was made with."""
    clip: np.ndarray
    """(B,) int64, index of each window's clip in the MotionSet."""


def make_batch(motion: MotionSet, rng: np.random.Generator, batch_size: int, options: SynthOptions) -> Batch:
    """``batch_size`` windows from clips drawn by their weights."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    clips = rng.choice(len(motion.clips), size=batch_size, p=motion.weights)
    inputs = np.empty((batch_size, options.frames, 17, 2), np.float32)
    targets = np.empty((batch_size, 17, 3), np.float32)
    ahead = np.empty(batch_size, np.int64)
    for i, c in enumerate(clips):
        inputs[i], targets[i], ahead[i] = sample_window(motion.clips[int(c)], rng, options)
    return Batch(inputs, targets, ahead, clips.astype(np.int64))

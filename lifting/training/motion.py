"""3D motion sources for training the lifter, in one world frame, split by subject.

Every clip is held as ``(N, 17, 3)`` float32 metres, H36M-17 order, **world frame: Y up, right-handed,
floor at about y = 0**, 30 fps, with the canonical joint definitions the 2D backends give
(``canonical_skeleton``). Sources (licences in ``lifting/training/__init__.py``):

- ``load_hdm05``: the HDM05 clips of ../shared/mocap/hdm05_h36m17.npz (global coordinates with the root
  trajectory); actors are split into training and held-out sets by the actor code in ``clip_name``;
- ``load_references``: the ``poses_3d`` of references/*/reference.npz (root-relative camera axes);
- ``load_authored``: reps drawn from the authored exercises' keyframes (``scoring.authored.compile_track``)
  with other bodies, tempi, depths and turns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lifting.joints import H36M

HELD_OUT_ACTORS: tuple[str, ...] = ("mm", "tr")
"""HDM05 actors kept out of training, for evaluation (issue 17)."""
FPS = 30.0


class MotionError(Exception):
    """A motion source is missing or not in the expected format; the message says what to do."""


@dataclass(frozen=True)
class MotionClip:
    """One continuous motion."""

    name: str
    """Unique name, e.g. ``HDM_bd_squat1Reps_001_120`` or ``reference:squat``."""
    source: str
    """``hdm05``, ``reference`` or ``authored``."""
    subject: str
    """Who moved (the HDM05 actor code, ``reference``/``authored`` for the project's own)."""
    poses: np.ndarray
    """(N, 17, 3) float32 metres, world frame (Y up), H36M order, canonical skeleton."""


@dataclass(frozen=True)
class MotionSet:
    """Clips with a sampling weight per clip."""

    clips: tuple[MotionClip, ...]
    """The clips, in a fixed order (batches name them by index)."""
    weights: np.ndarray
    """(C,) float64, sums to 1: how often a training window comes from each clip."""

    @property
    def frames(self) -> int:
        return int(sum(c.poses.shape[0] for c in self.clips))

    def summary(self) -> dict[str, dict[str, int]]:
        """Clips and frames per source (for the metadata file)."""
        out: dict[str, dict[str, int]] = {}
        for clip in self.clips:
            row = out.setdefault(clip.source, {"clips": 0, "frames": 0})
            row["clips"] += 1
            row["frames"] += int(clip.poses.shape[0])
        return out


def canonical_skeleton(poses: np.ndarray) -> np.ndarray:
    """Put a motion on the joint definitions the 2D backends produce (``lifting.joints.blazepose_to_h36m``):
    the pelvis is the midpoint of the hips (the HDM05 root sits about 8 cm above it) and the spine the
    midpoint of pelvis and thorax. ``(..., 17, 3)`` -> same shape float32."""
    p = np.array(poses, dtype=np.float32, copy=True)
    if p.shape[-2:] != (17, 3):
        raise MotionError(f"poses must have shape (..., 17, 3), got {p.shape}")
    p[..., H36M.PELVIS, :] = (p[..., H36M.L_HIP, :] + p[..., H36M.R_HIP, :]) / 2
    p[..., H36M.SPINE, :] = (p[..., H36M.PELVIS, :] + p[..., H36M.THORAX, :]) / 2
    return p


def camera_to_world(poses: np.ndarray) -> np.ndarray:
    """Camera axes (x right, y down, z away) -> world (Y up): a half turn about x, ``(x, -y, -z)``,
    with the lowest point of the motion lifted to 0.1 m above the floor (the height of an ankle joint
    centre on stance in HDM05)."""
    p = np.array(poses, dtype=np.float32, copy=True)
    p[..., 1:] *= -1
    p[..., 1] += 0.1 - p[..., 1].min()
    return p


def actor_of(clip_name: str) -> str:
    """The actor code of an HDM05 clip name (``HDM_bd_squat1Reps_001_120`` -> ``bd``)."""
    parts = clip_name.split("_")
    if len(parts) < 3 or parts[0] != "HDM":
        raise MotionError(f"not an HDM05 clip name: {clip_name!r} (expected HDM_<actor>_<action>_...)")
    return parts[1]


def load_hdm05(path: Path, held_out: Sequence[str] = HELD_OUT_ACTORS) -> tuple[MotionSet, MotionSet]:
    """The HDM05 clips of ``path`` split by actor: ``(training, held_out)``; each clip's weight is its
    frame count. Raises MotionError for a missing or malformed file or an unknown held-out actor."""
    if not path.is_file():
        raise MotionError(
            f"{path}: the HDM05 mocap file is missing; it is hdm05_h36m17.npz from ../shared/mocap "
            "(see its README), or pass its location with --mocap"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            poses = np.asarray(data["poses"], dtype=np.float32)
            starts = np.asarray(data["clip_start"], dtype=np.int64)
            names = [str(n) for n in data["clip_name"]]
            fps = int(data["fps"])
    except (KeyError, ValueError, OSError) as exc:
        raise MotionError(
            f"{path}: not the HDM05 npz (needs poses, clip_start, clip_name, fps; see ../shared/mocap/README.md): {exc}"
        ) from None
    if poses.ndim != 3 or poses.shape[1:] != (17, 3) or len(starts) != len(names) or fps != FPS:
        raise MotionError(
            f"{path}: expected poses (N, 17, 3) at 30 fps with one clip_start per clip_name; "
            f"got poses {poses.shape}, {len(starts)} starts, {len(names)} names, fps {fps}"
        )
    actors = sorted({actor_of(n) for n in names})
    unknown = sorted(set(held_out) - set(actors))
    if unknown:
        raise MotionError(f"held-out actors {unknown} are not in {path} (its actors: {actors})")
    ends = [*starts[1:].tolist(), poses.shape[0]]
    train: list[MotionClip] = []
    test: list[MotionClip] = []
    for name, start, end in zip(names, starts.tolist(), ends, strict=True):
        actor = actor_of(name)
        clip = MotionClip(name, "hdm05", actor, canonical_skeleton(poses[start:end]))
        (test if actor in held_out else train).append(clip)
    return weighted(train), weighted(test)


def load_references(references_dir: Path) -> list[MotionClip]:
    """The 3D poses of every ``references_dir/*/reference.npz`` (the shipped exercises' references)."""
    if not references_dir.is_dir():
        raise MotionError(f"{references_dir}: no such references folder")
    clips = []
    for path in sorted(references_dir.glob("*/reference.npz")):
        with np.load(path, allow_pickle=False) as data:
            if "poses_3d" not in data:
                raise MotionError(f"{path}: has no poses_3d array")
            poses = np.asarray(data["poses_3d"], dtype=np.float32)
        if poses.ndim != 3 or poses.shape[1:] != (17, 3) or not np.isfinite(poses).all():
            raise MotionError(f"{path}: poses_3d must be finite (N, 17, 3), got {poses.shape}")
        clips.append(MotionClip(f"reference:{path.parent.name}", "reference", "reference", camera_to_world(poses)))
    return clips


def load_authored(references_dir: Path, seed: int, variants: int = 4) -> list[MotionClip]:
    """Reps drawn from each authored exercise's keyframes, ``variants`` times each with another body
    (segment lengths x0.85-1.15), tempo (x0.7-1.4), depth (x0.8-1.1) and turn (0-180 deg)."""
    from scoring.authored import SEGMENTS, compile_track
    from scoring.reference import read_spec

    rng = np.random.default_rng(seed)
    clips = []
    for folder in sorted(p.parent for p in references_dir.glob("*/exercise.json")):
        spec = read_spec(folder)
        if spec.authored is None:
            continue
        for k in range(variants):
            scale = rng.uniform(0.85, 1.15)
            segments = {name: length * scale * rng.uniform(0.95, 1.05) for name, length in SEGMENTS.items()}
            track = compile_track(
                spec,
                reps=3,
                seed=int(rng.integers(1 << 31)),
                tempo=float(rng.uniform(0.7, 1.4)),
                segments=segments,
                turn_deg=float(rng.uniform(0.0, 180.0)),
                depth=float(rng.uniform(0.8, 1.1)),
            )
            poses = camera_to_world(track.poses_3d)
            clips.append(MotionClip(f"authored:{spec.name}:{k}", "authored", "authored", poses))
    return clips


def weighted(clips: Iterable[MotionClip], share: dict[str, float] | None = None) -> MotionSet:
    """A MotionSet whose clips are drawn in proportion to their frames, and whose sources get the
    ``share`` given (e.g. ``{"hdm05": 0.7, "reference": 0.15, "authored": 0.15}``; missing sources get
    none, and shares are renormalised over the sources present)."""
    clips = tuple(clips)
    if not clips:
        raise MotionError("no motion clips to train or evaluate on")
    frames = np.array([c.poses.shape[0] for c in clips], dtype=np.float64)
    if share is None:
        return MotionSet(clips, frames / frames.sum())
    weights = np.zeros(len(clips))
    present = {c.source for c in clips}
    total_share = sum(v for k, v in share.items() if k in present)
    if total_share <= 0:
        raise MotionError(f"no share given for the sources present: {sorted(present)}")
    for source in present:
        mask = np.array([c.source == source for c in clips])
        weights[mask] = share.get(source, 0.0) / total_share * frames[mask] / frames[mask].sum()
    return MotionSet(clips, weights / weights.sum())


SOURCES: list[dict[str, str]] = [
    {
        "name": "HDM05 motion capture database (via ../shared/mocap/hdm05_h36m17.npz)",
        "use": "training: actors bd, bk, dg; evaluation: actors mm, tr (held out)",
        "licence": "CC BY-SA 3.0",
        "attribution": "HDM05 motion capture database, Meinard Müller, Tido Röder, Michael Clausen, Bernhard "
        "Eberhardt, Björn Krüger, Andreas Weber, Universität Bonn, 2007. M. Müller et al., 'Documentation Mocap "
        "Database HDM05', Tech. Rep. CG-2007-2, Universität Bonn, 2007. Files: github.com/zhangchi8620/"
        "JointLearning-HDM05 @ b252ad65598e052c38f49490c1ac9dbadc283fd3, converted to H36M-17 joint positions "
        "(../shared/mocap/README.md)",
    },
    {
        "name": "the project's reference exercises (references/*/reference.npz poses_3d)",
        "use": "training",
        "licence": "the project's own data: 3D poses our pipeline computed from two shared clips "
        "(../shared/media pushup_side_nasm.mp4, squat_side.mp4; no licence is recorded for those videos in "
        "../shared/media/labels.json, only poses derived from them are used) and poses drawn from authored keyframes",
        "attribution": "AI Fitness Coach references/ (see references/README.md and each exercise's README)",
    },
    {
        "name": "authored exercises' reps (scoring/authored.py compile_track)",
        "use": "training: each authored exercise drawn with other bodies, tempi, depths and turns",
        "licence": "the project's own code and keyframe data (references/*/exercise.json, sources of the angles "
        "in each exercise's README)",
        "attribution": "AI Fitness Coach scoring/authored.py",
    },
]
"""Every motion source a checkpoint is trained on, with its licence; written into its metadata file."""

"""Accuracy of the coach's verdicts on a labelled set: real clips, variants of them, injected faults.

    .venv/bin/python -m benchmarks.accuracy [--set benchmarks/accuracy_set.json] [--cache DIR] [--append]

The set (``benchmarks/accuracy_set.json``, its ``_about`` says how it is labelled) names clips of
../shared/media and ../shared/media/dev with their rep counts, ffmpeg variants of them (mirrored,
stored turned with a display matrix, cropped to 85 %, slowed to half speed, two clips side by side)
and 3D fault injections on the clean clips' own pose tracks (the same functions the tests use,
``tests/support/inject.py``). Every clip runs through the batch pipeline of ``coach analyze``
(MediaPipe 2D + world-landmark 3D, the other exercises watching for a mix-up; ``--lifter-checkpoint``
lifts the same 2D with a PoseFormerV2 checkpoint instead, as ``coach analyze`` would).

Prints: rep counts (exact, off by one, mean absolute error), per-fault recall and precision (an
injected fault named on an injected rep is a hit, in the right phase where one is labelled; a fault
on a clean rep, or one the injection did not add, is a false alarm), false alarms on clean reps, the
mix-ups recognised, the clips whose movements must be reported as not counted (with a reason),
and every warning given (a mix-up, an unsupported camera view). ``--append``
adds the summary row to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._env import commit, machine, report
from lifting.lifter import Lifter, PoseFormerV2Lifter, PoseFormerV2Options, WorldLandmarkLifter
from lifting.pipeline import PosePipeline
from lifting.pose2d import MediaPipeBackend, MediaPipeOptions
from lifting.track import PoseTrack
from lifting.training.evaluate import checkpoint_config, relift_track
from scoring.core import Analysis, analyze_track
from scoring.features import Feature, compute_features, feature_by_name, focus_joints
from scoring.reference import Reference, list_exercises, load_reference
from tests.support.inject import (
    Span,
    drop_hips,
    flare_elbows,
    in_ascent,
    knees_in,
    lean_forward,
    lift_heels,
    retime,
    shallow_to,
    short_of_top,
)

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"

VARIANT_FILTERS = {
    "mirror": ["-vf", "hflip"],
    "crop": ["-vf", "crop=trunc(iw*0.85/2)*2:trunc(ih*0.85/2)*2"],
    "slow": ["-vf", "setpts=2.0*PTS", "-r", "30"],
}
"""ffmpeg filters of the variants ("turned" is made in two steps, see ``make_variant``)."""


@dataclass
class Tally:
    """What the set measured."""

    count_errors: list[int] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    misses: Counter[str] = field(default_factory=Counter)
    wrong_phase: Counter[str] = field(default_factory=Counter)
    false_alarms: Counter[str] = field(default_factory=Counter)
    clean_reps: int = 0
    clean_reps_with_fault: int = 0
    no_rule: list[str] = field(default_factory=list)
    mixups: list[tuple[str, bool]] = field(default_factory=list)
    skipped_ok: list[tuple[str, bool]] = field(default_factory=list)
    explained: list[tuple[str, bool]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_variant(source: Path, kind: str, out: Path) -> Path:
    """A variant of a clip: mirror, turned (stored sideways with a display matrix), crop, slow."""
    if kind == "turned":
        sideways = out.with_suffix(".sideways.mp4")
        ffmpeg("-i", str(source), "-vf", "transpose=clock", "-c:v", "libx264", "-crf", "16", "-an", str(sideways))
        ffmpeg("-i", str(sideways), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out))
    else:
        ffmpeg("-i", str(source), *VARIANT_FILTERS[kind], "-c:v", "libx264", "-crf", "16", "-an", str(out))
    return out


def make_composite(left: Path, right: Path, out: Path) -> Path:
    """Two clips side by side (the same height, 30 fps, as long as the shorter)."""
    graph = "[0:v]scale=-2:540,fps=30[a];[1:v]scale=-2:540,fps=30[b];[a][b]hstack=inputs=2:shortest=1"
    ffmpeg(
        "-i", str(left), "-i", str(right), "-filter_complex", graph, "-c:v", "libx264", "-crf", "16", "-an", str(out)
    )
    return out


class Tracks:
    """Pose tracks of videos, computed once (cached as .npz in ``folder``)."""

    def __init__(self, folder: Path, lifter: Lifter | None = None) -> None:
        self.folder = folder
        self.lifter = lifter
        """Lifts the cached MediaPipe 2D again (batch mode) instead of the world landmarks, when given."""
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str, exercise: Reference) -> Path:
        """Where the track of clip ``name`` analysed as ``exercise`` is cached."""
        return self.folder / f"{name}@{exercise.spec.name}.npz"

    def __call__(self, video: Path, name: str, exercise: Reference) -> PoseTrack:
        """The track as ``coach analyze`` makes it for ``exercise``: looking for two people and following
        the one who moves that exercise's joints (``lifting.people``)."""
        cached = self.path(name, exercise)
        if cached.is_file():
            track = PoseTrack.load_npz(cached)
        else:
            with MediaPipeBackend(MediaPipeOptions(max_people=2)) as backend:
                backend.follow(focus_joints(exercise.spec.driver))
                track, _ = PosePipeline(backend, WorldLandmarkLifter()).run(video)
            track.save_npz(cached)
        return track if self.lifter is None else relift_track(track, self.lifter)


def analyze(references: dict[str, Reference], exercise: str, track: PoseTrack) -> Analysis:
    others = [r for name, r in references.items() if name != exercise]
    return analyze_track(references[exercise], track, others)


def judge_clip(tally: Tally, name: str, item: dict[str, Any], analysis: Analysis) -> None:
    """Rep count, false alarms on clean reps, mix-up, view warnings of one clip."""
    counted = len(analysis.reps)
    error = min(abs(counted - r) for r in item["reps"])
    tally.count_errors.append(error)
    faults = Counter(f.id for rep in analysis.reps for f in rep.faults)
    if item.get("clean"):
        tally.clean_reps += counted
        tally.clean_reps_with_fault += sum(1 for rep in analysis.reps if rep.faults)
        tally.false_alarms.update(faults)
    if "not_counted" in item:
        tally.explained.append((name, len(analysis.not_counted) >= item["not_counted"]))
    if "looks_like" in item:
        found = analysis.mismatch.looks_like if analysis.mismatch is not None else None
        tally.mixups.append((name, found == item["looks_like"]))
    for warning in analysis.warnings:
        tally.warnings.append((name, warning))
    views = Counter(rep.view for rep in analysis.reps)
    tally.lines.append(
        f"{name:58s} {item['exercise']:7s} reps {counted} (label {'/'.join(map(str, item['reps']))})"
        f"  faults {dict(faults) or '-'}  views {dict(views) or '-'}"
        + (f"  not counted {len(analysis.not_counted)}" if analysis.not_counted else "")
        + (f"  warnings {analysis.warnings}" if analysis.warnings else "")
    )


NOT_COUNTED_NAMES = {"shallow": "too shallow", "too_fast": "too quick", "lockout": "it never came back up"}
"""A fault the counter itself names when it drops the rep (the reason's first words): the user hears
it either way, so such a dropped rep counts as the fault named."""


def inject(
    kind: str, track: PoseTrack, spans: list[Span], speed: int = 3, share: float = 0.5, driver: str = ""
) -> PoseTrack:
    """The clean track with one fault added to every rep (``fast``: played ``speed`` times faster;
    ``shallow``: each rep goes ``share`` of its way down; ``no_lockout``: the ``driver`` angle comes back
    up only to 20 deg short of the person's own lockout)."""
    p = track.poses_3d.astype(np.float64)
    if kind == "fast":
        keep, ts = retime(track.timestamps_ms, speed)
        per_frame = ("keypoints_2d", "scores", "poses_3d", "detected", "extras_3d", "extras_2d", "extra_scores",
                     "person", "people")  # fmt: skip
        kept = {name: getattr(track, name)[keep] for name in per_frame if getattr(track, name) is not None}
        return replace(track, timestamps_ms=ts, **kept)
    if kind == "sag":
        p = drop_hips(p, 25)
    elif kind == "sag_ascent":
        up = in_ascent(spans, len(p))
        p = np.where(up[:, None, None], drop_hips(p, 25), p)
    elif kind == "valgus":
        # 25 deg of inward shift at the deepest bend: about +8 to +10 deg of measured valgus on a wide
        # front-view stance (the hip-ankle lines lean outward), well past the 16 deg bound
        p = knees_in(p, 25)
    elif kind == "flare":
        # 60 deg more at the deepest bend: the upper arms most of the way out to a T
        p = flare_elbows(p, 60)
    elif kind == "pike":
        p = drop_hips(p, -25)
    elif kind == "shallow":
        # the picture too (a side view's depth is also read there): blending positions commutes with
        # a weak-perspective projection, so the blended 2D pose is the blended 3D pose's picture
        picture = shallow_to(track.keypoints_2d.astype(np.float64), spans, share).astype(np.float32)
        return replace(track, poses_3d=shallow_to(p, spans, share).astype(np.float32), keypoints_2d=picture)
    elif kind == "heel_lift":
        if track.extras_2d is None:
            raise ValueError(f"{track.source}: the track has no feet to lift")
        # 25 deg of foot angle at the deepest bend: the heels clearly off the floor (about 10 cm on a
        # 24 cm foot), past the rule's 15 deg; in the picture, where it is judged, and in 3D alike
        picture = lift_heels(p, track.extras_2d.astype(np.float64), 25, spans).astype(np.float32)
        world = None if track.extras_3d is None else lift_heels(p, track.extras_3d.astype(np.float64), 25, spans)
        return replace(track, extras_2d=picture, extras_3d=None if world is None else world.astype(np.float32))
    elif kind == "no_lockout":
        # 20 deg short of the straightest the person held before the first rep: past the rule's 15 deg,
        # within the counter's band (a rep comes back up to within 25% of the reference's range of the
        # top, or it is told "it never came back up"). The lockout is read in 3D only.
        column = feature_by_name(driver)
        p = short_of_top(p, spans, 20, lambda poses: compute_features(poses)[:, column])
    elif kind == "lean":
        # the sense that tips the chest forward depends on the way the person faces
        incline = compute_features(p)[:, Feature.TORSO_INCLINE]
        gain = np.nanmean(compute_features(lean_forward(p, 10))[:, Feature.TORSO_INCLINE] - incline)
        p = lean_forward(p, 25 if gain > 0 else -25)
    else:
        raise ValueError(kind)
    return replace(track, poses_3d=p.astype(np.float32))


def judge_injection(tally: Tally, item: dict[str, Any], references: dict[str, Reference], track: PoseTrack) -> None:
    reference = references[item["exercise"]]
    rule_ids = {rule.id for rule in reference.spec.faults}
    name = f"{item['clip']} + {item['inject']}"
    if item["fault"] not in rule_ids:
        why = item.get("not_judged", "no rule yet")
        tally.no_rule.append(f"{item['fault']} ({item['exercise']}: {why})")
        tally.lines.append(f"{name:58s} {item['exercise']:7s} {item['fault']}: not judged ({why})")
        return
    clean = analyze(references, item["exercise"], track)
    spans = [(r.start_frame, r.bottom_frame, r.end_frame) for r in clean.reps]
    if not spans:  # a lifter that counts nothing on the clean clip leaves nothing to inject into: a miss
        tally.misses[item["fault"]] += 1
        tally.lines.append(f"{name:58s} {item['exercise']:7s} {item['fault']}: no rep counted on the clean track")
        return
    before = {r.index: {f.id for f in r.faults} for r in clean.reps}
    injected = analyze(
        references,
        item["exercise"],
        inject(item["inject"], track, spans, item.get("speed", 3), item.get("share", 0.5), reference.spec.driver),
    )
    if item.get("expect") == "skipped":  # a view the rule cannot be judged from: it must say so, not guess
        said = sum(item["fault"] in rep.checks_skipped for rep in injected.reps)
        named = sum(item["fault"] in {f.id for f in rep.faults} for rep in injected.reps)
        tally.skipped_ok.append((name, said == len(injected.reps) > 0 and named == 0))
        tally.false_alarms[item["fault"]] += named
        tally.lines.append(
            f"{name:58s} {item['exercise']:7s} {item['fault']}: skipped on {said} of {len(injected.reps)} reps"
        )
        return
    hits = 0
    for rep in injected.reps:
        named = {f.id: f for f in rep.faults}
        fault = named.get(item["fault"])
        if fault is None:
            tally.misses[item["fault"]] += 1
        elif "phase" in item and fault.phase != item["phase"]:
            tally.wrong_phase[item["fault"]] += 1
            tally.misses[item["fault"]] += 1
        else:
            tally.hits[item["fault"]] += 1
            hits += 1
        for other in set(named) - {item["fault"]} - before.get(rep.index, set()):
            tally.false_alarms[other] += 1
    vanished = max(0, len(clean.reps) - len(injected.reps))  # reps the fault made vanish
    said = NOT_COUNTED_NAMES.get(item["fault"])
    named_dropped = min(vanished, sum(1 for d in injected.not_counted if said and d.reason.startswith(said)))
    hits += named_dropped
    tally.hits[item["fault"]] += named_dropped
    tally.misses[item["fault"]] += vanished - named_dropped
    tally.lines.append(
        f"{name:58s} {item['exercise']:7s} {item['fault']}: {hits} of {len(clean.reps)} reps"
        f" (counted {len(injected.reps)}"
        + (f", {named_dropped} dropped as {said})" if named_dropped else ")")
        + f"  faults {dict(Counter(f.id for r in injected.reps for f in r.faults))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=ROOT / "benchmarks" / "accuracy_set.json")
    parser.add_argument("--cache", type=Path, help="folder for the pose tracks (default: a temporary one)")
    parser.add_argument("--append", action="store_true", help="add the summary row to benchmarks/RESULTS.md")
    parser.add_argument(
        "--lifter-checkpoint",
        type=Path,
        help="lift MediaPipe's 2D with this PoseFormerV2 checkpoint (shape from its .json beside it, else the "
        "official 27_243) instead of using the world landmarks",
    )
    args = parser.parse_args()
    lifter = None
    lifter_label = "world landmarks"
    if args.lifter_checkpoint is not None:
        config = checkpoint_config(args.lifter_checkpoint)
        lifter = PoseFormerV2Lifter(PoseFormerV2Options(args.lifter_checkpoint, config))
        lifter_label = f"PoseFormerV2 {args.lifter_checkpoint.name} (T={config.frames})"
    labelled = json.loads(args.set.read_text())
    if not (MEDIA / "labels.json").is_file():
        print(f"the shared clips are missing: expected {MEDIA}", file=sys.stderr)
        return 2
    references = {name: load_reference(ROOT / "references", name) for name in list_exercises(ROOT / "references")}
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="coach-accuracy-") as tmp:
        work = Path(tmp)
        tracks = Tracks(args.cache or work / "tracks", lifter)
        for item in labelled["clips"]:
            track = tracks(MEDIA / item["clip"], Path(item["clip"]).stem, references[item["exercise"]])
            judge_clip(tally, item["clip"], item, analyze(references, item["exercise"], track))
        for item in labelled["variants"]:
            for kind in item["make"]:
                name = f"{Path(item['clip']).stem}.{kind}"
                video = work / f"{name}.mp4"
                if not tracks.path(name, references[item["exercise"]]).is_file():
                    make_variant(MEDIA / item["clip"], kind, video)
                track = tracks(video, name, references[item["exercise"]])
                judge_clip(tally, f"{item['clip']} ({kind})", item, analyze(references, item["exercise"], track))
        for item in labelled["composites"]:
            name = f"{Path(item['left']).stem}+{Path(item['right']).stem}"
            video = work / f"{name}.mp4"
            if not tracks.path(name, references[item["exercise"]]).is_file():
                make_composite(MEDIA / item["left"], MEDIA / item["right"], video)
            track = tracks(video, name, references[item["exercise"]])
            judge_clip(tally, f"{item['left']} | {item['right']}", item, analyze(references, item["exercise"], track))
        for item in labelled["injections"]:
            track = tracks(MEDIA / item["clip"], Path(item["clip"]).stem, references[item["exercise"]])
            judge_injection(tally, item, references, track)

    for line in tally.lines:
        print(line)
    errors = np.array(tally.count_errors)
    faults = sorted(set(tally.hits) | set(tally.misses) | set(tally.false_alarms))
    per_fault = {}
    for fault in faults:
        hit, miss, fa = tally.hits[fault], tally.misses[fault], tally.false_alarms[fault]
        per_fault[fault] = {
            "recall": round(hit / (hit + miss), 3) if hit + miss else None,
            "precision": round(hit / (hit + fa), 3) if hit + fa else None,
            "hits": hit,
            "misses": miss,
            "wrong_phase": tally.wrong_phase[fault],
            "false_alarms": fa,
        }
    result = {
        "date": dt.date.today().isoformat(),
        "commit": commit(),
        "machine": machine(),
        "lifter": lifter_label,
        "clips": len(errors),
        "reps_exact": round(float(np.mean(errors == 0)), 3),
        "reps_off_by_one": round(float(np.mean(errors == 1)), 3),
        "reps_mae": round(float(np.mean(errors)), 3),
        "clean_reps": tally.clean_reps,
        "clean_reps_with_a_fault": tally.clean_reps_with_fault,
        "faults": per_fault,
        "not_measurable": tally.no_rule,
        "mixups_recognised": f"{sum(ok for _, ok in tally.mixups)} of {len(tally.mixups)}",
        "skipped_where_not_judgeable": f"{sum(ok for _, ok in tally.skipped_ok)} of {len(tally.skipped_ok)}",
        "not_counted_explained": f"{sum(ok for _, ok in tally.explained)} of {len(tally.explained)}",
        "warnings": [f"{name}: {w}" for name, w in tally.warnings],
    }
    recalls = ", ".join(
        f"{k} {v['hits']}/{v['hits'] + v['misses']}" + (f" ({v['false_alarms']} false)" if v["false_alarms"] else "")
        for k, v in per_fault.items()
    )
    row = (
        f"accuracy set ({result['clips']} clips and variants, {len(labelled['injections'])} injections; MediaPipe + "
        f"{lifter_label}) | rep counts **exact {result['reps_exact']:.0%}**, "
        f"off by one {result['reps_off_by_one']:.0%}, "
        f"MAE {result['reps_mae']}; **clean reps with a fault: {tally.clean_reps_with_fault} of {tally.clean_reps}**; "
        f"injected faults named: {recalls}; not measurable: {', '.join(tally.no_rule) or 'none'}; "
        f"mix-ups recognised {result['mixups_recognised']}; rules skipped where they cannot be judged "
        f"{result['skipped_where_not_judgeable']}; movements that must be explained as not counted "
        f"{result['not_counted_explained']}; warnings on {len(tally.warnings)} clips"
    )
    report(result, row if args.append else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

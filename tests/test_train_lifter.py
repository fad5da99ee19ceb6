"""Training our own PoseFormerV2 (lifting/training, `coach train-lifter`): the synthetic windows are the
live windows, the held-out actors stay out, the loop learns, resumes exactly and writes checkpoints
the official-format loader reads strictly."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lifting.checkpoints import sha256_of
from lifting.joints import H36M
from lifting.lifter import PoseFormerV2Lifter, PoseFormerV2Options
from lifting.poseformerv2 import CheckpointError, PoseFormerV2Config, load_poseformerv2, read_state_dict
from lifting.track import PoseTrack
from lifting.training import train as train_module
from lifting.training.evaluate import (
    NearestPose,
    agreement,
    checkpoint_config,
    evaluate,
    held_out_streams,
    lift_track,
    mean_acceleration_mm,
    mpjpe,
    p_mpjpe,
    relift_track,
)
from lifting.training.motion import (
    HELD_OUT_ACTORS,
    MotionError,
    MotionSet,
    actor_of,
    canonical_skeleton,
    load_hdm05,
    load_references,
    weighted,
)
from lifting.training.synth import (
    Camera,
    CameraOptions,
    NoiseOptions,
    SynthOptions,
    look_at,
    lookahead_window,
    make_batch,
    render_stream,
    sample_camera,
    sample_window,
)
from lifting.training.train import PRESETS, TrainingError, TrainOptions, train
from lifting.types import Pose2D
from server.cli import main

REPO = Path(__file__).resolve().parents[1]
MOCAP = REPO.parent / "shared" / "mocap" / "hdm05_h36m17.npz"
TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def hdm05() -> tuple[MotionSet, MotionSet]:
    if not MOCAP.is_file():
        pytest.fail(f"the shared mocap file is missing: expected {MOCAP} (../shared/mocap beside the repo)")
    return load_hdm05(MOCAP)


@pytest.fixture(scope="module")
def few_clips(hdm05: tuple[MotionSet, MotionSet]) -> MotionSet:
    """Eight training clips of several actions, for quick runs."""
    train_set, _ = hdm05
    return weighted(train_set.clips[::24][:8])


def tiny_options(**changes: object) -> TrainOptions:
    base = {"preset": "tiny", "steps": 6, "batch_size": 16, "lr": 2e-3, "warmup_steps": 0, "log_every": 1}
    return TrainOptions(**{**base, **changes})  # type: ignore[arg-type]


# --- motion sources ----------------------------------------------------------------------------


def test_held_out_actors_form_the_evaluation_set_and_nothing_else(hdm05: tuple[MotionSet, MotionSet]) -> None:
    train_set, held_out = hdm05
    train_actors = {c.subject for c in train_set.clips}
    held_actors = {c.subject for c in held_out.clips}
    assert held_actors == set(HELD_OUT_ACTORS)
    assert train_actors.isdisjoint(HELD_OUT_ACTORS) and train_actors
    assert len(train_set.clips) + len(held_out.clips) == 288  # the README's clip count
    assert all(actor_of(c.name) == c.subject for c in (*train_set.clips, *held_out.clips))
    assert math.isclose(float(train_set.weights.sum()), 1.0)


def test_held_out_actors_never_appear_in_training_batches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `coach train-lifter` itself: every window of every batch comes from a training actor
    (or the project's own motions), never from mm or tr."""
    seen: list[str] = []
    real = train_module.make_batch

    def recording(motion: MotionSet, rng: np.random.Generator, batch_size: int, options: SynthOptions):  # type: ignore[no-untyped-def]
        batch = real(motion, rng, batch_size, options)
        seen.extend(motion.clips[int(c)].name for c in batch.clip)
        return batch

    monkeypatch.setattr(train_module, "make_batch", recording)
    out = tmp_path / "run"
    args = ["train-lifter", "--preset", "tiny", "--steps", "4", "--batch-size", "64", "--no-eval", "--threads", "1"]
    assert main([*args, "--mocap", str(MOCAP), "-o", str(out)]) == 0
    assert len(seen) == 4 * 64
    hdm = [name for name in seen if name.startswith("HDM_")]
    assert hdm, "no HDM05 window was drawn"
    assert not {actor_of(name) for name in hdm} & set(HELD_OUT_ACTORS)
    # the project's own motions are in the mix too
    assert any(name.startswith(("reference:", "authored:")) for name in seen)
    assert (out / "poseformerv2_tiny.bin").is_file()


def test_canonical_skeleton_puts_the_pelvis_between_the_hips(hdm05: tuple[MotionSet, MotionSet]) -> None:
    raw = np.load(MOCAP)["poses"][:10].astype(np.float32)
    canon = canonical_skeleton(raw)
    hips = (raw[:, H36M.L_HIP] + raw[:, H36M.R_HIP]) / 2
    np.testing.assert_allclose(canon[:, H36M.PELVIS], hips, atol=1e-6)
    # the HDM05 root sits several cm above the hip midpoint: the change is real
    assert np.linalg.norm(raw[:, H36M.PELVIS] - hips, axis=-1).min() > 0.03
    np.testing.assert_array_equal(canon[:, H36M.L_WRIST], raw[:, H36M.L_WRIST])


def test_references_are_read_upright_in_the_world_frame() -> None:
    clips = load_references(REPO / "references")
    assert {c.name for c in clips} >= {"reference:squat", "reference:pushup"}
    squat = next(c for c in clips if c.name == "reference:squat").poses
    # Y is up: the head is above the ankles and the lowest point is near the floor
    assert (squat[:, H36M.HEAD, 1] > squat[:, H36M.L_ANKLE, 1] + 1.0).mean() > 0.9
    assert 0.0 <= squat[..., 1].min() < 0.2


def test_a_missing_or_wrong_mocap_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MotionError, match="--mocap"):
        load_hdm05(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros((4, 17, 3)))
    with pytest.raises(MotionError, match="clip_start"):
        load_hdm05(bad)
    with pytest.raises(MotionError, match="held-out actors"):
        load_hdm05(MOCAP, held_out=("zz",))


# --- cameras and windows -----------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.4, 0.6, 0.85])
def test_cameras_put_the_subject_in_frame_at_the_intended_size(
    hdm05: tuple[MotionSet, MotionSet], fraction: float
) -> None:
    train_set, _ = hdm05
    rng = np.random.default_rng(7)
    for clip in train_set.clips[::20]:
        poses = clip.poses[:60]
        camera = sample_camera(rng, poses, CameraOptions(), fraction=fraction)
        pixels = camera.project(poses)
        width, height = camera.image_size
        extent = max(np.ptp(pixels[..., 0]) / width, np.ptp(pixels[..., 1]) / height)
        assert abs(extent - fraction) < 0.05 * fraction, (clip.name, extent)
        assert pixels[..., 0].min() >= 0 and pixels[..., 0].max() <= width, clip.name
        assert pixels[..., 1].min() >= 0 and pixels[..., 1].max() <= height, clip.name
        assert camera.to_camera(poses)[..., 2].min() > 0.15  # everything in front of the lens


def test_a_camera_in_front_of_a_person_sees_them_upright_with_their_left_on_the_right(
    hdm05: tuple[MotionSet, MotionSet],
) -> None:
    train_set, _ = hdm05
    pose = next(c for c in train_set.clips if "squat" in c.name).poses[0].astype(np.float64)
    left = pose[H36M.L_HIP] - pose[H36M.R_HIP]
    facing = np.cross(left, [0.0, 1.0, 0.0])  # left x up = forward in a Y-up right-handed world
    facing[1] = 0
    facing /= np.linalg.norm(facing)
    position = pose[H36M.PELVIS] + 3 * facing
    camera = Camera(look_at(position, pose[H36M.PELVIS]), position, 600.0, (320.0, 240.0), (640, 480))
    px = camera.project(pose)
    assert px[H36M.L_HIP, 0] > px[H36M.R_HIP, 0]  # facing us, their left is on our right
    assert px[H36M.HEAD, 1] < px[H36M.PELVIS, 1] < px[H36M.L_ANKLE, 1]  # y grows downwards
    cam = camera.to_camera(pose)
    assert cam[H36M.PELVIS, 2] == pytest.approx(3.0)


def _tiny_checkpoint(path: Path, config: PoseFormerV2Config) -> Path:
    from lifting.poseformerv2 import PoseFormerV2, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(PoseFormerV2(config), path)
    return path


@pytest.mark.parametrize("lookahead", [0, 2, 4])
def test_the_padding_matches_liftstream_exactly(
    hdm05: tuple[MotionSet, MotionSet], tmp_path: Path, lookahead: int
) -> None:
    """A clip filmed with frames dropped, fed frame by frame through the coach's own LiftStream: every
    window it builds (and the ones `flush` gives at the end) equals the training window, bit for bit."""
    train_set, _ = hdm05
    config = PoseFormerV2Config(frames=9, kept_frames=3, kept_coeffs=3, embed_dim_ratio=8, depth=1, num_heads=4)
    lifter = PoseFormerV2Lifter(PoseFormerV2Options(_tiny_checkpoint(tmp_path / "t.bin", config), config, "cpu"))
    clip = next(c for c in train_set.clips if c.poses.shape[0] >= 40)
    noise = NoiseOptions(p_drop=1.0)
    stream = render_stream(clip.poses[:40], np.random.default_rng(3), CameraOptions(), noise)
    assert not stream.detected.all() and stream.detected.any()  # gaps to fill
    live = lifter.stream(lookahead)
    windows = []
    for i in range(40):
        if stream.detected[i]:
            pose = Pose2D(stream.keypoints[i], np.ones(17), i * 33.3, stream.camera.image_size)
        else:
            pose = Pose2D.missing(i * 33.3, stream.camera.image_size)
        windows += live.window.add(pose)
    windows += live.window.flush()
    assert len(windows) == 40
    first_detected = int(np.argmax(stream.detected))
    for t, window in enumerate(windows):
        if t < first_detected:
            continue  # nobody seen yet: live mode does not lift it
        expected = lookahead_window(stream.inputs, t, 9, lookahead)
        np.testing.assert_array_equal(window.inputs, expected, err_msg=f"frame {t}")


def test_training_windows_have_the_shapes_and_lookaheads_asked_for(few_clips: MotionSet) -> None:
    options = SynthOptions(frames=81, live_lookahead_max=13, p_full_lookahead=0.25)
    batch = make_batch(few_clips, np.random.default_rng(0), 200, options)
    assert batch.inputs.shape == (200, 81, 17, 2) and batch.targets.shape == (200, 17, 3)
    assert np.isfinite(batch.inputs).all() and np.isfinite(batch.targets).all()
    np.testing.assert_array_equal(batch.targets[:, H36M.PELVIS], 0.0)
    assert set(batch.lookahead.tolist()) <= {*range(14), 40}
    assert 20 < (batch.lookahead == 40).sum() < 80  # about a quarter in batch mode
    # a short lookahead pads the future: the last rows repeat the newest frame
    inputs, _, ahead = sample_window(few_clips.clips[0], np.random.default_rng(1), options, lookahead=2)
    assert ahead == 2
    np.testing.assert_array_equal(inputs[42:], np.repeat(inputs[42:43], 39, axis=0))
    assert not np.array_equal(inputs[40], inputs[42])


# --- training --------------------------------------------------------------------------------


def test_a_few_training_steps_make_the_loss_fall(few_clips: MotionSet, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    options = tiny_options(steps=40, batch_size=32, log_every=10, save_every=40)
    result = train(options, few_clips, tmp_path / "run", log=lambda _: None)
    losses = [loss for _, loss in result.losses]
    assert len(losses) == 4
    assert losses[-1] < 0.7 * losses[0], losses


def test_the_saved_checkpoint_loads_strictly_through_the_official_loader(few_clips: MotionSet, tmp_path: Path) -> None:
    result = train(tiny_options(steps=3), few_clips, tmp_path / "run", log=lambda _: None)
    state = read_state_dict(result.checkpoint)
    assert state and all(key.startswith("module.") for key in state)
    model = load_poseformerv2(result.checkpoint, TINY)
    trained = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key]), key
    with pytest.raises(CheckpointError, match="does not match"):
        load_poseformerv2(result.checkpoint, PRESETS["small"])
    meta = json.loads(result.metadata.read_text())
    assert meta["config"]["frames"] == TINY.frames
    assert meta["sha256"] and meta["git_commit"]
    assert any("CC BY-SA 3.0" in source["licence"] for source in meta["sources"])
    assert "Müller" in meta["sources"][0]["attribution"]


def test_an_interrupted_run_resumes_to_the_same_weights(few_clips: MotionSet, tmp_path: Path) -> None:
    options = tiny_options(steps=6, save_every=3)
    whole = train(options, few_clips, tmp_path / "whole", log=lambda _: None)

    def stop_at_3(line: str) -> None:
        if line.startswith("step 3/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(options, few_clips, tmp_path / "split", log=stop_at_3)
    lines: list[str] = []
    resumed = train(options, few_clips, tmp_path / "split", log=lines.append)
    assert lines[0].startswith("resuming") and "step 3" in lines[0]
    assert resumed.losses == whole.losses  # the log of the first part carried over, the rest identical
    a, b = read_state_dict(whole.checkpoint), read_state_dict(resumed.checkpoint)
    assert all(torch.equal(a[key], b[key]) for key in a)
    with pytest.raises(TrainingError, match="other options"):
        train(tiny_options(steps=6, save_every=3, lr=1e-3), few_clips, tmp_path / "split", log=lambda _: None)


def test_bad_options_are_named() -> None:
    with pytest.raises(TrainingError, match="unknown preset"):
        TrainOptions(preset="huge")
    with pytest.raises(TrainingError, match="batch_size"):
        TrainOptions(batch_size=0)
    with pytest.raises(TrainingError, match="lr"):
        TrainOptions(lr=-1.0)


def test_cli_says_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-lifter", "--mocap", str(tmp_path / "gone.npz"), "-o", str(tmp_path)]) == 2
    assert "hdm05_h36m17.npz" in capsys.readouterr().err
    assert main(["train-lifter", "--steps", "0", "--mocap", str(MOCAP), "-o", str(tmp_path)]) == 2
    assert "steps must be >= 1" in capsys.readouterr().err
    assert main(["train-lifter", "--eval-only", str(tmp_path / "none.bin"), "--mocap", str(MOCAP)]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-lifter", "--preset", "huge"])


# --- evaluation ------------------------------------------------------------------------------


def test_p_mpjpe_forgives_rotation_scale_and_translation_but_mpjpe_does_not() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(4, 17, 3))
    a = math.radians(40)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    moved = 1.3 * target @ rot.T + np.array([0.1, -0.2, 0.3])
    assert p_mpjpe(moved, target).max() < 1e-6
    assert mpjpe(moved, target).min() > 100
    # a hand-checkable case: every joint 3 cm off along x
    assert mpjpe(target + np.array([0.03, 0.0, 0.0]), target) == pytest.approx([30.0] * 4)


def test_evaluation_scores_every_lookahead_and_the_nearest_pose_baseline(
    hdm05: tuple[MotionSet, MotionSet], few_clips: MotionSet, tmp_path: Path
) -> None:
    _, held_out = hdm05
    small_held_out = MotionSet(held_out.clips[:3], np.full(3, 1 / 3))
    streams = held_out_streams(small_held_out, seed=0)
    again = held_out_streams(small_held_out, seed=0)
    np.testing.assert_array_equal(streams[1].inputs, again[1].inputs)  # every lifter sees the same 2D
    nearest = NearestPose(few_clips, seed=0, every=2, cameras=2)
    # a library frame queried with its own clean 2D comes back (the library is drawn from (seed, clip, camera))
    clip = few_clips.clips[1]
    own = render_stream(clip.poses[::2], np.random.default_rng([0, 1, 1]), CameraOptions(), NoiseOptions.none())
    np.testing.assert_allclose(nearest.lift(own.inputs[:, None]), own.targets, atol=0.005)
    config = TINY
    lift = PoseFormerV2Lifter(PoseFormerV2Options(_tiny_checkpoint(tmp_path / "t.bin", config), config, "cpu"))
    scores = evaluate(lift.lift_inputs, config.frames, streams, [0, 2, 4], stride=4)
    assert set(scores) == {0, 2, 4}
    detected = sum(int(s.detected[::4].sum()) for s in streams)
    assert all(s.windows == detected for s in scores.values())
    assert all(0 < s.p_mpjpe_mm < s.mpjpe_mm for s in scores.values())
    base = evaluate(nearest.lift, 1, streams, [0], stride=4)[0]
    assert 0 < base.p_mpjpe_mm < base.mpjpe_mm


def test_mean_acceleration_by_hand() -> None:
    still = np.zeros((5, 17, 3))
    assert mean_acceleration_mm(still) == 0.0
    steady = np.arange(5)[:, None, None] * np.full((1, 17, 3), 0.01)
    steady[:, H36M.PELVIS] = 0.0  # joints drift away from a still pelvis at constant speed
    assert mean_acceleration_mm(steady) == pytest.approx(0.0, abs=1e-9)
    blip = np.zeros((5, 17, 3))
    blip[2, H36M.L_KNEE, 0] = 0.01  # one joint 1 cm off in one frame: +1, -2, +1 cm over three frames
    assert mean_acceleration_mm(blip) == pytest.approx((10 + 20 + 10) / 17 / 3)


def test_agreement_with_the_tracks_own_3d_is_exact_only_for_the_same_windows(
    hdm05: tuple[MotionSet, MotionSet], tmp_path: Path
) -> None:
    """A track whose 3D is our lifter's batch output: lifting it again with the full lookahead agrees
    to the last bit; live windows (lookahead 0) differ."""
    train_set, _ = hdm05
    lifter = PoseFormerV2Lifter(PoseFormerV2Options(_tiny_checkpoint(tmp_path / "t.bin", TINY), TINY, "cpu"))
    clip = next(c for c in train_set.clips if "squat" in c.name)
    stream = render_stream(clip.poses, np.random.default_rng(5), CameraOptions(), NoiseOptions(p_drop=1.0))
    keypoints = np.where(stream.detected[:, None, None], stream.keypoints, np.nan).astype(np.float32)
    n = len(keypoints)
    track = PoseTrack(
        keypoints_2d=keypoints,
        scores=np.where(stream.detected[:, None], 1.0, 0.0).astype(np.float32),
        poses_3d=np.zeros((n, 17, 3), np.float32),
        timestamps_ms=np.arange(n) * 1000 / 30,
        detected=stream.detected,
        backend="test",
        lifter="test",
        image_size=stream.camera.image_size,
    )
    batch = lift_track(track, lifter.lift_inputs, TINY.frames, TINY.pad)
    assert np.isnan(batch[~stream.detected]).all() and np.isfinite(batch[stream.detected]).all()
    track = replace(track, poses_3d=batch)
    same = agreement(track, lift_track(track, lifter.lift_inputs, TINY.frames, TINY.pad))
    assert same.mean_angle_diff_deg == 0.0 and same.accel_mm == same.mediapipe_accel_mm > 0
    assert same.frames == int(stream.detected.sum())
    live = agreement(track, lift_track(track, lifter.lift_inputs, TINY.frames, 0))
    assert live.mean_angle_diff_deg > 0


def test_relifting_a_track_in_batch_mode_equals_the_full_lookahead_windows(
    hdm05: tuple[MotionSet, MotionSet], tmp_path: Path
) -> None:
    """`relift_track` (what the accuracy benchmark runs with --lifter-checkpoint) goes through the coach's
    batch path, whose centred windows are the live windows with the full lookahead."""
    train_set, _ = hdm05
    path = _tiny_checkpoint(tmp_path / "poseformerv2_tiny.bin", TINY)
    (tmp_path / "poseformerv2_tiny.json").write_text(json.dumps({"config": asdict(TINY)}))
    assert checkpoint_config(path) == TINY
    lifter = PoseFormerV2Lifter(PoseFormerV2Options(path, checkpoint_config(path), "cpu"))
    clip = next(c for c in train_set.clips if "jog" in c.name)
    stream = render_stream(clip.poses, np.random.default_rng(9), CameraOptions(), NoiseOptions(p_drop=1.0))
    n = len(stream.detected)
    track = PoseTrack(
        keypoints_2d=np.where(stream.detected[:, None, None], stream.keypoints, np.nan).astype(np.float32),
        scores=np.ones((n, 17), np.float32),
        poses_3d=np.zeros((n, 17, 3), np.float32),
        timestamps_ms=np.arange(n) * 1000 / 30,
        detected=stream.detected,
        backend="test",
        lifter="test",
        image_size=stream.camera.image_size,
    )
    relifted = relift_track(track, lifter)
    assert relifted.lifter == "poseformerv2"
    # (batches of 64 there and 256 here: equal up to float rounding of the matrix products)
    np.testing.assert_allclose(
        relifted.poses_3d, lift_track(track, lifter.lift_inputs, TINY.frames, TINY.pad), atol=1e-6, rtol=0
    )
    assert checkpoint_config(tmp_path / "other.bin") == PoseFormerV2Config()  # no metadata: the official shape


def test_batches_drawn_in_a_worker_process_give_the_same_weights(few_clips: MotionSet, tmp_path: Path) -> None:
    here = train(tiny_options(steps=4), few_clips, tmp_path / "here", log=lambda _: None)
    worker = train(tiny_options(steps=4, workers=1), few_clips, tmp_path / "worker", log=lambda _: None)
    a, b = read_state_dict(here.checkpoint), read_state_dict(worker.checkpoint)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_cli_evaluates_a_checkpoint_and_records_the_metrics_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    common = ["--preset", "tiny", "--mocap", str(MOCAP), "--threads", "1"]
    assert main(["train-lifter", *common, "--steps", "2", "--no-eval", "--no-authored", "-o", str(out)]) == 0
    checkpoint = out / "poseformerv2_tiny.bin"
    assert json.loads(checkpoint.with_suffix(".json").read_text())["metrics"] == {}
    capsys.readouterr()
    assert main(["train-lifter", *common, "--eval-only", str(checkpoint), "--eval-stride", "50"]) == 0
    printed = capsys.readouterr().out
    assert "poseformerv2_tiny" in printed and "nearest mocap pose" in printed and "L=4" in printed
    metrics = json.loads(checkpoint.with_suffix(".json").read_text())["metrics"]
    assert set(metrics["lifters"]) == {"poseformerv2_tiny", "nearest mocap pose"}
    assert set(metrics["lifters"]["poseformerv2_tiny"]) == {"0", "4"}  # the lookaheads, up to the pad
    assert metrics["held_out_actors"] == list(HELD_OUT_ACTORS)
    # a named video that is not there is refused before any work starts
    assert main(["train-lifter", *common, "--clip", str(tmp_path / "no.mp4"), "-o", str(tmp_path / "x")]) == 2
    assert "no.mp4: no such video file" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_an_fp16_copy_halves_the_file_and_loads_strictly_with_nearly_the_same_output(
    few_clips: MotionSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = train(tiny_options(steps=3), few_clips, tmp_path / "run", log=lambda _: None)
    assert main(["train-lifter", "--export-fp16", str(result.checkpoint)]) == 0
    half = result.checkpoint.with_name("poseformerv2_tiny_fp16.bin")
    assert str(half) in capsys.readouterr().out
    assert all(v.dtype == torch.float16 for v in read_state_dict(half).values())
    assert half.stat().st_size < 0.6 * result.checkpoint.stat().st_size
    meta = json.loads(half.with_suffix(".json").read_text())
    assert meta["sha256"] == sha256_of(half) and meta["derived_from"]["sha256"] == sha256_of(result.checkpoint)
    full, small = load_poseformerv2(result.checkpoint, TINY), load_poseformerv2(half, TINY)
    x = torch.from_numpy(make_batch(few_clips, np.random.default_rng(0), 32, SynthOptions(frames=9)).inputs)
    with torch.inference_mode():
        gap = (full(x) - small(x)).abs().max().item()
    assert 0 < gap < 0.002  # metres: rounding to float16, nothing more
    assert main(["train-lifter", "--export-fp16", str(tmp_path / "none.bin")]) == 2


def test_the_device_is_checked_and_cuda_trains_where_there_is_a_gpu(
    few_clips: MotionSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(TrainingError, match="device must be"):
        TrainOptions(device="gpu0")
    args = ["train-lifter", "--preset", "tiny", "--steps", "2", "--no-eval", "--no-authored", "--device", "cuda"]
    code = main([*args, "--mocap", str(MOCAP), "-o", str(tmp_path / "run")])
    if torch.cuda.is_available():
        assert code == 0 and load_poseformerv2(tmp_path / "run" / "poseformerv2_tiny.bin", TINY) is not None
    else:
        assert code == 2 and "sees no CUDA GPU" in capsys.readouterr().err


def test_a_config_file_sets_another_shape_and_bad_ones_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["train-lifter", "--preset", "tiny", "--mocap", str(MOCAP), "--threads", "1", "--no-eval"]
    bad = tmp_path / "bad.json"
    for text, message in [
        ('{"frames": 8}', "frames (T) must be odd"),
        ('{"frame": 9}', "unknown: ['frame']"),
        ("[1, 2]", "expected an object"),
        ("{frames", "not a JSON config"),
    ]:
        bad.write_text(text)
        assert main([*common, "--config", str(bad), "-o", str(tmp_path / "x")]) == 2
        assert message in capsys.readouterr().err
    assert main([*common, "--config", str(tmp_path / "none.json")]) == 2
    assert "no such config file" in capsys.readouterr().err
    shape = {"frames": 5, "kept_frames": 3, "kept_coeffs": 2, "embed_dim_ratio": 8, "depth": 1, "num_heads": 2}
    good = tmp_path / "shape.json"
    good.write_text(json.dumps(shape))
    out = tmp_path / "run"
    assert main([*common, "--config", str(good), "--steps", "2", "--no-authored", "-o", str(out)]) == 0
    checkpoint = out / "poseformerv2_tiny.bin"
    config = PoseFormerV2Config(**shape)
    assert load_poseformerv2(checkpoint, config) is not None
    assert checkpoint_config(checkpoint) == config
    # evaluation takes the shape from the metadata beside the checkpoint (the preset's would not load)
    assert main(["train-lifter", "--eval-only", str(checkpoint), "--mocap", str(MOCAP), "--eval-stride", "80"]) == 0
    assert "L=2" in capsys.readouterr().out

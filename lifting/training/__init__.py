"""Training our own PoseFormerV2 lifter for live streaming (issue 17); ``coach train-lifter`` runs it.

Why: the official ``27_243_45.2.bin`` must be downloaded by hand, was trained for a centred window
(121 future frames; live mode gives 13 and edge-pads the rest) and on Human3.6M, which has no floor
exercises. This package trains the same network (``lifting.poseformerv2.PoseFormerV2``, the official
parameter names and checkpoint layout, so the official file stays a drop-in alternative) on the
windows live mode really builds.

Pipeline (one module per step):

- ``motion``: 3D motion in a Y-up world frame on the canonical joint definitions (pelvis = hip
  midpoint, spine = midpoint of pelvis and thorax, as ``lifting.joints.blazepose_to_h36m``);
  HDM05 split by actor (``mm`` and ``tr`` held out), the references' ``poses_3d``, reps drawn from the
  authored exercises.
- ``synth``: augmentation (time warp, bone lengths, mirroring, lying down), virtual cameras (desk
  webcam, phone on the floor, tripod; any azimuth; 50-80 deg field of view; the subject 35-90 % of the
  picture, anywhere in it), pinhole projection, detector-like noise (jitter, per-joint bias,
  left/right swaps, feet guessed near the knees, frames without a detection), normalisation with
  ``lifting.window.normalize_screen`` and windows padded exactly as ``LiftStream`` pads them, the
  lookahead drawn over the live range (0-30) and sometimes the full pad (batch mode).
- ``train``: AdamW with warm-up and cosine decay, MPJPE loss, deterministic per seed (batch k comes
  from ``default_rng([seed, k])``), resumable, CPU or CUDA; writes the official layout plus a JSON
  metadata file (sources, licences, config, metrics, git commit).
- ``evaluate``: MPJPE and P-MPJPE (mm) per lookahead on the held-out actors, against the one-frame
  network (``--preset single``) and the nearest training pose.

Presets (``train.PRESETS``): ``small`` T=81, 9 kept frames, 9 DCT coefficients, width 16, depth 3
(2.73 M parameters; a CPU forward pass at batch 1 takes about 2.0 ms on one thread, 2.8 ms for the
flip-averaged pair, measured on the 2-core dev machine); ``full`` the official 27_243 shape (14.4 M
parameters, 12.5 / 20 ms on the same thread: meant for GPUs); ``single`` the one-frame baseline;
``tiny`` for tests.

Sources and licences (also written into every checkpoint's metadata, ``motion.SOURCES``):

- HDM05 motion capture database, Meinard Müller, Tido Röder, Michael Clausen, Bernhard Eberhardt,
  Björn Krüger, Andreas Weber, Universität Bonn, 2007 (M. Müller et al., "Documentation Mocap Database
  HDM05", Tech. Rep. CG-2007-2). **CC BY-SA 3.0**, via ../shared/mocap/hdm05_h36m17.npz (converted to
  H36M-17 joint positions; see its README). Weights trained on it carry the attribution and are shared
  under the same licence.
- The project's reference exercises (``references/*/reference.npz`` ``poses_3d``): 3D poses our own
  pipeline computed from two shared clips (no licence is recorded for those videos) and poses drawn
  from authored keyframes.
- Authored exercises' reps (``scoring.authored.compile_track``): the project's own code and keyframes.
"""

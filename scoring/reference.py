"""Reference exercises as data: ``references/<name>/exercise.json`` + ``reference.npz``.

``exercise.json`` has two parts. The authored part says what the exercise is: its name, the body
parts that matter, the angle that drives a rep (and which way it moves), the posture gate, the
fault rules with thresholds, and camera guidance. The ``calibration`` part is written by
``build_reference`` from a real video run through our own pose pipeline: the driving angle at the
start posture and at the turning point, the posture-gate angle, the reps found, and which rep is
the template that live reps are aligned with. ``reference.npz`` keeps that video's 3D poses.

Nothing in scoring knows exercise names: the core takes a ``Reference``.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scoring.features import (
    BODY_PARTS,
    SYMMETRIC_PAIRS,
    ExtraFeature,
    compute_features,
    feature_by_name,
    resolve_feature,
)
from scoring.phases import PHASES, Phase
from scoring.reps import RepSegmenter, SegmenterOptions
from scoring.types import Fault, RepResult
from scoring.view import JUDGED_VIEWS, VIEWS, BodyAxis, CameraView, gravity_axis

SPEC_FILE = "exercise.json"
POSES_FILE = "reference.npz"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class ReferenceError(Exception):
    """A reference is missing, malformed, or cannot be built; the message says what to do."""


def validate_exercise_name(name: str) -> str:
    """Exercise names are folder names: lowercase letters, digits, '-' and '_', starting with a letter."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ReferenceError(
            f"invalid exercise name {name!r}: use 1-40 lowercase letters, digits, '-' or '_', starting with a letter"
        )
    return name


@dataclass(frozen=True)
class FaultRule:
    """One named fault and how to detect it (every threshold's source is in the exercise's README)."""

    id: str
    """Stable id (e.g. ``hips_sag``)."""
    kind: Literal["offset", "rom", "tempo", "symmetry", "lag", "lockout"]
    """offset: an angle's worst value held for ``HOLD_MS`` in one of ``phases`` beyond ``limit`` (absolute)
    and, when ``relative``, beyond the reference's own value in the same phase by ``threshold`` degrees;
    rom: range of motion below ``threshold`` percent of the reference's, unless the driving angle reached
    ``limit`` at the turning point (full depth by an absolute standard, whatever the reference); tempo:
    the rep's duration outside [``min_s``, ``max_s``] (people in general), or, when the exercise
    prescribes a tempo, its ratio to the prescribed duration outside [``min_ratio``, ``max_ratio``];
    symmetry: a left/right pair differing by ``threshold`` degrees more than in the reference; lag: one
    side of a pair following the other more than ``threshold`` seconds later (both judged only when both
    sides were seen); lockout: the straightest the driving angle came back to after the turning point
    (``SegmentEvent.top_frame``) more than ``threshold`` degrees short of the person's own lockout (the
    straightest they held in position earlier in the set), and short of ``limit`` (straight by any
    standard; None: no such bound): a person's build is not a fault, nor is the reference's."""
    message: str
    """Template with ``{value}``, ``{reference}``, ``{delta}``; offset rules also ``{where}`` (the phase in
    words, e.g. "on the way up") and ``{angle}`` (the angle itself; ``value`` is ``direction`` x angle);
    symmetry and lag ``{side}``, ``{other}``, ``{lag}``."""
    severity: Literal["safety", "form"] = "form"
    """Safety faults are reported first."""
    body_parts: tuple[str, ...] = ()
    """Body parts concerned."""
    feature: str = ""
    """offset: the angle (a ``Feature`` name)."""
    phases: tuple[Phase, ...] = ("bottom",)
    """offset: the phases of the rep it is judged in (``scoring.phases``); the worst one is reported."""
    views: tuple[CameraView, ...] = JUDGED_VIEWS
    """Camera views the rule can be judged from; from any other it is skipped, with the reason."""
    direction: Literal[1, -1] = 1
    """offset: +1 flags values above the bounds, -1 below (the directed value is ``direction * angle``)."""
    limit: float | None = None
    """offset: absolute bound on the directed value, degrees (None: no absolute bound); rom: the driving
    angle at the turning point that is full depth whatever the reference (None: the reference alone);
    lockout: the driving angle at the top that is straight whatever the person's own lockout."""
    relative: bool = True
    """offset: also require ``threshold`` degrees beyond the reference's own value (the rule then depends
    on the reference's posture); False: judged against ``limit`` alone."""
    from_start: bool = False
    """offset: measured as the change from the rep's own start posture (the angle's median over the rep's
    first ``START_SHARE`` of frames), so a tilted camera, a sloping floor or a person's build is not a
    fault; only the movement during the rep is judged."""
    threshold: float = 0.0
    """offset (relative)/symmetry/lockout: degrees; rom: percent; lag: seconds."""
    pair: str = ""
    """symmetry/lag: one of ``SYMMETRIC_PAIRS``."""
    min_s: float = 0.0
    """tempo: shortest rep, seconds, for people in general."""
    max_s: float = float("inf")
    """tempo: longest rep, seconds, for people in general."""
    min_ratio: float = 0.0
    """tempo with a prescribed tempo: shortest allowed duration relative to it."""
    max_ratio: float = float("inf")
    """tempo with a prescribed tempo: longest allowed duration relative to it."""

    def __post_init__(self) -> None:
        if self.kind == "offset":
            if isinstance(resolve_feature(self.feature), ExtraFeature) and self.relative:
                raise ReferenceError(
                    f"fault {self.id!r}: {self.feature} is measured on the feet or hands, which references do not "
                    "store: judge it against an absolute limit (relative = false)"
                )
            if not self.phases or set(self.phases) - set(PHASES):
                raise ReferenceError(f"fault {self.id!r}: phases must be a non-empty subset of {list(PHASES)}")
            if not self.relative and self.limit is None:
                raise ReferenceError(f"fault {self.id!r}: an offset rule needs a limit, or relative = true")
        if not self.views or set(self.views) - set(VIEWS):
            raise ReferenceError(f"fault {self.id!r}: views must be a non-empty subset of {list(VIEWS)}")
        if self.kind in ("symmetry", "lag") and self.pair not in SYMMETRIC_PAIRS:
            raise ReferenceError(f"fault {self.id!r}: pair must be one of {sorted(SYMMETRIC_PAIRS)}, got {self.pair!r}")
        if self.kind not in ("offset", "rom", "tempo", "symmetry", "lag", "lockout"):
            raise ReferenceError(f"fault {self.id!r}: unknown kind {self.kind!r}")
        if self.kind == "lockout" and not self.threshold > 0:
            raise ReferenceError(
                f"fault {self.id!r}: a lockout rule needs threshold > 0 (degrees short of the own lockout)"
            )
        unknown = set(self.body_parts) - set(BODY_PARTS)
        if unknown:
            raise ReferenceError(f"fault {self.id!r}: unknown body parts {sorted(unknown)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """A rule from exercise.json; ``at`` of older files becomes ``phases`` (turn: bottom; max/min: rep)."""
        data = dict(data)
        at = data.pop("at", None)
        if at is not None and "phases" not in data:
            data["phases"] = ["bottom"] if at == "turn" else ["rep"]
        for key in ("max_ratio", "max_s"):
            if data.get(key) is None:
                data.pop(key, None)
        return cls(
            **{
                **data,
                "body_parts": tuple(data.get("body_parts", ())),
                "phases": tuple(data.get("phases", ("bottom",))),
                "views": tuple(data.get("views", JUDGED_VIEWS)),
            }
        )


@dataclass(frozen=True)
class HoldSpec:
    """What counts as holding the posture of a hold exercise (a plank), besides the posture gate."""

    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Feature name -> (lowest, highest) degrees within which the posture is held (e.g. a plank's
    ``hip_mean`` 140-200: hips not folded like a rest on the knees)."""
    grace_s: float = 1.0
    """Out of bounds for less than this does not end the hold (one wobble, a missed frame)."""
    min_s: float = 2.0
    """A hold shorter than this is not counted (getting into position and out again)."""
    target_s: float | None = None
    """The time the exercise asks for (tips and summaries say how far along it is); None: no target."""

    def __post_init__(self) -> None:
        for name, bound in self.bounds.items():
            feature_by_name(name)
            if len(bound) != 2 or not bound[0] < bound[1]:
                raise ReferenceError(f"hold bounds of {name}: expected [lowest, highest], got {list(bound)}")
        if not (self.grace_s >= 0 and self.min_s >= 0):
            raise ReferenceError("hold: grace_s and min_s must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HoldSpec:
        data = dict(data)
        data["bounds"] = {k: tuple(v) for k, v in data.get("bounds", {}).items()}
        return cls(**data)


@dataclass(frozen=True)
class Keyframe:
    """One authored pose of a rep: joint angles (``scoring.authored.DOFS``) at a share of the rep."""

    at: float
    """Where in the rep, 0 (start posture) to 1 (back at the start)."""
    angles: dict[str, float]
    """Degrees by degree of freedom (``knee_flex``: both sides, ``knee_flex_l``: the left only); the
    ones not named keep the previous keyframe's values (the first one's: the standard posture)."""


@dataclass(frozen=True)
class AuthoredSpec:
    """A reference written as data: keyframes compiled into a smooth 3D rep (``scoring.authored``)."""

    keyframes: tuple[Keyframe, ...]
    """At least the start (``at`` 0) and the turning point; the end (``at`` 1) is the start again unless
    given. A hold has one keyframe: the held posture."""
    duration_s: float = 2.0
    """One rep's duration at the tempo the template is drawn with (a hold: the time drawn)."""
    moving: tuple[str, ...] = ()
    """The degrees of freedom the rep moves (documentation, checked against the keyframes)."""
    still: tuple[str, ...] = ()
    """The degrees of freedom that must stay still (checked: no keyframe moves them)."""
    source: str = ""
    """Where the angles come from (a textbook, a measured clip): shown with the exercise."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthoredSpec:
        data = dict(data)
        try:
            frames = tuple(Keyframe(float(k["at"]), {str(a): float(v) for a, v in k["angles"].items()})
                           for k in data.pop("keyframes"))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceError(f"authored keyframes: each needs 'at' and 'angles' ({exc})") from None
        return cls(
            keyframes=frames,
            moving=tuple(data.pop("moving", ())),
            still=tuple(data.pop("still", ())),
            **data,
        )


@dataclass(frozen=True)
class ExerciseSpec:
    """The authored description of an exercise."""

    name: str
    """Folder name and API id."""
    display_name: str
    """Shown to users."""
    camera: str
    """Camera guidance shown to users (e.g. "side view, whole body in frame"): display text only."""
    body_parts: tuple[str, ...]
    """Parts scored for this exercise (keys of ``BODY_PARTS``)."""
    driver: str
    """The angle that drives a rep (a ``Feature`` name)."""
    driver_direction: Literal["decrease", "increase"]
    """How the driving angle moves from the start posture to the turning point."""
    posture_feature: str = "torso_incline"
    """The posture-gate angle."""
    posture_tolerance_deg: float = 40.0
    """Largest deviation from the reference's start-posture value of the gate angle."""
    faults: tuple[FaultRule, ...] = ()
    """Fault rules."""
    views: tuple[CameraView, ...] = ("side",)
    """Camera views the exercise can be coached from (``scoring.view``); guidance and warnings use this,
    never the ``camera`` text."""
    depth_signals: tuple[str, ...] = ()
    """Other angles (``Feature`` names) whose range also measures the rep's depth: the range of motion
    is the largest of the driver's and theirs, in percent of the reference's, so a deep rep whose
    driving angle a turned camera shrinks is not called shallow."""
    tempo_s: float | None = None
    """A prescribed rep duration, seconds: tempo is then coached against it (``min_ratio``/``max_ratio``);
    None: any tempo within the general bounds of the tempo rules (``min_s``/``max_s``) is fine."""
    counts_at_turn: bool = False
    """The rep's work is done at the turning point (a deadlift's lockout, a press overhead, a bridge's top):
    a set that ends there, or on the way back, counts that rep, scored on what was seen (its tempo is
    not judged). False: a rep counts only once it is back at the start posture (a push-up that ends at
    the bottom is not a push-up)."""
    phase_words: dict[str, str] = field(default_factory=dict)
    """How messages name this exercise's phases where the defaults (``scoring.phases.PHASE_WORDS``: "on the
    way down" for ``descent``, the way to the turning point) read wrong: a press's turning point is
    overhead, so its ``descent`` is "on the way up"."""
    kind: Literal["reps", "hold"] = "reps"
    """reps: counted repetitions (the driving angle goes from the start posture to a turning point and
    back); hold: a posture held still (a plank), coached as time under tension (``hold``)."""
    hold: HoldSpec | None = None
    """hold: what counts as being in the hold (required for ``kind`` hold, absent otherwise)."""
    authored: AuthoredSpec | None = None
    """The reference rep (or held posture) written as keyframe joint angles (``scoring.authored``): used
    when no video of good reps was built into this exercise; a reference built from a video replaces it."""

    def __post_init__(self) -> None:
        validate_exercise_name(self.name)
        for signal in self.depth_signals:
            feature_by_name(signal)
        if not self.views or set(self.views) - set(VIEWS):
            raise ReferenceError(f"{self.name}: views must be a non-empty subset of {list(VIEWS)}, got {self.views}")
        feature_by_name(self.driver)
        feature_by_name(self.posture_feature)
        for rule in self.faults:
            if rule.kind == "offset" and ("hold" in rule.phases) != (self.kind == "hold"):
                where = "only in the phase 'hold'" if self.kind == "hold" else "in the phases of a rep, never 'hold'"
                raise ReferenceError(f"{self.name}: fault {rule.id!r} must be judged {where}")
        if set(self.phase_words) - set(PHASES):
            raise ReferenceError(f"{self.name}: phase_words must name phases of {list(PHASES)}")
        if self.kind not in ("reps", "hold"):
            raise ReferenceError(f"{self.name}: kind must be 'reps' or 'hold', got {self.kind!r}")
        if (self.kind == "hold") != (self.hold is not None):
            raise ReferenceError(f"{self.name}: a hold needs a 'hold' section, and only a hold has one")
        unknown = set(self.body_parts) - set(BODY_PARTS)
        if unknown or not self.body_parts:
            raise ReferenceError(f"{self.name}: body_parts must be a non-empty subset of {sorted(BODY_PARTS)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseSpec:
        """Parse the authored part of exercise.json (unknown keys are an error)."""
        data = {k: v for k, v in data.items() if k != "calibration"}
        try:
            faults = tuple(FaultRule.from_dict(f) for f in data.pop("faults", []))
            hold = data.pop("hold", None)
            authored = data.pop("authored", None)
            return cls(
                **{
                    **data,
                    "hold": HoldSpec.from_dict(hold) if hold is not None else None,
                    "authored": AuthoredSpec.from_dict(authored) if authored is not None else None,
                    "body_parts": tuple(data.get("body_parts", ())),
                    "faults": faults,
                    "views": tuple(data.get("views", ("side",))),
                    "depth_signals": tuple(data.get("depth_signals", ())),
                }
            )
        except TypeError as exc:
            raise ReferenceError(f"exercise spec: {exc}") from None
        except ValueError as exc:
            raise ReferenceError(f"exercise spec: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (infinite ratios written as null)."""
        data = asdict(self)
        for fault in data["faults"]:
            for key in ("max_ratio", "max_s"):
                if fault[key] == float("inf"):
                    fault[key] = None
        for key in ("hold", "authored"):
            if data[key] is None:
                del data[key]
        return data


@dataclass(frozen=True)
class RepSpan:
    """Frame indices of one rep in the reference video."""

    start: int
    """First frame (start posture)."""
    bottom: int
    """Turning point."""
    end: int
    """Last frame (back at the start posture)."""


@dataclass(frozen=True)
class Tolerances:
    """How much the reference's own reps vary: within these, a rep loses no points and gets no fault.

    ``build_reference`` measures them on the reference's reps (a gold-standard set is good form by
    definition, so its rep-to-rep spread, pose-estimation noise included, must not be penalised).
    """

    form_deg: dict[str, float] = field(default_factory=dict)
    """Per body part, mean angle deviation with full marks (default ``FORM_TOLERANCE_DEG``)."""
    rom_full_pct: float = 90.0
    """Range of motion, percent of the template's, from which ROM gets full marks."""
    tempo_min: float = 0.7
    """Shortest duration ratio with full tempo marks."""
    tempo_max: float = 1.5
    """Longest duration ratio with full tempo marks."""
    symmetry_deg: float = 3.0
    """Left/right difference beyond the template's that is free."""
    jerk: float | None = None
    """Jerk (deg/frame^2) with full stability marks; None: the template's own."""
    faults: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per fault id, the rule fields widened to the reference's spread (threshold, min_ratio, max_ratio)."""


@dataclass(frozen=True)
class Calibration:
    """What ``build_reference`` measured on the reference video."""

    top: float
    """Driving angle at the start posture, degrees."""
    bottom: float
    """Driving angle at the turning point, degrees."""
    posture_value: float
    """Posture-gate angle at the start posture, degrees."""
    reps: tuple[RepSpan, ...]
    """The reference video's reps used for the reference."""
    template: int
    """Index into ``reps`` of the rep live reps are aligned with (the medoid)."""
    source_video: str
    """File name of the reference video."""
    backend: str
    """2D backend the poses came from."""
    lifter: str
    """Lifter the poses came from."""
    tolerances: Tolerances = field(default_factory=Tolerances)
    """The reference's natural variation (see ``Tolerances``)."""
    image_top: float | None = None
    """The driving angle read in the picture (``features.image_angle``) at the reference's start
    posture (median over its reps), when they were filmed from the side; None otherwise."""
    image_bottom: float | None = None
    """The same at the reference's turning points. A side-view rep's depth is also read in the picture
    against these two (a second depth signal beside the 3D one)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes (e.g. the rep selection asked for)."""
    kind: Literal["video", "authored"] = "video"
    """Where the reference poses come from: a video of good reps run through our pose pipeline, or the
    exercise's authored keyframes compiled on the standard skeleton (``scoring.authored``)."""


@dataclass(frozen=True)
class Reference:
    """An exercise with its calibrated reference poses, ready for scoring."""

    spec: ExerciseSpec
    """The authored description."""
    calibration: Calibration
    """The measured part."""
    poses_3d: np.ndarray
    """(T, 17, 3) float32, metres, root-relative, H36M order: the reference video's 3D poses."""
    timestamps_ms: np.ndarray
    """(T,) float64, the reference video's timestamps."""
    features: np.ndarray
    """(T, NUM_FEATURES) float64 degrees, from ``poses_3d`` (NaN where nobody was found)."""

    @functools.cached_property
    def gravity(self) -> BodyAxis:
        """The body axis that is vertical in this exercise (``up`` standing, ``forward`` in a push-up),
        from the reference's start postures (filmed with an upright camera)."""
        starts = self.poses_3d[[s.start for s in self.calibration.reps]]
        return gravity_axis(starts[np.isfinite(starts).all(axis=(1, 2))])

    @property
    def template(self) -> RepSpan:
        """The template rep."""
        return self.calibration.reps[self.calibration.template]

    def template_features(self) -> np.ndarray:
        """(n, NUM_FEATURES) features of the template rep, start to end inclusive."""
        t = self.template
        return self.features[t.start : t.end + 1]

    def template_duration_ms(self) -> float:
        """Duration of the template rep."""
        t = self.template
        return float(self.timestamps_ms[t.end] - self.timestamps_ms[t.start])

    def segmenter_options(self) -> SegmenterOptions:
        """Segmentation thresholds from this reference."""
        posture = self.features[:, feature_by_name(self.spec.posture_feature)]
        excursion = max(
            float(np.nanmax(np.abs(posture[s.start : s.end + 1] - self.calibration.posture_value)))
            for s in self.calibration.reps
        )
        return segmenter_options(self.spec, self.calibration, self.template_duration_ms(), excursion)


def segmenter_options(
    spec: ExerciseSpec, cal: Calibration, rep_ms: float, posture_excursion: float = 0.0
) -> SegmenterOptions:
    """Segmentation thresholds for an exercise given its calibration and its template rep's duration.

    ``posture_excursion``: how far the reference's own reps move the posture-gate angle from the start
    posture (a squat's torso leans forward at the bottom); a rep under way may move that much further
    than ``posture_tolerance_deg``, so a user who leans more than the reference is still counted (and
    told about the lean) instead of silently dropped."""
    return SegmenterOptions(
        top=cal.top,
        bottom=cal.bottom,
        posture_value=cal.posture_value,
        posture_tolerance=spec.posture_tolerance_deg,
        min_duration_ms=max(400.0, 0.25 * rep_ms),
        max_duration_ms=max(10_000.0, 4.0 * rep_ms),
        posture_rep_tolerance=spec.posture_tolerance_deg + posture_excursion,
        counts_at_turn=spec.counts_at_turn,
    )


def segment(
    features: np.ndarray, timestamps_ms: np.ndarray, spec: ExerciseSpec, options: SegmenterOptions
) -> list[RepSpan]:
    """Run the online segmenter over a whole clip's features; return the counted reps."""
    segmenter = RepSegmenter(options)
    driver, posture = feature_by_name(spec.driver), feature_by_name(spec.posture_feature)
    spans = []
    for i, (row, ts) in enumerate(zip(features, timestamps_ms, strict=True)):
        for event in segmenter.add(i, float(ts), float(row[driver]), float(row[posture])):
            if event.kind == "end":
                spans.append(RepSpan(event.start_frame, event.bottom_frame, event.frame))
    return spans


def parse_rep_range(text: str | None, available: int) -> tuple[int, int]:
    """``"2-3"`` -> (2, 3), 1-based inclusive; None -> all. ReferenceError for a bad or out-of-range text."""
    if text is None:
        return 1, available
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not match:
        raise ReferenceError(f"--reps must look like 2 or 1-3, got {text!r}")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if not 1 <= first <= last <= available:
        raise ReferenceError(f"--reps {text} is outside the {available} reps found in the video (1-{available})")
    return first, last


def save_reference(reference: Reference, folder: Path) -> None:
    """Write ``exercise.json`` (spec + calibration) and ``reference.npz`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = reference.spec.as_dict()
    data["calibration"] = asdict(reference.calibration)
    (folder / SPEC_FILE).write_text(json.dumps(data, indent=2) + "\n")
    np.savez_compressed(
        folder / POSES_FILE, poses_3d=reference.poses_3d.astype(np.float32), timestamps_ms=reference.timestamps_ms
    )


def reference_kind(folder: Path) -> str | None:
    """Which kind of reference ``folder`` holds: "video" or "authored" (``Calibration.kind``); None when it
    is not built yet or unreadable."""
    try:
        calibration = _read_json(folder / SPEC_FILE).get("calibration")
    except ReferenceError:
        return None
    return str(calibration.get("kind", "video")) if isinstance(calibration, dict) else None


def read_spec(folder: Path) -> ExerciseSpec:
    """The authored part of ``folder/exercise.json``."""
    return ExerciseSpec.from_dict(_read_json(folder / SPEC_FILE))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReferenceError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise ReferenceError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReferenceError(f"{path}: expected a JSON object")
    return data


def load_reference(references_dir: Path, name: str) -> Reference:
    """Load the exercise ``name`` names (``resolve_exercise_name``: "Squat" is ``squat``); ReferenceError
    naming what is missing or wrong."""
    folder = references_dir / resolve_exercise_name(references_dir, name)
    data = _read_json(folder / SPEC_FILE)
    spec = ExerciseSpec.from_dict(data)
    if "calibration" not in data:
        raise ReferenceError(f"{folder}: not built yet; run `coach reference build --exercise {name} --video FILE`")
    cal = dict(data["calibration"])
    try:
        calibration = Calibration(
            **{
                **cal,
                "reps": tuple(RepSpan(**r) for r in cal["reps"]),
                "tolerances": Tolerances(**cal.get("tolerances", {})),
            }
        )
        with np.load(folder / POSES_FILE) as npz:
            poses, ts = npz["poses_3d"], npz["timestamps_ms"]
    except (TypeError, KeyError) as exc:
        raise ReferenceError(f"{folder}: malformed calibration ({exc})") from None
    except FileNotFoundError:
        raise ReferenceError(f"{folder / POSES_FILE} is missing; rebuild with `coach reference build`") from None
    if poses.ndim != 3 or poses.shape[1:] != (17, 3) or ts.shape != (poses.shape[0],):
        raise ReferenceError(f"{folder / POSES_FILE}: expected poses_3d (T, 17, 3) and timestamps_ms (T,)")
    if not calibration.reps or not 0 <= calibration.template < len(calibration.reps):
        raise ReferenceError(f"{folder}: calibration has no valid template rep")
    return Reference(spec, calibration, poses, ts, compute_features(poses))


def _alias(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def resolve_exercise_name(references_dir: Path, name: str) -> str:
    """The folder name of the exercise a user means: case, spaces and punctuation do not matter when they
    point at one exercise's folder or display name ("Squat", "push-up", "Push Up" -> "pushup");
    ReferenceError otherwise, with the closest names ("did you mean 'squat'?") and the known ones."""
    known = list_exercises(references_dir)
    typed = name.strip().lower() if isinstance(name, str) else ""
    if typed in known:
        return typed
    folders: dict[str, set[str]] = {}
    for folder in known:
        folders.setdefault(_alias(folder), set()).add(folder)
        try:
            folders.setdefault(_alias(read_spec(references_dir / folder).display_name), set()).add(folder)
        except ReferenceError:
            continue  # a broken exercise is still known by its folder name
    matches = folders.get(_alias(typed), set()) if _alias(typed) else set()
    if len(matches) == 1:
        return next(iter(matches))
    close = difflib.get_close_matches(typed, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ReferenceError(f"unknown exercise {name!r}{hint} (known: {', '.join(known) or 'none'})")


def list_exercises(references_dir: Path) -> list[str]:
    """Names of the folders in ``references_dir`` that hold an exercise.json."""
    if not references_dir.is_dir():
        return []
    return sorted(p.name for p in references_dir.iterdir() if (p / SPEC_FILE).is_file() and _NAME.match(p.name))


EXAMPLE_MEASURES: dict[str, dict[str, float | str]] = {
    "offset": {"value": 17.3, "reference": 3.0, "delta": 14.3, "angle": 17.3, "where": "on the way up",
               "phase": "ascent"},
    "rom": {"value": 71.4, "reference": 100.0, "delta": 28.6},
    "lockout": {"value": 138.0, "reference": 160.0, "delta": 22.0, "where": "at the top", "phase": "top"},
    "tempo": {"value": 0.5, "reference": 0.8, "delta": 0.3, "ratio": 0.25},
    "symmetry": {"value": 24.0, "reference": 3.0, "delta": 12.0, "side": "left", "other": "right", "lag": 0.1},
    "lag": {"value": 0.23, "reference": 0.0, "delta": 0.23, "side": "left", "other": "right", "lag": 0.23,
            "difference": 31.0},
}  # fmt: skip
"""Plausible measures per rule kind, for previews of what a fault looks like."""


def example_fault(rule: FaultRule) -> Fault:
    """The fault ``rule`` would report for a rep with the example measures (persona previews, checks)."""
    fields = dict(EXAMPLE_MEASURES[rule.kind])
    if rule.kind == "tempo" and rule.min_s <= 0.0 < rule.max_s < float("inf"):  # a too-slow rule
        value = rule.max_s * 1.2
        fields.update(value=value, reference=rule.max_s, delta=value - rule.max_s, ratio=value / 2.0)
    return Fault(
        id=rule.id,
        message=rule.message.format(**fields),
        value=float(fields["value"]),
        reference=float(fields["reference"]),
        severity=rule.severity,
        body_parts=rule.body_parts,
        kind=rule.kind,
        details=fields,
    )


def example_rep(index: int, score: float, faults: tuple[Fault, ...] = (), end_ms: float | None = None) -> RepResult:
    """A 2-second rep ending at ``end_ms`` (default ``index`` x 10 s) with this score and these faults,
    everything else as the reference does it (persona previews, tip checks and benchmarks)."""
    end = end_ms if end_ms is not None else index * 10_000.0
    return RepResult(
        index=index, start_ms=end - 2000, bottom_ms=end - 1000, end_ms=end, start_frame=0, bottom_frame=15,
        end_frame=30, score=score, part_scores={}, part_deviation_deg={}, rom_pct=100.0, duration_s=2.0,
        tempo_ratio=1.0, down_s=1.0, up_s=1.0, symmetry_deg=0.0, stability=100.0, faults=faults,
    )  # fmt: skip

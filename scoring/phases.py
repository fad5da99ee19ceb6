"""The phases of one rep, and the worst value a signal holds within a phase.

A rep is split by its own driving angle, in progress units p = (driver - top) / (bottom - top) of the
reference (0 at the start posture, 1 at the reference's turning point):

- ``top``: the frames within the first and last ``TOP_SHARE`` of the rep's own peak progress
  (the start posture, before leaving it and after coming back);
- ``bottom``: the frames beyond ``BOTTOM_SHARE`` of the peak (the turning zone, the turning point
  always included);
- ``descent`` / ``ascent``: the rest before / after the turning point;
- ``rep``: every frame;
- ``hold``: the held frames of a hold exercise (``scoring.hold`` judges it; a rep has no such frames).

Shares of the rep's own peak, not of the reference's range, so a shallow rep still has all phases.
``TOP_SHARE`` = 0.2 and ``BOTTOM_SHARE`` = 0.8 put the phase boundaries at a fifth of the range from
each end: on the shared clips' reps that gives each phase at least 0.2 s (6 frames at 30 fps), more
than ``HOLD_MS``, so a fault can be held inside any phase.

A fault is judged on the worst value *held* for ``HOLD_MS`` (0.15 s), never on one frame: one frame
of pose noise (a joint that jumps for a frame, common with MediaPipe on the far-side limbs) must not
become a verdict, while a real fault lasts far longer than 0.15 s in any rep slower than 0.6 s.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Phase = Literal["descent", "bottom", "ascent", "top", "rep", "hold"]

PHASES: tuple[Phase, ...] = ("descent", "bottom", "ascent", "top", "rep", "hold")

PHASE_WORDS: dict[Phase, str] = {
    "descent": "on the way down",
    "bottom": "at the bottom",
    "ascent": "on the way up",
    "top": "at the top",
    "rep": "during the rep",
    "hold": "during the hold",
}
"""How a message says where a fault was measured."""

TOP_SHARE = 0.2
BOTTOM_SHARE = 0.8
HOLD_MS = 150.0


def phase_masks(progress: np.ndarray, turn: int) -> dict[Phase, np.ndarray]:
    """Boolean masks ``(n,)`` of each phase of one rep.

    Args:
        progress: ``(n,)`` driving-angle progress of the rep's frames (see the module docstring);
            NaN where nobody was seen (such frames belong to no phase but ``rep``).
        turn: index of the turning point within the rep.
    """
    n = progress.shape[0]
    if progress.ndim != 1 or not 0 <= turn < n:
        raise ValueError(f"progress must be (n,) with 0 <= turn < n, got {progress.shape} and turn {turn}")
    peak = float(np.nanmax(progress)) if np.isfinite(progress).any() else 0.0
    index = np.arange(n)
    with np.errstate(invalid="ignore"):
        bottom = progress >= BOTTOM_SHARE * peak
        top = progress <= TOP_SHARE * peak
    bottom[turn] = True
    top &= ~bottom
    middle = ~bottom & ~top & np.isfinite(progress)
    return {
        "descent": middle & (index < turn),
        "bottom": bottom,
        "ascent": middle & (index > turn),
        "top": top,
        "rep": np.ones(n, dtype=bool),
        "hold": np.zeros(n, dtype=bool),
    }


def held_worst(
    signal: np.ndarray,
    timestamps_ms: np.ndarray,
    mask: np.ndarray,
    valid: np.ndarray | None = None,
    hold_ms: float = HOLD_MS,
) -> float:
    """The highest level ``signal`` stays at or above for ``hold_ms`` within the masked frames.

    The maximum, over every stretch of consecutive usable frames (masked, ``valid`` and finite)
    lasting ``hold_ms``, of the stretch's minimum. A phase shorter than ``hold_ms`` counts as one
    stretch when all of it is usable; shorter stretches inside a longer phase (a joint seen for a
    frame or two) never count. NaN when nothing could be judged.

    Args:
        signal: ``(n,)`` the quantity, larger = worse (e.g. the hips' drop below the body line, deg).
        timestamps_ms: ``(n,)`` increasing source timestamps.
        mask: ``(n,)`` bool, the frames of one phase.
        valid: ``(n,)`` bool, frames where the quantity can be trusted (its joints were seen); None: all.
    """
    n = signal.shape[0]
    if timestamps_ms.shape != (n,) or mask.shape != (n,) or (valid is not None and valid.shape != (n,)):
        raise ValueError(f"signal, timestamps_ms, mask and valid must all be ({n},)")
    usable = mask & np.isfinite(signal)
    if valid is not None:
        usable &= valid
    best = -np.inf
    i = 0
    while i < n:
        if not usable[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and usable[j + 1]:
            j += 1
        run_s, run_t = signal[i : j + 1], timestamps_ms[i : j + 1]
        if run_t[-1] - run_t[0] < hold_ms:
            if int(mask.sum()) == j + 1 - i:  # the whole (short) phase, all of it usable
                best = max(best, float(run_s.min()))
        else:
            end = 0
            for k in range(len(run_s)):
                while end < len(run_s) and run_t[end] - run_t[k] < hold_ms:
                    end += 1
                if end == len(run_s):
                    break
                best = max(best, float(run_s[k : end + 1].min()))
        i = j + 1
    return best if best > -np.inf else float("nan")

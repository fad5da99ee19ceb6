"""Rep phases and the worst value held for a minimum time: small inputs checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.phases import HOLD_MS, held_worst, phase_masks

TS = np.arange(20) * 33.3  # 30 fps


def test_phases_split_a_rep_by_its_own_progress() -> None:
    progress = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0, 0.9, 0.6, 0.4, 0.15, 0.05])
    masks = phase_masks(progress, turn=7)
    assert np.flatnonzero(masks["top"]).tolist() == [0, 1, 11, 12]  # <= 0.2 of the peak
    assert np.flatnonzero(masks["bottom"]).tolist() == [5, 6, 7, 8]  # >= 0.8 of the peak
    assert np.flatnonzero(masks["descent"]).tolist() == [2, 3, 4]
    assert np.flatnonzero(masks["ascent"]).tolist() == [9, 10]
    assert masks["rep"].all()
    # A shallow rep (peak 0.5 of the reference's range) still has every phase, scaled to its own peak.
    shallow = phase_masks(progress * 0.5, turn=7)
    assert all(shallow[p].any() for p in ("top", "descent", "bottom", "ascent"))
    with pytest.raises(ValueError, match="turn"):
        phase_masks(progress, turn=13)


def test_the_worst_value_must_be_held_not_touched() -> None:
    signal = np.zeros(20)
    signal[5] = 40.0  # one frame of noise
    everywhere = np.ones(20, dtype=bool)
    assert held_worst(signal, TS, everywhere) == 0.0
    signal[10:16] = [25.0, 30.0, 28.0, 26.0, 27.0, 31.0]  # frames 10-15: 0.17 s at 25 or more
    assert held_worst(signal, TS, everywhere) == 25.0
    signal[15] = 0.0  # now only 0.13 s: too short, whatever the values
    assert held_worst(signal, TS, everywhere) == 0.0
    assert held_worst(signal, TS, everywhere, hold_ms=0.0) == 40.0  # no hold: the single frame wins


def test_held_worst_respects_the_phase_and_what_was_seen() -> None:
    signal = np.arange(20, dtype=float)
    phase = np.zeros(20, dtype=bool)
    phase[4:12] = True
    # Stretches of 6 frames (0.17 s) inside frames 4-11: the last one, 6-11, holds 6.
    assert held_worst(signal, TS, phase) == 6.0
    seen = np.ones(20, dtype=bool)
    seen[11] = False  # a joint lost at frame 11: frames 4-10 remain, best stretch 5-10
    assert held_worst(signal, TS, phase, seen) == 5.0
    seen[8] = False  # and at frame 8: 4-7 and 9-10 are both too short inside a longer phase
    assert np.isnan(held_worst(signal, TS, phase, seen))
    assert np.isnan(held_worst(signal, TS, phase, np.zeros(20, dtype=bool)))  # nothing seen: not judged
    short = np.zeros(20, dtype=bool)
    short[3:5] = True  # a phase shorter than the hold counts as a whole
    assert held_worst(signal, TS, short) == 3.0
    assert HOLD_MS == 150.0

"""DTW kernels on inputs small enough to check by hand."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from scoring.dtw import OnlineDTW, dtw


def col(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)[:, None]


def test_three_against_two_by_hand() -> None:
    # acc: row0 = [0, 2]; row1 (x=1) = [1, 1 + min(2, 0, 1)] = [1, 1]; row2 (x=2) = [3, 0 + min(1, 1, 3)] = [3, 1]
    a = dtw(col(0, 1, 2), col(0, 2))
    assert a.cost == pytest.approx(1.0)
    assert a.path.tolist() == [[0, 0], [1, 0], [2, 1]]
    assert a.mean_cost == pytest.approx(1 / 3)


def test_identical_and_stretched_sequences_cost_nothing() -> None:
    x = col(0, 3, 5, 3, 0)
    same = dtw(x, x)
    assert same.cost == 0.0 and same.path.tolist() == [[i, i] for i in range(5)]
    slow = np.repeat(x, 2, axis=0)  # the same movement at half speed
    stretched = dtw(slow, x)
    assert stretched.cost == 0.0
    assert stretched.path[0].tolist() == [0, 0] and stretched.path[-1].tolist() == [9, 4]
    assert np.all(np.diff(stretched.path, axis=0) >= 0)


def test_weights_scale_each_feature() -> None:
    q = np.array([[0.0, 10.0], [1.0, 10.0]])
    r = np.array([[0.0, 0.0], [1.0, 0.0]])
    assert dtw(q, r, np.array([1.0, 0.0])).cost == 0.0
    assert dtw(q, r, np.array([1.0, 0.5])).cost == pytest.approx(10.0)  # 2 steps x 0.5 x 10


def test_online_rows_match_batch_and_can_close_early() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(7, 3))
    query = rng.normal(size=(9, 3))
    online = OnlineDTW(ref, capacity=2)  # grows past its capacity
    best = [online.add(row) for row in query]
    assert len(online) == 9 and all(0 <= b < 7 for b in best)
    full = online.finish()
    batch = dtw(query, ref)
    assert full.cost == pytest.approx(batch.cost)
    np.testing.assert_array_equal(full.path, batch.path)
    prefix = online.finish(rows=5)
    np.testing.assert_array_equal(prefix.path, dtw(query[:5], ref).path)
    # the open end: after a rep's first frame, the best match is the reference frame nearest to it
    fresh = OnlineDTW(col(0, 1, 2, 3))
    assert fresh.add(np.array([0.0])) == 0
    assert [fresh.add(np.array([v])) for v in (1.0, 2.0)] == [1, 2]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same d"):
        dtw(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        dtw(col(0, np.nan), col(0, 1))
    with pytest.raises(ValueError, match="at least one frame"):
        dtw(np.zeros((0, 1)), col(0))
    with pytest.raises(ValueError, match="weights"):
        dtw(col(0), col(0), np.array([-1.0]))
    online = OnlineDTW(col(0, 1))
    with pytest.raises(ValueError, match=r"no frames|rows"):
        online.finish()
    with pytest.raises(ValueError, match="finite"):
        online.add(np.array([np.inf]))


def test_warm_up_compiles_every_scoring_kernel() -> None:
    """In a fresh interpreter (other tests compile the kernels in this one), warm_up alone compiles them."""
    code = (
        "from scoring.core import warm_up\n"
        "from scoring.dtw import _njit_backtrack, _njit_row\n"
        "from scoring.features import _njit_features\n"
        "kernels = (_njit_row, _njit_backtrack, _njit_features)\n"
        "assert not any(k.signatures for k in kernels)\n"
        "warm_up()\n"
        "missing = [k.__name__ for k in kernels if not k.signatures]\n"
        "assert not missing, missing\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

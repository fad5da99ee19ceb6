"""Dynamic time warping of a rep against the reference rep (Numba).

Two ways in, one recurrence (weighted L1 local cost, steps (1,0), (0,1), (1,1)):

- ``dtw(query, reference)``: both sequences whole; returns the cost and the warping path.
- ``OnlineDTW``: the live form. The rep's frames arrive one at a time; each ``add`` computes one
  more row of the accumulated-cost matrix (O(m) work) and says which reference frame the newest
  frame matches best so far (open end: the rep may have covered only a prefix of the reference).
  ``finish()`` closes the end and backtracks the full path, identical to ``dtw`` on the same data.

Public wrappers validate and convert; the private ``_njit_*`` kernels are ``nogil=True,
cache=True``, loop over contiguous float64 arrays and allocate nothing per step. ``warm_up()``
compiles them once at start-up so no user request pays for compilation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

_INF = np.inf


@njit(nogil=True, cache=True)
def _njit_row(prev: np.ndarray, first: bool, x: np.ndarray, ref: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """One row of the accumulated cost: out[j] = c(x, ref[j]) + min(prev[j], prev[j-1], out[j-1]).

    ``first`` marks the rep's first frame, whose row is anchored at reference frame 0.
    """
    m, d = ref.shape
    for j in range(m):
        cost = 0.0
        for k in range(d):
            cost += w[k] * abs(x[k] - ref[j, k])
        if first:
            best = 0.0 if j == 0 else out[j - 1]
        else:
            best = prev[j]
            if j > 0:
                if prev[j - 1] < best:
                    best = prev[j - 1]
                if out[j - 1] < best:
                    best = out[j - 1]
        out[j] = cost + best


@njit(nogil=True, cache=True)
def _njit_backtrack(acc: np.ndarray, n: int, path: np.ndarray) -> int:
    """Backtrack from (n-1, m-1) to (0, 0) through acc[:n]; write the path reversed into ``path``
    (rows of (query index, reference index)) and return its length."""
    m = acc.shape[1]
    i, j = n - 1, m - 1
    length = 0
    while True:
        path[length, 0] = i
        path[length, 1] = j
        length += 1
        if i == 0 and j == 0:
            break
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            diag = acc[i - 1, j - 1]
            up = acc[i - 1, j]
            left = acc[i, j - 1]
            if diag <= up and diag <= left:
                i -= 1
                j -= 1
            elif up <= left:
                i -= 1
            else:
                j -= 1
    return length


@dataclass(frozen=True)
class Alignment:
    """Result of aligning a rep with the reference rep."""

    cost: float
    """Accumulated weighted L1 cost of the best path."""
    path: np.ndarray
    """(P, 2) int64 pairs (rep frame, reference frame), from (0, 0) to (n - 1, m - 1), monotone."""

    @property
    def mean_cost(self) -> float:
        """Cost per path step (comparable across rep lengths)."""
        return self.cost / len(self.path)


def _check_pair(query: np.ndarray, reference: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, ...]:
    q = np.ascontiguousarray(query, dtype=np.float64)
    r = np.ascontiguousarray(reference, dtype=np.float64)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ValueError(f"query and reference must be (n, d) and (m, d) with the same d, got {q.shape}, {r.shape}")
    if q.shape[0] == 0 or r.shape[0] == 0:
        raise ValueError("query and reference must each have at least one frame")
    if not (np.isfinite(q).all() and np.isfinite(r).all()):
        raise ValueError("query and reference must be finite (fill frames without a person first)")
    w = np.ones(q.shape[1]) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape != (q.shape[1],) or (w < 0).any():
        raise ValueError(f"weights must be ({q.shape[1]},) and non-negative, got {w.shape}")
    return q, r, w


def dtw(query: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None) -> Alignment:
    """Align two whole sequences.

    Args:
        query: ``(n, d)`` features of the rep (degrees).
        reference: ``(m, d)`` features of the reference rep.
        weights: ``(d,)`` non-negative weight per feature (default all 1).
    """
    q, r, w = _check_pair(query, reference, weights)
    online = OnlineDTW(r, w, capacity=q.shape[0])
    for row in q:
        online.add(row)
    return online.finish()


class OnlineDTW:
    """Incremental DTW of a growing rep against a fixed reference rep (see module doc)."""

    def __init__(self, reference: np.ndarray, weights: np.ndarray | None = None, capacity: int = 256) -> None:
        _, self.reference, self.weights = _check_pair(reference[:1], reference, weights)
        self._acc = np.empty((max(capacity, 1), self.reference.shape[0]), dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def reset(self) -> None:
        """Start a new rep."""
        self._n = 0

    def add(self, x: np.ndarray) -> int:
        """Add the rep's next frame ``(d,)``; return the reference frame it matches best so far."""
        row = np.ascontiguousarray(x, dtype=np.float64)
        if row.shape != (self.reference.shape[1],) or not np.isfinite(row).all():
            raise ValueError(f"a frame must be ({self.reference.shape[1]},) and finite, got {row.shape}")
        if self._n == self._acc.shape[0]:  # grow geometrically; reps are short, this is rare
            self._acc = np.concatenate([self._acc, np.empty_like(self._acc)])
        prev = self._acc[self._n - 1] if self._n else self._acc[0]
        _njit_row(prev, self._n == 0, row, self.reference, self.weights, self._acc[self._n])
        self._n += 1
        return int(np.argmin(self._acc[self._n - 1]))

    def finish(self, rows: int | None = None) -> Alignment:
        """Close the end at the reference's last frame and return the full alignment.

        ``rows`` ends the rep at its ``rows``-th frame (default: all added). Row k depends only on
        rows before it, so frames added after the rep's real end do not change the result.
        """
        n = self._n if rows is None else rows
        if not 1 <= n <= self._n:
            raise ValueError(f"rows must be in [1, {self._n}] (frames added), got {n}")
        path = np.empty((n + self.reference.shape[0], 2), dtype=np.int64)
        length = _njit_backtrack(self._acc, n, path)
        return Alignment(float(self._acc[n - 1, -1]), path[:length][::-1].copy())


def warm_up() -> None:
    """Compile the kernels now (start-up), not on the first rep."""
    dtw(np.zeros((2, 1)), np.zeros((2, 1)))

"""Minimum-cost one-to-one assignment for the scoring layer, equal to scipy's
``linear_sum_assignment``.

The same algorithm scipy uses (shortest augmenting paths with dual variables,
Crouse 2016, "On implementing 2D rectangular assignment algorithms", with its
tie rule: among equally short paths, prefer a free column; columns scanned from
the last), compiled with numba, which scoring loads anyway. Importing
``scipy.optimize`` for the PCK matching alone cost about 35 MB of resident
memory (its BLAS, ``scipy.linalg``, ``scipy.sparse``), a seventh of
pycocotools' whole peak on the paper's validation set; scipy stays the reference
that the tests compare every assignment with, ties included.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _solve(cost):
    """col4row of the (nr <= nc) matrix ``cost``; -1 in col4row[0] when it is infeasible."""
    nr, nc = cost.shape
    u = np.zeros(nr)
    v = np.zeros(nc)
    short = np.empty(nc)
    path = np.full(nc, -1, np.int64)
    col4row = np.full(nr, -1, np.int64)
    row4col = np.full(nc, -1, np.int64)
    in_sr = np.zeros(nr, np.bool_)
    in_sc = np.zeros(nc, np.bool_)
    remaining = np.empty(nc, np.int64)
    for cur in range(nr):
        # shortest augmenting path from row `cur` to a free column
        for it in range(nc):
            remaining[it] = nc - it - 1          # reversed: a constant matrix gives the identity
        n_rem = nc
        in_sr[:] = False
        in_sc[:] = False
        short[:] = np.inf
        min_val = 0.0
        i = cur
        sink = -1
        while sink == -1:
            index = -1
            lowest = np.inf
            in_sr[i] = True
            for it in range(n_rem):
                j = remaining[it]
                r = min_val + cost[i, j] - u[i] - v[j]
                if r < short[j]:
                    path[j] = i
                    short[j] = r
                if short[j] < lowest or (short[j] == lowest and row4col[j] == -1):
                    lowest = short[j]
                    index = it
            min_val = lowest
            if min_val == np.inf:
                col4row[0] = -1
                return col4row
            j = remaining[index]
            if row4col[j] == -1:
                sink = j
            else:
                i = row4col[j]
            in_sc[j] = True
            n_rem -= 1
            remaining[index] = remaining[n_rem]
        # dual update, then flip the path
        u[cur] += min_val
        for i in range(nr):
            if in_sr[i] and i != cur:
                u[i] += min_val - short[col4row[i]]
        for j in range(nc):
            if in_sc[j]:
                v[j] -= min_val - short[j]
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            j, col4row[i] = col4row[i], j
            if i == cur:
                break
    return col4row


@njit(cache=True, nogil=True)
def solve_any(cost):
    """(rows, cols, feasible): the pairs of a non-empty matrix from numba code, in no set order."""
    nr, nc = cost.shape
    if nr <= nc:
        col4row = _solve(cost)
        return np.arange(nr), col4row, col4row[0] >= 0
    col4row = _solve(np.ascontiguousarray(cost.T))
    return col4row, np.arange(nc), col4row[0] >= 0


def linear_sum_assignment(cost) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of a minimum-cost assignment of a 2-D cost matrix, rows ascending: the
    pairs scipy.optimize.linear_sum_assignment returns for the same matrix."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"expected a matrix (2-D array), got a {cost.ndim}-D array")
    if np.isnan(cost).any() or np.isneginf(cost).any():
        raise ValueError("matrix contains invalid numeric entries")
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols, feasible = solve_any(np.ascontiguousarray(cost))
    if not feasible:
        raise ValueError("cost matrix is infeasible")
    order = np.argsort(rows)
    return rows[order], cols[order]


__all__ = ["linear_sum_assignment", "solve_any"]

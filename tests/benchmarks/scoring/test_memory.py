"""What keeps `bench score`'s peak memory under pycocotools' (issue 11 part 2):

- the PCK matching's assignment (:mod:`benchmarks.scoring.assignment`) is scipy's
  ``linear_sum_assignment``, pair for pair, ties and rectangles included, without
  importing ``scipy.optimize`` (about 35 MB resident).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linear_sum_assignment as scipy_lsa

from benchmarks.scoring.assignment import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[3]


def _same_as_scipy(m: np.ndarray) -> None:
    try:
        want = scipy_lsa(m)
    except ValueError as err:
        with pytest.raises(ValueError) as got:
            linear_sum_assignment(m)
        assert str(got.value) == str(err)
        return
    rows, cols = linear_sum_assignment(m)
    assert rows.tolist() == want[0].tolist() and cols.tolist() == want[1].tolist(), m


def test_a_hand_solved_matrix():
    # rows 0, 1, 2 take columns 1, 0, 2: cost 1 + 2 + 2 = 5, the least of the 6 permutations
    cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    rows, cols = linear_sum_assignment(cost)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]
    perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
    assert cost[rows, cols].sum() == min(cost[[0, 1, 2], p].sum() for p in perms) == 5


def test_rectangles_and_empty():
    wide = np.array([[5.0, 1.0, 9.0], [1.0, 8.0, 9.0]])        # 2 people, 3 predictions
    assert [a.tolist() for a in linear_sum_assignment(wide)] == [[0, 1], [1, 0]]
    tall = wide.T                                                  # 3 people, 2 predictions
    assert [a.tolist() for a in linear_sum_assignment(tall)] == [[0, 1], [1, 0]]
    for shape in [(0, 0), (0, 3), (3, 0)]:
        rows, cols = linear_sum_assignment(np.zeros(shape))
        assert rows.size == cols.size == 0


def test_a_constant_matrix_gives_the_identity_as_scipy_does():
    rows, cols = linear_sum_assignment(np.full((4, 4), 7.0))
    assert cols.tolist() == [0, 1, 2, 3]
    _same_as_scipy(np.full((3, 5), 2.0))
    _same_as_scipy(np.full((5, 3), 2.0))


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan]]), "matrix contains invalid numeric entries"),
    (np.array([[1.0, -np.inf]]), "matrix contains invalid numeric entries"),
    (np.array([[np.inf, 1.0], [np.inf, 2.0]]), "cost matrix is infeasible"),
])
def test_bad_matrices_are_refused_as_scipy_refuses_them(bad, message):
    with pytest.raises(ValueError, match=message):
        linear_sum_assignment(bad)
    _same_as_scipy(bad)


def test_a_vector_is_refused():
    with pytest.raises(ValueError, match="expected a matrix"):
        linear_sum_assignment(np.ones(3))


def test_the_numba_entry_point_reports_infeasible_matrices_of_any_shape():
    from benchmarks.scoring.assignment import solve_any

    inf = np.inf
    for m in (np.array([[inf, 1.0], [inf, 2.0]]), np.array([[inf], [inf]]),
              np.array([[inf, 1.0, 2.0], [inf, 3.0, inf], [inf, 1.0, 1.0]])):
        assert not solve_any(m)[2]
        with pytest.raises(ValueError, match="infeasible"):
            scipy_lsa(m)
    rows, cols, ok = solve_any(np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0]]).T.copy())   # tall
    assert ok and sorted(zip(rows.tolist(), cols.tolist())) == [(0, 1), (1, 0)]


# few distinct values: ties everywhere, where the tie rule decides the pairs
VALUES = st.sampled_from([0.0, 1.0, 2.0, 0.5, 1e300, np.inf])


@settings(max_examples=400, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=7), elements=VALUES))
def test_equals_scipy_on_tied_matrices(m):
    _same_as_scipy(m)


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
                  elements=st.floats(0, 1e6, allow_nan=False, width=64)))
def test_equals_scipy_on_real_valued_matrices(m):
    _same_as_scipy(m)


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_scoring_a_file_does_not_import_scipy_optimize(tmp_path):
    from tests.helpers.scoring import three_image_world, write_json

    gt, results = three_image_world()
    gt_path, res_path = write_json(tmp_path / "gt.json", gt), write_json(tmp_path / "res.json", results)
    out = _run(f"""
        import sys
        from benchmarks.evaluate import score_and_report
        s = score_and_report({str(gt_path)!r}, {str(res_path)!r}, {str(tmp_path / 'out')!r}, bootstrap=10)
        assert s["pck"]["mean"] is not None
        print(sorted(m for m in sys.modules if m.startswith("scipy.optimize")))
    """)
    assert out == "[]"

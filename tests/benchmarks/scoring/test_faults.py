"""`bench score` under a read-only output folder or a full disk: one `error:` line naming the
output and the system's reason, exit 2, nothing partial (no scores.json without its report, no
staging), and an earlier run in the folder stays whole (issue 9, item 11)."""

import pytest
from click.testing import CliRunner
from tests.helpers.faults import EACCES, ENOSPC, _all, _disk_full, _one_error, _read_only
from tests.helpers.synthcrowd import crowd_and_results

from benchmarks.cli import main as bench


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return crowd_and_results(tmp_path_factory.mktemp("score_faults"), images=3, seed=11)


def _score(files, out):
    gt, res = files
    return CliRunner().invoke(bench, ["score", "--gt", str(gt), "--results", str(res), "--out", str(out),
                                      "--bootstrap", "0"])


def test_read_only_output_folder(files, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    _read_only(monkeypatch, out)
    _one_error(_score(files, out), str(out), EACCES)
    assert _all(out) == []


@pytest.mark.parametrize("which", ["scores.json", "report.md"])
def test_full_disk_keeps_an_earlier_run_whole(files, tmp_path, monkeypatch, which):
    out = tmp_path / "out"
    assert _score(files, out).exit_code == 0
    before = {p: (out / p).read_bytes() for p in _all(out) if (out / p).is_file()}
    assert {"scores.json", "report.md"} <= {str(p) for p in before}
    _disk_full(monkeypatch, suffix=which, only=which)
    _one_error(_score(files, out), str(out / which), ENOSPC)
    assert {p: (out / p).read_bytes() for p in _all(out) if (out / p).is_file()} == before
    assert not [p for p in _all(out) if p.name.startswith(".")]   # no staging left


def test_second_run_leaves_no_figure_of_the_first(files, tmp_path):
    """Issue 19, item 6: a rerun under another --name left the first run's counting_1_<name>.png."""
    gt, res = files
    out = tmp_path / "out"
    for name in ("first", "second"):
        r = CliRunner().invoke(bench, ["score", "--gt", str(gt), "--results", str(res), "--out", str(out),
                                       "--bootstrap", "0", "--name", name])
        assert r.exit_code == 0, r.output
    counting = sorted(p.name for p in out.glob("counting_*.png"))
    assert counting == ["counting_1_second.png"], counting

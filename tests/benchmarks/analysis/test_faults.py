"""`bench analyze` all or none (issue 19, item 1): under a read-only output folder, a full disk
or a failure part-way through the pictures, one `error:` line naming the output, exit 2, and
the folder as it was (an earlier run stays whole, no staging left)."""
import errno

import pytest
from click.testing import CliRunner
from tests.helpers.faults import EACCES, ENOSPC, _all, _disk_full, _one_error, _read_only
from tests.helpers.synthcrowd import crowd_and_results

from benchmarks.cli import main as bench


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return crowd_and_results(tmp_path_factory.mktemp("analyze_faults"), images=4, seed=5)


def _analyze(files, out, gallery=1):
    gt, res = files
    return CliRunner().invoke(bench, ["analyze", "--gt", str(gt), "--results", str(res), "--out", str(out),
                                      "--bootstrap", "0", "--gallery", str(gallery), "--name", f"g{gallery}"])


def _snapshot(out):
    return {p: (out / p).read_bytes() for p in _all(out) if (out / p).is_file()}


def test_read_only_output_folder(files, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    _read_only(monkeypatch, out)
    _one_error(_analyze(files, out), str(out), EACCES)
    assert _all(out) == []


@pytest.fixture
def earlier_run(files, tmp_path):
    out = tmp_path / "out"
    r = _analyze(files, out, gallery=2)   # other pictures than the runs below would make
    assert r.exit_code == 0, r.output
    before = _snapshot(out)
    assert {"analysis.json", "analysis.md", "analysis_errors_people.png"} <= {str(p) for p in before}
    (out / "analysis.json").write_text('{"earlier": true}')   # tell the earlier run's files from new ones
    return out, _snapshot(out)


@pytest.mark.parametrize("which", ["analysis.json", "analysis.md"])
def test_full_disk_keeps_an_earlier_run_whole(files, earlier_run, monkeypatch, which):
    out, before = earlier_run
    _disk_full(monkeypatch, suffix="", only=which)
    _one_error(_analyze(files, out), str(out / which), ENOSPC)
    assert _snapshot(out) == before
    assert not [p for p in _all(out) if p.name.startswith(".")]   # no staging left


def test_failure_in_a_picture_keeps_an_earlier_run_whole(files, earlier_run, monkeypatch):
    """The error bars are written, then the first gallery fails: nothing new goes into place."""
    out, before = earlier_run
    from matplotlib.figure import Figure
    real = Figure.savefig

    def broken(self, fname, *args, **kwargs):
        if "analysis_gallery_people_" in str(fname):
            raise OSError(errno.EIO, "Input/output error")
        return real(self, fname, *args, **kwargs)
    monkeypatch.setattr(Figure, "savefig", broken)
    line = _one_error(_analyze(files, out), "Input/output error")
    assert str(out / "analysis_gallery_people_") in line and ".part" not in line
    assert _snapshot(out) == before
    assert not [p for p in _all(out) if p.name.startswith(".")]

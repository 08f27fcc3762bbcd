"""--sigmas: a list is never taken for a file name (a 17-value list used to raise
OSError: File name too long), and every bad value is one clear error."""
from __future__ import annotations

import os

import numpy as np
import pytest
from pycocotools.cocoeval import Params

from benchmarks.scoring.sigmas import COCO17_NAMES, CROWDPOSE14_NAMES, parse_user_sigmas
from cococrowd.cocofile import CocoFormatError

from tests.helpers.scoring import pose, write_json

# pycocotools' own COCO-17 values, each written with all its digits (repr round-trips)
COCO17_TEXT = ",".join(repr(float(v)) for v in Params(iouType="keypoints").kpt_oks_sigmas)


def test_long_17_value_list_is_parsed_not_statted():
    spec = ", ".join(["0.0790000000000000000000000000000001"] * 17)
    assert len(spec) > os.pathconf("/", "PC_NAME_MAX")       # a file name this long fails with ENAMETOOLONG
    assert parse_user_sigmas(spec, list(COCO17_NAMES)).tolist() == [0.079] * 17
    np.testing.assert_array_equal(parse_user_sigmas(COCO17_TEXT, list(COCO17_NAMES)),
                                  Params(iouType="keypoints").kpt_oks_sigmas)


def test_14_value_list_and_single_value():
    vals = parse_user_sigmas(",".join(["0.079"] * 12 + ["0.1", "0.2"]), list(CROWDPOSE14_NAMES))
    assert vals.tolist() == [0.079] * 12 + [0.1, 0.2]
    assert parse_user_sigmas(" 0.5 ", ["only"]).tolist() == [0.5]


@pytest.mark.parametrize("spec, message", [
    ("0.1," * 13 + "0.1", r"--sigmas: got 14 values, the person category has 17 keypoints"),
    ("0.1," * 17 + "0.1", r"--sigmas: got 18 values, the person category has 17 keypoints"),
    ("0.1," * 15 + "x,0.1", r"--sigmas value 16: 'x' is not a number \(expected 17 comma-separated numbers"),
    ("0.1," * 16, r"--sigmas value 17: '' is not a number"),
    ("0.1," * 16 + "-0.2", r"--sigmas value 17: sigma must be a positive number, got -0.2"),
    ("0," + "0.1," * 15 + "0.1", r"--sigmas value 1: sigma must be a positive number, got 0.0"),
    ("nan," + "0.1," * 15 + "0.1", r"--sigmas value 1: sigma must be a positive number, got nan"),
    ("0.1," * 16 + "inf", r"--sigmas value 17: sigma must be a positive number, got inf"),
])
def test_bad_lists_are_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_user_sigmas(spec, list(COCO17_NAMES))
    assert "\n" not in str(info.value)


def test_json_file_and_its_errors(tmp_path):
    names = list(CROWDPOSE14_NAMES)
    good = write_json(tmp_path / "sig.json", {n: 0.05 + i / 100 for i, n in enumerate(names)})
    assert parse_user_sigmas(str(good), names).tolist() == [0.05 + i / 100 for i in range(14)]
    with pytest.raises(CocoFormatError, match=r"nope\.json: sigmas file not found"):
        parse_user_sigmas(str(tmp_path / "nope.json"), names)
    with pytest.raises(CocoFormatError, match=r"sigmas_dir: cannot read sigmas file"):
        (tmp_path / "sigmas_dir").mkdir()
        parse_user_sigmas(str(tmp_path / "sigmas_dir"), names)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CocoFormatError, match=r"bad\.json: malformed JSON"):
        parse_user_sigmas(str(tmp_path / "bad.json"), names)
    write_json(tmp_path / "neg.json", {**{n: 0.1 for n in names}, "neck": -1})
    with pytest.raises(ValueError, match=r"neg\.json: neck: sigma must be a positive number, got -1"):
        parse_user_sigmas(str(tmp_path / "neg.json"), names)
    write_json(tmp_path / "str.json", {**{n: 0.1 for n in names}, "head": "0.1"})
    with pytest.raises(ValueError, match=r"str\.json: head: sigma must be a positive number, got '0\.1'"):
        parse_user_sigmas(str(tmp_path / "str.json"), names)


def test_cli_long_list_scores(tmp_path):
    """Through `bench score`: a 17-value list is used; a wrong count exits 2 with one line."""
    from click.testing import CliRunner

    from benchmarks.cli import main

    from tests.helpers.scoring import dt, gt_ann, gt_file, image

    xy = pose(200, 150, 90)
    gp = write_json(tmp_path / "gt.json", gt_file([image(1)], [gt_ann(1, 1, xy)]))
    rp = write_json(tmp_path / "res.json", [dt(1, xy + 2.0, 0.9)])
    run = CliRunner().invoke(main, ["score", "--gt", str(gp), "--results", str(rp), "--out", str(tmp_path / "o"),
                                    "--bootstrap", "0", "--sigmas", COCO17_TEXT])
    assert run.exit_code == 0, run.output
    bad = CliRunner().invoke(main, ["score", "--gt", str(gp), "--results", str(rp), "--out", str(tmp_path / "p"),
                                    "--bootstrap", "0", "--sigmas", "0.1," * 13 + "0.1"])
    assert bad.exit_code == 2
    assert "error: --sigmas: got 14 values, the person category has 17 keypoints" in bad.output
    assert not (tmp_path / "p").exists()

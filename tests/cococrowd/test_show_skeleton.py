"""`show` draws no bone of a skeleton entry that is not two keypoint numbers (the fuzz sweep of
issue 19 found tracebacks for `null` and `[1, [2]]` bones)."""
import json

import pytest
from click.testing import CliRunner
from tests.helpers.synthcrowd import build_synthetic_crowd

from cococrowd.cli import main


@pytest.mark.parametrize("bone", [None, [1, [2]], [1], "ab", [1, 99]])
def test_odd_bones_are_not_drawn(tmp_path, bone):
    gt = build_synthetic_crowd(tmp_path, images=3, seed=2)
    data = json.loads(gt.read_text())
    data["categories"][0]["skeleton"] = [bone, [1, 2]]
    gt.write_text(json.dumps(data))
    r = CliRunner().invoke(main, ["show", "--crowd", str(gt), "--ids", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, (r.output, r.exception)
    assert (tmp_path / "o" / "image_1.png").is_file()

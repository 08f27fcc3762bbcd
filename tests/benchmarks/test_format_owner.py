"""One owner of the COCO-crowd format: a bad ``crowd_info`` field is refused by every reader
(split, jitter, stats, show, the training dataset) with the same one line (issue 9, item 5)."""
import json
import shutil

import pytest
from click.testing import CliRunner
from tests.helpers.synthcrowd import build_synthetic_crowd

from benchmarks.data.crowdfile import load_crowd_file
from cococrowd.cli import main as cococrowd
from cococrowd.cocofile import CocoFormatError


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    path = build_synthetic_crowd(tmp_path_factory.mktemp("owner"), images=3, seed=11)
    assert json.loads(path.read_text())["images"]
    return path


def _readers(path, out):
    return {
        "split": ["split", "--in", str(path), "--out-dir", str(out)],
        "jitter": ["jitter", "--in", str(path), "--px", "5", "--no-images", "--out-dir", str(out)],
        "stats": ["stats", "--crowd", str(path), "--out", str(out)],
        "show": ["show", "--crowd", str(path), "--out", str(out)],
    }


BAD = [("image_dir", 3, "crowd_info.image_dir: must name the crops folder (relative to the JSON's folder) or be null, got 3"),
       ("source_images", "", "crowd_info.source_images: must name the source image folder or be null, got ''"),
       ("jitter_px", "5", "crowd_info.jitter_px: must be a number >= 0, got '5'"),
       ("iou", 1.5, "crowd_info.iou: must be a number > 0 and <= 1, got 1.5"),
       ("split", 7, "crowd_info.split: must be a string or null, got 7"),
       ("synthetic", "yes", "crowd_info.synthetic: must be true or false, got 'yes'")]


@pytest.mark.parametrize("key, value, message", BAD)
def test_every_reader_refuses_a_bad_crowd_info_field_alike(crowd, tmp_path, key, value, message):
    folder = tmp_path / "in"
    shutil.copytree(crowd.parents[1], folder)
    path = folder / "annotations" / crowd.name
    data = json.loads(path.read_text())
    data["crowd_info"][key] = value
    path.write_text(json.dumps(data))
    for name, args in _readers(path, tmp_path / "out").items():
        result = CliRunner().invoke(cococrowd, args)
        assert result.exit_code == 2, (name, result.output)
        assert result.output == f"error: {path}: {message}\n", (name, result.output)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), name
    with pytest.raises(CocoFormatError) as err:
        load_crowd_file(path)
    assert str(err.value) == f"{path}: {message}"

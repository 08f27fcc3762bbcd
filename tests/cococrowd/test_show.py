"""`cococrowd show`: one picture per requested COCO-crowd image, drawn on its source image; bad
ids and missing sources are one error line and leave no picture."""
import json

import numpy as np
import pytest
from tests.helpers.synthcrowd import build_synthetic_crowd
from click.testing import CliRunner
from PIL import Image

from cococrowd.cli import main as cococrowd


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    return build_synthetic_crowd(tmp_path_factory.mktemp("show"), 12, 4)


def test_requested_images_are_drawn_on_their_sources(crowd, tmp_path):
    data = json.loads(crowd.read_text())
    ignored = {a["image_id"] for a in data["annotations"] if a["ignore"]}
    ids = [im["id"] for im in data["images"]][:2] + sorted(ignored)[:1]
    args = ["show", "--crowd", str(crowd), "--out", str(tmp_path / "o")]
    for i in ids:
        args += ["--ids", str(i)]
    r = CliRunner().invoke(cococrowd, args)
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert files == sorted(f"image_{i}.png" for i in set(ids))
    for i in set(ids):
        im = next(x for x in data["images"] if x["id"] == i)
        src = Image.open(crowd.parent.parent.parent / "world" / "val2014" / im["source_file_name"])
        out = Image.open(tmp_path / "o" / f"image_{i}.png")
        # drawn at the source's aspect ratio, not the crop's
        w, h = src.size
        assert abs(out.size[1] / out.size[0] - (h / w + 0.4 / 7)) < 0.08
        assert np.asarray(out.convert("L")).std() > 10


def test_default_draws_at_most_twelve(crowd, tmp_path):
    r = CliRunner().invoke(cococrowd, ["show", "--crowd", str(crowd), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    n = len(json.loads(crowd.read_text())["images"])
    assert len(list((tmp_path / "o").iterdir())) == min(12, n)


def test_unknown_id_and_missing_sources_are_one_line(crowd, tmp_path):
    r = CliRunner().invoke(cococrowd, ["show", "--crowd", str(crowd), "--ids", "987654", "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "no image with id 987654" in r.output and not (tmp_path / "a").exists()
    r = CliRunner().invoke(cococrowd, ["show", "--crowd", str(crowd), "--source-images", str(tmp_path / "none"),
                                       "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "no such folder" in r.output and not (tmp_path / "b").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(cococrowd, ["show", "--crowd", str(crowd), "--source-images", str(empty),
                                       "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "source image" in r.output and "not found" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "c").exists()


def test_show_on_real_coco_images(real_data, tmp_path):
    sample = real_data / "coco_kp_sample"
    r = CliRunner().invoke(cococrowd, ["build", "--annotations", str(sample / "test_coco.json"), "--images",
                                       str(sample), "--out", str(tmp_path / "crowd"), "--split", "real", "--quiet"])
    assert r.exit_code == 0, r.output
    crowd = next((tmp_path / "crowd" / "annotations").glob("crowd_*.json"))
    r = CliRunner().invoke(cococrowd, ["show", "--crowd", str(crowd), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    pictures = list((tmp_path / "o").glob("image_*.png"))
    assert len(pictures) == len(json.loads(crowd.read_text())["images"]) >= 2

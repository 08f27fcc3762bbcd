"""A source image of another size than its record says is named as such, not "not found"
(issue 19, item 4): build and jitter, one line, exit 2, nothing written."""
import json

from click.testing import CliRunner
from PIL import Image

from cococrowd.cli import main


def test_a_641_px_jpeg_where_the_record_says_640(tmp_path):
    world = tmp_path / "world"
    r = CliRunner().invoke(main, ["synth", "--out", str(world), "--split", "val2014", "--images", "3", "--seed", "2",
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    ann = json.loads((world / "annotations" / "person_keypoints_val2014.json").read_text())
    im = ann["images"][0]
    im["width"], im["height"] = 640, 480
    (world / "annotations" / "person_keypoints_val2014.json").write_text(json.dumps(ann))
    src = world / "val2014" / im["file_name"]
    with Image.open(src) as pic:
        pic.convert("RGB").resize((641, 480)).save(src, format="JPEG")
    out = tmp_path / "crowd"
    r = CliRunner().invoke(main, ["build", "--coco-root", str(world), "--split", "val2014", "--out", str(out),
                                  "--quiet"])
    assert r.exit_code == 2, r.output
    assert r.output.strip() == f"error: {src}: image is 641x480, but the annotation file says 640x480", r.output
    assert not (out / "val2014").exists() and not (out / "annotations").exists()

    # jitter: the same source image, from a file built without crops
    with Image.open(src) as pic:
        pic.resize((640, 480)).save(src, format="JPEG")
    r = CliRunner().invoke(main, ["build", "--coco-root", str(world), "--split", "val2014", "--out", str(out),
                                  "--no-images", "--quiet"])
    assert r.exit_code == 0, r.output
    crowd = json.loads((out / "annotations" / "crowd_val2014.json").read_text())
    assert any(c["source_file_name"] == im["file_name"] for c in crowd["images"]), "the resized image has a region"
    with Image.open(src) as pic:
        pic.resize((641, 480)).save(src, format="JPEG")
    before = sorted(out.rglob("*"))
    r = CliRunner().invoke(main, ["jitter", "--in", str(out / "annotations" / "crowd_val2014.json"), "--px", "4",
                                  "--quiet"])
    assert r.exit_code == 2, r.output
    assert r.output.strip() == f"error: {src}: image is 641x480, but the annotation file says 640x480", r.output
    assert sorted(out.rglob("*")) == before

"""`cococrowd stats` of a valid file with no annotations writes its tables and empty plots
(issue 19, item 6: it said `error: Axis limits cannot be NaN or Inf`, naming no file)."""
import json

from click.testing import CliRunner

from cococrowd.cli import main


def test_stats_of_a_file_without_annotations(tmp_path):
    crowd = {"images": [], "annotations": [], "crowd_info": {"iou": 0.1, "image_dir": None, "source_images": None},
             "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye"], "skeleton": [[1, 2]]}]}
    path = tmp_path / "crowd_x.json"
    path.write_text(json.dumps(crowd))
    r = CliRunner().invoke(main, ["stats", "--crowd", str(path), "--out", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "st" / "stats.md").is_file()
    assert (tmp_path / "st" / "people_per_crowd_image.png").stat().st_size > 0

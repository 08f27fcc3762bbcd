"""`--method oracle`: the dataset's own targets through the model's prediction path score
(nearly) perfectly at every shipped input size, with and without the flip test, and count every
image exactly. AP is computed by pycocotools here, counts straight from the JSON."""
import json
from collections import Counter
from pathlib import Path

import pytest
from tests.helpers.synthcrowd import build_synthetic_crowd
from click.testing import CliRunner
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchmarks.cli import main as bench
from benchmarks.engine.oracle import OracleMethod

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
SIZES = {128: "seqpose_cpu_smoke.toml", 256: "seqpose_gpu_proof.toml", 512: "seqpose_coco_crowd.toml"}


@pytest.fixture(scope="module")
def crowd_file(tmp_path_factory):
    return build_synthetic_crowd(tmp_path_factory.mktemp("oracle"), 24, 11)


def pycocotools_ap(gt_path: Path, results: list[dict]) -> float:
    gt = COCO(str(gt_path))
    ev = COCOeval(gt, gt.loadRes(results), "keypoints")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    return float(ev.stats[0])


def countable_people(gt_path: Path) -> Counter:
    """Per image: annotations that are not ignored and have a labelled keypoint."""
    data = json.loads(gt_path.read_text())
    return Counter(a["image_id"] for a in data["annotations"]
                   if not a.get("ignore", 0) and not a["iscrowd"] and any(a["keypoints"][2::3]))


@pytest.mark.parametrize("flip", [True, False], ids=["flip", "no-flip"])
@pytest.mark.parametrize("size", sorted(SIZES))
def test_oracle_is_the_ceiling_at_every_size(crowd_file, size, flip):
    results, summary = OracleMethod(config=CONFIGS / SIZES[size], flip=flip, progress=False).predict(crowd_file)
    assert summary["input_size"] == size and summary["flip"] is flip
    assert pycocotools_ap(crowd_file, results) >= 0.98
    images = [im["id"] for im in json.loads(crowd_file.read_text())["images"]]
    predicted = Counter(r["image_id"] for r in results)
    want = countable_people(crowd_file)
    assert sum(want.values()) > len(images)                # groups of two and more
    assert all(predicted[i] == want[i] for i in images)    # every image counted exactly


def test_oracle_from_the_cli_ends_in_the_usual_report(crowd_file, tmp_path):
    out = tmp_path / "oracle"
    result = CliRunner().invoke(bench, ["run", "--method", "oracle", "--config", str(CONFIGS / SIZES[128]),
                                        "--gt", str(crowd_file), "--out", str(out), "--bootstrap", "20",
                                        "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "oracle: AP 1.000" in result.output
    for name in ("results.json", "run.json", "scores.json", "report.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["radius"] == 3.0


@pytest.mark.parametrize("args, message", [
    (["--method", "oracle", "--checkpoint", "x.pt"], "--checkpoint: not an option of --method oracle"),
    (["--method", "oracle", "--threshold", "0.1"], "--threshold: not an option of --method oracle"),
    (["--method", "ours"], "--method ours needs --checkpoint"),
    (["--method", "nope"], "unknown method"),
])
def test_options_a_method_does_not_take_are_refused(crowd_file, tmp_path, args, message):
    out = tmp_path / "o"
    result = CliRunner().invoke(bench, ["run", "--gt", str(crowd_file), "--out", str(out)] + args)
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()

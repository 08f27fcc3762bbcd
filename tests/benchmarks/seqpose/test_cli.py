"""`bench train --method ours` and `bench run --method ours` end to end on a small COCO-crowd set."""
import json
import shutil

import pytest
from click.testing import CliRunner

from benchmarks.cli import main
from benchmarks.data.fixtures import random_crowd_dataset
from tests.helpers.seqpose import TINY_NETWORK

TINY = TINY_NETWORK + """
[optim]
epochs = 2
milestones = [1]
batch_size = 2
[train]
amp = "none"
keep_every = 1
[infer]
max_steps = 4
threshold = 0.0     # never stop early: every image yields max_steps people to decode
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqpose_cli")
    gt = random_crowd_dataset(root / "data", num_sources=2, regions_per_source=2, seed=3)
    config = root / "tiny.toml"
    config.write_text(TINY)
    run = root / "run"
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--gt", str(gt), "--out", str(run),
                                       "--stop-after", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    return root, gt, config, run


def test_train_writes_checkpoint_and_logs_then_resumes(trained):
    root, gt, config, run = trained
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "epoch_0001.pt").is_file()
    assert len((run / "log.csv").read_text().splitlines()) == 2
    assert any((run / "tensorboard").iterdir())
    again = root / "run2"
    shutil.copytree(run, again)
    result = CliRunner().invoke(main, ["train", "--gt", str(gt), "--out", str(again), "--resume", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "epoch 2" in result.output
    assert len((again / "log.csv").read_text().splitlines()) == 3


def test_run_writes_results_and_scores(trained, tmp_path):
    root, gt, config, run = trained
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--method", "ours", "--checkpoint", str(run / "checkpoints/last.pt"),
                                       "--gt", str(gt), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    images = {im["id"] for im in json.loads(gt.read_text())["images"]}
    assert len(results) == 4 * len(images)
    for r in results:
        assert r["image_id"] in images and r["category_id"] == 1 and len(r["keypoints"]) == 3 * 17
    summary = json.loads((out / "run.json").read_text())
    assert summary["images"] == len(images) and summary["people"] == len(results) and summary["flip"] is True
    assert (out / "scores.json").is_file() and (out / "report.md").is_file()
    scores = json.loads((out / "scores.json").read_text())
    assert scores["method"] == "ours" and scores["settings"]["bootstrap"]["resamples"] == 1000
    assert f"ours: AP {scores['ap_ar']['stats']['AP']:.3f}" in result.output and "AP by people:" in result.output
    # --images: the crops read from another folder give the same results
    moved = tmp_path / "crops"
    shutil.copytree(gt.parent.parent / "toy", moved)
    out2 = tmp_path / "out2"
    result = CliRunner().invoke(main, ["run", "--checkpoint", str(run / "checkpoints/last.pt"), "--gt", str(gt),
                                       "--out", str(out2), "--images", str(moved), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out2 / "results.json").read_text()) == results
    out3 = tmp_path / "out3"
    result = CliRunner().invoke(main, ["run", "--checkpoint", str(run / "checkpoints/last.pt"), "--gt", str(gt),
                                       "--out", str(out3), "--no-progress", "--no-flip", "--name", "ours-noflip",
                                       "--bootstrap", "7", "--seed", "3", "--score-threshold", "0.25",
                                       "--sigmas", ",".join(["0.05"] * 17)])
    assert result.exit_code == 0, result.output
    assert json.loads((out3 / "run.json").read_text())["flip"] is False
    scores = json.loads((out3 / "scores.json").read_text())
    assert scores["method"] == "ours-noflip" and "ours-noflip: AP" in result.output
    assert scores["settings"]["bootstrap"]["resamples"] == 7 and scores["settings"]["bootstrap"]["seed"] == 3
    assert scores["settings"]["count_threshold"] == 0.25 and scores["settings"]["sigmas"]["values"] == [0.05] * 17
    assert "| ours-noflip |" in (out3 / "report.md").read_text()
    assert json.loads((out3 / "results.json").read_text()) != results


@pytest.mark.parametrize("args,message", [
    (["train", "--gt", "{root}/missing.json", "--out", "{root}/x", "--config", "{config}"], "missing.json"),
    (["train", "--gt", "{gt}", "--out", "{root}/x", "--config", "{root}/bad.toml"], "bad.toml: optim.lr"),
    (["train", "--gt", "{gt}", "--out", "{root}/fresh", "--resume"], "no such checkpoint"),
    (["run", "--checkpoint", "{root}/none.pt", "--gt", "{gt}", "--out", "{root}/y"], "no such checkpoint"),
    (["run", "--checkpoint", "{ckpt}", "--gt", "{gt}", "--out", "{root}/y", "--images", "{root}/nope"], "nope"),
    (["run", "--method", "magic", "--checkpoint", "{ckpt}", "--gt", "{gt}", "--out", "{root}/y"], "unknown method"),
    (["run", "--checkpoint", "{gt}", "--gt", "{gt}", "--out", "{root}/y"],
     "crowd_toy.json: not a checkpoint written by `bench train` (UnpicklingError"),
    (["run", "--checkpoint", "{root}/empty.pt", "--gt", "{gt}", "--out", "{root}/y"],
     "empty.pt: not a checkpoint written by `bench train`"),
])
def test_bad_input_is_one_clear_line(trained, args, message):
    root, gt, config, run = trained
    (root / "bad.toml").write_text("[optim]\nlr = 'fast'\n")
    (root / "empty.pt").write_bytes(b"")
    filled = [a.format(root=root, gt=gt, config=config, ckpt=run / "checkpoints/last.pt") for a in args]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert not (root / "y" / "results.json").exists()


def test_train_with_missing_images_leaves_no_output(trained):
    """A file built with --no-images (no crops) whose source images are gone: one error, and
    OUT gets no tensorboard events, log or checkpoint."""
    root, gt, config, run = trained
    data = json.loads(gt.read_text())
    data["crowd_info"].update(image_dir=None, source_images=str(root / "moved_away"))
    bad = root / "data" / "annotations" / "no_images.json"
    bad.write_text(json.dumps(data))
    out = root / "no_images_run"
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--gt", str(bad), "--out", str(out),
                                       "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "source image not found for image id" in result.output
    assert "crowd_info.image_dir is null" in result.output
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_train_and_run_on_real_coco_crops(real_data, trained, tmp_path):
    """Real COCO pictures: `cococrowd build` on the sample, one epoch from its source images,
    then prediction on its crops with the fixture-trained checkpoint (same 17 keypoints)."""
    from cococrowd.cli import main as cococrowd_main
    root, gt, config, run = trained
    src = real_data / "coco_kp_sample"
    built = CliRunner().invoke(cococrowd_main, ["build", "--annotations", str(src / "test_coco.json"),
                                                "--images", str(src), "--out", str(tmp_path / "crowd"), "--quiet"])
    assert built.exit_code == 0, built.output
    real_gt = tmp_path / "crowd" / "annotations" / "crowd_test_coco.json"
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--gt", str(real_gt),
                                       "--out", str(tmp_path / "run"), "--stop-after", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["run", "--checkpoint", str(run / "checkpoints/last.pt"), "--gt", str(real_gt),
                                       "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    crops = json.loads(real_gt.read_text())["images"]
    assert sorted({r["image_id"] for r in results}) == sorted(im["id"] for im in crops)
    assert len(results) == 4 * len(crops)
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["counting"]["images"] == len(crops)

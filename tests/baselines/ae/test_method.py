"""`--method ae` end to end: the authors' checkpoint layout through `bench run`, results in crop
pixels at the annotated people, and the options it refuses."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tests.helpers.synthcrowd import build_synthetic_crowd

from baselines.ae.authors import authors_state_dict
from baselines.ae.hourglass import StackedHourglass
from benchmarks.cli import main as bench
from benchmarks.engine.registry import get_method

TINY = """[model]
stacks = 1
width = 16
increase = 8
out_channels = 40
input = "unit"

[data]
input_size = 64

[infer]
batch_size = 4
"""


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    path = build_synthetic_crowd(tmp_path_factory.mktemp("ae"), images=8, seed=3)
    assert len(json.loads(path.read_text())["images"]) == 6  # regions to predict
    return path


@pytest.fixture
def authors_files(tmp_path):
    """A checkpoint in pose-ae-train's layout (as its train.py saves it) and the matching config."""
    torch.manual_seed(0)
    model = StackedHourglass(17, stacks=1, width=16, increase=8, out_channels=40)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 3, "state_dict": authors_state_dict(model), "optimizer": {"state": {}}}, path)
    config = tmp_path / "ae_tiny.toml"
    config.write_text(TINY)
    return path, config


def test_authors_checkpoint_runs_through_bench_run(crowd, authors_files, tmp_path):
    weights, config = authors_files
    out = tmp_path / "run"
    result = CliRunner().invoke(bench, ["run", "--method", "ae", "--weights", str(weights), "--config", str(config),
                                        "--gt", str(crowd), "--out", str(out), "--bootstrap", "0", "--no-analyze",
                                        "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["method"] == "ae" and json.loads((out / "run.json").read_text())["weights"] == str(weights)
    results = json.loads((out / "results.json").read_text())
    images = {im["id"]: im for im in json.loads(crowd.read_text())["images"]}
    for r in results:  # the letterbox maps back to crop pixels: a square around the crop at most
        im = images[r["image_id"]]
        side = max(im["width"], im["height"])
        xy = np.asarray(r["keypoints"]).reshape(-1, 3)[:, :2]
        assert (xy[:, 0] >= (im["width"] - side) / 2 - 4).all() and (xy[:, 0] <= (im["width"] + side) / 2 + 4).all()
        assert (xy[:, 1] >= (im["height"] - side) / 2 - 4).all() and (xy[:, 1] <= (im["height"] + side) / 2 + 4).all()


def test_oracle_of_the_ae_codec_puts_people_on_their_annotations(crowd, tmp_path):
    """Perfect AE maps through the whole prediction path land on the annotated keypoints."""
    config = tmp_path / "ae.toml"
    config.write_text("[data]\ninput_size = 256\nsigma = 2.0\n")
    results, _ = get_method("oracle", codec="ae", config=str(config), progress=False, flip=True).predict(crowd)
    data = json.loads(crowd.read_text())
    scale = {im["id"]: max(im["width"], im["height"]) / 256 * 4 for im in data["images"]}  # crop px per map px
    by_image = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(np.asarray(r["keypoints"]).reshape(-1, 3))
    checked = 0
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        labelled = kp[:, 2] > 0
        if ann.get("ignore") or labelled.sum() < 3:
            continue
        # the nearest predicted person: every labelled keypoint within one map pixel (Gaussians are
        # centred on the keypoint's map pixel) plus the quarter-pixel adjustment
        errors = [np.linalg.norm(p[labelled, :2] - kp[labelled, :2], axis=1).max()
                  for p in by_image.get(ann["image_id"], [])]
        assert errors and min(errors) <= 1.0 * scale[ann["image_id"]], (ann["id"], errors and min(errors))
        checked += 1
    assert checked >= 5


def test_a_checkpoint_of_another_network_is_refused_naming_the_keys(crowd, authors_files, tmp_path):
    weights, config = authors_files
    config.write_text(TINY.replace("width = 16", "width = 24"))
    result = CliRunner().invoke(bench, ["run", "--method", "ae", "--weights", str(weights), "--config", str(config),
                                        "--gt", str(crowd), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.startswith(f"error: {weights}: does not fit"), result.output
    assert "shape mismatches" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.mark.parametrize("args, message", [
    (["run", "--method", "ae", "--config", "{config}"], "--config: --method ae takes it with --weights only"),
    (["run", "--method", "ae", "--weights", "{weights}", "--checkpoint", "{weights}"], "not both"),
    (["run", "--method", "ae"], "--method ae needs --checkpoint"),
    (["run", "--method", "ae", "--min-size", "64"], "--min-size: not an option of --method ae"),
    (["train", "--method", "ae", "--pretrained", "imagenet"], "--pretrained: not an option of --method ae"),
    (["train", "--method", "maskrcnn"], "--method maskrcnn: not a method `bench train` trains"),
])
def test_options_it_does_not_take_are_refused(crowd, authors_files, tmp_path, args, message):
    weights, config = authors_files
    args = [a.format(config=config, weights=weights) for a in args]
    result = CliRunner().invoke(bench, args + ["--gt", str(crowd), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output and result.output.startswith("error: "), result.output


def test_three_methods_end_in_the_same_report_and_side_by_side(crowd, authors_files, tmp_path):
    """bench run --method ours|ae|maskrcnn write the same kind of folder; bench report puts them
    side by side with the paper's rows."""
    from benchmarks.engine.train import train_on_file
    ours = get_method("ours", progress=False)
    config = ours.load_config(ours.config_file("smoke"))
    config.optim.epochs = 1
    train_on_file(ours, config, crowd, tmp_path / "train", device="cpu", progress=False)
    weights, ae_config = authors_files
    common = ["--gt", str(crowd), "--bootstrap", "0", "--no-analyze", "--no-progress"]
    runs = {"ours": ["--checkpoint", str(tmp_path / "train" / "checkpoints" / "last.pt"), "--device", "cpu"],
            "ae": ["--weights", str(weights), "--config", str(ae_config), "--device", "cpu"],
            "maskrcnn": ["--weights", "none", "--min-size", "64", "--max-size", "128", "--device", "cpu"]}
    for name, args in runs.items():
        result = CliRunner().invoke(bench, ["run", "--method", name, "--out", str(tmp_path / name)] + args + common)
        assert result.exit_code == 0, (name, result.output)
        assert sorted(p.name for p in (tmp_path / name).iterdir() if p.suffix in (".json", ".md")) == [
            "report.md", "results.json", "run.json", "scores.json"], name
        assert json.loads((tmp_path / name / "scores.json").read_text())["method"] == name
    out = tmp_path / "report" / "three.md"
    result = CliRunner().invoke(bench, ["report", "--runs", *(str(tmp_path / n) for n in runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    table1 = text[text.index("Table 1"):]
    for row in ("| ours |", "| ae |", "| maskrcnn |", "(paper)"):
        assert row in table1, row

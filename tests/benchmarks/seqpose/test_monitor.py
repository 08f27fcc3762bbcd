"""What a user sees of the sequential decoder's two decisions, "here is a person" and "done":
the step-1 and first-stop-step peaks per epoch in log.csv, and one `warning:` line when a run
predicts nobody because no step-1 peak reaches the stop threshold."""
import csv
import json
import math

import pytest
import torch
from click.testing import CliRunner

from benchmarks.cli import main
from benchmarks.data.fixtures import random_crowd_dataset
from tests.helpers.seqpose import TINY_NETWORK
from benchmarks.seqpose.method import decoder_peaks

TINY = TINY_NETWORK + """
[optim]
epochs = 2
milestones = [5]
batch_size = 2
[curriculum]
start_people = 10   # every image has a stop step, so both peaks are defined
[train]
amp = "none"
[infer]
max_steps = 3
"""


def test_decoder_peaks_by_hand():
    # 3 images, 4 steps, K = 1 map of 2 x 2; the peak of a step is the sigmoid of its largest logit
    logits = torch.full((3, 4, 1, 2, 2), -9.0)
    logits[0, 0, 0, 1, 1], logits[0, 2, 0, 0, 0] = 2.0, -1.0    # 2 people: step 1 and stop step 3
    logits[1, 0, 0, 0, 1] = 0.5                                  # 0 people: step 1 is its stop step
    logits[2, 0, 0, 1, 0] = 1.0                                  # 3 people > M = 2: no stop step
    valid = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    got = decoder_peaks(logits, valid, max_people=2, stop_steps=2)
    s = torch.sigmoid(torch.tensor([2.0, 1.0, -1.0, 0.5])).tolist()
    assert got["step1_peak"][1] == 2 and got["step1_peak"][0] == pytest.approx(s[0] + s[1])
    assert got["stop_peak"][1] == 2 and got["stop_peak"][0] == pytest.approx(s[2] + s[3])
    # no stop steps trained: nothing to report
    assert decoder_peaks(logits, valid, max_people=2, stop_steps=0)["stop_peak"] == (0, 0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor")
    gt = random_crowd_dataset(root / "data", num_sources=2, regions_per_source=2, seed=5)
    (root / "tiny.toml").write_text(TINY)
    run = root / "run"
    result = CliRunner().invoke(main, ["train", "--config", str(root / "tiny.toml"), "--gt", str(gt),
                                       "--out", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    return gt, run


def test_log_has_the_decoders_step1_and_stop_peaks(trained):
    gt, run = trained
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert len(rows) == 2
    for row in rows:
        for column in ("step1_peak", "stop_peak"):
            value = float(row[column])
            assert 0.0 < value < 1.0 and math.isfinite(value), (column, row)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "epoch/step1_peak" in tags and "epoch/stop_peak" in tags
    assert events.Scalars("epoch/step1_peak")[-1].value == pytest.approx(float(rows[-1]["step1_peak"]), rel=1e-6)


def test_a_run_that_predicts_nobody_says_why(trained, tmp_path):
    gt, run = trained
    out = tmp_path / "out"
    # threshold 1: no sigmoid peak of this untrained decoder reaches it, so every step stops
    result = CliRunner().invoke(main, [
        "run", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--gt", str(gt), "--out", str(out),
        "--threshold", "1", "--bootstrap", "0", "--no-analyze", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text()) == []
    summary = json.loads((out / "run.json").read_text())
    assert summary["threshold"] == 1.0 and 0 < summary["largest_first_peak"] < 1.0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    images = len(json.loads(gt.read_text())["images"])
    assert (f"predicted nobody in {images} images: the largest step-1 peak was "
            f"{summary['largest_first_peak']:.3f}, below the stop threshold 1") in warnings[0]
    assert "Traceback" not in result.stderr and ".py" not in result.stderr


def test_threshold_sets_how_many_people_a_run_predicts(trained, tmp_path):
    gt, run = trained
    images = len(json.loads(gt.read_text())["images"])
    result = CliRunner().invoke(main, [
        "run", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--gt", str(gt), "--out", str(tmp_path / "o"),
        "--threshold", "0", "--bootstrap", "0", "--no-analyze", "--no-progress"])
    assert result.exit_code == 0, result.output
    # threshold 0 never stops: every image yields infer.max_steps (3) people
    assert len(json.loads((tmp_path / "o" / "results.json").read_text())) == 3 * images
    bad = CliRunner().invoke(main, ["run", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--gt", str(gt),
                                    "--out", str(tmp_path / "b"), "--threshold", "1.5"])
    assert bad.exit_code == 2 and "--threshold" in bad.output and not (tmp_path / "b").exists()

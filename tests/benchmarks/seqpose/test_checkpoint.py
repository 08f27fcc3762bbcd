"""Checkpoints load with weights_only=True: RNG states survive as plain values, a file that
would run code on unpickling is refused before any of it runs, old-format files are named."""
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmarks.cli import main
from benchmarks.data.fixtures import random_crowd_dataset
from benchmarks.engine import checkpoint


class MakesMarker:
    """Unpickling this calls open(marker, 'w'): the file appears iff the payload ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _draws() -> list:
    return [random.random(), random.gauss(0, 1), *np.random.rand(3).tolist(), np.random.randn(),
            *torch.rand(3).tolist()]


def _minimal_state() -> dict:
    return {"model": {"w": torch.arange(4.0)}, "config": {"a": {"b": [1, 2]}}, "keypoint_names": ["nose"]}


def test_rng_states_round_trip_bitwise_through_a_weights_only_file(tmp_path):
    random.seed(5), np.random.seed(6), torch.manual_seed(7)
    random.gauss(0, 1), np.random.randn()              # a cached gaussian in both generators
    path = checkpoint.save(tmp_path / "c.pt", {**_minimal_state(), "rng": [checkpoint.rng_state()]})
    expected = _draws()
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    raw = torch.load(path, weights_only=True)           # torch itself reads it without any allowlist
    assert raw["format"] == checkpoint.FORMAT
    state = checkpoint.load(path)
    checkpoint.set_rng_state(state["rng"][0])
    assert _draws() == expected
    assert torch.equal(state["model"]["w"], torch.arange(4.0)) and state["config"] == {"a": {"b": [1, 2]}}


def test_the_payload_is_live_under_plain_pickle(tmp_path):
    # the control: the crafted object really runs code when unpickled the unsafe way
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(MakesMarker(marker)))
    assert marker.exists()


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path, writer):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    payload = {**_minimal_state(), "format": checkpoint.FORMAT, "model": MakesMarker(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(ValueError) as err:
        checkpoint.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "not a checkpoint written by" in message and "\n" not in message
    assert not marker.exists()


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return random_crowd_dataset(tmp_path_factory.mktemp("ckpt") / "data", num_sources=1, regions_per_source=1,
                                seed=3)


def _evil(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**_minimal_state(), "format": checkpoint.FORMAT, "model": MakesMarker(marker)}, path)


def test_bench_run_and_resume_refuse_a_crafted_checkpoint_in_one_line(tmp_path, gt):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    _evil(evil, marker)
    _evil(tmp_path / "run" / "checkpoints" / "last.pt", marker)
    for args in (["run", "--checkpoint", str(evil), "--gt", str(gt), "--out", str(tmp_path / "y")],
                 ["train", "--gt", str(gt), "--out", str(tmp_path / "run"), "--resume", "--no-progress"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and ".pt: refused" in lines[0], result.output
        assert not marker.exists()
    assert not (tmp_path / "y").exists()
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == ["checkpoints", "last.pt"]


def _first_format(path, state):
    """What `bench train` wrote before: numpy arrays and tuples from getstate(), no format key."""
    old = {k: v for k, v in state.items() if k != "format"}
    old["rng"] = [{"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}]
    torch.save(old, path)


def test_old_format_is_refused_with_what_to_do_and_converts(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    old = tmp_path / "old.pt"
    _first_format(old, _minimal_state())
    expected = _draws()
    with pytest.raises(ValueError, match=r"old\.pt: a checkpoint of an older `bench train`.*"
                                         r"python -m benchmarks\.engine\.checkpoint"):
        checkpoint.load(old)
    new = tmp_path / "new.pt"
    done = subprocess.run([sys.executable, "-m", "benchmarks.engine.checkpoint", str(old), str(new)],
                          capture_output=True, text=True, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    state = checkpoint.load(new)
    checkpoint.set_rng_state(state["rng"][0])
    assert _draws() == expected


def test_converter_refuses_a_crafted_file_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    _evil(tmp_path / "evil.pt", marker)
    with pytest.raises(ValueError, match="evil.pt: not a first-format seqpose checkpoint"):
        checkpoint.convert(tmp_path / "evil.pt", tmp_path / "new.pt")
    assert not marker.exists() and not (tmp_path / "new.pt").exists()


def test_safe_file_without_the_format_key_is_refused(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(_minimal_state(), path)
    with pytest.raises(ValueError, match=r"plain\.pt: format None, expected 'bench-checkpoint/3'"):
        checkpoint.load(path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match=r"plain\.pt: not a `bench train` checkpoint \(a list"):
        checkpoint.load(path)


def test_sequential_model_checkpoint_of_before_the_engine_loads_as_ours(tmp_path):
    # the second format (`bench train` of the sequential model before the engine): curriculum key
    path = tmp_path / "v2.pt"
    curriculum = {"settled_epoch": 3, "warmup_losses": [1.0, 0.5], "config": {}}
    torch.save({**_minimal_state(), "format": "seqpose-checkpoint/2", "curriculum": curriculum}, path)
    state = checkpoint.load(path)
    assert state["method"] == "ours" and state["hooks"] == curriculum and "curriculum" not in state
    assert state["format"] == checkpoint.FORMAT and torch.equal(state["model"]["w"], torch.arange(4.0))

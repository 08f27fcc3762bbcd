"""Denormal floats are flushed to zero while a model trains or predicts on the CPU (they made a
trained decoder's steps 2.5x slower, issue 18), and the caller's setting comes back after."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmarks.cli import main
from benchmarks.data.fixtures import random_crowd_dataset
from benchmarks.engine import train as train_module
from benchmarks.engine.cpu_math import denormals_flushed, flushing
from benchmarks.engine.predict import predict_dataset
from tests.helpers.seqpose import TINY_NETWORK

DENORMAL = np.float32(1e-39)   # below float32's smallest normal, 1.18e-38


def doubled_bits() -> int:
    """The bits of 2 x a denormal computed on this thread: 0 when flushing, else 2e-39's."""
    x = torch.from_numpy(np.array([DENORMAL]))   # built by numpy, so it holds the denormal either way
    return int((x * 2).view(torch.int32))


@pytest.mark.parametrize("before", [False, True])
def test_flushed_inside_and_restored_after(before):
    torch.set_flush_denormal(before)
    try:
        assert flushing() is before
        assert (doubled_bits() == 0) is before
        with denormals_flushed():
            assert flushing() and doubled_bits() == 0
        assert flushing() is before
        assert doubled_bits() == (0 if before else int(np.array([2 * DENORMAL]).view(np.int32)[0]))
    finally:
        torch.set_flush_denormal(False)


def test_training_and_prediction_run_flushed(tmp_path, monkeypatch):
    torch.set_flush_denormal(False)
    seen = []
    step = train_module.Trainer.forward_backward

    def watched(self, batch, values=None):
        seen.append(("train", flushing()))
        return step(self, batch, values)

    monkeypatch.setattr(train_module.Trainer, "forward_backward", watched)
    gt = random_crowd_dataset(tmp_path / "data", num_sources=1, regions_per_source=2, seed=3)
    (tmp_path / "t.toml").write_text(TINY_NETWORK + "[optim]\nepochs = 1\nbatch_size = 2\n[train]\namp = \"none\"\n")
    result = CliRunner().invoke(main, ["train", "--config", str(tmp_path / "t.toml"), "--gt", str(gt),
                                       "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen and all(on for _, on in seen)
    assert not flushing()   # the caller's setting is back

    class Codec:
        collate = staticmethod(lambda samples: {"image_id": torch.tensor([s["image_id"] for s in samples]),
                                                "affine": torch.zeros(len(samples), 2, 3)})

        @staticmethod
        def decode(raw, flipped, perm):
            return np.zeros((0, 17, 3)), np.zeros(0)

    def infer(batch, flipped):
        seen.append(("predict", flushing()))
        return [None] * len(batch["image_id"])

    assert predict_dataset(infer, [{"image_id": 1}, {"image_id": 2}], Codec, category_id=1, flip_permutation=[],
                           progress=False) == []
    assert [on for what, on in seen if what == "predict"] == [True, True]
    assert not flushing()

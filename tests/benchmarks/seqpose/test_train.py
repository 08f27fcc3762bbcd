"""Training: overfitting a tiny batch, DDP = one process on the combined batch, exact resume,
curriculum and config handling."""
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from scipy.optimize import linear_sum_assignment

from benchmarks.data import collate_people
from benchmarks.engine import checkpoint, distributed
from benchmarks.seqpose.config import Config, ConfigError, config_from_dict, load_config
from benchmarks.seqpose.curriculum import Curriculum
from benchmarks.seqpose.decode import locate_peaks
from benchmarks.engine.train import Trainer, resume_config, train
from benchmarks.seqpose.method import SeqPoseMethod, batch_steps

OURS = SeqPoseMethod()

from tests.helpers.seqpose import DDP_COUNTS, ToyDataset, ddp_worker, tiny_config

NAMES = ToyDataset.keypoint_names


def cpu_context() -> distributed.DistContext:
    return distributed.DistContext(0, 1, 0, torch.device("cpu"))


def test_tiny_batch_is_overfit_and_decoded():
    torch.manual_seed(0)
    config = tiny_config(optim={"lr": 3e-3})
    trainer = Trainer(OURS, config, NAMES, cpu_context())
    data = ToyDataset([2, 3], seed=0)
    batch = collate_people([data[0], data[1]])
    losses = []
    for _ in range(160):
        losses.append(trainer.forward_backward(batch, {"max_people": 5}).loss)
        trainer.optimizer_step()
    assert losses[-1] < 0.1 * losses[0]
    model = trainer.model.eval()
    result = model.infer(batch["image"], max_steps=8, threshold=0.05)
    for b in range(2):
        gt = batch["keypoints"][b][batch["people_valid"][b]][..., :2]
        people = result.people[b]
        assert people.shape[0] == gt.shape[0]  # it counts and stops
        xy, _ = locate_peaks(people, radius=2.0)   # ToyDataset's disks
        dist = torch.cdist(xy.flatten(1), gt.flatten(1))   # match decoded people to GT people
        rows, cols = linear_sum_assignment(dist.numpy())
        err = (xy[rows] - gt[cols]).norm(dim=-1)
        assert float(err.max()) <= 2.0 and float(err.mean()) <= 1.0, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_step_equals_one_process_on_combined_batch(tmp_path):
    mp.spawn(ddp_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    trainer = Trainer(OURS, tiny_config(), NAMES, cpu_context())
    data = ToyDataset(DDP_COUNTS, seed=5)
    trainer.forward_backward(collate_people([data[i] for i in range(4)]), {"max_people": 2})
    single = {n: p.grad for n, p in trainer.model.named_parameters() if p.grad is not None}
    for rank in (0, 1):
        ddp = torch.load(tmp_path / f"grads{rank}.pt")
        assert ddp.keys() == single.keys() and len(single) > 50
        for name, grad in single.items():
            torch.testing.assert_close(ddp[name], grad, rtol=1e-4, atol=1e-7, msg=name)


class NoisyToy(ToyDataset):
    """Adds noise from torch's global RNG, so resuming must restore RNG states too."""

    def __getitem__(self, i):
        sample = dict(self.samples[i])
        sample["image"] = sample["image"] + 0.05 * torch.randn(sample["image"].shape)
        return sample


def _curriculum_config() -> Config:
    return tiny_config(optim={"epochs": 3, "milestones": [1]},
                       curriculum={"start_people": 1, "plateau_window": 1, "min_epochs": 1,
                                   "max_warmup_epochs": 1, "increase_every": 1})


def test_resumed_run_reaches_the_same_weights(tmp_path):
    data = NoisyToy([1, 3, 2, 2, 3], seed=7)
    config = _curriculum_config()
    full = train(OURS, config, data, tmp_path / "full", keypoint_names=NAMES, collate_fn=collate_people,
                 device="cpu", progress=False)
    first = train(OURS, config, data, tmp_path / "cut", keypoint_names=NAMES, collate_fn=collate_people,
                  device="cpu", progress=False, stop_after=1)
    assert first["epoch"] == 1
    torch.manual_seed(1234)  # a different RNG state in between, as in a fresh process
    again = train(OURS, None, data, tmp_path / "cut", keypoint_names=NAMES, collate_fn=collate_people,
                  device="cpu", progress=False, resume=True)
    assert again["epoch"] == full["epoch"] == 3
    assert again["max_people"] == full["max_people"] == 3          # curriculum state carried over
    assert again["lr"] == pytest.approx(full["lr"]) == pytest.approx(1e-4)
    a = checkpoint.load(tmp_path / "full" / "checkpoints" / "last.pt")
    b = checkpoint.load(tmp_path / "cut" / "checkpoints" / "last.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    assert a["hooks"] == b["hooks"] and a["scheduler"] == b["scheduler"]
    rows = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "1", "2", "3"]


def test_train_without_config_uses_the_defaults(tmp_path):
    # config None and no resume: the paper's settings (pretrained overridden: no network here)
    summary = train(OURS, None, ToyDataset([1, 2]), tmp_path / "run", keypoint_names=NAMES, collate_fn=collate_people,
                    device="cpu", progress=False, stop_after=1, pretrained="none")
    assert summary["epoch"] == 1
    saved = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert saved["config"] == Config().to_dict()


def test_resume_with_another_world_size_warns(tmp_path):
    config = tiny_config()
    data = ToyDataset([1, 2])
    train(OURS, config, data, tmp_path, keypoint_names=NAMES, collate_fn=collate_people, device="cpu",
          progress=False, stop_after=1)
    last = tmp_path / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    state["world_size"] = 8
    checkpoint.save(last, state)
    with pytest.warns(UserWarning, match="saved with 8 processes, resuming with 1"):
        again = train(OURS, None, data, tmp_path, keypoint_names=NAMES, collate_fn=collate_people, device="cpu",
                      progress=False, resume=True, stop_after=1)
    assert again["epoch"] == 2


def test_resume_refuses_a_different_config_but_accepts_more_epochs(tmp_path):
    saved = _curriculum_config().to_dict()
    more = _curriculum_config()
    more.optim.epochs = 10
    assert resume_config(OURS, saved, more, tmp_path / "last.pt").optim.epochs == 10
    other = _curriculum_config()
    other.optim.lr = 0.5
    with pytest.raises(ValueError, match="optim.lr"):
        resume_config(OURS, saved, other, tmp_path / "last.pt")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        train(OURS, None, ToyDataset([1]), tmp_path / "none", keypoint_names=NAMES, collate_fn=collate_people,
              device="cpu", resume=True)


def test_curriculum_waits_for_a_plateau_then_grows_every_two_epochs():
    c = Curriculum(config_from_dict({"curriculum": {"plateau_window": 2, "plateau_rel_tol": 0.05,
                                                    "min_epochs": 3, "max_warmup_epochs": 50}}).curriculum)
    losses = [1.0, 0.8, 0.7, 0.69, 0.68]
    for epoch, loss in enumerate(losses):
        assert c.max_people(epoch) == 2
        c.end_epoch(epoch, loss)
        # after epoch 4: best of last two (0.68) is not 5% below best before (0.7): settled
        assert (c.settled_epoch is not None) == (epoch >= 4)
    assert c.settled_epoch == 4
    assert [c.max_people(e) for e in range(4, 11)] == [2, 3, 3, 4, 4, 5, 5]
    capped = Curriculum(config_from_dict({"curriculum": {"max_people": 3, "max_warmup_epochs": 1}}).curriculum)
    capped.end_epoch(0, 1.0)
    assert [capped.max_people(e) for e in range(5)] == [2, 3, 3, 3, 3]


def test_batch_steps_covers_every_image():
    valid = torch.tensor([[True, False, False], [True, True, True]])
    assert batch_steps(valid, max_people=2, stop_steps=2) == 3   # 1 + 2 stop; 3 > M -> 2
    assert batch_steps(valid, max_people=3, stop_steps=2) == 5


def test_config_files_and_errors(tmp_path):
    repo = Path(__file__).resolve().parents[3]
    for name in sorted(p.name for p in (repo / "configs").glob("seqpose_*.toml")):  # every shipped one loads
        load_config(repo / "configs" / name)
    paper = load_config(repo / "configs" / "seqpose_coco_crowd.toml")
    assert (paper.optim.lr, paper.optim.epochs, paper.optim.milestones) == (1e-3, 130, [60, 90])
    assert (paper.data.input_size, paper.loss.part_weight, paper.infer.threshold) == (512, 0.5, 0.05)
    assert load_config(repo / "configs" / "seqpose_immediacy.toml").optim.milestones == [40, 60]
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlr = 'fast'\n")
    with pytest.raises(ConfigError, match=r"bad.toml: optim.lr: expected a number"):
        load_config(bad)
    bad.write_text("[optim]\nlearning_rate = 1.0\n")
    with pytest.raises(ConfigError, match=r"optim.learning_rate: unknown key"):
        load_config(bad)
    bad.write_text("[optimiser]\n")
    with pytest.raises(ConfigError, match=r"optimiser: unknown section"):
        load_config(bad)
    bad.write_text("[data]\ninput_size = 100\n")
    with pytest.raises(ConfigError, match=r"data.input_size: must be a multiple of 32"):
        load_config(bad)
    bad.write_text("[optim\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(bad)
    js = tmp_path / "c.json"
    js.write_text('{"train": {"amp": "fp16"}}')
    assert load_config(js).train.amp == "fp16"
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml")

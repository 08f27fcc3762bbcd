"""Stacked hourglass shapes, parameter count, and loading pose-ae-train checkpoints safely."""
import pickle

import pytest
import torch

from baselines.ae.authors import AUTHORS_COCO, PREFIX, authors_state_dict, load_authors_checkpoint
from baselines.ae.hourglass import StackedHourglass


@pytest.mark.parametrize("stacks, width, increase, tag_dim", [(1, 32, 16, 1), (2, 64, 128, 1), (2, 32, 32, 2)])
def test_output_shape(stacks, width, increase, tag_dim):
    torch.manual_seed(0)
    model = StackedHourglass(5, stacks=stacks, width=width, increase=increase, tag_dim=tag_dim)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, stacks, 5 * (1 + tag_dim), 16, 16)
    assert torch.isfinite(out).all()


def test_rejects_sizes_that_do_not_pool_evenly():
    model = StackedHourglass(2, stacks=1, width=16, increase=8)
    with pytest.raises(ValueError, match="multiples of 64"):
        model(torch.zeros(1, 3, 96, 96))


def _conv(i, o, k):
    return i * o * k * k + o


def _hourglass(n, f, inc=128):
    nf = f + inc
    inner = _hourglass(n - 1, nf, inc) if n > 1 else _conv(nf, nf, 3)
    return _conv(f, f, 3) + _conv(f, nf, 3) + inner + _conv(nf, f, 3)


def _posenet(oup_dim):
    # pose-ae-train's PoseNet(nstack=4, inp_dim=256, oup_dim, increase=128), layer by layer
    pre = _conv(3, 64, 7) + _conv(64, 128, 3) + _conv(128, 128, 3) + _conv(128, 256, 3)
    stack = _hourglass(4, 256) + 2 * _conv(256, 256, 3) + _conv(256, oup_dim, 1)
    merge = _conv(256, 256, 1) + _conv(oup_dim, 256, 1)
    return pre + 4 * stack + 3 * merge


@pytest.mark.parametrize("kwargs, oup_dim, expected", [({"num_keypoints": 17}, 34, 138_832_776),
                                                       (AUTHORS_COCO, 68, 138_893_840)])
def test_parameter_count_matches_pose_ae_train_posenet(kwargs, oup_dim, expected):
    assert _posenet(oup_dim) == expected
    with torch.device("meta"):            # no memory, no init time
        model = StackedHourglass(**kwargs)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_spare_output_channels_feed_the_next_stack_but_are_not_returned():
    torch.manual_seed(0)
    model = StackedHourglass(2, stacks=2, width=16, increase=8, out_channels=6).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (1, 2, 4, 16, 16)
        model.outs[0].conv.weight[4:] += 1.0          # only a spare channel of stack 1
        changed = model(x)
    assert torch.equal(changed[:, 0], out[:, 0]) and not torch.equal(changed[:, 1], out[:, 1])
    with pytest.raises(ValueError):
        StackedHourglass(2, stacks=1, width=16, out_channels=3)


def small(seed, **kwargs):
    torch.manual_seed(seed)
    return StackedHourglass(3, stacks=2, width=16, increase=8, **kwargs).eval()


@pytest.mark.parametrize("spare", [None, 10])
def test_authors_layout_round_trip(tmp_path, spare):
    model = small(0, out_channels=spare)
    state = authors_state_dict(model)
    assert all(k.startswith(PREFIX) for k in state)
    # their names: PoseNet keys under Trainer.model (DataParallel) .module
    assert "model.module.pre.0.conv.weight" in state
    assert "model.module.features.1.0.low2.low2.low2.low2.conv.weight" in state
    assert "model.module.merge_preds.0.conv.conv.weight" in state
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"state_dict": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 7}, path)
    fresh = small(1, out_channels=spare)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.equal(fresh(x), model(x))
        load_authors_checkpoint(path, fresh)
        assert torch.equal(fresh(x), model(x))


def test_bare_state_dict_loads(tmp_path):
    model = small(0)
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    fresh = small(1)
    load_authors_checkpoint(tmp_path / "bare.pt", fresh)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))


def test_missing_renamed_and_misshapen_keys_are_listed(tmp_path):
    state = authors_state_dict(small(0))
    state["model.module.outs.0.conv.kernel"] = state.pop("model.module.outs.0.conv.weight")
    del state["model.module.pre.1.conv.bias"]
    path = tmp_path / "renamed.pth.tar"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError) as err:
        load_authors_checkpoint(path, small(1))
    msg = str(err.value)
    assert str(path) in msg
    assert "2 missing keys" in msg and "outs.0.conv.weight" in msg and "pre.1.conv.bias" in msg
    assert "1 unexpected keys: outs.0.conv.kernel" in msg

    # a 4-keypoint checkpoint in a 3-keypoint model: outs (8 vs 6 channels), merge_preds' weight
    torch.manual_seed(0)
    other = StackedHourglass(4, stacks=2, width=16, increase=8)
    torch.save({"state_dict": authors_state_dict(other)}, path)
    with pytest.raises(ValueError) as err:
        load_authors_checkpoint(path, small(1))
    msg = str(err.value).replace(str(path), "FILE")   # the tmp path holds the test's name
    assert msg.startswith("FILE: ")
    assert "5 shape mismatches" in msg and "outs.0.conv.weight (8, 16, 1, 1) vs ours (6, 16, 1, 1)" in msg
    assert "missing keys" not in msg and "unexpected keys" not in msg


class Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))     # unpickling this creates the file


def test_code_carrying_pickles_are_refused_without_running(tmp_path):
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Payload(live)))      # the payload is real ...
    assert live.exists()
    model = small(0)
    before = [p.clone() for p in model.parameters()]
    # a torch.save zip checkpoint, and a bare pickle (torch's legacy path; no tensors in it, as a
    # plain pickle of tensors is refused for torch's own storage global before the payload)
    for name, save, weights in [("zip.pth", lambda p, o: torch.save(o, p), authors_state_dict(model)),
                                ("plain.pkl", lambda p, o: p.write_bytes(pickle.dumps(o, protocol=2)), {})]:
        marker = tmp_path / f"ran-{name}"
        path = tmp_path / name
        save(path, {"state_dict": weights, "epoch": Payload(marker)})
        with pytest.raises(ValueError, match=r"refused.*GLOBAL io.open was not an allowed global by default$") as err:
            load_authors_checkpoint(path, model)
        assert str(path) in str(err.value)
        assert not marker.exists()                 # ... but never ran here
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_unreadable_or_foreign_files_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth: not a readable torch checkpoint"):
        load_authors_checkpoint(garbage, small(0))
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(ValueError, match="list.pth: expected a state dict"):
        load_authors_checkpoint(listing, small(0))

"""Shapes and behaviour of the sequential pose network (small ResNet-18, tiny inputs)."""
import urllib.error

import pytest
import torch

from benchmarks.seqpose import pretrained
from benchmarks.seqpose.model import ConvLSTMCell, PartLocalizer, PersonDecoder, SeqPose, halving_block

K = 5


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SeqPose(K, "resnet18", "none", "group", (8, 8, 16, 16)).eval()


def test_part_localizer_pyramid_shapes():
    loc = PartLocalizer(K, "resnet18", "none", "batch")
    feats, logits = loc(torch.randn(2, 3, 96, 64))
    assert loc.feature_channels == (64, 128, 256, 512)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 24, 16), (2, 128, 12, 8), (2, 256, 6, 4), (2, 512, 3, 2)]
    assert logits.shape == (2, K, 24, 16)


def test_resnet50_channels_are_those_of_the_paper():
    loc = PartLocalizer(17, "resnet50", "none", "frozen")
    assert loc.feature_channels == (256, 512, 1024, 2048)
    block = halving_block(2048, torch.nn.BatchNorm2d)
    assert block(torch.randn(1, 2048, 2, 2)).shape == (1, 1024, 2, 2)


def test_forward_shapes(model):
    out = model(torch.randn(3, 3, 64, 64), num_steps=4)
    assert out.part_logits.shape == (3, K, 16, 16)
    assert out.person_logits.shape == (3, 4, K, 16, 16)
    assert model(torch.randn(1, 3, 64, 64), num_steps=0).person_logits.shape == (1, 0, K, 16, 16)


def test_decoder_steps_differ_because_state_carries(model):
    """Same input every step: only the carried LSTM state can make step 2 differ from step 1."""
    with torch.no_grad():
        person = model(torch.randn(1, 3, 64, 64), num_steps=2).person_logits
    assert not torch.allclose(person[:, 0], person[:, 1])


def test_convlstm_cell_matches_the_lstm_equations():
    torch.manual_seed(1)
    cell = ConvLSTMCell(2, 3, kernel_size=1)
    x, h, c = torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    w = cell.gates.weight[:, :, 0, 0]
    z = torch.einsum("oc,bchw->bohw", w, torch.cat([x, h], 1)) + cell.gates.bias[None, :, None, None]
    i, f, o, g = z.sigmoid()[:, 0:3], z.sigmoid()[:, 3:6], z.sigmoid()[:, 6:9], z[:, 9:12].tanh()
    c_want = f * c + i * g
    h_got, c_got = cell(x, (h, c))
    torch.testing.assert_close(c_got, c_want)
    torch.testing.assert_close(h_got, o * c_want.tanh())
    assert torch.all(cell.gates.bias[3:6] == 1.0)  # forget gate starts open


def test_infer_stops_below_threshold(model):
    images = torch.randn(2, 3, 64, 64)
    head = model.decoder.head[-1]
    saved = head.bias.detach().clone()
    try:
        with torch.no_grad():
            head.bias.fill_(-20.0)  # every step's maximum ~ 0: stop at once
        assert [p.shape[0] for p in model.infer(images, max_steps=6).people] == [0, 0]
        with torch.no_grad():
            head.bias.fill_(20.0)   # every step's maximum ~ 1: run to max_steps
        res = model.infer(images, max_steps=6)
        assert [tuple(p.shape) for p in res.people] == [(6, K, 16, 16)] * 2
        assert res.parts.shape == (2, K, 16, 16) and 0 <= res.parts.min() and res.parts.max() <= 1
    finally:
        with torch.no_grad():
            head.bias.copy_(saved)


def test_infer_equals_forward_steps_with_sigmoid(model):
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        head = model.decoder.head[-1]
        saved = head.bias.detach().clone()
        head.bias.fill_(10.0)
        try:
            res = model.infer(images, max_steps=3)
            out = model(images, 3)
        finally:
            head.bias.copy_(saved)
    torch.testing.assert_close(res.people[0], out.person_logits[0].sigmoid())


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown backbone"):
        SeqPose(K, "vgg16", "none")
    with pytest.raises(ValueError, match="norm must be"):
        SeqPose(K, "resnet18", "none", "layer")
    with pytest.raises(ValueError, match="group"):
        SeqPose(K, "resnet18", "imagenet", "group")
    with pytest.raises(ValueError, match="one per scale"):
        PersonDecoder((64, 128, 256, 512), K, (8, 8, 8))


def test_pretrained_path_is_loaded(tmp_path):
    from torchvision.models import resnet18
    torch.manual_seed(3)
    reference = resnet18()
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    loc = PartLocalizer(K, "resnet18", str(path), "batch")
    torch.testing.assert_close(loc.stem[0].weight, reference.conv1.weight)
    torch.testing.assert_close(loc.stages[3][1].conv2.weight, reference.layer4[1].conv2.weight)


def test_pretrained_offline_message_names_the_cache_file(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    import torchvision.models._api as weights_api  # where the weight enum fetches from
    monkeypatch.setattr(weights_api, "load_state_dict_from_url", offline)
    with pytest.raises(pretrained.PretrainedWeightsUnavailable) as err:
        PartLocalizer(K, "resnet50", "imagenet")
    message = str(err.value)
    assert "resnet50-11ad3fa6.pth" in message
    assert str(tmp_path / "checkpoints" / "resnet50-11ad3fa6.pth") in message
    assert "--pretrained none" in message
    with pytest.raises(pretrained.PretrainedWeightsUnavailable, match="no such file"):
        PartLocalizer(K, "resnet18", str(tmp_path / "missing.pth"))

"""The sequential pose network of the paper (section 4, figures 4 and 5).

Part localizer (section 4.1): a torchvision ResNet gives C1..C4 (layer1..layer4, strides
4, 8, 16, 32); a 1x1 convolution brings each to 64 channels; they are resized (bilinear) to
stride 4 and summed; a head turns the sum into K part heatmaps.

Person decoder (section 4.2): at each of the four scales a block of two stacked ConvLSTMs with
3x3 kernels. Each block's input is that scale's part features, halved in channels by one ResNet
bottleneck block, concatenated with the coarser block's output upsampled to this scale. The
finest block (stride 4) gives, through a 1x1 convolution, the K heatmaps of one person per step.
LSTM states carry over from step to step; at inference the sequence ends when a step's maximum
falls below a threshold (0.05) or at a maximum number of steps.

Choices where the paper defers to its supplementary material:

* Part head: 3x3 conv (64 -> 64) + ReLU + 1x1 conv (64 -> K) on the summed pyramid.
* Halving block: torchvision's ``Bottleneck`` with ``planes = C / 8`` (so ``4 * planes = C / 2``
  output channels) and a 1x1 projection shortcut; it runs once per image, not once per step.
* ConvLSTM hidden channels per scale (stride 4, 8, 16, 32): ``decoder_channels``, default
  (32, 64, 128, 128); the first cell of a block takes the block input, the second the first
  cell's hidden state; a block's output is the second cell's hidden state. States start at zero.
  Forget-gate biases start at 1.
* Person head: 3x3 conv (hidden -> 64) + ReLU + 1x1 conv (64 -> K), the part head's shape. A
  single 1x1 convolution on the tanh-bounded hidden state capped a step's peak: with the prior
  bias a step-1 peak could not pass about 0.53 early in training (0.49 measured), too little to
  say "here" with confidence.
* Upsampling between blocks: bilinear to the finer map's exact size (x2 for even inputs).
* Heads output logits; the loss uses BCE-with-logits (numerically stable) and ``sigmoid`` is
  applied only for outputs (:meth:`SeqPose.infer`). Both heads' final biases start at
  ``log(0.01 / 0.99)`` so initial heatmaps are near the mostly-zero targets.
* Normalisation (``norm``): ``"batch"`` (BatchNorm; the trainer converts it to SyncBatchNorm
  under multi-GPU DDP so statistics cover the whole batch), ``"frozen"`` (backbone BatchNorm
  frozen, as torchvision's detection models do with small per-GPU batches; the new halving
  blocks use GroupNorm) or ``"group"`` (GroupNorm everywhere; batch-independent, random
  initialisation only).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet
from torchvision.ops.misc import FrozenBatchNorm2d

from .pretrained import backbone_state_dict

BACKBONES: dict[str, Callable[..., resnet.ResNet]] = {
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
}
NORMS = ("batch", "frozen", "group")
PRIOR_BIAS = math.log(0.01 / 0.99)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups that divide ``channels``."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def backbone_norm_layer(norm: str) -> Callable[[int], nn.Module]:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return {"batch": nn.BatchNorm2d, "frozen": FrozenBatchNorm2d, "group": group_norm}[norm]


class PartLocalizer(nn.Module):
    """ResNet feature pyramid -> (C1..C4, part heatmap logits at stride 4)."""

    def __init__(self, num_keypoints: int, backbone: str = "resnet50", pretrained: str = "none",
                 norm: str = "batch", pyramid_channels: int = 64):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
        if norm == "group" and pretrained != "none":
            raise ValueError("norm='group' cannot use ImageNet BatchNorm weights; use pretrained='none'")
        net = BACKBONES[backbone](weights=None, norm_layer=backbone_norm_layer(norm))
        state = backbone_state_dict(backbone, pretrained)
        if state is not None:
            net.load_state_dict(state)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.feature_channels = tuple(_out_channels(stage) for stage in self.stages)
        self.lateral = nn.ModuleList(nn.Conv2d(c, pyramid_channels, 1) for c in self.feature_channels)
        self.head = nn.Sequential(
            nn.Conv2d(pyramid_channels, pyramid_channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(pyramid_channels, num_keypoints, 1))
        nn.init.constant_(self.head[-1].bias, PRIOR_BIAS)

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = self.stem(images)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        size = features[0].shape[-2:]
        summed = self.lateral[0](features[0])
        for lateral, feat in zip(self.lateral[1:], features[1:]):
            summed = summed + F.interpolate(lateral(feat), size=size, mode="bilinear", align_corners=False)
        return features, self.head(summed)


def _out_channels(stage: nn.Sequential) -> int:
    last = stage[-1]
    return last.conv3.out_channels if hasattr(last, "conv3") else last.conv2.out_channels


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM (Shi et al. 2015) without peepholes: one conv gives all four gates."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)
        with torch.no_grad():  # forget gate starts open so early steps keep their memory
            self.gates.bias.zero_()
            self.gates.bias[hidden_channels:2 * hidden_channels].fill_(1.0)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


def halving_block(channels: int, norm_layer: Callable[[int], nn.Module]) -> resnet.Bottleneck:
    """One ResNet bottleneck block mapping ``channels`` to ``channels // 2``."""
    out = channels // 2
    shortcut = nn.Sequential(nn.Conv2d(channels, out, 1, bias=False), norm_layer(out))
    return resnet.Bottleneck(channels, out // resnet.Bottleneck.expansion, downsample=shortcut,
                             norm_layer=norm_layer)


DecoderState = list[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]


class PersonDecoder(nn.Module):
    """Multi-scale ConvLSTM decoder: one person's K heatmap logits per :meth:`step`."""

    def __init__(self, feature_channels: tuple[int, ...], num_keypoints: int,
                 hidden_channels: tuple[int, ...] = (32, 64, 128, 128), norm: str = "batch",
                 head_channels: int = 64):
        super().__init__()
        if len(hidden_channels) != len(feature_channels):
            raise ValueError(f"decoder_channels needs {len(feature_channels)} values (one per scale), "
                             f"got {list(hidden_channels)}")
        for c in feature_channels:
            if c % (2 * resnet.Bottleneck.expansion):
                raise ValueError(f"feature channels {c} cannot be halved by a bottleneck block")
        norm_layer = nn.BatchNorm2d if norm == "batch" else group_norm
        self.reduce = nn.ModuleList(halving_block(c, norm_layer) for c in feature_channels)
        cells = []
        for s, (c, hid) in enumerate(zip(feature_channels, hidden_channels)):
            coarser = hidden_channels[s + 1] if s + 1 < len(hidden_channels) else 0
            cells.append(nn.ModuleList([ConvLSTMCell(c // 2 + coarser, hid), ConvLSTMCell(hid, hid)]))
        self.cells = nn.ModuleList(cells)
        # the hidden state is bounded by tanh to (-1, 1): a lone 1x1 convolution on it caps a
        # person's logit at sum|w| + b, so the head gets the part head's ReLU hidden layer
        self.head = nn.Sequential(
            nn.Conv2d(hidden_channels[0], head_channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(head_channels, num_keypoints, 1))
        nn.init.constant_(self.head[-1].bias, PRIOR_BIAS)

    def prepare(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Halve each scale's part features (done once per image)."""
        return [block(f) for block, f in zip(self.reduce, features)]

    def step(self, reduced: list[torch.Tensor], state: DecoderState | None
             ) -> tuple[torch.Tensor, DecoderState]:
        """One step, coarsest scale first: returns (K heatmap logits at stride 4, new state)."""
        new_state: list = [None] * len(reduced)
        out = None
        for s in reversed(range(len(reduced))):
            x = reduced[s]
            if out is not None:
                x = torch.cat([x, F.interpolate(out, size=x.shape[-2:], mode="bilinear",
                                                align_corners=False)], dim=1)
            first, second = self.cells[s]
            st1, st2 = state[s] if state is not None else (None, None)
            st1 = first(x, st1)
            st2 = second(st1[0], st2)
            new_state[s] = (st1, st2)
            out = st2[0]
        return self.head(out), new_state


@dataclass
class SeqPoseOutput:
    part_logits: torch.Tensor     # (B, K, H, W)
    person_logits: torch.Tensor   # (B, T, K, H, W)


@dataclass
class SeqPoseInference:
    parts: torch.Tensor           # (B, K, H, W) probabilities
    people: list[torch.Tensor]    # per image (n_i, K, H, W) probabilities
    first_peaks: torch.Tensor     # (B,) peak probability of step 1, person or not


class SeqPose(nn.Module):
    """Part localizer + person decoder. ``forward`` runs a fixed number of steps (training);
    :meth:`infer` stops each image when its step maximum falls below ``threshold``."""

    def __init__(self, num_keypoints: int, backbone: str = "resnet50", pretrained: str = "none",
                 norm: str = "batch", decoder_channels: tuple[int, ...] = (32, 64, 128, 128)):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.localizer = PartLocalizer(num_keypoints, backbone, pretrained, norm)
        self.decoder = PersonDecoder(self.localizer.feature_channels, num_keypoints,
                                     tuple(decoder_channels), norm)

    def forward(self, images: torch.Tensor, num_steps: int) -> SeqPoseOutput:
        features, part_logits = self.localizer(images)
        reduced = self.decoder.prepare(features)
        state, steps = None, []
        for _ in range(num_steps):
            logits, state = self.decoder.step(reduced, state)
            steps.append(logits)
        if steps:
            person = torch.stack(steps, dim=1)
        else:
            person = part_logits.new_zeros(part_logits.shape[0], 0, *part_logits.shape[1:])
        return SeqPoseOutput(part_logits, person)

    @torch.no_grad()
    def infer(self, images: torch.Tensor, max_steps: int = 20, threshold: float = 0.05) -> SeqPoseInference:
        """Run until every image has produced a step whose maximum is below ``threshold``
        (that step is the stop signal and is not a person) or ``max_steps`` people."""
        features, part_logits = self.localizer(images)
        reduced = self.decoder.prepare(features)
        batch = images.shape[0]
        people: list[list[torch.Tensor]] = [[] for _ in range(batch)]
        running = torch.ones(batch, dtype=torch.bool)
        state, first_peaks = None, torch.zeros(batch)
        for step in range(max_steps):
            logits, state = self.decoder.step(reduced, state)
            probs = torch.sigmoid(logits.float())
            peak = probs.flatten(1).amax(dim=1).cpu()
            if step == 0:
                first_peaks = peak
            running &= peak >= threshold
            for b in torch.nonzero(running).flatten().tolist():
                people[b].append(probs[b])
            if not running.any():
                break
        empty = part_logits.new_zeros(0, *part_logits.shape[1:], dtype=torch.float32)
        stacked = [torch.stack(p) if p else empty for p in people]
        return SeqPoseInference(torch.sigmoid(part_logits.float()), stacked, first_peaks)

"""Stacked hourglass network of Associative Embedding (Newell et al. 2017).

Layout follows princeton-vl/pose-ae-train's ``PoseNet`` module for module, with the same
attribute names (``pre``, ``features``, ``outs``, ``merge_features``, ``merge_preds``; every
conv wrapped in a ``Conv`` holding ``.conv``), so their state dict keys are ours once the
``DataParallel``/``Trainer`` prefix is stripped (see ``authors.py``).

Choices where their code leaves room:

* Every block is a plain conv + ReLU (theirs), not the residual modules of the original
  hourglass paper: ``pre`` is 7x7/2 conv, 3x3 conv, 2x2 max-pool, two 3x3 convs.

* Input is ``(B, 3, S, S)`` (theirs takes NHWC and permutes). Their training fed RGB in [0, 1];
  our engine feeds ImageNet-normalised images, which is fine when training from scratch but a
  caller running *their* weights should feed [0, 1] RGB.
* Their ``Conv`` layers carry an optional BatchNorm; their COCO config never enables it
  (``PoseNet(bn=False)``), so ours has none and no BN keys exist in either state dict.
* Their inner hourglass levels ignore ``increase`` (recursion uses the default 128); we pass it
  down. Identical for the published ``increase=128``.
* Their COCO config has ``oup_dim=68`` although only channels [0, 34) (17 detections, 17 tags)
  are read by the loss and test code; the other 34 are real conv outputs that feed the next
  stack through ``merge_preds``. ``out_channels=68`` builds that layout (needed to load their
  checkpoints); ``forward`` still returns only the K*(1+tag_dim) channels in use.
* ``S`` must be a multiple of 64 (stride 4, then four 2x poolings) so skip branches line up.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Conv(nn.Module):
    """Same-padded conv with bias, optional ReLU after (their ``layers.Conv`` without BN)."""

    def __init__(self, inp_dim: int, out_dim: int, kernel_size: int = 3, stride: int = 1,
                 relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(inp_dim, out_dim, kernel_size, stride,
                              padding=(kernel_size - 1) // 2, bias=True)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class Hourglass(nn.Module):
    """One recursive hourglass level: skip branch ``up1`` plus pooled, widened lower branch."""

    def __init__(self, depth: int, width: int, increase: int = 128):
        super().__init__()
        low = width + increase
        self.up1 = Conv(width, width, 3)
        self.low1 = Conv(width, low, 3)
        self.low2 = Hourglass(depth - 1, low, increase) if depth > 1 else Conv(low, low, 3)
        self.low3 = Conv(low, width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2, 2))))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class Merge(nn.Module):
    """1x1 projection back into the feature width (their ``posenet.Merge``, key ``.conv.conv``)."""

    def __init__(self, x_dim: int, y_dim: int):
        super().__init__()
        self.conv = Conv(x_dim, y_dim, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class StackedHourglass(nn.Module):
    """``stacks`` hourglasses; each predicts K detection maps then K*tag_dim tag maps.

    Channel layout of a prediction: ``[0, K)`` detection of joint k; ``K + k*tag_dim + l`` tag
    dimension l of joint k (for ``tag_dim=1`` this is their ``[17, 34)`` slice).
    ``out_channels`` (default: exactly those) may be larger to match a checkpoint with spare
    channels (pose-ae-train's 68).
    """

    def __init__(self, num_keypoints: int, stacks: int = 4, width: int = 256,
                 increase: int = 128, tag_dim: int = 1, out_channels: int | None = None):
        super().__init__()
        if num_keypoints < 1 or stacks < 1 or width < 1 or tag_dim < 1 or increase < 0:
            raise ValueError("num_keypoints, stacks, width, tag_dim must be >= 1 and increase >= 0")
        self.num_keypoints, self.stacks, self.tag_dim = num_keypoints, stacks, tag_dim
        self.used_channels = num_keypoints * (1 + tag_dim)
        out_dim = self.used_channels if out_channels is None else out_channels
        if out_dim < self.used_channels:
            raise ValueError(f"out_channels {out_dim} < K*(1+tag_dim) = {self.used_channels}")
        self.out_channels = out_dim
        self.pre = nn.Sequential(
            Conv(3, 64, 7, 2),
            Conv(64, 128),
            nn.MaxPool2d(2, 2),
            Conv(128, 128),
            Conv(128, width),
        )
        self.features = nn.ModuleList(
            nn.Sequential(Hourglass(4, width, increase), Conv(width, width, 3), Conv(width, width, 3))
            for _ in range(stacks))
        self.outs = nn.ModuleList(Conv(width, out_dim, 1, relu=False) for _ in range(stacks))
        self.merge_features = nn.ModuleList(Merge(width, width) for _ in range(stacks - 1))
        self.merge_preds = nn.ModuleList(Merge(out_dim, width) for _ in range(stacks - 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, S, S), got {tuple(images.shape)}")
        if images.shape[2] % 64 or images.shape[3] % 64:
            raise ValueError(f"image sides must be multiples of 64, got {tuple(images.shape[2:])}")
        x = self.pre(images)
        preds = []
        for i in range(self.stacks):
            feature = self.features[i](x)
            preds.append(self.outs[i](feature))
            if i < self.stacks - 1:
                # next stack sees its input plus both this stack's features and predictions
                x = x + self.merge_preds[i](preds[-1]) + self.merge_features[i](feature)
        return torch.stack(preds, 1)[:, :, :self.used_channels]

"""The dataset with the sequential model's disk targets (R = 3), for the data tests that read
``parts`` and ``people``: the dataset itself makes no targets unless given a codec."""
from __future__ import annotations

from benchmarks.data import CocoCrowdDataset
from benchmarks.data.targets import DiskTargets


def disk_dataset(path, input_size: int = 512, output_stride: int = 4, **kw) -> CocoCrowdDataset:
    return CocoCrowdDataset(path, input_size=input_size, output_stride=output_stride,
                            encoder=DiskTargets(3, input_size // output_stride), **kw)

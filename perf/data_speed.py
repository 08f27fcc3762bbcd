"""Samples per second per core of the seqpose data pipeline (benchmarks.data).

Writes a synthetic COCO-crowd set at COCO sizes (640x480 JPEG source photos,
crowd regions of 2-6 people cut as PNG crops, some ignored people), then,
on one core (torch.set_num_threads(1)) and interleaved to share the
machine's noise, times:
  decode   = open + decode each sample's source JPEG     (the reference)
  train    = CocoCrowdDataset(train=True) samples: source decode, one affine
             warp, ImageNet normalisation, part / person disks, loss mask
  crop     = the same from the PNG crops (use_source_images=False)
  eval     = train=False: letterboxed crop, no augmentation
and prints samples/s, the ratio to decode, and pass/fail of `train`
against 50 samples/s per core (16 cores then feed a GPU at 800/s).

    python perf/data_speed.py [--sources 40] [--size 512] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from benchmarks.data import CocoCrowdDataset, collate_people
from benchmarks.data.fixtures import random_crowd_dataset
from benchmarks.data.targets import DiskTargets

TARGET = 50.0


def time_decode(ds: CocoCrowdDataset) -> float:
    t = time.perf_counter()
    for rec in ds.crowd.images:
        with Image.open(rec.source_path) as img:
            img.convert("RGB")
    return time.perf_counter() - t


def time_samples(ds: CocoCrowdDataset, epoch: int) -> float:
    ds.set_epoch(epoch)
    t = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=40, help="synthetic 640x480 source photos (2 crowd regions each)")
    ap.add_argument("--size", type=int, default=512, help="network input size S (the paper: 512)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds; medians are reported")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic set and the augmentation")
    args = ap.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="seqpose-data-speed-") as tmp:
        path = random_crowd_dataset(Path(tmp), num_sources=args.sources, regions_per_source=2,
                                    source_size=(640, 480), people=(2, 6), seed=args.seed)
        disks = DiskTargets(3, args.size // 4)   # the sequential model's targets, as measured before
        modes = {
            "train": CocoCrowdDataset(path, input_size=args.size, seed=args.seed, encoder=disks),
            "crop": CocoCrowdDataset(path, input_size=args.size, seed=args.seed, use_source_images=False,
                                     encoder=disks),
            "eval": CocoCrowdDataset(path, input_size=args.size, train=False, encoder=disks),
        }
        ds = modes["train"]
        n = len(ds)
        people = sum(int((im.members[..., 2] > 0).any(1).sum()) for im in ds.crowd.images)
        sides = sorted(max(im.width, im.height) for im in ds.crowd.images)
        print(f"{n} crowd regions from {args.sources} 640x480 JPEGs, {people} labelled members "
              f"({people / n:.1f} per region), crop long side median {sides[n // 2]} px; S={args.size}, 1 thread")
        time_samples(ds, 0)  # warm caches and imports
        times: dict[str, list[float]] = {"decode": [], **{m: [] for m in modes}}
        for r in range(args.repeats):
            times["decode"].append(time_decode(ds))
            for name, d in modes.items():
                times[name].append(time_samples(d, r + 1))
        samples = [ds[i] for i in range(min(n, 8))]
        t = time.perf_counter()
        batch = collate_people(samples)
        t_collate = time.perf_counter() - t

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'step':<8}{'samples/s':>12}{'ms/sample':>12}{'x decode':>10}")
    for name in times:
        print(f"{name:<8}{n / med[name]:>12.1f}{1000 * med[name] / n:>12.2f}{med[name] / med['decode']:>10.2f}")
    print(f"collate_people of {len(samples)} samples: {1000 * t_collate:.1f} ms "
          f"(people padded to {tuple(batch['people'].shape)})")
    rate = n / med["train"]
    verdict = "PASS" if rate >= TARGET else "FAIL"
    print(f"{verdict}: train pipeline {rate:.1f} samples/s per core (target >= {TARGET:.0f})")


if __name__ == "__main__":
    main()

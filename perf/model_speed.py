"""Speed of the sequential pose model and of its data pipeline, with in-process references.

Measures, at one input size (default 512):

* training images/s of SeqPose (forward over P + 2 decoder steps, Eq. 3 loss with Hungarian
  matching, backward, Adam step), against the same step of the bare torchvision backbone
  (forward, mean of the last feature map, backward, Adam) in the same process;
* inference images/s (``SeqPose.infer`` decoding P people then the stop step), against a
  forward pass of the bare backbone;
* the data pipeline's samples/s on one core (``CrowdPoseDataset`` in training mode: source
  image decode, affine warp, normalisation, part/person targets and mask), against decoding
  the same source images alone.

    python perf/model_speed.py                                  # CPU, ResNet-50, 512
    python perf/model_speed.py --device cuda --amp bf16 --batch 16
    python perf/model_speed.py --gt coco-crowd/annotations/crowd_train2014.json   # real data

Each measurement runs a few warm-up steps, then timed steps until ``--steps`` or
``--seconds`` is reached, whichever comes first. Prints a compact table; ``--json`` also
writes the numbers.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.seqpose.loss import seqpose_loss  # noqa: E402
from benchmarks.seqpose.model import BACKBONES, SeqPose  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_against(reference, fn, device: torch.device, warmup: int, steps: int, seconds: float
                  ) -> tuple[float, float, int]:
    """(seconds per call of ``reference``, of ``fn``, timed calls of ``fn``); the reference is
    timed before and after ``fn`` and averaged, so drifting clocks or load favour neither."""
    before, _ = timed(reference, device, warmup, steps, seconds)
    t, n = timed(fn, device, warmup, steps, seconds)
    after, _ = timed(reference, device, 0, steps, seconds)
    return 0.5 * (before + after), t, n


def timed(fn, device: torch.device, warmup: int, steps: int, seconds: float) -> tuple[float, int]:
    """Seconds per call of ``fn`` after ``warmup`` calls; at most ``steps`` calls or ``seconds``."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    start, n = time.perf_counter(), 0
    while n < steps and (n == 0 or time.perf_counter() - start < seconds):
        fn()
        n += 1
    synchronize(device)
    return (time.perf_counter() - start) / n, n


def fake_batch(batch: int, size: int, k: int, people: int, device: torch.device, seed: int = 0) -> dict:
    """A batch in the data pipeline's format with random disk-like targets (speed does not
    depend on the content)."""
    g = torch.Generator().manual_seed(seed)
    m = size // 4
    people_maps = (torch.rand(batch, people, k, m, m, generator=g) > 0.995).float()
    return {"image": torch.randn(batch, 3, size, size, generator=g).to(device),
            "parts": people_maps.amax(dim=1).to(device), "people": people_maps.to(device),
            "people_valid": torch.ones(batch, people, dtype=torch.bool, device=device),
            "mask": torch.ones(batch, 1, m, m, device=device)}


def autocast(device: torch.device, amp: str):
    if amp == "none" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def model_rows(args, device: torch.device) -> list[dict]:
    k, size, people = 17, args.size, args.people
    torch.manual_seed(0)
    batch = fake_batch(args.batch, size, k, people, device)
    scaler = torch.amp.GradScaler("cuda", enabled=args.amp == "fp16" and device.type == "cuda")

    backbone = BACKBONES[args.backbone](weights=None).to(device)
    body = torch.nn.Sequential(*list(backbone.children())[:-2])   # up to layer4, as the localizer uses
    opt_b = torch.optim.Adam(body.parameters(), lr=1e-4)

    def backbone_train():
        with autocast(device, args.amp):
            loss = body(batch["image"]).float().mean()
        scaler.scale(loss).backward()
        scaler.step(opt_b)
        scaler.update()
        opt_b.zero_grad(set_to_none=True)

    model = SeqPose(k, args.backbone, "none", "batch").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def seqpose_train():
        with autocast(device, args.amp):
            out = model(batch["image"], people + 2)
        loss = seqpose_loss(out.part_logits, out.person_logits, batch, max_people=people).total
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    rows = []
    w, s, sec = args.warmup, args.steps, args.seconds
    ref_t, t, n = timed_against(backbone_train, seqpose_train, device, w, s, sec)
    rows.append({"what": f"train {args.backbone} seqpose ({people}+2 steps)", "per_s": args.batch / t,
                 "reference": f"bare {args.backbone} train", "ratio": ref_t / t, "timed_steps": n})

    body.eval()
    model.eval()
    with torch.no_grad():
        def backbone_infer():
            with autocast(device, args.amp):
                body(batch["image"])

        def seqpose_infer():
            with autocast(device, args.amp):
                model.infer(batch["image"], max_steps=people + 1, threshold=0.0)  # P people + stop step
        ref_t, t, n = timed_against(backbone_infer, seqpose_infer, device, w, s, sec)
    rows.append({"what": f"infer {args.backbone} seqpose ({people}+1 steps)", "per_s": args.batch / t,
                 "reference": f"bare {args.backbone} forward", "ratio": ref_t / t, "timed_steps": n})
    return rows


def data_rows(args) -> list[dict]:
    from PIL import Image

    from benchmarks.data import CrowdPoseDataset
    tmp = None
    gt = args.gt
    if gt is None:
        from benchmarks.data.fixtures import random_crowd_dataset
        tmp = tempfile.TemporaryDirectory()
        gt = random_crowd_dataset(tmp.name, num_sources=8, regions_per_source=4, source_size=(640, 480),
                                  people=(2, 6), seed=0)   # COCO-sized JPEG sources
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core: the rate a DataLoader worker gets
    try:
        ds = CrowdPoseDataset(gt, input_size=args.size, train=True)
        n = min(len(ds), args.data_samples)
        order = np.resize(np.arange(len(ds)), args.data_samples)

        def decode_only():
            for i in order[:n]:
                rec = ds.crowd.images[i]
                path = rec.source_path if rec.source_path is not None else rec.crop_path
                with Image.open(path) as im:
                    im.load()

        def pipeline():
            for i in order[:n]:
                ds[int(i)]
        cpu = torch.device("cpu")
        ref_t, t, reps = timed_against(decode_only, pipeline, cpu, 1, 3, args.seconds)
    finally:
        torch.set_num_threads(threads)
        if tmp is not None:
            tmp.cleanup()
    return [{"what": f"data pipeline {args.size}px, 1 core", "per_s": n / t, "reference": "image decode only",
             "ratio": ref_t / t, "timed_steps": reps * n}]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when present)")
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"], help="autocast on CUDA")
    p.add_argument("--size", type=int, default=512, help="input size (pixels)")
    p.add_argument("--backbone", default="resnet50", choices=sorted(BACKBONES), help="ResNet backbone")
    p.add_argument("--batch", type=int, default=None, help="images per step (default 16 on CUDA, 2 on CPU)")
    p.add_argument("--people", type=int, default=3, help="people per image (decoder steps = people + 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 CUDA, 1 CPU)")
    p.add_argument("--steps", type=int, default=10, help="at most this many timed steps per measurement")
    p.add_argument("--seconds", type=float, default=None,
                   help="stop timing a measurement after this long (default 10 CUDA, 20 CPU)")
    p.add_argument("--gt", default=None, help="COCO-crowd file for the data pipeline (default: a generated one)")
    p.add_argument("--data-samples", type=int, default=64, help="samples per data pipeline pass")
    p.add_argument("--skip-model", action="store_true", help="only the data pipeline")
    p.add_argument("--skip-data", action="store_true", help="only the model")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    cuda = device.type == "cuda"
    args.batch = args.batch or (16 if cuda else 2)
    args.warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)
    args.seconds = args.seconds or (10.0 if cuda else 20.0)
    if cuda:
        torch.backends.cudnn.benchmark = True

    rows = []
    if not args.skip_model:
        rows += model_rows(args, device)
    if not args.skip_data:
        rows += data_rows(args)
    name = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}; amp {args.amp if cuda else 'none'}; batch {args.batch}; input {args.size}; "
          f"torch {torch.__version__}")
    print(f"{'measurement':44s} {'per s':>9s}  {'ratio':>6s}  reference (same process)")
    for r in rows:
        print(f"{r['what']:44s} {r['per_s']:9.2f}  {r['ratio']:6.3f}  {r['reference']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "amp": args.amp, "batch": args.batch,
                                               "size": args.size, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

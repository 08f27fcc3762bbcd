"""Speed of every learned method, of Mask R-CNN and of the data pipeline, with in-process references.

Measures, at one input size (default 512):

* for every registered learned method (``ours``, ``ae``; their paper networks unless
  ``--config NAME=PATH``): training images/s (forward, the method's loss on a real encoded batch
  of the data pipeline, backward, Adam step) and inference images/s (forward and the method's
  decoding: the sequential read-out, AE's grouping), each against the same step of the bare
  torchvision ResNet (``--backbone``; forward, mean of the last feature map, backward, Adam) in
  the same process;
* inference images/s of torchvision's Keypoint R-CNN (random weights, its 800 px resize);
* the data pipeline's samples/s on one core (``CocoCrowdDataset`` in training mode: source
  image decode, affine warp, normalisation, part/person targets and mask), against decoding
  the same source images alone.

    python perf/model_speed.py                                  # CPU, 512 px, paper networks
    python perf/model_speed.py --size 128 --config ours=configs/seqpose_cpu_proof.toml \
        --config ae=configs/ae_cpu_proof.toml --backbone resnet18  # the CPU proof networks
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


def autocast(device: torch.device, amp: str):
    if amp == "none" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def sample_file(tmp: str) -> Path:
    """A generated COCO-crowd file with COCO-sized JPEG sources, 2-6 people per region."""
    from benchmarks.data.fixtures import random_crowd_dataset
    return Path(random_crowd_dataset(tmp, num_sources=8, regions_per_source=4, source_size=(640, 480),
                                     people=(2, 6), seed=0))


def method_config(method, args):
    """The method's config: --config NAME=PATH, else its defaults (its paper network) at --size,
    random weights, with --amp."""
    path = dict(spec.split("=", 1) for spec in args.config).get(method.method_name)
    config = method.load_config(path)
    if path is None:
        config.data.input_size = args.size
        if hasattr(config, "model") and hasattr(config.model, "pretrained"):
            config.model.pretrained = "none"
    config.train.amp = args.amp
    return config.validate()


def learned_rows(name: str, args, device: torch.device, gt: Path, reference) -> list[dict]:
    """Training and inference images/s of one learned method on real encoded batches of the
    data pipeline, each against the bare ResNet reference of the same size (same process)."""
    from benchmarks.data import CocoCrowdDataset
    from benchmarks.engine.registry import get_method
    method = get_method(name, progress=False)
    config = method_config(method, args)
    size = config.data.input_size
    dataset = CocoCrowdDataset(gt, input_size=size, train=True, use_source_images=True)
    names = list(dataset.keypoint_names)
    codec = method.codec(config, names)
    dataset.encoder = codec.encode
    batch = codec.collate([dataset[i % len(dataset)] for i in range(args.batch)])
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    torch.manual_seed(0)
    model = method.build_model(config, names, "none").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=args.amp == "fp16" and device.type == "cuda")
    hooks = method.hooks(config)
    values = hooks.epoch_values(10 ** 6) if hooks is not None else {}   # curriculum at its end: every person
    ref_train, ref_infer = reference(size)

    def train_step():
        with autocast(device, args.amp):
            loss = method.losses(model, batch, config, values)["total"]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    w, s, sec = args.warmup, args.steps, args.seconds
    ref_t, t, n = timed_against(ref_train, train_step, device, w, s, sec)
    rows = [{"what": f"train {name} {size}px", "per_s": args.batch / t, "reference": f"bare {args.backbone} train",
             "ratio": ref_t / t, "timed_steps": n}]
    model.eval()
    infer = method.infer(model, config, {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
                         if device.type == "cuda" else None)
    perm = [int(p) for p in dataset.flip_permutation]

    @torch.no_grad()
    def predict_step():  # forward and the method's decoding (read-out or grouping), no flip test
        for raw in infer(batch, False):
            codec.decode(raw, None, perm)

    ref_t, t, n = timed_against(ref_infer, predict_step, device, w, s, sec)
    rows.append({"what": f"infer {name} {size}px (+decode)", "per_s": args.batch / t,
                 "reference": f"bare {args.backbone} forward", "ratio": ref_t / t, "timed_steps": n})
    return rows


def maskrcnn_rows(args, device: torch.device, reference) -> list[dict]:
    """Inference images/s of torchvision's Keypoint R-CNN (random weights, its default resize)."""
    from baselines.maskrcnn import build_detector
    model, _ = build_detector("none", 17, min_size=800, max_size=1333, score_threshold=0.05, detections=100)
    model = model.to(device).eval()
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, args.size, args.size, generator=g).to(device) for _ in range(args.batch)]
    _, ref_infer = reference(args.size)

    @torch.no_grad()
    def predict_step():
        with autocast(device, args.amp):
            model(images)

    ref_t, t, n = timed_against(ref_infer, predict_step, device, args.warmup, args.steps, args.seconds)
    return [{"what": f"infer maskrcnn {args.size}px crops (resized to 800)", "per_s": args.batch / t,
             "reference": f"bare {args.backbone} forward", "ratio": ref_t / t, "timed_steps": n}]


def backbone_reference(args, device: torch.device):
    """reference(size) -> (train step, forward) of the bare ResNet body on a batch of that size."""
    from benchmarks.seqpose.model import BACKBONES
    body = torch.nn.Sequential(*list(BACKBONES[args.backbone](weights=None).children())[:-2]).to(device)
    opt = torch.optim.Adam(body.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=args.amp == "fp16" and device.type == "cuda")

    def reference(size: int):
        image = torch.randn(args.batch, 3, size, size, generator=torch.Generator().manual_seed(1)).to(device)

        def train_step():
            body.train()
            with autocast(device, args.amp):
                loss = body(image).float().mean()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)

        @torch.no_grad()
        def forward():
            body.eval()
            with autocast(device, args.amp):
                body(image)
        return train_step, forward
    return reference


def model_rows(args, device: torch.device) -> list[dict]:
    from benchmarks.engine.registry import learned_methods
    reference = backbone_reference(args, device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gt = sample_file(tmp) if args.gt is None else Path(args.gt)
        for name in args.methods or learned_methods():
            rows += learned_rows(name, args, device, gt, reference)
    if not args.skip_maskrcnn:
        rows += maskrcnn_rows(args, device, reference)
    return rows


def data_rows(args) -> list[dict]:
    from PIL import Image

    from benchmarks.data import CocoCrowdDataset
    tmp = None
    gt = args.gt
    if gt is None:
        tmp = tempfile.TemporaryDirectory()
        gt = sample_file(tmp.name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core: the rate a DataLoader worker gets
    try:
        from benchmarks.data.targets import DiskTargets
        ds = CocoCrowdDataset(gt, input_size=args.size, train=True,
                              encoder=DiskTargets(3, args.size // 4))   # the sequential model's disk targets
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
    p.add_argument("--backbone", default="resnet50", help="ResNet of the in-process reference (resnet18/34/50/101)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="learned methods to time (default: every registered one: ours, ae)")
    p.add_argument("--config", action="append", default=[], metavar="NAME=PATH",
                   help="a method's config (default: its paper network at --size, random weights)")
    p.add_argument("--skip-maskrcnn", action="store_true", help="do not time Mask R-CNN inference")
    p.add_argument("--batch", type=int, default=None, help="images per step (default 16 on CUDA, 2 on CPU)")
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

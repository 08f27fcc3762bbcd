"""Speed of `cococrowd build --no-images` relative to only parsing its input.

Writes (or reuses) a COCO-scale synthetic annotation file (64,000 images,
about 260,000 people, `cococrowd synth --annotations-only`), then times, in
this one process and interleaved to share the machine's noise:
  parse     = read_json(file)                   (orjson, the build's own parser, as Python runs it)
  parse_nogc = the same with the garbage collector paused, as the build pauses it
  build     = run_build(..., no_images=True)    (parse + validate + group + move + write + manifest)
and prints the median ratios build / parse and build / parse_nogc (the strict one).
Target: at most 1.5.

    python perf/build_speed.py [--images 64000] [--repeats 3] [--workdir /tmp/cococrowd-perf]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cococrowd.build import run_build
from cococrowd.cocofile import gc_paused, read_json
from cococrowd.synth import write_world


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64000, help="synthetic source images (COCO train2014: ~64k with people)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved parse/build rounds; the median ratio is reported")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cococrowd-perf",
                    help="where the synthetic file and build output go (the file is reused when present)")
    args = ap.parse_args()

    coco = args.workdir / f"synth{args.images}"
    ann = coco / "annotations" / "person_keypoints_train2014.json"
    if not ann.is_file():
        t = time.perf_counter()
        write_world(coco, "train2014", args.images, seed=0, annotations_only=True, workers=1)
        print(f"wrote {ann} in {time.perf_counter() - t:.1f} s")
    print(f"input: {ann.stat().st_size / 1e6:.0f} MB")

    ratios, strict = [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        data = read_json(ann)
        parse = time.perf_counter() - t
        del data
        with gc_paused():
            t = time.perf_counter()
            data = read_json(ann)
            parse_nogc = time.perf_counter() - t
            del data
        t = time.perf_counter()
        manifest = run_build(split="train2014", coco_root=coco, out=args.workdir / "out", no_images=True,
                             progress=False)
        build = time.perf_counter() - t
        ratios.append(build / parse)
        strict.append(build / parse_nogc)
        print(f"round {r + 1}: parse {parse:.2f} s, parse (gc paused) {parse_nogc:.2f} s, "
              f"build --no-images {build:.2f} s")
    c = manifest["counts"]
    print(f"{c['source_images']} images, {c['source_people']} people -> {c['regions']} regions, "
          f"{c['people_in_regions']} people in regions")
    for label, values in (("build / parse", ratios), ("build / parse with gc paused (strict)", strict)):
        med = statistics.median(values)
        print(f"{label}: {med:.2f} (median of {args.repeats}; target <= 1.5: {'met' if med <= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()

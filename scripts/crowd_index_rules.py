"""How the crowd-index rules compare: the tables of docs/crowd-index.md.

  python scripts/crowd_index_rules.py rules crowdpose_val.json
      every rule tried against CrowdPose's published ``crowdIndex``: share of images within 0.01,
      overall and by people in the image (annotations with iscrowd 0);
  python scripts/crowd_index_rules.py figure crowdpose_val.json docs/crowd_index_agreement.png
      the README's figure: the shipped rules' agreement by people in the image;
  python scripts/crowd_index_rules.py regions FILE...
      for COCO keypoint files (e.g. a synthetic world, the real samples): build COCO-crowd in
      memory and compare the shipped region rule (bystanders reaching into the crop count as
      others) with members only.

The shipped rule is cococrowd/crowdindex.py; the variants here exist only to be measured (the
``shipped`` rows call the shipped function, and ``variant(...)`` with CrowdPose's settings is
checked to give the same values).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np

from cococrowd.build import build_crowd
from cococrowd.cocofile import load_keypoint_file
from cococrowd.crowdindex import bucket, crowd_indices, published


def variant(people: list[dict], *, joints: str = "v>0", min_nk: int = 0, box: str = "bbox", border: str = "incl",
            others: str = "all", subjects_crowd: bool = False, na: str = "labelled", agg: str = "mean") -> float:
    """One image's index under one choice per question (defaults: the paper's formula)."""
    if not people:
        return 0.0
    kp = np.array([a["keypoints"] for a in people], dtype=np.float64).reshape(len(people), -1, 3)
    lab = kp[..., 2] > 0 if joints == "v>0" else kp[..., 2] == 2
    n_a = lab.sum(1) if na == "labelled" else np.array([a.get("num_keypoints", 0) for a in people])
    nk = np.array([a.get("num_keypoints", int(l.sum())) for a, l in zip(people, kp[..., 2] > 0)])
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in people])
    subj = (n_a > 0) & (nk >= min_nk) & (subjects_crowd | ~crowd)
    ok_other = {"all": np.ones(len(people), bool), "no_iscrowd": ~crowd, "subjects": subj}[others]
    nums, dens = [], []
    for i in np.flatnonzero(subj):
        if box == "bbox":
            x, y, w, h = people[i]["bbox"]
            x1, y1 = x + w, y + h
        else:  # the joints' extent
            m = kp[i, :, 2] > 0
            x, y, x1, y1 = kp[i, m, 0].min(), kp[i, m, 1].min(), kp[i, m, 0].max(), kp[i, m, 1].max()
        o = (np.arange(len(people)) != i) & ok_other
        px, py = kp[o, :, 0], kp[o, :, 1]
        if border == "incl":
            inside = (px >= x) & (px <= x1) & (py >= y) & (py <= y1)
        else:
            inside = (px > x) & (px < x1) & (py > y) & (py < y1)
        nums.append(int((inside & lab[o]).sum()))
        dens.append(int(n_a[i]))
    if not nums:
        return 0.0
    if agg == "sum":
        return sum(nums) / sum(dens)
    return float(np.mean(np.array(nums) / np.array(dens)))


CROWDPOSE = dict(min_nk=4)
RULES = [  # (name, settings); "shipped:..." rows call cococrowd.crowdindex itself
    ("shipped: crowdpose (num_keypoints >= 4 averaged, everyone's joints as others)", "shipped:crowdpose"),
    ("shipped: paper (every person averaged)", "shipped:paper"),
    ("paper, visible joints only (v = 2)", dict(joints="v=2")),
    ("paper, strict box borders", dict(border="strict")),
    ("paper, iscrowd annotations left out", dict(others="no_iscrowd")),
    ("paper, N_a = the num_keypoints field", dict(na="num_keypoints")),
    ("paper, box = the joints' extent", dict(box="joints")),
    ("paper, sum N_b / sum N_a (ratio of sums)", dict(agg="sum")),
    *[(f"num_keypoints >= {t} averaged", dict(min_nk=t)) for t in (2, 3, 5, 6)],
    ("num_keypoints >= 4, others: subjects only", dict(CROWDPOSE, others="subjects")),
    ("num_keypoints >= 4, iscrowd annotations left out", dict(CROWDPOSE, others="no_iscrowd")),
    ("num_keypoints >= 4, strict box borders", dict(CROWDPOSE, border="strict")),
    ("num_keypoints >= 4, visible joints only (v = 2)", dict(CROWDPOSE, joints="v=2")),
    ("num_keypoints >= 4, N_a = the num_keypoints field", dict(CROWDPOSE, na="num_keypoints")),
]


def rules_table(path: str) -> str:
    ds = load_keypoint_file(path)
    per_image = defaultdict(list)
    for a in ds.annotations:
        per_image[a["image_id"]].append(a)
    published_values = np.array([im["crowdIndex"] for im in ds.images], dtype=np.float64)
    people = np.array([sum(not a.get("iscrowd", 0) for a in per_image[im["id"]]) for im in ds.images])
    groups = [(str(n), people == n) for n in range(1, 9)] + [(">=9", people >= 9)]
    head = "| rule | within 0.01 | equal (2 decimals) | " + " | ".join(f"{g} people" for g, _ in groups) + " |"
    lines = [head, "|" + "---|" * (3 + len(groups)),
             "| images | | | " + " | ".join(f"{int(m.sum())}" for _, m in groups) + " |"]
    k = ds.schema.num_keypoints
    for name, settings in RULES:
        if isinstance(settings, str):
            exact = np.array(crowd_indices(ds.images, ds.annotations, k, ds.source, rule=settings.split(":")[1]))
            if settings == "shipped:crowdpose":  # the measured variant is the shipped rule
                again = np.array([variant(per_image[im["id"]], **CROWDPOSE) for im in ds.images])
                assert np.allclose(again, exact), "variant(min_nk=4) is not the shipped rule"
        else:
            exact = np.array([variant(per_image[im["id"]], **settings) for im in ds.images])
        rounded = np.array([published(v) for v in exact])  # as files carry it, as `crowd-index` compares
        ok = np.abs(rounded - published_values) <= 0.01 + 1e-9
        equal = rounded == published_values
        cells = [f"{ok[m].mean() * 100:.0f}%" for _, m in groups]
        lines.append(f"| {name} | {ok.sum():,} ({ok.mean() * 100:.1f}%) | {equal.sum():,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(path: str, png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cococrowd.cocofile import atomic_output

    ds = load_keypoint_file(path)
    pub = np.array([im["crowdIndex"] for im in ds.images])
    people = np.zeros(len(ds.images), dtype=np.int64)
    for a in ds.annotations:
        people[ds.image_index[a["image_id"]]] += not a.get("iscrowd", 0)
    groups = [(str(n), people == n) for n in range(1, 9)] + [("\u22659", people >= 9)]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=200, layout="constrained")
    x = np.arange(len(groups))
    for shift, (rule, colour, name) in zip((-0.2, 0.2), (("paper", "#c0504d", "the paper's formula"),
                                                        ("crowdpose", "#3b6ea8", "cococrowd's rule"))):
        got = np.array([published(v) for v in crowd_indices(ds.images, ds.annotations, ds.schema.num_keypoints,
                                                             ds.source, rule=rule)])
        ok = np.abs(got - pub) <= 0.01 + 1e-9
        ax.bar(x + shift, [ok[m].mean() * 100 for _, m in groups], width=0.4, color=colour,
               label=f"{name}: {ok.mean() * 100:.1f}% of {len(ok):,}")
    ax.set_xticks(x, [f"{g}\n({int(m.sum())})" for g, m in groups], fontsize=8)
    ax.set_xlabel("people in the image (images)")
    ax.set_ylabel("images within 0.01 of CrowdPose's (%)")
    ax.set_title("Crowd index vs CrowdPose's published values (crowdpose_val.json)", fontsize=10)
    ax.set_ylim(0, 122)
    ax.legend(fontsize=8, frameon=False, loc="upper center", ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    with atomic_output(png) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


def regions_table(paths: list[str]) -> str:
    lines = ["| source | regions | index differs | mean index: bystanders too | "
             "mean index: members only | bucket changes |", "|---|---|---|---|---|---|"]
    for path in paths:
        ds = load_keypoint_file(path)
        crowd = build_crowd(ds).crowd
        k = ds.schema.num_keypoints
        both = np.array(crowd_indices(crowd["images"], crowd["annotations"], k, path))
        members = [a for a in crowd["annotations"] if not a["ignore"]]
        only = np.array(crowd_indices(crowd["images"], members, k, path))
        rounded = [(published(a), published(b)) for a, b in zip(both, only)]
        changes = sum(bucket(a) != bucket(b) for a, b in rounded)
        n = len(both)
        lines.append(f"| {path} | {n:,} | {int((both != only).sum()):,} ({(both != only).mean() * 100 if n else 0:.1f}%) | "
                     f"{both.mean() if n else 0:.3f} | {only.mean() if n else 0:.3f} | {changes:,} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("rules", help="every rule against CrowdPose's published values")
    r.add_argument("file", help="crowdpose_val.json (or any file whose images carry crowdIndex)")
    f = sub.add_parser("figure", help="the README's agreement figure")
    f.add_argument("file", help="crowdpose_val.json")
    f.add_argument("png", help="where to write the PNG")
    g = sub.add_parser("regions", help="COCO-crowd regions: bystanders too vs members only")
    g.add_argument("files", nargs="+", help="COCO keypoint files to build COCO-crowd from in memory")
    args = p.parse_args(argv)
    if args.what == "figure":
        figure(args.file, args.png)
        return 0
    print(rules_table(args.file) if args.what == "rules" else regions_table(args.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`cococrowd crowd-index`: CrowdPose's crowd index of every image of any COCO keypoint file.

A table per image (the index as files carry it, its exact value, its bucket, the file's own
``crowdIndex`` and the difference), how often the two agree, and a copy of the file with
``crowdIndex`` on every image so any dataset can be scored by CrowdPose's buckets. The rule
itself lives in :mod:`cococrowd.crowdindex`.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .cocofile import ValidatedDataset, annotation_paths, atomic_output, dump_json, \
    load_keypoint_file, write_temp
from .crowdinfo import check_crowd_fields
from .crowdindex import AGREE_WITHIN, CROWD_INDEX_BUCKETS, DEFAULT_RULE, bucket, crowd_indices, published

COLUMNS = ["image_id", "num_people", "crowd_index", "crowd_index_exact", "bucket", "file_crowdIndex", "difference"]


@dataclass
class IndexTable:
    source: str
    rule: str
    table: pd.DataFrame   # one row per image, COLUMNS

    @property
    def compared(self) -> pd.DataFrame:
        return self.table[self.table["file_crowdIndex"].notna()]


def index_table(ds: ValidatedDataset, rule: str = DEFAULT_RULE) -> IndexTable:
    exact = crowd_indices(ds.images, ds.annotations, ds.schema.num_keypoints, ds.source, rule=rule,
                          json_paths=lambda: annotation_paths(ds.data, ds.annotations))
    people = np.zeros(len(ds.images), dtype=np.int64)
    for a in ds.annotations:
        if not (a.get("iscrowd", 0) or a.get("ignore", 0)):
            people[ds.image_index[a["image_id"]]] += 1
    own = [im.get("crowdIndex") for im in ds.images]  # checked by check_crowd_fields
    rounded = [published(v) for v in exact]
    table = pd.DataFrame({
        "image_id": [im["id"] for im in ds.images], "num_people": people, "crowd_index": rounded,
        "crowd_index_exact": np.round(exact, 6), "bucket": [bucket(v) for v in rounded],
        "file_crowdIndex": pd.array(own, dtype="Float64"),
    })
    table["difference"] = (table["crowd_index"] - table["file_crowdIndex"]).round(6)
    return IndexTable(source=ds.source, rule=rule, table=table[COLUMNS])


def agreement(t: IndexTable) -> dict:
    """How often the computed index agrees with the file's own (within AGREE_WITHIN), overall
    and by people in the image; empty when the file has no ``crowdIndex``."""
    c = t.compared
    if not len(c):
        return {}
    diff = c["difference"].astype(float)
    ok = diff.abs() <= AGREE_WITHIN + 1e-9
    by = {int(n): (int(ok[g.index].sum()), len(g)) for n, g in c.groupby("num_people")}
    return {"images": len(c), "agree": int(ok.sum()), "share": float(ok.mean()),
            "mean_abs_difference": float(diff.abs().mean()), "max_abs_difference": float(diff.abs().max()),
            "lower": int((diff < -AGREE_WITHIN - 1e-9).sum()), "higher": int((diff > AGREE_WITHIN + 1e-9).sum()),
            "by_people": by}


def summary_lines(t: IndexTable) -> list[str]:
    tab = t.table
    n = len(tab)
    shares = ", ".join(f"{label} {int((tab['bucket'] == label).sum()):,} ({(tab['bucket'] == label).mean() * 100 if n else 0:.1f}%)"
                       for label, _, _ in CROWD_INDEX_BUCKETS)
    lines = [f"{n:,} images of {Path(t.source).name}, rule {t.rule}: {shares}"]
    a = agreement(t)
    if not a:
        lines.append("the file has no crowdIndex of its own to compare with")
        return lines
    lines.append(f"the file's own crowdIndex ({a['images']:,} images): {a['agree']:,} agree within {AGREE_WITHIN} "
                 f"({a['share'] * 100:.1f}%); mean |difference| {a['mean_abs_difference']:.4f}, "
                 f"max {a['max_abs_difference']:.2f}; {a['lower']:,} computed lower, {a['higher']:,} higher")
    lines.append("agreement by people in the image: " + ", ".join(
        f"{k}: {ok}/{tot} ({ok / tot * 100:.0f}%)" for k, (ok, tot) in a["by_people"].items()))
    return lines


def with_crowd_index(ds: ValidatedDataset, t: IndexTable) -> bytes:
    """The input file's JSON with ``crowdIndex`` (as files carry it) on every image."""
    for im, v in zip(ds.images, t.table["crowd_index"].tolist()):
        im["crowdIndex"] = v
    return dump_json(ds.data, source=ds.source)


def run_crowd_index(in_file: str | os.PathLike, *, out: str | os.PathLike | None = None,
                    write: str | os.PathLike | None = None, rule: str = DEFAULT_RULE) -> IndexTable:
    """Compute, then write the CSV and the copy together (every output or none)."""
    if out is not None and Path(out).resolve() == Path(in_file).resolve():
        raise ValueError(f"{out}: --out would replace the input file --in with a CSV; choose another path")
    if out is not None and write is not None and Path(out).resolve() == Path(write).resolve():
        raise ValueError(f"{out}: --out and --write name the same file")
    for path in (out, write):
        if path is not None and Path(path).is_dir():
            raise FileExistsError(f"{path}: is a folder, but a file is to be written there")
    ds = load_keypoint_file(in_file)
    check_crowd_fields(ds)  # ignore, num_keypoints, crowdIndex: the one rule of each field
    t = index_table(ds, rule)
    payloads = []  # everything encoded before any output is opened: a bad value leaves nothing
    if out is not None:
        buf = io.StringIO()
        t.table.to_csv(buf, index=False)
        payloads.append((Path(out), buf.getvalue().encode()))
    if write is not None:
        payloads.append((Path(write), with_crowd_index(ds, t)))
    with contextlib.ExitStack() as stack:
        for path, data in payloads:
            write_temp(stack.enter_context(atomic_output(path)), data, path)
    return t


# ---------------------------------------------------------------- distribution (cococrowd stats)

BIN = 0.1       # bin edges fall on the bucket limits 0.2 and 0.8
LAST_BIN = 1.5  # values from here on share one bin (CrowdPose's reach 3.02)


def region_crowd_indices(crowd: dict, source: str) -> tuple[list[float], str]:
    """The index of every image of a COCO-crowd dict: its own ``crowdIndex`` where every image has
    one (what `bench score` buckets), else computed by the one rule (files built before it)."""
    images = crowd["images"]
    if images and all("crowdIndex" in im for im in images):
        return [float(im["crowdIndex"]) for im in images], "the file's crowdIndex"
    person = next(c for c in crowd["categories"] if "keypoints" in c)
    exact = crowd_indices(images, crowd["annotations"], len(person["keypoints"]), source)
    return [published(v) for v in exact], "computed (the file has no crowdIndex)"


def index_histogram(values) -> pd.DataFrame:
    """Regions per 0.1-wide bin of the index (the last bin open-ended), with their bucket."""
    v = np.asarray(values, dtype=np.float64)
    last = int(round(LAST_BIN / BIN))
    bins = np.minimum(np.floor(np.round(v / BIN, 6)).astype(np.int64), last)
    counts = np.bincount(bins, minlength=last + 1)
    lo = np.arange(last + 1) * BIN
    return pd.DataFrame({"crowd_index_from": lo.round(1), "crowd_index_to": np.append(lo[1:], np.inf).round(1),
                         "bucket": [bucket(x) for x in lo], "regions": counts,
                         "share_pct": (counts / max(len(v), 1) * 100).round(2)})


def bucket_shares(values) -> dict[str, tuple[int, float]]:
    """label -> (images, share in %) for CrowdPose's three buckets."""
    labels = [bucket(v) for v in values]
    n = max(len(labels), 1)
    return {lab: (labels.count(lab), labels.count(lab) / n * 100) for lab, _, _ in CROWD_INDEX_BUCKETS}


def histogram_plot(table: pd.DataFrame, shares: dict, path: str | os.PathLike, title: str) -> None:
    """Bars per bin, coloured by bucket, each bucket's share in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"easy": "#6aa84f", "medium": "#3b6ea8", "hard": "#c0504d"}
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=200, layout="constrained")
    x = np.arange(len(table))
    for label, (n, share) in shares.items():
        m = (table["bucket"] == label).to_numpy()
        ax.bar(x[m], table["regions"].to_numpy()[m], width=0.85, color=colours[label], edgecolor="0.2",
               linewidth=0.4, label=f"{label}: {n:,} ({share:.1f}%)")
    names = [f"{a:.1f}" for a in table["crowd_index_from"]]
    names[-1] = f"\u2265{names[-1]}"
    ax.set_xticks(x, names, fontsize=7, rotation=45)
    ax.set_xlabel("crowd index (bin start; easy < 0.2 \u2264 medium < 0.8 \u2264 hard)")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    from .plots import save_figure
    save_figure(fig, path)

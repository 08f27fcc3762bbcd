"""The distributions of the paper's Figure 3 and a summary against its published counts.

(a) people per source image, (b) people per COCO-crowd image, (c) overlaps per
person: with how many others a person of a crowd region pairs at the IoU
threshold (its degree in the crowd-pair graph). Each is written as a Markdown
table (in ``stats.md``), a CSV and a PNG bar plot; the summary goes to stdout
and ``stats.md``, with the paper's figures beside ours when the input is the
split the paper used.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .cocofile import (CocoFormatError, ValidatedDataset, load_keypoint_file, read_json, staged_folder,
                       write_temp)
from .crowdinfo import check_crowd_fields, is_member, read_crowd_info
from .overlap import crowd_pairs, overlaps_per_person
from .split import check_crowd_file

# Section 3 of the paper. val2014's total is the sum of its two published halves.
PAPER: dict[str, dict[str, str]] = {
    "train2014": {"crowd regions (COCO-crowd images)": "14,003", "people in regions (instances)": "35,148"},
    "val2014": {"crowd regions (COCO-crowd images)": "6,672 (3,336 + 3,336)", "val images": "3,336",
                "test images": "3,336"},
}


@dataclass(frozen=True)
class Distribution:
    """One count distribution: ``counts`` maps an integer value to how many items have it."""

    name: str        # file stem
    title: str
    value: str       # what the value counts (x axis / first column)
    items: str       # what is counted (y axis / second column)
    counts: pd.Series

    def table(self) -> pd.DataFrame:
        total = int(self.counts.sum())
        share = self.counts / total * 100 if total else self.counts * 0.0
        return pd.DataFrame({self.value: self.counts.index.astype(int), self.items: self.counts.to_numpy(),
                             "share (%)": share.round(2).to_numpy()})


@dataclass
class Stats:
    summary: pd.DataFrame
    distributions: list[Distribution]
    notes: list[str] = field(default_factory=list)
    crowd_index: tuple | None = None  # (histogram table, bucket shares, where the values came from)


def _counts(values) -> pd.Series:
    s = pd.Series(np.asarray(values, dtype=np.int64)).value_counts().sort_index()
    s.index = s.index.astype(int)
    return s.astype(int)


# ---------------------------------------------------------------- inputs

def load_crowd_file(path: str | os.PathLike) -> dict:
    """Read a COCO-crowd file and check the fields stats needs."""
    data = read_json(path)
    check_crowd_file(data, path)
    for n, a in enumerate(data["annotations"]):
        for key in ("image_id", "bbox"):
            if key not in a:
                raise CocoFormatError(path, f"annotations[{n}].{key}", "missing key")
    return data


def check_source_matches(crowd: dict, ds: ValidatedDataset, crowd_path) -> None:
    unknown = [im["source_image_id"] for im in crowd["images"] if im["source_image_id"] not in ds.image_index]
    if unknown:
        raise CocoFormatError(crowd_path, "images[].source_image_id",
                              f"{len(unknown)} regions come from images not in {ds.source} "
                              f"(e.g. id {unknown[0]}); was the file built from that source?")


def members(crowd: dict) -> list[dict]:
    """Annotations of the people that make up each region (not the ignored ones)."""
    return [a for a in crowd["annotations"] if is_member(a)]


def crowd_iou(crowd: dict, iou: float | None, crowd_path) -> float:
    built = read_crowd_info(crowd, crowd_path).iou
    if iou is not None and built is not None and not np.isclose(iou, built):
        raise ValueError(f"{crowd_path}: built with --iou {built}; stats --iou {iou} would count other overlaps "
                         "(leave --iou out, or build again)")
    return float(iou if iou is not None else built if built is not None else 0.1)


# ---------------------------------------------------------------- the three distributions

def people_per_source_image(ds: ValidatedDataset) -> tuple[pd.Series, int]:
    """(a) people (non-crowd person annotations) per source image that has any,
    and how many images have none."""
    per = np.zeros(len(ds.images), dtype=np.int64)
    for a in ds.annotations:
        if not a.get("iscrowd", 0):
            per[ds.image_index[a["image_id"]]] += 1
    return _counts(per[per > 0]), int((per == 0).sum())


def people_per_crowd_image(crowd: dict) -> pd.Series:
    """(b) group size of every COCO-crowd image."""
    return _counts([im["num_people"] for im in crowd["images"]])


def overlap_degrees(crowd: dict, iou: float, source: ValidatedDataset | None = None,
                    crowd_path="COCO-crowd file") -> np.ndarray:
    """(c) for each region member, how many others its box pairs with.

    With the source, pairs are computed on the source boxes exactly as the
    build did; without it, on the members' crop-coordinate boxes (the same
    pairs: a member's box moves by the crop offset only)."""
    people = members(crowd)
    if source is not None:
        anns = [a for a in source.annotations if not a.get("iscrowd", 0)]
        pos = np.fromiter((source.image_index[a["image_id"]] for a in anns), dtype=np.int64, count=len(anns))
        order = np.argsort(pos, kind="stable")
        boxes = np.array([anns[k]["bbox"] for k in order], dtype=np.float64).reshape(-1, 4)
        i, j = crowd_pairs(pos[order], boxes, iou)
        degree = overlaps_per_person(len(anns), i, j)
        by_id = {anns[k]["id"]: int(degree[n]) for n, k in enumerate(order)}
        out = []
        for n, a in enumerate(people):
            if "source_annotation_id" not in a:
                raise CocoFormatError(crowd_path, f"annotations[{crowd['annotations'].index(a)}].source_annotation_id",
                                      "missing key: not a COCO-crowd file (make one with `cococrowd build`)")
            if a["source_annotation_id"] not in by_id:
                raise CocoFormatError(crowd_path, f"annotations[{crowd['annotations'].index(a)}].source_annotation_id",
                                      f"{a['source_annotation_id']!r} is no person of {source.source}")
            out.append(by_id[a["source_annotation_id"]])
        return np.asarray(out, dtype=np.int64)
    image_of = np.array([a["image_id"] for a in people], dtype=np.int64)
    order = np.argsort(image_of, kind="stable")
    boxes = np.array([people[k]["bbox"] for k in order], dtype=np.float64).reshape(-1, 4)
    i, j = crowd_pairs(image_of[order], boxes, iou)
    degree = np.empty(len(people), dtype=np.int64)
    degree[order] = overlaps_per_person(len(people), i, j)
    return degree


# ---------------------------------------------------------------- summary

def split_sizes(crowd: dict, split_files: list[tuple[str, dict]]) -> dict[str, tuple[int, int]]:
    """name -> (images, people) from the images' ``split`` field and from split files."""
    sizes: dict[str, tuple[int, int]] = {}
    for im in crowd["images"]:
        if im.get("split"):
            n, p = sizes.get(im["split"], (0, 0))
            sizes[im["split"]] = (n + 1, p + im["num_people"])
    for name, data in split_files:
        sizes[name] = (len(data["images"]), int(sum(im["num_people"] for im in data["images"])))
    return sizes


def _fmt(v) -> str:
    if v is None:
        return "\u2014"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return f"{float(v):,.2f}"


def summarize(crowd: dict, source: ValidatedDataset | None, degrees: np.ndarray, source_split: str | None,
              split_files: list[tuple[str, dict]]) -> pd.DataFrame:
    sizes = np.array([im["num_people"] for im in crowd["images"]], dtype=np.int64)
    per_source = pd.Series([im["source_image_id"] for im in crowd["images"]]).value_counts()
    rows: list[tuple[str, object]] = []
    if source is not None:
        people, empty = people_per_source_image(source)
        rows += [("source images", len(source.images)),
                 ("source images with people", int(people.sum())),
                 ("source people (non-crowd person annotations)", int((people.index * people).sum())),
                 ("source images without people", empty)]
    rows += [("crowd regions (COCO-crowd images)", len(sizes)),
             ("people in regions (instances)", int(sizes.sum())),
             ("ignored annotations in regions (non-members, iscrowd)", len(crowd["annotations"]) - len(degrees)),
             ("source images with regions", int(len(per_source))),
             ("regions per source image with regions: mean", float(per_source.mean()) if len(per_source) else None),
             ("regions per source image with regions: max", int(per_source.max()) if len(per_source) else None),
             ("group size: mean", float(sizes.mean()) if len(sizes) else None),
             ("group size: max", int(sizes.max()) if len(sizes) else None),
             ("overlaps per person: mean", float(degrees.mean()) if len(degrees) else None)]
    for name, (n_img, n_people) in split_sizes(crowd, split_files).items():
        rows += [(f"{name} images", n_img), (f"{name} people", n_people)]
    table = pd.DataFrame({"quantity": [r[0] for r in rows], "this run": [_fmt(r[1]) for r in rows]})
    synthetic = read_crowd_info(crowd, "the COCO-crowd file").synthetic
    paper = None if synthetic else PAPER.get(source_split or "")  # COCO's figures say nothing of synth
    if paper:
        table[f"paper ({source_split})"] = [paper.get(q, "") for q in table["quantity"]]
        for q, v in paper.items():  # a published figure we could not measure still shows
            if q not in set(table["quantity"]):
                table.loc[len(table)] = [q, "\u2014", v]
    return table


# ---------------------------------------------------------------- the command

def source_split_of(crowd: dict | None, split: str | None, source_path: str | os.PathLike | None) -> str | None:
    if split:
        return split
    info = read_crowd_info(crowd or {}, "the COCO-crowd file")
    if info.source_split:
        return info.source_split
    if source_path is not None:
        return Path(source_path).stem.removeprefix("person_keypoints_")
    return None


def compute_stats(*, crowd: dict | None = None, crowd_path=None, source: ValidatedDataset | None = None,
                  source_split: str | None = None, split_files: list[tuple[str, dict]] = (),
                  iou: float | None = None) -> Stats:
    """All tables of one stats run (no files touched). Without ``crowd``, the
    COCO-crowd dict is built in memory from ``source``."""
    notes = []
    if crowd is None:
        if source is None:
            raise ValueError("give a COCO-crowd file (--crowd) or a source (--source, or --split with --coco-root)")
        from .build import build_crowd

        crowd = build_crowd(source, iou=0.1 if iou is None else iou, source_split=source_split).crowd
        crowd_path = "(built in memory)"
        notes.append(f"COCO-crowd built in memory from {Path(source.source).name} at IoU >= {crowd['crowd_info']['iou']}.")
    elif source is not None:
        check_source_matches(crowd, source, crowd_path)
    thr = crowd_iou(crowd, iou, crowd_path)
    degrees = overlap_degrees(crowd, thr, source, crowd_path)
    dists = []
    if source is not None:
        per_source, _ = people_per_source_image(source)
        dists.append(Distribution("people_per_source_image", "(a) People per source image",
                                  "people in the image", "source images", per_source))
    else:
        notes.append("(a) people per source image needs the source annotations (--source, or --split/--coco-root).")
    dists.append(Distribution("people_per_crowd_image", "(b) People per COCO-crowd image",
                              "people in the region", "COCO-crowd images", people_per_crowd_image(crowd)))
    dists.append(Distribution("overlaps_per_person", f"(c) Overlaps per person (box IoU \u2265 {thr:g})",
                              "other people it overlaps", "people", _counts(degrees)))
    summary = summarize(crowd, source, degrees, source_split, list(split_files))
    return Stats(summary=summary, distributions=dists, notes=notes, crowd_index=crowd_index_stats(crowd, crowd_path, summary))


CROWD_INDEX_TITLE = "(d) CrowdPose crowd index per COCO-crowd image"


def crowd_index_stats(crowd: dict, crowd_path, summary: pd.DataFrame) -> tuple:
    """(d) the regions' crowd index in 0.1 bins and the share per bucket (rows of ``summary`` too)."""
    from .crowdindex_file import bucket_shares, index_histogram, region_crowd_indices

    values, origin = region_crowd_indices(crowd, str(crowd_path))
    shares = bucket_shares(values)
    names = {"easy": "easy, < 0.2", "medium": "medium, 0.2-0.8", "hard": "hard, >= 0.8"}
    for label, (_, share) in shares.items():
        summary.loc[len(summary)] = ([f"crowd index {names[label]} (% of regions)", f"{share:.2f}"]
                                     + [""] * (len(summary.columns) - 2))
    return index_histogram(values), shares, origin


def markdown_table(df: pd.DataFrame) -> str:
    """Markdown with the first column left-aligned and the numbers right-aligned."""
    align = ["left"] + ["right"] * (len(df.columns) - 1)
    return df.to_markdown(index=False, disable_numparse=True, colalign=align)


def render_markdown(stats: Stats, title: str) -> str:
    parts = [f"# {title}", "", "## Summary", "", markdown_table(stats.summary), ""]
    if any(c.startswith("paper") for c in stats.summary.columns):
        parts += ["Paper column: the counts published in the paper's section 3 (COCO-crowd from "
                  "COCO 2014), for comparison only.", ""]
    for note in stats.notes:
        parts += [f"- {note}"]
    if stats.notes:
        parts.append("")
    for d in stats.distributions:
        table = d.table()
        table[d.items] = table[d.items].map(lambda v: f"{v:,}")
        table["share (%)"] = table["share (%)"].map(lambda v: f"{v:.2f}")
        parts += [f"## {d.title}", "", markdown_table(table), "", f"![{d.title}]({d.name}.png)", ""]
    if stats.crowd_index is not None:
        table, _, origin = stats.crowd_index
        parts += [f"## {CROWD_INDEX_TITLE}", "", f"Values: {origin}; rule: docs/crowd-index.md.", "",
                  markdown_table(table.astype(str)), "", f"![{CROWD_INDEX_TITLE}](crowd_index.png)", ""]
    return "\n".join(parts)


def write_stats(stats: Stats, out: str | os.PathLike, title: str) -> list[Path]:
    """Every file or none: all are made in a hidden staging folder and renamed into place once
    complete (a full disk leaves no CSV without its stats.md), stats.md last."""
    from .plots import bar_plot

    out = Path(out)
    written = []
    with staged_folder(out, "stats", last=("stats.md",)) as stage:
        def target(name: str) -> Path:
            written.append(out / name)
            return stage / name

        def put(name: str, text: str) -> None:   # a failure names the output, not the stage
            write_temp(target(name), text.encode(), out / name)

        for d in stats.distributions:
            put(f"{d.name}.csv", d.table().rename(columns=lambda c: c.replace(" (%)", "_pct").replace(" ", "_"))
                .to_csv(index=False))
            bar_plot(d.counts, target(f"{d.name}.png"), title=d.title, xlabel=d.value, ylabel=d.items,
                     note=f"n = {int(d.counts.sum()):,}")
        if stats.crowd_index is not None:
            from .crowdindex_file import histogram_plot

            table, shares, _ = stats.crowd_index
            put("crowd_index.csv", table.to_csv(index=False))
            histogram_plot(table, shares, target("crowd_index.png"), CROWD_INDEX_TITLE)
        put("summary.csv", stats.summary.to_csv(index=False))
        put("stats.md", render_markdown(stats, title))
    return written


def run_stats(*, crowd_path=None, source_path=None, split: str | None = None, coco_root=None,
              split_files=(), out="stats", iou: float | None = None) -> tuple[Stats, list[Path]]:
    """Read the inputs, compute everything, then write (nothing is written on a bad input)."""
    from .build import source_paths

    if split is not None or coco_root is not None:
        if source_path is not None:
            raise ValueError("give either --source FILE or --split/--coco-root, not both")
        if split is None or coco_root is None:
            raise ValueError("--split and --coco-root go together (the source is COCO_ROOT/annotations/"
                             "person_keypoints_SPLIT.json)")
        source_path, _, _ = source_paths(split, coco_root, None, None)
    crowd = load_crowd_file(crowd_path) if crowd_path is not None else None
    source = load_keypoint_file(source_path) if source_path is not None else None
    if source is not None:
        check_crowd_fields(source)
    files = []
    for p in split_files:
        data = load_crowd_file(p)
        name = read_crowd_info(data, p).split or Path(p).stem.rsplit("_", 1)[-1]
        files.append((name, data))
    source_split = source_split_of(crowd, split, source_path)
    stats = compute_stats(crowd=crowd, crowd_path=crowd_path, source=source, source_split=source_split,
                          split_files=files, iou=iou)
    title = f"COCO-crowd statistics: {source_split or Path(crowd_path).stem}"
    return stats, write_stats(stats, out, title)

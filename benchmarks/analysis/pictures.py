"""Pictures of an analysis: stacked error-type bars per bucket, and contact sheets of the
worst and best images of each bucket with ground truth and predictions drawn on the crop."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import TYPES

TYPE_COLOURS = {"good": "#2ca02c", "jitter": "#f2c84b", "inversion": "#d62728", "swap": "#ff7f0e",
                "miss": "#9467bd", None: "#9e9e9e"}
GT_COLOUR, PRED_COLOURS = "#00e5ff", ("#ff4081", "#ffd740", "#69f0ae", "#e040fb", "#ffab40", "#40c4ff")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    from cococrowd.plots import save_figure
    save_figure(fig, path, dpi=110)


def plot_error_bars(buckets: list[tuple[str, dict]], title: str, path: Path) -> None:
    """One stacked bar per bucket: the share of each type among its matched keypoints."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.3 * max(len(buckets), 3) + 1.5, 3.6))
    bottom = np.zeros(len(buckets))
    labels = [label for label, _ in buckets]
    for t in TYPES:
        vals = np.array([b["keypoint_errors"]["fractions"][t] or 0.0 for _, b in buckets])
        ax.bar(labels, vals, bottom=bottom, color=TYPE_COLOURS[t], label=t, edgecolor="white", linewidth=0.5)
        bottom += vals
    for x, (_, b) in enumerate(buckets):
        ax.text(x, 1.01, f"n={b['keypoint_errors']['keypoints']}", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of matched keypoints")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    _save(fig, path)


def image_scores(gt, match: np.ndarray, match_oks: np.ndarray) -> np.ndarray:
    """Per image: mean over its people (in AP) of the OKS of the detection matched to each
    (0 when missed); NaN for images without such people."""
    from .background import in_ap
    per_gt = np.zeros(len(gt.ann_ids))
    hit = match >= 0
    np.maximum.at(per_gt, match[hit], match_oks[hit])
    people = in_ap(gt)
    total = np.bincount(gt.ann_image[people], weights=per_gt[people], minlength=gt.num_images)
    count = np.bincount(gt.ann_image[people], minlength=gt.num_images)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _pixels(path: Path | None, width: int, height: int):
    from PIL import Image
    if path is not None and path.is_file():
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB")), True
    return np.full((height, width, 3), 60, dtype=np.uint8), False


def _draw_person(ax, xy: np.ndarray, visible: np.ndarray, skeleton, colour: str, style: str = "-",
                 width: float = 1.0) -> None:
    for a, b in skeleton:
        if visible[a] and visible[b]:
            ax.plot([xy[a, 0], xy[b, 0]], [xy[a, 1], xy[b, 1]], style, color=colour, linewidth=width, alpha=0.9)


def contact_sheet(gt, dt, types: np.ndarray, match: np.ndarray, picks: list[tuple[str, list[int]]],
                  skeleton: list[list[int]], image_paths: dict[int, Path | None], title: str, path: Path) -> None:
    """Rows of images (positions): each crop with the ground-truth skeletons (cyan), hatched
    ignored people, and every prediction's skeleton in its own colour with keypoints coloured by type."""
    import matplotlib.patches as patches
    plt = _plt()
    cols = max(len(p) for _, p in picks)
    fig, axes = plt.subplots(len(picks), cols, figsize=(max(2.6 * cols, 6.5), 2.9 * len(picks) + 0.4), squeeze=False)
    bones = [(a - 1, b - 1) for a, b in skeleton]       # COCO skeletons are 1-based
    for r, (row_label, positions) in enumerate(picks):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_axis_off()
            if c >= len(positions):
                continue
            pos = positions[c]
            rec = gt.image_records[pos]
            img, found = _pixels(image_paths.get(int(gt.image_ids[pos])), int(rec["width"]), int(rec["height"]))
            ax.imshow(img)
            for a in np.flatnonzero(gt.ann_image == pos):
                kp = gt.keypoints[a]
                if gt.iscrowd[a]:
                    x, y, w, h = gt.bbox[a]
                    ax.add_patch(patches.Rectangle((x, y), w, h, fill=False, hatch="///", edgecolor="#bdbdbd",
                                                   linewidth=0.6))
                    continue
                _draw_person(ax, kp[:, :2], kp[:, 2] > 0, bones, "black", width=2.6)   # outline: any background
                _draw_person(ax, kp[:, :2], kp[:, 2] > 0, bones, GT_COLOUR, width=1.4)
            for n, i in enumerate(np.flatnonzero(dt.image == pos)):
                colour = PRED_COLOURS[n % len(PRED_COLOURS)]
                xy = dt.keypoints[i, :, :2]
                _draw_person(ax, xy, dt.keypoints[i, :, 2] > 0, bones, colour, "--")   # v = 0: not predicted
                shown = dt.keypoints[i, :, 2] > 0
                kinds = [TYPES[t] if t >= 0 else None for t in types[i][shown]]
                ax.scatter(xy[shown, 0], xy[shown, 1], s=9, c=[TYPE_COLOURS[k] for k in kinds], edgecolors="black",
                           linewidths=0.3, zorder=3)
            ax.set_xlim(0, rec["width"])
            ax.set_ylim(rec["height"], 0)
            ax.set_title(f"{row_label} | id {int(gt.image_ids[pos])}" + ("" if found else " (no pixels)"), fontsize=7)
    handles = [patches.Patch(color=TYPE_COLOURS[t], label=t) for t in TYPES]
    handles.append(patches.Patch(color=GT_COLOUR, label="ground truth"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    _save(fig, path)

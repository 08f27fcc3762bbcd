"""`cococrowd show`: COCO-crowd images drawn on their source images, to check a curated file by
eye: the crop box, each group member's skeleton in its own colour, and the ignored people
(bystanders and iscrowd regions reaching into the crop) hatched."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cocofile import CocoFormatError, read_json, staged_folder
from .crowdinfo import is_member, read_crowd_info
from .split import check_crowd_file

DEFAULT_COUNT = 12
MEMBER_COLOURS = ("#ff4081", "#40c4ff", "#ffd740", "#69f0ae", "#e040fb", "#ffab40", "#b2ff59", "#18ffff")


def _select(images: list[dict], ids, source: str) -> list[dict]:
    if not ids:
        return images[:DEFAULT_COUNT]
    by_id = {im["id"]: im for im in images}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise CocoFormatError(source, "images", f"no image with id {missing[0]} (--ids)")
    return [by_id[i] for i in ids]


def _source_dir(data: dict, path: Path, override) -> Path:
    if override is not None:
        folder = Path(override)
        if not folder.is_dir():
            raise FileNotFoundError(f"--source-images {override}: no such folder")
        return folder
    folder = read_crowd_info(data, path).source_images
    if folder is None:
        raise CocoFormatError(str(path), "crowd_info.source_images",
                              "names no source folder; give it with --source-images DIR")
    return path.resolve().parent / folder   # an absolute folder stays as it is


def _draw(ax, anns: list[dict], origin: np.ndarray, skeleton: list[list[int]], k: int) -> None:
    import matplotlib.patches as patches
    # a bone that is not two keypoint numbers 1..K (a skeleton of another schema) is not drawn
    bones = [(b[0] - 1, b[1] - 1) for b in skeleton
             if type(b) is list and len(b) == 2 and all(type(i) is int and 1 <= i <= k for i in b)]
    members = 0
    for a in anns:
        x, y, w, h = a["bbox"]
        x, y = x + origin[0], y + origin[1]
        if not is_member(a):
            ax.add_patch(patches.Rectangle((x, y), w, h, fill=False, hatch="///", edgecolor="#e0e0e0", linewidth=0.8))
            continue
        colour = MEMBER_COLOURS[members % len(MEMBER_COLOURS)]
        members += 1
        kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(k, 3)
        xy, seen = kp[:, :2] + origin, kp[:, 2] > 0
        for i, j in bones:
            if seen[i] and seen[j]:
                ax.plot(xy[[i, j], 0], xy[[i, j], 1], "-", color="black", linewidth=2.6)
                ax.plot(xy[[i, j], 0], xy[[i, j], 1], "-", color=colour, linewidth=1.4)
        ax.scatter(xy[seen, 0], xy[seen, 1], s=10, c=colour, edgecolors="black", linewidths=0.4, zorder=3)
        ax.add_patch(patches.Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=0.6, linestyle=":"))


def show_crowd(crowd_path, out_dir, ids=None, source_images=None) -> list[Path]:
    """One PNG per selected image (default: the first 12): ``OUT/image_<id>.png``. Everything is
    read and checked before the first picture is written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt
    from PIL import Image

    from .plots import save_figure

    path = Path(crowd_path)
    data = read_json(path)
    ds = check_crowd_file(data, path)
    source = str(path)
    chosen = _select(ds.images, list(ids or ()), source)
    folder = _source_dir(data, path, source_images)
    position = {im["id"]: i for i, im in enumerate(data["images"])}
    jobs = []
    for im in chosen:
        where = f"images[{position[im['id']]}]"
        box, name = im.get("crop_box"), im.get("source_file_name")
        if not (isinstance(box, list) and len(box) == 4):
            raise CocoFormatError(source, f"{where}.crop_box", "missing: not a COCO-crowd image")
        if not isinstance(name, str) or not name:
            raise CocoFormatError(source, f"{where}.source_file_name", "missing: not a COCO-crowd image")
        picture = folder / name
        if not picture.is_file():
            raise FileNotFoundError(f"{source}: {where}.source_file_name: source image {picture} not found "
                                    "(give its folder with --source-images DIR)")
        jobs.append((im, picture, np.asarray(box[:2], dtype=np.float64), box))
    anns: dict = {}
    for a in ds.annotations:
        anns.setdefault(a["image_id"], []).append(a)
    k, skeleton = ds.schema.num_keypoints, list(ds.schema.skeleton or [])
    out_dir = Path(out_dir)
    written = []
    with staged_folder(out_dir, "show") as stage:   # all pictures or none
        for im, picture, origin, box in jobs:
            with Image.open(picture) as img:
                pixels = np.asarray(img.convert("RGB"))
            h, w = pixels.shape[:2]
            fig, ax = plt.subplots(figsize=(7, 7 * h / max(w, 1) + 0.4))
            ax.imshow(pixels)
            ax.add_patch(patches.Rectangle(tuple(origin), box[2], box[3], fill=False, edgecolor="#ffffff",
                                           linewidth=2.0, linestyle="--"))
            people = anns.get(im["id"], [])
            _draw(ax, people, origin, skeleton, k)
            members = sum(1 for a in people if is_member(a))
            ax.set_title(f"image {im['id']} ({im.get('file_name')}) on {im['source_file_name']}: {members} members, "
                         f"{len(people) - members} ignored (hatched); dashed: crop box", fontsize=8)
            ax.set_axis_off()
            fig.tight_layout()
            name = f"image_{int(im['id'])}.png"      # ids are validated integers
            save_figure(fig, stage / name, dpi=100)
            written.append(out_dir / name)
    return written

"""`cococrowd` command line: parses options and calls the library; no logic here."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from .cocofile import CocoFormatError, OutputError


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)  # one line, no Python source location


class _Group(click.Group):
    """Turn the library's input errors into one clear line and exit code 2,
    and its warnings into one `warning:` line each."""

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except (CocoFormatError, OutputError, FileNotFoundError, FileExistsError, ValueError) as err:
                click.echo(f"error: {err}", err=True)
                sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cococrowd")
def main():
    """Curate COCO-crowd: the crowded regions of COCO person-keypoint images.

    Typical flow: `cococrowd synth` (or a real COCO download) -> `cococrowd build`
    -> `cococrowd split` -> `cococrowd stats`.
    """


# Commands register below; each lives in the module that names it.


# ---- download (cococrowd/download.py)

from .download import SPLITS as _COCO_SPLITS  # noqa: E402  (light: urllib and tqdm only)


@main.command("download")
@click.option("--split", required=True, type=click.Choice(list(_COCO_SPLITS)),
              help="COCO split whose person-keypoint annotations (and, with --images, images) to fetch.")
@click.option("--root", required=True, type=click.Path(file_okay=False, path_type=str),
              help="COCO root folder: receives the archives, annotations/person_keypoints_<split>.json "
                   "and <split>/ (what `build --coco-root` reads).")
@click.option("--images", is_flag=True, help="Also fetch and unpack the split's image archive (GBs).")
@click.option("--base-url", default=None, metavar="URL",
              help="Server to fetch from (default $COCOCROWD_COCO_URL, else http://images.cocodataset.org).")
@click.option("--remove-archives", is_flag=True, help="Delete each archive once it is unpacked.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(0),
              help="How often an interrupted transfer is resumed (HTTP Range) before giving up.")
def download_cmd(split, root, images, base_url, remove_archives, retries):
    """Fetch the official COCO archives (resumable, MD5-checked) and unpack them."""
    from .download import DownloadError, download_split

    try:
        out = download_split(split, root, images=images, base_url=base_url, remove_archives=remove_archives,
                             retries=retries, log=lambda msg: click.echo(msg, err=True))
    except DownloadError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    click.echo(f"annotations: {out['annotations']}")
    if out["images"] is not None:
        click.echo(f"images: {out['images']}")


@main.command()
@click.option("--split", type=str, default=None,
              help="COCO split to read from --coco-root: train2014, val2014, train2017 or val2017. With "
                   "--annotations it only names the outputs (default: the file's name).")
@click.option("--coco-root", type=click.Path(file_okay=False), default=None,
              help="Folder in the standard COCO layout: annotations/person_keypoints_SPLIT.json and SPLIT/*.jpg.")
@click.option("--annotations", type=click.Path(dir_okay=False), default=None,
              help="Any COCO-format person keypoint file instead of --coco-root (e.g. CrowdPose, 14 keypoints).")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Source image folder for --annotations (default with --coco-root: COCO_ROOT/SPLIT).")
@click.option("--out", type=click.Path(file_okay=False), default="coco_crowd", show_default=True,
              help="Output folder: annotations/crowd_SPLIT.json, SPLIT/*.png crops, manifest_SPLIT.json.")
@click.option("--iou", type=float, default=0.1, show_default=True,
              help="Two person boxes pair when their IoU is >= this value (inclusive).")
@click.option("--margin", type=float, default=0, show_default=True,
              help="Pixels added on every side of a group's union box before clipping to the image.")
@click.option("--workers", type=click.IntRange(min=1), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Processes that cut crops.")
@click.option("--no-images", is_flag=True, help="Write the annotation file and manifest only, no crops.")
@click.option("--skip-missing-images", is_flag=True,
              help="Drop regions whose source image is missing (counted in the manifest) instead of failing.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build(split, coco_root, annotations, images, out, iou, margin, workers, no_images, skip_missing_images, quiet):
    """Curate COCO-crowd: pair person boxes with IoU >= --iou, merge pairs sharing a person into
    groups, and cut each group's region into a new image with its people in crop coordinates."""
    from .build import run_build

    manifest = run_build(split=split, coco_root=coco_root, annotations=annotations, images=images, out=out,
                         iou=iou, margin=margin, workers=workers, no_images=no_images,
                         skip_missing_images=skip_missing_images, progress=not quiet,
                         command=" ".join(["cococrowd", "build"] + sys.argv[2:]))
    c = manifest["counts"]
    click.echo(f"{c['regions']} crowd regions with {c['people_in_regions']} people from "
               f"{c['source_images']} images / {c['source_people']} people -> {Path(out) / manifest['outputs']['annotations']}")
    for reason, n in manifest["skipped"].items():
        click.echo(f"skipped: {n} {reason.replace('_', ' ')}", err=True)


@main.command()
@click.option("--in", "in_file", type=click.Path(dir_okay=False), required=True,
              help="COCO-crowd file written by `cococrowd build`.")
@click.option("--fraction", type=float, default=0.5, show_default=True,
              help="Share of regions drawn into the first half.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw over source images.")
@click.option("--names", nargs=2, type=str, default=("val", "test"), show_default=True,
              help="Names of the two halves; files are written as STEM_NAME.json.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Where to write the halves (default: beside the input).")
def split(in_file, fraction, seed, names, out_dir):
    """Split a COCO-crowd file in two (the paper: val2014 -> 3,336 val + 3,336 test) by a seeded
    draw over source images, so that regions of one source image never fall into both halves."""
    from .cocofile import read_json
    from .split import run_split

    paths = run_split(in_file, fraction=fraction, seed=seed, names=names, out_dir=out_dir)
    for name, path in paths.items():
        data = read_json(path)
        people = sum(im["num_people"] for im in data["images"])
        click.echo(f"{name}: {len(data['images'])} images, {people} people -> {path}")


# ---- stats (cococrowd/stats.py)

@main.command("stats")
@click.option("--crowd", "crowd_path", type=click.Path(dir_okay=False), default=None,
              help="COCO-crowd file written by `cococrowd build` (or one half of `cococrowd split`).")
@click.option("--source", "source_path", type=click.Path(dir_okay=False), default=None,
              help="The COCO keypoint file it was built from: adds (a) people per source image, exact overlaps.")
@click.option("--split", type=str, default=None,
              help="COCO split to read from --coco-root instead of --source: train2014, val2014, train2017, val2017.")
@click.option("--coco-root", type=click.Path(file_okay=False), default=None,
              help="Standard COCO layout holding annotations/person_keypoints_SPLIT.json.")
@click.option("--split-files", multiple=True, type=click.Path(dir_okay=False),
              help="Halves written by `cococrowd split` (repeat the option): their sizes join the summary.")
@click.option("--out", type=click.Path(file_okay=False), default="stats", show_default=True,
              help="Folder for stats.md, summary.csv and one CSV + PNG per distribution.")
@click.option("--iou", type=float, default=None,
              help="IoU threshold when building in memory (default 0.1); with --crowd, the file's own threshold.")
def stats_cmd(crowd_path, source_path, split, coco_root, split_files, out, iou):
    """Distributions of the paper's Figure 3 -- (a) people per source image, (b) people per
    COCO-crowd image, (c) overlaps per person -- and (d) CrowdPose's crowd index per region, as
    tables, CSVs and PNG plots, and a summary beside the paper's published counts (with the share
    of easy / medium / hard regions). Builds in memory when no --crowd file is given."""
    from .stats import markdown_table, run_stats

    result, written = run_stats(crowd_path=crowd_path, source_path=source_path, split=split, coco_root=coco_root,
                                split_files=list(split_files), out=out, iou=iou)
    click.echo(markdown_table(result.summary))
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {len(written)} files to {out}/ (stats.md, summary.csv, CSV + PNG per distribution)")


# ---- jitter (cococrowd/jitter.py)

@main.command("jitter")
@click.option("--in", "in_file", type=click.Path(dir_okay=False), required=True,
              help="COCO-crowd file written by `cococrowd build` or `cococrowd split` (not yet jittered).")
@click.option("--px", "levels", type=click.IntRange(min=0), multiple=True, required=True,
              help="Jitter level in pixels; repeat or list several (--px 0 5 10 15). Level 0 copies the input.")
@click.argument("more_levels", nargs=-1, type=click.IntRange(min=0), metavar="[PX]...")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the box offsets (same seed, same files).")
@click.option("--source-images", type=click.Path(file_okay=False), default=None,
              help="Folder of the source images (default: the file's crowd_info.source_images).")
@click.option("--no-images", is_flag=True, help="Write the annotation files only, no recut crops.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Where to write STEM_jitterN.json (default: beside the input); crops go to NAME_jitterN/ "
                   "beside the base crops when this is an annotations/ folder, else inside it.")
@click.option("--workers", type=click.IntRange(min=1), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Processes that cut crops.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def jitter_cmd(in_file, levels, more_levels, seed, source_images, no_images, out_dir, workers, quiet):
    """Jittered-box variants (the paper's Table 3): per level, each side of every crop box moves by a
    seeded uniform integer offset in [-px, px], clipped to the source image, and the crop is cut again;
    people keep their ids and `base_crop_box` keeps the unjittered box.

    PX: more jitter levels in pixels, as for --px (--px 0 5 10 15 reads all four)."""
    from .jitter import run_jitter

    for lvl in run_jitter(in_file, list(levels) + list(more_levels), seed=seed, source_images=source_images,
                          no_images=no_images, out_dir=out_dir, workers=workers, progress=not quiet):
        where = f", crops in {lvl.crops_dir}" if lvl.crops_dir else ""
        gone = f", {lvl.people_outside} annotations left with nothing inside the crop" if lvl.people_outside else ""
        click.echo(f"\u00b1{lvl.px} px: {lvl.images} images{gone} -> {lvl.json_path}{where}")


# ---- crowd-index (cococrowd/crowdindex_file.py; the rule: cococrowd/crowdindex.py)

@main.command("crowd-index")
@click.option("--in", "in_file", type=click.Path(dir_okay=False), required=True,
              help="Any COCO person-keypoint file (COCO-17, CrowdPose-14, any K; COCO-crowd too).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="CSV with one row per image: image_id, num_people, crowd_index (2 decimals, as written), "
                   "crowd_index_exact, bucket, file_crowdIndex (the file's own, empty if none), difference "
                   "(default: no CSV).")
@click.option("--write", "write_path", type=click.Path(dir_okay=False), default=None,
              help="Write a copy of --in with crowdIndex on every image (replacing any it had), so `bench score` "
                   "gives easy / medium / hard on it (default: no copy).")
@click.option("--rule", type=click.Choice(["crowdpose", "paper"]), default="crowdpose", show_default=True,
              help="crowdpose: CrowdPose's published values (people with num_keypoints >= 4 averaged over); "
                   "paper: the paper's formula as written (every person). See docs/crowd-index.md.")
def crowd_index_cmd(in_file, out, write_path, rule):
    """CrowdPose's crowd index of every image (easy < 0.2 <= medium < 0.8 <= hard): the mean over
    people of the other people's labelled joints inside their box / their own labelled joints.
    Prints the bucket shares and, when the file has its own crowdIndex, how often they agree."""
    from .crowdindex_file import run_crowd_index, summary_lines

    table = run_crowd_index(in_file, out=out, write=write_path, rule=rule)
    for line in summary_lines(table):
        click.echo(line)
    for path, what in ((out, "table"), (write_path, "copy with crowdIndex")):
        if path is not None:
            click.echo(f"wrote {what} -> {path}")


@main.command("synth")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output folder, written in COCO's layout: annotations/person_keypoints_SPLIT.json and SPLIT/*.jpg.")
@click.option("--split", default="train2014", show_default=True,
              help="Split name used in the file names, so `build --split SPLIT --coco-root OUT` reads the world.")
@click.option("--images", "n_images", type=click.IntRange(min=1), required=True,
              help="Number of images (about 4 people each; 64000 is about the number of COCO train2017 images with people).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="World seed: the same seed and --images give byte-identical files.")
@click.option("--annotations-only", is_flag=True, help="Write only the annotation JSON, no JPEGs (fast, COCO scale).")
@click.option("--workers", type=click.IntRange(min=1), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Processes that draw images (the output does not depend on it).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth_cmd(out, split, n_images, seed, annotations_only, workers, quiet):
    """Write a synthetic crowd world: stick people with COCO-17 keypoints, visibility flags,
    segmentation, iscrowd regions, isolated people and overlapping groups of 2 to 8."""
    from .synth import synthesize

    r = synthesize(out, split, n_images, seed=seed, annotations_only=annotations_only,
                   workers=workers, progress=not quiet)
    where = f", images in {r.image_dir}" if r.image_dir else ""
    click.echo(f"{r.n_images} images, {r.n_people} people, {r.n_crowd_regions} iscrowd regions -> {r.annotations}{where}")


# ---- show (cococrowd/show.py)

@main.command("show")
@click.option("--crowd", "crowd_path", type=click.Path(dir_okay=False), required=True,
              help="COCO-crowd file written by `cococrowd build` (or split / jitter).")
@click.option("--ids", multiple=True, type=int,
              help="Image ids to draw (repeat: --ids 3 --ids 7); default: the first 12 images of the file.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for one PNG per image (image_<id>.png).")
@click.option("--source-images", type=click.Path(file_okay=False), default=None,
              help="Folder of the source images (default: the file's crowd_info.source_images).")
def show(crowd_path, ids, out_dir, source_images):
    """Draw COCO-crowd images on their source images: crop box, members' skeletons, ignored
    people hatched, to check a curated dataset by eye."""
    from .show import show_crowd

    for path in show_crowd(crowd_path, out_dir, ids=ids, source_images=source_images):
        click.echo(f"wrote {path}")

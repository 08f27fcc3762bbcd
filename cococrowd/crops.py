"""Cut crowd-region crops out of source images, in a process pool.

Crops are PNG (lossless), so crop pixels equal the source pixels of the crop
box. They are written into a staging folder that replaces the final folder
only when every crop succeeded: a failure leaves no partial output.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from .cocofile import OutputError, check_replaceable_dir, staging_dir


class ImageFileError(FileNotFoundError):
    """A source image is missing, unreadable or not the size its JSON says."""


def _cut_one_source(job: tuple[str, list[tuple[str, list[int]]], int, int, str, str]) -> int:
    src, crops, width, height, stage, final = job
    try:
        with Image.open(src) as im:
            im.load()
            if im.size != (width, height):
                raise ImageFileError(f"{src}: image is {im.size[0]}x{im.size[1]}, "
                                     f"but the annotation file says {width}x{height}")
            if im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            for name, (x, y, w, h) in crops:
                dest = os.path.join(stage, name)
                try:  # a full or read-only output disk is the output's fault, not the source image's
                    im.crop((x, y, x + w, y + h)).save(dest, format="PNG")
                except OSError as err:
                    raise OutputError(Path(final) / name, err) from None
    except (OutputError, ImageFileError):   # ImageFileError is a FileNotFoundError: not "not found"
        raise
    except FileNotFoundError:
        raise ImageFileError(f"{src}: source image not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ImageFileError(f"{src}: cannot read image ({err})") from None
    return len(crops)


def _end_with_parent(parent: int) -> None:
    """Pool initializer: a worker ends when the process that started it dies, even by SIGKILL
    (Linux PR_SET_PDEATHSIG; elsewhere a thread polls the parent pid)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        import threading
        import time

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def source_jobs(images: list[dict], source_dir: Path) -> list[tuple[str, list, int, int]]:
    """One job per source image (opened once for all of its regions)."""
    by_source: dict[str, list] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for im in images:
        key = im["source_file_name"]
        by_source.setdefault(key, []).append((im["file_name"], im["crop_box"]))
        sizes[key] = (im["source_width"], im["source_height"])
    return [(str(source_dir / k), v, sizes[k][0], sizes[k][1]) for k, v in by_source.items()]


def missing_sources(images: list[dict], source_dir: Path) -> set[str]:
    return {im["source_file_name"] for im in images if not (source_dir / im["source_file_name"]).is_file()}


def cut_crops(images: list[dict], source_dir: Path, out_dir: Path, workers: int = 1, progress: bool = True) -> Path:
    """Cut every image's crop into a staging folder beside ``out_dir``; the
    caller renames it into place with :func:`replace_dir` (or removes it)."""
    stage = staging_dir(out_dir.parent, out_dir.name)
    try:
        jobs = [j + (str(stage), str(out_dir)) for j in source_jobs(images, source_dir)]
        bar = tqdm(total=len(images), desc="crops", unit="img", disable=not progress)
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=workers, initializer=_end_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                for n in pool.map(_cut_one_source, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
                    bar.update(n)
        else:
            for job in jobs:
                bar.update(_cut_one_source(job))
        bar.close()
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def replace_dir(stage: Path, out_dir: Path) -> None:
    """Put a filled staging folder in place of ``out_dir``."""
    try:  # checked before any work too; again here in case a link appeared meanwhile
        check_replaceable_dir(out_dir, "the crops folder")
    except FileExistsError:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    try:
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(stage, out_dir)
    except OSError as err:
        shutil.rmtree(stage, ignore_errors=True)
        raise OutputError(out_dir, err) from None


def write_crops(images: list[dict], source_dir: Path, out_dir: Path, workers: int = 1,
                progress: bool = True) -> int:
    """Write every image's crop to ``out_dir`` (replaced whole on success)."""
    replace_dir(cut_crops(images, source_dir, out_dir, workers, progress), out_dir)
    return len(images)

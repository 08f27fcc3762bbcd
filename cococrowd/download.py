"""Fetch the official COCO archives and unpack them into the standard layout.

``ROOT/annotations/person_keypoints_<split>.json`` and ``ROOT/<split>/*.jpg``
are what ``cococrowd build --coco-root ROOT`` reads. Archives land in ``ROOT``
under their official names; a transfer is written to ``NAME.part`` and resumed
with an HTTP Range request after an interruption (in the same run, or in a
later one). An archive becomes ``NAME`` only once its size and MD5 match the
published values, and unpacking goes through a temporary folder, so a failure
never leaves a partial archive or a half-unpacked split behind.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping

from tqdm import tqdm

DEFAULT_BASE_URL = "http://images.cocodataset.org"
BASE_URL_ENV = "COCOCROWD_COCO_URL"


class DownloadError(RuntimeError):
    """A download or unpack failed; the message says what to do instead."""


@dataclass(frozen=True)
class Archive:
    """One official archive: its path under the base URL, byte size and MD5.

    ``size``/``md5`` may be None for an archive whose published values are not
    known; then only the server's Content-Length is checked."""

    path: str
    size: int | None
    md5: str | None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


# Sizes and MD5s as published by several independent public download scripts
# and matching the S3 ETags of images.cocodataset.org (see the README).
ARCHIVES: dict[str, Archive] = {
    "annotations_trainval2014.zip": Archive("annotations/annotations_trainval2014.zip", 252872794,
                                            "0a379cfc70b0e71301e0f377548639bd"),
    "annotations_trainval2017.zip": Archive("annotations/annotations_trainval2017.zip", 252907541,
                                            "f4bbac642086de4f52a3fdda2de5fa2c"),
    "train2014.zip": Archive("zips/train2014.zip", 13510573713, "0da8c0bd3d6becc4dcb32757491aca88"),
    "val2014.zip": Archive("zips/val2014.zip", 6645013297, "a3d79f5ed8d289b7a7554ce06a5782b3"),
    "train2017.zip": Archive("zips/train2017.zip", 19336861798, "cced6f7f71b7629ddf16f17bbcfab6b2"),
    "val2017.zip": Archive("zips/val2017.zip", 815585330, "442b8da7639aecaf257c1dceb8ba8c80"),
}

# split -> (annotation archive, image archive)
SPLITS: dict[str, tuple[str, str]] = {
    "train2014": ("annotations_trainval2014.zip", "train2014.zip"),
    "val2014": ("annotations_trainval2014.zip", "val2014.zip"),
    "train2017": ("annotations_trainval2017.zip", "train2017.zip"),
    "val2017": ("annotations_trainval2017.zip", "val2017.zip"),
}

CHUNK = 1 << 20
TIMEOUT_S = 30
# a file whose size nobody states (no published size, no Content-Length) may not grow past the
# largest COCO archive: a server that streams forever stops there instead of filling the disk
MAX_UNSTATED_SIZE = max(a.size for a in ARCHIVES.values() if a.size)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")


def annotation_path(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / "annotations" / f"person_keypoints_{split}.json"


def base_url_from_env() -> str:
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def archive_url(base_url: str, archive: Archive) -> str:
    return f"{base_url.rstrip('/')}/{archive.path}"


def md5_file(path: Path, chunk: int = CHUNK) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def manual_instructions(root: Path, split: str, names: list[str], archives: Mapping[str, Archive],
                        base_url: str) -> str:
    lines = ["Download these by hand and put them in " f"{root}/ under the same name, then rerun "
             f"`cococrowd download --split {split} --root {root}` (it verifies and unpacks them):"]
    for name in names:
        a = archives[name]
        facts = ", ".join(f for f in (f"{a.size} bytes" if a.size else "", f"MD5 {a.md5}" if a.md5 else "") if f)
        lines.append(f"  {archive_url(base_url, a)}  ->  {root / name}" + (f"  ({facts})" if facts else ""))
    lines.append(f"Or unzip them yourself so that {annotation_path(root, split)} exists"
                 + (f" and {root / split}/ holds the images." if len(names) > 1 else "."))
    return "\n".join(lines)


# ---------------------------------------------------------------- transfer

class _Unreachable(Exception):
    """The server could not be contacted at all (no point retrying)."""


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, headers={"User-Agent": "cococrowd-download"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as err:
        raise _Unreachable(getattr(err, "reason", err)) from err


def _total_size(resp: http.client.HTTPResponse, offset: int) -> int | None:
    """Full size of the remote file from Content-Range (206) or Content-Length (200)."""
    if resp.status == 206:
        rng = resp.headers.get("Content-Range", "")
        total = rng.rsplit("/", 1)[-1] if "/" in rng else "*"
        return int(total) if total.isdigit() else None
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def fetch(url: str, dest: Path, *, size: int | None, md5: str | None, retries: int = 5,
          progress: bool = True, opener: Callable[[str, int], http.client.HTTPResponse] = _open,
          max_size: int | None = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` with Range resume.

    Resumes an existing ``.part`` file; retries an interrupted transfer up to
    ``retries`` times from where it stopped. Checks the size (published, else
    the server's) and the MD5 when known; a mismatch deletes the ``.part`` file
    and raises, so only a verified archive ever appears at ``dest``. With neither size known,
    the ``.part`` stops at ``max_size`` (default :data:`MAX_UNSTATED_SIZE`)."""
    max_size = MAX_UNSTATED_SIZE if max_size is None else max_size
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = size
    failures = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if expected is not None and offset > expected:
            part.unlink()  # longer than the real file: cannot be a prefix of it
            offset = 0
        if expected is not None and offset == expected:
            break
        try:
            resp = _open_checked(opener, url, offset)
        except _RangeDone:
            break
        with resp:
            total = _total_size(resp, offset)
            if resp.status == 200 and offset:
                offset = 0  # server ignored Range: start over
            if expected is None:
                expected = total
            elif total is not None and total != expected:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: server offers {total} bytes, expected {expected}; "
                                    "is the base URL right? Nothing was kept.")
            try:
                _copy(resp, part, offset, expected, progress, dest.name, cap=max_size)
            except _TooLong:
                part.unlink(missing_ok=True)
                stated = (f"the {expected} bytes expected" if expected is not None else
                          f"{max_size} bytes, with no size stated (larger than any COCO archive)")
                raise DownloadError(f"{url}: the server sent more than {stated}; "
                                    "is the base URL right? Nothing was kept.") from None
            except (http.client.IncompleteRead, ConnectionError, socket.timeout, OSError) as err:
                failures += 1
                if failures > retries:
                    raise DownloadError(f"{url}: transfer interrupted {failures} times ({err}); "
                                        f"rerun to resume from {part}") from err
                continue
        got = part.stat().st_size
        if expected is None or got == expected:
            break
        failures += 1  # the server closed the stream early without an error
        if failures > retries:
            raise DownloadError(f"{url}: transfer stopped at {got} of {expected} bytes {failures} times; "
                                f"rerun to resume from {part}")
    _verify(part, url, expected, md5)
    os.replace(part, dest)
    return dest


class _RangeDone(Exception):
    """The server says the requested range starts at or past the end (416)."""


def _open_checked(opener, url: str, offset: int) -> http.client.HTTPResponse:
    try:
        return opener(url, offset)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            raise _RangeDone from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err


class _TooLong(Exception):
    """The server sent more bytes than the file's expected size."""


def _copy(resp, part: Path, offset: int, total: int | None, progress: bool, label: str,
          cap: int | None = None) -> None:
    """Append the response to ``part``; reading stops at ``total`` when known, else at ``cap``
    (the ``.part`` never grows past it), and a byte more from the server is :class:`_TooLong`."""
    limit = total if total is not None else cap
    mode = "ab" if offset else "wb"
    with open(part, mode) as out, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                       unit_divisor=1024, desc=label, disable=not progress or None,
                                       leave=False) as bar:
        left = None if limit is None else limit - offset
        while left is None or left > 0:
            block = resp.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                return
            out.write(block)
            bar.update(len(block))
            if left is not None:
                left -= len(block)
        if resp.read(1):
            raise _TooLong


def _verify(part: Path, url: str, size: int | None, md5: str | None) -> None:
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise DownloadError(f"{url}: got {got} bytes, expected {size}; the partial file was removed")
    if md5 is not None:
        digest = md5_file(part)
        if digest != md5:
            part.unlink()
            raise DownloadError(f"{url}: MD5 {digest} does not match the published {md5}; "
                                "the download is corrupt and was removed")


# ---------------------------------------------------------------- unpacking

def _members(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    for info in infos:
        p = PurePosixPath(info.filename)
        if p.is_absolute() or ".." in p.parts:
            raise DownloadError(f"{archive}: unsafe member path {info.filename!r}; refusing to unpack")
    return infos


# What an archive may unpack: the members taken from it (as their headers declare: zipfile stops
# reading a member there, and its CRC check refuses a lie) at most UNPACK_RATIO x the archive's
# size, and never under UNPACK_FLOOR. COCO's archives unpack to about their size (JPEGs) or a few
# times it (JSON); a zip bomb to hundreds of times.
UNPACK_RATIO = 16
UNPACK_FLOOR = 64 * 2 ** 20


def _check_unpacked_size(archive: Path, infos: list[zipfile.ZipInfo]) -> None:
    cap = max(UNPACK_RATIO * archive.stat().st_size, UNPACK_FLOOR)
    total = sum(i.file_size for i in infos)
    if total > cap:
        raise DownloadError(f"{archive}: would unpack {total} bytes, more than the {cap} allowed "
                            f"({UNPACK_RATIO} x the archive's size); refusing (not a COCO archive?)")


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise DownloadError(f"{archive}: not a complete zip archive ({err}); delete it and download again") from err


def unpack_annotations(archive: Path, root: Path, split: str) -> Path:
    """Extract ``annotations/person_keypoints_<split>.json`` (only that file)."""
    target = annotation_path(root, split)
    member = f"annotations/{target.name}"
    with _open_zip(archive) as zf:
        names = {i.filename for i in _members(zf, archive)}
        if member not in names:
            raise DownloadError(f"{archive}: has no {member}; is it the right archive for {split}?")
        _check_unpacked_size(archive, [zf.getinfo(member)])
        # unpack beside the archive; the annotations folder appears only with a whole file in it
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=root)
        try:
            with os.fdopen(fd, "wb") as out, zf.open(member) as src:
                shutil.copyfileobj(src, out, CHUNK)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise DownloadError(f"{archive}: {member} is damaged ({err}); delete the archive and download again") from err
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def unpack_images(archive: Path, root: Path, split: str, progress: bool = True) -> Path:
    """Extract ``<split>/*`` into ``root/<split>/`` through a temporary folder."""
    target = root / split
    with _open_zip(archive) as zf:
        infos = [i for i in _members(zf, archive) if PurePosixPath(i.filename).parts[:1] == (split,)]
        if not infos:
            raise DownloadError(f"{archive}: has no {split}/ folder; is it the right archive?")
        _check_unpacked_size(archive, infos)
        tmp = Path(tempfile.mkdtemp(prefix=f".{split}.", suffix=".part", dir=root))
        try:
            for info in tqdm(infos, desc=f"unpack {archive.name}", unit="file", disable=not progress or None,
                             leave=False):
                zf.extract(info, tmp)
            os.replace(tmp / split, target)
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise DownloadError(f"{archive}: damaged while unpacking ({err}); delete it and download again") from err
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------- the command

def download_split(split: str, root: str | os.PathLike, *, images: bool = False, base_url: str | None = None,
                   remove_archives: bool = False, retries: int = 5, progress: bool = True,
                   archives: Mapping[str, Archive] | None = None, log: Callable[[str], None] = print) -> dict:
    """Fetch and unpack what ``build --split SPLIT --coco-root ROOT`` needs.

    Skips what is already unpacked; reuses an archive already in ``root``
    (after checking it). Returns ``{"annotations": path, "images": path|None}``."""
    check_split(split)
    archives = ARCHIVES if archives is None else archives
    root = Path(root).resolve()
    base_url = base_url or base_url_from_env()
    ann_name, img_name = SPLITS[split]
    wanted = [(ann_name, annotation_path(root, split))]
    if images:
        wanted.append((img_name, root / split))
    names = [name for name, _ in wanted]
    root.mkdir(parents=True, exist_ok=True)
    for name, target in wanted:
        if target.exists():
            log(f"{target} exists; skipping {name}")
            continue
        archive = archives[name]
        dest = root / name
        fetched = not dest.exists()
        if not fetched:
            log(f"checking {dest}")
            _check_existing(dest, archive)
        else:
            url = archive_url(base_url, archive)
            log(f"downloading {url}")
            try:
                fetch(url, dest, size=archive.size, md5=archive.md5, retries=retries, progress=progress)
            except _Unreachable as err:
                raise DownloadError(f"cannot reach {url} ({err}).\n"
                                    + manual_instructions(root, split, names, archives, base_url)) from None
        log(f"unpacking {dest}")
        try:
            if name == ann_name:
                unpack_annotations(dest, root, split)
            else:
                unpack_images(dest, root, split, progress=progress)
        except DownloadError:
            if fetched:  # ours and useless; an archive the user placed stays theirs
                dest.unlink()
            raise
        if remove_archives:
            dest.unlink()
    return {"annotations": annotation_path(root, split), "images": root / split if images else None}


def _check_existing(dest: Path, archive: Archive) -> None:
    """An archive the user placed by hand must match the published size/MD5."""
    got = dest.stat().st_size
    if archive.size is not None and got != archive.size:
        raise DownloadError(f"{dest}: {got} bytes, expected {archive.size} (truncated or wrong file); "
                            "delete it and rerun to download it")
    if archive.md5 is not None and md5_file(dest) != archive.md5:
        raise DownloadError(f"{dest}: MD5 does not match the published {archive.md5}; delete it and rerun")

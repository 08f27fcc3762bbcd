"""Read, validate and atomically write COCO-format JSON files.

Every error names the file and the JSON path of the bad value, e.g.
``person_keypoints_val2014.json: annotations[812].bbox: width must be > 0``.
Validation runs a vectorised fast path; only when that finds a problem does a
slow per-item pass run to name the exact culprit.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import orjson


class CocoFormatError(ValueError):
    """A COCO file is malformed; the message names the file and JSON path."""

    def __init__(self, source: str | os.PathLike, path: str, problem: str):
        if len(problem) > 400:  # a repr of a huge or deeply nested value: the start says enough
            problem = problem[:400] + "..."
        self.source, self.path, self.problem = str(source), path, problem
        where = f"{self.source}: {path}: " if path else f"{self.source}: "
        super().__init__(where + problem)


# ---------------------------------------------------------------- reading

def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CocoFormatError(path, "", "file not found") from None
    except IsADirectoryError:
        raise CocoFormatError(path, "", "is a directory, expected a JSON file") from None
    except OSError as err:  # unreadable (permissions, I/O error)
        raise CocoFormatError(path, "", f"cannot read ({err.strerror or err})") from None
    if not raw or raw.isspace():  # isspace stops at the first other byte; strip would copy
        raise CocoFormatError(path, "", "file is empty")
    return raw


MAX_DEPTH = 1024  # orjson's parse limit; the stdlib fallback stops at Python's recursion limit (about as deep)


def _parse(raw: bytes, path: Path) -> Any:
    """orjson; the stdlib only as a fallback that accepts the NaN/Infinity
    tokens Python's json writes, so validation can name the field holding them."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as fast_err:
        if str(fast_err).startswith("depth limit exceeded"):  # the stdlib would recurse until RecursionError
            raise CocoFormatError(path, "", f"JSON nested more than {MAX_DEPTH} levels deep") from None
        if raw.startswith(b"\xef\xbb\xbf"):   # the stdlib would read past it; the README says UTF-8 only
            raise CocoFormatError(path, "", "starts with a byte-order mark (UTF-8 with BOM); "
                                  "JSON files are UTF-8 without one") from None
        try:
            return json.loads(raw.decode("utf-8"))   # decoded here: json.loads(bytes) would take UTF-16/32 too
        except RecursionError:
            raise CocoFormatError(path, "", "JSON nested too deeply (more than about 1000 levels)") from None
        except UnicodeDecodeError as err:
            raise CocoFormatError(path, "", f"not UTF-8 text (byte {err.start}: {err.reason}); "
                                  "JSON files are UTF-8") from None
        except json.JSONDecodeError as err:
            msg = getattr(err, "msg", str(err))
            line, col = getattr(err, "lineno", "?"), getattr(err, "colno", "?")
            raise CocoFormatError(path, "", f"malformed JSON at line {line} column {col}: {msg}") from fast_err


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    return _parse(_read_bytes(path), path)


def read_json_sha256(path: str | os.PathLike) -> tuple[Any, str]:
    """Parse and checksum one read of the file; hashlib releases the GIL on
    large buffers, so hashing in a thread overlaps the parse."""
    path = Path(path)
    raw = _read_bytes(path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(raw).hexdigest())
        data = _parse(raw, path)
        return data, digest.result()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a parsed COCO file is millions of
    containers, and each full collection walks them all (seconds at COCO
    scale) while a pipeline of acyclic dicts and lists frees nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------- writing

_UMASK = os.umask(0)
os.umask(_UMASK)

def dump_json(obj: Any, indent: bool = False, source: str | os.PathLike | None = None) -> bytes:
    """Deterministic JSON bytes (same object -> same bytes), newline-terminated;
    ``indent`` for small files people read (manifests, scores). What orjson cannot write
    (nesting past 254 levels, integers past 64 bits, both copied through from an input)
    is a :class:`CocoFormatError` naming ``source``, the input it came from."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(obj, option=option) + b"\n"
    except orjson.JSONEncodeError as err:
        raise CocoFormatError(source or "output", "",
                              f"holds a value that cannot be written back as JSON ({err}; "
                              "at most 254 nested levels and 64-bit integers)") from None


class OutputError(OSError):
    """An output cannot be written (read-only folder, full disk, ...): the message names the
    output path and the system's reason, never an input."""

    def __init__(self, path: str | os.PathLike, err: OSError):
        reason = err.strerror or str(err)
        super().__init__(err.errno, f"{path}: cannot write ({reason})")

    def __str__(self) -> str:
        return self.args[1]

    def __reduce__(self):  # crosses process pools; rebuilt from its message
        return _output_error, (self.errno, self.args[1])


def _output_error(code, message):
    err = OutputError.__new__(OutputError)
    OSError.__init__(err, code, message)
    return err


def output_error(path: str | os.PathLike, err: OSError) -> OutputError:
    return err if isinstance(err, OutputError) else OutputError(path, err)


# Temporary outputs carry the writer's pid (".NAME.<pid>-XXXX.part"), so a later run can tell
# those of a killed writer (pid gone) from those of one still running, and remove them.
_STALE = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[^.]+\.part")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:  # a zombie has ended: its state is Z
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def remove_stale(parent: Path, name: str) -> list[Path]:
    """Remove temporary files and staging folders of ``name`` in ``parent`` left by a writer that
    was killed (SIGKILL, power loss): their pid no longer runs. Returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = _STALE.fullmatch(entry.name)
        if not m or m["name"] != name or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    """Remove the folders a failed writer made, deepest first, if they are still empty."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def removing_new_dirs(path: str | os.PathLike) -> Iterator[None]:
    """On a failure in the block, remove ``path`` and the parents of it that the block made, if
    they are still empty: a failed writer leaves no empty output folder behind."""
    made = _missing_dirs(Path(path))
    try:
        yield
    except BaseException:
        _remove_empty(made)
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if
    the block succeeds, so a failure never leaves a partial output file (nor a folder it
    made). An OSError (read-only folder, full disk) is an :class:`OutputError` naming ``path``."""
    path = Path(path)
    with removing_new_dirs(path.parent):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(path.parent, path.name)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".part", dir=path.parent)
            os.close(fd)
        except OSError as err:
            raise output_error(path, err) from None
        tmp_path = Path(tmp)
        try:
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should follow the umask
            yield tmp_path
            os.replace(tmp_path, path)
        except OSError as err:
            if err.filename not in (None, str(tmp_path), str(path)):  # another file's fault (an input): as it is
                raise
            raise output_error(path, err) from None
        finally:
            with contextlib.suppress(OSError):
                tmp_path.unlink()


def write_temp(tmp: Path, data: bytes, path: str | os.PathLike) -> None:
    """Fill the temporary file of ``path`` (from :func:`atomic_output`); a failure names ``path``
    even when several outputs are open at once."""
    try:
        tmp.write_bytes(data)
    except OSError as err:
        raise output_error(path, err) from None


def staging_dir(parent: Path, name: str, output: Path | None = None) -> Path:
    """A hidden temporary folder in ``parent`` to fill and then rename into place
    (mkdtemp makes it 0700; the final folder should follow the umask). Stale staging of
    ``name`` left by a killed run goes first. A failure names ``output`` (default parent/name)."""
    try:
        with removing_new_dirs(parent):
            parent.mkdir(parents=True, exist_ok=True)
            remove_stale(parent, name)
            stage = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}-", suffix=".part", dir=parent))
            os.chmod(stage, 0o777 & ~_UMASK)
    except OSError as err:
        raise output_error(output or parent / name, err) from None
    return stage


def publish_stage(stage: Path, out_dir: Path, last: tuple[str, ...] = (), stale: tuple[str, ...] = ()) -> list[Path]:
    """Rename every file of ``stage`` (from :func:`staging_dir`) into ``out_dir``: the others
    first, then ``last`` in its order (the file readers look for goes last, so it never points
    at a missing file). A failed rename is an :class:`OutputError` naming the output. Then files
    of ``out_dir`` matching a ``stale`` pattern that this run did not write (an earlier run's
    figures) are removed."""
    names = sorted(p.name for p in stage.iterdir() if p.name not in last)
    names += [n for n in last if (stage / n).exists()]
    for name in names:
        try:
            os.replace(stage / name, out_dir / name)
        except OSError as err:
            raise output_error(out_dir / name, err) from None
    for pattern in stale:
        for old in out_dir.glob(pattern):
            if old.name not in names:
                with contextlib.suppress(OSError):
                    old.unlink()
    return [out_dir / n for n in names]


def _for_output(err: OSError, stage: Path, out_dir: Path) -> OSError:
    """An error on a staged file, named as the output it was for: the user never sees the
    hidden staging folder."""
    message = str(err) if isinstance(err, OutputError) else None
    if message is not None and str(stage) in message:
        return _output_error(err.errno, message.replace(str(stage), str(out_dir)))
    if message is None and err.filename is None:     # a write that failed (a full disk): the folder
        return OutputError(out_dir, err)
    if message is None and Path(err.filename).is_relative_to(stage):
        return OutputError(out_dir / Path(err.filename).relative_to(stage), err)
    return err


@contextlib.contextmanager
def staged_folder(out_dir: str | os.PathLike, name: str, last: tuple[str, ...] = (),
                  stale: tuple[str, ...] = ()) -> Iterator[Path]:
    """All-or-none outputs in ``out_dir``: yield a hidden staging folder to fill, then rename
    its files into place (:func:`publish_stage`, with ``last`` and ``stale``). On any failure
    (a full disk, an exception, Ctrl-C) the staging folder and the folders this made are
    removed, ``out_dir`` is left as it was, and an OSError names the output, not the stage."""
    out_dir = Path(out_dir)
    with removing_new_dirs(out_dir):
        stage = staging_dir(out_dir, name, output=out_dir)
        try:
            try:
                yield stage
            except OSError as err:
                raise _for_output(err, stage, out_dir) from None
            publish_stage(stage, out_dir, last=last, stale=stale)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: Any, indent: bool = False,
               source: str | os.PathLike | None = None) -> Path:
    encoded = dump_json(obj, indent, source)  # before the temporary file: a bad value leaves nothing
    with atomic_output(path) as tmp:
        tmp.write_bytes(encoded)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


# ---------------------------------------------------------------- paths
# The one owner of "a path from an input file or option stays inside its folder".

def path_problem(value: Any) -> str | None:
    """Why ``value`` is not a relative path that stays inside the folder it is read
    from (None when it is): absolute, a '..' part, a NUL byte."""
    if not isinstance(value, str) or not value:
        return f"must be a non-empty string, got {value!r}"
    if "\0" in value:
        return f"{value!r} holds a NUL byte"
    if value.startswith("/") or re.match(r"[A-Za-z]:[\\/]", value):
        return f"{value!r} is an absolute path; it must be relative to its image folder"
    if ".." in re.split(r"[\\/]", value):
        return f"{value!r} has a '..' part that leaves its image folder"
    return None


def check_inside_path(value: Any, source: str | os.PathLike, where: str) -> str:
    """``value`` (``where`` in ``source``) as a path inside its folder, or a :class:`CocoFormatError`."""
    problem = path_problem(value)
    if problem is not None:
        raise CocoFormatError(source, where, problem)
    return value


def check_name(value: str, option: str) -> str:
    """An option value that becomes one file or folder name: one plain part, not hidden
    (staging folders are hidden), no separator, never '.' or '..'."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value or ""):
        raise ValueError(f"{option} {value!r}: it becomes part of a file name, so use letters, digits, '_', '-' "
                         "or '.' (not first), no '/'")
    return value


def check_replaceable_dir(path: Path, what: str) -> None:
    """A folder that an output replaces whole must be a real folder or absent: a symbolic link
    would have its target's files (or the link alone) replaced."""
    if path.is_symlink():
        raise FileExistsError(f"{path}: is a symbolic link, but {what} is replaced whole, so it must be a real "
                              "folder; remove the link or choose another output folder")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: is a file, but {what} must be a folder")


# ---------------------------------------------------------------- validation

@dataclass
class KeypointSchema:
    """The person category of a keypoint file: K comes from the file."""

    category_id: int
    keypoints: list[str]
    skeleton: list[list[int]]
    category: dict

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)


@dataclass
class ValidatedDataset:
    """A parsed COCO keypoint file plus what validation learned about it.

    ``annotations`` holds only person annotations; ``skipped`` counts what was
    dropped with a warning (reason -> count), for the manifest."""

    source: str
    data: dict
    schema: KeypointSchema
    images: list[dict]
    annotations: list[dict]
    image_index: dict[int, int]
    skipped: dict[str, int] = field(default_factory=dict)
    people: "PersonArrays | None" = None
    sha256: str | None = None


def _require_list(data: dict, key: str, source: str) -> list:
    if key not in data:
        raise CocoFormatError(source, key, "missing key (a COCO file needs images, annotations and categories)")
    value = data[key]
    if not isinstance(value, list):
        raise CocoFormatError(source, key, f"must be a list, got {type(value).__name__}")
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


INT64 = 2 ** 63


def _finite(v: Any) -> bool:
    """A finite JSON number that fits a float64 (a JSON ``true`` is no number; an integer past
    64 bits, which only the stdlib fallback reads, is refused rather than overflowing later)."""
    if type(v) is float:
        return math.isfinite(v)
    return type(v) is int and -INT64 <= v < INT64


def _is_id(v: Any) -> bool:
    return type(v) is int and -INT64 <= v < INT64


def _has_bool(lists) -> bool:
    """Whether any value of ``lists`` is a JSON true/false (numpy would read it as 1/0)."""
    return bool in set(map(type, itertools.chain.from_iterable(lists)))


# ---------------------------------------------------------------- unambiguous spellings
# Rewritten on read, before validation, so every command sees one form: iscrowd true/false
# (whole public datasets write it so) is 1/0, and an integral float id (785.0) is the int it means.

_ID_FIELDS = {"images": ("id", "source_image_id"),
              "annotations": ("id", "image_id", "category_id", "source_annotation_id"),
              "categories": ("id",)}


def normalise(data: Any) -> Any:
    """``data`` with the unambiguous spellings above rewritten in place."""
    if type(data) is not dict:
        return data
    for key, fields in _ID_FIELDS.items():
        items = data.get(key)
        if type(items) is not list:
            continue
        for item in items:
            if type(item) is not dict:
                continue
            for f in fields:
                v = item.get(f)
                if type(v) is float and v.is_integer() and -INT64 <= v < INT64:
                    item[f] = int(v)
            if key == "annotations":
                for flag in ("iscrowd", "ignore"):
                    if type(item.get(flag)) is bool:
                        item[flag] = int(item[flag])
    return data


def _person_schema(categories: list, source: str) -> KeypointSchema:
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict):
            raise CocoFormatError(source, f"categories[{i}]", "must be an object")
        for key in ("id", "name"):
            if key not in cat:
                raise CocoFormatError(source, f"categories[{i}].{key}", "missing key")
        if not _is_id(cat["id"]):
            raise CocoFormatError(source, f"categories[{i}].id", f"must be an integer, got {cat['id']!r}")
    persons = [(i, c) for i, c in enumerate(categories) if c["name"] == "person"]
    if not persons:
        names = ", ".join(repr(c["name"]) for c in categories) or "none"
        raise CocoFormatError(source, "categories", f"no 'person' category (found {names}); cococrowd needs person keypoints")
    i, cat = persons[0]
    kps = cat.get("keypoints")
    if not isinstance(kps, list) or not kps:
        raise CocoFormatError(source, f"categories[{i}].keypoints",
                              "the person category must list its keypoint names (is this a person_keypoints file?)")
    for j, name in enumerate(kps):
        if not isinstance(name, str) or not name:
            raise CocoFormatError(source, f"categories[{i}].keypoints[{j}]", f"must be a keypoint name, got {name!r}")
    skeleton = cat.get("skeleton") or []
    return KeypointSchema(category_id=cat["id"], keypoints=list(kps), skeleton=skeleton, category=cat)


def _check_record(rec: Any, where: str, keys: tuple[str, ...], source: str) -> None:
    """An image or annotation record: an object with ``keys`` and an integer id."""
    if not isinstance(rec, dict):
        raise CocoFormatError(source, where, "must be an object")
    for key in keys:
        if key not in rec:
            raise CocoFormatError(source, f"{where}.{key}", "missing key")
    if not _is_id(rec["id"]):
        raise CocoFormatError(source, f"{where}.id", f"must be an integer, got {rec['id']!r}")


def _check_image(img: Any, i: int, source: str) -> None:
    where = f"images[{i}]"
    _check_record(img, where, ("id", "width", "height", "file_name"), source)
    for key in ("width", "height"):
        v = img[key]
        if not _finite(v) or v <= 0:
            raise CocoFormatError(source, f"{where}.{key}", f"must be a positive number, got {v!r}")
    check_inside_path(img["file_name"], source, f"{where}.file_name")


def check_bbox(bbox: Any, where: str, source: str) -> None:
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise CocoFormatError(source, where, f"must be a list [x, y, width, height], got {bbox!r}")
    for j, name in enumerate(("x", "y", "width", "height")):
        v = bbox[j]
        if not _is_number(v):
            raise CocoFormatError(source, where, f"{name} must be a number, got {v!r}")
        if type(v) is int and not _finite(v):
            raise CocoFormatError(source, where, f"{name} is too large for a float")
        if math.isnan(v):
            raise CocoFormatError(source, where, f"{name} is NaN")
        if not math.isfinite(v):
            raise CocoFormatError(source, where, f"{name} is infinite")
    if bbox[2] <= 0:
        raise CocoFormatError(source, where, f"width must be > 0, got {bbox[2]!r}")
    if bbox[3] <= 0:
        raise CocoFormatError(source, where, f"height must be > 0, got {bbox[3]!r}")


def check_keypoints(kps: Any, k: int, where: str, source: str) -> None:
    if not isinstance(kps, list):
        raise CocoFormatError(source, where, f"must be a list of 3*K = {3 * k} numbers")
    if len(kps) != 3 * k:
        raise CocoFormatError(source, where,
                              f"has {len(kps)} values, expected 3*K = {3 * k} for the {k} keypoints of the person category")
    for j, v in enumerate(kps):
        if not _finite(v):
            raise CocoFormatError(source, f"{where}[{j}]", f"must be a finite number, got {v!r}")
        if j % 3 == 2 and v not in (0, 1, 2):
            raise CocoFormatError(source, f"{where}[{j}]", f"visibility flag must be 0, 1 or 2, got {v!r}")


# A segmentation is absent, null or [] (no mask), a list of polygons [x1, y1, x2, y2, ...] of
# finite numbers, or an RLE {"size": [height, width] of its image, "counts": run lengths as a
# list of integers >= 0 or COCO's compressed string} whose runs cover the image exactly.

def _rle_string_counts(s: str) -> list[int] | None:
    """The run lengths of COCO's compressed RLE string (pycocotools' rleFrString), or None
    where it is malformed (pycocotools would read past its end)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x = k = 0
        more = True
        while more:
            if p >= len(s):
                return None
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def check_segmentation(segm: Any, where: str, source: str | os.PathLike, height: Any, width: Any) -> None:
    """One segmentation as the rule above says (``height`` x ``width``: its image)."""
    if segm is None or (type(segm) is list and not segm):
        return
    if type(segm) is list:
        for i, poly in enumerate(segm):
            if type(poly) is not list:
                raise CocoFormatError(source, f"{where}[{i}]", f"a polygon must be a list of x, y numbers, got {poly!r:.60}")
            if len(poly) % 2:
                raise CocoFormatError(source, f"{where}[{i}]", f"a polygon has an odd number of coordinates ({len(poly)})")
            for j, v in enumerate(poly):
                if not _finite(v):
                    raise CocoFormatError(source, f"{where}[{i}][{j}]", f"must be a finite number, got {v!r:.60}")
        return
    if type(segm) is not dict:
        raise CocoFormatError(source, where, "must be a list of polygons or an RLE object "
                              f"{{\"size\": [height, width], \"counts\": ...}}, got {segm!r:.60}")
    for key in ("size", "counts"):
        if key not in segm:
            raise CocoFormatError(source, f"{where}.{key}", "missing key (an RLE needs size and counts)")
    size = segm["size"]
    if type(size) is not list or len(size) != 2 or not all(_is_id(v) for v in size) or size != [height, width]:
        raise CocoFormatError(source, f"{where}.size",
                              f"must be [height, width] of its image, [{height!r}, {width!r}], got {size!r:.60}")
    counts = segm["counts"]
    if type(counts) is str:
        runs = _rle_string_counts(counts)
        if runs is None:
            raise CocoFormatError(source, f"{where}.counts", "is not a valid compressed RLE string")
    elif type(counts) is list:
        runs = counts
        bad = next((j for j, v in enumerate(counts) if not _is_id(v)), None)
        if bad is not None:
            raise CocoFormatError(source, f"{where}.counts[{bad}]", f"must be an integer >= 0, got {counts[bad]!r:.60}")
    else:
        raise CocoFormatError(source, f"{where}.counts",
                              f"must be a list of run lengths or a compressed RLE string, got {counts!r:.60}")
    if any(v < 0 for v in runs):
        raise CocoFormatError(source, f"{where}.counts", "run lengths must be >= 0")
    if sum(runs) != height * width:
        raise CocoFormatError(source, f"{where}.counts",
                              f"run lengths sum to {sum(runs)}, but a {height}x{width} mask has {height * width} pixels")


def check_segmentations(anns: list, image_size, source: str | os.PathLike, json_paths) -> None:
    """:func:`check_segmentation` for every one of ``anns``: polygons vectorised, RLEs (rare:
    iscrowd regions) one by one; ``image_size(n)`` is (height, width) of ann ``n``'s image and
    ``json_paths()`` names them (both called only when needed)."""
    segs = [a.get("segmentation") if type(a) is dict else None for a in anns]
    polys = [p for sg in segs if type(sg) is list for p in sg]
    try:
        ok = (all(type(p) is list and not len(p) % 2 for p in polys)
              and set(map(type, itertools.chain.from_iterable(polys))) <= {int, float}
              and bool(np.isfinite(np.fromiter(itertools.chain.from_iterable(polys), np.float64)).all()))
    except OverflowError:  # an integer past float range
        ok = False
    todo = range(len(segs)) if not ok else [n for n, sg in enumerate(segs) if sg is not None and type(sg) is not list]
    if not todo:
        return
    paths = json_paths()
    for n in todo:
        check_segmentation(segs[n], f"{paths[n]}.segmentation", source, *image_size(n))


def image_size_of(ds: "ValidatedDataset", anns: list):
    """(height, width) of the image of ``anns[n]``, as :func:`check_segmentations` asks."""
    def size(n: int) -> tuple:
        im = ds.images[ds.image_index[anns[n]["image_id"]]]
        return im["height"], im["width"]
    return size


def annotation_paths(data: dict, anns: list) -> list[str]:
    """``annotations[i]`` of each of ``anns`` in ``data`` (for error messages: one pass)."""
    position = {id(a): i for i, a in enumerate(data["annotations"])}
    return [f"annotations[{position[id(a)]}]" for a in anns]


def keypoint_array(anns: list, k: int, source: str, json_paths) -> np.ndarray:
    """(N, K, 3) keypoints of ``anns`` (ints stay ints, so outputs keep their bytes), every value
    checked as :func:`check_keypoints` does: vectorised, then (on any doubt) per annotation, named
    by ``json_paths()`` (called only then: it costs a pass over the file)."""
    try:
        raw = np.array([a["keypoints"] for a in anns])
        if raw.dtype.kind in "iuf" and raw.shape == (len(anns), 3 * k):  # strings must not become numbers
            kps = raw.reshape(len(anns), k, 3)
            if (np.isfinite(kps).all() and np.isin(kps[..., 2], (0, 1, 2)).all()
                    and not _has_bool(a["keypoints"] for a in anns)):
                return kps
    except (ValueError, TypeError, OverflowError, KeyError):
        pass
    for a, where in zip(anns, json_paths()):
        if not isinstance(a, dict) or "keypoints" not in a:
            raise CocoFormatError(source, f"{where}.keypoints", "missing key")
        check_keypoints(a["keypoints"], k, f"{where}.keypoints", source)
        try:  # an integer beyond float range passes check_keypoints but not float()
            [float(v) for v in a["keypoints"]]
        except OverflowError:
            raise CocoFormatError(source, f"{where}.keypoints", "holds a number too large for a float") from None
    raw = np.array([a["keypoints"] for a in anns])
    return (raw if raw.dtype.kind in "iuf" else raw.astype(np.float64)).reshape(len(anns), k, 3)


def _images_ok(images: list) -> bool:
    """Vectorised :func:`_check_image` that only says yes or no."""
    try:
        # '..' anywhere or a leading '/' sends the name to the precise check_inside_path
        if not all(type(im) is dict and type(im["id"]) is int and type(im["file_name"]) is str
                   and im["file_name"] and ".." not in im["file_name"] and im["file_name"][0] != "/"
                   and "\0" not in im["file_name"] and ":" not in im["file_name"] for im in images):
            return False
        np.fromiter((im["id"] for im in images), np.int64, count=len(images))  # ids fit 64 bits
        wh = np.array([(im["width"], im["height"]) for im in images], dtype=np.float64).reshape(-1, 2)
        return bool(np.isfinite(wh).all() and (wh > 0).all()) and all(
            type(im["width"]) in (int, float) and type(im["height"]) in (int, float) for im in images)
    except (KeyError, TypeError, ValueError, OverflowError):
        return False


def _check_annotation(ann: Any, i: int, k: int, image_ids: dict, source: str) -> None:
    where = f"annotations[{i}]"
    _check_record(ann, where, ("id", "image_id", "category_id", "bbox"), source)
    if not _is_id(ann["image_id"]) or ann["image_id"] not in image_ids:
        raise CocoFormatError(source, f"{where}.image_id", f"refers to unknown image id {ann['image_id']!r}")
    check_bbox(ann["bbox"], f"{where}.bbox", source)
    if "keypoints" not in ann:
        raise CocoFormatError(source, f"{where}.keypoints", "missing key")
    check_keypoints(ann["keypoints"], k, f"{where}.keypoints", source)
    if "area" in ann:
        area = ann["area"]
        if not _finite(area) or area < 0:
            raise CocoFormatError(source, f"{where}.area", f"must be a number >= 0, got {area!r}")
    crowd = ann.get("iscrowd", 0)
    if type(crowd) is not int or crowd not in (0, 1):
        raise CocoFormatError(source, f"{where}.iscrowd", f"must be 0 or 1, got {crowd!r}")


def _duplicate(ids: list, what: str, source: str) -> None:
    seen: dict = {}
    for i, v in enumerate(ids):
        if v in seen:
            raise CocoFormatError(source, f"{what}[{i}].id",
                                  f"duplicate id {v!r} (also at {what}[{seen[v]}].id)")
        seen[v] = i


def validate_keypoint_dataset(data: Any, source: str | os.PathLike) -> ValidatedDataset:
    """Check a parsed COCO person-keypoint file and keep its person annotations.

    Raises :class:`CocoFormatError` on structural problems. Annotations of
    other categories are skipped with a warning and counted (a user with a
    mixed instances file would rather go on)."""
    source = str(source)
    if not isinstance(data, dict):
        raise CocoFormatError(source, "", f"top level must be a JSON object, got {type(data).__name__}")
    normalise(data)
    images = _require_list(data, "images", source)
    anns = _require_list(data, "annotations", source)
    cats = _require_list(data, "categories", source)
    schema = _person_schema(cats, source)
    k = schema.num_keypoints

    if not _images_ok(images):  # the precise pass names the culprit
        for i, img in enumerate(images):
            _check_image(img, i, source)
    image_index = {img["id"]: i for i, img in enumerate(images)}
    if len(image_index) != len(images):
        _duplicate([img["id"] for img in images], "images", source)

    skipped: dict[str, int] = {}
    try:
        cat_ids = [a["category_id"] for a in anns]
    except (KeyError, TypeError):
        for i, a in enumerate(anns):
            if not isinstance(a, dict):
                raise CocoFormatError(source, f"annotations[{i}]", "must be an object") from None
            if "category_id" not in a:
                raise CocoFormatError(source, f"annotations[{i}].category_id", "missing key") from None
        raise
    if not all(type(c) is int for c in cat_ids):
        for i, c in enumerate(cat_ids):
            if not _is_id(c):
                raise CocoFormatError(source, f"annotations[{i}].category_id", f"must be an integer, got {c!r}")
    person_cat = schema.category_id
    if all(c == person_cat for c in cat_ids):
        persons = anns
    else:
        known = {c["id"] for c in cats}
        unknown = [i for i, c in enumerate(cat_ids) if c not in known]
        if unknown:
            i = unknown[0]
            raise CocoFormatError(source, f"annotations[{i}].category_id",
                                  f"refers to unknown category id {cat_ids[i]!r}")
        persons = [a for a, c in zip(anns, cat_ids) if c == person_cat]
        n_other = len(anns) - len(persons)
        skipped["non_person_annotations"] = n_other
        warnings.warn(f"{source}: skipped {n_other} annotations of non-person categories", stacklevel=2)

    # annotations: vectorised fast path, precise slow path on any doubt
    arrays = _person_arrays(persons, k, image_index)
    if arrays is None:
        positions = range(len(anns)) if persons is anns else [j for j, c in enumerate(cat_ids) if c == person_cat]
        for a, i in zip(persons, positions):
            _check_annotation(a, i, k, image_index, source)
        arrays = _person_arrays(persons, k, image_index, strict=False)
    all_ids = arrays.ids if persons is anns else np.array([a["id"] for a in anns])
    if len(np.unique(all_ids)) != len(all_ids):
        _duplicate(all_ids.tolist(), "annotations", source)
    return ValidatedDataset(source=source, data=data, schema=schema, images=images, annotations=persons,
                            image_index=image_index, skipped=skipped, people=arrays)


@dataclass
class PersonArrays:
    """Per person annotation (in file order): id, image position, box, iscrowd."""

    ids: np.ndarray
    image_pos: np.ndarray
    boxes: np.ndarray
    iscrowd: np.ndarray


def _person_arrays(anns: list, k: int, image_index: dict, strict: bool = True) -> PersonArrays | None:
    """The arrays the build needs, made in the same passes that check that
    every annotation surely passes :func:`_check_annotation`'s structural
    checks; None (with ``strict``) at the first doubt. Keypoint values are
    checked where an annotation is used."""
    n = len(anns)
    try:
        if strict and not all(type(a) is dict for a in anns):
            return None
        ids = np.fromiter((a["id"] for a in anns), dtype=np.int64, count=n)
        pos = np.fromiter((image_index[a["image_id"]] for a in anns), dtype=np.int64, count=n)
        raw = np.array([a["bbox"] for a in anns])  # no dtype: strings must not turn into numbers
        boxes = raw.astype(np.float64).reshape(n, 4)
        crowd = np.fromiter((a.get("iscrowd", 0) for a in anns), dtype=np.int64, count=n)
        if strict:
            if n and raw.dtype.kind not in "iuf":
                return None
            if not all(type(a["id"]) is int and type(a.get("iscrowd", 0)) is int for a in anns):
                return None
            if not np.isfinite(boxes).all() or (boxes[:, 2:] <= 0).any() or _has_bool(a["bbox"] for a in anns):
                return None
            areas = np.array([a.get("area", 0) for a in anns])
            if n and (areas.dtype.kind not in "iuf" or not np.isfinite(areas).all() or (areas < 0).any()):
                return None
            lens = np.fromiter((len(a["keypoints"]) for a in anns), dtype=np.int64, count=n)
            if (lens != 3 * k).any() or not np.isin(crowd, (0, 1)).all():
                return None
    except (KeyError, TypeError, ValueError, OverflowError):
        if strict:
            return None
        raise
    return PersonArrays(ids=ids, image_pos=pos, boxes=boxes, iscrowd=crowd.astype(bool))


def load_keypoint_file(path: str | os.PathLike) -> ValidatedDataset:
    """Read and validate a COCO person-keypoint file (COCO-17, CrowdPose-14, ...);
    ``sha256`` of the file comes along for manifests."""
    data, digest = read_json_sha256(path)
    ds = validate_keypoint_dataset(data, path)
    ds.sha256 = digest
    return ds

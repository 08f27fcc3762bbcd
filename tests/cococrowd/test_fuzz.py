"""Issue 9: property-based fuzzing of every reader. Valid COCO and COCO-crowd files are mutated
(types, values, missing keys, truncation, nesting, encodings) and fed to build, split, jitter,
stats, show, `bench score` and `bench analyze` through the CLI: each case succeeds, or ends in exactly one `error:` line with exit 2 and
no output left behind, never a traceback.

COCOCROWD_FUZZ_EXAMPLES sets the number of cases (CI: 60); COCOCROWD_FUZZ_LOG names a file that
receives one line per case (command, outcome) for a long sweep's figures; with it set, a case that
is neither a success nor one error line is logged as "other" and the sweep goes on."""
from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cococrowd.build import run_build
from cococrowd.cli import main
from tests.helpers.tinycoco import random_world, write_world

EXAMPLES = int(os.environ.get("COCOCROWD_FUZZ_EXAMPLES", "20"))   # per reader
LOG = os.environ.get("COCOCROWD_FUZZ_LOG")


WORLD = Path(tempfile.mkdtemp(prefix="cococrowd-fuzz-"))   # source images for `show`, kept for the session
atexit.register(shutil.rmtree, WORLD, ignore_errors=True)


def _bases() -> tuple[dict, dict, bytes]:
    coco = random_world(seed=7, n_images=6, max_people=5)
    coco["annotations"][0]["iscrowd"] = 1
    coco["annotations"][0]["segmentation"] = {"size": [120, 160], "counts": [100, 50, 160 * 120 - 150]}
    write_world(WORLD / "c", coco, with_images=True)
    run_build(split="train2014", coco_root=WORLD / "c", out=WORLD / "o", no_images=True, progress=False)
    crowd = json.loads((WORLD / "o" / "annotations" / "crowd_train2014.json").read_text())
    assert crowd["images"] and crowd["annotations"]
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"],
                "score": 0.9} for a in crowd["annotations"] if not a["ignore"]]
    return coco, crowd, json.dumps(results).encode()


COCO, CROWD, RESULTS = _bases()
READERS = ("build", "split", "jitter", "stats", "show", "score", "analyze")

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, 1, 2, -1, 3, 785.0, 0.5, 10 ** 12, 1e308, -1e308]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["", "..", "../x.png", "/etc/passwd", "a\x00b", "\u00e9\u4e2d"]))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                            st.dictionaries(st.text(max_size=5), kids, max_size=3)),
                          max_leaves=8)


def _paths(doc, prefix=()):
    """Every (container path, key) in ``doc``; lists of numbers count once (all of them, a lot)."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        if len(prefix) > 6:  # inside a nesting made by an earlier mutation
            continue
        if isinstance(v, (dict, list)) and not (isinstance(v, list) and v and not isinstance(v[0], (dict, list))):
            out.extend(_paths(v, prefix + (k,)))
        elif isinstance(v, list) and v:
            out.append(prefix + (k, len(v) // 2))
    return out


def _get(doc, path):
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def mutated_file(draw, kinds=("coco", "crowd")):
    kind = draw(st.sampled_from(kinds))
    doc = copy.deepcopy(COCO if kind == "coco" else CROWD)
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "delete", "nest", "wrap"]))
        ops.append((op, path))
        if op == "replace":
            parent[key] = draw(json_value)
        elif op == "delete":
            del parent[key]
        elif op == "nest":  # deep nesting where a value was
            depth = draw(st.sampled_from([3, 100, 300, 1100, 5000]))
            value = parent[key]
            for _ in range(depth):
                value = [value]
            parent[key] = value
        else:  # wrap in an object / list of one
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
    try:
        raw = json.dumps(doc).encode()
    except (RecursionError, ValueError):
        raw = b"[" * 100000
    enc = draw(st.sampled_from(["utf8", "utf8", "utf8", "truncate", "utf16", "bom", "latin1", "flip", "deep"]))
    if enc == "truncate":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif enc == "utf16":
        raw = raw.decode().encode("utf-16")
    elif enc == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif enc == "latin1":
        raw = raw.replace(b'"person"', '"p\u00e9rson\u00ff"'.encode("latin-1"))
    elif enc == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1:]
    elif enc == "deep":
        raw = b"[" * 100000 + b"]" * 100000
    return kind, raw, ops, enc


def _command(reader: str, path: Path, out: Path) -> list[str]:
    """``reader``'s command line; build and stats read the COCO source, the others COCO-crowd."""
    res = str(path.parent / "results.json")
    return {"build": ["build", "--annotations", str(path), "--split", "train2014", "--out", str(out), "--no-images",
                      "--quiet"],
            "split": ["split", "--in", str(path), "--out-dir", str(out)],
            "jitter": ["jitter", "--in", str(path), "--px", "3", "--no-images", "--out-dir", str(out), "--quiet"],
            "stats": ["stats", "--source" if path.name.startswith("person") else "--crowd", str(path), "--out", str(out)],
            "show": ["show", "--crowd", str(path), "--ids", "1", "--out", str(out)],
            "score": ["score", "--gt", str(path), "--results", res, "--out", str(out), "--bootstrap", "0"],
            "analyze": ["analyze", "--gt", str(path), "--results", res, "--out", str(out), "--bootstrap", "0",
                        "--gallery", "0"]}[reader]


def run_case(case, reader: str) -> tuple[str, str]:
    """(outcome, last line): "ok", "error" (one `error:` line, exit 2, nothing written), or "other"
    with what went wrong."""
    from benchmarks.cli import main as bench

    kind, raw, ops, enc = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "in" / ("person_keypoints_x.json" if kind == "coco" else "crowd_x.json")
        path.parent.mkdir()
        path.write_bytes(raw)
        (path.parent / "results.json").write_bytes(RESULTS)
        out = tmp / "out"
        args = _command(reader, path, out)
        res = CliRunner().invoke(bench if reader in ("score", "analyze") else main, args)
        lines = res.output.strip().splitlines()
        last = lines[-1][:200] if lines else ""
        if res.exit_code == 0:
            return "ok", last
        errors = [ln for ln in lines if not ln.startswith("warning: ")]
        if res.exit_code != 2 or "Traceback" in res.output or len(errors) != 1 or not errors[0].startswith("error: "):
            return "other", f"exit {res.exit_code}: {res.output[-300:]!r} {res.exception!r}"
        left = [p for p in out.rglob("*") if p.is_file() or p.name.startswith(".")] if out.exists() else []
        left += [p for p in path.parent.iterdir() if p.name not in (path.name, "results.json")]
        if left:
            return "other", f"{errors[0]} but left {left}"
        return "error", errors[0][:200]


KINDS = {"build": ("coco",), "stats": ("coco", "crowd")}   # the others read COCO-crowd files


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_succeeds_or_fails_in_one_line(reader):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=LOG is None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(case=mutated_file(KINDS.get(reader, ("crowd",))))
    def one(case):
        _check(case, reader)
    one()


def _check(case, reader):
    outcome, line = run_case(case, reader)
    if LOG:
        with open(LOG, "a") as f:
            f.write(json.dumps({"command": reader, "kind": case[0], "enc": case[3], "outcome": outcome,
                                "line": line, "ops": [o for o, _ in case[2]]}) + "\n")
        return
    assert outcome in ("ok", "error"), (reader, case[2], case[3], line)

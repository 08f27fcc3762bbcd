"""Issue 9: property-based fuzzing of every reader. Valid COCO and COCO-crowd files are mutated
(types, values, missing keys, truncation, nesting, encodings) and fed to build, split, jitter and
stats through the CLI: each case succeeds, or ends in exactly one `error:` line with exit 2 and
no output left behind, never a traceback.

COCOCROWD_FUZZ_EXAMPLES sets the number of cases (CI: 60); COCOCROWD_FUZZ_LOG names a file that
receives one line per case (command, outcome) for a long sweep's figures."""
from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cococrowd.build import run_build
from cococrowd.cli import main
from tinycoco import random_world, write_world

EXAMPLES = int(os.environ.get("COCOCROWD_FUZZ_EXAMPLES", "60"))
LOG = os.environ.get("COCOCROWD_FUZZ_LOG")


def _bases() -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        coco = random_world(seed=7, n_images=6, max_people=5)
        coco["annotations"][0]["iscrowd"] = 1
        coco["annotations"][0]["segmentation"] = {"size": [120, 160], "counts": [100, 50, 160 * 120 - 150]}
        write_world(tmp / "c", coco, with_images=False)
        run_build(split="train2014", coco_root=tmp / "c", out=tmp / "o", no_images=True, progress=False)
        crowd = json.loads((tmp / "o" / "annotations" / "crowd_train2014.json").read_text())
    assert crowd["images"] and crowd["annotations"]
    return coco, crowd


COCO, CROWD = _bases()

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
def mutated_file(draw):
    kind = draw(st.sampled_from(["coco", "crowd"]))
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


def _command(kind, which, path: Path, out: Path) -> list[str]:
    if kind == "coco":
        if which == 0:
            return ["build", "--annotations", str(path), "--split", "train2014", "--out", str(out), "--no-images", "--quiet"]
        return ["stats", "--source", str(path), "--out", str(out)]
    return [["split", "--in", str(path), "--out-dir", str(out)],
            ["jitter", "--in", str(path), "--px", "3", "--no-images", "--out-dir", str(out), "--quiet"],
            ["stats", "--crowd", str(path), "--out", str(out)]][which % 3]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=LOG is None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(case=mutated_file(), which=st.integers(0, 2))
def test_every_reader_succeeds_or_fails_in_one_line(case, which):
    kind, raw, ops, enc = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "in" / ("person_keypoints_x.json" if kind == "coco" else "crowd_x.json")
        path.parent.mkdir()
        path.write_bytes(raw)
        out = tmp / "out"
        args = _command(kind, which, path, out)
        res = CliRunner().invoke(main, args)
        lines = res.output.strip().splitlines()
        outcome = "ok" if res.exit_code == 0 else "error" if res.exit_code == 2 else f"exit {res.exit_code}"
        if LOG:
            with open(LOG, "a") as f:
                f.write(json.dumps({"command": args[0], "kind": kind, "enc": enc, "outcome": outcome,
                                    "line": lines[-1][:200] if lines else "", "ops": [o for o, _ in ops]}) + "\n")
        assert res.exit_code in (0, 2), (args[0], ops, enc, res.output[-2000:], repr(res.exception))
        assert "Traceback" not in res.output
        if res.exit_code == 2:
            errors = [ln for ln in lines if not ln.startswith("warning: ")]
            assert len(errors) == 1 and errors[0].startswith("error: "), res.output
            left = [p for p in out.rglob("*") if p.is_file() or p.name.startswith(".")] if out.exists() else []
            left += [p for p in path.parent.iterdir() if p != path]  # nothing written beside the input
            assert left == [], (errors[0], left)

"""The fast paths of `bench score` (issue 11 part 2) give what the plain paths give.

- the readers (orjson + the validators, vectorised where a file is plain) yield
  the same GroundTruth / Detections arrays, bit for bit, as the per-record
  validators on every spelling, and their messages on every odd file;
- the numba OKS + matching engine equals the numpy one, and the numba bootstrap
  equals the numpy block formulation (tests/helpers/scoring_reference.py), on
  inputs with ties, crowds, ids 0, and more than 128 keypoints;
- a report that fails halfway leaves nothing of the run behind.
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from cococrowd.cocofile import CocoFormatError, read_json, validate_keypoint_dataset
from benchmarks.scoring import cocoeval_engine
from benchmarks.scoring.bootstrap import ResampledAP, draw_counts
from benchmarks.scoring.cocoeval_engine import evaluate, np_sum
from benchmarks.scoring.groundtruth import ground_truth_from_dataset, load_ground_truth
from benchmarks.scoring.results import _check_one, load_results, validate_results
from benchmarks.scoring.sigmas import resolve_sigmas

from tests.helpers.scoring import (CROWDPOSE14, pycoco, random_case, stats_as_pycoco, three_image_world,
                                   write_json)
from tests.helpers.scoring_reference import _match_people_numpy, evaluate_numpy, numpy_aps


def _same(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "sha256":
            continue
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), f.name
        else:
            assert x == y, f.name


def _slow_gt(path):
    return ground_truth_from_dataset(validate_keypoint_dataset(read_json(path), path))


def _write(path, obj, style):
    if style == "compact":
        path.write_text(json.dumps(obj, separators=(",", ":")))
    elif style == "indent":
        path.write_text("\n " + json.dumps(obj, indent=2) + "\n\n")
    else:
        path.write_text(json.dumps(obj))
    return path


def _uglify(case, rng):
    """Spellings a reader must take: 17-digit floats, exponents, -0.0, ints, unknown keys."""
    gt, res = case
    for a in gt["annotations"]:
        a["segmentation"] = [[1.5, 2.0, 3.25, 4.0, 5.0, 6.0]]
        a["extra"] = {"note": "x", "list": [1, None, True, False, -2e-3]}
        if rng.random() < 0.3:
            del a["area"]
        if rng.random() < 0.3:
            del a["num_keypoints"]
    for r in res:
        kp = r["keypoints"]
        for j in range(0, len(kp), 3):
            kp[j] = float(kp[j]) * (1 + 1e-13) if rng.random() < 0.3 else kp[j]   # 17 significant digits
        r["score"] = float(f"{r['score']:.3e}") if rng.random() < 0.2 else r["score"]
        r["id"] = 7
    if res:
        res[0]["keypoints"][1] = -0.0
    return gt, res


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("style", ["plain", "compact", "indent"])
def test_reader_equals_the_validators(tmp_path, seed, style):
    rng = np.random.default_rng(seed)
    k, names = (14, CROWDPOSE14) if seed % 4 == 3 else (17, None)
    case = random_case(600 + seed, n_images=10, k=k, **({"names": names} if names else {}), zero_id=seed % 2 == 1)
    gt_d, res = _uglify(case, rng) if seed % 2 else case
    gp = _write(tmp_path / "gt.json", gt_d, style)
    rp = _write(tmp_path / "res.json", res, style)
    slow = _slow_gt(gp)
    _same(load_ground_truth(gp), slow)
    if res:
        one_by_one = validate_results(read_json(rp), slow, rp)
        for i, r in enumerate(read_json(rp)):     # the per-record check passes every record
            _check_one(r, i, len(slow.keypoint_names), slow, slow.position_of(), "bbox" in res[0], str(rp))
        _same(load_results(rp, slow), one_by_one)
    _same(load_ground_truth(gp), slow)
    assert load_ground_truth(gp).sha256 == __import__("hashlib").sha256(gp.read_bytes()).hexdigest()


def test_np_sum_is_numpys_sum():
    rng = np.random.default_rng(3)
    for n in list(range(0, 300)) + [511, 777, 1025, 4099]:
        a = np.exp(-rng.exponential(3, n) * 10.0 ** rng.integers(-3, 3, n))
        assert np_sum(a, n) == np.sum(a), n


BAD_GT = [  # (description, edit of the JSON text or dict) -> the validators' message or arrays
    ("float id", lambda d: d["annotations"][0].update(id=float(d["annotations"][0]["id"]))),
    ("iscrowd true", lambda d: d["annotations"][0].update(iscrowd=True)),
    ("iscrowd 2", lambda d: d["annotations"][0].update(iscrowd=2)),
    ("ignore 1.0", lambda d: d["annotations"][0].update(ignore=1.0)),
    ("string keypoint", lambda d: d["annotations"][0]["keypoints"].__setitem__(0, "3")),
    ("visibility 3", lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 3)),
    ("short keypoints", lambda d: d["annotations"][0]["keypoints"].pop()),
    ("zero width", lambda d: d["annotations"][0]["bbox"].__setitem__(2, 0)),
    ("negative area", lambda d: d["annotations"][0].update(area=-1)),
    ("unknown image", lambda d: d["annotations"][0].update(image_id=-12345)),
    ("duplicate id", lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"])),
    ("other category", lambda d: d["annotations"][0].update(category_id=2)),
    ("missing bbox", lambda d: d["annotations"][0].pop("bbox")),
    ("non-ascii string", lambda d: d["annotations"][0].update(note="caf\u00e9")),
    ("annotations not a list", lambda d: d.update(annotations={"a": 1})),
]
BAD_TEXT = [  # edits of the file's text
    ("duplicate key", lambda t: t.replace('"iscrowd": 0', '"iscrowd": 0, "iscrowd": 1', 1)),
    ("leading zero", lambda t: t.replace('"id": 1,', '"id": 01,', 1)),
    ("trailing comma", lambda t: t.replace("]}]", "],}]", 1)),
    ("NaN token", lambda t: t.replace('"area": 5000.0', '"area": NaN', 1)),
    ("escaped key", lambda t: t.replace('"bbox"', '"bb\\u006fx"', 1)),
    ("annotations twice", lambda t: t[:-1] + ', "annotations": []}'),
    ("garbage after", lambda t: t + " x"),
]


@pytest.mark.parametrize("what,edit", BAD_GT + BAD_TEXT, ids=[w for w, _ in BAD_GT + BAD_TEXT])
def test_odd_ground_truth_goes_the_validators_way(tmp_path, what, edit):
    gt, _ = three_image_world()
    if (what, edit) in BAD_GT:
        edit(gt)
        text = json.dumps(gt)
    else:
        text = edit(json.dumps(gt))
        assert text != json.dumps(gt)
    path = tmp_path / "gt.json"
    path.write_text(text)
    try:
        want = _slow_gt(path)
    except (CocoFormatError, ValueError) as err:
        with pytest.raises(type(err)) as got:
            load_ground_truth(path)
        assert str(got.value) == str(err)
    else:
        _same(load_ground_truth(path), want)


BAD_RES = [
    ("float image id", lambda r: r[0].update(image_id=float(r[0]["image_id"]))),
    ("unknown image", lambda r: r[0].update(image_id=999)),
    ("bool score", lambda r: r[0].update(score=True)),
    ("category 2", lambda r: r[0].update(category_id=2)),
    ("segmentation", lambda r: r[0].update(segmentation=[[1, 2, 3, 4]])),
    ("short keypoints", lambda r: r[0]["keypoints"].pop()),
    ("empty bbox first", lambda r: r[0].update(bbox=[])),
    ("bbox on some only", lambda r: r[0].update(bbox=[1, 2, 3, 4])),
    ("not a list", lambda r: r.__setitem__(slice(None), [])),
]


@pytest.mark.parametrize("what,edit", BAD_RES, ids=[w for w, _ in BAD_RES])
def test_odd_results_go_the_validators_way(tmp_path, what, edit):
    gt_d, res = three_image_world()
    gp = write_json(tmp_path / "gt.json", gt_d)
    gt = load_ground_truth(gp)
    edit(res)
    rp = write_json(tmp_path / "res.json", res)
    try:
        want = validate_results(read_json(rp), gt, rp)
    except CocoFormatError as err:
        with pytest.raises(CocoFormatError) as got:
            load_results(rp, gt)
        assert str(got.value) == str(err)
    else:
        _same(load_results(rp, gt), want)


@pytest.mark.parametrize("seed", range(10))
def test_numba_engines_equal_the_numpy_ones(tmp_path, seed, monkeypatch):
    if seed % 2:
        monkeypatch.setattr(cocoeval_engine, "PAIR_CHUNK", 3 + seed)   # many chunks of images
    gt_d, res = random_case(700 + seed, n_images=16, zero_id=seed % 3 == 0)
    if seed % 2:
        for r in res:
            r["score"] = round(r["score"], 1)             # equal scores inside images
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    gt = load_ground_truth(gp)
    dt = load_results(rp, gt)
    sig, _ = resolve_sigmas(gt.keypoint_names)
    a, b = evaluate(gt, dt, sig), evaluate_numpy(gt, dt, sig)
    for f in ("det_image", "det_score", "tp", "counted", "npig", "tie_start"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    engine = ResampledAP(a)
    counts = draw_counts(np.random.default_rng(seed), gt.num_images, 40)
    counts[0] = 0
    fast, slow = engine.aps(counts), numpy_aps(engine, counts)
    assert fast.tobytes() == slow.tobytes()
    sub = a.subset(np.arange(0, gt.num_images, 2))
    c2 = draw_counts(np.random.default_rng(seed + 1), sub.n_images, 30)
    assert ResampledAP(sub).aps(c2).tobytes() == numpy_aps(ResampledAP(sub), c2).tobytes()


def test_more_than_128_keypoints_score_as_pycocotools(tmp_path):
    """numpy's pairwise sum splits above 128 values: the kernels replay that too (no numpy fallback)."""
    from benchmarks.scoring.pck import pck

    k = 140
    gt_d, res = random_case(760, n_images=12, k=k, names=[f"p{i}" for i in range(k)])
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    gt = load_ground_truth(gp)
    dt = load_results(rp, gt)
    sig = np.linspace(0.025, 0.107, k)
    table = evaluate(gt, dt, sig)
    ref = evaluate_numpy(gt, dt, sig)
    for f in ("det_image", "det_score", "tp", "counted", "npig", "tie_start"):
        assert np.array_equal(getattr(table, f), getattr(ref, f)), f
    assert stats_as_pycoco(table.stats()) == pycoco(gp, res, sigmas=sig).stats.tolist()
    assert pck(gt, dt)["matched_people"] > 0


def test_worker_threads_follow_affinity_and_numba_num_threads(monkeypatch):
    import os

    from benchmarks.scoring import threads

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert threads.worker_threads() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert threads.worker_threads() == threads.MAX_THREADS
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    assert threads.worker_threads() == 1
    monkeypatch.setenv("NUMBA_NUM_THREADS", "junk")            # numba would refuse it; we ignore it
    assert threads.worker_threads() == threads.MAX_THREADS


@pytest.mark.parametrize("seed", range(4))
def test_threads_change_no_number(tmp_path, seed, monkeypatch):
    """evaluate's image chunks and the bootstrap's resample groups on 1 or 4 worker threads:
    the same arrays, bit for bit."""
    from benchmarks.scoring import threads

    gt_d, res = random_case(720 + seed, n_images=24)
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    gt = load_ground_truth(gp)
    dt = load_results(rp, gt)
    sig, _ = resolve_sigmas(gt.keypoint_names)
    counts = draw_counts(np.random.default_rng(seed), gt.num_images, 60)
    out = {}
    parts = []
    run_parts = threads.run_parts
    monkeypatch.setattr(threads, "run_parts", lambda fn, p: (parts.append(len(p)), run_parts(fn, p))[1])
    for n in (1, 4):
        monkeypatch.setattr(threads, "worker_threads", lambda n=n: n)
        monkeypatch.setattr(cocoeval_engine, "PAIR_CHUNK", 5 if n > 1 else 1 << 16)
        parts.clear()
        table = evaluate(gt, dt, sig)
        assert parts[0] == 1 if n == 1 else parts[0] > 4      # evaluate's chunks
        out[n] = [getattr(table, f).tobytes() for f in ("det_image", "det_score", "tp", "counted", "npig")]
        out[n].append(ResampledAP(table).aps(counts).tobytes())
    assert out[1] == out[4]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork")
def test_a_forked_child_scores_on_its_own_threads(tmp_path, monkeypatch):
    import multiprocessing

    from benchmarks.scoring import threads

    monkeypatch.setattr(threads, "worker_threads", lambda: 2)
    monkeypatch.setattr(cocoeval_engine, "PAIR_CHUNK", 5)
    gt_d, res = random_case(760, n_images=12)
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    gt = load_ground_truth(gp)
    dt = load_results(rp, gt)
    sig, _ = resolve_sigmas(gt.keypoint_names)
    want = evaluate(gt, dt, sig).tp.tobytes()
    assert threads._pool is not None and threads._pool[0] == __import__("os").getpid()   # the parent's pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(evaluate(gt, dt, sig).tp.tobytes()))
    child.start()
    got = queue.get(timeout=60)                           # the parent's pool threads are not in the child
    child.join(10)
    assert got == want and child.exitcode == 0


@pytest.mark.parametrize("seed", range(6))
def test_pck_kernel_equals_the_numpy_loop(tmp_path, seed, monkeypatch):
    from benchmarks.scoring import pck as pck_mod

    gt_d, res = random_case(740 + seed, n_images=20)
    rng = np.random.default_rng(seed)
    for r in res[::7]:
        r["keypoints"][3 * int(rng.integers(0, 17))] = 1e308      # a distance that overflows to inf
    if seed % 2:                                                   # ties: predictions on a grid
        for r in res:
            r["keypoints"] = [float(round(v / 20) * 20) for v in r["keypoints"]]
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    gt = load_ground_truth(gp)
    dt = load_results(rp, gt)
    fast = pck_mod.pck(gt, dt, alpha=0.3)
    monkeypatch.setattr(pck_mod, "_match_people", lambda *a: (_match_people_numpy(*a), -1)[1])
    assert pck_mod.pck(gt, dt, alpha=0.3) == fast
    assert fast["matched_people"] > 0


def test_the_early_results_reader_keeps_the_order_and_text_of_errors(tmp_path):
    from benchmarks.scoring.results import load_inputs

    gt_d, res = three_image_world()
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    missing = tmp_path / "nope.json"
    bad_gt = write_json(tmp_path / "bad_gt.json", dict(gt_d, annotations="x"))
    with pytest.raises(CocoFormatError) as got:                  # both bad: the ground truth's error
        load_inputs(bad_gt, missing)
    assert "bad_gt.json" in str(got.value)
    with pytest.raises(CocoFormatError, match="nope.json: file not found"):
        load_inputs(gp, missing)
    with pytest.raises(ValueError, match="sigmas"):               # the sigmas before the results
        load_inputs(gp, missing, sigmas="0.1,0.2")
    # a first record with 14 keypoints: the guess (K = 14) is dropped and the 17-keypoint
    # ground truth decides, through the validator's own message
    short = [dict(res[0], keypoints=res[0]["keypoints"][:42])] + res[1:]
    sp = write_json(tmp_path / "short.json", short)
    with pytest.raises(CocoFormatError, match=r"short.json: \[0\].keypoints: has 42 values, expected 51"):
        load_inputs(gp, sp)
    gt, dt, _, _ = load_inputs(gp, rp)
    _same(dt, validate_results(read_json(rp), gt, rp))


def test_a_report_that_fails_leaves_nothing_partial(tmp_path, monkeypatch):
    from benchmarks import scores_report
    from benchmarks.evaluate import score_and_report

    gt_d, res = three_image_world()
    gp, rp = write_json(tmp_path / "gt.json", gt_d), write_json(tmp_path / "res.json", res)
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text("[]")               # someone else's file in the folder stays

    def boom(*a, **k):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(scores_report, "plot_pck", boom)          # after the bucket and counting PNGs
    with pytest.raises(RuntimeError, match="plot failed"):
        score_and_report(gp, rp, out, bootstrap=5, method="M")
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]

    monkeypatch.undo()
    score_and_report(gp, rp, out, bootstrap=5, method="M")  # a complete run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"scores.json", "report.md", "bucket_ap.png"} <= set(before)
    monkeypatch.setattr(scores_report, "plot_pck", boom)
    with pytest.raises(RuntimeError):
        score_and_report(gp, rp, out, bootstrap=7, method="M2")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before   # the earlier run, whole


def test_crowdpose_area_rule_unaffected_by_fast_reader(tmp_path):
    # the protocol's area (0.53 x box) is applied after reading: both readers give the file's boxes
    gt_d, _ = three_image_world()
    for a in gt_d["annotations"]:
        del a["area"]
    gp = write_json(tmp_path / "gt.json", gt_d)
    gt = load_ground_truth(gp)
    assert gt.notes == {"area_from_bbox": len(gt_d["annotations"])}
    assert all(math.isclose(x, b[2] * b[3]) for x, b in zip(gt.area, gt.bbox))

"""``score_files``: every number of ``bench score`` for one results file, as one dict.

One OKS evaluation per results file; Table 1, every bucket and every bootstrap
resample re-accumulate its match table (see :mod:`.accumulate`). Table 1 and
every Table 3 level are scored on the same image resamples (all are matched
against the one unjittered ground truth), so each level's AP difference to
level 0 gets a paired interval.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .accumulate import STAT_NAMES, MatchTable
from .bootstrap import bootstrap_ap, paired_delta_ci, percentile_ci, resample_aps
from .buckets import crowd_index_buckets, people_buckets
from .cocoeval_engine import AREA_LABELS, AREA_RANGES, IOU_THRS, MAX_DETS, evaluate
from .counting import counting_confusion
from .groundtruth import GroundTruth, load_ground_truth
from .jitter import map_to_base
from .pck import pck
from .protocol import area_rule, check_protocol, for_protocol, official_stats, printed, summary_lines
from .results import Detections, load_inputs, load_results

SCORES_FORMAT = "cococrowd-scores/2"   # 2: keys name what they hold (ap_ar, ap_by_people, ap_under_jitter)
CI_LEVEL = 0.95


def _stats_dict(values: list) -> dict:
    return dict(zip(STAT_NAMES, values))


def _subset_scores(table: MatchTable, label: str, images: np.ndarray, gt: GroundTruth,
                   bootstrap: int, seed: list[int]) -> dict:
    people = int(np.isin(gt.ann_image[gt.people], images).sum())
    if len(images) == 0:
        return {"label": label, "images": 0, "people": 0, "stats": _stats_dict([None] * len(STAT_NAMES)), "ap_ci": None}
    sub = table.subset(images)
    return {"label": label, "images": int(len(images)), "people": people,
            "stats": _stats_dict(sub.stats()), "ap_ci": bootstrap_ap(sub, bootstrap, seed, CI_LEVEL)}


def parse_jitter(spec: str) -> tuple[float, str, str]:
    """``LEVEL=GT,RESULTS`` -> (level, gt path, results path)."""
    level, sep, files = spec.partition("=")
    parts = files.split(",")
    if not sep or len(parts) != 2 or not all(parts):
        raise ValueError(f"--jitter {spec!r}: expected LEVEL=GT_FILE,RESULTS_FILE, "
                         "e.g. 5=crowd_val_jitter5.json,res5.json")
    try:
        value = float(level)
    except ValueError:
        raise ValueError(f"--jitter {spec!r}: level {level!r} is not a number (pixels)") from None
    return value, parts[0], parts[1]


def _normalise_jitter(jitter) -> list[tuple[float, str, str]]:
    if not jitter:
        return []
    items: Iterable = jitter.items() if isinstance(jitter, Mapping) else jitter
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(parse_jitter(item))
        elif len(item) == 2:           # (level, (gt, results)) from a mapping
            out.append((float(item[0]), str(item[1][0]), str(item[1][1])))
        else:
            out.append((float(item[0]), str(item[1]), str(item[2])))
    levels = [lv for lv, _, _ in out]
    if len(set(levels)) != len(levels):
        raise ValueError(f"--jitter: level given twice in {levels}")
    return sorted(out)


def _level_label(level: float):
    return int(level) if float(level).is_integer() else level


def score_loaded(gt: GroundTruth, dt: Detections, *, sigmas: np.ndarray, bootstrap: int = 1000,
                 seed: int = 0, count_threshold: float = 0.0, count_cap: int = 10,
                 pck_alpha: float = 0.2, protocol: str = "coco") -> dict:
    """Tables 1 and 2, crowd-index buckets, counting and PCK of loaded inputs."""
    gt = for_protocol(gt, protocol)
    table = evaluate(gt, dt, sigmas)
    ap_ci = bootstrap_ap(table, bootstrap, _table1_seed(seed), CI_LEVEL)
    return _score_table(gt, dt, table, ap_ci, bootstrap=bootstrap, seed=seed, count_threshold=count_threshold,
                        count_cap=count_cap, pck_alpha=pck_alpha, protocol=protocol)


def _table1_seed(seed: int) -> list[int]:
    """Seed of the Table 1 resamples, which Table 3 shares."""
    return [seed, 0]


def _crowdpose_official(gt: GroundTruth, table: MatchTable, ci_buckets) -> dict:
    """crowdposetools' numbers as it reports and prints them."""
    stats = official_stats(table, ci_buckets)
    return {"stats": stats, "printed": printed(stats), "summary": summary_lines(stats, MAX_DETS),
            "buckets_note": None if ci_buckets is not None else
            f"AP easy/medium/hard need each image's crowdIndex; {Path(gt.source).name} has none"}


def _score_table(gt: GroundTruth, dt: Detections, table: MatchTable, ap_ci: dict | None, *, bootstrap: int,
                 seed: int, count_threshold: float, count_cap: int, pck_alpha: float, protocol: str) -> dict:
    table1 = {"stats": _stats_dict(table.stats()), "ap_ci": ap_ci}
    buckets, source, outside = people_buckets(gt)
    table2 = {"source": source, "images_outside_buckets": int(outside),
              "buckets": [_subset_scores(table, label, imgs, gt, bootstrap, [seed, 1, i])
                          for i, (label, imgs) in enumerate(buckets)]}
    ci_buckets = crowd_index_buckets(gt)
    crowd = None
    if ci_buckets is not None:
        crowd = {"buckets": [_subset_scores(table, label, imgs, gt, bootstrap, [seed, 2, i])
                             for i, (label, imgs) in enumerate(ci_buckets)]}
    return {
        "ap_ar": table1, "ap_by_people": table2, "crowd_index": crowd,
        "crowdpose": _crowdpose_official(gt, table, ci_buckets) if protocol == "crowdpose" else None,
        "counting": counting_confusion(gt, dt, count_threshold, count_cap),
        "pck": pck(gt, dt, pck_alpha, count_threshold),
    }


def _jitter_tables(levels, gt: GroundTruth, gt_path, sig: np.ndarray, gt_eval: GroundTruth
                   ) -> list[tuple[dict, MatchTable]]:
    """(row without AP numbers, match table) per level: predictions mapped to the base crops
    and matched against the base ground truth (``gt_eval``: as the protocol scores it),
    so every table covers ``gt``'s images."""
    out = []
    for level, jgt_path, jres_path in levels:
        jgt = load_ground_truth(jgt_path)
        if jgt.keypoint_names != gt.keypoint_names:
            raise ValueError(f"{jgt_path}: keypoint names differ from {gt_path}")
        mapped = map_to_base(load_results(jres_path, jgt), jgt, gt, level)
        out.append(({"level": _level_label(level), "gt": str(jgt_path), "results": str(jres_path),
                     "gt_sha256": jgt.sha256, "results_sha256": mapped.sha256}, evaluate(gt_eval, mapped, sig)))
    return out


def _table3(rows: list[dict], draws: np.ndarray | None, reference: str) -> dict:
    """Level rows with AP, its CI and the paired difference to the level-0 row.
    draws: (len(rows), B) per-resample APs of the rows on shared resamples."""
    ref = [r["level"] for r in rows].index(0)
    ref_ap = rows[ref]["stats"]["AP"]
    for i, row in enumerate(rows):
        row["ap_ci"] = None if draws is None else percentile_ci(draws[i], CI_LEVEL)
        ap = row["stats"]["AP"]
        if i == ref:
            row["delta_vs_0"], row["delta_ci"] = None, None
            continue
        row["delta_vs_0"] = None if ap is None or ref_ap is None else ap - ref_ap
        row["delta_ci"] = None if draws is None else paired_delta_ci(draws[i], draws[ref], CI_LEVEL)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["level"])
    return {"delta_reference": reference, "levels": [rows[i] for i in order]}


def score_files(gt_path, results_path, *, jitter=None, seed: int = 0, bootstrap: int = 1000,
                sigmas: str | None = None, count_threshold: float = 0.0, count_cap: int = 10,
                pck_alpha: float = 0.2, method: str | None = None, protocol: str = "coco") -> dict:
    """Score ``results_path`` against ``gt_path``; returns the scores.json dict.

    jitter: ``[(level, jittered_gt, results), ...]``, ``{level: (gt, results)}`` or
    ``["LEVEL=GT,RESULTS", ...]``; each level's predictions are mapped back to
    the base crops and scored against ``gt_path``. sigmas: ``None`` (from the
    keypoint names), K comma-separated numbers, or a JSON file name -> sigma.
    bootstrap: resamples for the 95% CIs (0 = none); seed makes them repeatable.
    protocol: ``coco`` (pycocotools) or ``crowdpose`` (crowdposetools: area
    0.53 x box, official stats in ``scores["crowdpose"]``; see :mod:`.protocol`).
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    check_protocol(protocol)
    levels = _normalise_jitter(jitter)
    gt, dt, sig, sig_source = load_inputs(gt_path, results_path, sigmas)
    gt_eval = for_protocol(gt, protocol)
    table = evaluate(gt_eval, dt, sig)
    jitter = _jitter_tables(levels, gt, gt_path, sig, gt_eval)
    tables = [table] + [t for _, t in jitter]
    # one set of image resamples for Table 1 and every jitter level: paired comparisons
    draws = resample_aps(tables, bootstrap, _table1_seed(seed)) if bootstrap and gt.num_images else None
    core = _score_table(gt_eval, dt, table, None if draws is None else percentile_ci(draws[0], CI_LEVEL),
                        bootstrap=bootstrap, seed=seed, count_threshold=count_threshold, count_cap=count_cap,
                        pck_alpha=pck_alpha, protocol=protocol)

    table3 = None
    if levels:
        rows = [dict(r, stats=_stats_dict(t.stats())) for r, t in jitter]
        if 0 in [r["level"] for r in rows]:
            table3 = _table3(rows, None if draws is None else draws[1:], "the level-0 files (--jitter 0=...)")
        else:                        # the main results stand in for level 0
            rows.insert(0, {"level": 0, "gt": str(gt_path), "results": str(results_path),
                            "stats": core["ap_ar"]["stats"]})
            table3 = _table3(rows, draws, "the main --gt/--results (no --jitter 0=...)")

    return {
        "format": SCORES_FORMAT,
        "method": method or Path(results_path).stem,
        "protocol": protocol,
        "inputs": {
            "gt": {"path": str(gt_path), "sha256": gt.sha256, "images": gt.num_images,
                   "annotations": int(len(gt.ann_ids)),
                   "people": int(gt.people.sum()), "keypoints": gt.keypoint_names, "notes": gt.notes},
            "results": {"path": str(results_path), "sha256": dt.sha256, "detections": len(dt)},
        },
        "settings": {
            "protocol": protocol, "gt_area": area_rule(protocol),
            "sigmas": {"source": sig_source, "values": sig.tolist()},
            "iou_thresholds": IOU_THRS.tolist(), "max_dets": MAX_DETS,
            "area_ranges": dict(zip(AREA_LABELS, AREA_RANGES.tolist())),
            "bootstrap": {"resamples": bootstrap, "seed": seed, "level": CI_LEVEL, "unit": "image"},
            "count_threshold": count_threshold, "count_cap": count_cap, "pck_alpha": pck_alpha,
        },
        **{k: core[k] for k in ("ap_ar", "ap_by_people", "crowd_index", "crowdpose")},
        "ap_under_jitter": table3,
        "counting": core["counting"],
        "pck": core["pck"],
    }

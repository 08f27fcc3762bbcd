"""`bench analyze`: which errors a method makes, overall and per people-count and crowd-index
bucket. Returns the ``analysis.json`` dict; see the modules for each definition."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.scoring.bootstrap import draw_counts, percentile_ci
from benchmarks.scoring.buckets import crowd_index_buckets, people_buckets
from benchmarks.scoring.results import load_inputs

from .background import background_summary, false_negatives, overlapping_others
from .errors import GOOD_KS, JITTER_KS, TYPES, KeypointErrors, classify, mirror_index
from .impact import Corrector, best_oks
from .matching import LOCALISATION_OKS, match_detections

ANALYSIS_FORMAT = "cococrowd-analysis/1"
CI_LEVEL = 0.95


def _type_counts_per_image(gt, dt, types: np.ndarray) -> np.ndarray:
    """(images, 5): keypoints of each type per image."""
    out = np.zeros((gt.num_images, len(TYPES)), dtype=np.int64)
    rows, cols = np.nonzero(types >= 0)
    np.add.at(out, (dt.image[rows], types[rows, cols]), 1)
    return out


def keypoint_error_summary(per_image: np.ndarray, types: np.ndarray, dt, names: list[str], images: np.ndarray,
                           bootstrap: int, seed: int) -> dict:
    counts = per_image[images].sum(0)
    total = int(counts.sum())
    fractions = {t: (counts[j] / total if total else None) for j, t in enumerate(TYPES)}
    ci = {t: None for t in TYPES}
    if bootstrap and total and len(images):
        rng = np.random.default_rng(seed)
        w = draw_counts(rng, len(images), bootstrap).astype(np.float64)     # (R, n) image multiplicities
        drawn = w @ per_image[images]                                         # (R, 5)
        sums = drawn.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for j, t in enumerate(TYPES):    # a resample without keypoints is undefined (NaN)
                ci[t] = percentile_ci(np.where(sums > 0, drawn[:, j] / sums, np.nan), CI_LEVEL)
    in_images = np.isin(dt.image, images)
    per_keypoint = {}
    for k, name in enumerate(names):
        col = types[in_images, k]
        per_keypoint[name] = {t: int((col == j).sum()) for j, t in enumerate(TYPES)}
    return {"keypoints": total, "counts": {t: int(c) for t, c in zip(TYPES, counts)}, "fractions": fractions,
            "fraction_ci": ci, "per_keypoint": per_keypoint}


@dataclass
class Diagnosis:
    """Per-detection and per-annotation findings the report and pictures draw from."""
    match: np.ndarray        # (N,) annotation index each detection is matched to at OKS 0.1, -1 none
    match_oks: np.ndarray    # (N,) OKS with it
    errors: KeypointErrors
    false_negative: np.ndarray   # (M,) bool
    overlaps: np.ndarray     # (M,) other people whose boxes overlap (IoU >= 0.1)
    best_oks: np.ndarray     # (N,) highest OKS with anyone in the image


def diagnose(gt, dt, sigmas: np.ndarray) -> Diagnosis:
    match, match_oks = match_detections(gt, dt, sigmas)
    errors = classify(gt, dt, match, sigmas, mirror_index(gt.keypoint_names))
    return Diagnosis(match, match_oks, errors, false_negatives(gt, match), overlapping_others(gt),
                     best_oks(gt, dt, sigmas))


def bucket_groups(gt) -> tuple[dict[str, dict[str, np.ndarray]], str, int]:
    """{"people": {label: image positions}, "crowd_index": {...} when the file has it}."""
    people, people_source, outside = people_buckets(gt)
    crowd = crowd_index_buckets(gt)
    groups = {"people": dict(people)}
    if crowd is not None:
        groups["crowd_index"] = dict(crowd)
    return groups, people_source, outside


def analyze_loaded(gt, dt, *, sigmas: np.ndarray, bootstrap: int = 1000, seed: int = 0,
                   diagnosis: Diagnosis | None = None) -> dict:
    names = list(gt.keypoint_names)
    dx = diagnosis or diagnose(gt, dt, sigmas)
    match, match_oks, errors, fn, overlaps = dx.match, dx.match_oks, dx.errors, dx.false_negative, dx.overlaps
    per_image = _type_counts_per_image(gt, dt, errors.types)
    groups, people_source, outside = bucket_groups(gt)
    flat = {f"{g}:{label}": images for g, d in groups.items() for label, images in d.items()}
    rescored = dx.best_oks
    impact = Corrector(gt, dt, sigmas, errors, rescored < LOCALISATION_OKS, fn, flat).impact()

    def block(images: np.ndarray, key: str) -> dict:
        d_in = np.isin(dt.image, images)
        return {
            "images": int(len(images)),
            "matched_detections": int((errors.analysed & d_in).sum()),
            "matched_to_ignored": int(((match >= 0) & ~errors.analysed & d_in).sum()),
            "keypoint_errors": keypoint_error_summary(per_image, errors.types, dt, names, images, bootstrap, seed),
            "background": background_summary(gt, dt, match, rescored, fn, overlaps, images),
            "scoring": {"AP": impact["baseline"][key], "AP_rescored_by_best_oks": impact["alone"]["score"][key]},
            "ap_impact": {"baseline": impact["baseline"][key],
                          "alone": {s: v[key] for s, v in impact["alone"].items()},
                          "cumulative": [{"step": c["step"], "AP": c["AP"][key]} for c in impact["cumulative"]]},
        }

    everything = np.arange(gt.num_images)
    out = {"overall": block(everything, "all")}
    for g, d in groups.items():
        out[f"{g}_buckets"] = {label: block(images, f"{g}:{label}") for label, images in d.items()}
    out["crowd_index_buckets"] = out.get("crowd_index_buckets")
    out["people_count_source"] = people_source
    out["images_outside_people_buckets"] = int(outside)
    out["detections"] = [{"index": i, "image_id": int(gt.image_ids[dt.image[i]]),
                          "matched_annotation_id": int(gt.ann_ids[match[i]]) if match[i] >= 0 else None,
                          "oks": round(float(match_oks[i]), 6), "best_oks": round(float(rescored[i]), 6),
                          "types": [TYPES[t] if t >= 0 else None for t in errors.types[i]]}
                         for i in range(len(dt))]
    out["false_negative_annotation_ids"] = [int(a) for a in gt.ann_ids[fn]]
    return out


def analysis_dict(gt, dt, sig, sig_source, gt_path, results_path, *, bootstrap: int = 1000, seed: int = 0,
                  method: str | None = None, diagnosis: Diagnosis | None = None) -> dict:
    if bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {bootstrap}")
    body = analyze_loaded(gt, dt, sigmas=sig, bootstrap=bootstrap, seed=seed, diagnosis=diagnosis)
    return {
        "format": ANALYSIS_FORMAT,
        "method": method or Path(results_path).stem,
        "inputs": {"gt": {"path": str(gt_path), "sha256": gt.sha256, "images": gt.num_images},
                   "results": {"path": str(results_path), "sha256": dt.sha256, "detections": len(dt)}},
        "settings": {"types": list(TYPES), "localisation_oks": LOCALISATION_OKS, "good_ks": GOOD_KS,
                     "jitter_ks": JITTER_KS, "sigmas": {"source": sig_source, "values": sig.tolist()},
                     "keypoints": list(gt.keypoint_names),
                     "bootstrap": {"resamples": bootstrap, "seed": seed, "level": CI_LEVEL, "unit": "image"}},
        **body,
    }


def analyze_files(gt_path, results_path, *, sigmas: str | None = None, bootstrap: int = 1000, seed: int = 0,
                  method: str | None = None) -> dict:
    """The ``analysis.json`` dict of a results file against its ground truth."""
    gt, dt, sig, sig_source = load_inputs(gt_path, results_path, sigmas)
    return analysis_dict(gt, dt, sig, sig_source, gt_path, results_path, bootstrap=bootstrap, seed=seed,
                         method=method)

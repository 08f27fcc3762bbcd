"""``bench analyze`` outputs: ``analysis.json``, ``analysis.md`` with stacked error bars per
bucket, the AP-impact tables and per-bucket galleries of the worst and best images."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cococrowd.cocofile import dump_json, staged_folder, write_temp

from benchmarks.scoring.results import load_inputs

from .analyze import ANALYSIS_FORMAT, analysis_dict, bucket_groups, diagnose
from .errors import TYPES
from .impact import STEPS
from .pictures import contact_sheet, image_scores, plot_error_bars

GROUP_TITLES = {"people": "people in the image", "crowd_index": "CrowdPose crowd index"}


def _f(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _pct_ci(v, ci) -> str:
    return _pct(v) + (f" [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]" if ci else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def _blocks(a: dict) -> list[tuple[str, str, dict]]:
    """(group, label, block): overall first, then every bucket."""
    out = [("", "all", a["overall"])]
    for g in ("people", "crowd_index"):
        for label, b in (a.get(f"{g}_buckets") or {}).items():
            out.append((g, label, b))
    return out


def _name(group: str, label: str) -> str:
    return "all images" if not group else (f"{label} people" if group == "people" else f"crowd index {label}")


def render(a: dict, figures: dict[str, str], galleries: list[tuple[str, str]]) -> str:
    blocks = _blocks(a)
    s = a["settings"]
    lines = [f"# Error analysis: {a['method']}", "",
             f"Ground truth `{a['inputs']['gt']['path']}` ({a['inputs']['gt']['images']} images), results "
             f"`{a['inputs']['results']['path']}` ({a['inputs']['results']['detections']} detections). "
             f"Detections are matched to people at OKS >= {s['localisation_oks']} (pycocotools' greedy matching); "
             f"each labelled keypoint of the matched person is then *good* (own keypoint, ks > {s['good_ks']}), "
             f"*jitter* (own, {s['jitter_ks']} <= ks <= {s['good_ks']}), *inversion* (own left/right mirror, "
             f"ks >= {s['jitter_ks']}), *swap* (another person's keypoint, ks >= {s['jitter_ks']}) or *miss*. "
             f"Sigmas: {s['sigmas']['source']}. Intervals: {s['bootstrap']['level']:.0%} bootstrap over images "
             f"({s['bootstrap']['resamples']} resamples).", "", "## Keypoint errors", ""]
    rows = []
    for g, label, b in blocks:
        ke = b["keypoint_errors"]
        rows.append([_name(g, label), str(b["images"]), str(b["matched_detections"]), str(ke["keypoints"])]
                    + [_pct_ci(ke["fractions"][t], ke["fraction_ci"][t]) for t in TYPES])
    lines += [_table(["images", "n", "matched detections", "keypoints"] + list(TYPES), rows), ""]
    for key, rel in figures.items():
        lines += [f"![{key}]({rel})", ""]
    overall = a["overall"]["keypoint_errors"]["per_keypoint"]
    lines += ["Per keypoint, all images (counts):", "",
              _table(["keypoint"] + list(TYPES), [[n] + [str(c[t]) for t in TYPES] for n, c in overall.items()]), ""]
    lines += ["## Background errors", "",
              "False positives: detections with OKS < 0.1 with everyone in their image; duplicates: detections "
              "that reach someone whom a higher-scored detection took; detections ranked below the 20th of their "
              "image are not evaluated by COCO AP (counted apart). False negatives: people (not ignored, a "
              "labelled keypoint) whom no detection reaches at OKS 0.1.", ""]
    rows = [[_name(g, label), str(b["background"]["detections"]), str(b["background"]["false_positives"]),
             _pct(b["background"]["false_positive_fraction"]), str(b["background"]["duplicates"]),
             str(b["background"]["beyond_max_dets"]), str(b["background"]["people"]),
             str(b["background"]["false_negatives"]), _pct(b["background"]["false_negative_fraction"])]
            for g, label, b in blocks]
    lines += [_table(["images", "detections (top 20)", "false positives", "share", "duplicates", "beyond top 20",
                      "people", "false negatives", "share"], rows),
              ""]
    by = a["overall"]["background"]["false_negatives_by"]
    lines += ["False negatives, all images, by " + "; by ".join(
        f"{what.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in d.items()) for what, d in by.items()), ""]
    lines += ["## AP impact", "",
              "AP after correcting each error type alone, and cumulatively in the order shown (jitter to ks 0.85, "
              "a miss to ks 0.5, an inversion or swap onto the right keypoint at the ks it had; *score*: detections "
              "re-scored by their best OKS, the oracle ranking; *background_fp*: false positives dropped; "
              "*false_negatives*: missed people ignored).", "",
              _table(["images", "AP"] + [f"+{s}" for s in STEPS],
                     [[_name(g, label), _f(b["ap_impact"]["baseline"])] + [_f(c["AP"]) for c in b["ap_impact"]["cumulative"]]
                      for g, label, b in blocks]), "", "Each alone:", "",
              _table(["images", "AP"] + list(STEPS),
                     [[_name(g, label), _f(b["ap_impact"]["baseline"])] + [_f(b["ap_impact"]["alone"][s]) for s in STEPS]
                      for g, label, b in blocks]), ""]
    if galleries:
        lines += ["## Galleries", "",
                  "Worst and best images of each bucket by the mean OKS of their people (0 for a missed person). "
                  "Cyan: ground truth; dashed: predictions, one colour each, keypoints coloured by type "
                  "(green good, yellow jitter, red inversion, orange swap, purple miss, grey unmatched); "
                  "hatched: ignored people.", ""]
        for label, rel in galleries:
            lines += [f"### {label}", "", f"![{label}]({rel})", ""]
    return "\n".join(lines)


def _image_paths(gt, images: str | Path | None, gt_path: Path) -> dict[int, Path | None]:
    if images is not None:
        base = Path(images)
    else:
        image_dir = (gt.crowd_info or {}).get("image_dir")
        base = (gt_path.resolve().parent / image_dir) if isinstance(image_dir, str) else None
    return {int(i): (base / rec["file_name"] if base is not None and isinstance(rec.get("file_name"), str) else None)
            for i, rec in zip(gt.image_ids, gt.image_records)}


def _skeleton(gt_path: Path, k: int) -> tuple[list[list[int]], str | None]:
    """The file's 1-based skeleton, or none (and why) when it does not fit its K keypoints."""
    from cococrowd.cocofile import load_keypoint_file
    bones = list(load_keypoint_file(gt_path).schema.skeleton or [])
    ok = all(isinstance(b, list) and len(b) == 2 and all(isinstance(i, int) and 1 <= i <= k for i in b) for b in bones)
    if not ok:
        return [], (f"the file's skeleton names keypoints outside 1..{k} (a skeleton of another schema?), "
                    "so the galleries draw keypoints without bones")
    return bones, None


def write_analysis(gt_path, results_path, out_dir, *, images=None, sigmas: str | None = None,
                   bootstrap: int = 1000, seed: int = 0, method: str | None = None, gallery: int = 4) -> dict:
    """Analyse and write ``out_dir/analysis.json``, ``analysis.md`` and its PNGs. Every input is
    read and checked before anything is written."""
    if gallery < 0:
        raise ValueError(f"--gallery must be >= 0, got {gallery}")
    if images is not None and not Path(images).is_dir():
        raise FileNotFoundError(f"--images {images}: no such folder")
    gt_path, out_dir = Path(gt_path), Path(out_dir)
    gt, dt, sig, sig_source = load_inputs(gt_path, results_path, sigmas)
    dx = diagnose(gt, dt, sig)
    a = analysis_dict(gt, dt, sig, sig_source, gt_path, results_path, bootstrap=bootstrap, seed=seed,
                      method=method, diagnosis=dx)
    skeleton, skeleton_note = _skeleton(gt_path, len(gt.keypoint_names)) if gallery else ([], None)
    encoded = dump_json(a, indent=True)          # a value JSON cannot hold fails before any file
    # all or none, as `bench score`: every file is made in a hidden staging folder and renamed
    # into place once complete (figures, then analysis.md, analysis.json last)
    with staged_folder(out_dir, "analysis", last=("analysis.md", "analysis.json"),
                       stale=("analysis_errors_*.png", "analysis_gallery_*.png")) as stage:   # an earlier run's
        _write_staged(a, encoded, gt, dt, dx, images, gt_path, gallery, skeleton, skeleton_note, stage, out_dir)
    return a


def _write_staged(a, encoded, gt, dt, dx, images, gt_path, gallery, skeleton, skeleton_note, stage, out_dir):
    figures = {}
    for g in ("people", "crowd_index"):
        buckets = a.get(f"{g}_buckets")
        if buckets:
            name = f"analysis_errors_{g}.png"
            plot_error_bars([("all", a["overall"])] + list(buckets.items()),
                            f"{a['method']}: keypoint error types by {GROUP_TITLES[g]}", stage / name)
            figures[f"error types by {GROUP_TITLES[g]}"] = name
    galleries = []
    if gallery:
        paths = _image_paths(gt, images, gt_path)
        scores = image_scores(gt, dx.match, dx.match_oks)
        groups, _, _ = bucket_groups(gt)
        for label, positions in groups["people"].items():
            ranked = [int(p) for p in positions[np.argsort(scores[positions], kind="stable")]
                      if not np.isnan(scores[p])]
            if not ranked:
                continue
            half = min(gallery, (len(ranked) + 1) // 2)     # no image in both rows
            worst, best = ranked[:half], ranked[half:][::-1][:gallery]
            name = f"analysis_gallery_people_{label.replace('>=', 'ge')}.png"
            rows = [("worst", worst)] + ([("best", best)] if best else [])
            contact_sheet(gt, dt, dx.errors.types, dx.match, rows, skeleton, paths,
                          f"{a['method']}: {label} people, worst and best images", stage / name)
            galleries.append((f"{label} people", name))
    text = render(a, figures, galleries) + (f"\nNote: {skeleton_note}.\n" if skeleton_note and galleries else "")
    write_temp(stage / "analysis.md", text.encode(), out_dir / "analysis.md")
    write_temp(stage / "analysis.json", encoded, out_dir / "analysis.json")


def render_comparison(analyses: list[dict]) -> str:
    """Methods side by side: error shares and cumulative AP per people bucket."""
    lines = ["## Error types side by side", ""]
    labels = ["all"] + list((analyses[0].get("people_buckets") or {}).keys())
    for t in TYPES[1:]:
        rows = []
        for a in analyses:
            blocks = {"all": a["overall"], **(a.get("people_buckets") or {})}
            rows.append([a["method"]] + [_pct(blocks[lb]["keypoint_errors"]["fractions"][t]) if lb in blocks else "n/a"
                                         for lb in labels])
        lines += [f"**{t}** (share of matched keypoints):", "",
                  _table(["method"] + [lb if lb == "all" else f"{lb} people" for lb in labels], rows), ""]
    return "\n".join(lines)

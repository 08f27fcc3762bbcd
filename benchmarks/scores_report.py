"""Markdown reports of `bench score` results, with PNG plots.

``render`` makes one method's report (written all or none by
:func:`benchmarks.evaluate.write_run`); ``write_comparison(run_dirs, out_md)`` puts
several scored runs side by side (``bench report``). Tables follow the paper's layouts; the paper's
published numbers appear as separate rows labelled "(paper)", never merged
with computed ones.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cococrowd.cocofile import CocoFormatError, atomic_output, read_json, staged_folder, write_temp

from .scoring import paper
from .scoring.protocol import BUCKET_LABELS, OFFICIAL_STATS, PROTOCOLS
from .scoring.score import SCORES_FORMAT

STATS = paper.STATS
PAPER = "(paper)"


# ---------------------------------------------------------------- formatting

def _f(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _ci(ci) -> str:
    return "" if not ci else f"[{ci['low']:.3f}, {ci['high']:.3f}]"


def _with_ci(v, ci) -> str:
    return _f(v) + (f" {_ci(ci)}" if ci else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _level(v) -> str:
    return f"±{v:g}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "run"


# the report's figures: one of an earlier run that this run does not draw goes (a stale
# counting_1_<old name>.png would sit beside a report that no longer links it)
REPORT_FIGURES = ("bucket_ap.png", "crowd_index_ap.png", "jitter_ap.png", "pck.png", "counting_*.png")


# ---------------------------------------------------------------- plots

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 11, "axes.labelsize": 10,
                         "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 150})
    return plt


def _save(fig, path: Path) -> None:
    from cococrowd.plots import save_figure
    save_figure(fig, path, bbox_inches="tight")


def _grouped_bars(ax, groups: list[str], series: list[dict], percent: bool = False) -> None:
    """series: {"label", "values" (None = n/a), "low", "high" (optional), "paper" (bool)}."""
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    colours = iter(["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"])
    greys = iter(["#7f7f7f", "#bcbcbc", "#4d4d4d", "#a0a0a0", "#303030"])
    for i, s in enumerate(series):
        vals = np.array([np.nan if v is None else v for v in s["values"]], dtype=float)
        colour = next(greys) if s.get("paper") else next(colours)
        pos = x - 0.4 + width * (i + 0.5)
        err = None
        if s.get("low") is not None:
            lo = np.array([np.nan if v is None else v for v in s["low"]], dtype=float)
            hi = np.array([np.nan if v is None else v for v in s["high"]], dtype=float)
            err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        bars = ax.bar(pos, np.nan_to_num(vals), width * 0.92, yerr=err, capsize=2.5, color=colour,
                      hatch="//" if s.get("paper") else None, edgecolor="white" if not s.get("paper") else "black",
                      linewidth=0.4, label=s["label"], error_kw={"elinewidth": 0.8, "ecolor": "black"})
        for bar, v in zip(bars, vals):
            text = "n/a" if np.isnan(v) else (f"{v:.1f}" if percent else f"{v:.3f}")
            top = 0 if np.isnan(v) else v
            if err is not None and not np.isnan(v):
                top = max(top, v + err[1][list(bars).index(bar)])
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6.5, rotation=90 if n > 2 else 0)
    ax.set_xticks(x, groups)
    ax.margins(y=0.18)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)


def plot_bucket_ap(runs, path: Path, key: str = "ap_by_people", paper_rows: dict | None = None,
                   xlabel: str = "People in the image", title: str = "AP by number of people") -> None:
    plt = _plt()
    first = runs[0][1][key]["buckets"]
    groups = [f"{b['label']}\n(n={b['images']})" for b in first]
    series = []
    for name, s in runs:
        buckets = s[key]["buckets"]
        series.append({"label": name, "values": [b["stats"]["AP"] for b in buckets],
                       "low": [b["ap_ci"]["low"] if b["ap_ci"] else None for b in buckets],
                       "high": [b["ap_ci"]["high"] if b["ap_ci"] else None for b in buckets]})
    for name, values in (paper_rows or {}).items():
        series.append({"label": f"{name} {PAPER}", "values": list(values), "paper": True})
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    _grouped_bars(ax, groups, series)
    ax.set_xlabel(xlabel + " (n = images)")
    ax.set_ylabel("AP (OKS 0.50:0.95)")
    ax.set_title(title + " — bars: AP, whiskers: 95% bootstrap CI")
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    ax.legend(fontsize=7.5, frameon=False, ncol=min(len(series), 4), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    _save(fig, path)


def plot_counting(name: str, counting: dict, path: Path) -> None:
    plt = _plt()
    m = np.array(counting["matrix"])
    labels = counting["labels"]
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    im = ax.imshow(m, cmap="Blues", origin="lower")
    peak = m.max() if m.size else 0
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > 0.55 * peak else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(f"Predicted people (score ≥ {counting['threshold']:g})")
    ax.set_ylabel("Ground-truth people")
    exact, n_img = counting["exact"], counting["images"]
    detail = "" if exact is None else f"exact count in {100 * exact:.1f}% of {n_img} images"
    ax.set_title(f"Counting: {name}\n{detail}")
    ax.spines[:].set_visible(False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="images")
    _save(fig, path)


def plot_pck(runs, path: Path) -> None:
    plt = _plt()
    parts = list(runs[0][1]["pck"]["parts"])
    groups = parts + ["mean"]
    series = []
    for name, s in runs:
        p = s["pck"]
        vals = [p["parts"].get(k) for k in parts] + [p["mean"]]
        series.append({"label": name, "values": [None if v is None else 100 * v for v in vals]})
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    _grouped_bars(ax, groups, series, percent=True)
    alpha = runs[0][1]["pck"]["alpha"]
    ax.set_xlabel("Body part")
    ax.set_ylabel(f"PCK@{alpha:g} (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"PCK@{alpha:g} per part (unmatched people count as misses)")
    ax.legend(fontsize=7.5, frameon=False, ncol=min(len(series), 4), loc="upper center", bbox_to_anchor=(0.5, -0.16))
    _save(fig, path)


def plot_jitter(runs, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for name, s in runs:
        if not s.get("ap_under_jitter"):
            continue
        lv = s["ap_under_jitter"]["levels"]
        x = [r["level"] for r in lv]
        y = np.array([np.nan if r["stats"]["AP"] is None else r["stats"]["AP"] for r in lv])
        lo = np.array([r["ap_ci"]["low"] if r["ap_ci"] else np.nan for r in lv])
        hi = np.array([r["ap_ci"]["high"] if r["ap_ci"] else np.nan for r in lv])
        err = np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)])
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        for xi, yi in zip(x, y):
            if not np.isnan(yi):
                ax.annotate(f"{yi:.3f}", (xi, yi), xytext=(6, 3), textcoords="offset points", ha="left", fontsize=7)
    for name, levels in paper.TABLE3.items():
        ax.plot(list(levels), list(levels.values()), linestyle="--", marker="s", color="grey", label=f"{name} {PAPER}")
    levels = sorted({r["level"] for _, s in runs if s.get("ap_under_jitter") for r in s["ap_under_jitter"]["levels"]}
                    | {lv for vals in paper.TABLE3.values() for lv in vals})
    ax.set_xticks(levels, [f"±{lv:g}" for lv in levels])
    ax.set_xlabel("Box jitter (px)")
    ax.set_ylabel("AP (OKS 0.50:0.95)")
    ax.set_title("AP under crop-box jitter (95% bootstrap CI)")
    ax.grid(linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=7.5, frameon=False)
    _save(fig, path)


# ---------------------------------------------------------------- markdown

def protocol_of(s: dict) -> str:
    """The protocol that produced a run's numbers (scores.json before --protocol: coco)."""
    return s.get("protocol", "coco")


_PROTOCOL_TEXT = {
    "coco": "pycocotools keypoint semantics (OKS with per-keypoint sigmas, ground-truth area from the file, else "
            "box w x h; area ranges all/medium/large; iscrowd and unlabelled people ignored)",
    "crowdpose": "CrowdPose's own evaluation, crowdposetools (as pycocotools, but every ground-truth area, for the "
                 "OKS scale and the area ranges, is 0.53 x box w x h; the file's `area` is not read)",
}


def _table1(runs, with_paper: bool) -> str:
    rows = [[name] + [_f(s["ap_ar"]["stats"][k]) for k in STATS]
            + [_ci(s["ap_ar"]["ap_ci"]) or "n/a", protocol_of(s)] for name, s in runs]
    if with_paper:
        rows += [[f"{m} {PAPER}"] + [_f(v) for v in vals] + ["", "the paper's"] for m, vals in paper.TABLE1.items()]
    return _table(["Method"] + list(STATS) + ["AP 95% CI", "Protocol"], rows)


def _crowdpose_official(runs) -> str:
    """crowdposetools' numbers as it prints them, then the unrounded values with bootstrap CIs."""
    header = ["Method", "Values"] + [k.replace("(", " ").rstrip(")") for k in OFFICIAL_STATS]
    rows, notes, blocks = [], [], []
    for name, s in runs:
        c = s["crowdpose"]
        rows.append([name, "crowdposetools (as printed)"]
                    + ["n/a" if c["printed"][k] is None else c["printed"][k] for k in OFFICIAL_STATS])
        t1 = s["ap_ar"]["stats"]
        buckets = {b["label"]: b for b in (s.get("crowd_index") or {}).get("buckets", [])}
        def full(v, ci=None) -> str:
            return _f(v, 6) + (f" {_ci(ci)}" if ci else "")
        unrounded = [full(t1["AP"], s["ap_ar"]["ap_ci"])] + [full(t1[k]) for k in ("AP.5", "AP.75", "AR", "AR.5",
                                                                                   "AR.75")]
        unrounded += [full(buckets[b]["stats"]["AP"], buckets[b]["ap_ci"]) if b in buckets else "n/a"
                      for b in BUCKET_LABELS]
        rows.append([f"{name}", "unrounded (6 places) [95% CI]"] + unrounded)
        if c["buckets_note"]:
            notes.append(f"{name}: {c['buckets_note']}.")
        blocks += [f"{name}:", "", "```", *c["summary"], "```", ""]
    text = _table(header, rows)
    if notes:
        text += "\n\n" + " ".join(notes)
    return text + "\n\ncrowdposetools' own printout (it labels the easy/medium/hard lines " \
                  "\"Average Recall (AR)\"; they hold AP):\n\n" + "\n".join(blocks)


def _bucket_table(runs, key: str, paper_rows: dict | None) -> str:
    labels = [b["label"] for b in runs[0][1][key]["buckets"]]
    rows = []
    for name, s in runs:
        by = {b["label"]: b for b in s[key]["buckets"]}
        rows.append([name] + [_with_ci(by[b]["stats"]["AP"], by[b]["ap_ci"]) if b in by else "n/a" for b in labels])
        rows.append([f"{name}: images / people"]
                    + [f"{by[b]['images']} / {by[b]['people']}" if b in by else "" for b in labels])
    for m, vals in (paper_rows or {}).items():
        rows.append([f"{m} {PAPER}"] + [_f(v) for v in vals])
    return _table(["Method"] + labels, rows)


def _delta(row: dict) -> str:
    """Δ vs ±0 cell: signed difference [paired CI]; the ±0 row is the reference."""
    if row["level"] == 0:
        return "reference"
    if "delta_vs_0" not in row:               # scores.json from before paired deltas
        return "n/a"
    d, ci = row["delta_vs_0"], row["delta_ci"]

    def signed(v: float) -> str:
        return f"{v + 0.0:+.3f}"               # + 0.0: no "-0.000" for a negative zero
    text = "n/a" if d is None else signed(d)
    return text + (f" [{signed(ci['low'])}, {signed(ci['high'])}]" if ci else "")


def _table3(runs) -> str:
    """Computed levels, one row per (method, level), with the paired difference to ±0."""
    rows = []
    for name, s in runs:
        if not s.get("ap_under_jitter"):
            continue
        for r in s["ap_under_jitter"]["levels"]:
            rows.append([name, _level(r["level"]), _with_ci(r["stats"]["AP"], r["ap_ci"]), _delta(r)])
    return _table(["Method", "Jitter", "AP [95% CI]", "Δ vs ±0 [95% CI]"], rows)


def _paper_table3() -> str:
    levels = sorted({lv for vals in paper.TABLE3.values() for lv in vals})
    rows = [[f"{m} {PAPER}"] + [_f(vals.get(lv)) if lv in vals else "" for lv in levels]
            for m, vals in paper.TABLE3.items()]
    return _table(["Method"] + [_level(lv) for lv in levels], rows)


def _counting(name, c) -> str:
    labels = c["labels"]
    header = ["GT \\ predicted"] + labels
    rows = [[labels[i]] + [str(v) for v in row] for i, row in enumerate(c["matrix"])]
    summary = (f"{name}: predictions with score ≥ {c['threshold']:g}; exact count in "
               f"{_pct(c['exact'])} of {c['images']} images, over {_pct(c['over'])}, under {_pct(c['under'])}, "
               f"mean absolute error {_f(c['mean_abs_error'], 2)} people "
               f"({c['predicted_people']} predicted vs {c['gt_people']} ground-truth people; a ground-truth person "
               "counts when it is not ignored and has at least one labelled keypoint).")
    return summary + "\n\n" + _table(header, rows)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _pck_table(runs) -> str:
    parts = []
    for _, s in runs:
        parts += [p for p in s["pck"]["parts"] if p not in parts]
    rows = []
    for name, s in runs:
        p = s["pck"]
        rows.append([name] + [_f(None if p["parts"].get(k) is None else 100 * p["parts"][k], 1) for k in parts]
                    + [_f(None if p["mean"] is None else 100 * p["mean"], 1)])
        m = p["matched_only"]
        rows.append([f"{name} (matched people only)"]
                    + [_f(None if m["parts"].get(k) is None else 100 * m["parts"][k], 1) for k in parts]
                    + [_f(None if m["mean"] is None else 100 * m["mean"], 1)])
    return _table(["Method"] + parts + ["mean"], rows)


def _paper_table4() -> str:
    rows = [[f"{m} {PAPER}"] + ["-" if v is None else f"{v:.1f}" for v in vals] for m, vals in paper.TABLE4.items()]
    return _table(["Method"] + list(paper.TABLE4_PARTS), rows)


def _inputs(runs) -> str:
    rows = []
    for name, s in runs:
        g, r = s["inputs"]["gt"], s["inputs"]["results"]
        rows.append([name, f"`{Path(g['path']).name}` ({g['sha256'][:12]})", str(g["images"]), str(g["people"]),
                     f"`{Path(r['path']).name}` ({r['sha256'][:12]})", str(r["detections"]),
                     s["settings"]["sigmas"]["source"]])
    for row, (_, s) in zip(rows, runs):
        row.append(protocol_of(s))
    text = _table(["Method", "Ground truth", "Images", "People", "Results", "Detections", "OKS sigmas",
                   "Protocol"], rows)
    if len({s["inputs"]["gt"]["sha256"] for _, s in runs}) > 1:
        text += ("\n\n**Warning: these runs were scored on different ground-truth files; "
                 "their numbers are not comparable.**")
    return text


def _bootstrap_settings(runs: list[tuple[str, dict]]) -> str:
    """Resamples and seed of the CIs: once when every run used the same, else per run."""
    def one(s: dict) -> str:
        boot = s["settings"]["bootstrap"]
        return "no intervals" if not boot["resamples"] else f"{boot['resamples']} resamples, seed {boot['seed']}"
    each = [one(s) for _, s in runs]
    if len(set(each)) == 1:
        return each[0]
    return "settings differ: " + "; ".join(f"{name}: {text}" for (name, _), text in zip(runs, each))


def render(runs: list[tuple[str, dict]], fig_dir: Path, title: str, link_prefix: str = "") -> str:
    """Markdown for ``runs`` (name, scores); writes the PNGs into ``fig_dir`` (a staging folder),
    which the Markdown links as ``link_prefix + name``."""

    def link(name: str) -> str:
        return link_prefix + name

    s0 = runs[0][1]
    protocols = sorted({protocol_of(s) for _, s in runs})
    if len(protocols) > 1:                    # every row then names its protocol
        runs = [(f"{name} [{protocol_of(s)}]", s) for name, s in runs]
        scored = ("Runs were scored under different protocols (the protocol is in each row's name and in the "
                  "Protocol columns); numbers of different protocols are not comparable. "
                  + " ".join(f"`{p}`: {_PROTOCOL_TEXT[p]}." for p in protocols))
    else:
        scored = f"Scored by `bench score --protocol {protocols[0]}`: {_PROTOCOL_TEXT[protocols[0]]}."
    out = [f"# {title}", "",
           f"{scored} maxDets {s0['settings']['max_dets']}. Every number below comes from that protocol. "
           "95% confidence intervals: percentile bootstrap over images "
           f"({_bootstrap_settings(runs)}). Rows marked {PAPER} are the numbers published "
           "in the paper, copied as printed; they were measured on the authors' COCO-crowd split, not on these files.",
           "", "## Inputs", "", _inputs(runs), "",
           "## Table 1: keypoint AP / AR", "", _table1(runs, True), ""]

    official = [(n, s) for n, s in runs if s.get("crowdpose")]
    if official:
        out += ["## CrowdPose official numbers (`--protocol crowdpose`)", "",
                "AP, AR and AP easy / medium / hard (images with crowdIndex < 0.2, 0.2-0.8, >= 0.8, each bucket "
                "re-evaluated on its own images) exactly as crowdposetools reports them: 3 decimals, the bucket "
                "APs first rounded to 4 places as crowdposetools does, -1.000 where it has nothing to score. "
                "Below each row: the same numbers unrounded, with 95% bootstrap CIs for the APs.", "",
                _crowdpose_official(official), ""]

    plot_bucket_ap(runs, fig_dir / "bucket_ap.png", "ap_by_people", paper.TABLE2)
    src = s0["ap_by_people"]["source"]
    out += ["## Table 2: AP by number of people in the image", "",
            "People per image from "
            f"{'the `num_people` field' if src == 'num_people' else 'the non-ignored annotations'}; "
            f"{s0['ap_by_people']['images_outside_buckets']} image(s) with fewer than 2 people are in no bucket. "
            "An empty bucket is n/a. Cells: AP [95% CI].", "",
            _bucket_table(runs, "ap_by_people", dict(zip(paper.TABLE2, paper.TABLE2.values()))), "",
            f"![AP by number of people]({link('bucket_ap.png')})", ""]

    crowd_runs = [(n, s) for n, s in runs if s.get("crowd_index")]
    if crowd_runs:
        plot_bucket_ap(crowd_runs, fig_dir / "crowd_index_ap.png", "crowd_index", None,
                       xlabel="CrowdPose crowd index", title="AP by crowd index")
        out += ["## AP by CrowdPose crowd index", "",
                "easy: crowdIndex < 0.2; medium: 0.2 ≤ crowdIndex < 0.8; hard: crowdIndex ≥ 0.8.", "",
                _bucket_table(crowd_runs, "crowd_index", None), "",
                f"![AP by crowd index]({link('crowd_index_ap.png')})", ""]

    out += ["## Table 3: AP under crop-box jitter", ""]
    if any(s.get("ap_under_jitter") for _, s in runs):
        plot_jitter(runs, fig_dir / "jitter_ap.png")
        out += ["Predictions on each jittered crop are moved back into the unjittered crop "
                "(x + jx − bx, y + jy − by) and scored against the unjittered ground truth. Every level of a "
                "method is scored on the same image resamples as its Table 1 AP, so Δ vs ±0 is a paired "
                "comparison: the level's AP minus the ±0 AP (the `--jitter 0=` files, else the main results), "
                "with the percentile interval of the per-resample differences. An interval that excludes 0 "
                "is a difference the resampling of images does not explain.", "",
                _table3(runs), "", "The paper's Table 3:", "", _paper_table3(), "",
                f"![AP under jitter]({link('jitter_ap.png')})", ""]
    else:
        out += ["No jittered variants were scored (`bench score --jitter LEVEL=GT,RESULTS`). The paper's numbers:", "",
                _paper_table3(), ""]

    out += ["## Figure 6: counting confusion matrix", "",
            "Rows: people in the ground truth (annotations that are not ignore/iscrowd regions); "
            "columns: predictions at or above the score threshold; cells: images.", ""]
    for i, (name, s) in enumerate(runs):
        png = f"counting_{i + 1}_{_slug(name)}.png"
        plot_counting(name, s["counting"], fig_dir / png)
        out += [_counting(name, s["counting"]), "", f"![Counting confusion matrix, {name}]({link(png)})", ""]

    alpha = s0["pck"]["alpha"]
    plot_pck(runs, fig_dir / "pck.png")
    out += [f"## PCK@{alpha:g} per part (%)", "",
            f"A labelled keypoint is correct when its prediction lies within {alpha:g} × max(w, h) of the person's "
            "ground-truth box. Predictions (score ≥ the counting threshold) are matched one-to-one to people by the "
            "Hungarian algorithm on mean keypoint distance; a person left unmatched counts all labelled keypoints "
            "as misses. `mean` pools all labelled keypoints. The matched-only rows follow the paper's Table 4 "
            "convention.", "", _pck_table(runs), "", f"![PCK per part]({link('pck.png')})", "",
            "For context only, the paper's Table 4 (Immediacy dataset, different images and parts; not comparable):",
            "", _paper_table4(), ""]
    return "\n".join(out)


def load_output(path: Path, fmt: str, command: str, run_dir) -> dict:
    """A JSON output of a `bench` command, checked by its ``format`` key."""
    if not path.is_file():
        raise CocoFormatError(path, "", f"not found (run {command} --out {run_dir} first)")
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise CocoFormatError(path, "format", f"not a `{command}` output (expected format {fmt!r})")
    return data


def load_run(run_dir) -> dict:
    return load_output(Path(run_dir) / "scores.json", SCORES_FORMAT, "bench score", run_dir)


def load_analysis(run_dir) -> dict:
    from benchmarks.analysis import ANALYSIS_FORMAT
    return load_output(Path(run_dir) / "analysis.json", ANALYSIS_FORMAT, "bench analyze", run_dir)


def write_comparison(run_dirs, out_md, title: str | None = None, protocol: str | None = None) -> Path:
    """Several scored runs side by side; PNGs go to ``<out_md stem>_figures/``.
    protocol: when given, every run must have been scored with it (checked before anything is written)."""
    if not run_dirs:
        raise ValueError("give at least one run folder (--runs DIR ...)")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    out_md = Path(out_md)
    runs, seen = [], {}
    for d in run_dirs:
        s = load_run(d)
        if protocol is not None and protocol_of(s) != protocol:
            raise CocoFormatError(Path(d) / "scores.json", "protocol",
                                  f"scored with {protocol_of(s)!r}, this report is for {protocol!r} "
                                  f"(re-score: bench score --protocol {protocol} ... --out {d})")
        name = s.get("method") or Path(d).name
        if name in seen:
            name = f"{name} ({Path(d).name})"
        seen[name] = d
        runs.append((name, s))
    fig_dir = out_md.parent / f"{out_md.stem}_figures"
    title = title or f"Crowd pose comparison: {', '.join(n for n, _ in runs)}"
    # all or none: the figures are staged and renamed into place, then the Markdown that links them
    with atomic_output(out_md) as tmp_md:
        with staged_folder(fig_dir, "figures", stale=REPORT_FIGURES) as stage:
            text = render(runs, stage, title, link_prefix=f"{fig_dir.name}/")
            analysed = [(name, d) for name, d in seen.items() if (Path(d) / "analysis.json").is_file()]
            if analysed:  # runs with `bench analyze` output: their error types side by side
                from benchmarks.analysis.writer import render_comparison
                text += "\n" + render_comparison([dict(load_analysis(d), method=name) for name, d in analysed])
            write_temp(tmp_md, text.encode(), out_md)
    return out_md

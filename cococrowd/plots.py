"""Publication-style bar plots of count distributions (matplotlib, Agg, PNG)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from .cocofile import atomic_output  # noqa: E402

def save_figure(fig, path, **savefig_kw) -> None:
    """Write ``fig`` as a PNG through a temporary file (no half-written image on failure, and an
    OSError names ``path``), then close it. No timestamp or version metadata: same data, same bytes."""
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None}, **savefig_kw)
    finally:
        plt.close(fig)


MAX_BARS = 20  # longer tails are folded into one ">= N" bar (tables keep every value)
LOG_RATIO = 30  # a log axis once the tallest bar is this many times the shortest


def fold_tail(counts: pd.Series, max_bars: int = MAX_BARS) -> pd.Series:
    """Counts indexed by integer value; values from the ``max_bars``-th on
    are summed into one bar labelled ``>=v``. Index becomes strings."""
    if len(counts):  # absent values show as empty bars, not as a gap the eye skips
        counts = counts.reindex(range(int(counts.index.min()), int(counts.index.max()) + 1), fill_value=0)
    if len(counts) <= max_bars:
        return pd.Series(counts.to_numpy(), index=[str(v) for v in counts.index])
    head, tail = counts.iloc[:max_bars - 1], counts.iloc[max_bars - 1:]
    labels = [str(v) for v in head.index] + [f"\u2265{tail.index[0]}"]
    return pd.Series(list(head.to_numpy()) + [int(tail.sum())], index=labels)


def bar_plot(counts: pd.Series, path: str | os.PathLike, *, title: str, xlabel: str, ylabel: str,
             note: str | None = None) -> None:
    """Bars with their counts printed on top; log y axis where the tail
    would otherwise vanish. ``counts`` is indexed by integer value."""
    bars = fold_tail(counts)
    if not len(bars):  # nothing to count (a file without annotations): an empty plot, not NaN limits
        note = "no data" if note is None else f"{note}; no data"
    log = len(bars) > 1 and bars.max() / max(bars[bars > 0].min(), 1) >= LOG_RATIO
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=200, layout="constrained")
    positions = range(len(bars))
    rects = ax.bar(positions, bars.to_numpy(), color="#3b6ea8", edgecolor="#1f3f66", linewidth=0.6, width=0.75)
    ax.set_xticks(list(positions), bars.index, fontsize=8)
    ax.bar_label(rects, labels=[f"{int(v):,}" for v in bars.to_numpy()], padding=2,
                 fontsize=7 if len(bars) <= 12 else 5.5, rotation=0 if len(bars) <= 12 else 90)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    ax.set_title(title, fontsize=11)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(0.5, bars.max() * 8)  # room for the labels above the tallest bar
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else ""))
        for x, v in zip(positions, bars.to_numpy()):  # a log axis has no height for a 0 label to sit on
            if v == 0:
                ax.text(x, 0.6, "0", ha="center", va="bottom", fontsize=5.5 if len(bars) > 12 else 7)
    else:
        ax.set_ylim(0, bars.max() * 1.15 if len(bars) and bars.max() else 1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole ticks only
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if note:
        ax.text(0.99, 0.98, note, transform=ax.transAxes, ha="right", va="top", fontsize=8, color="0.3")
    save_figure(fig, path)

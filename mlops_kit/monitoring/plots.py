"""Plots: reference vs current per feature, and drift over time as a heatmap.

Both work from the profiles (sorted values and counts), so they also work
for Spark data without collecting it.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["plot_distributions", "plot_drift_heatmap"]


def plot_distributions(report, features=None, *, bins: int = 30, ncols: int = 3):
    """One panel per feature: histograms (numeric) or bar charts (categorical).

    Titles carry the drift verdict, e.g. ``temperature  DRIFT (ks, js)``.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    names = list(features or report.reference_profile)
    nrows = max(1, math.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, min(ncols, len(names)) or 1,
                             figsize=(4.2 * min(ncols, len(names) or 1), 3.0 * nrows), squeeze=False)
    results = report.results
    for ax, name in zip(axes.flat, names):
        ref, cur = report.reference_profile[name], report.current_profile[name]
        if ref.numeric:
            _numeric_panel(ax, ref.sample, cur.sample, bins)
        else:
            _categorical_panel(ax, ref.counts, cur.counts)
        hits = results[(results["feature"] == name) & results["drifted"].astype(bool)]["test"].tolist()
        verdict = f"DRIFT ({', '.join(hits)})" if hits else "no drift"
        ax.set_title(f"{name}  {verdict}", fontsize=9, color="firebrick" if hits else "black")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)  # shown by the notebook's display of the returned figure
    return fig


def _numeric_panel(ax, ref, cur, bins: int) -> None:
    if ref.n == 0 or cur.n == 0:
        ax.text(0.5, 0.5, "no values", ha="center", transform=ax.transAxes)
        return
    lo, hi = min(ref.values[0], cur.values[0]), max(ref.values[-1], cur.values[-1])
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for sample, label, color in ((ref, "reference", "tab:blue"), (cur, "current", "tab:orange")):
        share = sample.histogram(edges) / sample.n
        ax.stairs(share, edges, fill=True, alpha=0.45, label=label, color=color)
    ax.set_ylabel("share of rows")


def _categorical_panel(ax, ref_counts: pd.Series, cur_counts: pd.Series) -> None:
    table = pd.concat([ref_counts / max(ref_counts.sum(), 1), cur_counts / max(cur_counts.sum(), 1)],
                      axis=1, keys=["reference", "current"]).fillna(0.0)
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["reference"], width=0.4, label="reference", color="tab:blue", alpha=0.7)
    ax.bar(x + 0.2, table["current"], width=0.4, label="current", color="tab:orange", alpha=0.7)
    ax.set_xticks(x, [str(i)[:12] for i in table.index], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")


def plot_drift_heatmap(matrix: pd.DataFrame, *, value: str = "drifted", ax=None):
    """Feature x window heatmap (darker = more drift). Returns the Figure."""
    import matplotlib.pyplot as plt

    data = matrix.to_numpy(dtype=float)
    if value == "p_value":   # small p = drift: show -log10 p, capped
        data = np.minimum(-np.log10(np.clip(data, 1e-300, 1)), 20)
        label = "-log10(min p-value)"
    else:
        label = "share of tests drifted" if value == "drifted" else f"max {value}"
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * data.shape[1] + 2), max(2.5, 0.4 * data.shape[0] + 1)))
    else:
        fig = ax.figure
    image = ax.imshow(data, aspect="auto", cmap="Reds", vmin=0)
    ax.set_yticks(range(len(matrix.index)), list(matrix.index), fontsize=8)
    ax.set_xticks(range(len(matrix.columns)), [str(c)[:10] for c in matrix.columns],
                  rotation=45, ha="right", fontsize=7)
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title("Drift over time")
    fig.tight_layout()
    plt.close(fig)
    return fig

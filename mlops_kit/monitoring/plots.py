"""Plots: reference vs current per feature, drift over time, a model's error before and after.

Both work from the profiles (sorted values and counts), so they also work
for Spark data without collecting it.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["plot_distributions", "plot_drift_heatmap", "plot_drift_windows", "plot_model_errors"]


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


def plot_drift_windows(windowed, test: str = "js", *, features=None, dpi: int = 90):
    """One line per feature: ``test``'s value in each window, and the threshold it is judged by.

    Distance tests (``js``, ``psi``, ``wasserstein``) plot the distance, p-value
    tests (``ks``, ``chi2``, ...) the p-value on a log scale: drift is *above*
    the threshold for a distance and *below* it for a p-value. Drifted points
    are circled in red. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    res = windowed.results
    res = res[res["test"] == test]
    if res.empty:
        from mlops_kit.exceptions import ConfigError

        raise ConfigError(f"No {test!r} results in these windows. Tests run: "
                          f"{sorted(windowed.results['test'].dropna().unique())}.")
    windows = list(dict.fromkeys(windowed.results["window"]))
    names = list(features or dict.fromkeys(res["feature"]))
    is_distance = res["p_value"].isna().all()
    column = "distance" if is_distance else "p_value"
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=dpi)
    x = np.arange(len(windows))
    for name in names:
        rows = res[res["feature"] == name].set_index("window").reindex(windows)
        values = rows[column].to_numpy(dtype=float)
        line, = ax.plot(x, values, marker="o", label=str(name))
        hit = rows["drifted"].fillna(False).to_numpy(dtype=bool)
        ax.scatter(x[hit], values[hit], s=140, facecolors="none", edgecolors="firebrick", zorder=3)
    threshold = float(res["threshold"].dropna().iloc[0]) if res["threshold"].notna().any() else None
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1,
                   label=f"threshold {threshold:.3g}")
    if not is_distance:
        ax.set_yscale("log")
    ax.set_xticks(x, [str(w)[:10] for w in windows], rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("window")
    ax.set_ylabel(f"{test} {'distance' if is_distance else 'p-value'}")
    ax.set_title(f"Drift per window ({test}); red circles: drifted")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_model_errors(errors, *, metric: str = "RMSE", dpi: int = 90):
    """Grouped bars of a model error: rows are models, columns the data they were scored on.

    ``errors`` is a DataFrame (index: model, columns: data set) or a mapping
    ``{model: {data set: value}}``; the numbers are written on the bars.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    table = errors if isinstance(errors, pd.DataFrame) else pd.DataFrame(errors).T
    fig, ax = plt.subplots(figsize=(6.0, 3.2), dpi=dpi)
    width = 0.8 / max(1, len(table.columns))
    x = np.arange(len(table.index))
    for i, column in enumerate(table.columns):
        bars = ax.bar(x + (i - (len(table.columns) - 1) / 2) * width, table[column].to_numpy(float),
                      width=width, label=str(column))
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(x, [str(i) for i in table.index])
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per model and data set (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig

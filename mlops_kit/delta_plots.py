"""Pictures of Delta data skipping: each file's value range, and files read.

Delta writes min/max statistics of every column for every data file into its
log. A query ``price > 800`` can skip every file whose ``max(price)`` is 800 or
less. :func:`file_ranges` reads those statistics (delta-rs, no JVM);
:func:`plot_file_ranges` draws one horizontal bar per file from its min to its
max, red when the file may hold a match and must be read, grey when it is
skipped; :func:`plot_files_read` compares the files a query opened at each
stage (measured by :func:`mlops_kit.scans.measure_scan`).
"""
from __future__ import annotations

import os
from typing import Mapping

import pandas as pd

from mlops_kit.exceptions import ConfigError

__all__ = ["file_ranges", "plot_file_ranges", "plot_files_read"]


def file_ranges(name_or_path: str | os.PathLike[str], column: str) -> pd.DataFrame:
    """Per data file of the latest version: ``path``, ``rows``, ``min`` and ``max`` of ``column``.

    Sorted by ``min``. Read from the Delta log's statistics; no file is opened.
    """
    import pyarrow as pa

    from mlops_kit.delta import _delta_rs

    actions = pa.table(_delta_rs(name_or_path).get_add_actions(flatten=True)).to_pandas()
    low, high = f"min.{column}", f"max.{column}"
    if low not in actions.columns:
        known = sorted(c[4:] for c in actions.columns if c.startswith("min."))
        raise ConfigError(f"The Delta log has no statistics for column {column!r}. "
                          f"Columns with statistics: {known}.")
    frame = pd.DataFrame({"path": actions["path"], "rows": actions["num_records"].astype(int),
                          "min": actions[low].astype(float), "max": actions[high].astype(float)})
    return frame.sort_values(["min", "max"], kind="stable").reset_index(drop=True)


def plot_file_ranges(ranges: Mapping[str, pd.DataFrame], *, above: float, column: str = "price"):
    """One panel per table state: each file's [min, max] of ``column``, and the query ``column > above``.

    Parameters
    ----------
    ranges : mapping of str to pandas.DataFrame
        ``{"before": file_ranges(...), "z-ordered": file_ranges(...)}``.
    above : float
        The query's threshold: files with ``max <= above`` are skipped.
    column : str
        Column name, for the axis label.

    Returns
    -------
    matplotlib.figure.Figure
        Panel titles say ``"<state>: <n> of <m> files read"``.
    """
    import matplotlib.pyplot as plt

    if not ranges:
        raise ConfigError("plot_file_ranges needs at least one {label: file_ranges(...)} entry.")
    fig, axes = plt.subplots(1, len(ranges), figsize=(3.4 * len(ranges), 2.8), dpi=90,
                             sharex=True, squeeze=False)
    for ax, (label, frame) in zip(axes[0], ranges.items()):
        read = frame["max"] > above
        for y, (lo, hi, hit) in enumerate(zip(frame["min"], frame["max"], read)):
            ax.hlines(y, lo, hi, color="firebrick" if hit else "0.7", lw=3)
        ax.axvline(above, color="black", ls="--", lw=1)
        ax.set_title(f"{label}: {int(read.sum())} of {len(frame)} files read", fontsize=9)
        ax.set_xlabel(f"{column} range of each file")
        ax.set_yticks([])
    axes[0][0].set_ylabel("data files")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_files_read(counts: Mapping[str, int], *, total: Mapping[str, int] | None = None):
    """Bar chart of files read per stage (e.g. small files, compacted, z-ordered).

    ``total`` optionally gives the files in the table at each stage, drawn as
    a light bar behind. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not counts:
        raise ConfigError("plot_files_read needs at least one {stage: files read} entry.")
    labels = list(counts)
    fig, ax = plt.subplots(figsize=(4.2, 2.6), dpi=90)
    if total is not None:
        ax.bar(labels, [total[k] for k in labels], color="0.85", label="files in the table")
    bars = ax.bar(labels, [counts[k] for k in labels], color="tab:blue", width=0.5, label="files read")
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("files")
    ax.set_title("Files a selective query opened", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    plt.close(fig)
    return fig

"""Plots of deployment measurements: latency, throughput, streaming progress.

Each function takes plain numbers (what :mod:`mlops_kit.deployment.timing`
measures, or a query's ``recentProgress``), draws one small figure and returns
it, closed, so a notebook cell that ends on the call shows it exactly once.

>>> fig = plot_latency([3.1, 2.9, 4.0, 12.5])          # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from mlops_kit.deployment.timing import human_duration
from mlops_kit.exceptions import DataError

__all__ = [
    "latency_percentiles",
    "latency_table",
    "plot_latency",
    "plot_throughput",
    "plot_stream_progress",
    "plot_paradigm_latency",
]

#: the percentiles every latency plot marks
PERCENTILES = (50, 95, 99)
_DPI = 90


def _values(latencies_ms: Sequence[float], what: str) -> np.ndarray:
    values = np.asarray(list(latencies_ms), dtype=float)
    if values.size == 0:
        raise DataError(f"{what} needs at least one measurement. Got an empty sequence.")
    if not np.isfinite(values).all():
        raise DataError(f"{what} needs finite numbers. Got {values[~np.isfinite(values)][:3]}.")
    return values


def latency_percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    """``{"n", "mean_ms", "p50_ms", "p95_ms", "p99_ms"}`` of a list of latencies.

    >>> latency_percentiles([1, 2, 3, 4])["p50_ms"]
    2.5
    """
    values = _values(latencies_ms, "latency_percentiles")
    found = {"n": int(values.size), "mean_ms": round(float(values.mean()), 2)}
    for p in PERCENTILES:
        found[f"p{p}_ms"] = round(float(np.percentile(values, p)), 2)
    return found


def latency_table(latencies_ms: Mapping[str, Sequence[float]]):
    """One row per path: how many timings, and the p50, p95 and p99 in readable units.

    For paths whose latencies span milliseconds to hours, where raw numbers of
    ms are hard to compare by eye.

    >>> latency_table({"REST": [6.0, 7.0, 8.0], "batch": [43_200_000.0]})["p50"].tolist()
    ['7.0 ms', '12.0 h']
    """
    import pandas as pd

    rows = {}
    for name, values in latencies_ms.items():
        stats = latency_percentiles(_values(values, f"the {name!r} latencies"))
        rows[name] = {"n": stats["n"], **{f"p{p}": human_duration(stats[f"p{p}_ms"]) for p in PERCENTILES}}
    return pd.DataFrame.from_dict(rows, orient="index")


def _figure(width: float = 5.5, height: float = 3.0):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=_DPI)
    return plt, fig, ax


def plot_latency(latencies_ms: Sequence[float], *, title: str = "Request latency", bins: int = 30):
    """Histogram of latencies with the p50, p95 and p99 marked as vertical lines."""
    values = _values(latencies_ms, "plot_latency")
    stats = latency_percentiles(values)
    plt, fig, ax = _figure()
    ax.hist(values, bins=bins, color="tab:blue", alpha=0.75)
    for p, style in zip(PERCENTILES, ("-", "--", ":")):
        at = stats[f"p{p}_ms"]
        ax.axvline(at, color="black", linestyle=style, linewidth=1, label=f"p{p} {at:.1f} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"{title} ({stats['n']} requests)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_throughput(rows_per_second: Mapping[str, float], *, title: str = "Batch throughput"):
    """One bar per engine (or anything named), labelled with its rows per second."""
    if not rows_per_second:
        raise DataError("plot_throughput needs at least one engine. Got an empty mapping.")
    names = list(rows_per_second)
    values = [float(rows_per_second[n]) for n in names]
    plt, fig, ax = _figure(4.5, 3.0)
    bars = ax.bar(names, values, color=["tab:green", "tab:orange", "tab:blue"][: len(names)] or None)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    ax.set_xlabel("engine")
    ax.set_ylabel("rows per second")
    ax.set_title(title, fontsize=10)
    ax.margins(y=0.15)
    fig.tight_layout()
    plt.close(fig)
    return fig


def input_rows(progress: Mapping[str, Any]) -> int:
    """Rows one micro-batch read, from a progress entry of either engine.

    A local session's progress carries ``numInputRows``; over Spark Connect the
    entry is rebuilt from JSON without it, and PySpark's ``numInputRows``
    property sums it over the sources instead. Plain dicts work too.
    """
    rows = getattr(progress, "numInputRows", None)  # StreamingQueryProgress (Spark 4)
    if rows is None:
        rows = progress.get("numInputRows")
    return int(rows or 0)


def plot_stream_progress(progress: Sequence[Mapping[str, Any]], *,
                         title: str = "Streaming query progress"):
    """Rows per micro-batch (bars) and each batch's duration (line, right axis).

    ``progress`` is ``query.recentProgress`` (a list of dicts with ``batchId``,
    ``numInputRows`` and ``durationMs.triggerExecution``); batches that read no
    rows are left out.
    """
    batches = [p for p in progress if input_rows(p)]
    if not batches:
        raise DataError("plot_stream_progress needs at least one micro-batch that read rows. "
                        "Got none: did rows arrive while the query ran?")
    ids = [int(p["batchId"]) for p in batches]
    rows = [input_rows(p) for p in batches]
    seconds = [p.get("durationMs", {}).get("triggerExecution", 0) / 1000 for p in batches]
    plt, fig, ax = _figure()
    ax.bar([str(i) for i in ids], rows, color="tab:blue", alpha=0.75, label="rows")
    ax.set_xlabel("micro-batch id")
    ax.set_ylabel("rows in the micro-batch")
    right = ax.twinx()
    right.plot([str(i) for i in ids], seconds, color="tab:red", marker="o", label="duration")
    right.set_ylabel("duration (s)")
    right.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


#: ticks of the paradigm plot, in units a person would say; decades fill in a narrow range
_UNIT_TICKS = ((1.0, "1 ms"), (10.0, "10 ms"), (1000.0, "1 s"), (60_000.0, "1 min"),
               (3_600_000.0, "1 h"), (86_400_000.0, "1 day"))
_DECADE_TICKS = ((100.0, "100 ms"), (10_000.0, "10 s"))


def _duration_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Unit ticks that fall near ``[low, high]`` (ms), with decades added if fewer than three."""
    def near(ticks):
        return [(at, label) for at, label in ticks if low / 10 <= at <= high * 3]

    ticks = near(_UNIT_TICKS)
    if len(ticks) < 3:
        ticks = sorted(ticks + near(_DECADE_TICKS))
    return ticks


def plot_paradigm_latency(latencies_ms: Mapping[str, Sequence[float]], *,
                          title: str = "Latency by deployment paradigm"):
    """One box per paradigm on a log scale, from milliseconds to hours.

    Pass each paradigm's time from a row's arrival to its prediction, in ms
    (for batch, :func:`~mlops_kit.deployment.timing.scheduled_batch_latencies`:
    the wait for the next scheduled run plus the run). Boxes are drawn bottom
    to top in the mapping's order; each is labelled with its median, and the
    axis is ticked in units a person would say (ms, s, min, h).
    """
    if not latencies_ms:
        raise DataError("plot_paradigm_latency needs at least one paradigm. Got an empty mapping.")
    names = list(latencies_ms)
    data = [_values(latencies_ms[n], f"the {n!r} latencies") for n in names]
    plt, fig, ax = _figure(6.5, 3.2)
    ax.boxplot(data, tick_labels=names, vert=False, showfliers=True)
    for row, values in enumerate(data, start=1):
        p50 = float(np.median(values))
        ax.annotate(f"p50 {_human_ms(p50)}", (p50, row + 0.3), fontsize=8, ha="center")
    ax.set_xscale("log")
    ax.margins(x=0.1)
    ticks = _duration_ticks(min(float(v.min()) for v in data), max(float(v.max()) for v in data))
    if len(ticks) >= 2:
        ax.set_xticks([at for at, _ in ticks], [label for _, label in ticks])
        ax.minorticks_off()
    ax.set_xlabel("time from a row's arrival to its prediction (log scale)")
    ax.set_ylabel("paradigm")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


_human_ms = human_duration

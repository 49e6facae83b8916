"""Null counts and summary statistics, reference vs current.

The cheapest drift signal: a column whose mean jumped 1000 % or whose null rate
went from 0 to 30 % has changed, whatever the tests say. Percent change is
``100 * (current - reference) / |reference|`` (NaN when the reference is 0),
signed so that a fall and a rise read differently; the course showed its
absolute value.
"""
from __future__ import annotations

import math

import pandas as pd

from mlops_kit.monitoring._samples import Sample

__all__ = ["STATS", "sample_stats", "null_stats", "summary_rows", "pct_change", "empty_summary"]

#: the summary statistics compared, in display order
STATS = ("count", "null_count", "null_rate", "mean", "median", "std", "min", "max")


def pct_change(reference: float, current: float) -> float:
    """Signed percent change; NaN when the reference is 0 or missing."""
    if reference is None or current is None or reference == 0 or math.isnan(reference):
        return math.nan
    return 100.0 * (current - reference) / abs(reference)


def sample_stats(sample: Sample) -> dict[str, float]:
    """Summary statistics of a numeric sample (std with ddof=1, as pandas)."""
    n = sample.n
    total = n + sample.nulls
    stats = {"count": float(n), "null_count": float(sample.nulls),
             "null_rate": sample.nulls / total if total else math.nan}
    if n == 0:
        return {**stats, **{k: math.nan for k in ("mean", "median", "std", "min", "max")}}
    return {
        **stats,
        "mean": sample.mean(),
        "median": sample.median(),
        "std": sample.std(ddof=1) if n > 1 else math.nan,
        "min": float(sample.values[0]),
        "max": float(sample.values[-1]),
    }


def null_stats(n: int, nulls: int) -> dict[str, float]:
    """Counts for a categorical column (only nulls are comparable)."""
    total = n + nulls
    return {"count": float(n), "null_count": float(nulls),
            "null_rate": nulls / total if total else math.nan}


def summary_rows(feature: str, kind: str, reference: dict, current: dict) -> list[dict]:
    """Tidy rows: one per statistic with reference, current and percent change."""
    return [
        {"feature": feature, "kind": kind, "stat": stat,
         "reference": reference[stat], "current": current[stat],
         "pct_change": pct_change(reference[stat], current[stat])}
        for stat in STATS if stat in reference
    ]


def empty_summary() -> pd.DataFrame:
    return pd.DataFrame(columns=["feature", "kind", "stat", "reference", "current", "pct_change"])

"""Column profiles: what the drift tests need from one column of one frame.

A :class:`ColumnProfile` is a numeric column's sample (or a categorical
column's counts) plus its nulls. :func:`profile_pandas` builds them from
pandas; :func:`mlops_kit.monitoring.spark_backend.profile_spark` builds the
same from Spark without collecting the rows. :class:`~mlops_kit.monitoring.Monitor`
compares two sets of them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mlops_kit.monitoring._samples import Sample
from mlops_kit.monitoring.stattests import category_counts
from mlops_kit.monitoring.summary import null_stats, sample_stats

__all__ = ["ColumnProfile", "profile_pandas", "is_spark_frame"]


@dataclass(frozen=True)
class ColumnProfile:
    """What the tests need from one column of one frame."""

    name: str
    kind: str                      # feature / label / prediction
    numeric: bool
    sample: Sample | None          # numeric columns
    counts: pd.Series | None       # categorical columns: count per category
    nulls: int
    edges: np.ndarray | None = None  # Spark's binned path: inner bin edges ...
    reps: np.ndarray | None = None   # ... and each bin's representative value
    summary: dict | None = None      # stats of the full column (set by compact())

    @property
    def n(self) -> int:
        return self.sample.n if self.numeric else int(self.counts.sum())

    @property
    def stats(self) -> dict[str, float]:
        if self.summary is not None:
            return self.summary
        return sample_stats(self.sample) if self.numeric else null_stats(self.n, self.nulls)

    def compact(self) -> "ColumnProfile":
        """Same summary stats, a ~2000-point sample: what a report keeps for its plots."""
        if not self.numeric:
            return self
        return replace(self, sample=self.sample.compact(), summary=self.stats)


def is_spark_frame(frame) -> bool:
    """True for a pyspark (classic or Connect) DataFrame, without importing pyspark."""
    return type(frame).__module__.startswith("pyspark.") and hasattr(frame, "schema")


def profile_pandas(frame: pd.DataFrame, columns: Mapping[str, tuple[str, bool]]) -> dict[str, ColumnProfile]:
    """Profile ``columns`` (name -> (kind, numeric)) of a pandas frame."""
    out = {}
    for name, (kind, numeric) in columns.items():
        series = frame[name]
        if numeric:
            if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiu":
                values = series.to_numpy()
            else:
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            sample = Sample.from_array(values)
            out[name] = ColumnProfile(name, kind, True, sample, None, sample.nulls)
        else:
            nulls = int(series.isna().sum())
            out[name] = ColumnProfile(name, kind, False, None, category_counts(series), nulls)
    return out

"""Profiles of Spark DataFrames, computed inside Spark.

The Monitor's tests need, per column, sorted distinct values with counts
(numeric) or counts per category. Spark computes them without collecting rows:

1. one aggregation for every column: non-null count, null count (NULL or NaN),
   approximate distinct count;
2. categorical columns: ``groupBy(col).count()`` (exact);
3. numeric columns with at most ``exact_max_distinct`` distinct values:
   ``groupBy(col).count()`` too, so every test is **exact** (KS from the merged
   ECDF of the distinct-value counts, equal to scipy's on the raw rows);
4. other numeric columns: **approximate**, binned: ``bins`` bins cut at
   approximate quantiles of the reference (``approxQuantile``, relative error
   ``relative_error``), counts and mean per bin with one ``groupBy``; the
   current window is cut at the *reference's* edges and each bin is represented
   by the reference's bin mean, so the two ECDFs are compared exactly at the
   edges. The KS statistic is then exact at the bin edges and at most one bin's
   mass (about ``1 / bins``) below the true value; Mann-Whitney treats values in
   one bin as ties; Levene, Wasserstein and the medians use bin means. The
   result's p-values come from the same asymptotic formulas. Tests compare this
   path with pandas on the same data.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mlops_kit.monitoring._samples import Sample
from mlops_kit.monitoring.profile import ColumnProfile

__all__ = ["profile_spark"]

_NUMERIC_TYPES = ("integer", "long", "short", "byte", "float", "double", "decimal")


def profile_spark(frame, columns: Mapping[str, tuple[str, bool]], *, like: Mapping | None = None,
                  exact_max_distinct: int = 100_000, bins: int = 2000,
                  relative_error: float = 1e-4) -> dict:
    """Profile ``columns`` (name -> (kind, numeric)) of a Spark DataFrame.

    ``like`` is the reference's profile: binned reference columns make the
    current column use the same bin edges.
    """
    from pyspark.sql import functions as F

    types = {f.name: f.dataType.typeName() for f in frame.schema.fields}
    missing = sorted(set(columns) - set(types))
    if missing:
        from mlops_kit.exceptions import DataError

        raise DataError(f"The Spark data lacks column(s) {missing}. It has {sorted(types)}.")

    def valid(name: str, numeric: bool):
        col = F.col(name)
        if numeric and types[name] in ("float", "double"):
            return col.isNotNull() & ~F.isnan(col)
        return col.isNotNull()

    aggs = []
    for i, (name, (_, numeric)) in enumerate(columns.items()):
        aggs.append(F.sum(F.when(valid(name, numeric), 0).otherwise(1)).alias(f"n{i}"))
        if numeric:
            aggs.append(F.approx_count_distinct(F.col(name), 0.05).alias(f"d{i}"))
    first = frame.agg(*aggs).collect()[0]

    out = {}
    for i, (name, (kind, numeric)) in enumerate(columns.items()):
        nulls = int(first[f"n{i}"] or 0)
        rows = frame.where(valid(name, numeric))
        ref = (like or {}).get(name)
        if not numeric:
            pdf = rows.groupBy(F.col(name).cast("string").alias("v")).count().toPandas()
            counts = pd.Series(pdf["count"].to_numpy(dtype=np.int64), index=pdf["v"].astype(str))
            out[name] = ColumnProfile(name, kind, False, None, counts, nulls)
        elif (ref is None or ref.edges is None) and int(first[f"d{i}"] or 0) <= exact_max_distinct:
            pdf = rows.groupBy(F.col(name).cast("double").alias("v")).count().toPandas()
            sample = Sample.from_counts(pdf["v"], pdf["count"], nulls=nulls)
            out[name] = ColumnProfile(name, kind, True, sample, None, nulls)
        else:
            out[name] = _binned(rows, name, kind, nulls, ref, bins, relative_error)
    return out


def _binned(rows, name: str, kind: str, nulls: int, ref, bins: int, relative_error: float):
    """Counts and means per quantile bin (edges from ``ref`` when it has them)."""
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F

    col = rows.select(F.col(name).cast("double").alias("v"))
    if ref is not None and ref.edges is not None:
        edges, reps = ref.edges, ref.reps
    else:
        probs = list(np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(np.asarray(col.approxQuantile("v", probs, relative_error), dtype=np.float64))
        reps = None
    splits = [-float("inf"), *edges.tolist(), float("inf")]
    bucketed = Bucketizer(splits=splits, inputCol="v", outputCol="b").transform(col)
    pdf = bucketed.groupBy("b").agg(F.count("*").alias("n"), F.avg("v").alias("m")).toPandas()
    index = pdf["b"].to_numpy(dtype=np.int64)
    own = np.full(len(splits) - 1, np.nan)
    own[index] = pdf["m"].to_numpy(dtype=np.float64)
    if reps is None:
        reps = own
    else:  # the reference's representative where it had rows, ours elsewhere
        reps = np.where(np.isnan(reps), own, reps)
    values = reps[index]
    sample = Sample.from_counts(values, pdf["n"].to_numpy(), nulls=nulls, exact=False)
    return ColumnProfile(name, kind, True, sample, None, nulls, edges=edges, reps=reps)

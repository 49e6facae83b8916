"""Checks of the feature store lab (``solutions/01-experimentation/02L-...``).

The learner builds a time-based feature table from the review events (the
mean rating of each listing over its last ``WINDOW_DAYS`` days, per review
day) and a point-in-time training set from it. Each check recomputes what it
verifies from the source data, not from the learner's variables:

- ex1: a feature table ``listing_ratings`` exists with key ``listing_id`` and
  timeseries column ``event_date``; (key, date) is unique; the rolling mean
  of a few listings equals a recomputation in pandas;
- ex2: the training set keeps every label row, and no feature value comes
  from after the label's timestamp (the point-in-time rule).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_kit.labs import CheckResult, checker

__all__ = ["LAB_ID", "TABLE", "WINDOW_DAYS", "expected_rolling"]

LAB_ID = "feature-store-lab"
TABLE = "listing_ratings"
WINDOW_DAYS = 7
FEATURE = "avg_rating_7d"
TOLERANCE = 1e-6


def expected_rolling(events, listing_ids) -> dict[tuple[int, dt.date], float]:
    """Mean rating over the days ``(d - WINDOW_DAYS, d]`` for each review day ``d`` (pandas)."""
    import pandas as pd

    frame = events[events["listing_id"].isin(list(listing_ids))].copy()
    frame["event_date"] = pd.to_datetime(frame["event_time"]).dt.normalize()
    out = {}
    for (listing, day), _ in frame.groupby(["listing_id", "event_date"]):
        window = frame[(frame["listing_id"] == listing) & (frame["event_date"] > day - pd.Timedelta(days=WINDOW_DAYS))
                       & (frame["event_date"] <= day)]
        out[(int(listing), day.date())] = float(window["rating"].mean())
    return out


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _is_spark_df(value: Any) -> bool:
    return hasattr(value, "schema") and hasattr(value, "collect")


@checker(LAB_ID, "ex1", title="A time-based feature table")
def check_ex1(value: Any, *, events=None, **context: Any) -> CheckResult:
    """``value``: the FeatureTable returned by create_table (or get_table)."""
    from mlops_kit.exceptions import NotFoundError
    from mlops_kit.features import FeatureStoreClient

    fs = FeatureStoreClient()
    try:
        table = fs.get_table(TABLE)
    except NotFoundError:
        return CheckResult.fail(f"there is no feature table named {TABLE!r}",
                                hint=f"fs.create_table({TABLE!r}, primary_keys='listing_id', df=..., timeseries_column='event_date')")
    if table.primary_keys != ["listing_id"] or table.timeseries_column != "event_date":
        return CheckResult.fail(
            f"the table's keys are {table.primary_keys} with timeseries column {table.timeseries_column!r}",
            hint="primary_keys='listing_id' and timeseries_column='event_date'")
    if FEATURE not in table.features:
        return CheckResult.fail(f"the table has no feature {FEATURE!r} (it has {table.features})",
                                hint=f"name the rolling mean column {FEATURE!r}")
    rows = fs.read_table(TABLE)
    if rows.count() != rows.select("listing_id", "event_date").distinct().count():
        return CheckResult.fail("(listing_id, event_date) is not unique",
                                hint="group by listing_id and the review day")
    if events is None:
        return CheckResult.ok("keys, timeseries column and feature are right")
    sample = sorted(events["listing_id"].unique())[:5]
    expected = expected_rolling(events, sample)
    got = {(r["listing_id"], _day(r["event_date"])): r[FEATURE]
           for r in rows.filter(rows.listing_id.isin([int(s) for s in sample])).collect()}
    for key, value_ in expected.items():
        if key not in got or got[key] is None or abs(got[key] - value_) > TOLERANCE:
            return CheckResult.fail(
                f"listing {key[0]} on {key[1]}: expected {FEATURE} = {value_:.4f}, got {got.get(key)}",
                hint=f"average the ratings of the {WINDOW_DAYS} days up to and including each review day "
                     "(a range window over days, not the last 7 rows)")
    return CheckResult.ok(f"unique keys; {FEATURE} matches a recomputation for {len(expected)} listing-days")


@checker(LAB_ID, "ex2", title="A point-in-time training set")
def check_ex2(value: Any, *, labels=None, **context: Any) -> CheckResult:
    """``value``: the DataFrame of training_set.load_df(); ``labels`` the label rows."""
    from pyspark.sql import functions as F

    from mlops_kit.features import FeatureStoreClient

    if not _is_spark_df(value):
        return CheckResult.fail(f"expected a Spark DataFrame, got {type(value).__name__}",
                                hint="use training_set.load_df()")
    if FEATURE not in value.columns or "label_time" not in value.columns:
        return CheckResult.fail(f"the training set lacks {FEATURE!r} or 'label_time' (it has {value.columns})",
                                hint="look up the feature with timestamp_lookup_key='label_time'")
    if labels is not None and value.count() != labels.count():
        return CheckResult.fail(f"the training set has {value.count()} rows, the labels {labels.count()}",
                                hint="a point-in-time lookup keeps every label row, with nulls when nothing matches")
    features = FeatureStoreClient().read_table(TABLE).select(
        "listing_id", F.col("event_date").cast("timestamp").alias("fdate"), F.col(FEATURE).alias("fvalue"))
    known = F.col("fdate") <= F.col("label_time")
    expected = (
        value.select("listing_id", "label_time", F.col(FEATURE).alias("got"))
        .join(features, "listing_id", "left")
        .groupBy("listing_id", "label_time", "got")
        .agg(F.max_by(F.when(known, F.col("fvalue")), F.when(known, F.col("fdate"))).alias("want"))
    )
    wrong = expected.filter(~F.col("got").eqNullSafe(F.col("want"))).count()
    if wrong:
        return CheckResult.fail(
            f"{wrong} label row(s) did not get the latest {FEATURE} known at their label_time "
            "(a value from the future leaks into training, or the wrong row was picked)",
            hint="pass timestamp_lookup_key='label_time' to the FeatureLookup")
    return CheckResult.ok("every label row kept; each feature value is the latest known at the label time")

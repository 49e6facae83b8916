"""Checks of the feature store lab (``solutions/01-experimentation/02L-...``).

The learner builds a time-based feature table from the review events (the
mean rating of each listing over its last ``WINDOW_DAYS`` days, per review
day), stamps each row with the moment its value becomes known, and builds a
point-in-time training set from it. Each check recomputes what it verifies
from the learner's own objects and the source events:

- ex1: the FeatureTable the learner passes (not whatever the store holds)
  is ``listing_ratings`` with key ``listing_id`` and timeseries column
  ``known_at``; (key, date) is unique; EVERY row's rolling mean equals a
  recomputation in pandas (so a 6- or 8-day window, a rows window or a mean
  of daily means fails), and each row is stamped the day after its review
  day: a row stamped on the review day itself would be visible to a label
  observed that morning, before that day's evening reviews were written;
- ex2: the training set keeps every label row, and each gets the latest
  value whose stamp is at or before the label's time (the point-in-time
  rule), so no rating from after the label leaks into training.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_kit.labs import CheckResult, checker

__all__ = ["LAB_ID", "TABLE", "WINDOW_DAYS", "STAMP", "expected_rolling"]

LAB_ID = "feature-store-lab"
TABLE = "listing_ratings"
WINDOW_DAYS = 7
FEATURE = "avg_rating_7d"
#: the timeseries column: the day a row's value is first known (review day + 1)
STAMP = "known_at"
TOLERANCE = 1e-6


def expected_rolling(events, listing_ids=None) -> dict[tuple[int, dt.date], float]:
    """``(listing, review day) -> mean rating over the days (d - WINDOW_DAYS, d]`` (pandas)."""
    import pandas as pd

    frame = events if listing_ids is None else events[events["listing_id"].isin(list(listing_ids))]
    frame = frame.assign(day=pd.to_datetime(frame["event_time"]).dt.normalize())
    daily = frame.groupby(["listing_id", "day"])["rating"].agg(["sum", "count"]).reset_index()
    out: dict[tuple[int, dt.date], float] = {}
    for listing, group in daily.groupby("listing_id"):
        rolled = group.set_index("day")[["sum", "count"]].rolling(f"{WINDOW_DAYS}D").sum()
        for day, row in rolled.iterrows():
            out[(int(listing), day.date())] = float(row["sum"] / row["count"])
    return out


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _is_spark_df(value: Any) -> bool:
    return hasattr(value, "schema") and hasattr(value, "collect")


@checker(LAB_ID, "ex1", title="A time-based feature table, stamped when known",
         hints=["for one listing, list its review days and ratings by hand and compare with "
                "your rows: which reviews does each row average, and when are they all known?",
                "average the ratings of the review day and the days just before it (a window "
                "over days, not rows), and stamp each row with the first day on which every "
                "review it averages has been written"])
def check_ex1(value: Any, *, events=None, **context: Any) -> CheckResult:
    """``value``: the FeatureTable returned by create_table; ``events``: the review events."""
    import pandas as pd

    from mlops_kit.exceptions import NotFoundError
    from mlops_kit.features import FeatureStoreClient
    from mlops_kit.features.metadata import FeatureTable

    if not isinstance(value, FeatureTable):
        return CheckResult.fail(
            f"expected the FeatureTable that fs.create_table returns, got {type(value).__name__}",
            hint="keep what create_table returns, not the DataFrame you gave it")
    if value.name != TABLE:
        return CheckResult.fail(f"this feature table is named {value.name!r}, not {TABLE!r}",
                                hint="create the table under the name the exercise gives")
    if value.primary_keys != ["listing_id"] or value.timeseries_column != STAMP:
        return CheckResult.fail(
            f"the table's keys are {value.primary_keys} with timeseries column {value.timeseries_column!r}",
            hint=f"the key is the listing; the timeseries column is {STAMP!r}, the day a row becomes known")
    if FEATURE not in value.features:
        return CheckResult.fail(f"the table has no feature {FEATURE!r} (it has {value.features})",
                                hint=f"name the rolling mean column {FEATURE!r}")
    if not isinstance(events, pd.DataFrame):
        return CheckResult.fail(f"the check needs the review events (a pandas DataFrame), got "
                                f"{type(events).__name__}",
                                hint='lab.check("ex1", ratings_table, events=events)')
    fs = FeatureStoreClient()
    try:
        rows = fs.read_table(value.name).toPandas()
    except NotFoundError:
        return CheckResult.fail(f"the store has no table {value.name!r} any more",
                                hint="run the cell that creates it again")
    if rows.duplicated(["listing_id", STAMP]).any():
        return CheckResult.fail(f"(listing_id, {STAMP}) is not unique",
                                hint="one row per listing and review day")
    expected = expected_rolling(events)
    got = {(int(r.listing_id), pd.Timestamp(getattr(r, STAMP)).date()): r.avg for r in
           rows.rename(columns={FEATURE: "avg"}).itertuples()}
    if set(got) != {(k, d + dt.timedelta(days=1)) for (k, d) in expected}:
        if set(got) == set(expected):
            return CheckResult.fail(
                "each row is stamped with its review day: a label observed that morning would "
                "see ratings written later that day",
                hint="when is the LAST review a row averages known? stamp the row then")
        return CheckResult.fail(
            f"the table has {len(got)} rows, one per listing and review day would give {len(expected)}",
            hint="group by listing and review day (and keep only days that have reviews)")
    for (listing, day), want in expected.items():
        have = got[(listing, day + dt.timedelta(days=1))]
        if have is None or pd.isna(have) or abs(have - want) > TOLERANCE:
            return CheckResult.fail(
                f"listing {listing}, reviews up to {day}: {FEATURE} is {have}, a recomputation gives "
                f"a different mean",
                hint=f"average every rating of the {WINDOW_DAYS} days that end on the review day "
                     "(a range window over days, weighted by reviews, not the last rows)")
    return CheckResult.ok(f"unique keys; all {len(expected)} rows match a recomputation and are "
                          "stamped when their reviews are known")


@checker(LAB_ID, "ex2", title="A point-in-time training set",
         hints=["each label row may only see feature values that existed at its own time",
                "give the lookup the label's timestamp column, so it picks the latest row "
                "stamped at or before it"])
def check_ex2(value: Any, *, labels=None, **context: Any) -> CheckResult:
    """``value``: the DataFrame of training_set.load_df(); ``labels`` the label rows."""
    from pyspark.sql import functions as F

    from mlops_kit.features import FeatureStoreClient

    if not _is_spark_df(value):
        return CheckResult.fail(f"expected a Spark DataFrame, got {type(value).__name__}",
                                hint="keep the DataFrame that the training set loads")
    if FEATURE not in value.columns or "label_time" not in value.columns:
        return CheckResult.fail(f"the training set lacks {FEATURE!r} or 'label_time' (it has {value.columns})",
                                hint="look up the feature with timestamp_lookup_key='label_time'")
    if labels is not None and value.count() != labels.count():
        return CheckResult.fail(f"the training set has {value.count()} rows, the labels {labels.count()}",
                                hint="a point-in-time lookup keeps every label row, with nulls when nothing matches")
    features = FeatureStoreClient().read_table(TABLE).select(
        "listing_id", F.col(STAMP).cast("timestamp").alias("fdate"), F.col(FEATURE).alias("fvalue"))
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
            hint="a lookup without the label's time takes the newest value, whenever it was written")
    return CheckResult.ok("every label row kept; each feature value is the latest known at the label time")

"""Rating features from review events, stamped with the moment they become known.

A daily aggregate ("mean stars over the last 7 days, as of day D") uses every
review of day D, so it is only *known* once day D is over: at midnight of day
D + 1. Stamping it with day D's own midnight (``to_date(event_time)``) would let
a label observed at 15:00 on day D see reviews posted at 20:00 that day, a leak
of the future into training that no point-in-time lookup can catch, because the
lookup trusts the stamp.

:func:`rating_features` therefore stamps each row with ``known_at``, the end of
the last day it aggregates. A point-in-time lookup on ``known_at`` (``known_at
<= label_time``) then never uses a review posted after the label's time.
:func:`future_leaks` checks exactly that claim, for any feature builder, by
rebuilding the features from the events known at each label time and comparing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pandas as pd

from mlops_kit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["STAMP", "rating_features", "point_in_time", "future_leaks"]

#: the timeseries column of :func:`rating_features`: when a row's value is known
STAMP = "known_at"


def rating_features(events: "DataFrame", days: int = 7) -> "DataFrame":
    """Mean stars and review count over each listing's last ``days`` days.

    Parameters
    ----------
    events : pyspark.sql.DataFrame
        Review events with ``listing_id``, ``event_time`` and ``rating``
        (the ``review_events`` table).
    days : int
        Window length in days, the review day included.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per listing and review day: ``listing_id``, ``known_at`` (the
        midnight that ends the review day, a timestamp), ``avg_rating_<days>d``
        and ``reviews_<days>d``. Use ``known_at`` as the feature table's
        timeseries column.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ConfigError(f"rating_features needs days >= 1 (an int). Got {days!r} instead.")
    missing = {"listing_id", "event_time", "rating"} - set(events.columns)
    if missing:
        raise ConfigError(
            f"rating_features needs review events; the frame lacks {sorted(missing)} "
            f"(it has {events.columns})."
        )
    daily = events.groupBy("listing_id", F.to_date("event_time").alias("day")).agg(
        F.sum("rating").alias("stars"), F.count("rating").alias("reviews"))
    window = Window.partitionBy("listing_id").orderBy(F.unix_date("day")).rangeBetween(-(days - 1), 0)
    return daily.select(
        "listing_id",
        F.date_add("day", 1).cast("timestamp").alias(STAMP),
        (F.sum("stars").over(window) / F.sum("reviews").over(window)).alias(f"avg_rating_{days}d"),
        F.sum("reviews").over(window).alias(f"reviews_{days}d"),
    )


def point_in_time(labels: pd.DataFrame, features: pd.DataFrame, *, stamp: str = STAMP,
                  label_time: str = "label_time", key: str = "listing_id") -> pd.DataFrame:
    """The latest feature row of each label's key with ``stamp <= label_time`` (pandas).

    The same rule as the feature store's point-in-time lookup, for small
    frames: label rows with no earlier feature row keep nulls.
    """
    left = (labels.assign(**{label_time: pd.to_datetime(labels[label_time]).astype("datetime64[ns]"), "__row": range(len(labels))})
            .sort_values(label_time, kind="stable"))
    right = features.assign(**{stamp: pd.to_datetime(features[stamp]).astype("datetime64[ns]")}).sort_values(stamp, kind="stable")
    joined = pd.merge_asof(left, right, left_on=label_time, right_on=stamp, by=key,
                           direction="backward", allow_exact_matches=True)
    return joined.sort_values("__row").drop(columns="__row").set_axis(labels.index)


def future_leaks(build: Callable[["DataFrame"], "DataFrame"], events: pd.DataFrame,
                 label_times, *, stamp: str = STAMP, key: str = "listing_id") -> pd.DataFrame:
    """Label rows whose point-in-time feature value depends on a later event.

    For each time ``t`` in ``label_times``, every listing gets a label row at
    ``t``; its features are looked up point-in-time twice: from features
    built on all events, and from features built only on the events known at
    ``t`` (``event_time <= t``). Where the two differ, the value used for
    training changed because of events after ``t``: a leak.

    Parameters
    ----------
    build : callable
        Spark DataFrame of events -> Spark DataFrame of features with ``key``
        and the timeseries column ``stamp`` (e.g. :func:`rating_features`).
    events : pandas.DataFrame
        The review events.
    label_times : iterable of timestamps
        The label times to test.

    Returns
    -------
    pandas.DataFrame
        The leaking label rows: ``label_time``, ``key``, the feature, and its
        value with all events (``all_events``) and with known events only
        (``known_events``). Empty when nothing leaks.
    """
    from mlops_kit.spark import get_spark

    spark = get_spark()
    everything = build(spark.createDataFrame(events)).toPandas()
    features = [c for c in everything.columns if c not in (key, stamp)]
    found = []
    for t in pd.to_datetime(list(label_times)):
        labels = pd.DataFrame({key: sorted(events[key].unique()), "label_time": t})
        known = build(spark.createDataFrame(events[events["event_time"] <= t])).toPandas()
        with_all = point_in_time(labels, everything, stamp=stamp, key=key)
        with_known = point_in_time(labels, known, stamp=stamp, key=key)
        for feature in features:
            a, b = with_all[feature], with_known[feature]
            differs = ~((a == b) | (a.isna() & b.isna()))
            if differs.any():
                found.append(pd.DataFrame({
                    "label_time": t, key: labels.loc[differs, key], "feature": feature,
                    "all_events": a[differs], "known_events": b[differs]}))
    columns = ["label_time", key, "feature", "all_events", "known_events"]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)

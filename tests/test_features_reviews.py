"""Rating features carry no future: a label never sees a review posted after its time.

The review features aggregate whole days. Stamped with the day's own midnight
(the course's first version, kept below as ``midnight_stamped``), a label at
15:00 would see that day's evening reviews; stamped with the midnight that
ends the day (:func:`rating_features`), it cannot. ``future_leaks`` rebuilds
the features from only the events known at each label time and compares.
"""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from mlops_kit import datasets
from mlops_kit.exceptions import ConfigError
from mlops_kit.features.reviews import STAMP, future_leaks, point_in_time, rating_features

pytestmark = pytest.mark.spark


def midnight_stamped(events):
    """The old demo and lab code: each day's aggregate stamped with that day's midnight."""
    from pyspark.sql import Window, functions as F

    daily = events.groupBy("listing_id", F.to_date("event_time").alias("event_date")).agg(
        F.sum("rating").alias("stars"), F.count("rating").alias("reviews"))
    last_7d = Window.partitionBy("listing_id").orderBy(F.unix_date("event_date")).rangeBetween(-6, 0)
    return daily.select("listing_id", F.col("event_date").cast("timestamp").alias(STAMP),
                        (F.sum("stars").over(last_7d) / F.sum("reviews").over(last_7d)).alias("avg_rating_7d"),
                        F.sum("reviews").over(last_7d).alias("reviews_7d"))


@pytest.fixture(scope="module")
def events():
    listings = datasets.listings(60, seed=3)
    return datasets.review_events(listings, 600, seed=4, days=30)


@pytest.fixture(scope="module")
def label_times(events):
    """Times one second before a few reviews: mid-day, with that review still to come."""
    picked = events["event_time"].iloc[[100, 250, 400]]
    return [t - timedelta(seconds=1) for t in picked]


def test_no_training_row_depends_on_an_event_after_its_label_time(spark, events, label_times) -> None:
    leaks = future_leaks(rating_features, events, label_times)
    assert leaks.empty, f"feature values changed by later events:\n{leaks.head()}"


def test_the_midnight_stamp_leaks_the_rest_of_the_day(spark, events, label_times) -> None:
    """The same check fails on the old code: it sees the reviews after each label."""
    leaks = future_leaks(midnight_stamped, events, label_times)
    assert len(leaks) >= len(label_times)
    row = leaks[leaks["feature"] == "reviews_7d"].iloc[0]
    known = 0 if pd.isna(row["known_events"]) else row["known_events"]
    assert row["all_events"] > known, "the leak counts reviews posted later that day"


def test_rating_features_values_and_stamp(spark, events) -> None:
    got = rating_features(spark.createDataFrame(events)).toPandas()
    assert list(got.columns) == ["listing_id", STAMP, "avg_rating_7d", "reviews_7d"]
    row = got.iloc[0]
    day_end = pd.Timestamp(row[STAMP])
    assert day_end == day_end.normalize(), "stamped at a midnight"
    mine = events[(events["listing_id"] == row["listing_id"])
                  & (events["event_time"] < day_end) & (events["event_time"] >= day_end - timedelta(days=7))]
    assert row["reviews_7d"] == len(mine)
    assert row["avg_rating_7d"] == pytest.approx(mine["rating"].mean())


def test_rating_features_refuses_bad_input(spark, events) -> None:
    df = spark.createDataFrame(events)
    with pytest.raises(ConfigError, match="days >= 1"):
        rating_features(df, days=0)
    with pytest.raises(ConfigError, match="lacks \\['rating'\\]"):
        rating_features(df.drop("rating"))


def test_point_in_time_takes_the_latest_row_at_or_before_the_label() -> None:
    features = pd.DataFrame({"listing_id": [1, 1, 1, 2],
                             STAMP: pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-09"]),
                             "f": [1.0, 2.0, 3.0, 9.0]})
    labels = pd.DataFrame({"listing_id": [1, 1, 2, 1],
                           "label_time": pd.to_datetime(["2024-01-03", "2024-01-04 12:00", "2024-01-01", "2024-01-01"], format="ISO8601")})
    got = point_in_time(labels, features)
    assert got["f"].tolist()[:2] == [2.0, 2.0]      # exact stamp counts; never the later 3.0
    assert got["f"].iloc[2:].isna().all()           # nothing known yet: kept, null

"""Checkers of the feature store lab against a correct and a plausible wrong answer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit import datasets
from mlops_kit.features import FeatureLookup, FeatureStoreClient
from mlops_kit.labs import registry

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('feature-store-lab', 'ex1'), ('feature-store-lab', 'ex2')]


pytestmark = pytest.mark.spark
LAB = "feature-store-lab"


def ratings(events_df, rows_window: bool = False):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    daily = events_df.groupBy("listing_id", F.to_date("event_time").alias("event_date")).agg(
        F.sum("rating").alias("stars"), F.count("rating").alias("reviews"))
    window = Window.partitionBy("listing_id").orderBy(F.unix_date("event_date"))
    window = window.rowsBetween(-6, 0) if rows_window else window.rangeBetween(-6, 0)
    return daily.select("listing_id", "event_date",
                        (F.sum("stars").over(window) / F.sum("reviews").over(window)).alias("avg_rating_7d"))


@pytest.fixture
def lab_data(workspace, spark):
    listings = datasets.listings(60, seed=1)
    events = datasets.review_events(listings, 1500, seed=2)
    rng = np.random.default_rng(0)
    labels = spark.createDataFrame(pd.DataFrame({
        "listing_id": listings["id"], "price": listings["price"],
        "label_time": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, 60), unit="h"),
    }))
    return FeatureStoreClient(workspace, spark=spark), events, spark.createDataFrame(events), labels


def check(exercise, value, **context):
    return registry.run_check(registry.get(LAB, exercise), value, **context)


def test_ex1_accepts_a_range_window_and_rejects_a_rows_window(lab_data):
    fs, events, events_df, _ = lab_data
    good = fs.create_table("listing_ratings", "listing_id", df=ratings(events_df), timeseries_column="event_date")
    assert check("ex1", good, events=events).passed
    fs.drop_table("listing_ratings")
    fs.create_table("listing_ratings", "listing_id", df=ratings(events_df, rows_window=True),
                    timeseries_column="event_date")
    result = check("ex1", None, events=events)
    assert not result.passed and result.hint and "range window" in result.hint


def test_ex1_rejects_a_missing_table(lab_data):
    result = check("ex1", None)
    assert not result.passed and "no feature table" in result.message


def test_ex2_accepts_point_in_time_and_rejects_the_latest_value(lab_data):
    fs, _, events_df, labels = lab_data
    fs.create_table("listing_ratings", "listing_id", df=ratings(events_df), timeseries_column="event_date")
    good = fs.create_training_set(labels, [FeatureLookup("listing_ratings", "listing_id", feature_names="avg_rating_7d",
                                                         timestamp_lookup_key="label_time")], label="price").load_df()
    assert check("ex2", good, labels=labels).passed
    leaky = fs.create_training_set(labels, [FeatureLookup("listing_ratings", "listing_id",
                                                          feature_names="avg_rating_7d")], label="price").load_df()
    result = check("ex2", leaky, labels=labels)
    assert not result.passed and "future" in result.message and result.hint
    assert not check("ex2", "not a frame").passed

"""Checkers of the feature store lab against the correct answer and plausible wrong ones."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit import datasets
from mlops_kit.features import FeatureLookup, FeatureStoreClient
from mlops_kit.labs import registry

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [('feature-store-lab', 'ex1'), ('feature-store-lab', 'ex2')]


pytestmark = pytest.mark.spark
LAB = "feature-store-lab"


def ratings(events_df, *, days: int = 7, rows_window: bool = False, stamp: str = "next_day",
            daily_means: bool = False):
    """The feature rows, right by default; each option is a plausible mistake."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    daily = events_df.groupBy("listing_id", F.to_date("event_time").alias("event_date")).agg(
        F.sum("rating").alias("stars"), F.count("rating").alias("reviews"), F.avg("rating").alias("mean"))
    window = Window.partitionBy("listing_id").orderBy(F.unix_date("event_date"))
    window = window.rowsBetween(-(days - 1), 0) if rows_window else window.rangeBetween(-(days - 1), 0)
    value = (F.avg("mean").over(window) if daily_means
             else F.sum("stars").over(window) / F.sum("reviews").over(window))
    known = F.date_add("event_date", 1) if stamp == "next_day" else F.col("event_date")
    return daily.select("listing_id", known.alias("known_at"), value.alias("avg_rating_7d"))


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


def create(fs, df):
    fs.drop_table("listing_ratings", missing_ok=True)
    return fs.create_table("listing_ratings", "listing_id", df=df, timeseries_column="known_at")


def test_ex1_accepts_the_right_table(lab_data):
    fs, events, events_df, _ = lab_data
    result = check("ex1", create(fs, ratings(events_df)), events=events)
    assert result.passed, result


def test_ex1_checks_the_learners_value_not_whatever_the_store_holds(lab_data):
    """The right table is in the store, but the answer given is a DataFrame."""
    fs, events, events_df, _ = lab_data
    create(fs, ratings(events_df))
    result = check("ex1", ratings(events_df), events=events)
    assert not result.passed and "expected the FeatureTable" in result.message
    assert "got DataFrame" in result.message


@pytest.mark.parametrize("mistake, says", [
    ({"days": 8}, "a recomputation gives a different mean"),
    ({"days": 6}, "a recomputation gives a different mean"),
    ({"rows_window": True}, "a recomputation gives a different mean"),
    ({"daily_means": True}, "a recomputation gives a different mean"),
    ({"stamp": "review_day"}, "stamped with its review day"),
])
def test_ex1_rejects_wrong_windows_and_stamps_without_giving_the_answer(lab_data, mistake, says):
    """An 8-day window fails on every data set, not only when reviews happen to fall 7 days apart."""
    fs, events, events_df, _ = lab_data
    result = check("ex1", create(fs, ratings(events_df, **mistake)), events=events)
    assert not result.passed and says in result.message
    for answer in ("rangeBetween(-6", "date_add", "+ 1", "avg_rating_7d ="):
        assert answer not in result.hint


def test_ex1_names_the_type_it_expected(lab_data):
    result = check("ex1", pd.Series([1.0]))
    assert not result.passed and "got Series" in result.message


def test_ex2_accepts_point_in_time_and_rejects_leaks_and_dropped_rows(lab_data):
    from pyspark.sql import functions as F

    fs, _, events_df, labels = lab_data
    create(fs, ratings(events_df))
    lookup = FeatureLookup("listing_ratings", "listing_id", feature_names="avg_rating_7d",
                           timestamp_lookup_key="label_time")
    good = fs.create_training_set(labels, [lookup], label="price").load_df()
    assert check("ex2", good, labels=labels).passed

    leaky = fs.create_training_set(labels, [FeatureLookup("listing_ratings", "listing_id",
                                                          feature_names="avg_rating_7d")], label="price").load_df()
    result = check("ex2", leaky, labels=labels)
    assert not result.passed and "future" in result.message and "timestamp_lookup_key" not in result.hint

    dropped = good.filter(F.col("avg_rating_7d").isNotNull())
    assert dropped.count() < labels.count(), "some label rows must precede every rating"
    result = check("ex2", dropped, labels=labels)
    assert not result.passed and "rows" in result.message and result.hint

    result = check("ex2", good.toPandas(), labels=labels)
    assert not result.passed and "expected a Spark DataFrame, got DataFrame" in result.message

"""Checker mutations of the feature store lab (ex1-ex3).

The data is the lab's own for the test user (``lab_data``), small; the feature
rows and the table are built with ``tests/test_features_lab.py``'s functions.
"""
from __future__ import annotations

import dataclasses
import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


@functools.lru_cache(maxsize=1)
def _small():
    from mlops_kit.labs.checks.feature_store_lab import lab_data

    return lab_data(60, 1500, seed=2, user="tester")


def _store():
    """The feature store of the active workspace, the events, and the labels as Spark frames."""
    from mlops_kit.features import FeatureStoreClient
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    spark = get_spark()
    _, events, labels, next_labels = _small()
    fs = FeatureStoreClient(get_workspace(), spark=spark)
    return fs, events, spark.createDataFrame(events), spark.createDataFrame(labels), next_labels


@mutations("feature-store-lab", "ex1", needs=("workspace", "spark"))
def _features_ex1():
    from test_features_lab import create, ratings

    fs, events, events_df, _, _ = _store()

    def other_table(name, **mistake):
        fs.drop_table(name, missing_ok=True)
        return fs.create_table(name, "listing_id", df=ratings(events_df, **mistake),
                               timeseries_column="known_at")

    return create(fs, ratings(events_df)), {"events": events}, [
        Mutant("an 8-day window", LISTED, lambda a: create(fs, ratings(events_df, days=8))),
        Mutant("a 6-day window", LISTED, lambda a: create(fs, ratings(events_df, days=6))),
        Mutant("the last 7 rows, not 7 days", LISTED, lambda a: create(fs, ratings(events_df, rows_window=True))),
        Mutant("the mean of daily means", LISTED, lambda a: create(fs, ratings(events_df, daily_means=True))),
        Mutant("stamped on the review day", LISTED, lambda a: create(fs, ratings(events_df, stamp="review_day"))),
        Mutant("the DataFrame, not the FeatureTable", LISTED, lambda a: ratings(events_df)),
        Mutant("a FeatureTable pointing at an 8-day table", LISTED,
               lambda a: dataclasses.replace(a, path=other_table("wrong_ratings", days=8).path)),
        Mutant("a 30-day window", GENERIC, lambda a: create(fs, ratings(events_df, days=30))),
        Mutant("a 1-day window", GENERIC, lambda a: create(fs, ratings(events_df, days=1))),
        Mutant("another table name", GENERIC, lambda a: other_table("ratings_7d")),
        Mutant("no timeseries column", GENERIC, lambda a: dataclasses.replace(a, timeseries_column=None)),
        Mutant("keyed by listing and time", GENERIC,
               lambda a: dataclasses.replace(a, primary_keys=["listing_id", "known_at"])),
        Mutant("no events to recompute", GENERIC, lambda a, c: (a, {}), with_context=True),
        Mutant("the table's name", GENERIC, lambda a: a.name),
    ]


def _training_set(fs, labels, *, timestamp=True, feature_table="listing_ratings"):
    from mlops_kit.features import FeatureLookup

    lookup = FeatureLookup(feature_table, "listing_id", feature_names="avg_rating_7d",
                           timestamp_lookup_key="label_time" if timestamp else None)
    return fs.create_training_set(labels, [lookup], label="price").load_df()


@mutations("feature-store-lab", "ex2", needs=("workspace", "spark"))
def _features_ex2():
    from pyspark.sql import functions as F
    from test_features_lab import create, ratings

    fs, _, events_df, labels, _ = _store()
    create(fs, ratings(events_df))
    fs.drop_table("ratings_8d", missing_ok=True)
    fs.create_table("ratings_8d", "listing_id", df=ratings(events_df, days=8), timeseries_column="known_at")
    good = _training_set(fs, labels)
    return good, {"labels": labels}, [
        Mutant("no timestamp lookup key: the newest value leaks", LISTED,
               lambda a: _training_set(fs, labels, timestamp=False)),
        Mutant("label rows without a rating dropped", LISTED,
               lambda a: a.filter(F.col("avg_rating_7d").isNotNull())),
        Mutant("as pandas", LISTED, lambda a: a.toPandas()),
        Mutant("an 8-day feature table looked up", GENERIC,
               lambda a: _training_set(fs, labels, feature_table="ratings_8d")),
        Mutant("missing ratings filled with 0", GENERIC, lambda a: a.fillna({"avg_rating_7d": 0.0})),
        Mutant("a label row twice", GENERIC, lambda a: a.unionByName(a.limit(1))),
        Mutant("the feature renamed", GENERIC, lambda a: a.withColumnRenamed("avg_rating_7d", "rating")),
        Mutant("the feature nudged", GENERIC,
               lambda a: a.withColumn("avg_rating_7d", F.col("avg_rating_7d") + F.lit(0.01))),
        Mutant("the label time dropped", GENERIC, lambda a: a.drop("label_time")),
    ]


@mutations("feature-store-lab", "ex3")
def _features_ex3():
    from mlops_kit.labs.checks.feature_store_lab import CANDIDATES, lab_data, window_errors

    _, events, _, next_labels = _small()
    truth = {days: window_errors(events, next_labels, days) for days in CANDIDATES}
    valid = {days: errors[0] for days, errors in truth.items()}
    train = {days: errors[1] for days, errors in truth.items()}
    best = min(valid, key=valid.get)
    others = [days for days in CANDIDATES if days != best]
    _, ada_events, _, ada_labels = lab_data(60, 1500, seed=2, user="ada")
    ada = {days: window_errors(ada_events, ada_labels, days)[0] for days in CANDIDATES}

    def given(value, errors):
        return lambda a, c: (value, {**c, "errors": errors})

    return best, {"errors": valid, "events": events, "labels": next_labels}, [
        *[Mutant(f"the {days}-day window, not the best", LISTED, given(days, valid), with_context=True)
          for days in others],
        Mutant("the best on the training rows, with training errors", LISTED,
               given(min(train, key=train.get), train), with_context=True),
        Mutant("errors 10 % off", LISTED, given(best, {d: e * 1.1 for d, e in valid.items()}),
               with_context=True),
        Mutant("the longest window left out", LISTED,
               given(best, {d: e for d, e in valid.items() if d != max(CANDIDATES)}), with_context=True),
        Mutant("the errors as a list", LISTED, given(best, list(valid.values())), with_context=True),
        Mutant("the worst window", GENERIC, given(max(valid, key=valid.get), valid), with_context=True),
        Mutant("a window nobody evaluated", GENERIC, lambda a: 14),
        Mutant("the window as text", GENERIC, lambda a: str(a)),
        Mutant("True", GENERIC, lambda a: True),
        Mutant("another learner's errors", GENERIC, given(min(ada, key=ada.get), ada), with_context=True),
        Mutant("one day more", GENERIC, lambda a: a + 1),
    ]

"""Checkers of the feature store lab against the correct answer and plausible wrong ones."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mlops_kit.features import FeatureLookup, FeatureStoreClient
from mlops_kit.labs import registry
from mlops_kit.labs.checks.feature_store_lab import CANDIDATES, expected_rolling, lab_data, window_errors

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [('feature-store-lab', 'ex1'), ('feature-store-lab', 'ex2'),
                    ('feature-store-lab', 'ex3')]


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


@pytest.fixture(scope="module")
def small_data():
    """The lab's own data for the test user, small: listings, events, price and next-review labels."""
    return lab_data(60, 1500, seed=2, user="tester")


@pytest.fixture
def data(workspace, spark, small_data):
    _, events, labels, next_labels = small_data
    return (FeatureStoreClient(workspace, spark=spark), events, spark.createDataFrame(events),
            spark.createDataFrame(labels), next_labels)


def check(exercise, value, **context):
    return registry.run_check(registry.get(LAB, exercise), value, **context)


def create(fs, df):
    fs.drop_table("listing_ratings", missing_ok=True)
    return fs.create_table("listing_ratings", "listing_id", df=df, timeseries_column="known_at")


@pytest.mark.spark
def test_ex1_accepts_the_right_table(data):
    fs, events, events_df, _, _ = data
    result = check("ex1", create(fs, ratings(events_df)), events=events)
    assert result.passed, result


@pytest.mark.spark
def test_ex1_checks_the_learners_value_not_whatever_the_store_holds(data):
    """The right table is in the store, but the answer given is a DataFrame."""
    fs, events, events_df, _, _ = data
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
@pytest.mark.spark
def test_ex1_rejects_wrong_windows_and_stamps_without_giving_the_answer(data, mistake, says):
    """An 8-day window fails on every data set, not only when reviews happen to fall 7 days apart."""
    fs, events, events_df, _, _ = data
    result = check("ex1", create(fs, ratings(events_df, **mistake)), events=events)
    assert not result.passed and says in result.message
    for answer in ("rangeBetween(-6", "date_add", "+ 1", "avg_rating_7d ="):
        assert answer not in result.hint


def test_ex1_names_the_type_it_expected(workspace):
    result = check("ex1", pd.Series([1.0]))
    assert not result.passed and "got Series" in result.message


@pytest.mark.spark
def test_ex2_accepts_point_in_time_and_rejects_leaks_and_dropped_rows(data):
    from pyspark.sql import functions as F

    fs, _, events_df, labels, _ = data
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


@pytest.mark.parametrize("seed", [1, 2, 42, 1234])
@pytest.mark.parametrize("user", ["tester", "ada"])
def test_lab_data_tells_a_7_day_window_from_6_and_8_days_on_every_seed(seed, user):
    """The probe listing makes a wrong window length fail deterministically, whatever the seed."""
    listings, events, _, _ = lab_data(30, 400, seed=seed, user=user)
    probe = [int(listings["id"].iloc[0])]
    right = expected_rolling(events, probe)
    for days in (6, 8):
        wrong = expected_rolling(events, probe, days=days)
        assert any(abs(wrong[k] - right[k]) > 1e-3 for k in right), days


def test_lab_data_depends_on_the_learner():
    ada, bob = lab_data(30, 400, user="ada")[1], lab_data(30, 400, user="bob")[1]
    assert not ada["rating"].equals(bob["rating"])


@pytest.mark.spark
def test_ex1_reads_the_rows_of_the_table_it_is_given(data):
    """The store holds the right table, but the FeatureTable given points at an 8-day one."""
    fs, events, events_df, _, _ = data
    right = create(fs, ratings(events_df))
    fs.drop_table("wrong_ratings", missing_ok=True)
    wrong = fs.create_table("wrong_ratings", "listing_id", df=ratings(events_df, days=8),
                            timeseries_column="known_at")
    result = check("ex1", dataclasses.replace(right, path=wrong.path), events=events)
    assert not result.passed and "a recomputation gives a different mean" in result.message
    assert check("ex1", right, events=events).passed


# ------------------------------------------------------------------- ex3: the window
@pytest.fixture(scope="module")
def truth(small_data):
    _, events, _, next_labels = small_data
    return {days: window_errors(events, next_labels, days) for days in CANDIDATES}


def test_lab_data_best_window_is_not_the_same_for_every_learner():
    best = set()
    for user in ("ada", "bob", "cy", "dee"):
        _, events, _, next_labels = lab_data(user=user)
        errors = {days: window_errors(events, next_labels, days)[0] for days in CANDIDATES}
        best.add(min(errors, key=errors.get))
    assert len(best) >= 2, best


@pytest.mark.spark
def test_ex3_accepts_errors_computed_with_the_feature_store(data):
    """The solution's path: point-in-time lookups in Spark, models in scikit-learn."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error

    from mlops_kit.features.reviews import rating_features

    fs, events, events_df, _, next_labels = data
    lookups = []
    for days in CANDIDATES:
        fs.drop_table(f"ratings_{days}d", missing_ok=True)
        fs.create_table(f"ratings_{days}d", "listing_id", df=rating_features(events_df, days),
                        timeseries_column="known_at")
        lookups.append(FeatureLookup(f"ratings_{days}d", "listing_id", feature_names=f"avg_rating_{days}d",
                                     timestamp_lookup_key="label_time"))
    rows = fs.create_training_set(next_labels, lookups, label="next_rating").load_df().toPandas().dropna()
    train, valid = rows[rows.split == "train"], rows[rows.split == "valid"]
    errors = {}
    for days in CANDIDATES:
        column = [f"avg_rating_{days}d"]
        model = LinearRegression().fit(train[column], train["next_rating"])
        errors[days] = mean_absolute_error(valid["next_rating"], model.predict(valid[column]))
    best = min(errors, key=errors.get)
    result = check("ex3", best, errors=errors, events=events, labels=next_labels)
    assert result.passed, result
    assert check("ex3", best, errors=pd.Series(errors), events=events, labels=next_labels).passed


def _ex3(small_data, value, errors):
    _, events, _, next_labels = small_data
    return check("ex3", value, errors=errors, events=events, labels=next_labels)


def test_ex3_rejects_a_window_that_is_not_the_best(small_data, truth):
    valid = {days: errors[0] for days, errors in truth.items()}
    best = min(valid, key=valid.get)
    assert _ex3(small_data, best, valid).passed
    for days in CANDIDATES:
        if days != best:
            result = _ex3(small_data, days, valid)
            assert not result.passed and "another window in your table does better" in result.message
            assert str(best) not in result.hint


def test_ex3_rejects_errors_measured_on_the_training_rows(small_data, truth):
    train = {days: errors[1] for days, errors in truth.items()}
    result = _ex3(small_data, min(train, key=train.get), train)
    assert not result.passed and "the rows the model was fitted on" in result.message
    assert "valid" not in result.hint


@pytest.mark.parametrize("wrong, says", [
    (lambda valid: {d: e * 1.1 for d, e in valid.items()}, "differs from a recomputation"),
    (lambda valid: {d: e for d, e in valid.items() if d != 365}, "no error for the window(s) [365]"),
    (lambda valid: list(valid.values()), "expected errors={days: validation error}"),
])
def test_ex3_rejects_error_tables_that_are_not_validation_errors(small_data, truth, wrong, says):
    valid = {days: errors[0] for days, errors in truth.items()}
    result = _ex3(small_data, min(valid, key=valid.get), wrong(valid))
    assert not result.passed and says in result.message, result


@pytest.mark.parametrize("value, says", [
    (14, "14 days is not one of the windows you evaluated"),
    ("30", "expected the chosen window as a number of days (int), got str"),
    (True, "got bool"),
])
def test_ex3_rejects_answers_that_are_not_a_candidate_window(small_data, truth, value, says):
    valid = {days: errors[0] for days, errors in truth.items()}
    result = _ex3(small_data, value, valid)
    assert not result.passed and says in result.message, result

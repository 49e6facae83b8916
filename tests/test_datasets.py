"""Generators, drift injectors and install() of mlops_kit.datasets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit import datasets, delta
from mlops_kit.exceptions import ConfigError, DataError

SMALL = {"listings": 300, "review_events": 1000, "ice_cream": 200}


@pytest.fixture(scope="module")
def homes() -> pd.DataFrame:
    return datasets.listings(2000, seed=3)


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("make", [
    lambda seed: datasets.listings(300, seed=seed),
    lambda seed: datasets.review_events(datasets.listings(100, seed=1), 500, seed=seed),
    lambda seed: datasets.ice_cream_sales(300, seed=seed),
    lambda seed: datasets.ice_cream_sales(300, seed=seed, drift=True),
], ids=["listings", "review_events", "ice_cream", "ice_cream_drifted"])
def test_same_seed_same_frame_other_seed_other_frame(make):
    pd.testing.assert_frame_equal(make(5), make(5))
    assert not make(5).equals(make(6))


# ---------------------------------------------------------------- listings
def test_listings_shape_types_and_ranges(homes):
    assert homes.shape == (2000, 17)
    assert homes["id"].is_unique
    assert set(homes["neighbourhood"]) <= set(datasets.NEIGHBOURHOODS)
    assert homes["neighbourhood"].nunique() >= 12
    mix = homes["room_type"].value_counts(normalize=True)
    assert set(mix.index) == set(datasets.ROOM_TYPES)
    assert 0.5 < mix["Entire home/apt"] < 0.75 and mix["Shared room"] < 0.05
    for col in ("accommodates", "bedrooms", "beds", "minimum_nights", "number_of_reviews"):
        assert homes[col].dtype == np.int64, col
    assert homes["host_is_superhost"].dtype == bool
    assert (homes["price"] >= 25).all() and 120 < homes["price"].median() < 300
    assert homes["latitude"].between(37.70, 37.83).all()
    assert homes["longitude"].between(-122.52, -122.36).all()
    assert (homes["beds"] >= 1).all() and (homes["accommodates"] >= 1).all()
    assert (homes["bathrooms"] % 0.5 == 0).all()


def test_review_scores_are_missing_exactly_without_reviews(homes):
    no_reviews = homes["number_of_reviews"] == 0
    assert no_reviews.any()
    assert homes["review_scores_rating"].isna().equals(no_reviews)
    scores = homes.filter(like="review_scores_")
    assert scores.shape[1] == 4
    assert scores.stack().dropna().between(1, 5).all()
    # sub-scores also miss a few at random
    assert homes.loc[~no_reviews, "review_scores_value"].isna().sum() > 0


def test_price_relation_is_learnable(homes):
    """A plain linear model on log price explains most of it, not all (R^2 0.6-0.9)."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = ["neighbourhood", "room_type", "accommodates", "bedrooms", "bathrooms",
                "minimum_nights", "host_is_superhost", "review_scores_rating"]
    X = homes[features].fillna({"review_scores_rating": 4.7})
    y = np.log(homes["price"])
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["neighbourhood", "room_type"]),
                                remainder="passthrough"),
        LinearRegression(),
    ).fit(X[:1500], y[:1500])
    r2 = r2_score(y[1500:], model.predict(X[1500:]))
    assert 0.6 < r2 < 0.9


def test_review_events_follow_their_listings(homes):
    events = datasets.review_events(homes, 3000, seed=1, start="2024-03-01", days=60)
    assert list(events.columns) == ["review_id", "listing_id", "event_time", "rating",
                                    "stay_nights", "guests"]
    assert events["listing_id"].isin(homes["id"]).all()
    assert events["event_time"].is_monotonic_increasing
    assert events["event_time"].min() >= pd.Timestamp("2024-03-01")
    assert events["event_time"].max() < pd.Timestamp("2024-04-30")
    assert events["rating"].between(1, 5).all()
    joined = events.merge(homes, left_on="listing_id", right_on="id")
    assert (joined["stay_nights"] >= joined["minimum_nights"]).all()
    assert (joined["guests"] <= joined["accommodates"]).all()
    # popular listings are reviewed more
    counts = events["listing_id"].value_counts()
    popular = homes.set_index("id")["number_of_reviews"].reindex(counts.index)
    assert np.corrcoef(counts, popular)[0, 1] > 0.5


def test_review_events_need_a_listings_frame():
    with pytest.raises(ValueError, match="lacks the columns"):
        datasets.review_events(pd.DataFrame({"id": [1]}))


# --------------------------------------------------------------- ice cream
def test_ice_cream_sales_rise_with_temperature():
    sales = datasets.ice_cream_sales(2000, seed=0)
    assert list(sales.columns) == ["date", "store", "flavour", "temperature", "humidity",
                                   "is_weekend", "promotion", "price_per_cone", "cones_sold"]
    assert set(sales["flavour"]) == set(datasets.FLAVOURS)
    assert sales["temperature"].between(5, 40).all()
    assert sales["cones_sold"].dtype == np.int64
    assert sales["temperature"].corr(sales["cones_sold"]) > 0.3
    assert sales.groupby("promotion")["cones_sold"].mean().diff().iloc[-1] > 0


def test_ice_cream_windows_follow_each_other_and_drift_as_told():
    reference, current = datasets.ice_cream_windows(1000, seed=0, days=30)
    assert current["date"].min() > reference["date"].max()
    assert reference["humidity"].notna().all()
    assert current["humidity"].isna().mean() == pytest.approx(0.15)
    assert current["temperature"].mean() > reference["temperature"].mean() + 20  # °F
    assert current["flavour"].value_counts(normalize=True)["Chocolate"] > 0.35
    _, clean = datasets.ice_cream_windows(1000, seed=0, drift=False)
    assert abs(clean["temperature"].mean() - reference["temperature"].mean()) < 3


def test_ice_cream_windows_are_whole_weeks_with_the_same_weekend_days():
    reference, current = datasets.ice_cream_windows(2000, seed=3, drift=False)
    for frame in (reference, current):
        assert frame["date"].nunique() == 28
        assert frame.loc[frame["is_weekend"], "date"].nunique() == 8


def test_shared_weather_ties_the_rows_of_a_day_together():
    """With one weather per day, daily means of temperature spread far more than row noise allows."""
    shared = datasets.ice_cream_sales(4000, seed=5, shared_weather=True)
    independent = datasets.ice_cream_sales(4000, seed=5)
    spread = lambda frame: frame.groupby("date")["temperature"].mean().std()  # noqa: E731
    assert spread(shared) > 2.0 > 1.0 > spread(independent)
    assert shared["temperature"].std() == pytest.approx(independent["temperature"].std(), rel=0.25)


def test_the_promotion_scenario_lifts_sales_by_the_unchanged_relation():
    from mlops_kit.datasets.ice_cream import expected_cones

    clean = datasets.ice_cream_sales(4000, seed=8)
    campaign = datasets.ice_cream_sales(4000, seed=8, drift="promotion")
    assert campaign["promotion"].mean() == pytest.approx(0.5, abs=0.03)
    assert campaign["cones_sold"].mean() > 1.08 * clean["cones_sold"].mean()
    others = ["date", "store", "flavour", "temperature", "humidity", "price_per_cone"]
    pd.testing.assert_frame_equal(campaign[others], clean[others])
    untouched = campaign["promotion"] == clean["promotion"]
    assert (campaign.loc[untouched, "cones_sold"] == clean.loc[untouched, "cones_sold"]).all()
    # the new sales follow the same Poisson mean as every other row
    turned = ~untouched
    ratio = campaign.loc[turned, "cones_sold"].sum() / expected_cones(campaign.loc[turned]).sum()
    assert ratio == pytest.approx(1.0, abs=0.03)


def test_unknown_drift_scenario_is_named():
    with pytest.raises(ConfigError, match=r"\['snow'\].*heatwave"):
        datasets.ice_cream_sales(10, drift=["units", "snow"])


# ----------------------------------------------------------- drift injectors
def _sales() -> pd.DataFrame:
    return datasets.ice_cream_sales(500, seed=9)


@pytest.mark.parametrize("inject, col, changed", [
    (lambda d: datasets.shift_feature(d, "temperature", 5.0), "temperature",
     lambda old, new: np.allclose(new, old + 5)),
    (lambda d: datasets.shift_feature(d, "cones_sold", factor=0.5), "cones_sold",
     lambda old, new: new.dtype == np.int64 and np.allclose(new, np.round(old * 0.5))),
    (lambda d: datasets.change_units(d, "temperature", "C->F"), "temperature",
     lambda old, new: np.allclose(new, old * 9 / 5 + 32)),
    (lambda d: datasets.change_units(d, "price_per_cone", 100), "price_per_cone",
     lambda old, new: np.allclose(new, old * 100)),
    (lambda d: datasets.change_category_mix(d, "flavour", {"Mint Chip": 3, "Vanilla": 1}, seed=1),
     "flavour",
     lambda old, new: set(new) == {"Mint Chip", "Vanilla"}
     and 0.65 < (new == "Mint Chip").mean() < 0.85 and new.dtype == old.dtype),
    (lambda d: datasets.inject_nulls(d, "humidity", 0.2, seed=1), "humidity",
     lambda old, new: new.isna().sum() == 100 and new.dropna().equals(old[new.notna()])),
    (lambda d: datasets.shift_label(d, "cones_sold", factor=0.7,
                                    where=lambda f: f["temperature"] > 21), "cones_sold",
     lambda old, new: (new[old.index[_sales()["temperature"] <= 21]]
                       == old[_sales()["temperature"] <= 21]).all()
     and new.sum() < old.sum()),
], ids=["shift", "shift_factor_int", "units_c_to_f", "units_factor", "category_mix",
        "nulls", "label_where"])
def test_injector_changes_its_column_and_nothing_else(inject, col, changed):
    original = _sales()
    drifted = inject(original)
    pd.testing.assert_frame_equal(original, _sales())  # the input is untouched
    pd.testing.assert_frame_equal(drifted.drop(columns=col), original.drop(columns=col))
    assert not drifted[col].equals(original[col])
    assert changed(original[col], drifted[col])


def test_change_units_round_trips():
    sales = _sales()
    back = datasets.change_units(datasets.change_units(sales, "temperature", "C->F"),
                                 "temperature", "F->C")
    np.testing.assert_allclose(back["temperature"], sales["temperature"])


@pytest.mark.parametrize("call, error, match", [
    (lambda d: datasets.shift_feature(d, "nope", 1), DataError, "'nope' is not in the frame"),
    (lambda d: datasets.shift_feature(d, "flavour", 1), DataError, "must be numeric"),
    (lambda d: datasets.shift_feature(d, "temperature"), ConfigError, "exactly one of delta"),
    (lambda d: datasets.shift_label(d, "cones_sold", 1, factor=2), ConfigError, "exactly one"),
    (lambda d: datasets.shift_label(d, "cones_sold", 1, where=[True]), ConfigError, "length 500"),
    (lambda d: datasets.change_units(d, "temperature", "C->K"), ConfigError, "Unknown unit"),
    (lambda d: datasets.change_category_mix(d, "flavour", {}), ConfigError, "positive"),
    (lambda d: datasets.inject_nulls(d, "humidity", 1.5), ConfigError, r"\[0, 1\]"),
], ids=["missing_col", "not_numeric", "no_amount", "both_amounts", "bad_mask", "bad_unit",
        "empty_weights", "bad_rate"])
def test_injector_errors_say_what_was_expected(call, error, match):
    with pytest.raises(error, match=match):
        call(_sales())


# ----------------------------------------------------------------- install
def test_install_rejects_unknown_sizes(workspace):
    with pytest.raises(ConfigError, match=r"\['lisitngs'\]"):
        datasets.install(sizes={"lisitngs": 10})


@pytest.mark.spark
def test_install_writes_real_tables_once_then_force_rewrites(spark, workspace):
    from deltalake import DeltaTable

    first = datasets.install(sizes=SMALL)
    assert list(first.index) == list(datasets.TABLES)
    assert first["written"].all() and (first["version"] == 0).all()
    assert first.loc["listings", "rows"] == 300
    assert first.loc["review_events", "rows"] == 1000
    for name in datasets.TABLES:
        path = str(workspace.table_path(name))
        assert DeltaTable(path).count() == first.loc[name, "rows"]
    listings = delta.read_table("listings").toPandas()
    expected = datasets.listings(300, seed=42)
    pd.testing.assert_frame_equal(
        listings.sort_values("id").reset_index(drop=True)[expected.columns], expected,
        check_dtype=False)

    again = datasets.install(sizes={"listings": 999})  # a no-op whatever it asks
    assert not again["written"].any()
    pd.testing.assert_series_equal(again["version"], first["version"])
    assert again.loc["listings", "rows"] == 300

    forced = datasets.install(force=True, sizes=SMALL)
    assert forced["written"].all() and (forced["version"] == 1).all()
    assert delta.history("listings")["version"].tolist() == [1, 0]


def test_review_events_are_generated_without_warnings() -> None:
    """A lesson's output stays clean: no deprecation warning from the generator."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = datasets.review_events(datasets.listings(30, seed=1), 200, seed=2)
    assert len(events) == 200

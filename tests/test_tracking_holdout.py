"""tracking.holdout_split and fit_price_model(test=...): the test rows are set aside before a search."""
from __future__ import annotations

import pytest

from mlops_kit.datasets import listings
from mlops_kit.tracking import fit_price_model, holdout_split

PARAMS = {"model": "ridge", "alpha": 1.0, "seed": 3}


def test_holdout_split_is_seeded_disjoint_and_independent_of_row_order() -> None:
    rows = listings(200, seed=3)
    dev, test = holdout_split(rows, test_size=0.2, seed=3)
    assert (len(dev), len(test)) == (160, 40)
    assert set(dev["id"]).isdisjoint(test["id"]) and set(dev["id"]) | set(test["id"]) == set(rows["id"])
    shuffled_dev, shuffled_test = holdout_split(rows.sample(frac=1, random_state=0), test_size=0.2, seed=3)
    assert shuffled_test.equals(test) and shuffled_dev.equals(dev)
    assert not holdout_split(rows, test_size=0.2, seed=4)[1].equals(test)


def test_fit_price_model_with_test_rows_fits_on_all_and_scores_only_them() -> None:
    dev, test = holdout_split(listings(300, seed=3), seed=3)
    final = fit_price_model(dev, PARAMS, test=test)
    assert len(final.X_train) == len(dev) and len(final.X_test) == len(test)
    assert list(final.X_test.columns) == list(final.X_train.columns)
    validated = fit_price_model(dev, PARAMS)          # no test rows: a validation split of dev
    assert len(validated.X_test) == pytest.approx(0.2 * len(dev), abs=1)
    assert final.metrics["rmse"] != validated.metrics["rmse"]


def test_fit_price_model_scores_test_rows_missing_a_category() -> None:
    dev, test = holdout_split(listings(300, seed=3), seed=3)
    rare = test["room_type"].iloc[0]
    test = test[test["room_type"] != rare].head(20)   # a category the test rows lack
    final = fit_price_model(dev, PARAMS, test=test)
    assert final.X_test.shape[1] == final.X_train.shape[1] and final.metrics["rmse"] > 0

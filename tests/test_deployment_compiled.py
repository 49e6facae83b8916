"""Linear pipelines compiled into Spark SQL give scikit-learn's predictions, and its errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit.deployment.compiled import compile_estimator
from mlops_kit.exceptions import NotCompilableError

pytestmark = [pytest.mark.spark, pytest.mark.both_engines]


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "size": rng.normal(60, 20, n),
        "rooms": rng.integers(1, 6, n),
        "rating": rng.uniform(1, 5, n),
        "kind": rng.choice(["flat", "house", "room"], n).astype(object),
    })
    frame["price"] = 2 * frame["size"] + 15 * frame["rooms"] + frame["kind"].map(
        {"flat": 0.0, "house": 40.0, "room": -30.0}) + rng.normal(0, 5, n)
    return frame


def _with_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing numbers, a missing category and a category never seen in training."""
    gappy = frame.copy()
    gappy.loc[::9, "size"] = np.nan
    gappy.loc[::13, "rating"] = np.nan
    gappy.loc[::7, "kind"] = np.nan  # pandas 2 keeps None as a value, which sklearn never imputes
    gappy.loc[5, "kind"] = "castle"
    return gappy


def _pipelines():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge, SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        MaxAbsScaler, MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler,
    )

    numbers = ["size", "rooms", "rating"]
    return {
        "scaler + ridge, numbers only": (make_pipeline(StandardScaler(), Ridge()), numbers),
        "plain linear regression": (LinearRegression(), numbers),
        "min-max + lasso": (make_pipeline(SimpleImputer(), MinMaxScaler(), Lasso(alpha=0.1)), numbers),
        "robust + elastic net": (make_pipeline(SimpleImputer(strategy="most_frequent"),
                                               RobustScaler(), ElasticNet(alpha=0.1)), numbers),
        "scaling only, centring only": (make_pipeline(
            SimpleImputer(), RobustScaler(with_centering=False), StandardScaler(with_std=False),
            Ridge()), numbers),
        "max-abs + sgd": (make_pipeline(SimpleImputer(strategy="constant", fill_value=0),
                                        MaxAbsScaler(), SGDRegressor(random_state=0)), numbers),
        "one-hot dropping a level, numbers passed through": (make_pipeline(
            ColumnTransformer([("kind", OneHotEncoder(drop="first", handle_unknown="ignore"), ["kind"]),
                               ("fill", SimpleImputer(strategy="median"), ["size", "rating"])],
                              remainder="passthrough"),
            LinearRegression()), None),
        "imputed category, scaled one-hot": (make_pipeline(
            ColumnTransformer([("kind", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                      OneHotEncoder(handle_unknown="ignore"),
                                                      StandardScaler(with_mean=False)), ["kind"]),
                               ("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1, 2])]),
            Ridge(alpha=3.0)), None),
    }


@pytest.mark.parametrize("label", list(_pipelines()))
def test_compiled_pipeline_predicts_what_scikit_learn_predicts(spark, label) -> None:
    estimator, columns = _pipelines()[label]
    train = _frame()
    inputs = columns or ["size", "rooms", "rating", "kind"]
    estimator.fit(train[inputs], train["price"])
    if columns is None:  # pipelines with imputers see gaps and unknown categories
        test = _with_gaps(_frame(300, seed=1))
    else:
        test = _frame(300, seed=1)
        if "SimpleImputer" in repr(estimator):
            test.loc[::11, "rating"] = np.nan
    sdf = spark.createDataFrame(test[inputs])
    sql = compile_estimator(estimator, sdf.schema, inputs)
    got = sdf.selectExpr(sql).toPandas().iloc[:, 0].to_numpy()
    expected = estimator.predict(test[inputs])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_the_course_price_model_compiles_with_gaps_and_unseen_neighbourhoods(spark) -> None:
    from mlops_kit.datasets.listings import listings
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES, price_pipeline

    inputs = NUMERIC_FEATURES + CATEGORICAL_FEATURES
    train, test = listings(600, seed=1), listings(300, seed=2)[inputs]
    model = price_pipeline("ridge").fit(train[inputs], train["price"])
    test.loc[::8, NUMERIC_FEATURES[0]] = np.nan
    test.loc[::5, CATEGORICAL_FEATURES[0]] = None
    test.loc[3, CATEGORICAL_FEATURES[0]] = "nowhere the model has seen"
    sdf = spark.createDataFrame(test)
    got = sdf.selectExpr(compile_estimator(model, sdf.schema, inputs)).toPandas().iloc[:, 0]
    np.testing.assert_allclose(got, model.predict(test), rtol=1e-9)


def test_a_missing_value_without_an_imputer_fails_like_scikit_learn(spark) -> None:
    from sklearn.linear_model import LinearRegression

    train = _frame()
    model = LinearRegression().fit(train[["size", "rating"]], train["price"])
    test = _frame(20, seed=2)[["size", "rating"]]
    test.loc[3, "rating"] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(test)
    sdf = spark.createDataFrame(test)
    with pytest.raises(Exception, match=r"Input X contains NaN: the column 'rating' has a missing value"):
        sdf.selectExpr(compile_estimator(model, sdf.schema, ["size", "rating"])).collect()


def test_an_unknown_category_fails_when_the_encoder_says_error(spark) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = _frame()
    model = make_pipeline(OneHotEncoder(handle_unknown="error"), Ridge()).fit(train[["kind"]], train["price"])
    known = spark.createDataFrame(train[["kind"]].head(10))
    sql = compile_estimator(model, known.schema, ["kind"])
    np.testing.assert_allclose(known.selectExpr(sql).toPandas().iloc[:, 0],
                               model.predict(train[["kind"]].head(10)), rtol=1e-9)
    castle = spark.createDataFrame(pd.DataFrame({"kind": ["flat", "castle"]}))
    with pytest.raises(Exception, match=r"Found unknown category castle in column 'kind'"):
        castle.selectExpr(sql).collect()


def test_column_names_that_need_quoting_compile(spark) -> None:
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"size m2": [10.0, 20.0, 35.0], "it's": [1.0, 0.0, 2.0]})
    model = LinearRegression().fit(frame, [1.0, 2.0, 4.0])
    sdf = spark.createDataFrame(frame)
    got = sdf.selectExpr(compile_estimator(model, sdf.schema, list(frame))).toPandas().iloc[:, 0]
    np.testing.assert_allclose(got, model.predict(frame), rtol=1e-9)


def _not_compilable(kind: str):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return {
        "a forest": RandomForestRegressor(n_estimators=2, random_state=0),
        "a tanh transform": make_pipeline(FunctionTransformer(np.tanh), Ridge()),
        "a missing-value indicator": make_pipeline(SimpleImputer(add_indicator=True), Ridge()),
    }[kind]


@pytest.mark.parametrize("kind, reason", [
    ("a forest", "RandomForestRegressor has no SQL form"),
    ("a tanh transform", "FunctionTransformer has no SQL form"),
    ("a missing-value indicator", r"SimpleImputer\(add_indicator=True\) has no SQL form"),
])
def test_models_with_no_sql_form_say_which_step(spark, kind, reason) -> None:
    train = _frame()
    model = _not_compilable(kind).fit(train[["size", "rooms"]], train["price"])
    sdf = spark.createDataFrame(train[["size", "rooms"]])
    with pytest.raises(NotCompilableError, match=reason):
        compile_estimator(model, sdf.schema, ["size", "rooms"])


def test_text_where_the_model_needs_numbers_is_not_compiled(spark) -> None:
    from sklearn.linear_model import Ridge

    train = _frame()
    model = Ridge().fit(train[["size"]], train["price"])
    as_text = spark.createDataFrame(pd.DataFrame({"size": ["12.5", "40"]}))
    with pytest.raises(NotCompilableError, match="'size' reaches Ridge as text"):
        compile_estimator(model, as_text.schema, ["size"])

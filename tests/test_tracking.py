"""Tracking helpers: data lineage round trip, explanations, reproducing a run."""
from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from mlops_kit.datasets.listings import listings
from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.tracking import (
    artifact_names,
    log_explanations,
    log_training_data,
    price_features,
    rebuild_training_data,
    reproduce_run,
    fit_price_model,
    training_data_version,
)

PARAMS = {"model": "random_forest", "n_estimators": 10, "max_depth": 4, "seed": 7}


def _write(spark, path, pdf: pd.DataFrame, mode: str = "error") -> None:
    spark.createDataFrame(pdf).write.format("delta").mode(mode).save(str(path))


def _sorted(pdf: pd.DataFrame) -> pd.DataFrame:
    return pdf.sort_values("id").reset_index(drop=True)


def test_price_features_are_numeric_and_independent_of_row_order():
    pdf = listings(120, seed=3)
    X, y = price_features(pdf)
    X_shuffled, y_shuffled = price_features(pdf.sample(frac=1.0, random_state=1))
    assert all(dtype == float for dtype in X.dtypes)
    assert not X.isna().any().any()
    assert "price" not in X.columns and "id" not in X.columns
    pd.testing.assert_frame_equal(X, X_shuffled)
    pd.testing.assert_series_equal(y, y_shuffled)


def test_fit_price_model_is_deterministic_and_rejects_unknown_models():
    pdf = listings(300, seed=3)
    first = fit_price_model(pdf, PARAMS).metrics
    again = fit_price_model(pdf, {k: str(v) for k, v in PARAMS.items()}).metrics
    assert first == again
    assert first["r2"] > 0.3
    with pytest.raises(ConfigError, match="'random_forest' or 'ridge'"):
        fit_price_model(pdf, {"model": "xgboost"})


def test_log_training_data_needs_an_active_run(workspace):
    with pytest.raises(ConfigError, match="start_run"):
        log_training_data(None, "listings", 0)


@pytest.mark.spark
def test_log_training_data_rejects_missing_table_and_bad_version(workspace, spark):
    df = spark.range(3)
    workspace.set_experiment("lineage")
    with mlflow.start_run():
        with pytest.raises(NotFoundError, match="No Delta table 'nowhere'"):
            log_training_data(df, "nowhere", 0)
        with pytest.raises(ConfigError, match="whole number >= 0"):
            log_training_data(df, "nowhere", -1)


@pytest.mark.spark
def test_lineage_round_trip_survives_an_overwrite(workspace, spark):
    """Version 0 is logged (not the latest) and read back after the table changed."""
    path = workspace.table_path("listings")
    original = listings(150, seed=1)
    _write(spark, path, original)
    workspace.set_experiment("lineage")
    with mlflow.start_run() as run:
        log_training_data(spark.read.format("delta").load(str(path)), "listings", 0)
    _write(spark, path, listings(80, seed=2), mode="overwrite")

    version = training_data_version(run.info.run_id)
    rebuilt = rebuild_training_data(run.info.run_id).toPandas()
    latest = spark.read.format("delta").load(str(path)).count()

    assert version.version == 0 and version.path == str(path)
    assert latest == 80
    pd.testing.assert_frame_equal(_sorted(rebuilt), _sorted(original), check_dtype=False)
    assert mlflow.get_run(run.info.run_id).data.tags["training_data.version"] == "0"


@pytest.mark.spark
def test_logged_training_data_declares_the_table_types_without_a_warning(workspace, spark, recwarn):
    """The schema comes from the table (integers stay long), and nothing warns about it."""
    import json

    path = workspace.table_path("listings")
    _write(spark, path, listings(50, seed=3))
    workspace.set_experiment("lineage")
    with mlflow.start_run() as run:
        log_training_data(spark.read.format("delta").load(str(path)), "listings", 0)
    assert [str(w.message)[:80] for w in recwarn if "integer column" in str(w.message)] == []
    dataset = mlflow.get_run(run.info.run_id).inputs.dataset_inputs[0].dataset
    types = {c["name"]: c["type"] for c in json.loads(dataset.schema)["mlflow_colspec"]}
    assert types["accommodates"] == "long" and types["price"] == "double"
    assert types["neighbourhood"] == "string"
    # the profile is an exact count, computed without the RDD API (Spark Connect has none)
    assert json.loads(dataset.profile) == {"approx_count": 50}


def test_training_data_version_of_a_run_without_inputs(workspace):
    workspace.set_experiment("lineage")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 1)
    with pytest.raises(NotFoundError, match="logged no Delta table version"):
        training_data_version(run.info.run_id)


def test_log_explanations_logs_values_plot_and_importance(workspace):
    trained = fit_price_model(listings(300, seed=4), PARAMS)
    workspace.set_experiment("explain")
    with mlflow.start_run() as run:
        importance = log_explanations(trained.model, trained.X_test, max_rows=40)
    names = artifact_names(run.info.run_id)
    assert names == [
        "explanations/feature_importance.csv",
        "explanations/shap_summary.png",
        "explanations/shap_values.csv",
    ]
    assert list(importance.index) != [] and set(importance.index) == set(trained.X_test.columns)
    assert importance.iloc[0] == importance.max() > 0
    values = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="explanations/shap_values.csv"))
    assert values.shape == (40, trained.X_test.shape[1])


def test_log_explanations_works_for_a_pipeline(workspace):
    """A scaler + ridge pipeline is explained through its predict function."""
    trained = fit_price_model(listings(200, seed=4), {"model": "ridge", "alpha": 1.0})
    workspace.set_experiment("explain")
    with mlflow.start_run():
        importance = log_explanations(trained.model, trained.X_test, max_rows=20)
    assert importance.max() > 0


def _train_and_log(spark, workspace, params) -> str:
    path = workspace.table_path("listings")
    df = spark.read.format("delta").load(str(path))
    trained = fit_price_model(df.toPandas(), params)
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics(trained.metrics)
        log_training_data(df, "listings", 0)
    return run.info.run_id


@pytest.mark.spark
def test_reproduce_run_gives_the_same_metric_after_the_table_changed(workspace, spark):
    path = workspace.table_path("listings")
    _write(spark, path, listings(300, seed=5))
    workspace.set_experiment("reproduce")
    run_id = _train_and_log(spark, workspace, PARAMS)
    _write(spark, path, listings(300, seed=6), mode="overwrite")

    result = reproduce_run(run_id, metric="rmse")
    assert result.matches, str(result)
    assert result.data.version == 0
    assert "reproduced" in str(result)

    drifted = reproduce_run(run_id, lambda pdf, p: {"rmse": 1.0 + fit_price_model(pdf, p).metrics["rmse"]})
    assert not drifted.matches
    assert "NOT reproduced" in str(drifted)
    with pytest.raises(NotFoundError, match="no metric 'auc'"):
        reproduce_run(run_id, metric="auc")

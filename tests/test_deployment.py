"""Batch and streaming scoring with a real MLflow model on real Delta tables."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pandas as pd
import pytest

from mlops_kit._price_model import pip_requirements
from mlops_kit.deployment import (append_rows, optimize_table, reset_stream, score_table,
                                  start_scoring_stream, wait_for_stream)
from mlops_kit.exceptions import (ConfigError, DataError, EndlessWaitError, NotFoundError,
                                  StreamWaitTimeout)

pytestmark = [pytest.mark.spark, pytest.mark.both_engines]


def _frame(n: int, start: int = 0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(start, start + n, dtype="int64"),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "region": rng.choice(["north", "south"], size=n),
        }
    )


@pytest.fixture
def model(workspace):
    """A registered linear pipeline; returns (uri, fitted sklearn model)."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    train = _frame(200, seed=1)
    X = train[["x1", "x2"]]
    y = 3 * X["x1"] - 2 * X["x2"] + 1
    fitted = LinearRegression().fit(X, y)
    workspace.set_experiment("deploy_tests")
    name = workspace.model_name("deploy_model")
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            fitted, name="model", signature=infer_signature(X, y), registered_model_name=name,
            pip_requirements=pip_requirements(),
        )
    return f"models:/{name}/1", fitted


def _write(spark, workspace, name, frame):
    spark.createDataFrame(frame).write.format("delta").mode("overwrite").save(
        str(workspace.table_path(name))
    )


def _read(spark, workspace, name) -> pd.DataFrame:
    return spark.read.format("delta").load(str(workspace.table_path(name))).toPandas()


def test_score_table_matches_in_process_predict(spark, workspace, model):
    uri, fitted = model
    frame = _frame(300)
    _write(spark, workspace, "to_score", frame)
    result = score_table(uri, "to_score", "scored", keep_columns=["id", "region"], partition_by=["region"])
    assert result["rows"] == 300
    scored = _read(spark, workspace, "scored").sort_values("id").reset_index(drop=True)
    expected = fitted.predict(frame[["x1", "x2"]])
    np.testing.assert_allclose(scored["prediction"], expected, rtol=1e-9)
    assert set(scored.columns) == {"id", "region", "prediction"}
    # partitioned for retrieval: one folder per region
    folders = {p.name for p in workspace.table_path("scored").iterdir() if p.is_dir()}
    assert {"region=north", "region=south"} <= folders


def test_score_table_rejects_input_without_model_columns(spark, workspace, model):
    uri, _ = model
    _write(spark, workspace, "bad_input", _frame(5).drop(columns=["x2"]))
    with pytest.raises(DataError, match=r"lacks the model's input columns \['x2'\]"):
        score_table(uri, "bad_input", "never_written")
    assert not workspace.table_path("never_written").exists()


def test_optimize_compacts_small_files(spark, workspace):
    path = str(workspace.table_path("small_files"))
    for i in range(4):
        spark.createDataFrame(_frame(20, start=i * 20)).repartition(2).write.format("delta").mode("append").save(path)
    metrics = optimize_table("small_files", zorder_by=["id"])
    assert metrics["files_removed"] >= 8
    assert metrics["files_added"] == 1
    assert spark.read.format("delta").load(path).count() == 80


def test_stream_restart_scores_every_row_exactly_once(spark, workspace, model):
    """Stop a running query mid-stream, restart it: each id scored exactly once."""
    uri, fitted = model
    for i in range(3):
        append_rows("events", _frame(40, start=i * 40, seed=i))
    first = start_scoring_stream(uri, "events", "events_scored", trigger="availableNow",
                                 max_files_per_trigger=1, keep_columns=["id", "x1", "x2"])
    first.awaitTermination(120)
    assert first.exception() is None
    assert len(_read(spark, workspace, "events_scored")) == 120

    running = start_scoring_stream(uri, "events", "events_scored", trigger="processingTime",
                                   interval="1 second", max_files_per_trigger=1,
                                   keep_columns=["id", "x1", "x2"])
    for i in range(3, 6):
        append_rows("events", _frame(40, start=i * 40, seed=i))
    running.processAllAvailable()
    append_rows("events", _frame(40, start=240, seed=6))
    running.stop()  # possibly in the middle of the last batch

    append_rows("events", _frame(40, start=280, seed=7))
    restarted = start_scoring_stream(uri, "events", "events_scored", trigger="availableNow",
                                     keep_columns=["id", "x1", "x2"])
    restarted.awaitTermination(120)
    out = _read(spark, workspace, "events_scored")
    assert sorted(out["id"]) == list(range(320))  # every row, none twice
    np.testing.assert_allclose(
        out.sort_values("id")["prediction"],
        fitted.predict(out.sort_values("id")[["x1", "x2"]]),
        rtol=1e-9,
    )


def test_a_stream_on_a_source_not_written_yet_says_to_append_first(spark, workspace):
    """reset_stream before the first run used to end in DELTA_SCHEMA_NOT_SET from deep inside."""
    reset_stream("arrivals", "arrivals_scored")
    with pytest.raises(NotFoundError, match="'arrivals' has no rows yet.*append_rows"):
        start_scoring_stream("models:/x/1", "arrivals", "arrivals_scored")
    assert not workspace.table_path("arrivals_scored").exists()


def test_stream_cells_rerun_wait_and_stop_without_traps(spark, workspace, model, capsys):
    """A re-run start cell replaces its query; an endless wait is refused; waits are bounded."""
    uri, _ = model
    append_rows("events", _frame(40))
    job = dict(trigger="processingTime", interval="1 second", keep_columns=["id", "x1", "x2"])
    first = start_scoring_stream(uri, "events", "events_scored", **job)
    again = start_scoring_stream(uri, "events", "events_scored", **job)  # the cell, run again
    try:
        assert not first.isActive and again.isActive
        assert "stopped the running query 'score_events_scored'" in capsys.readouterr().err
        with pytest.raises(EndlessWaitError, match="wait forever: use wait_for_stream"):
            again.awaitTermination()
        assert again.awaitTermination(1) is False  # with a timeout it is PySpark's own call
        append_rows("events", _frame(40, start=40, seed=1))
        wait_for_stream(again, timeout=300)  # caught up with both batches, still running
        assert sorted(_read(spark, workspace, "events_scored")["id"]) == list(range(80))
        assert again.isActive
    finally:
        again.stop()

    # Jupyter's stop button during the wait: the query is stopped, not left running
    slow = start_scoring_stream(uri, "events", "events_scored", trigger="processingTime",
                                interval="10 minutes", keep_columns=["id", "x1", "x2"])
    append_rows("events", _frame(40, start=80, seed=2))  # waits for the next trigger
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        with pytest.raises(KeyboardInterrupt, match="'score_events_scored' was stopped"):
            wait_for_stream(slow, timeout=300)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not slow.isActive

    once = start_scoring_stream(uri, "events", "events_scored", trigger="availableNow",
                                keep_columns=["id", "x1", "x2"])
    with pytest.raises(StreamWaitTimeout, match="'score_events_scored' was still running"):
        wait_for_stream(once, timeout=0.001)
    wait_for_stream(once, timeout=300)
    assert not once.isActive and len(_read(spark, workspace, "events_scored")) == 120


def test_stream_rejects_unknown_trigger(workspace):
    with pytest.raises(ConfigError, match="trigger must be"):
        start_scoring_stream("models:/x/1", "a", "b", trigger="once")


def _register_forest(workspace) -> str:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestRegressor

    from mlops_kit.models import trusted_types

    train = _frame(100, seed=3)
    X, y = train[["x1", "x2"]], train["x1"] * 2
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    workspace.set_experiment("deploy_tests")
    name = workspace.model_name("deploy_forest")
    with mlflow.start_run():
        mlflow.sklearn.log_model(forest, name="model", signature=infer_signature(X, y),
                                 registered_model_name=name, skops_trusted_types=trusted_types(forest),
                                 pip_requirements=pip_requirements())
    return f"models:/{name}/1"


def test_linear_model_is_scored_as_sql_with_the_predictions_of_spark_udf(spark, workspace, model):
    import mlflow.pyfunc

    from mlops_kit.deployment import score_dataframe, scoring_engine

    uri, _ = model
    frame = _frame(200, seed=4)
    sdf = spark.createDataFrame(frame)
    assert scoring_engine(sdf, uri)[0] == "sql"
    by_sql = score_dataframe(sdf, uri).toPandas().sort_values("id")["prediction"].to_numpy()
    by_udf = score_dataframe(sdf, uri, engine="udf").toPandas().sort_values("id")["prediction"].to_numpy()
    by_pyfunc = mlflow.pyfunc.load_model(uri).predict(frame[["x1", "x2"]])
    np.testing.assert_allclose(by_sql, by_pyfunc, rtol=1e-9)
    np.testing.assert_allclose(by_udf, by_pyfunc, rtol=1e-9)


def test_a_forest_falls_back_to_spark_udf_and_says_why(spark, workspace):
    from mlops_kit.deployment import score_dataframe, scoring_engine
    from mlops_kit.exceptions import NotCompilableError

    uri = _register_forest(workspace)
    frame = _frame(50, seed=5)
    sdf = spark.createDataFrame(frame)
    engine, reason = scoring_engine(sdf, uri)
    assert engine == "udf" and "RandomForestRegressor has no SQL form" in reason
    scored = score_dataframe(sdf, uri).toPandas()
    assert scored["prediction"].notna().all() and len(scored) == 50
    with pytest.raises(NotCompilableError, match="RandomForestRegressor"):
        score_dataframe(sdf, uri, engine="sql")


def test_score_table_reports_its_engine_and_rejects_unknown_engines(spark, workspace, model):
    uri, _ = model
    _write(spark, workspace, "to_score", _frame(30))
    assert score_table(uri, "to_score", "scored_sql")["engine"] == "sql"
    assert score_table(uri, "to_score", "scored_udf", engine="udf")["engine"] == "udf"
    np.testing.assert_allclose(
        _read(spark, workspace, "scored_sql").sort_values("id")["prediction"],
        _read(spark, workspace, "scored_udf").sort_values("id")["prediction"], rtol=1e-9)
    with pytest.raises(ConfigError, match=r"engine must be one of \('auto', 'sql', 'udf'\). Got 'gpu'"):
        score_table(uri, "to_score", "never_written", engine="gpu")
    assert not workspace.table_path("never_written").exists()


def test_model_info_follows_an_alias_that_moves(workspace, model):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    from mlops_kit.registry.info import model_info

    uri, _ = model
    name = uri.split("/")[1]
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "champion", "1")
    first = model_info(f"models:/{name}@champion")
    assert model_info(f"models:/{name}@champion") is first  # cached per version
    X = _frame(50)[["x1", "x2"]]
    with mlflow.start_run():
        mlflow.sklearn.log_model(LinearRegression().fit(X, X["x1"]), name="model",
                                 signature=infer_signature(X, X["x1"]), registered_model_name=name,
                                 pip_requirements=pip_requirements())
    client.set_registered_model_alias(name, "champion", "2")
    second = model_info(f"models:/{name}@champion")
    assert second.model_uuid != first.model_uuid
    assert second.model_uuid == model_info(f"models:/{name}/2").model_uuid


def test_spark_udf_of_a_pinned_alias_scores_the_version_the_alias_names_now(spark, workspace, model):
    """The lessons' spark_udf path: on a shared Connect server the Python workers
    outlive a job and cache models by URI text; a pinned URI is never stale."""
    import mlflow
    from mlflow.models import infer_signature
    from pyspark.sql import functions as F
    from sklearn.linear_model import LinearRegression

    from mlops_kit.registry.info import pinned_uri

    uri, first_model = model
    name = uri.split("/")[1]
    client = mlflow.MlflowClient()
    frame = _frame(40, seed=6)
    sdf = spark.createDataFrame(frame)

    def scored_by_champion() -> np.ndarray:
        udf = mlflow.pyfunc.spark_udf(spark, pinned_uri(f"models:/{name}@champion"),
                                      result_type="double", env_manager="local")
        out = sdf.withColumn("prediction", udf(F.struct("x1", "x2"))).toPandas()
        return out.sort_values("id")["prediction"].to_numpy()

    client.set_registered_model_alias(name, "champion", "1")
    np.testing.assert_allclose(scored_by_champion(), first_model.predict(frame[["x1", "x2"]]), rtol=1e-9)
    X = frame[["x1", "x2"]]
    second_model = LinearRegression().fit(X, 10 * X["x2"])
    with mlflow.start_run():
        mlflow.sklearn.log_model(second_model, name="model", signature=infer_signature(X, X["x2"]),
                                 registered_model_name=name, pip_requirements=pip_requirements())
    client.set_registered_model_alias(name, "champion", "2")
    np.testing.assert_allclose(scored_by_champion(), second_model.predict(X), rtol=1e-9)

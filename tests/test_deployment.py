"""Batch and streaming scoring with a real MLflow model on real Delta tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit.deployment import append_rows, optimize_table, score_table, start_scoring_stream
from mlops_kit.exceptions import ConfigError, DataError

pytestmark = pytest.mark.spark


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
            fitted, name="model", signature=infer_signature(X, y), registered_model_name=name
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


def test_stream_rejects_unknown_trigger(workspace):
    with pytest.raises(ConfigError, match="trigger must be"):
        start_scoring_stream("models:/x/1", "a", "b", trigger="once")

"""The cluster scenario: the kit's Spark workloads in one process, results as JSON.

``python tests/cluster_scenario.py OUT.json`` runs, against whatever Spark
``MLOPS_KIT_SPARK_MASTER`` names (``local[2]`` or ``spark://127.0.0.1:7077``),
in the workspace ``MLOPS_KIT_HOME``:

1. ``batch``: a registered linear model scores a Delta table with
   :func:`~mlops_kit.deployment.score_table`, as compiled SQL and as
   ``spark_udf`` (Python workers on the executors);
2. ``drift``: the Spark drift monitor on the ice-cream data (reference and
   current as Spark DataFrames);
3. ``training_set``: the feature store's point-in-time training set;
4. ``streaming``: the scoring stream, stopped while running and restarted.

tests/test_cluster.py runs it on ``local[2]``, on a standalone cluster, and
through a Spark Connect server whose Spark runs on that cluster
(``MLOPS_KIT_SPARK_MASTER=sc://...``), and compares the files. It is a script, not a test module, so that
each run gets its own JVM and the test process's Spark is never touched.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SECTIONS = ("batch", "drift", "training_set", "streaming")


def _frame(n: int, start: int = 0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(start, start + n, dtype="int64"),
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "region": rng.choice(["north", "south"], size=n),
    })


def _register_model(ws) -> str:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    from mlops_kit._price_model import pip_requirements

    train = _frame(200, seed=1)
    X = train[["x1", "x2"]]
    y = 3 * X["x1"] - 2 * X["x2"] + 1
    ws.set_experiment("cluster")
    name = ws.model_name("cluster_model")
    with mlflow.start_run():
        mlflow.sklearn.log_model(LinearRegression().fit(X, y), name="model",
                                 signature=infer_signature(X, y), registered_model_name=name,
                                 pip_requirements=pip_requirements())
    return f"models:/{name}/1"


def _rows(df, key: str) -> list[dict]:
    """A Spark or pandas frame as sorted JSON-able records."""
    frame = df if isinstance(df, pd.DataFrame) else df.toPandas()
    frame = frame.sort_values(key).reset_index(drop=True)
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def batch(spark, ws, uri: str) -> dict:
    from mlops_kit.deployment import score_table

    spark.createDataFrame(_frame(2000)).repartition(4).write.format("delta") \
        .mode("overwrite").save(str(ws.table_path("to_score")))
    out = {}
    for engine in ("sql", "udf"):
        result = score_table(uri, "to_score", f"scored_{engine}", keep_columns=["id", "region"],
                             partition_by=["region"], engine=engine)
        assert result["engine"] == engine, result
        scored = spark.read.format("delta").load(str(ws.table_path(f"scored_{engine}")))
        out[engine] = _rows(scored, "id")
    return out


def drift(spark) -> dict:
    from mlops_kit.datasets import change_category_mix, change_units, ice_cream_sales, inject_nulls
    from mlops_kit.monitoring import Monitor

    reference = ice_cream_sales(3000, seed=1)
    current = inject_nulls(change_category_mix(
        change_units(ice_cream_sales(3000, seed=2), "temperature", "C->F"),
        "flavour", {"Chocolate": 1, "Vanilla": 1}, seed=1), "humidity", 0.1, seed=2)
    features = dict(numeric=["temperature", "humidity", "price_per_cone"],
                    categorical=["flavour", "store"], label="cones_sold")
    report = Monitor(spark.createDataFrame(reference), **features).run(
        spark.createDataFrame(current))
    results = report.results[["feature", "test", "statistic", "p_value", "drifted"]]
    results = results.assign(key=results["feature"] + "/" + results["test"])
    return {"results": _rows(results, "key"), "drifted": sorted(report.drifted_features)}


def training_set(spark, ws) -> list[dict]:
    from mlops_kit.features import FeatureLookup, FeatureStoreClient

    t0, day = dt.datetime(2024, 1, 1), dt.timedelta(days=1)
    rng = np.random.default_rng(3)
    feats = [(int(k), t0 + int(d) * day, float(round(rng.uniform(0, 100), 2)), int(rng.integers(5)))
             for k in range(20) for d in sorted(rng.choice(8, size=3, replace=False))]
    labels = [(i, int(rng.integers(24)), t0 + int(rng.integers(-1, 10)) * day
               + dt.timedelta(hours=int(rng.choice([0, 5]))), float(rng.random()))
              for i in range(300)]
    fs = FeatureStoreClient(ws, spark=spark)
    try:
        fs.drop_table("pit", missing_ok=True)
        fs.create_table("pit", "key", timeseries_column="ts", df=spark.createDataFrame(
            feats, "key long, ts timestamp, v double, n long"))
        labels_df = spark.createDataFrame(labels, "row_id long, key long, t timestamp, y double")
        lookup = FeatureLookup("pit", "key", feature_names=["v", "n"], timestamp_lookup_key="t",
                               lookback_window=3 * day)
        out = fs.create_training_set(labels_df, [lookup], "y").load_df()
        return _rows(out, "row_id")
    finally:
        fs.close()


def streaming(spark, ws, uri: str) -> dict:
    from mlops_kit.deployment import append_rows, start_scoring_stream

    keep = ["id", "x1", "x2"]
    for i in range(3):
        append_rows("events", _frame(40, start=i * 40, seed=i))
    first = start_scoring_stream(uri, "events", "events_scored", trigger="availableNow",
                                 max_files_per_trigger=1, keep_columns=keep)
    first.awaitTermination(300)
    assert first.exception() is None, first.exception()
    running = start_scoring_stream(uri, "events", "events_scored", trigger="processingTime",
                                   interval="1 second", max_files_per_trigger=1,
                                   keep_columns=keep)
    for i in range(3, 5):
        append_rows("events", _frame(40, start=i * 40, seed=i))
    running.processAllAvailable()
    append_rows("events", _frame(40, start=200, seed=5))
    running.stop()  # perhaps in the middle of a batch
    append_rows("events", _frame(40, start=240, seed=6))
    restarted = start_scoring_stream(uri, "events", "events_scored", trigger="availableNow",
                                     keep_columns=keep)
    restarted.awaitTermination(300)
    assert restarted.exception() is None, restarted.exception()
    out = spark.read.format("delta").load(str(ws.table_path("events_scored")))
    return {"rows": _rows(out, "id")}


def main(out_path: str, sections: list[str]) -> None:
    from mlops_kit.spark import get_spark, is_connect, last_startup_seconds, stop_spark
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env().activate()
    report: dict = {"master": ws.spark_master, "seconds": {}}
    t0 = time.perf_counter()
    spark = get_spark(ws, app_name="mlops-kit-cluster-scenario")
    report["seconds"]["session"] = round(last_startup_seconds() or time.perf_counter() - t0, 2)
    connect = is_connect(spark)
    report["spark_master"] = spark.conf.get("spark.master") if connect else spark.sparkContext.master
    uri = _register_model(ws) if {"batch", "streaming"} & set(sections) else ""
    try:
        for section in sections:
            started = time.perf_counter()
            if section == "batch":
                report[section] = batch(spark, ws, uri)
            elif section == "drift":
                report[section] = drift(spark)
            elif section == "training_set":
                report[section] = training_set(spark, ws)
            elif section == "streaming":
                report[section] = streaming(spark, ws, uri)
            report["seconds"][section] = round(time.perf_counter() - started, 2)
        # executors that ran the work (the driver is in the map too); a Connect client
        # has no SparkContext: the test asks the cluster's master instead
        report["executors"] = (None if connect else
                               spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1)
    finally:
        stop_spark()
    Path(out_path).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 else list(SECTIONS))

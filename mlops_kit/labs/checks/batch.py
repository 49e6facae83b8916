"""Checks of the batch scoring lab (``solutions/03-deployment/01L-batch-lab.ipynb``).

Every check recomputes the truth with the model in this process
(``pyfunc.predict`` on the same rows) and compares, so an answer is right
because its predictions are, not because it has the right shape.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: rows compared against in-process predictions
SAMPLE_ROWS = 50


def _expected(model_uri: str, rows):
    """In-process predictions of the model for the pandas frame ``rows``."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    inputs = model.metadata.get_input_schema().input_names()
    return model.predict(rows[inputs]), inputs


def _compare(actual, expected, what: str) -> CheckResult:
    import numpy as np

    actual = np.asarray(actual, dtype=float).ravel()
    expected = np.asarray(expected, dtype=float).ravel()
    if actual.shape != expected.shape:
        return CheckResult.fail(f"{what}: {actual.size} predictions for {expected.size} rows")
    if not np.allclose(actual, expected, rtol=1e-6, atol=1e-6):
        worst = float(np.max(np.abs(actual - expected)))
        return CheckResult.fail(
            f"{what}: predictions differ from the model's by up to {worst:.3g}",
            hint="feed the model exactly its signature's input columns, as F.struct(*inputs)",
        )
    return CheckResult.ok(f"{what}: {actual.size} predictions equal the model's")


@checker("batch", "ex1", title="A Spark UDF from the champion")
def check_udf(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is a UDF that, applied to the model's inputs, predicts like the model."""
    from pyspark.sql import functions as F

    if not callable(value) or not hasattr(value, "evalType"):
        return CheckResult.fail(
            f"expected a Spark UDF, got a {type(value).__name__}",
            hint="mlflow.pyfunc.spark_udf(spark, model_uri, result_type='double', env_manager='local')",
        )
    sample = listings_df.orderBy("id").limit(SAMPLE_ROWS)
    rows = sample.toPandas()
    expected, inputs = _expected(model_uri, rows)
    got = sample.select(value(F.struct(*inputs)).alias("p")).toPandas()["p"]
    if got.map(lambda v: hasattr(v, "__len__")).any():
        return CheckResult.fail("the UDF returns arrays, not numbers", hint="pass result_type='double'")
    return _compare(got, expected, "UDF")


@checker("batch", "ex2", title="Score the listings")
def check_scored(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is the listings with a ``prediction`` column equal to the model's."""
    if not hasattr(value, "columns") or not hasattr(value, "toPandas"):
        return CheckResult.fail(f"expected a Spark DataFrame, got a {type(value).__name__}")
    if "prediction" not in value.columns:
        return CheckResult.fail(
            f"no column 'prediction' (columns: {value.columns})",
            hint='listings_df.withColumn("prediction", predict_udf(F.struct(*inputs)))',
        )
    if value.count() != listings_df.count():
        return CheckResult.fail(f"{value.count()} rows scored, the table has {listings_df.count()}")
    rows = value.orderBy("id").limit(SAMPLE_ROWS).toPandas()
    expected, _ = _expected(model_uri, rows)
    return _compare(rows["prediction"], expected, "scored listings")


@checker("batch", "ex3", title="Predictions as a partitioned Delta table")
def check_table(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is the path of a Delta table partitioned by room_type with all predictions."""
    from delta.tables import DeltaTable

    from mlops_kit.spark import get_spark

    spark = get_spark()
    path = str(value)
    if not DeltaTable.isDeltaTable(spark, path):
        return CheckResult.fail(f"no Delta table at {path}", hint="scored_df.write.format('delta')...save(output_path)")
    detail = DeltaTable.forPath(spark, path).detail().first()
    if list(detail["partitionColumns"]) != ["room_type"]:
        return CheckResult.fail(
            f"the table is partitioned by {list(detail['partitionColumns'])}, not ['room_type']",
            hint='.partitionBy("room_type") before .save(...)',
        )
    table = spark.read.format("delta").load(path)
    if table.count() != listings_df.count() or "prediction" not in table.columns:
        return CheckResult.fail(
            f"the table has {table.count()} rows and columns {table.columns}; expected "
            f"{listings_df.count()} rows with a 'prediction' column"
        )
    rows = table.orderBy("id").limit(SAMPLE_ROWS).toPandas()
    expected, _ = _expected(model_uri, rows)
    return _compare(rows["prediction"], expected, "table")

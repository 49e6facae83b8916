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
            hint="Feed the model exactly its signature's input columns, in one struct, unchanged.",
        )
    return CheckResult.ok(f"{what}: {actual.size} predictions equal the model's")


@checker("batch", "ex1", title="A Spark UDF from the champion", hints=[
    "MLflow's pyfunc flavour can wrap a model as a Spark UDF.",
    "Ask the UDF for one number per row, and let it use this environment's packages.",
])
def check_udf(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is a UDF that, applied to the model's inputs, predicts like the model."""
    from pyspark.sql import functions as F

    if not callable(value) or not hasattr(value, "evalType"):
        return CheckResult.fail(
            f"expected a Spark UDF, got a {type(value).__name__}",
            hint="Build it from model_uri with MLflow's pyfunc flavour; a model URI is not a UDF yet.",
        )
    sample = listings_df.orderBy("id").limit(SAMPLE_ROWS)
    rows = sample.toPandas()
    expected, inputs = _expected(model_uri, rows)
    got = sample.select(value(F.struct(*inputs)).alias("p")).toPandas()["p"]
    if got.map(lambda v: hasattr(v, "__len__")).any():
        return CheckResult.fail("the UDF returns arrays, not numbers",
                                hint="The UDF's result type decides what one row's answer is.")
    return _compare(got, expected, "UDF")


@checker("batch", "ex2", title="Score the listings", hints=[
    "A new column on every row of listings_df, computed by the UDF.",
    "The UDF takes one argument: the model's input columns packed together.",
])
def check_scored(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is the listings with a ``prediction`` column equal to the model's."""
    if not hasattr(value, "columns") or not hasattr(value, "toPandas"):
        return CheckResult.fail(f"expected a Spark DataFrame, got a {type(value).__name__}",
                                hint="Keep the result of withColumn, a DataFrame.")
    if "prediction" not in value.columns:
        return CheckResult.fail(
            f"no column 'prediction' (columns: {value.columns})",
            hint="Name the new column exactly as the exercise says.",
        )
    if value.count() != listings_df.count():
        return CheckResult.fail(f"{value.count()} rows scored, the table has {listings_df.count()}",
                                hint="Score every listing: no filter, no limit.")
    rows = value.orderBy("id").limit(SAMPLE_ROWS).toPandas()
    expected, _ = _expected(model_uri, rows)
    return _compare(rows["prediction"], expected, "scored listings")


#: a partition column with more values than this splits the table into tiny files
MAX_PARTITION_VALUES = 50


def _partitioning_problem(partitions: list[str], column: str, listings_df) -> str | None:
    """Why ``partitions`` do not serve readers who all filter on ``column``, or None."""
    if partitions == [column]:
        return None
    if not partitions:
        return "so every reader query reads every file"
    counts = {c: listings_df.select(c).distinct().count() for c in partitions
              if c in listings_df.columns}
    fine = [c for c in partitions if counts.get(c, MAX_PARTITION_VALUES + 1) > MAX_PARTITION_VALUES]
    if fine:
        return (f"and {fine[0]!r} alone has more than {MAX_PARTITION_VALUES} values, so the table "
                f"is split into many tiny partitions")
    if column in partitions:
        return "so one value of the column every query asks for is spread over many small partitions"
    return (f"but some of your readers' queries do not filter on {partitions[0]!r}, so they still "
            f"read every partition")


@checker("batch", "ex3", title="Predictions as a Delta table laid out for its readers", hints=[
    "Read the readers' queries: what does every one of them ask for, and how many distinct "
    "values can that have?",
    "Partition by a column that every query filters on with '=', that has few distinct values, "
    "and by nothing else; replace what an earlier run left there.",
])
def check_table(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is the path of a Delta table with all predictions, partitioned for the readers.

    The readers' column is the learner's own (:func:`mlops_kit.labs.seeds.reader_column`).
    """
    from mlops_kit.delta import table_detail, table_exists
    from mlops_kit.labs.seeds import learner_seed, reader_column
    from mlops_kit.spark import get_spark

    path = str(value)
    if not table_exists(path):
        return CheckResult.fail(f"no Delta table at {path}",
                                hint="Write scored_df in the Delta format to output_path, then pass that path.")
    spark = get_spark()
    partitions = list(table_detail(path, spark=spark)["partitionColumns"])
    why = _partitioning_problem(partitions, reader_column(learner_seed("batch-readers")), listings_df)
    if why:
        return CheckResult.fail(
            f"the table is partitioned by {partitions}, {why}",
            hint="Partition by the one column all of reader_queries ask for with '=', if it has "
                 "few values.",
        )
    table = spark.read.format("delta").load(path)
    if table.count() != listings_df.count() or "prediction" not in table.columns:
        return CheckResult.fail(
            f"the table has {table.count()} rows and columns {table.columns}; expected "
            f"{listings_df.count()} rows with a 'prediction' column",
            hint="Overwrite the table with all the scored listings.",
        )
    rows = table.orderBy("id").limit(SAMPLE_ROWS).toPandas()
    expected, _ = _expected(model_uri, rows)
    return _compare(rows["prediction"], expected, "table")


@checker("batch", "ex4", title="Repair the partner feed", hints=[
    "Scoring is not the hard part: the feed must first look like what the model was trained on. "
    "Compare the feed's columns with inputs, then its values with listings_df.",
    "Check names first (which input is missing, which column is unknown), then ranges and "
    "positions, column by column (describe() on both).",
])
def check_feed(value: Any, *, model_uri: str, feed_seed: int, feed_size: int, **_: Any) -> CheckResult:
    """``value`` is the repaired feed with ``listing_id`` and a ``prediction`` equal to the model's."""
    import pandas as pd

    from mlops_kit.labs.scenarios import repair_app_rows

    if not hasattr(value, "columns") or not hasattr(value, "toPandas"):
        return CheckResult.fail(f"expected a Spark DataFrame, got a {type(value).__name__}",
                                hint="Keep the scored, repaired feed as a DataFrame.")
    missing = [c for c in ("listing_id", "prediction") if c not in value.columns]
    if missing:
        return CheckResult.fail(f"the scored feed has no column {missing[0]!r}",
                                hint="Keep listing_id and add the prediction column, as in exercise 2.")
    rows = value.orderBy("listing_id").toPandas()
    if len(rows) != feed_size:
        return CheckResult.fail(f"{len(rows)} rows scored; the feed has {feed_size}",
                                hint="Repair values, do not drop rows.")
    model_inputs = _model_inputs(model_uri)
    truth = pd.DataFrame(repair_app_rows(model_inputs, feed_size, seed=feed_seed))
    absent = [c for c in model_inputs if c not in rows.columns]
    if absent:
        return CheckResult.fail(f"the scored feed lacks the model input {absent[0]!r}",
                                hint="Keep the input columns, under the names the model knows.")
    for column in model_inputs:
        if not _same_values(rows[column], truth[column]):
            return CheckResult.fail(
                f"the feed was scored, but its {column!r} values are not what the model was "
                f"trained on, so the predictions are wrong",
                hint="Compare that column of the feed with the same column of listings_df: a "
                     "scale or a position can differ.")
    expected, _ = _expected(model_uri, truth)
    return _compare(rows["prediction"], expected, "repaired feed")


def _same_values(got, want) -> bool:
    """Equal columns, numbers within 1e-6 relative, missing values equal to missing values."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(want) and pd.api.types.is_numeric_dtype(got):
        return bool(np.isclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float),
                               rtol=1e-6, atol=1e-9, equal_nan=True).all())
    return bool((got.fillna("<null>").astype(str).to_numpy()
                 == want.fillna("<null>").astype(str).to_numpy()).all())


def _model_inputs(model_uri: str) -> list[str]:
    import mlflow

    return list(mlflow.pyfunc.load_model(model_uri).metadata.get_input_schema().input_names())

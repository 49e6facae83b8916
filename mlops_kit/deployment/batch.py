"""Batch scoring: a Delta table in, predictions as a Delta table out.

Scoring goes through :func:`mlflow.pyfunc.spark_udf`, so any MLflow model
(scikit-learn, a custom pyfunc, ...) scores in parallel on Spark's Python
workers. A linear scikit-learn pipeline is instead compiled into one Spark SQL
expression (:mod:`.compiled`): same predictions, no rows shipped to Python,
which for a model that cheap is most of the cost. Output is written in one
Delta transaction: a failed job leaves the previous predictions in place,
never half a table.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit.exceptions import ConfigError, DataError, NotCompilableError, NotFoundError
from mlops_kit.spark import get_spark, is_connect
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["resolve_model_uri", "model_input_columns", "prediction_udf", "score_dataframe",
           "scoring_engine", "score_table", "optimize_table", "ENGINES"]

log = logging.getLogger(__name__)

#: how :func:`score_dataframe` may score: ``auto`` compiles what it can, else spark_udf
ENGINES = ("auto", "sql", "udf")

#: rows per Arrow batch handed to the model (Spark's default is 10,000); bigger
#: batches amortise the per-call overhead of pyfunc (schema checks, pandas)
#: over more rows. ``MLOPS_KIT_ARROW_BATCH_ROWS`` overrides it.
ARROW_BATCH_ROWS = 50_000


def resolve_model_uri(name: str, alias: str) -> str:
    """``models:/<name>@<alias>`` once it is checked that the alias exists.

    ``name`` is the registered model's full name (``dev.ada.price``). Jobs
    call this first so a missing model fails at once with the fix, not deep
    inside Spark when the first task tries to load it.

    Raises
    ------
    NotFoundError
        The model or its alias does not exist.
    """
    from mlops_kit.registry.reference import ModelReference

    ref = ModelReference(name=name, alias=alias)
    try:
        ref.resolve()
    except NotFoundError as err:
        raise NotFoundError(
            f"{err} Train and promote one first, e.g. with the training job or "
            "mlops_kit.registry.promotion.promote(name, version, alias, reason)."
        ) from None
    return ref.as_uri()


def model_input_columns(model_uri: str, *, model_info: Any = None) -> list[str]:
    """Input column names from the model's signature, in order.

    Raises
    ------
    DataError
        When the model was logged without a signature: batch scoring must know
        which columns to feed the model.
    """
    from mlops_kit.registry.info import model_info as read_model_info

    signature = (model_info or read_model_info(model_uri)).signature
    if signature is None or signature.inputs is None:
        raise DataError(
            f"The model {model_uri} has no signature, so the columns to score cannot be "
            "known. Log it with `signature=infer_signature(X, y)`."
        )
    return list(signature.inputs.input_names())


def prediction_udf(
    model_uri: str, *, result_type: str = "double", spark: "SparkSession | None" = None
):
    """A Spark UDF that scores with the MLflow model at ``model_uri``.

    The model is loaded once per Python worker (workers are reused), and
    Arrow batches are made large so the per-batch cost of pyfunc is paid rarely.
    """
    import mlflow.pyfunc

    spark = spark or get_spark()
    rows = os.environ.get("MLOPS_KIT_ARROW_BATCH_ROWS", str(ARROW_BATCH_ROWS))
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", rows)
    if is_connect(spark):
        model_uri = _copy_for_connect_workers(model_uri)
    return mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager="local")


def _copy_for_connect_workers(model_uri: str) -> str:
    """A fresh local copy of the model, for the Python workers of a Spark Connect server.

    Over Connect, MLflow's UDF hands the workers the URI itself: they would
    resolve ``models:/name@alias`` with the *server's* MLflow settings, and
    cache what they loaded under the URI's text, so an alias moved since then
    would keep scoring with the old version. A copy in a new folder is the
    version asked for now, and needs no registry on the worker side (the
    server runs on this machine, so it sees the folder).
    """
    import tempfile

    import mlflow.artifacts

    return mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri, dst_path=tempfile.mkdtemp(prefix="mlops-kit-model-"))


def _check_columns(df: "DataFrame", needed: Sequence[str], source: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"The input {source} lacks the model's input columns {missing}. "
            f"It has {df.columns}; the model needs {list(needed)}."
        )


def score_dataframe(
    df: "DataFrame",
    model_uri: str,
    *,
    prediction_col: str = "prediction",
    result_type: str = "double",
    engine: str = "auto",
) -> "DataFrame":
    """``df`` with a prediction column added by the model at ``model_uri``.

    Parameters
    ----------
    engine : {"auto", "sql", "udf"}
        ``udf`` scores with ``mlflow.pyfunc.spark_udf`` (any MLflow model);
        ``sql`` with the model compiled into a Spark expression (linear
        scikit-learn pipelines; raises :class:`NotCompilableError` otherwise);
        ``auto`` compiles when it can and uses spark_udf when it cannot. Both
        give the same predictions; see :func:`scoring_engine` for which one
        ``auto`` picks and why.
    """
    scored, _ = _score(df, model_uri, prediction_col=prediction_col, result_type=result_type,
                       engine=engine)
    return scored


def scoring_engine(df: "DataFrame", model_uri: str) -> tuple[str, str]:
    """Which engine ``auto`` scores ``df`` with (``"sql"`` or ``"udf"``), and why.

    Decides only: no UDF is built (that would copy the model for Spark).
    """
    engine, reason, _, _ = _choose_engine(df, model_uri, "auto")
    return engine, reason


def _choose_engine(df: "DataFrame", model_uri: str, engine: str) -> tuple[str, str, "Column | None", list[str]]:
    """(engine, why, the compiled prediction or None, the model's input columns)."""
    from mlops_kit.deployment.compiled import compiled_prediction
    from mlops_kit.registry.info import model_info

    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {ENGINES}. Got {engine!r} instead.")
    info = model_info(model_uri)
    columns = model_input_columns(model_uri, model_info=info)
    _check_columns(df, columns, "DataFrame")
    if engine == "udf":
        return "udf", "asked for spark_udf", None, columns
    try:
        prediction = compiled_prediction(model_uri, df, model_info=info)
    except NotCompilableError as err:
        if engine == "sql":
            raise
        log.info("Scoring %s with spark_udf: %s", model_uri, err)
        return "udf", str(err), None, columns
    return "sql", "a linear scikit-learn pipeline", prediction, columns


def _score(df: "DataFrame", model_uri: str, *, prediction_col: str, result_type: str,
           engine: str) -> tuple["DataFrame", str]:
    """``df`` scored, and the engine that scored it."""
    from pyspark.sql import functions as F

    used, _, prediction, columns = _choose_engine(df, model_uri, engine)
    if prediction is None:
        udf = prediction_udf(model_uri, result_type=result_type, spark=df.sparkSession)
        prediction = udf(F.struct(*[F.col(c) for c in columns]))
    elif result_type != "double":  # the compiled expression is a double already
        prediction = prediction.cast(result_type)
    return df.withColumn(prediction_col, prediction), used


def score_table(
    model_uri: str,
    input_table: str,
    output_table: str,
    *,
    keep_columns: Sequence[str] | None = None,
    prediction_col: str = "prediction",
    partition_by: Sequence[str] | None = None,
    mode: str = "overwrite",
    engine: str = "auto",
    workspace: Workspace | None = None,
) -> dict[str, Any]:
    """Score the Delta table ``input_table`` into ``output_table``.

    Parameters
    ----------
    model_uri : str
        Any MLflow model URI, typically ``models:/<name>@champion``.
    input_table, output_table : str
        Table names in the workspace.
    keep_columns : sequence of str, optional
        Columns carried to the output besides the prediction (default: all).
    partition_by : sequence of str, optional
        Partition columns of the output, for fast retrieval of one slice.
    mode : {"overwrite", "append"}
        Overwrite replaces the predictions atomically.
    engine : {"auto", "sql", "udf"}
        As in :func:`score_dataframe`.

    Returns
    -------
    dict
        ``rows`` written, the output table's new Delta ``version``, and the
        ``engine`` that scored (``sql`` or ``udf``).
    """
    if mode not in ("overwrite", "append"):
        raise DataError(f"mode must be 'overwrite' or 'append'. Got {mode!r} instead.")
    from mlops_kit.tables.spark_side import SparkTables  # local: it imports pandas

    ws = workspace or get_workspace()
    tables = SparkTables(ws, spark=get_spark(ws))
    source = tables.read(input_table)
    scored, used = _score(source, model_uri, prediction_col=prediction_col,
                          result_type="double", engine=engine)
    if keep_columns is not None:
        _check_columns(source, keep_columns, f"table {input_table!r}")
        scored = scored.select(*keep_columns, prediction_col)
    tables.write(output_table, scored, mode, overwrite_schema=mode == "overwrite",
                 partition_by=partition_by)
    last = tables.last_commit(output_table)
    metrics = last["operationMetrics"] or {}
    return {"rows": int(metrics.get("numOutputRows", 0)), "version": int(last["version"]),
            "engine": used}


def optimize_table(
    table: str, *, zorder_by: Sequence[str] | None = None, workspace: Workspace | None = None
) -> dict[str, int]:
    """Compact a Delta table's small files, optionally Z-ordering by ``zorder_by``.

    Returns the number of files removed and added (from Delta's own metrics).
    """
    from mlops_kit.tables.spark_side import SparkTables  # local: it imports pandas

    ws = workspace or get_workspace()
    return SparkTables(ws, spark=get_spark(ws)).optimize(table, list(zorder_by or ()))

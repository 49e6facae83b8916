"""Streaming scoring: new rows of a Delta table scored into a Delta sink.

Structured Streaming reads the Delta source incrementally, scores each
micro-batch with the engine :func:`~mlops_kit.deployment.batch.score_dataframe`
picks (the model compiled to Spark SQL when it is a linear scikit-learn
pipeline, ``mlflow.pyfunc.spark_udf`` otherwise; ``scoring_engine`` says which
and why) and appends to a Delta sink. The
checkpoint records which source versions each batch covered, and the Delta
sink records which batch ids it committed, so a query stopped or killed at any
point and restarted with the same checkpoint scores every row exactly once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from mlops_kit.deployment.batch import score_dataframe
from mlops_kit.deployment.stream_control import guard_endless_wait, replace_active_query
from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.spark import get_spark
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["start_scoring_stream", "append_rows", "reset_stream"]


def start_scoring_stream(
    model_uri: str,
    source_table: str,
    sink_table: str,
    *,
    checkpoint: str | None = None,
    trigger: str = "availableNow",
    interval: str = "2 seconds",
    max_files_per_trigger: int | None = None,
    keep_columns: Sequence[str] | None = None,
    prediction_col: str = "prediction",
    query_name: str | None = None,
    engine: str = "auto",
    workspace: Workspace | None = None,
) -> "StreamingQuery":
    """Start a query that scores ``source_table`` into ``sink_table``.

    Parameters
    ----------
    trigger : {"availableNow", "processingTime"}
        ``availableNow`` processes what is there now (in as many batches as
        ``max_files_per_trigger`` asks) and stops: a cheap incremental batch
        job. ``processingTime`` keeps running, starting a batch every ``interval``.
    checkpoint : str, optional
        Checkpoint name in the workspace; defaults to ``<sink_table>``. Reusing
        it is what makes a restart continue where the last run stopped.
    max_files_per_trigger : int, optional
        Cap on source files per micro-batch (smaller batches, more of them).
    engine : {"auto", "sql", "udf"}
        As in :func:`mlops_kit.deployment.batch.score_dataframe`.

    Returns
    -------
    pyspark.sql.streaming.StreamingQuery
        Wait for it with :func:`~mlops_kit.deployment.stream_control.wait_for_stream`
        (bounded; for ``processingTime``, until it has caught up) and end it with
        ``stop()``. A query of the same name still running (an earlier run of the
        same cell) is stopped first; ``awaitTermination()`` without a timeout on a
        ``processingTime`` query, which would wait forever, says so instead.

    Raises
    ------
    NotFoundError
        The source table does not exist yet (nothing appended, or reset).
    """
    if trigger not in ("availableNow", "processingTime"):
        raise ConfigError(
            f"trigger must be 'availableNow' or 'processingTime'. Got {trigger!r} instead."
        )
    from mlops_kit.tables.spark_side import SparkTables  # local: it imports pandas

    ws = workspace or get_workspace()
    spark = get_spark(ws)
    tables = SparkTables(ws, spark=spark)
    if not tables.exists(source_table):
        raise NotFoundError(
            f"the source table {source_table!r} has no rows yet (a new stream, or reset_stream "
            "removed it): append a first batch with append_rows(), then start the stream")
    source = tables.read_stream(source_table, max_files_per_trigger=max_files_per_trigger)
    scored = score_dataframe(source, model_uri, prediction_col=prediction_col, engine=engine)
    if keep_columns is not None:
        scored = scored.select(*keep_columns, prediction_col)
    when = ({"availableNow": True} if trigger == "availableNow"
            else {"processingTime": interval})
    name = query_name or f"score_{sink_table}"
    replace_active_query(spark, name)  # a re-run of the cell that started it
    query = tables.start_stream(scored, sink_table,
                                checkpoint=ws.checkpoint_path(checkpoint or sink_table),
                                query_name=name, **when)
    return guard_endless_wait(query, trigger)


def append_rows(table: str, rows: "pd.DataFrame", *, workspace: Workspace | None = None) -> int:
    """Append a pandas frame to a Delta table (one commit); return the new version.

    This is how the streaming demo plays "new data keeps arriving".
    """
    from mlops_kit.tables.spark_side import SparkTables  # local: it imports pandas

    ws = workspace or get_workspace()
    spark = get_spark(ws)
    return SparkTables(ws, spark=spark).append(table, spark.createDataFrame(rows))


def reset_stream(source_table: str, sink_table: str, *, checkpoint: str | None = None,
                 workspace: Workspace | None = None) -> None:
    """Delete a demo stream's source, sink and checkpoint, so counts start at zero.

    Never call it on a production stream: without its checkpoint a query
    starts over and scores every source row again.
    """
    import shutil

    ws = workspace or get_workspace()
    for path in (ws.table_path(source_table), ws.table_path(sink_table),
                 ws.checkpoint_path(checkpoint or sink_table)):
        shutil.rmtree(path, ignore_errors=True)

"""Batch and streaming scoring on Spark with MLflow models.

Real-time serving lives in :mod:`mlops_kit.serving` (no JVM there); this
package is the Spark side: :mod:`.batch` scores a Delta table into another,
:mod:`.streaming` does the same continuously with exactly-once restarts
(:mod:`.stream_control`: bounded waits and re-run cells without traps).
:mod:`.timing` and :mod:`.plots` measure and draw how fast each path answers;
:mod:`.container` writes a model's container recipe with MLflow's own command.
"""
from mlops_kit.deployment.batch import (
    model_input_columns,
    optimize_table,
    resolve_model_uri,
    score_dataframe,
    score_table,
    scoring_engine,
)
from mlops_kit.deployment.compiled import compiled_prediction, compiled_sql
from mlops_kit.deployment.stream_control import wait_for_stream
from mlops_kit.deployment.streaming import append_rows, reset_stream, start_scoring_stream

__all__ = [
    "model_input_columns",
    "resolve_model_uri",
    "optimize_table",
    "score_dataframe",
    "score_table",
    "scoring_engine",
    "compiled_prediction",
    "compiled_sql",
    "append_rows",
    "reset_stream",
    "start_scoring_stream",
    "wait_for_stream",
]

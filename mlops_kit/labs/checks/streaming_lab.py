"""Checkers of Lab 3.2, streaming scoring (``streaming-lab``).

ex1 and ex2 read the learner's own source and sink tables and compare them
id by id (each source row scored exactly once, with the model's prediction,
next to the columns the exercise names); ex2 also reads the tables' Delta
history, so a reset that re-appends and re-scores every row does not pass;
ex3 runs the learner's exactly-once test on crafted pairs of tables, among
them one with a duplicate *and* a missing row, whose counts agree: a proof
by counting alone passes that pair and fails the check.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: rows whose predictions are recomputed in-process
SAMPLE_ROWS = 50
#: the columns the exercise asks the sink to keep next to the prediction
KEEP_COLUMNS = ("id", "room_type")


def _tables(source_table: str, sink_table: str):
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    ws = get_workspace()
    spark = get_spark()
    read = lambda name: spark.read.format("delta").load(str(ws.table_path(name)))  # noqa: E731
    return read(source_table), read(sink_table)


def _gaps(source, sink) -> tuple[int, int]:
    """(ids scored more than once, source ids never scored)."""
    from pyspark.sql import functions as F

    duplicated = sink.groupBy("id").count().where(F.col("count") > 1).count()
    missing = source.select("id").subtract(sink.select("id")).count()
    return duplicated, missing


def _history(table: str):
    """The Delta history of a workspace table, oldest commit first (pandas)."""
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    path = str(get_workspace().table_path(table))
    history = get_spark().sql(f"DESCRIBE HISTORY delta.`{path}`").toPandas()
    return history.sort_values("version").reset_index(drop=True)


def _resumed(source_table: str, sink_table: str) -> CheckResult | None:
    """The sink's history shows one query going on where it stopped, not a start from scratch.

    Current tables cannot tell a restart from a reset that re-appended every
    batch and scored them all again: the history can. Every streaming commit
    of the sink must come from one query (one checkpoint), and the sink's
    first commit must be older than the source's last one: rows scored before
    the outage stay scored, and only what arrived later is scored by the restart.
    """
    sink = _history(sink_table)
    streaming = sink[sink["operation"] == "STREAMING UPDATE"]
    queries = {str((params or {}).get("queryId")) for params in streaming["operationParameters"]}
    if len(queries) > 1:
        return CheckResult.fail(f"the sink was written by {len(queries)} different queries: a "
                                f"restart started from scratch",
                                hint="What tells a restarted query which rows it already wrote?")
    source = _history(source_table)
    if len(sink) and len(source) and sink["timestamp"].min() >= source["timestamp"].max():
        return CheckResult.fail(
            f"every one of the sink's {len(sink)} commit(s) came after the last rows arrived: the "
            f"rows scored before the outage were scored again, and the sink's history before "
            f"the outage is gone",
            hint="A restart goes on from the state the first run left; nothing of that state "
                 "needs to be rebuilt.")
    return None


def _kept_columns(sink) -> CheckResult | None:
    want = {*KEEP_COLUMNS, "prediction"}
    if set(sink.columns) != want:
        extra = sorted(set(sink.columns) - want)
        missing = sorted(want - set(sink.columns))
        what = (f"{len(extra)} column(s) nobody asked for, e.g. {extra[:3]}" if extra
                else f"no {missing} column")
        return CheckResult.fail(f"the sink has {what}",
                                hint="Choose the columns the sink keeps next to the prediction, "
                                     "as the exercise names them.")
    return None


def _predictions_match(source, sink, model_uri: str) -> CheckResult | None:
    import mlflow
    import numpy as np

    model = mlflow.pyfunc.load_model(model_uri)
    inputs = model.metadata.get_input_schema().input_names()
    rows = (source.join(sink.select("id", "prediction"), "id").orderBy("id")
            .limit(SAMPLE_ROWS).toPandas())
    expected = np.asarray(model.predict(rows[inputs]), dtype=float)
    if not np.allclose(rows["prediction"].to_numpy(dtype=float), expected, rtol=1e-6, atol=1e-6):
        return CheckResult.fail("the sink's predictions differ from the model's",
                                hint="Score with the model_uri you were given, unchanged.")
    return None


def _query_state(value: Any) -> CheckResult | None:
    if not (hasattr(value, "isActive") and hasattr(value, "awaitTermination")):
        return CheckResult.fail(f"expected the StreamingQuery you started, got a {type(value).__name__}",
                                hint="Keep what the start function returns.")
    if value.isActive:
        return CheckResult.fail("the query is still running, so the sink may not have caught up",
                                hint="An availableNow query stops by itself once you wait for it to finish.")
    if value.exception() is not None:
        return CheckResult.fail(f"the query failed: {str(value.exception()).splitlines()[0]}",
                                hint="Read the query's error; the scoring function's arguments may be off.")
    return None


def _exactly_once(source, sink) -> CheckResult | None:
    if "id" not in sink.columns or "prediction" not in sink.columns:
        return CheckResult.fail(f"the sink has columns {sink.columns}; it needs id and prediction",
                                hint="Keep the id column when you choose the columns to keep.")
    duplicated, missing = _gaps(source, sink)
    if duplicated:
        return CheckResult.fail(f"{duplicated} ids are in the sink more than once",
                                hint="What tells a restarted query which rows it already wrote?")
    if missing:
        return CheckResult.fail(f"{missing} source ids were never scored",
                                hint="Rows that arrived while no query ran are scored only by a query "
                                     "that runs after them, to the end.")
    return None


@checker("streaming-lab", "ex1", title="Score what has arrived", hints=[
    "The kit's deployment module starts a scoring stream from a source table to a sink table.",
    "A trigger that processes what is there and then stops is an incremental batch job; wait for "
    "it to finish before you check.",
])
def check_ex1(value: Any, *, model_uri: str, source_table: str, sink_table: str,
              **context: Any) -> CheckResult:
    return _scored_once(value, model_uri, source_table, sink_table,
                        "{n} rows scored, each once")


@checker("streaming-lab", "ex2", title="Restart without losing or doubling rows", hints=[
    "A streaming query remembers its progress in one place; a restart that should go on where "
    "the last run stopped must find that place again.",
    "Start the same query with the same checkpoint as the first run (the default for this sink), "
    "not a fresh one, and let it run to the end.",
])
def check_ex2(value: Any, *, model_uri: str, source_table: str, sink_table: str,
              **context: Any) -> CheckResult:
    return _scored_once(value, model_uri, source_table, sink_table,
                        "after the restart all {n} rows are scored, each once, and the restart "
                        "scored only what the first run had not", resumed=True)


def _scored_once(query: Any, model_uri: str, source_table: str, sink_table: str,
                 passed: str, *, resumed: bool = False) -> CheckResult:
    """The query finished, every source row is in the sink once, with the model's prediction."""
    failed = _query_state(query)
    if failed:
        return failed
    source, sink = _tables(source_table, sink_table)
    failed = (_exactly_once(source, sink) or _kept_columns(sink)
              or (_resumed(source_table, sink_table) if resumed else None)
              or _predictions_match(source, sink, model_uri))
    if failed:
        return failed
    return CheckResult.ok(passed.format(n=source.count()))


@checker("streaming-lab", "ex3", title="A test that proves exactly-once", hints=[
    "Exactly once means two things: no source row missing, no row written twice.",
    "Equal counts are not enough: a lost row and a doubled one cancel out. Compare the ids.",
])
def check_ex3(value: Any, **context: Any) -> CheckResult:
    from mlops_kit.spark import get_spark

    if not callable(value):
        return CheckResult.fail(f"exactly_once should be a function of (source, sink); got a "
                                f"{type(value).__name__}",
                                hint="def exactly_once(source, sink): ... return True or False")
    spark = get_spark()
    frame = lambda ids: spark.createDataFrame([(i, 1.0) for i in ids], "id long, prediction double")  # noqa: E731
    source = frame([1, 2, 3, 4])
    cases = [
        ("every row once", frame([1, 2, 3, 4]), True),
        ("every row once, in another order", frame([4, 2, 1, 3]), True),
        ("row 2 written twice", frame([1, 2, 2, 3, 4]), False),
        ("row 4 missing", frame([1, 2, 3]), False),
        ("row 2 twice and row 4 missing (the counts agree)", frame([1, 2, 2, 3]), False),
        ("row 4 missing and a row 5 the source never had (no id twice, the counts agree)",
         frame([1, 2, 3, 5]), False),
        ("every row once, and row 3 once more", frame([3, 1, 2, 3, 4]), False),
    ]
    for name, sink, want in cases:
        try:
            got = value(source, sink)
        except Exception as err:  # noqa: BLE001 - the learner's code
            return CheckResult.fail(f"your function raised {type(err).__name__} on a sink with "
                                    f"{name}: {err}",
                                    hint="It gets two Spark DataFrames with an id column.")
        if bool(got) is not want:
            return CheckResult.fail(f"on a sink with {name} your function says {bool(got)}",
                                    hint="Exactly once: every source id in the sink, none twice.")
    return CheckResult.ok("your test tells exactly-once from lost and doubled rows")

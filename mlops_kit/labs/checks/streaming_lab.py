"""Checkers of Lab 3.2, streaming scoring (``streaming-lab``).

ex1 gives each learner a broken job (:func:`mlops_kit.labs.scenarios.broken_stream_job`:
another job's checkpoint, and a column under last year's name or a trigger
that never stops) and reads the learner's own source and sink id by id: each
source row scored exactly once, with the model's prediction, next to the
learner's columns, and the other job's checkpoint untouched. ex2 runs the
learner's job function on tables of its own, with rows arriving between
runs, a run with nothing new and a second sink, and reads the sink's Delta
history after every run: a reset, an overwrite or a fresh checkpoint that
scores everything again fails even when the current rows look right. ex3 runs
the learner's exactly-once test on crafted pairs of tables, among them one
with a duplicate *and* a missing row, whose counts agree: a proof by counting
alone passes that pair and fails the check.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: rows whose predictions are recomputed in-process
SAMPLE_ROWS = 50


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


def _kept(sink, keep: list[str]) -> CheckResult | None:
    """The sink holds exactly the learner's ``keep`` columns and the prediction."""
    want = {*keep, "prediction"}
    if set(sink.columns) != want:
        extra = sorted(set(sink.columns) - want)
        missing = sorted(want - set(sink.columns))
        what = (f"{len(extra)} column(s) its readers do not need, e.g. {extra[:3]}" if extra
                else f"no column {missing[0]!r}")
        return CheckResult.fail(f"the sink has {what}",
                                hint="The sink keeps what its readers need: the job's columns, "
                                     "each under the name the source table gives it.")
    return None


def _old_job_untouched(old_sink: str) -> CheckResult | None:
    """The job that writes ``old_sink`` still owns its checkpoint: nothing else used or replaced it.

    Its checkpoint recorded one batch, under the query id that wrote the old
    sink's commits (a checkpoint deleted and made again by another query has
    another id, and the old job would score everything again on its next run).
    """
    import json

    from mlops_kit.workspace import get_workspace

    folder = get_workspace().checkpoint_path(old_sink)
    commits = folder / "commits"
    batches = sorted(int(p.name) for p in commits.iterdir() if p.name.isdigit()) if commits.exists() else []
    if len(batches) > 1:
        return CheckResult.fail(
            f"the checkpoint of the job that writes {old_sink} recorded {len(batches)} batches; "
            f"that job ran one: another query used it, and that job will now skip the rows "
            f"your query read",
            hint="A checkpoint belongs to one query and one sink.")
    metadata = folder / "metadata"
    owner = json.loads(metadata.read_text().splitlines()[0]).get("id") if metadata.exists() else None
    writers = set(_commits(old_sink)["query"])
    if owner is None or owner not in writers:
        return CheckResult.fail(
            f"the checkpoint of the job that writes {old_sink} is gone or belongs to another query "
            f"now: that job's next run would score its whole source again",
            hint="A checkpoint belongs to one query and one sink; leave other jobs' alone.")
    return None


def _commits(table: str):
    """The Delta history of a workspace table (pandas): version, timestamp, operation,
    mode, queryId and rows written per commit."""
    import pandas as pd

    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    path = str(get_workspace().table_path(table))
    raw = get_spark().sql(f"DESCRIBE HISTORY delta.`{path}`").select(
        "version", "timestamp", "operation", "operationParameters", "operationMetrics").toPandas()
    params = [dict(p or {}) for p in raw["operationParameters"]]
    return pd.DataFrame({
        "version": raw["version"].astype(int), "timestamp": raw["timestamp"].astype(str),
        "operation": raw["operation"], "mode": [str(p.get("mode", "")).lower() for p in params],
        "query": [str(p.get("queryId")) for p in params],
        "rows": [int(dict(m or {}).get("numOutputRows", 0)) for m in raw["operationMetrics"]],
    })


@checker("streaming-lab", "ex1", title="Repair the scoring job", hints=[
    "Run the job as it is and read the error, then the sink: which source rows are not there, "
    "and what did the query believe it had already read?",
    "A checkpoint records how far one query read its source, for one sink; a column must have "
    "the name the source table gives it; an incremental job stops once it has caught up.",
])
def check_ex1(value: Any, *, model_uri: str, source_table: str, sink_table: str, seed: int,
              **context: Any) -> CheckResult:
    """``value`` is the repaired job's finished query; the sink holds every source row once.

    The learner's columns and the old job's checkpoint come from
    :func:`mlops_kit.labs.scenarios.broken_stream_job` for ``seed``.
    """
    from mlops_kit.labs.scenarios import STREAM_OLD_SINK, stream_keep_columns

    failed = _query_state(value)
    if failed:
        return failed
    source, sink = _tables(source_table, sink_table)
    failed = (_exactly_once(source, sink) or _kept(sink, stream_keep_columns(seed))
              or _old_job_untouched(STREAM_OLD_SINK) or _predictions_match(source, sink, model_uri))
    if failed:
        return failed
    return CheckResult.ok(f"{source.count()} rows scored, each once, with the columns the readers need")


#: the tables the ex2 check runs the learner's job on (never the lab's own)
CHECK_SOURCE, CHECK_SINKS = "lab_check_updates", ("lab_check_scored", "lab_check_shadow")


def _clear_check_tables() -> None:
    """Delete the check's tables and every checkpoint named after them."""
    import shutil

    from mlops_kit.workspace import get_workspace

    ws = get_workspace()
    for name in (CHECK_SOURCE, *CHECK_SINKS):
        shutil.rmtree(ws.table_path(name), ignore_errors=True)
    root = ws.checkpoint_path(CHECK_SINKS[0]).parent
    if root.exists():
        for folder in root.iterdir():
            if any(name in folder.name for name in CHECK_SINKS):
                shutil.rmtree(folder, ignore_errors=True)


def _stop_left_running() -> int:
    """Stop queries a job left running (they would race the next run); how many there were."""
    from mlops_kit.spark import get_spark

    running = list(get_spark().streams.active)
    for query in running:
        query.stop()
    return len(running)


def check_plan(seed: int) -> list[tuple[str, Any]]:
    """The arrivals and runs the ex2 check plays: ("arrive", rows) and ("run", sink)."""
    from mlops_kit.datasets import listings

    sizes = [12 + seed % 7, 9 + seed % 5, 7 + seed % 4]
    rows = listings(sum(sizes), seed=seed % 977 + 101)
    parts = [rows.iloc[sum(sizes[:i]):sum(sizes[:i + 1])] for i in range(3)]
    scored, shadow = CHECK_SINKS
    return [("arrive", parts[0]), ("run", scored), ("arrive", parts[1]), ("run", scored),
            ("run", scored), ("arrive", parts[2]), ("run", shadow)]


def _after_run(arrived: set, sink_table: str, keep: list[str],
               seen: set[tuple[int, str]]) -> tuple[CheckResult | None, set[tuple[int, str]]]:
    """What one run left in ``sink_table``: every arrived id once, the columns, a history that grew."""
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    sink = (get_spark().read.format("delta").load(str(get_workspace().table_path(sink_table)))
            .toPandas())
    if "id" not in sink.columns:
        return CheckResult.fail(f"the sink has columns {list(sink.columns)}; it needs id",
                                hint="Keep the id column when you choose the columns to keep."), seen
    doubled = int(sink["id"].duplicated().sum())
    if doubled:
        return CheckResult.fail(f"{doubled} ids are in the sink more than once",
                                hint="What tells a run which rows an earlier run already wrote?"), seen
    missing = len(arrived - set(sink["id"]))
    if missing:
        return CheckResult.fail(f"{missing} source ids were never scored",
                                hint="Every row that arrived before a run is scored by it, "
                                     "to the end."), seen
    failed = _kept(sink, keep)
    if failed:
        return failed, seen
    commits = _commits(sink_table)
    now = set(zip(commits["version"], commits["timestamp"]))
    replaced = (commits["version"] > 0) & commits["mode"].eq("overwrite")
    if not seen <= now or replaced.any() or \
            set(commits["operation"]) - {"STREAMING UPDATE", "WRITE", "CREATE TABLE"}:
        return CheckResult.fail(
            "the sink's history was rewritten: earlier runs' commits are gone or replaced, so what "
            "was scored before this run was scored again",
            hint="A run adds what is new; it neither empties nor replaces the sink."), now
    written = int(commits["rows"].sum())
    if written > len(sink):
        return CheckResult.fail(
            f"the sink's commits wrote {written} rows for the {len(sink)} it holds: rows an earlier "
            f"run had scored were scored again",
            hint="What tells a run which rows an earlier run already wrote?"), now
    return None, now


@checker("streaming-lab", "ex2", title="A scoring job that can run again at any time", hints=[
    "The check runs your function several times on one source, with and without new rows in "
    "between, and once for a second sink: what must a run remember, and where?",
    "What a run leaves behind decides what the next run scores: the sink's history must show "
    "each row written once, by the run after it arrived.",
])
def check_ex2(value: Any, *, model_uri: str, seed: int, **context: Any) -> CheckResult:
    """``value(source_table, sink_table)`` scores what arrived since its last run on that sink.

    The check plays :func:`check_plan` on tables of its own: after every run
    the sink holds each arrived row once, with the learner's columns; the
    sink's history grows (it is never wiped or replaced), and the rows its
    commits wrote add up to the rows it holds: nothing was scored twice.
    """
    from mlops_kit.deployment import append_rows
    from mlops_kit.labs.scenarios import stream_keep_columns

    if not callable(value):
        return CheckResult.fail(f"expected a function of (source_table, sink_table); got a "
                                f"{type(value).__name__}",
                                hint="def score_new_rows(source_table, sink_table): ...")
    keep = stream_keep_columns(seed)
    _stop_left_running()  # queries of the notebook are not this job's
    _clear_check_tables()
    seen: dict[str, set[tuple[int, str]]] = {}
    arrived: set = set()
    runs = 0
    try:
        for step, arg in check_plan(seed):
            if step == "arrive":
                append_rows(CHECK_SOURCE, arg)
                arrived |= set(arg["id"])
                continue
            runs += 1
            try:
                value(CHECK_SOURCE, arg)
            except Exception as err:  # noqa: BLE001 - the learner's code
                return CheckResult.fail(f"run {runs} of your job raised {type(err).__name__}: "
                                        f"{str(err).splitlines()[0][:200]}",
                                        hint="It gets two table names of the workspace.")
            if _stop_left_running():
                return CheckResult.fail(
                    f"run {runs} returned while its query was still running: the next run would "
                    f"race it for the same rows",
                    hint="A job run by a scheduler finishes its work before it returns.")
            try:
                failed, seen[arg] = _after_run(arrived, arg, keep, seen.get(arg, set()))
            except Exception as err:  # noqa: BLE001 - e.g. no sink table at all
                return CheckResult.fail(f"after run {runs} the sink {arg} cannot be read: "
                                        f"{str(err).splitlines()[0][:200]}",
                                        hint="A run writes to the sink table it is given.")
            if failed:
                return CheckResult.fail(f"after run {runs} (sink {arg}): {failed.message}",
                                        hint=failed.hint)
        source, sink = _tables(CHECK_SOURCE, CHECK_SINKS[0])
        return _predictions_match(source, sink, model_uri) or CheckResult.ok(
            f"{runs} runs on two sinks: every row scored once, by the first run after it arrived")
    finally:
        _stop_left_running()
        _clear_check_tables()


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

"""Checkers of the streaming lab: exactly-once from the learner's tables, and a proof that cannot count."""
from __future__ import annotations

import pytest

from mlops_kit.labs.registry import get, run_check

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("streaming-lab", "ex1"), ("streaming-lab", "ex2"), ("streaming-lab", "ex3")]

pytestmark = pytest.mark.spark


def check(exercise, value, **context):
    return run_check(get("streaming-lab", exercise), value, **context)


def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3"):
        assert len(get("streaming-lab", exercise).hints) >= 2


def right(source, sink):
    doubled = sink.groupBy("id").count().where("count > 1").count()
    missing = source.select("id").subtract(sink.select("id")).count()
    return doubled == 0 and missing == 0


@pytest.mark.parametrize(("wrong", "says"), [
    (lambda source, sink: source.count() == sink.count(), "twice and row 4 missing"),
    (lambda source, sink: sink.distinct().count() == source.count(), "row 2 written twice"),
    (lambda source, sink: source.select("id").subtract(sink.select("id")).count() == 0,
     "row 2 written twice"),
    (lambda source, sink: sink.idx.count(), "raised"),
    (lambda source, sink: (sink.select("id").distinct().count() == sink.count() == source.count()),
     "a row 5 the source never had"),
    (True, "should be a function"),
], ids=["counts-only", "distinct-rows", "missing-only", "raises", "distinct-and-equal-counts",
        "not-a-function"])
def test_ex3_rejects_proofs_that_miss_a_case(spark, wrong, says):
    result = check("ex3", wrong)
    assert not result.passed and says in result.message


def test_ex3_accepts_a_proof_by_ids(spark):
    assert check("ex3", right).passed


# ----------------------------------------------------------------- exercises 1 and 2
#: the test user's arriving batches (three of 15 rows)
CHUNK_ROWS = 15
_STREAM: dict = {}


def stream_seed() -> int:
    from mlops_kit.labs.seeds import learner_seed

    return learner_seed("streaming-lab", user="tester")


def stream_model(spark) -> str:
    """A workspace with a champion, made once per process and activated again on each call."""
    import tempfile
    from pathlib import Path

    from mlops_kit.training import ensure_champion
    from mlops_kit.workspace import Workspace

    if not _STREAM:
        ws = Workspace.from_env(root=Path(tempfile.mkdtemp(prefix="stream-lab-")) / "kit",
                                user="tester").activate()
        _STREAM.update(ws=ws, model_uri=ensure_champion("price", rows=300))
    _STREAM["ws"].activate()
    return _STREAM["model_uri"]


def fresh_lab(spark, seed: int | None = None) -> tuple[dict, dict]:
    """The lab's state after its set-up cell: (the check's context, the broken job)."""
    from mlops_kit.datasets import listings
    from mlops_kit.labs.scenarios import prepare_stream_lab

    seed = stream_seed() if seed is None else seed
    model_uri = stream_model(spark)
    rows = listings(CHUNK_ROWS * 3, seed=23)
    chunks = [rows.iloc[i * CHUNK_ROWS:(i + 1) * CHUNK_ROWS] for i in range(3)]
    job = prepare_stream_lab(model_uri, chunks, seed=seed)
    context = {"model_uri": model_uri, "source_table": job["source_table"],
               "sink_table": job["sink_table"], "seed": seed}
    return context, job


def repaired(job: dict) -> dict:
    """The solution's repair: its own checkpoint, the source's column names, a trigger that stops."""
    from mlops_kit.labs.scenarios import STREAM_OLD_NAMES

    current = {old: new for new, old in STREAM_OLD_NAMES.items()}
    fixed = {**job, "checkpoint": None, "trigger": "availableNow",
             "keep_columns": [current.get(c, c) for c in job["keep_columns"]]}
    fixed.pop("interval", None)
    return fixed


def run_job(model_uri: str, job: dict):
    """Start ``start_scoring_stream(model_uri, **job)``; wait for it unless it never stops."""
    from mlops_kit.deployment import start_scoring_stream

    query = start_scoring_stream(model_uri, **job)
    if job.get("trigger") == "availableNow":
        query.awaitTermination()
    return query


def test_the_broken_jobs_differ_between_learners():
    from mlops_kit.labs.scenarios import STREAM_OLD_SINK, broken_stream_job, stream_keep_columns
    from mlops_kit.labs.seeds import learner_seed

    seeds = [learner_seed("streaming-lab", user=u) for u in ("ada", "bob", "cyd", "dan", "eve", "fay")]
    assert len({tuple(stream_keep_columns(s)) for s in seeds}) > 1
    jobs = [broken_stream_job(s) for s in seeds]
    assert all(job["checkpoint"] == STREAM_OLD_SINK for job in jobs)
    assert {job["trigger"] for job in jobs} == {"availableNow", "processingTime"}


def test_ex1_accepts_the_repaired_job(spark):
    context, job = fresh_lab(spark)
    result = check("ex1", run_job(context["model_uri"], repaired(job)), **context)
    assert result.passed, result.message


def test_ex1_rejects_the_other_jobs_checkpoint_and_a_second_run_on_its_own(spark):
    context, job = fresh_lab(spark)
    shared = {**repaired(job), "checkpoint": job["checkpoint"]}   # columns and trigger fixed only
    result = check("ex1", run_job(context["model_uri"], shared), **context)
    assert not result.passed and "source ids were never scored" in result.message
    assert "checkpoint" not in result.message
    again = check("ex1", run_job(context["model_uri"], repaired(job)), **context)  # sink not cleared
    assert not again.passed and "in the sink more than once" in again.message


def test_ex1_rejects_the_other_jobs_checkpoint_deleted_and_taken_over(spark):
    """The sink looks right; the job that writes lab_scored_v1 lost its progress."""
    import shutil

    from mlops_kit.workspace import get_workspace

    context, job = fresh_lab(spark)
    shutil.rmtree(get_workspace().checkpoint_path(job["checkpoint"]))
    taken = {**repaired(job), "checkpoint": job["checkpoint"]}
    result = check("ex1", run_job(context["model_uri"], taken), **context)
    assert not result.passed and "belongs to another query" in result.message


@pytest.mark.parametrize("columns", ["all", "demo", "neighbour"])
def test_ex1_rejects_columns_that_are_not_the_jobs(spark, columns):
    from mlops_kit.labs.scenarios import stream_keep_columns

    context, job = fresh_lab(spark)
    own = repaired(job)["keep_columns"]
    keep = {"all": None, "demo": ["id", "neighbourhood", "room_type", "price"],
            "neighbour": next(c for c in (stream_keep_columns(stream_seed() + k) for k in range(1, 9))
                              if set(c) != set(own))}[columns]
    result = check("ex1", run_job(context["model_uri"], {**repaired(job), "keep_columns": keep}),
                   **context)
    assert not result.passed and "the sink has" in result.message
    assert all(c not in result.hint for c in own[1:])


def test_ex1_rejects_a_job_that_never_stops(spark):
    context, job = fresh_lab(spark)
    always_on = run_job(context["model_uri"], {**repaired(job), "trigger": "processingTime",
                                               "interval": "30 seconds"})
    try:
        result = check("ex1", always_on, **context)
        assert not result.passed and "still running" in result.message
    finally:
        always_on.stop()


def score_new_rows_with(model_uri: str, seed: int, *, checkpoint=lambda sink: sink, keep=None,
                        trigger="availableNow", reset=False, overwrite=False):
    """A job function like the solution's, one decision changed."""
    from mlops_kit.deployment import start_scoring_stream
    from mlops_kit.labs.scenarios import stream_keep_columns

    columns = stream_keep_columns(seed) if keep is None else keep

    def score_new_rows(source_table, sink_table):
        if overwrite:  # a batch job: the whole source scored again, the sink replaced
            from mlops_kit.deployment import score_dataframe
            from mlops_kit.spark import get_spark
            from mlops_kit.workspace import get_workspace

            ws = get_workspace()
            source = get_spark().read.format("delta").load(str(ws.table_path(source_table)))
            (score_dataframe(source, model_uri).select(*columns, "prediction").write.format("delta")
             .mode("overwrite").save(str(ws.table_path(sink_table))))
            return
        if reset:  # start the sink over: everything scored again
            import shutil

            from mlops_kit.workspace import get_workspace

            ws = get_workspace()
            shutil.rmtree(ws.table_path(sink_table), ignore_errors=True)
            shutil.rmtree(ws.checkpoint_path(checkpoint(sink_table)), ignore_errors=True)
        query = start_scoring_stream(model_uri, source_table, sink_table,
                                     checkpoint=checkpoint(sink_table), trigger=trigger,
                                     interval="30 seconds", keep_columns=columns)
        if trigger == "availableNow":
            query.awaitTermination()

    return score_new_rows


def test_ex2_accepts_a_job_with_one_checkpoint_per_sink(spark):
    model_uri = stream_model(spark)
    result = check("ex2", score_new_rows_with(model_uri, stream_seed()), model_uri=model_uri,
                   seed=stream_seed())
    assert result.passed, result.message


@pytest.mark.parametrize(("wrong", "says"), [
    ({"checkpoint": lambda sink: f"{sink}_{__import__('uuid').uuid4().hex}"}, "more than once"),
    ({"checkpoint": lambda sink, name=f"every_sink_{__import__('uuid').uuid4().hex}": name},
     "never scored"),
    ({"reset": True}, "history was rewritten"),
    ({"overwrite": True}, "history was rewritten"),
    ({"trigger": "processingTime"}, "still running"),
], ids=["fresh-checkpoint-each-run", "one-checkpoint-for-every-sink", "reset-each-run",
        "batch-overwrite", "never-stops"])
def test_ex2_rejects_jobs_that_lose_double_or_rescore(spark, wrong, says):
    model_uri = stream_model(spark)
    result = check("ex2", score_new_rows_with(model_uri, stream_seed(), **wrong),
                   model_uri=model_uri, seed=stream_seed())
    assert not result.passed and says in result.message, result.message


def test_ex2_rejects_the_neighbours_columns_and_a_value(spark):
    from mlops_kit.labs.scenarios import stream_keep_columns

    model_uri = stream_model(spark)
    own = stream_keep_columns(stream_seed())
    other = next(c for c in (stream_keep_columns(stream_seed() + k) for k in range(1, 9))
                 if set(c) != set(own))
    result = check("ex2", score_new_rows_with(model_uri, stream_seed(), keep=other),
                   model_uri=model_uri, seed=stream_seed())
    assert not result.passed and "the sink has" in result.message
    assert not check("ex2", 3, model_uri=model_uri, seed=stream_seed()).passed

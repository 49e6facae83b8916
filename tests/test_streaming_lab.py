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


def test_ex1_ex2_read_the_learners_own_tables(spark, workspace):
    from mlops_kit.datasets import listings
    from mlops_kit.deployment import append_rows, reset_stream, start_scoring_stream
    from mlops_kit.training import ensure_champion

    model_uri = ensure_champion("price", rows=300)
    tables = {"model_uri": model_uri, "source_table": "t_updates", "sink_table": "t_scored"}
    chunks = [listings(90, seed=23).iloc[i * 30:(i + 1) * 30] for i in range(3)]
    reset_stream("t_updates", "t_scored")
    append_rows("t_updates", chunks[0])

    def start(**options):
        return start_scoring_stream(model_uri, "t_updates", "t_scored", trigger="availableNow",
                                    keep_columns=["id", "room_type"], **options)

    assert not check("ex1", 30, **tables).passed                       # not a query
    query = start()
    query.awaitTermination()
    assert check("ex1", query, **tables).passed

    append_rows("t_updates", chunks[1])                                 # arrived while nothing ran
    missing = check("ex2", query, **tables)                            # the old, finished query
    assert not missing.passed and "30 source ids were never scored" in missing.message

    fresh = start(checkpoint="t_scored_fresh")                          # a new checkpoint: starts over
    fresh.awaitTermination()
    doubled = check("ex2", fresh, **tables)
    assert not doubled.passed and "30 ids are in the sink more than once" in doubled.message
    assert "checkpoint" not in doubled.message

    reset_stream("t_updates", "t_scored")
    append_rows("t_updates", chunks[2].iloc[:10])
    first = start()                                                     # a first run, then an outage
    first.awaitTermination()
    append_rows("t_updates", chunks[2].iloc[10:15])
    always_on = start_scoring_stream(model_uri, "t_updates", "t_scored", trigger="processingTime",
                                     interval="30 seconds", keep_columns=["id", "room_type"])
    try:
        running = check("ex2", always_on, **tables)
        assert not running.passed and "still running" in running.message
    finally:
        always_on.stop()
    append_rows("t_updates", chunks[2].iloc[15:])                      # arrived during the outage
    restarted = start()
    restarted.awaitTermination()
    assert check("ex2", restarted, **tables).passed


def _stream(model_uri, keep_columns=("id", "room_type"), **options):
    from mlops_kit.deployment import start_scoring_stream

    query = start_scoring_stream(model_uri, "t_updates", "t_scored", trigger="availableNow",
                                 keep_columns=None if keep_columns is None else list(keep_columns),
                                 **options)
    query.awaitTermination()
    return query


def test_ex1_rejects_a_sink_that_keeps_every_column(spark, workspace):
    """keep_columns=None keeps the whole listing: not the columns the exercise names."""
    from mlops_kit.datasets import listings
    from mlops_kit.deployment import append_rows, reset_stream
    from mlops_kit.training import ensure_champion

    model_uri = ensure_champion("price", rows=300)
    tables = {"model_uri": model_uri, "source_table": "t_updates", "sink_table": "t_scored"}
    reset_stream("t_updates", "t_scored")
    append_rows("t_updates", listings(30, seed=5))
    result = check("ex1", _stream(model_uri, keep_columns=None), **tables)
    assert not result.passed and "nobody asked for" in result.message
    assert "room_type" not in result.hint


def test_ex2_rejects_a_reset_that_re_appends_and_re_scores_every_chunk(spark, workspace):
    """Current tables look right (each row once); the history shows everything was scored again."""
    from mlops_kit.datasets import listings
    from mlops_kit.deployment import append_rows, reset_stream
    from mlops_kit.training import ensure_champion

    model_uri = ensure_champion("price", rows=300)
    tables = {"model_uri": model_uri, "source_table": "t_updates", "sink_table": "t_scored"}
    chunks = [listings(60, seed=29).iloc[i * 20:(i + 1) * 20] for i in range(3)]
    reset_stream("t_updates", "t_scored")
    append_rows("t_updates", chunks[0])
    _stream(model_uri)
    for chunk in chunks[1:]:
        append_rows("t_updates", chunk)                                 # the outage
    reset_stream("t_updates", "t_scored")                               # the wrong way back
    for chunk in chunks:
        append_rows("t_updates", chunk)
    result = check("ex2", _stream(model_uri), **tables)
    assert not result.passed and "scored again" in result.message
    assert "reset" not in result.hint and "checkpoint" not in result.hint

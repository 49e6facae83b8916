"""Checker mutants of the streaming lab (03.2L): ex1 and ex2 (ex3 is registered in
``tests/test_checker_mutations.py``).

ex1's answers are queries run on the test user's lab state: ``fresh_lab`` of
``tests/test_streaming_lab.py`` makes it once per test process, its folders are
kept, and before each mutant they are copied back (:func:`_lab_state`), which
puts the lab where its set-up cell leaves it without appending the chunks and
running the old job again. ex2's answers are job functions the checker runs on
tables of its own.
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


@functools.lru_cache(maxsize=None)
def _prepared(seed: int):
    """``fresh_lab`` once per seed: ``(context, job, {folder: its copy})``.

    The folders are every one the set-up cell resets or writes: the source,
    the learner's sink and the old job's sink, and the two sinks' checkpoints
    (the learner's sink does not exist yet: its copy is ``None``).
    """
    import shutil
    import tempfile
    from pathlib import Path

    from test_streaming_lab import fresh_lab

    from mlops_kit.labs.scenarios import STREAM_OLD_SINK
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    context, job = fresh_lab(get_spark(), seed)
    ws = get_workspace()
    folders = [ws.table_path(job["source_table"]), ws.table_path(job["sink_table"]),
               ws.table_path(STREAM_OLD_SINK), ws.checkpoint_path(job["sink_table"]),
               ws.checkpoint_path(STREAM_OLD_SINK)]
    keep = Path(tempfile.mkdtemp(prefix="stream-lab-state-"))
    kept = {}
    for i, folder in enumerate(folders):
        kept[folder] = None
        if Path(folder).exists():
            kept[folder] = keep / str(i)
            shutil.copytree(folder, kept[folder])
    return context, job, kept


def _lab_state(seed: int):
    """The lab as its set-up cell leaves it, for ``seed``: ``(context, job)``."""
    import shutil

    from test_streaming_lab import stream_model

    from mlops_kit.spark import get_spark

    context, job, kept = _prepared(seed)
    spark = get_spark()
    stream_model(spark)  # its workspace, active again
    for running in spark.streams.active:  # as the set-up cell: nothing left running
        running.stop()
    for folder, copy in kept.items():
        shutil.rmtree(folder, ignore_errors=True)
        if copy is not None:
            shutil.copytree(copy, folder)
    return dict(context), dict(job)


@mutations("streaming-lab", "ex1", needs=("spark",))
def _streaming_ex1():
    import shutil

    from test_streaming_lab import repaired, run_job, stream_seed

    from mlops_kit.labs.scenarios import stream_keep_columns
    from mlops_kit.workspace import get_workspace

    context, job = _lab_state(stream_seed())
    model_uri = context["model_uri"]
    own = repaired(job)["keep_columns"]
    neighbour = next(c for c in (stream_keep_columns(stream_seed() + k) for k in range(1, 9))
                     if set(c) != set(own))
    answer = run_job(model_uri, repaired(job))

    def after_reset(change, *, before=None):
        def make(a):
            _lab_state(stream_seed())
            if before:
                before()
            return run_job(model_uri, {**repaired(job), **change})
        return make

    def second_run(a):
        _lab_state(stream_seed())
        run_job(model_uri, {**repaired(job), "checkpoint": job["checkpoint"]})
        return run_job(model_uri, repaired(job))

    return answer, context, [
        Mutant("the other job's checkpoint kept", LISTED, after_reset({"checkpoint": job["checkpoint"]})),
        Mutant("the other job's checkpoint deleted and taken over", LISTED,
               after_reset({"checkpoint": job["checkpoint"]}, before=lambda: shutil.rmtree(
                   get_workspace().checkpoint_path(job["checkpoint"])))),
        Mutant("its own checkpoint after a run with the other's", LISTED, second_run),
        Mutant("every column kept (keep_columns=None)", LISTED, after_reset({"keep_columns": None})),
        Mutant("the demo's columns", LISTED,
               after_reset({"keep_columns": ["id", "neighbourhood", "room_type", "price"]})),
        Mutant("the neighbour's columns", LISTED, after_reset({"keep_columns": neighbour})),
        Mutant("a column dropped", GENERIC, after_reset({"keep_columns": own[:-1]})),
        Mutant("id not kept", GENERIC, after_reset({"keep_columns": own[1:]})),
        Mutant("the query name, not the query", GENERIC, lambda a: a.name),
    ]


@mutations("streaming-lab", "ex2", needs=("spark",))
def _streaming_ex2():
    import uuid

    from test_streaming_lab import score_new_rows_with, stream_model, stream_seed

    from mlops_kit.labs.scenarios import stream_keep_columns
    from mlops_kit.spark import get_spark

    model_uri = stream_model(get_spark())
    seed = stream_seed()
    own = stream_keep_columns(seed)
    neighbour = next(c for c in (stream_keep_columns(seed + k) for k in range(1, 9)) if set(c) != set(own))
    job = lambda **wrong: score_new_rows_with(model_uri, seed, **wrong)  # noqa: E731
    return job(), {"model_uri": model_uri, "seed": seed}, [
        Mutant("a fresh checkpoint every run", LISTED,
               lambda a: job(checkpoint=lambda sink: f"{sink}_{uuid.uuid4().hex[:8]}")),
        Mutant("one checkpoint for every sink", LISTED,
               lambda a: job(checkpoint=lambda sink, name=f"every_sink_{uuid.uuid4().hex[:8]}": name)),
        Mutant("the sink reset every run", LISTED, lambda a: job(reset=True)),
        Mutant("a batch job that overwrites the sink", LISTED, lambda a: job(overwrite=True)),
        Mutant("a query that never stops", LISTED, lambda a: job(trigger="processingTime")),
        Mutant("the neighbour's columns", LISTED, lambda a: job(keep=neighbour)),
        Mutant("every column kept", GENERIC, lambda a: job(keep=[
            "id", "neighbourhood", "room_type", "accommodates", "bedrooms", "price"])),
        Mutant("a column dropped", GENERIC, lambda a: job(keep=own[:-1])),
        Mutant("not a function", GENERIC, lambda a: "score_new_rows"),
    ]

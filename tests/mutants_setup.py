"""Checker mutations of the setup lab's table exercises (ex2-ex4).

The table is the lab's own (``prepare_listings``, the test user's history);
the right answers and the table reads are those of ``tests/test_setup_lab.py``.
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


@functools.lru_cache(maxsize=None)
def _env_for(user: str):
    """``user``'s lab table, written once per test process in a folder of its own; ``(spark, path)``.

    The checks of ex2-ex4 only read it, so one table serves every exercise (and
    every workspace a test makes); the table depends on the user alone.
    """
    import tempfile
    from pathlib import Path

    from mlops_kit.labs.checks.setup import prepare_listings
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import Workspace, get_workspace, use_workspace

    active = get_workspace()
    use_workspace(Workspace(root=Path(tempfile.mkdtemp(prefix="setup-lab-")) / "kit", user=user))
    try:
        path = prepare_listings(n=60)  # delta-rs writes: no Spark
    finally:
        use_workspace(active)
    return get_spark(), path


def _env():
    from mlops_kit.workspace import get_workspace

    return _env_for(get_workspace().user)


def _stale_rows(user: str, n: int = 60) -> int:
    """What a plain Parquet read counts beyond the current version, from ``user``'s plan:
    every overwrite leaves the rows of the version before it in the folder."""
    from mlops_kit.labs.checks.setup import table_plan, table_versions

    versions = table_versions(n, user)
    return sum(len(versions[i]) for i, op in enumerate(table_plan(user)) if op[0] != "append")


def _neighbour(differs):
    """The first other learner for whom ``differs(user)`` holds."""
    return next(f"learner{i}" for i in range(200) if differs(f"learner{i}"))


@mutations("setup", "ex2", needs=("workspace", "spark"))
def _setup_ex2():
    from test_setup_lab import _parquet, _read, right_ex2

    env = _env()
    frame, stale = right_ex2(env)
    assert stale == _stale_rows("tester"), "the plan's count of stale rows is the folder's"
    parquet = _parquet(env).count()
    neighbour = _stale_rows(_neighbour(lambda user: _stale_rows(user) != stale))
    return (frame, stale), {"path": env[1]}, [
        Mutant("the colleague's Parquet read, nothing stale", LISTED, lambda a: (_parquet(env), 0)),
        Mutant("the colleague's Parquet read kept", LISTED, lambda a: (_parquet(env), a[1])),
        Mutant("the first version read", LISTED, lambda a: (_read(env, version=0), a[1])),
        Mutant("the colleague's count as the stale rows", LISTED, lambda a: (a[0], parquet)),
        Mutant("stale rows against the first version", LISTED,
               lambda a: (a[0], parquet - _read(env, version=0).count())),
        Mutant("no stale rows", LISTED, lambda a: (a[0], 0)),
        Mutant("the neighbour's stale rows", LISTED, lambda a: (a[0], neighbour)),
        Mutant("stale rows off by one", GENERIC, lambda a: (a[0], a[1] + 1)),
        Mutant("stale rows one short", GENERIC, lambda a: (a[0], a[1] - 1)),
        Mutant("the subtraction swapped", GENERIC, lambda a: (a[0], -a[1])),
        Mutant("a limit", GENERIC, lambda a: (a[0].limit(10), a[1])),
        Mutant("price dropped", GENERIC, lambda a: (a[0].drop("price"), a[1])),
        Mutant("one room type", GENERIC, lambda a: (a[0].filter("room_type = 'Private room'"), a[1])),
        Mutant("as pandas", GENERIC, lambda a: (a[0].toPandas(), a[1])),
        Mutant("the pair swapped", GENERIC, lambda a: (a[1], a[0])),
        Mutant("the DataFrame alone", GENERIC, lambda a: a[0]),
        Mutant("stale rows as a float", GENERIC, lambda a: (a[0], float(a[1]))),
    ]


@mutations("setup", "ex3", needs=("workspace", "spark"))
def _setup_ex3():
    from pyspark.sql import functions as F
    from test_setup_lab import _avg, _parquet, _read

    env = _env()

    def mean_of(frame):
        return frame.groupBy("room_type").agg(F.avg("price").alias("avg_price")).toPandas()

    return _avg(env).toPandas(), {"path": env[1]}, [
        Mutant("the total, not the mean", LISTED, lambda a: _avg(env, "sum").toPandas()),
        Mutant("the highest price", LISTED, lambda a: _avg(env, "max").toPandas()),
        Mutant("the middle value", LISTED, lambda a: _avg(env, "median").toPandas()),
        Mutant("a Spark DataFrame", LISTED, lambda a: _avg(env)),
        Mutant("a room type filtered out", LISTED, lambda a: a[a["room_type"] != "Entire home/apt"]),
        Mutant("the colleague's Parquet read averaged", LISTED, lambda a: mean_of(_parquet(env))),
        Mutant("the first version averaged", LISTED, lambda a: mean_of(_read(env, version=0))),
        Mutant("the count, not the mean", GENERIC, lambda a: _avg(env, "count").toPandas()),
        Mutant("rounded to whole dollars", GENERIC, lambda a: a.assign(avg_price=a["avg_price"].round(0))),
        Mutant("1 % off", GENERIC, lambda a: a.assign(avg_price=a["avg_price"] * 1.01)),
        Mutant("the count beside the mean", GENERIC, lambda a: a.assign(n=1)),
        Mutant("no room type column", GENERIC, lambda a: a[["avg_price"]]),
        Mutant("a dict", GENERIC, lambda a: dict(zip(a["room_type"], a["avg_price"]))),
    ]


@mutations("setup", "ex4", needs=("workspace", "spark"))
def _setup_ex4():
    from mlops_kit.labs.checks.setup import report_version, table_plan
    from test_setup_lab import _parquet, _read, right_ex4

    env = _env()
    target, latest = report_version(), len(table_plan())
    neighbour = report_version(_neighbour(lambda user: report_version(user) != target))
    return right_ex4(env), {"path": env[1]}, [
        Mutant("version 0 (the old exercise)", LISTED, lambda a: _read(env, version=0)),
        Mutant("the latest version", LISTED, lambda a: _read(env)),
        Mutant("the version before the report's", LISTED, lambda a: _read(env, version=target - 1)),
        Mutant("the version after the report's", LISTED, lambda a: _read(env, version=target + 1)),
        Mutant("the neighbour's version", LISTED, lambda a: _read(env, version=neighbour)),
        Mutant("the colleague's Parquet read", LISTED, lambda a: _parquet(env)),
        Mutant("as pandas", GENERIC, lambda a: a.toPandas()),
        Mutant("only the report's columns", GENERIC, lambda a: a.select("room_type", "price")),
        Mutant("a limit", GENERIC, lambda a: a.limit(20)),
        Mutant("one room type", GENERIC, lambda a: a.filter("room_type = 'Private room'")),
        Mutant("prices rounded", GENERIC, lambda a: a.withColumn("price", _rounded(a))),
        Mutant("the version number, not the table", GENERIC, lambda a: target),
        Mutant("the second-latest version", GENERIC,
               lambda a: _read(env, version=latest - 1 if latest - 1 != target else latest - 2)),
    ]


def _rounded(frame):
    from pyspark.sql import functions as F

    return F.round(frame["price"], 0)

"""Checker mutations of the Delta lab (ex1-ex3): find, recover and protect a table.

ex1 is pure Python (the learner's plan); ex2 and ex3 work on one table whose
bad write appended prices in cents, built as the lab's setup cell builds it
(``build_table``), with the seeds and functions of ``tests/test_delta_lab.py``.
Every mutant that changes the table first puts it in a known state (a
``RESTORE``), so the mutants do not depend on one another.
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


@mutations("delta-lab", "ex1")
def _delta_ex1():
    from mlops_kit.labs.checks.delta_lab import scenario

    seed = next(s for s in range(200) if scenario(s)["latest"] > scenario(s)["bad_version"] >= 3)
    plan = scenario(seed)
    right = plan["last_good"]
    neighbour = next(scenario(s)["last_good"] for s in range(200) if scenario(s)["last_good"] != right)
    return right, {"seed": seed}, [
        Mutant("the latest version (a harmless commit after the bad one)", LISTED, lambda a: plan["latest"]),
        Mutant("the bad write itself", LISTED, lambda a: plan["bad_version"]),
        Mutant("one version too far back", LISTED, lambda a: a - 1),
        Mutant("the first write", LISTED, lambda a: 0),
        Mutant("the neighbour's version", LISTED, lambda a: neighbour),
        Mutant("the version as text", LISTED, lambda a: str(a)),
        Mutant("one version past the latest", GENERIC, lambda a: plan["latest"] + 1),
        Mutant("one more", GENERIC, lambda a: a + 1),
        Mutant("True", GENERIC, lambda a: True),
        Mutant("a float", GENERIC, lambda a: float(a) + 0.5),
        Mutant("minus one", GENERIC, lambda a: -1),
        Mutant("the second-latest version", GENERIC, lambda a: plan["latest"] - 1
               if plan["latest"] - 1 != a else plan["latest"]),
    ]


@functools.lru_cache(maxsize=1)
def _cents_table():
    """The table of a learner whose bad write appended prices in cents; ``(spark, path, seed)``.

    Built once per test run (in the first exercise's workspace, which
    outlives it): ex2 and ex3 both start each mutant from a ``RESTORE``.
    """
    from test_delta_lab import CENTS

    from mlops_kit.labs.checks.delta_lab import build_table
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace

    spark = get_spark()
    path = str(get_workspace().table_path("delta_lab_mutants"))
    return spark, build_table(CENTS, path, spark=spark), CENTS


@mutations("delta-lab", "ex2", needs=("workspace", "spark"))
def _delta_ex2():
    from mlops_kit.labs.checks.delta_lab import scenario
    from mlops_kit.workspace import get_workspace
    from test_delta_lab import restore

    spark, path, seed = _cents_table()
    plan = scenario(seed)
    good = plan["last_good"]
    restore(spark, path, good)

    def restored(version):
        def make(a):
            restore(spark, path, version)
            return a
        return make

    def then(sql):
        def make(a):
            restore(spark, path, good)
            spark.sql(sql.format(path=path)).collect()
            return a
        return make

    def repaired_by_hand(a):
        restore(spark, path, plan["bad_version"])
        spark.sql(f"UPDATE delta.`{path}` SET price = price / 100 WHERE price > 2000").collect()
        return a

    def rebuilt(a):
        copy = str(get_workspace().table_path("delta_lab_rebuilt"))
        spark.sql(f"SELECT * FROM delta.`{path}` VERSION AS OF {good}").write.format("delta") \
            .mode("overwrite").save(copy)
        return copy

    return path, {"seed": seed, "spark": spark}, [
        Mutant("back at the bad write's state", LISTED, restored(plan["latest"])),
        Mutant("the bad write's version restored", LISTED, restored(plan["bad_version"])),
        Mutant("the first write restored", LISTED, restored(0)),
        Mutant("one version too far back", LISTED, restored(good - 1)),
        Mutant("a new table with the good rows, no history", LISTED, rebuilt),
        Mutant("the cents repaired by hand", LISTED, repaired_by_hand),
        Mutant("a row deleted after the restore", GENERIC, then("DELETE FROM delta.`{path}` WHERE id = 10000")),
        Mutant("a price changed after the restore", GENERIC,
               then("UPDATE delta.`{path}` SET price = price + 1 WHERE id = 10000")),
        Mutant("rows added after the restore", GENERIC,
               then("INSERT INTO delta.`{path}` SELECT id + 500000, neighbourhood, room_type, "
                    "accommodates, bedrooms, price FROM delta.`{path}` LIMIT 3")),
        Mutant("a number, not the table", GENERIC, lambda a: 42),
        Mutant("another folder", GENERIC, lambda a: a + "_copy"),
    ]


#: what the last ex3 mutant left on the table: constraint names, and whether it is append-only
_LEFT: dict[str, object] = {"constraints": set(), "append_only": False}


def _guarded(spark, path, good, *, constraints=(), append_only=False, version=None):
    """The table at ``version`` (default: the last good one) with exactly these guards."""
    from test_delta_lab import add, append_only as set_append_only, drop, restore

    for name in _LEFT["constraints"]:
        drop(spark, path, name)
    if _LEFT["append_only"]:
        set_append_only(spark, path, False)
    restore(spark, path, good if version is None else version)
    for name, condition in constraints:
        add(spark, path, name, condition)
    if append_only:
        set_append_only(spark, path, True)
    _LEFT.update(constraints={name for name, _ in constraints}, append_only=append_only)
    return path


@mutations("delta-lab", "ex3", needs=("workspace", "spark"))
def _delta_ex3():
    from mlops_kit.labs.checks.delta_lab import scenario

    spark, path, seed = _cents_table()
    plan = scenario(seed)
    good = plan["last_good"]
    right = _guarded(spark, path, good, constraints=[("in_dollars", "price < 2000")])
    top = float(spark.sql(f"SELECT max(price) AS m FROM delta.`{path}` VERSION AS OF {good}").first()["m"])

    def guard(*constraints, **kwargs):
        return lambda a: _guarded(spark, path, good, constraints=constraints, **kwargs)

    return right, {"seed": seed, "spark": spark}, [
        Mutant("no protection", LISTED, guard()),
        Mutant("append-only instead of a constraint", LISTED, guard(append_only=True)),
        Mutant("positive prices only (cents are positive)", LISTED, guard(("positive", "price > 0"))),
        Mutant("a cap at today's highest price", LISTED, guard(("at_most_today", f"price <= {top}"))),
        Mutant("a guard on the unrecovered table (the cents still in it)", LISTED,
               guard(("positive", "price > 0"), version=plan["bad_version"])),
        Mutant("a guard that stops new listings too", GENERIC,
               guard(("too_strict", "price < 2000 AND id < 90000"))),
        Mutant("a cap a hundred times too loose", GENERIC, guard(("loose", "price < 200000"))),
        Mutant("a rule on another column", GENERIC, guard(("other_column", "accommodates > 0"))),
        Mutant("the table's name as a number", GENERIC, lambda a: 42),
    ]

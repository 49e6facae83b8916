"""Checkers of the Delta lab: right answers pass, plausible wrong ones fail without the answer."""
from __future__ import annotations

import numpy as np
import pytest

from mlops_kit.labs.checks.delta_lab import (
    BAD_KINDS, LAB_ID, build_table, check_ex1, check_ex2, check_ex3, good_commits, replay_bad_write,
    scenario,
)
from mlops_kit.labs.registry import get

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("delta-lab", "ex1"), ("delta-lab", "ex2"), ("delta-lab", "ex3")]


def seed_where(**wanted) -> int:
    """The first seed whose scenario has every ``key=value`` of ``wanted``."""
    for seed in range(1000):
        plan = scenario(seed)
        if all(plan[key] == value for key, value in wanted.items()):
            return seed
    raise AssertionError(f"no seed gives {wanted}")


CENTS = seed_where(kind="cents")
ZERO = seed_where(kind="zero_prices")
MISSING = seed_where(kind="missing_prices")


# ------------------------------------------------------------------ scenario
def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3"):
        assert len(get(LAB_ID, exercise).hints) >= 2


def test_learners_get_different_bad_writes_at_different_versions():
    """Every kind of bad write occurs, at several versions."""
    plans = [scenario(seed) for seed in range(40)]
    assert {p["kind"] for p in plans} == set(BAD_KINDS)
    assert len({p["bad_version"] for p in plans}) >= 3
    assert {p["latest"] - p["bad_version"] for p in plans} == {0, 1}  # latest - 1 is not always it
    assert all(p["last_good"] == p["bad_version"] - 1 >= 1 for p in plans)


# ----------------------------------------------------------------------- ex1
def test_ex1_accepts_the_version_before_the_bad_write():
    plan = scenario(CENTS)
    assert check_ex1(plan["last_good"], seed=CENTS).passed
    assert check_ex1(np.int64(plan["last_good"]), seed=CENTS).passed  # read from a pandas frame


def test_ex1_rejects_plausible_wrong_versions():
    seed = next(s for s in range(100) if scenario(s)["latest"] > scenario(s)["bad_version"] >= 3)
    plan = scenario(seed)
    right = plan["last_good"]
    for wrong, says in ((plan["latest"], "already holds the bad write"),       # the latest commit is harmless
                        (plan["bad_version"], "already holds the bad write"),   # the bad write itself
                        (right - 1, "good commits came after it"),              # one step too far back
                        (0, "good commits came after it"),                      # the first write
                        (plan["latest"] + 1, "there is no version"),
                        (str(right), "should be a version number"),
                        (True, "should be a version number")):
        result = check_ex1(wrong, seed=seed)
        assert not result.passed and says in result.message, (wrong, result)
        assert f"version {right}" not in result.message + (result.hint or "")


# ------------------------------------------------------------ with a table
@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    """One table of each kind of bad write, as a learner's setup cell builds it."""
    root = tmp_path_factory.mktemp("delta-lab")
    return {seed: build_table(seed, str(root / f"listings_{seed}"), spark=spark)
            for seed in (CENTS, ZERO, MISSING)}


def restore(spark, path, version):
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {version}")


@pytest.mark.spark
def test_ex2_rejects_tables_not_recovered_in_place(spark, tables, tmp_path):
    seed, path = CENTS, tables[CENTS]
    good = scenario(seed)["last_good"]
    result = check_ex2(path, seed=seed, spark=spark)
    assert not result.passed and "still as the bad write left it" in result.message

    restore(spark, path, 0)                                              # too far back
    result = check_ex2(path, seed=seed, spark=spark)
    assert not result.passed and "not the last good version" in result.message
    assert "rows in your table are not in that version" in result.message

    rebuilt = str(tmp_path / "rebuilt")                                  # a fresh table, no history
    spark.sql(f"SELECT * FROM delta.`{path}` VERSION AS OF {good}").write.format("delta").save(rebuilt)
    result = check_ex2(rebuilt, seed=seed, spark=spark)
    assert not result.passed and "no longer holds the bad write" in result.message

    result = check_ex2(42, seed=seed, spark=spark)
    assert not result.passed and "name or path" in result.message

    restore(spark, path, good)
    assert check_ex2(path, seed=seed, spark=spark).passed


@pytest.mark.spark
def test_ex2_rejects_a_repair_by_hand(spark, tables):
    seed, path = CENTS, tables[CENTS]
    restore(spark, path, scenario(seed)["bad_version"])
    spark.sql(f"UPDATE delta.`{path}` SET price = price / 100 WHERE price > 2000")  # rows stay
    result = check_ex2(path, seed=seed, spark=spark)
    assert not result.passed and "25 rows in your table are not in that version" in result.message
    restore(spark, path, scenario(seed)["last_good"])


def add(spark, path, name, condition):
    spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {name} CHECK ({condition})")


def drop(spark, path, name):
    spark.sql(f"ALTER TABLE delta.`{path}` DROP CONSTRAINT {name}")


def append_only(spark, path, on):
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.appendOnly' = '{str(on).lower()}')")


@pytest.mark.spark
def test_ex3_on_prices_in_cents_needs_a_check_constraint(spark, tables):
    seed, path = CENTS, tables[CENTS]
    restore(spark, path, scenario(seed)["bad_version"])
    result = check_ex3(path, seed=seed, spark=spark)
    assert not result.passed and "protect the recovered table first" in result.message
    restore(spark, path, scenario(seed)["last_good"])

    result = check_ex3(path, seed=seed, spark=spark)                      # no protection
    assert not result.passed and "still goes through" in result.message

    append_only(spark, path, True)
    result = check_ex3(path, seed=seed, spark=spark)                      # the wrong guard
    assert not result.passed and "still goes through" in result.message
    append_only(spark, path, False)

    add(spark, path, "too_strict", "price < 2000 AND id < 90000")         # no new listings
    result = check_ex3(path, seed=seed, spark=spark)
    assert not result.passed and "also rejects a good append" in result.message
    drop(spark, path, "too_strict")

    add(spark, path, "positive", "price > 0")
    result = check_ex3(path, seed=seed, spark=spark)                      # cents are positive too
    assert not result.passed and "still goes through" in result.message

    add(spark, path, "in_dollars", "price < 2000")
    assert "rejected" in repr(replay_bad_write(path, seed, spark=spark))
    result = check_ex3(path, seed=seed, spark=spark)
    assert result.passed and "DELTA_VIOLATE_CONSTRAINT" in result.message
    drop(spark, path, "in_dollars")
    drop(spark, path, "positive")


@pytest.mark.spark
def test_ex3_refuses_a_bound_that_stops_price_corrections(spark, tables):
    """A cap at today's highest price stops the cents, and tomorrow's good price correction."""
    seed, path = CENTS, tables[CENTS]
    restore(spark, path, scenario(seed)["last_good"])
    top = spark.sql(f"SELECT max(price) AS m FROM delta.`{path}`").first()["m"]
    add(spark, path, "at_most_today", f"price <= {top}")
    result = check_ex3(path, seed=seed, spark=spark)
    assert not result.passed and "a good price correction (UPDATE)" in result.message
    drop(spark, path, "at_most_today")


@pytest.mark.spark
def test_ex3_on_prices_of_zero_needs_a_positive_price(spark, tables):
    seed, path = ZERO, tables[ZERO]
    restore(spark, path, scenario(seed)["last_good"])
    assert check_ex2(path, seed=seed, spark=spark).passed
    assert "went through" in repr(replay_bad_write(path, seed, spark=spark))

    add(spark, path, "in_dollars", "price < 2000")
    result = check_ex3(path, seed=seed, spark=spark)                      # zeros are below any cap
    assert not result.passed and "prices of 0 of your bad write still goes through" in result.message
    drop(spark, path, "in_dollars")

    add(spark, path, "positive", "price > 0")
    result = check_ex3(path, seed=seed, spark=spark)
    assert result.passed and "DELTA_VIOLATE_CONSTRAINT" in result.message, result.message
    drop(spark, path, "positive")


@pytest.mark.spark
def test_ex3_refuses_an_append_only_table_that_stops_the_good_jobs(spark, tables):
    """appendOnly stops the update that emptied the prices, and every price correction and delete."""
    seed, path = MISSING, tables[MISSING]
    restore(spark, path, scenario(seed)["last_good"])
    assert check_ex2(path, seed=seed, spark=spark).passed
    assert all(attempt.accepted for attempt in good_commits(path, spark=spark))

    append_only(spark, path, True)
    assert "rejected" in repr(replay_bad_write(path, seed, spark=spark))
    attempts = {a.write: a.accepted for a in good_commits(path, spark=spark)}
    assert attempts == {"a good append of new listings": True,
                        "a good price correction (UPDATE)": False,
                        "a good delete of a delisted listing (DELETE)": False}
    result = check_ex3(path, seed=seed, spark=spark)
    assert not result.passed and "also rejects a good price correction" in result.message
    assert "DELTA_CANNOT_MODIFY_APPEND_ONLY" in result.message
    append_only(spark, path, False)
    assert check_ex2(path, seed=seed, spark=spark).passed                 # the replays left no trace

    add(spark, path, "price_known", "price IS NOT NULL AND price > 0")
    result = check_ex3(path, seed=seed, spark=spark)
    assert result.passed and "DELTA_VIOLATE_CONSTRAINT" in result.message, result.message
    drop(spark, path, "price_known")


def test_a_rejected_writes_reason_is_deltas_one_line_without_null_or_the_jvm():
    from mlops_kit.labs.checks.delta_lab import _reason

    raw = ("An error occurred while calling o412.sql.\n: org.apache.spark.sql.delta.schema."
           "DeltaInvariantViolationException: [DELTA_NEW_CHECK_CONSTRAINT_VIOLATION] 3 rows in "
           "null violate the new CHECK constraint (price > 0 AND price < 10000)\n"
           "JVM stacktrace:\norg.apache.spark.sql.delta.schema.DeltaInvariantViolationException\n"
           "\tat org.apache.spark.sql.delta.DeltaErrors$.newCheckConstraintViolated(DeltaErrors.scala:412)")
    reason, protection = _reason(RuntimeError(raw))
    assert reason == ("[DELTA_NEW_CHECK_CONSTRAINT_VIOLATION] 3 rows in the table violate the new "
                      "CHECK constraint (price > 0 AND price < 10000)")
    assert protection

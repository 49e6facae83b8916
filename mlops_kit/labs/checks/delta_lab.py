"""Checkers of Lab 1.1, recovering a Delta table from a bad write (``delta-lab``).

Each learner's table is built by :func:`build_table` from their seed: a first
write, one to three good commits (appends of new listings, a price
correction, a few delisted rows deleted), then one bad write, and sometimes a
harmless metadata commit after it. The bad write is an append whose prices
are in cents, an append whose prices are 0 (a job filled the prices it could
not parse), or an update that emptied the prices of one neighbourhood (a
correction whose lookup came back empty).

Because good commits update and delete rows, the guard of exercise 3 must be
a CHECK constraint on the values (``ALTER TABLE ... ADD CONSTRAINT``), not
``delta.appendOnly``, which would also stop every price correction and every
delete of a delisted listing: the checker tries the bad write and each kind
of good commit on a copy of the learner's table.
:func:`scenario` is the plan, pure Python, so the checkers know each
learner's truth without trusting a number typed into the notebook.

The checkers read the learner's real table with SQL only (``DESCRIBE
HISTORY``, ``VERSION AS OF``, ``EXCEPT ALL``), so they work over Spark
Connect too. :func:`replay_bad_write` repeats the learner's bad write on a
scratch copy of their table, so trying a protection never breaks the table.
"""
from __future__ import annotations

import numbers
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_kit.labs import CheckResult, checker

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["LAB_ID", "TABLE", "BAD_KINDS", "scenario", "build_table", "replay_bad_write",
           "WriteAttempt", "good_commits", "check_ex1", "check_ex2", "check_ex3"]

LAB_ID = "delta-lab"
#: the learner's table, in their workspace
TABLE = "delta_lab_listings"
#: what the bad write did: appended prices in cents or prices of 0, or emptied a neighbourhood's prices
BAD_KINDS = ("cents", "zero_prices", "missing_prices")
_COLUMNS = ["id", "neighbourhood", "room_type", "accommodates", "bedrooms", "price"]
_GOOD_STEPS = ("append", "update", "delete")
#: the Delta operation each step commits, as DESCRIBE HISTORY names it
_OPERATIONS = {"create": "WRITE", "append": "WRITE", "update": "UPDATE", "delete": "DELETE",
               "cents": "WRITE", "zero_prices": "WRITE", "missing_prices": "UPDATE",
               "properties": "SET TBLPROPERTIES"}
#: what each bad write is, in words
_BAD_WRITES = {"cents": "the append of prices in cents", "zero_prices": "the append of prices of 0",
               "missing_prices": "the update that emptied prices"}


# ------------------------------------------------------------------ scenario
def scenario(seed: int) -> dict[str, Any]:
    """The plan of one learner's table: its steps, the bad version, the last good one.

    >>> plan = scenario(7)
    >>> plan["last_good"] == plan["bad_version"] - 1
    True
    """
    rng = random.Random(seed)
    kind = BAD_KINDS[rng.randrange(len(BAD_KINDS))]
    good = ["append"] + [rng.choice(_GOOD_STEPS) for _ in range(rng.randint(0, 2))]
    rng.shuffle(good)
    steps = ["create", *good, kind] + (["properties"] if rng.random() < 0.5 else [])
    bad_version = steps.index(kind)
    return {"seed": seed, "kind": kind, "steps": steps, "bad_version": bad_version,
            "last_good": bad_version - 1, "latest": len(steps) - 1,
            "operations": [_OPERATIONS[s] for s in steps]}


def _listings(n: int, seed: int, first_id: int) -> pd.DataFrame:
    from mlops_kit.datasets import listings

    frame = listings(n, seed=seed)[_COLUMNS].copy()
    frame["id"] = range(first_id, first_id + n)
    return frame.reset_index(drop=True)


def _bad_rows(kind: str, seed: int) -> pd.DataFrame:
    """The bad append: new listings whose prices a job wrote in cents, or as 0."""
    rows = _listings(25, seed + 3, 90_000)
    rows["price"] = rows["price"] * 100 if kind == "cents" else 0.0
    return rows


def _areas(seed: int) -> list[str]:
    """Neighbourhoods with three or more listings in the first write: an update must match rows."""
    counts = _listings(120, seed, 10_000)["neighbourhood"].value_counts()
    return sorted(counts[counts >= 3].index)


def _spark(spark: "SparkSession | None") -> "SparkSession":
    if spark is not None:
        return spark
    from mlops_kit.spark import get_spark

    return get_spark()


def _bad_write(kind: str, path: str, seed: int, spark: "SparkSession") -> None:
    from mlops_kit import delta

    if kind == "missing_prices":  # a correction job whose price lookup came back empty
        area = _areas(seed)[seed % len(_areas(seed))]
        spark.sql(f"UPDATE delta.`{path}` SET price = NULL WHERE neighbourhood = '{area}'")
    else:
        delta.write_table(_bad_rows(kind, seed), path, mode="append", spark=spark)


def build_table(seed: int, table: str = TABLE, *, spark: "SparkSession | None" = None) -> str:
    """(Re)build the learner's table from scratch, bad write included; return its path.

    Running it again starts over: the folder is deleted first, so the
    versions are the same every time.
    """
    from mlops_kit import delta

    spark = _spark(spark)
    path = delta.resolve_path(table)
    shutil.rmtree(path, ignore_errors=True)
    plan = scenario(seed)
    rng = random.Random(seed + 1)
    next_id = 10_000
    first = _listings(120, seed, next_id)
    areas = _areas(seed)
    for step in plan["steps"]:
        if step == "create":
            delta.write_table(first, path, mode="overwrite", spark=spark)
            next_id += 1_000
        elif step == "append":
            delta.write_table(_listings(rng.randint(15, 30), seed + next_id, next_id), path,
                              mode="append", spark=spark)
            next_id += 1_000
        elif step == "update":
            area = rng.choice(areas)
            spark.sql(f"UPDATE delta.`{path}` SET price = round(price * 1.05, 2) "
                      f"WHERE neighbourhood = '{area}'")
        elif step == "delete":
            spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 40 = {rng.randrange(40)}")
        elif step == "properties":
            spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('team' = 'pricing')")
        else:
            _bad_write(step, path, seed, spark)
    return path


# --------------------------------------------------------------- table reads
def _history(path: str, spark: "SparkSession") -> list[tuple[int, str]]:
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "operation").collect()
    return sorted((int(r["version"]), r["operation"]) for r in rows)


def _difference(path: str, version: int, spark: "SparkSession") -> tuple[int, int]:
    """Rows of the current table not in ``version``, and rows of ``version`` now missing."""
    now, then = f"delta.`{path}`", f"delta.`{path}` VERSION AS OF {version}"
    row = spark.sql(
        f"SELECT (SELECT count(*) FROM (SELECT * FROM {now} EXCEPT ALL SELECT * FROM {then})) AS extra, "
        f"(SELECT count(*) FROM (SELECT * FROM {then} EXCEPT ALL SELECT * FROM {now})) AS missing"
    ).first()
    return int(row["extra"]), int(row["missing"])


def _table_path(value: Any) -> str | None:
    from mlops_kit import delta

    if not isinstance(value, (str, Path)):
        return None
    return delta.resolve_path(value)


def _recovered(value: Any, seed: int, spark: "SparkSession | None") -> CheckResult:
    """Is the table at ``value`` back at the last good version, with its history kept?"""
    from mlops_kit import delta

    path = _table_path(value)
    if path is None:
        return CheckResult.fail(f"pass your table's name or path; got a {type(value).__name__}",
                                hint=f"The setup cell keeps it in `path` (the table is {TABLE!r}).")
    plan = scenario(seed)
    if not delta.table_exists(path):
        return CheckResult.fail(f"there is no Delta table at {path}",
                                hint="Rerun the setup cell to rebuild your table, then recover it "
                                     "in place.")
    spark = _spark(spark)
    history = _history(path, spark)
    operations = [op for _, op in history]
    if operations[: len(plan["operations"])] != plan["operations"]:
        return CheckResult.fail(
            "your table's history no longer holds the bad write: it was deleted or rebuilt, so "
            "the evidence of what happened (and every version before it) is gone",
            hint="Recover in place: time travel writes a new version on top of the old ones. "
                 "Rerun the setup cell to get your table back.")
    good = plan["last_good"]
    current = spark.sql(f"SELECT * FROM delta.`{path}`")
    wanted = spark.sql(f"SELECT * FROM delta.`{path}` VERSION AS OF {good}")
    if current.columns != wanted.columns:
        return CheckResult.fail(f"your table's columns {current.columns} differ from the last good "
                                "version's", hint="Restore the whole version: rows and schema.")
    extra, missing = _difference(path, good, spark)
    if extra or missing:
        if history[-1][0] == plan["latest"]:
            return CheckResult.fail("your table is still as the bad write left it: no version was "
                                    "written after it",
                                    hint="Time travel: RESTORE TABLE ... TO VERSION AS OF, or "
                                         "overwrite with a `versionAsOf` read.")
        return CheckResult.fail(
            f"the current table is not the last good version: {extra} rows in your table are not "
            f"in that version, and {missing} of that version's rows are missing from yours",
            hint="Restore the version you found in exercise 1, as it was: no row added or "
                 "repaired by hand.")
    return CheckResult.ok(f"the table holds version {good}'s rows again, and its history still "
                          f"shows the bad write at version {plan['bad_version']}")


# ------------------------------------------------------------------ replays
@dataclass(frozen=True)
class WriteAttempt:
    """What happened when a write was tried on a copy of a table."""

    write: str
    accepted: bool
    reason: str = ""

    def __repr__(self) -> str:
        verdict = "went through" if self.accepted else f"was rejected: {self.reason}"
        return f"{self.write} {verdict}"

    def __str__(self) -> str:
        return repr(self)


def _reason(err: Exception) -> tuple[str, bool]:
    """The first line of a write's error, and whether a table protection raised it."""
    text = " ".join(str(err).split())
    condition = re.search(r"\[[A-Z][A-Z_]+\].*", text)  # Delta's own message, not the JVM call
    text = condition.group(0) if condition else text
    text = text.split(" JVM stacktrace:")[0]
    # Delta names a table read by its path "null" ("3 rows in null violate ...")
    text = re.sub(r"\bin null\b", "in the table", text)
    text = re.sub(r"\bTABLE null\b", "TABLE", text)
    for marker in ("DELTA_VIOLATE_CONSTRAINT", "DELTA_CANNOT_MODIFY_APPEND_ONLY",
                   "CHECK constraint", "append-only", "appendOnly"):
        if marker in text:
            return text[:200], True
    return text[:200], False


def _attempt(path: str, write: str, action, spark: "SparkSession") -> tuple[WriteAttempt, bool]:
    """Run ``action(copy_path)`` on a scratch copy of the table at ``path``."""
    with tempfile.TemporaryDirectory(prefix="delta-lab-") as scratch:
        copy = str(Path(scratch) / "table")
        shutil.copytree(path, copy)
        try:
            action(copy)
        except Exception as err:  # noqa: BLE001 - the write's own error is the result
            reason, protected = _reason(err)
            return WriteAttempt(write, False, reason), protected
    return WriteAttempt(write, True), False


def replay_bad_write(table: str, seed: int, *, spark: "SparkSession | None" = None) -> WriteAttempt:
    """Try your table's bad write again, on a scratch copy (your table is not touched)."""
    spark = _spark(spark)
    path = _table_path(table)
    kind = scenario(seed)["kind"]
    return _attempt(path, _BAD_WRITES[kind], lambda copy: _bad_write(kind, copy, seed, spark), spark)[0]


def good_commits(table: str, *, spark: "SparkSession | None" = None) -> list[WriteAttempt]:
    """Try each kind of good commit on a scratch copy of the table: all must go through.

    An append of new listings priced like the table's own, a correction that
    raises the three highest prices by 5 percent, and the delete of one
    delisted listing, as the table's good jobs do every night.
    """
    spark = _spark(spark)
    path = _table_path(table)
    top = spark.sql(f"SELECT price FROM delta.`{path}` WHERE price IS NOT NULL "
                    "ORDER BY price DESC LIMIT 3").collect()
    floor = min(float(r["price"]) for r in top)
    delisted = int(spark.sql(f"SELECT min(id) AS id FROM delta.`{path}`").first()["id"])
    others = ", ".join(_COLUMNS[1:])
    writes = {
        "a good append of new listings": lambda copy: spark.sql(
            f"INSERT INTO delta.`{copy}` SELECT id + 1000000 AS id, {others} "
            f"FROM delta.`{copy}` ORDER BY id LIMIT 10").collect(),
        "a good price correction (UPDATE)": lambda copy: spark.sql(
            f"UPDATE delta.`{copy}` SET price = round(price * 1.05, 2) WHERE price >= {floor}").collect(),
        "a good delete of a delisted listing (DELETE)": lambda copy: spark.sql(
            f"DELETE FROM delta.`{copy}` WHERE id = {delisted}").collect(),
    }
    return [_attempt(path, name, write, spark)[0] for name, write in writes.items()]


# ------------------------------------------------------------------ checkers
@checker(LAB_ID, "ex1", title="Find the last good version", hints=[
    "The history says what each commit did; it does not say whether the data was right. Read "
    "each version (`VERSION AS OF`) and compare it with the one before.",
    "Count the rows and look at the prices of every version: a good commit changes a few rows or "
    "prices a little. The last good version is the one just before the first bad commit.",
])
def check_ex1(value: Any, *, seed: int, **context: Any) -> CheckResult:
    plan = scenario(seed)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return CheckResult.fail(f"last_good should be a version number (an int); got {value!r}",
                                hint="Versions are the numbers in DESCRIBE HISTORY's `version` column.")
    value = int(value)
    if not 0 <= value <= plan["latest"]:
        return CheckResult.fail(f"your table has versions 0 to {plan['latest']}; there is no "
                                f"version {value}", hint="Read the versions from DESCRIBE HISTORY.")
    if value > plan["last_good"]:
        return CheckResult.fail(f"version {value} already holds the bad write",
                                hint="Compare each version's row count and prices with the version "
                                     "before it, going back in time: where did they change too much?")
    if value < plan["last_good"]:
        return CheckResult.fail(f"version {value} is good, but good commits came after it: "
                                "restoring it would throw them away",
                                hint="Keep every good commit: find the first bad one, then take the "
                                     "version just before it.")
    return CheckResult.ok(f"version {value} is the last good one; version {plan['bad_version']} "
                          "is the bad write")


@checker(LAB_ID, "ex2", title="Recover the table with time travel", hints=[
    "Delta keeps every version: you can bring an old one back without rebuilding anything, and "
    "the bad write stays in the history as evidence.",
    "RESTORE TABLE delta.`<path>` TO VERSION AS OF <version> (or overwrite the table with a "
    "`versionAsOf` read of that version). Do not delete the folder.",
])
def check_ex2(value: Any, *, seed: int, spark: "SparkSession | None" = None,
              **context: Any) -> CheckResult:
    return _recovered(value, seed, spark)


@checker(LAB_ID, "ex3", title="Add the protection that stops this bad write", hints=[
    "Schema enforcement did not stop this write: its columns and types were right. What was wrong "
    "was the values. And the good jobs keep running: they append listings, correct prices and "
    "delete delisted rows.",
    "A table property that refuses every update and delete also refuses the good jobs. A CHECK "
    "constraint (ALTER TABLE ... ADD CONSTRAINT name CHECK (...)) judges the values of each "
    "row written: state what every price in this table must be (a row where the condition is "
    "NULL breaks it too).",
])
def check_ex3(value: Any, *, seed: int, spark: "SparkSession | None" = None,
              **context: Any) -> CheckResult:
    recovered = _recovered(value, seed, spark)
    if not recovered.passed:
        return CheckResult.fail(f"protect the recovered table first: {recovered.message}",
                                hint=recovered.hint)
    spark = _spark(spark)
    path = _table_path(value)
    kind = scenario(seed)["kind"]
    name = _BAD_WRITES[kind]
    bad, protected = _attempt(path, name, lambda copy: _bad_write(kind, copy, seed, spark), spark)
    if bad.accepted:
        return CheckResult.fail(f"replayed on a copy of your table, {name} of your bad write still "
                                "goes through",
                                hint="Look again at what the bad write did to the prices (exercise "
                                     "1), and state the rule it broke as a condition on each row.")
    if not protected:
        return CheckResult.fail(f"{name} was rejected, but not by a table protection: {bad.reason}",
                                hint="A protection is part of the table (a constraint or a table "
                                     "property), so every writer hits it.")
    for good in good_commits(path, spark=spark):
        if not good.accepted:
            return CheckResult.fail(
                f"your table now also rejects {good.write}, which the good jobs commit every "
                f"night: {good.reason}",
                hint="A guard must stop the bad write and nothing else: loosen it "
                     "(ALTER TABLE ... DROP CONSTRAINT, or unset the property) and state a rule "
                     "about the values instead.")
    return CheckResult.ok(f"the bad write is rejected ({bad.reason[:80]}); good appends, price "
                          "corrections and deletes still go through")

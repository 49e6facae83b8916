"""Checks of the setup lab (``solutions/00-setup/01L-setup-lab.ipynb``).

Exercise 1 is pure Python (it runs without Spark); 2-4 read a small Delta
table of listings that :func:`prepare_listings` writes with a history of its
own for every learner (:func:`table_plan`): a first write, a price rise, then
appends of new listings and a discount on one room type, in a per-learner
order and size.

- ex2 (debug): a colleague read the table's folder as plain Parquet and
  counts too many rows; the learner reads the table as Delta and says how many
  of the colleague's rows sit in files the table no longer uses (overwrites
  leave the old files in the folder; the transaction log says which count);
- ex3: the average price per room type of the current version, as pandas;
- ex4 (decision): a report of last week (:func:`last_week_report`) was
  computed from one earlier version of the table, a different one per learner;
  the learner finds which one from the history and the data, and reads it.

Exercises 5 and 6 are decisions about the learner's own workspace, checked
against it:

- ex5: :func:`job_brief` describes a job (which one depends on the learner);
  the learner decides which env it belongs in and answers with the
  registered model name that job would load there (``<env>.<user>.price``);
- ex6: the learner picks the settings that send their runs and models to the
  team's tracking server while tables and Spark stay put; the checker builds
  a workspace from exactly those settings on top of the learner's own and
  looks at where everything would go.
"""
from __future__ import annotations

import numbers
import os
from typing import Any

from mlops_kit.labs import CheckResult, checker

#: the model the job of exercise 5 loads
MODEL = "price"
#: the team's servers of exercise 6: MLflow tracking (to use) and Spark Connect (not to use)
TEAM_TRACKING_URI = "http://mlflow.team.internal:5000"
TEAM_SPARK_CONNECT = "sc://spark.team.internal:15002"

#: the jobs of exercise 5, one per env: what the job is for decides where it runs
JOBS: dict[str, str] = {
    "dev": ("You want to see whether a new feature (distance to the nearest park) makes the "
            "price model better. You will train a few variants on a copy of last month's "
            "listings; nobody else reads what they produce."),
    "staging": ("A candidate price model passed code review. Before it is released, the "
                "scoring job runs once against a production-like copy of the data, to "
                "rehearse the release and compare its output with today's."),
    "prod": ("Every night a job scores all listings; the hosts' app shows the predicted "
             "prices the next morning, and hosts set their rates from them."),
}
#: what each env is for, in a failure message (never which env the job needs)
_ENV_PURPOSE = {
    "dev": "dev is where you experiment on your own copies; nothing there is relied on",
    "staging": "staging is a production-like rehearsal before a release; no user reads it",
    "prod": "prod is what users and apps rely on; experiments and rehearsals never run there",
}


#: the salt of the learner's table history (exercises 2-4)
TABLE_SALT = "setup-table"


def table_plan(user: str | None = None) -> list[tuple]:
    """The commits after version 0 of the learner's lab table, in order.

    ``("rise", share)`` raises every price, ``("append", rows)`` adds new
    listings, ``("discount", room_type, share)`` lowers one room type's
    prices. Version ``i`` of the table is the state after the first ``i``
    commits. The first commit is always the price rise; what follows, its
    order and its sizes depend on the learner.
    """
    import random

    from mlops_kit.labs.seeds import learner_seed

    rng = random.Random(learner_seed(TABLE_SALT, user=user))
    rest = [("append", rng.randrange(7, 31)), ("append", rng.randrange(3, 19)),
            ("discount", rng.choice(["Private room", "Entire home/apt"]), rng.choice([0.1, 0.15, 0.2]))]
    rng.shuffle(rest)
    return [("rise", rng.choice([0.05, 0.08, 0.12, 0.15]))] + rest[: rng.randrange(2, 4)]


def report_version(user: str | None = None) -> int:
    """The version last week's report was computed from: never the first, never the latest."""
    import random

    from mlops_kit.labs.seeds import learner_seed

    latest = len(table_plan(user))
    return random.Random(learner_seed(TABLE_SALT + "-report", user=user)).randrange(1, latest)


def table_versions(n: int, user: str | None = None) -> list[Any]:
    """Every version of the learner's lab table, as pandas frames (version 0 first)."""
    from mlops_kit.datasets.listings import listings
    from mlops_kit.labs.seeds import learner_seed

    plan = table_plan(user)
    extra = sum(op[1] for op in plan if op[0] == "append")
    pool = listings(n + extra, seed=learner_seed(TABLE_SALT, user=user) % 10_000)
    frame, used = pool.head(n).copy(), n
    versions = [frame]
    for op in plan:
        frame = frame.copy()
        if op[0] == "rise":
            frame["price"] = (frame["price"] * (1 + op[1])).round(2)
        elif op[0] == "discount":
            rows = frame["room_type"] == op[1]
            frame.loc[rows, "price"] = (frame.loc[rows, "price"] * (1 - op[2])).round(2)
        else:
            frame = _concat(frame, pool.iloc[used: used + op[1]])
            used += op[1]
        versions.append(frame.reset_index(drop=True))
    return versions


def _concat(*frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def last_week_report(n: int = 200, user: str | None = None):
    """Last week's report on the lab table: listings and mean price per room type."""
    frame = table_versions(n, user)[report_version(user)]
    report = frame.groupby("room_type")["price"].agg(listings="count", mean_price="mean")
    return report.round({"mean_price": 2}).reset_index()


def prepare_listings(n: int = 200, name: str = "setup_listings") -> str:
    """Write the lab's Delta table afresh, with the learner's history; return its path.

    Appends add files; a price change overwrites the whole table, which writes
    new files and leaves the old ones in the folder for time travel. The
    writes go through delta-rs (no Spark job); Spark reads the table.
    """
    import shutil

    from mlops_kit import delta
    from mlops_kit.workspace import get_workspace

    path = get_workspace().table_path(name)
    shutil.rmtree(path, ignore_errors=True)  # version 0 must be the first write
    versions = table_versions(n)
    delta.write_snapshot(path, versions[0], mode="overwrite")
    for op, before, after in zip(table_plan(), versions, versions[1:]):
        if op[0] == "append":
            delta.write_snapshot(path, after.iloc[len(before):], mode="append")
        else:
            delta.write_snapshot(path, after, mode="overwrite")
    return str(path)


def _is_spark_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pyspark.")


def _kind(value: Any) -> str:
    """What the learner gave, for a message: 'a pandas DataFrame', 'str', ..."""
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    return f"a {module} {name}" if module in ("pandas", "pyspark") else name


def _read(path: str, version: int | None = None):
    from mlops_kit.spark import get_spark

    reader = get_spark().read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def _price_total(df) -> float:
    from pyspark.sql import functions as F

    return float(df.agg(F.sum("price")).first()[0] or 0.0)


@checker("setup", "ex1", title="Name the workspace user",
         hints=["the kit knows who you are: it printed it when %load_ext ran",
                "ask the active workspace (get_workspace()) for its user, as a string"])
def check_ex1(value: Any, **context: Any) -> CheckResult:
    """The learner's user name, as the active workspace knows it."""
    from mlops_kit.workspace import get_workspace

    expected = get_workspace().user
    if not isinstance(value, str):
        return CheckResult.fail(
            f"expected a user name (str), got {type(value).__name__}",
            hint="the workspace object holds the name as one of its attributes",
        )
    if value != expected:
        return CheckResult.fail(
            f"{value!r} is not the workspace user",
            hint="not your login or the environment's name: ask the active workspace",
        )
    return CheckResult.ok(f"you work as {value!r}")


def _parquet_rows(path: str) -> int:
    """What reading the table's folder as plain Parquet counts: every data file in it."""
    from mlops_kit.spark import get_spark

    return get_spark().read.parquet(path).count()


@checker("setup", "ex2", title="Debug a count that does not match the table",
         hints=["a Delta table is a folder of Parquet files plus a log (_delta_log) that says "
                "which files make up each version; what does a reader that ignores the log see?",
                "read the table the way Delta tables are read, then compare the two counts: "
                "what is left over sits in files an overwrite stopped using"])
def check_ex2(value: Any, *, path: str, **context: Any) -> CheckResult:
    """``(listings_df, stale_rows)``: the table's current version as Spark, and how many
    rows the plain Parquet read counts that the current version does not hold."""
    if not (isinstance(value, tuple) and len(value) == 2):
        return CheckResult.fail(
            f"expected a pair (listings_df, stale_rows), got {_kind(value)}",
            hint="answer with the DataFrame you read and the number of rows, as a tuple")
    frame, stale = value
    if not _is_spark_dataframe(frame):
        return CheckResult.fail(
            f"expected a Spark DataFrame first, got {_kind(frame)}",
            hint="read it with Spark (spark.read), not pandas, and keep the DataFrame",
        )
    missing = {"id", "room_type", "price"} - set(frame.columns)
    if missing:
        return CheckResult.fail(
            f"columns {sorted(missing)} are missing", hint="read the table, do not select columns"
        )
    expected = _read(path)
    rows, expected_rows = frame.count(), expected.count()
    parquet = _parquet_rows(path)
    if rows == parquet and rows != expected_rows:
        return CheckResult.fail(
            f"your DataFrame has {rows} rows, as many as the colleague's read: it reads every "
            "file in the folder, including those of older versions",
            hint="which reader knows which files belong to the current version?")
    if rows != expected_rows:
        return CheckResult.fail(
            f"{rows} rows, but the table's current version has {expected_rows}",
            hint="no filter, no limit, no older version")
    if abs(_price_total(frame) - _price_total(expected)) > 0.01 * rows:
        return CheckResult.fail(
            "the prices are not the table's current prices",
            hint="read the latest version (no versionAsOf)",
        )
    if isinstance(stale, bool) or not isinstance(stale, numbers.Integral):
        return CheckResult.fail(
            f"expected the number of rows (an int) second, got {type(stale).__name__}",
            hint="a count of rows is a whole number")
    if int(stale) != parquet - expected_rows:
        return CheckResult.fail(
            f"{int(stale)} is not how many of the colleague's {parquet} rows the current version "
            "does not hold",
            hint="count both reads of the same folder and compare")
    return CheckResult.ok(
        f"{rows} listings now; {int(stale)} more rows sit in files older versions used, which "
        "only time travel still reads")


@checker("setup", "ex3", title="Average price per room type, as pandas",
         hints=["aggregate in Spark, then bring the small result back to pandas",
                "group by room type, take the mean of price, one row per room type"])
def check_ex3(value: Any, *, path: str, **context: Any) -> CheckResult:
    """A pandas DataFrame: one row per room type, its mean price."""
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        return CheckResult.fail(
            f"expected a pandas DataFrame, got {_kind(value)}",
            hint="the result of a Spark query is a Spark DataFrame until you convert it",
        )
    frame = value.reset_index() if "room_type" not in value.columns else value
    if "room_type" not in frame.columns:
        return CheckResult.fail("there is no room_type column", hint='groupBy("room_type")')
    numeric = [c for c in frame.columns if c != "room_type" and pd.api.types.is_numeric_dtype(frame[c])]
    if len(numeric) != 1:
        return CheckResult.fail(
            f"expected one numeric column besides room_type, got {numeric}",
            hint="keep room_type and exactly one aggregated price column",
        )
    expected = _read(path).toPandas().groupby("room_type")["price"].mean()
    got = frame.set_index("room_type")[numeric[0]].astype(float)
    if set(got.index) != set(expected.index):
        return CheckResult.fail(
            f"room types {sorted(got.index)} differ from {sorted(expected.index)}",
            hint="group by room_type over the whole table",
        )
    worst = (got - expected.reindex(got.index)).abs().max()
    if worst > 0.01:
        return CheckResult.fail(
            f"the averages are off by up to {worst:.2f}",
            hint="which aggregate gives a typical price per listing? not a total, not a middle value",
        )
    return CheckResult.ok(f"{len(got)} room types, averages match")


def _fingerprint(df) -> tuple[int, float, float]:
    """Rows, price total and id total of a Spark DataFrame (which version it is)."""
    from pyspark.sql import functions as F

    row = df.agg(F.count("*"), F.sum("price"), F.sum("id")).first()
    return int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0)


def _version_fingerprints(path: str) -> dict[int, tuple[int, float, float]]:
    """:func:`_fingerprint` of every version of the table, in one Spark query."""
    from functools import reduce

    from pyspark.sql import functions as F

    from mlops_kit import delta

    frames = [_read(path, version=v).select(F.lit(v).alias("version"), "price", "id")
              for v in range(delta.table_version(path) + 1)]
    rows = (reduce(lambda a, b: a.unionByName(b), frames).groupBy("version")
            .agg(F.count("*"), F.sum("price"), F.sum("id")).collect())
    return {int(r[0]): (int(r[1]), float(r[2] or 0.0), float(r[3] or 0.0)) for r in rows}


def _same(a: tuple[int, float, float], b: tuple[int, float, float]) -> bool:
    return a[0] == b[0] and abs(a[1] - b[1]) <= 0.01 * max(a[0], 1) and abs(a[2] - b[2]) < 0.5


@checker("setup", "ex4", title="Which version was last week's report computed from?",
         hints=["every write made a new version, and old versions stay readable: the history "
                "lists them, the data of each one tells them apart",
                "compute the report's numbers (listings and mean price per room type) on each "
                "version of the history, and keep the version they match"])
def check_ex4(value: Any, *, path: str, **context: Any) -> CheckResult:
    """The table as it was when last week's report was computed (a per-learner version)."""
    if not _is_spark_dataframe(value):
        return CheckResult.fail(
            f"expected a Spark DataFrame, got {_kind(value)}",
            hint="read it with Spark as a Delta table, at an earlier version",
        )
    missing = {"id", "room_type", "price"} - set(value.columns)
    if missing:
        return CheckResult.fail(f"columns {sorted(missing)} are missing",
                                hint="read the whole table, at the version you chose")
    got = _fingerprint(value)
    versions = _version_fingerprints(path)
    target = report_version()
    if _same(got, versions[target]):
        return CheckResult.ok(f"version {target}: the report's numbers come from it")
    matches = [v for v, seen in sorted(versions.items()) if _same(got, seen)]
    if not matches:
        return CheckResult.fail(
            "these rows are no version of the table: a filter, a limit or a change of your own",
            hint="read one whole version of the table, as it was written")
    which = matches[0]
    when = "the latest version" if which == max(versions) else f"version {which}"
    return CheckResult.fail(
        f"these rows are {when}: its listings and mean prices per room type are not the report's",
        hint="compare the report with the numbers of every version, not just the first or the last")


# --------------------------------------------------------------- ex5: which env
def job_env(user: str | None = None) -> str:
    """The env the learner's job of exercise 5 belongs in (it depends on the learner)."""
    from mlops_kit.labs.seeds import learner_seed

    envs = list(JOBS)
    return envs[learner_seed("setup-job", user=user) % len(envs)]


def job_brief(user: str | None = None) -> str:
    """The job of exercise 5, as the learner reads it."""
    return f"The job: {JOBS[job_env(user)]}\nIt loads the registered model {MODEL!r}."


@checker("setup", "ex5", title="Decide where a job runs",
         hints=["first decide what the job's output is for: an experiment, a rehearsal, or "
                "something people rely on; that decides the env",
                "the registered model name carries the env and your user in front of the "
                "model's name; the workspace can build it for another env (with_env)"])
def check_ex5(value: Any, **context: Any) -> CheckResult:
    """The registered model name the learner's job would load: ``<env>.<user>.price``."""
    from mlops_kit.workspace import ENVS, get_workspace

    ws = get_workspace()
    if not isinstance(value, str):
        return CheckResult.fail(
            f"expected a registered model name (str), got {type(value).__name__}",
            hint="answer with the model's full name, as a string")
    parts = value.split(".")
    if len(parts) != 3:
        return CheckResult.fail(
            f"{value!r} is not a full registered model name: in the kit a model's name "
            "carries an env and a user in front of the model",
            hint="the workspace builds model names for you; which part must change for this job?")
    env, user, model = parts
    if env not in ENVS:
        return CheckResult.fail(f"{env!r} is not an env of the kit ({', '.join(ENVS)})",
                                hint="the first part of a model name is the env")
    if user != ws.user:
        return CheckResult.fail(f"{user!r} is not your workspace user: that model belongs to "
                                "someone else", hint="keep your own user in the name")
    if model != MODEL:
        return CheckResult.fail(f"the job loads the model {MODEL!r}, not {model!r}",
                                hint="read the last line of the job's description")
    if env != job_env():
        return CheckResult.fail(
            f"{env!r} is the wrong env for this job: {_ENV_PURPOSE[env]}",
            hint="who reads what this job produces, and what happens if it goes wrong?")
    return CheckResult.ok(f"{value}: {_ENV_PURPOSE[env]}")


# ----------------------------------------------------- ex6: a shared tracking server
def _workspace_with(settings: dict[str, str]):
    """The workspace a fresh process would build from the learner's current
    workspace plus ``settings`` (environment variables)."""
    from mlops_kit.workspace import Workspace, get_workspace

    ws = get_workspace()
    env = ws.to_environ({k: v for k, v in os.environ.items()
                         if not k.startswith(("MLOPS_KIT_", "MLFLOW_"))})
    env.update(settings)
    return ws, Workspace.from_env(environ=env)


@checker("setup", "ex6", title="Point your runs at the team's tracking server",
         hints=["compare the summary that %load_ext printed with the list of settings: which "
                "line of the summary has to show the team's server?",
                "change only what decides where MLflow writes (the registry follows it unless "
                "set on its own); leave the workspace root, user, env and Spark master alone"])
def check_ex6(value: Any, **context: Any) -> CheckResult:
    """``value``: ``{setting: value}``, the environment variables to set."""
    from mlops_kit.exceptions import MlopsKitError

    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        return CheckResult.fail(
            f"expected the settings as a dict of names to values (str to str), got "
            f"{type(value).__name__}", hint="one entry per environment variable you would set")
    unknown = sorted(k for k in value if not k.startswith(("MLOPS_KIT_", "MLFLOW_")))
    if unknown:
        return CheckResult.fail(f"the kit does not read {unknown}",
                                hint="the kit's settings start with MLOPS_KIT_ (see %kit)")
    try:
        ws, new = _workspace_with(value)
    except MlopsKitError as err:
        return CheckResult.fail(f"with these settings the kit refuses to start: {err}",
                                hint="set only what must change, to the server's address")
    moved = [what for what, before, after in (
        ("the workspace root (your tables)", ws.root, new.root), ("the user", ws.user, new.user),
        ("the env", ws.env, new.env), ("the Spark master", ws.spark_master, new.spark_master))
        if before != after]
    if new.tracking_uri.rstrip("/") != TEAM_TRACKING_URI:
        return CheckResult.fail(
            f"your runs would still be tracked at {new.tracking_uri}"
            + (f", and {', '.join(moved)} would move" if moved else ""),
            hint="which setting decides the MLflow tracking URI shown by %kit?")
    if moved:
        return CheckResult.fail(f"the runs go to the team's server, but {', '.join(moved)} "
                                "would move too", hint="the tables and Spark stay where they are")
    if new.registry_uri.rstrip("/") != TEAM_TRACKING_URI:
        return CheckResult.fail(f"runs go to the server, but models would be registered at "
                                f"{new.registry_uri}", hint="the registry should follow the runs")
    return CheckResult.ok(f"runs and models go to {new.tracking_uri}; tables stay in {ws.root}")

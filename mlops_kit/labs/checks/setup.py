"""Checks of the setup lab (``solutions/00-setup/01L-setup-lab.ipynb``).

Exercise 1 is pure Python (it runs without Spark); 2-4 read a small Delta
table of listings that :func:`prepare_listings` writes in two versions: the
original prices (version 0) and a 10% price rise (version 1).
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: the price rise applied in version 1 of the lab table
PRICE_RISE = 1.10


def prepare_listings(n: int = 200, name: str = "setup_listings") -> str:
    """Write the lab's Delta table afresh (two versions); return its path."""
    import shutil

    from mlops_kit.datasets.listings import listings
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import get_workspace
    from pyspark.sql import functions as F

    path = get_workspace().table_path(name)
    shutil.rmtree(path, ignore_errors=True)  # version 0 must be the original prices
    spark = get_spark()
    df = spark.createDataFrame(listings(n=n))
    df.write.format("delta").save(str(path))
    raised = spark.read.format("delta").load(str(path))
    raised = raised.withColumn("price", F.round(F.col("price") * PRICE_RISE, 2))
    raised.write.format("delta").mode("overwrite").save(str(path))
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


@checker("setup", "ex2", title="Read the listings Delta table",
         hints=["a Delta table is a folder of files: Spark reads it with the delta format",
                "read the whole table at path, latest version, no filter, no column selection"])
def check_ex2(value: Any, *, path: str, **context: Any) -> CheckResult:
    """A Spark DataFrame of the table's current version."""
    if not _is_spark_dataframe(value):
        return CheckResult.fail(
            f"expected a Spark DataFrame, got {_kind(value)}",
            hint="read it with Spark (spark.read), not pandas, and keep the DataFrame",
        )
    missing = {"room_type", "price"} - set(value.columns)
    if missing:
        return CheckResult.fail(
            f"columns {sorted(missing)} are missing", hint="read the table, do not select columns"
        )
    expected = _read(path)
    rows, expected_rows = value.count(), expected.count()
    if rows != expected_rows:
        return CheckResult.fail(
            f"{rows} rows, but the table has {expected_rows}", hint="no filter, no limit"
        )
    if abs(_price_total(value) - _price_total(expected)) > 0.01 * rows:
        return CheckResult.fail(
            "the prices are not the table's current prices",
            hint="read the latest version (no versionAsOf)",
        )
    return CheckResult.ok(f"{rows} listings with {len(value.columns)} columns")


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


@checker("setup", "ex4", title="Time travel to version 0",
         hints=["every write made a new version of the table, and old versions stay readable",
                "read the table with the versionAsOf option"])
def check_ex4(value: Any, *, path: str, **context: Any) -> CheckResult:
    """The table as it was first written, before the price rise."""
    if not _is_spark_dataframe(value):
        return CheckResult.fail(
            f"expected a Spark DataFrame, got {_kind(value)}",
            hint="read it with Spark as a Delta table, at an earlier version",
        )
    if "price" not in value.columns:
        return CheckResult.fail("there is no price column", hint="read the whole table")
    total, original = _price_total(value), _price_total(_read(path, version=0))
    if abs(total - original) > 0.01 * max(value.count(), 1):
        current = _price_total(_read(path))
        which = "the current version" if abs(total - current) < 1 else "not version 0"
        return CheckResult.fail(
            f"these prices are {which}", hint="look at the history above: which version came first?"
        )
    return CheckResult.ok("version 0: the prices before the 10% rise")

"""Delta Lake helpers shared by the notebooks and the kit's modules.

Thin on purpose: each wraps one Spark or Delta call, resolves a bare table
name through the active workspace (``listings`` ->
``<root>/users/<user>/<env>/tables/listings``), and turns the errors a learner hits
first into the kit's own, with the fix in the message:

- appending a frame whose columns differ from the table's raises
  :class:`~mlops_kit.exceptions.SchemaMismatchError` naming the columns, and
  the table keeps its version;
- reading a table that does not exist, or a version it never had, raises
  :class:`~mlops_kit.exceptions.NotFoundError`.

Reads and writes go through Spark, and every Delta operation the kit runs
through Spark (MERGE, history, OPTIMIZE, table detail) is SQL on
``delta.`path```, never Delta's Python ``DeltaTable`` API: SQL works the same
on a JVM in this process and over Spark Connect, where ``DeltaTable`` does
not exist (:func:`sql_identifier`, :func:`last_commit`, :func:`merge_into`).
Metadata that needs no JVM (does the
table exist, its version, row and file counts) is read with ``deltalake``
(delta-rs), so the serving process and ``install()``'s no-op path never
start Spark. Jobs that need rows without a JVM use :func:`read_snapshot`
and :func:`write_snapshot` (delta-rs and pandas): the kit's delta-rs reads
all go through this module.
"""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from mlops_kit.exceptions import ConfigError, DataError, NotFoundError, SchemaMismatchError
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "resolve_path",
    "to_spark",
    "write_table",
    "read_table",
    "history",
    "last_commit",
    "merge_into",
    "optimize",
    "sql_identifier",
    "table_detail",
    "table_exists",
    "table_version",
    "row_count",
    "file_count",
    "read_snapshot",
    "write_snapshot",
]

#: Delta's session setting that lets MERGE add the source's new columns to the table
_AUTO_MERGE = "spark.databricks.delta.schema.autoMerge.enabled"

_BARE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

#: Delta error conditions that mean "the data's schema is not the table's"
_SCHEMA_CONDITIONS = ("SCHEMA", "MERGE_FIELDS", "MERGE_INCOMPATIBLE", "_LEGACY_ERROR_TEMP_DELTA_0007")


def resolve_path(name_or_path: str | os.PathLike[str], workspace: Workspace | None = None) -> str:
    """The location of a table: a bare name goes through ``workspace.table_path``.

    Anything with a path separator, a scheme (``s3://``) or a ``Path`` type is
    taken as the location itself.
    """
    if isinstance(name_or_path, str) and _BARE_NAME.fullmatch(name_or_path):
        return str((workspace or get_workspace()).table_path(name_or_path))
    return str(name_or_path)


def sql_identifier(path: str | os.PathLike[str]) -> str:
    """``delta.`path``` for Spark SQL, with backticks in the path escaped."""
    return "delta.`" + str(path).replace("`", "``") + "`"


def last_commit(path: str | os.PathLike[str], *, spark: "SparkSession | None" = None) -> Any:
    """The newest commit of the Delta table at ``path`` (a Row of ``DESCRIBE HISTORY``)."""
    return _spark(spark).sql(f"DESCRIBE HISTORY {sql_identifier(path)} LIMIT 1").first()


def table_detail(path: str | os.PathLike[str], *, spark: "SparkSession | None" = None) -> Any:
    """``DESCRIBE DETAIL`` of the Delta table at ``path`` (partition columns, files, size)."""
    return _spark(spark).sql(f"DESCRIBE DETAIL {sql_identifier(path)}").first()


def merge_into(path: str | os.PathLike[str], source: "DataFrame", keys: list[str] | tuple[str, ...],
               *, spark: "SparkSession | None" = None) -> None:
    """Upsert ``source`` into the Delta table at ``path`` by ``keys``, with schema evolution.

    Matched rows are updated, new keys inserted, and columns the table does
    not have yet are added; columns the source lacks keep their values on
    updated rows. The source is a session-scoped temporary view with a unique
    name, dropped afterwards, so concurrent merges of one session do not see
    each other's rows. Schema evolution is Delta's session setting
    ``autoMerge``, on for this statement only (``MERGE WITH SCHEMA EVOLUTION``
    does not parse with Spark 4.0 and Delta 4.0).
    """
    import uuid

    session = _spark(spark)
    view = f"mlops_kit_merge_{uuid.uuid4().hex}"
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    before = session.conf.get(_AUTO_MERGE, None)
    source.createOrReplaceTempView(view)
    session.conf.set(_AUTO_MERGE, "true")
    try:
        session.sql(
            f"MERGE INTO {sql_identifier(path)} AS t USING {view} AS s ON {condition} "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        ).collect()
    finally:
        if before is None:
            session.conf.unset(_AUTO_MERGE)
        else:
            session.conf.set(_AUTO_MERGE, before)
        session.catalog.dropTempView(view)


def optimize(path: str | os.PathLike[str], zorder_by: list[str] | tuple[str, ...] | None = None,
             *, spark: "SparkSession | None" = None) -> dict[str, int]:
    """Compact the Delta table at ``path`` (Z-ordered by ``zorder_by`` if given).

    Returns the files removed and added, from Delta's own metrics.
    """
    query = f"OPTIMIZE {sql_identifier(path)}"
    if zorder_by:
        query += " ZORDER BY (" + ", ".join(f"`{c}`" for c in zorder_by) + ")"
    metrics = _spark(spark).sql(query).first()["metrics"]
    return {"files_removed": int(metrics["numFilesRemoved"]),
            "files_added": int(metrics["numFilesAdded"])}


def _label(name_or_path: str | os.PathLike[str]) -> str:
    return str(name_or_path) if not isinstance(name_or_path, str) else name_or_path


def _spark(spark: "SparkSession | None") -> "SparkSession":
    if spark is not None:
        return spark
    from mlops_kit.spark import get_spark

    return get_spark()


# --------------------------------------------------------------- conversion
def spark_schema(pdf: pd.DataFrame) -> "StructType":
    """An explicit Spark schema for a pandas frame (no sampling, no guessing).

    int -> long, float -> double, bool -> boolean, datetime -> timestamp,
    strings -> string; every field is nullable.
    """
    from pyspark.sql import types as T

    fields = []
    for name, dtype in pdf.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            spark_type = T.BooleanType()
        elif pd.api.types.is_integer_dtype(dtype):
            spark_type = T.LongType()
        elif pd.api.types.is_float_dtype(dtype):
            spark_type = T.DoubleType()
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            spark_type = T.TimestampType()
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            spark_type = T.StringType()
        else:
            raise DataError(
                f"The column {name!r} has dtype {dtype}, which the kit cannot store in "
                "Delta. Expected int, float, bool, datetime or string: cast it first."
            )
        fields.append(T.StructField(str(name), spark_type, nullable=True))
    return T.StructType(fields)


def to_spark(pdf: pd.DataFrame, spark: "SparkSession | None" = None) -> "DataFrame":
    """Convert a pandas frame to Spark through Arrow with :func:`spark_schema`."""
    return _spark(spark).createDataFrame(pdf, schema=spark_schema(pdf))


# -------------------------------------------------------------- metadata
def table_exists(path: str | os.PathLike[str]) -> bool:
    """Whether a Delta table (a ``_delta_log`` with commits) is at ``path`` or name."""
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(resolve_path(path))


def _delta_rs(name_or_path: str | os.PathLike[str]):
    from deltalake import DeltaTable

    path = resolve_path(name_or_path)
    if not DeltaTable.is_deltatable(path):
        raise _not_found(name_or_path, path)
    return DeltaTable(path)


def table_version(name_or_path: str | os.PathLike[str]) -> int:
    """The latest version of a table (0 after its first write)."""
    return int(_delta_rs(name_or_path).version())


def row_count(name_or_path: str | os.PathLike[str]) -> int:
    """Rows in the latest version, from the log's statistics (no scan, no JVM)."""
    return int(_delta_rs(name_or_path).count())


def file_count(path: str | os.PathLike[str]) -> int:
    """Data files in the latest version: the small-files problem, as a number."""
    return len(_delta_rs(path).file_uris())


def read_snapshot(name_or_path: str | os.PathLike[str], *,
                  version: int | None = None) -> tuple[pd.DataFrame, int]:
    """Rows of one version of a table (the latest by default), and that version.

    Read with delta-rs into pandas: no JVM, so jobs that only train or
    monitor, and the serving side, start in seconds. Every delta-rs read of
    the kit goes through here.

    Raises
    ------
    NotFoundError
        No table there, or a version the table never had.
    """
    from deltalake import DeltaTable

    path = resolve_path(name_or_path)
    if not DeltaTable.is_deltatable(path):
        raise _not_found(name_or_path, path)
    try:
        table = DeltaTable(path, version=version)
    except Exception as err:  # a version that never existed, or was vacuumed
        latest = DeltaTable(path).version()
        raise NotFoundError(
            f"The Delta table {_label(name_or_path)!r} has no version {version}: "
            f"its versions are 0 to {latest}."
        ) from err
    return table.to_pandas(), int(table.version())


def write_snapshot(name_or_path: str | os.PathLike[str], frame: pd.DataFrame, *,
                   mode: Literal["overwrite", "append"] = "append") -> int:
    """Write a pandas frame with delta-rs (no JVM); returns the table's new version.

    ``overwrite`` replaces the rows and the schema with a new version (the
    old one stays readable by time travel); ``append`` adds rows.
    """
    import pyarrow as pa
    from deltalake import write_deltalake

    path = resolve_path(name_or_path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    data = pa.Table.from_pandas(frame, preserve_index=False)
    if mode == "overwrite":
        write_deltalake(path, data, mode="overwrite", schema_mode="overwrite")
    else:
        write_deltalake(path, data, mode=mode)
    return table_version(path)


def _not_found(name_or_path: Any, path: str) -> NotFoundError:
    parent = Path(path).parent
    known = sorted(p.name for p in parent.iterdir() if (p / "_delta_log").is_dir()) \
        if parent.is_dir() else []
    return NotFoundError(
        f"There is no Delta table {_label(name_or_path)!r} at {path}. "
        f"Tables there: {known or 'none'}. Write it first, or run "
        "mlops_kit.datasets.install() for the course tables."
    )


# ------------------------------------------------------------ read, write
def _schema_diff(table: "StructType", data: "StructType") -> dict[str, list[str]]:
    table_types = {f.name.lower(): (f.name, f.dataType.simpleString()) for f in table}
    data_types = {f.name.lower(): (f.name, f.dataType.simpleString()) for f in data}
    return {  # each list empty when the schemas agree
        "new_in_data": [f"{data_types[k][0]} ({data_types[k][1]})"
                        for k in data_types if k not in table_types],
        "missing_in_data": [table_types[k][0] for k in table_types if k not in data_types],
        "type_changed": [f"{table_types[k][0]}: table {table_types[k][1]}, data {data_types[k][1]}"
                         for k in data_types
                         if k in table_types and table_types[k][1] != data_types[k][1]],
    }


def _is_schema_error(err: Exception) -> bool:
    """Delta's error condition (or, failing that, the first line) says "schema"."""
    condition = (err.getCondition() or "") if hasattr(err, "getCondition") else ""
    lines = str(err).splitlines()
    headline = f"{condition} {lines[0] if lines else ''}".upper()
    return any(key in headline for key in _SCHEMA_CONDITIONS) or "FAILED TO MERGE" in headline


def _mismatch(name_or_path: Any, path: str, mode: str, table: "StructType",
              data: "StructType", version: int) -> SchemaMismatchError:
    diff = _schema_diff(table, data)
    parts = [f"{label}: {', '.join(items)}" for label, items in (
        ("new columns in the data", diff["new_in_data"]),
        ("columns with another type", diff["type_changed"]),
        ("table columns the data lacks", diff["missing_in_data"]),
    ) if items]
    if mode == "overwrite":
        fix = "pass overwrite_schema=True to replace the table's schema"
    elif diff["type_changed"]:
        fix = ("cast the columns to the table's types (merge_schema=True adds new "
               "columns but cannot change a type), or overwrite with overwrite_schema=True")
    else:
        fix = "pass merge_schema=True to add the new columns to the table (schema evolution)"
    err = SchemaMismatchError(
        f"Cannot {'append to' if mode == 'append' else 'overwrite'} the Delta table {_label(name_or_path)!r}: the data's schema "
        f"differs from the table's ({'; '.join(parts)}). "
        f"The table stays at version {version}. Fix: {fix}."
    )
    err.differences = diff
    err.table_version = version
    return err


def write_table(
    df: "DataFrame | pd.DataFrame",
    name_or_path: str | os.PathLike[str],
    mode: Literal["append", "overwrite"] = "append",
    *,
    merge_schema: bool = False,
    overwrite_schema: bool = False,
    partition_by: list[str] | None = None,
    spark: "SparkSession | None" = None,
) -> int:
    """Write ``df`` to a Delta table and return the table's new version.

    Parameters
    ----------
    df : pyspark.sql.DataFrame or pandas.DataFrame
        The rows to write (pandas goes through :func:`to_spark`).
    name_or_path : str or path
        A bare table name in the active workspace, or a location.
    mode : {"append", "overwrite"}
        Add rows, or replace them with a new version (the old one stays
        readable by time travel).
    merge_schema : bool
        Let the write add new columns to the table (schema evolution).
    overwrite_schema : bool
        With ``mode="overwrite"``, replace the table's schema too.
    partition_by : list of str, optional
        Partition columns when the table is created.

    Raises
    ------
    SchemaMismatchError
        The data's columns or types differ from the table's; the message
        names them and the table's version is unchanged.
    """
    if mode not in ("append", "overwrite"):
        raise ConfigError(f"mode must be 'append' or 'overwrite'. Got {mode!r} instead.")
    if isinstance(df, pd.DataFrame):
        df = to_spark(df, spark)
    path = resolve_path(name_or_path)
    writer = df.write.format("delta").mode(mode)
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if overwrite_schema:
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    try:
        writer.save(path)
    except Exception as err:
        if not (_is_schema_error(err) and table_exists(path)):
            raise
        table_schema = df.sparkSession.read.format("delta").load(path).schema
        if not any(_schema_diff(table_schema, df.schema).values()):
            raise  # the columns match: some other failure, keep Spark's own error
        raise _mismatch(name_or_path, path, mode, table_schema, df.schema,
                        table_version(path)) from None
    return table_version(path)


def _timestamp_text(timestamp: str | datetime | pd.Timestamp) -> str:
    ts = pd.Timestamp(timestamp)
    if ts.tzinfo is not None:  # the kit's sessions run in UTC
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


def read_table(
    name_or_path: str | os.PathLike[str],
    version: int | None = None,
    timestamp: str | datetime | pd.Timestamp | None = None,
    *,
    spark: "SparkSession | None" = None,
) -> "DataFrame":
    """Read a Delta table as a Spark DataFrame, optionally as it was (time travel).

    Parameters
    ----------
    version : int, optional
        Read this version (``VERSION AS OF``).
    timestamp : str or datetime, optional
        Read the latest version committed at or before this time (UTC when
        naive). Give at most one of ``version`` and ``timestamp``.

    Raises
    ------
    NotFoundError
        No table there, or it has no such version / nothing that early.
    """
    if version is not None and timestamp is not None:
        raise ConfigError(
            "read_table() travels by version OR by timestamp. Got both "
            f"version={version!r} and timestamp={timestamp!r}: pass one."
        )
    path = resolve_path(name_or_path)
    if not table_exists(path):
        raise _not_found(name_or_path, path)
    reader = _spark(spark).read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    if timestamp is not None:
        reader = reader.option("timestampAsOf", _timestamp_text(timestamp))
    try:
        df = reader.load(path)
        df.schema  # noqa: B018 - over Spark Connect, load is lazy: resolve the version now
        return df
    except Exception as err:
        if version is None and timestamp is None:
            raise
        asked = f"version {version}" if version is not None else f"timestamp {timestamp}"
        raise NotFoundError(
            f"The Delta table {_label(name_or_path)!r} has no {asked}: it has versions "
            f"0 to {table_version(path)}. See history({_label(name_or_path)!r}) for "
            f"versions and commit times. ({str(err).splitlines()[0]})"
        ) from None


def history(name_or_path: str | os.PathLike[str], limit: int | None = None, *,
            spark: "SparkSession | None" = None) -> pd.DataFrame:
    """The table's commits, newest first, as a pandas frame.

    Columns: ``version``, ``timestamp`` (UTC; what ``read_table(timestamp=...)``
    compares against), ``operation``, ``mode``, ``rows`` (rows written, when
    the operation reports it), ``files`` (files added), and ``metrics`` (all
    of Delta's ``operationMetrics``).
    """
    path = resolve_path(name_or_path)
    if not table_exists(path):
        raise _not_found(name_or_path, path)
    query = f"DESCRIBE HISTORY {sql_identifier(path)}"
    if limit:
        query += f" LIMIT {int(limit)}"
    raw = _spark(spark).sql(query).select(
        "version", "timestamp", "operation", "operationParameters", "operationMetrics"
    ).toPandas()

    def metric(metrics: Any, *keys: str) -> int | None:
        metrics = dict(metrics or {})
        for key in keys:
            if key in metrics:
                return int(metrics[key])
        return None

    return pd.DataFrame(
        {
            "version": raw["version"].astype("int64"),
            "timestamp": raw["timestamp"],
            "operation": raw["operation"],
            "mode": [dict(p or {}).get("mode") for p in raw["operationParameters"]],
            "rows": pd.array([metric(m, "numOutputRows") for m in raw["operationMetrics"]],
                             dtype="Int64"),
            "files": pd.array([metric(m, "numFiles", "numAddedFiles")
                               for m in raw["operationMetrics"]], dtype="Int64"),
            "metrics": [dict(m or {}) for m in raw["operationMetrics"]],
        }
    )

"""The Spark side of table access: Spark frames in and out, on either engine.

Every Delta operation here is Spark SQL on ``delta.`path``` or the
DataFrame reader/writer, never Delta's py4j-only ``DeltaTable`` API: it runs
the same on a JVM in this process and over Spark Connect. Metadata that needs
no JVM (exists, version) comes from :class:`~mlops_kit.tables.base.TableAccess`
(delta-rs). Beyond the shared verbs: time travel by timestamp, streams,
``OPTIMIZE``, ``DESCRIBE DETAIL``, the last commit, and pandas -> Spark with an
explicit schema.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from mlops_kit.exceptions import ConfigError, DataError, NotFoundError, SchemaMismatchError
from mlops_kit.tables.base import (
    HISTORY_COLUMNS,
    TableAccess,
    check_keys,
    check_mode,
    label,
    no_such_version,
    not_found,
)
from mlops_kit.workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery
    from pyspark.sql.types import StructType

__all__ = ["SparkTables", "spark_schema", "sql_identifier"]

#: Delta's session setting that lets MERGE add the source's new columns to the table
_AUTO_MERGE = "spark.databricks.delta.schema.autoMerge.enabled"

#: Delta error conditions that mean "the data's schema is not the table's"
_SCHEMA_CONDITIONS = ("SCHEMA", "MERGE_FIELDS", "MERGE_INCOMPATIBLE", "_LEGACY_ERROR_TEMP_DELTA_0007")


def sql_identifier(path: str | os.PathLike[str]) -> str:
    """``delta.`path``` for Spark SQL, with backticks in the path escaped."""
    return "delta.`" + str(path).replace("`", "``") + "`"


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


def _mismatch(name_or_path: Any, mode: str, table: "StructType", data: "StructType",
              version: int) -> SchemaMismatchError:
    diff = _schema_diff(table, data)
    parts = [f"{what}: {', '.join(items)}" for what, items in (
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
        f"Cannot {'append to' if mode == 'append' else 'overwrite'} the Delta table "
        f"{label(name_or_path)!r}: the data's schema differs from the table's "
        f"({'; '.join(parts)}). The table stays at version {version}. Fix: {fix}."
    )
    err.differences = diff
    err.table_version = version
    return err


def _timestamp_text(timestamp: str | datetime | pd.Timestamp) -> str:
    ts = pd.Timestamp(timestamp)
    if ts.tzinfo is not None:  # the kit's sessions run in UTC
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


class SparkTables(TableAccess):
    """Delta tables through Spark (a local JVM or Spark Connect): Spark frames.

    Parameters
    ----------
    workspace : Workspace, optional
        Where table names resolve.
    spark : SparkSession, optional
        The session to use; the kit's shared one (``get_spark()``) when omitted.
    """

    def __init__(self, workspace: Workspace | None = None, *,
                 spark: "SparkSession | None" = None) -> None:
        super().__init__(workspace)
        self._spark = spark

    @property
    def spark(self) -> "SparkSession":
        if self._spark is None:
            from mlops_kit.spark import get_spark

            self._spark = get_spark()
        return self._spark

    def to_spark(self, data: Any) -> "DataFrame":
        """A Spark frame as is; pandas through Arrow with :func:`spark_schema`."""
        from pyspark.sql import DataFrame

        if isinstance(data, DataFrame):
            return data
        if isinstance(data, pd.DataFrame):
            return self.spark.createDataFrame(data, schema=spark_schema(data))
        raise DataError(f"Expected a Spark or pandas DataFrame. Got {type(data).__name__} instead.")

    # ------------------------------------------------------------------ read
    def read(self, name_or_path: Any, version: int | None = None, *,
             timestamp: str | datetime | pd.Timestamp | None = None) -> "DataFrame":
        """The rows as a Spark frame, optionally as they were (time travel).

        ``timestamp`` reads the latest version committed at or before that
        time (UTC when naive). Give at most one of ``version`` and ``timestamp``.
        """
        if version is not None and timestamp is not None:
            raise ConfigError(
                "read_table() travels by version OR by timestamp. Got both "
                f"version={version!r} and timestamp={timestamp!r}: pass one."
            )
        path = self.path(name_or_path)
        if not self.exists(path):
            raise not_found(name_or_path, path)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        if timestamp is not None:
            reader = reader.option("timestampAsOf", _timestamp_text(timestamp))
        if version is None and timestamp is None:
            return reader.load(path)
        try:
            df = reader.load(path)
            df.schema  # noqa: B018 - over Spark Connect, load is lazy: resolve the version now
            return df
        except Exception as err:
            asked = f"version {version}" if version is not None else f"timestamp {timestamp}"
            raise NotFoundError(
                f"{no_such_version(name_or_path, asked, self.version(path))} "
                f"({str(err).splitlines()[0]})"
            ) from None

    def read_stream(self, name_or_path: Any, *, max_files_per_trigger: int | None = None) -> "DataFrame":
        """The table as a streaming source (new commits become new rows)."""
        reader = self.spark.readStream.format("delta")
        if max_files_per_trigger:
            reader = reader.option("maxFilesPerTrigger", int(max_files_per_trigger))
        return reader.load(self.path(name_or_path))

    def start_stream(self, stream: "DataFrame", name_or_path: Any, *, checkpoint: str | os.PathLike[str],
                     query_name: str | None = None, **trigger: Any) -> "StreamingQuery":
        """Start writing ``stream`` into the table (appends, exactly once via ``checkpoint``).

        ``trigger`` is passed to ``DataStreamWriter.trigger`` (``availableNow=True``,
        ``processingTime="5 seconds"``).
        """
        writer = (stream.writeStream.format("delta").outputMode("append")
                  .option("checkpointLocation", str(checkpoint)))
        if query_name:
            writer = writer.queryName(query_name)
        if trigger:
            writer = writer.trigger(**trigger)
        return writer.start(self.path(name_or_path))

    # ----------------------------------------------------------------- write
    def write(self, name_or_path: Any, data: Any, mode: str = "append", *,
              merge_schema: bool = False, overwrite_schema: bool = False,
              partition_by: Sequence[str] | None = None) -> int:
        """Append or overwrite; a schema that does not fit is a SchemaMismatchError."""
        check_mode(mode)
        df = self.to_spark(data)
        path = self.path(name_or_path)
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
            if not (_is_schema_error(err) and self.exists(path)):
                raise
            table_schema = df.sparkSession.read.format("delta").load(path).schema
            if not any(_schema_diff(table_schema, df.schema).values()):
                raise  # the columns match: some other failure, keep Spark's own error
            raise _mismatch(name_or_path, mode, table_schema, df.schema,
                            self.version(path)) from None
        return self.version(path)

    def append(self, name_or_path: Any, data: Any, *, merge_schema: bool = False) -> int:
        return self.write(name_or_path, data, "append", merge_schema=merge_schema)

    def overwrite(self, name_or_path: Any, data: Any, *, overwrite_schema: bool = False,
                  partition_by: Sequence[str] | None = None) -> int:
        return self.write(name_or_path, data, "overwrite", overwrite_schema=overwrite_schema,
                          partition_by=partition_by)

    def merge(self, name_or_path: Any, data: Any, keys: Sequence[str] | str) -> int:
        """Upsert ``data`` by ``keys`` with schema evolution (``MERGE INTO``).

        Matched rows are updated, new keys inserted, and columns the table
        does not have yet are added; columns the source lacks keep their values
        on updated rows. The source is a session-scoped temporary view with a
        unique name, dropped afterwards, so concurrent merges of one session do
        not see each other's rows. Schema evolution is Delta's session setting
        ``autoMerge``, on for this statement only (``MERGE WITH SCHEMA
        EVOLUTION`` does not parse with Spark 4.0 and Delta 4.0).
        """
        source = self.to_spark(data)
        keys = check_keys(name_or_path, keys, source.columns)
        path = self.path(name_or_path)
        if not self.exists(path):
            raise not_found(name_or_path, path)
        session = self.spark
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
        return self.version(path)

    # -------------------------------------------------------------- metadata
    def history(self, name_or_path: Any, limit: int | None = None) -> pd.DataFrame:
        """``DESCRIBE HISTORY`` as pandas: ``timestamp`` is what ``read(timestamp=)`` compares."""
        path = self.path(name_or_path)
        if not self.exists(path):
            raise not_found(name_or_path, path)
        query = f"DESCRIBE HISTORY {sql_identifier(path)}"
        if limit:
            query += f" LIMIT {int(limit)}"
        raw = self.spark.sql(query).select(
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
            },
            columns=list(HISTORY_COLUMNS),
        )

    def last_commit(self, name_or_path: Any) -> Any:
        """The newest commit (a Row of ``DESCRIBE HISTORY``)."""
        return self.spark.sql(
            f"DESCRIBE HISTORY {sql_identifier(self.path(name_or_path))} LIMIT 1").first()

    def detail(self, name_or_path: Any) -> Any:
        """``DESCRIBE DETAIL`` (partition columns, files, size)."""
        return self.spark.sql(f"DESCRIBE DETAIL {sql_identifier(self.path(name_or_path))}").first()

    def optimize(self, name_or_path: Any,
                 zorder_by: Sequence[str] | None = None) -> dict[str, int]:
        """Compact (Z-ordered by ``zorder_by`` if given); the files removed and added."""
        query = f"OPTIMIZE {sql_identifier(self.path(name_or_path))}"
        if zorder_by:
            query += " ZORDER BY (" + ", ".join(f"`{c}`" for c in zorder_by) + ")"
        metrics = self.spark.sql(query).first()["metrics"]
        return {"files_removed": int(metrics["numFilesRemoved"]),
                "files_added": int(metrics["numFilesAdded"])}

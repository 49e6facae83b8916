"""FeatureStoreClient: feature tables on Delta, with the managed client's shape.

The methods and arguments follow the Databricks feature engineering client, so
course code reads the same on a laptop and on a managed platform::

    fs = FeatureStoreClient()
    fs.create_table("listing_features", primary_keys="listing_id", df=features_df)
    fs.write_table("listing_features", new_rows_df, mode="merge")
    training_set = fs.create_training_set(labels_df, [FeatureLookup(...)], label="price")
    fs.log_model(model, "model", mlflow.sklearn, training_set, registered_model_name=...)
    fs.score_batch("models:/...@champion", keys_df)
    fs.publish_table("listing_features")
    fs.get_online_features("listing_features", 42)

Table data is a Delta table at ``workspace.table_path(name)`` (versioned, time
travel with ``as_of_version``), read and written through the Spark side of
:mod:`mlops_kit.tables`; what Delta does not know lives in
:mod:`mlops_kit.features.metadata`. Every write is validated first (keys
present, not null, unique, same types) so a bad write fails with a clear
message and leaves the table at its version.
"""
from __future__ import annotations

import contextlib
import functools
import shutil
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit.exceptions import (
    ConfigError,
    DataError,
    NotFoundError,
    SchemaMismatchError,
    WriteConflictError,
)
from mlops_kit.features import online as online_stores
from mlops_kit.features.lookup import join_lookups
from mlops_kit.features.metadata import FeatureTable, MetadataStore, utc_now
from mlops_kit.features.packaging import log_model, score_batch
from mlops_kit.features.types import FeatureLookup, TrainingSet, as_list
from mlops_kit.workspace import Workspace, check_name, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from mlops_kit.tables.spark_side import SparkTables

__all__ = ["FeatureStoreClient"]

#: attempts of one write when another writer committed first (Delta's optimistic concurrency)
WRITE_ATTEMPTS = 5


#: Delta's error classes for "another writer committed first" (Spark 4 error conditions)
_CONFLICT_CONDITIONS = ("DELTA_CONCURRENT_", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")
_CONFLICT_CLASSES = ("ConcurrentAppendException", "ConcurrentDeleteDeleteException",
                     "ConcurrentDeleteReadException", "ConcurrentTransactionException",
                     "ConcurrentWriteException", "MetadataChangedException",
                     "ProtocolChangedException")


def is_write_conflict(err: BaseException) -> bool:
    """Whether ``err`` is Delta's optimistic-concurrency conflict, on either engine.

    A JVM in this process raises Delta's own Python classes; over Spark Connect
    the same conflict arrives as a generic Spark error that carries Delta's
    error condition, so both the class name and the condition are checked.
    """
    condition = ""
    with contextlib.suppress(Exception):
        condition = (err.getCondition() if hasattr(err, "getCondition")  # type: ignore[attr-defined]
                     else err.getErrorClass()) or ""  # type: ignore[attr-defined]
    return (type(err).__name__ in _CONFLICT_CLASSES
            or condition.startswith(_CONFLICT_CONDITIONS)
            or any(name in str(err).split("\n", 1)[0] for name in _CONFLICT_CLASSES))


def _with_conflict_retry(commit: Any, name: str, attempts: int = WRITE_ATTEMPTS) -> None:
    """Run ``commit``; on a Delta write conflict wait a little and run it again.

    Two writers of one table both read version N; the second to commit finds
    N+1 there and Delta raises a ``Concurrent*Exception`` instead of
    overwriting it. A MERGE is idempotent for the same source rows, so
    re-running it against the new version loses nothing. After ``attempts``
    conflicts the write is reported, never dropped.
    """
    import random
    import time

    import delta.exceptions.captured  # noqa: F401 - a local JVM's conflicts become Delta's classes

    for attempt in range(1, attempts + 1):
        try:
            commit()
            return
        except Exception as err:
            if not is_write_conflict(err):
                raise
            if attempt == attempts:
                raise WriteConflictError(
                    f"The write to {name!r} conflicted with other writers {attempts} times "
                    f"({type(err).__name__}); nothing of it was committed. Retry the write, "
                    "or write to this table from one job at a time."
                ) from err
            time.sleep(random.uniform(0.05, 0.2) * 2 ** attempt)


class FeatureStoreClient:
    """Create, write, read, look up, publish and serve feature tables.

    Parameters
    ----------
    workspace : Workspace, optional
        Whose tables; the active workspace by default.
    spark : SparkSession, optional
        The session for table work; :func:`mlops_kit.get_spark` by default.
        Online lookups never start one.
    """

    def __init__(self, workspace: Workspace | None = None, *, spark: "SparkSession | None" = None) -> None:
        self._workspace = workspace
        self._spark = spark
        self._online: dict[str, online_stores.OnlineStore] = {}

    # --------------------------------------------------------------- plumbing
    @property
    def workspace(self) -> Workspace:
        return self._workspace or get_workspace()

    @property
    def spark(self) -> "SparkSession":
        if self._spark is None:
            from mlops_kit.spark import get_spark

            self._spark = get_spark(self.workspace)
        return self._spark

    @property
    def tables(self) -> "SparkTables":
        """The Spark side of table access, on this client's session and workspace."""
        from mlops_kit.tables.spark_side import SparkTables

        return SparkTables(self.workspace, spark=self.spark)

    @property
    def metadata(self) -> MetadataStore:
        return MetadataStore(self.workspace)

    def _path(self, name: str) -> str:
        return str(self.workspace.table_path(name))

    def _spark_df(self, df: Any) -> "DataFrame":
        from pyspark.sql import DataFrame

        if isinstance(df, DataFrame):
            return df
        if hasattr(df, "columns") and hasattr(df, "dtypes"):  # pandas
            return self.spark.createDataFrame(df)
        raise DataError(
            f"Expected a Spark or pandas DataFrame. Got {type(df).__name__} instead."
        )

    # ------------------------------------------------------------- validation
    def _validate(self, name: str, df: "DataFrame", keys: list[str], ts_col: str | None) -> None:
        """Keys present, not null, unique; the timeseries column a time. One Spark job."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

        row_keys = keys + ([ts_col] if ts_col else [])
        missing = [k for k in row_keys if k not in df.columns]
        if missing:
            raise DataError(
                f"The DataFrame written to {name!r} lacks the key column(s) {missing}. "
                f"Expected the keys {row_keys}; got the columns {df.columns}."
            )
        if ts_col and not isinstance(
            df.schema[ts_col].dataType, (TimestampType, TimestampNTZType, DateType)
        ):
            raise DataError(
                f"The timeseries column {ts_col!r} of {name!r} must be a timestamp or date. "
                f"Got {df.schema[ts_col].dataType.simpleString()}; convert it with "
                f"F.to_timestamp({ts_col!r})."
            )
        any_null = F.lit(False)
        for k in row_keys:
            any_null = any_null | F.col(k).isNull()
        stats = (
            df.groupBy(*row_keys)
            .count()
            .agg(
                F.max("count").alias("most"),
                F.sum(F.when(any_null, F.col("count")).otherwise(0)).alias("nulls"),
            )
            .first()
        )
        if stats is None or stats["most"] is None:
            return  # no rows
        if stats["nulls"]:
            raise DataError(
                f"{stats['nulls']} row(s) written to {name!r} have a null in the key "
                f"{row_keys}. Every row needs a key; filter them out with "
                f"df.dropna(subset={row_keys})."
            )
        if stats["most"] > 1:
            dups = (
                df.groupBy(*row_keys).count().filter("count > 1").limit(3).collect()
            )
            examples = [tuple(r[k] for k in row_keys) for r in dups]
            raise DataError(
                f"The key {row_keys} is not unique in the DataFrame written to {name!r} "
                f"(up to {stats['most']} rows share one key, e.g. {examples}). Keep one row "
                f"per key, e.g. df.dropDuplicates({row_keys})."
            )

    def _check_types(self, table: FeatureTable, df: "DataFrame", current: "DataFrame") -> None:
        changed = []
        for column in df.columns:
            if column in current.columns:
                old, new = current.schema[column].dataType, df.schema[column].dataType
                if column in table.key_columns and old != new:
                    changed.append((column, old.simpleString(), new.simpleString()))
        if changed:
            what = ", ".join(f"{c}: {old} -> {new}" for c, old, new in changed)
            raise SchemaMismatchError(
                f"Writing to {table.name!r} would change the type of key column(s) ({what}). "
                "Keys keep their type; cast them back, e.g. "
                f"df.withColumn({changed[0][0]!r}, F.col({changed[0][0]!r}).cast({changed[0][1]!r}))."
            )

    def _refresh(self, table: FeatureTable) -> FeatureTable:
        columns = self.tables.read(table.path).columns
        table.features = [c for c in columns if c not in table.key_columns]
        table.updated_at = utc_now()
        return self.metadata.save(table)

    # ------------------------------------------------------------------ tables
    def create_table(
        self,
        name: str,
        primary_keys: str | Sequence[str],
        df: Any = None,
        *,
        schema: Any = None,
        timeseries_column: str | None = None,
        partition_columns: str | Sequence[str] | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> FeatureTable:
        """Create a feature table from ``df`` (or an empty one from ``schema``).

        Parameters
        ----------
        name : str
            Letters, digits and underscores.
        primary_keys : str or list of str
            What identifies an entity. With ``timeseries_column``, a row is
            identified by the keys plus that column.
        df : pyspark or pandas DataFrame, optional
            The first rows. Either ``df`` or ``schema`` is needed.
        schema : StructType or DDL str, optional
            For an empty table.
        timeseries_column : str, optional
            Event-time column (timestamp or date): makes lookups point-in-time.

        Raises
        ------
        DataError
            The table exists, or keys are missing, null or duplicated.
        """
        check_name("feature table", name)
        keys = as_list(primary_keys)
        if not keys:
            raise ConfigError(f"create_table({name!r}) needs primary_keys: the column(s) that identify a row.")
        if timeseries_column in keys:
            raise ConfigError(
                f"The timeseries column {timeseries_column!r} must not also be a primary key; "
                "it is added to the key automatically."
            )
        if self.metadata.exists(name):
            raise DataError(
                f"The feature table {name!r} exists already. Write to it with "
                f"write_table({name!r}, df), or drop it first with drop_table({name!r})."
            )
        if df is None and schema is None:
            raise ConfigError(f"create_table({name!r}) needs df=... or schema=... .")
        data = self._spark_df(df) if df is not None else self.spark.createDataFrame([], schema)
        self._validate(name, data, keys, timeseries_column)
        path = self._path(name)
        shutil.rmtree(path, ignore_errors=True)  # leftovers of a table dropped by hand
        self.tables.overwrite(path, data, partition_by=as_list(partition_columns))
        table = FeatureTable(
            name=name,
            path=path,
            primary_keys=keys,
            timeseries_column=timeseries_column,
            partition_columns=as_list(partition_columns),
            features=[c for c in data.columns if c not in keys and c != timeseries_column],
            description=description,
            tags=dict(tags or {}),
        )
        return self.metadata.save(table)

    def write_table(self, name: str, df: Any, mode: str = "merge") -> FeatureTable:
        """Upsert (``merge``) or replace (``overwrite``) the rows of a feature table.

        ``merge`` is a Delta MERGE on the keys (plus the timeseries column):
        existing rows are updated, new keys inserted, and columns the table
        does not have yet become new features (schema evolution). Columns
        missing from ``df`` keep their values on updated rows.

        Raises
        ------
        DataError, SchemaMismatchError
            Keys missing, null, duplicated, or of another type; nothing is written.
        WriteConflictError
            Other writers kept committing first; retried :data:`WRITE_ATTEMPTS` times.
        """
        if mode not in ("merge", "overwrite"):
            raise ConfigError(f"write_table mode must be 'merge' or 'overwrite'. Got {mode!r} instead.")
        table = self.get_table(name)
        data = self._spark_df(df)
        tables = self.tables
        current = tables.read(table.path)
        self._validate(name, data, table.primary_keys, table.timeseries_column)
        self._check_types(table, data, current)
        if mode == "overwrite":
            def commit() -> None:
                tables.overwrite(table.path, data, overwrite_schema=True)
        else:
            def commit() -> None:
                tables.merge(table.path, data, table.key_columns)
        _with_conflict_retry(commit, name)
        return self._refresh(table)

    def read_table(self, name: str, as_of_version: int | None = None) -> "DataFrame":
        """The table's rows, now or as they were at Delta version ``as_of_version``."""
        table = self.get_table(name)
        if as_of_version is not None:
            latest = table.data_version
            if not isinstance(as_of_version, int) or not 0 <= as_of_version <= (latest or 0):
                raise NotFoundError(
                    f"The feature table {name!r} has versions 0 to {latest}. "
                    f"Got as_of_version={as_of_version!r}."
                )
        return self.tables.read(table.path, as_of_version)

    def get_table(self, name: str) -> FeatureTable:
        """Keys, features, description, tags, timestamps, version and lineage of a table."""
        return self.metadata.load(name)

    def list_tables(self) -> list[FeatureTable]:
        return self.metadata.all()

    def search_tables(self, tag: str | dict[str, str] | None = None, text: str | None = None) -> list[FeatureTable]:
        """Tables with a tag (``"team"``, ``"team=pricing"`` or a dict) and/or text in name/description."""
        wanted: dict[str, str | None]
        if tag is None:
            wanted = {}
        elif isinstance(tag, dict):
            wanted = dict(tag)
        else:
            key, sep, value = tag.partition("=")
            wanted = {key: value if sep else None}
        found = []
        for table in self.list_tables():
            if any(k not in table.tags or (v is not None and str(table.tags[k]) != v)
                   for k, v in wanted.items()):
                continue
            if text and text.lower() not in f"{table.name} {table.description or ''}".lower():
                continue
            found.append(table)
        return found

    def set_tags(self, name: str, tags: dict[str, str]) -> FeatureTable:
        table = self.get_table(name)
        table.tags.update(tags)
        table.updated_at = utc_now()
        return self.metadata.save(table)

    def drop_table(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete the table's data, metadata and published online copies."""
        if not self.metadata.exists(name):
            if missing_ok:
                shutil.rmtree(self._path(name), ignore_errors=True)
                return
            self.get_table(name)  # raises NotFoundError naming the known tables
        table = self.get_table(name)
        for spec in table.online_stores:
            try:
                online_stores.from_spec(spec).drop_table(name)
            except Exception:  # noqa: BLE001 - an unreachable store must not block the drop
                pass
        self._online.pop(name, None)
        shutil.rmtree(table.path, ignore_errors=True)
        self.metadata.delete(name)

    def record_lineage(self, name: str, entry: dict[str, Any]) -> FeatureTable:
        """Note that a run/model used table ``name`` (called by :meth:`log_model`)."""
        table = self.get_table(name)
        table.lineage.append({**entry, "logged_at": utc_now()})
        return self.metadata.save(table)

    # ----------------------------------------------------------- training sets
    def create_training_set(
        self,
        df: Any,
        feature_lookups: Sequence[FeatureLookup],
        label: str | Sequence[str] | None,
        exclude_columns: Sequence[str] | None = None,
    ) -> TrainingSet:
        """Label rows plus point-in-time features (see :mod:`mlops_kit.features.lookup`).

        The feature tables are pinned at their current Delta versions, so the
        training set loads the same rows later. Name clashes, unknown
        features and missing key columns are reported here, before any data
        is read.
        """
        data = self._spark_df(df)
        labels = as_list(label)
        missing = [c for c in labels if c not in data.columns]
        if missing:
            raise DataError(f"The label column(s) {missing} are not in the DataFrame {data.columns}.")
        lookups = list(feature_lookups)
        versions = {lk.table_name: self.get_table(lk.table_name).data_version for lk in lookups}
        joined = join_lookups(self, data, lookups, table_versions=versions)  # validates
        excluded = list(exclude_columns or [])
        unknown = [c for c in excluded if c not in joined.columns]
        if unknown:
            raise DataError(f"exclude_columns names unknown column(s) {unknown}; the columns are {joined.columns}.")
        return TrainingSet(
            df=data,
            feature_lookups=lookups,
            label=label if isinstance(label, str) or label is None else list(label),
            exclude_columns=excluded,
            table_versions=versions,
            feature_columns=[c for c in joined.columns if c not in data.columns],
            _load=functools.partial(join_lookups, self, data, lookups, table_versions=versions),
        )

    # ------------------------------------------------------------------ models
    def log_model(self, model: Any, artifact_path: str, flavor: Any, training_set: TrainingSet,
                  registered_model_name: str | None = None, **kwargs: Any):
        """Log ``model`` with its feature spec (see :func:`mlops_kit.features.packaging.log_model`)."""
        return log_model(self, model, artifact_path, flavor, training_set,
                         registered_model_name=registered_model_name, **kwargs)

    def score_batch(self, model_uri: str, df: Any, result_type: str = "double", **kwargs: Any) -> "DataFrame":
        """Score rows that hold only keys (see :func:`mlops_kit.features.packaging.score_batch`)."""
        return score_batch(self, model_uri, self._spark_df(df), result_type=result_type, **kwargs)

    # ------------------------------------------------------------------ online
    def publish_table(self, name: str, online_store: online_stores.OnlineStore | None = None) -> int:
        """Copy the latest row per key to the online store; return the row count.

        The default store is SQLite at ``workspace.online_store_path``. The
        store replaces its copy in one transaction: readers see the old rows
        or the new ones.
        """
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        from pyspark.sql.types import BinaryType, BooleanType, DecimalType, FractionalType, IntegralType

        table = self.get_table(name)
        store = online_store or online_stores.SqliteOnlineStore(self.workspace.online_store_path)
        data = self.read_table(name)
        if table.timeseries_column:
            latest = Window.partitionBy(*table.primary_keys).orderBy(F.col(table.timeseries_column).desc())
            data = data.withColumn("__fs_rank", F.row_number().over(latest)).filter("__fs_rank = 1").drop("__fs_rank")
        columns = []
        for field in data.schema.fields:
            kind = field.dataType
            if isinstance(kind, (IntegralType, BooleanType)):
                sql_type = "INTEGER"
            elif isinstance(kind, (FractionalType, DecimalType)):
                sql_type = "REAL"
            elif isinstance(kind, BinaryType):
                sql_type = "BLOB"
            else:
                sql_type = "TEXT"
            columns.append((field.name, sql_type))
        frame = data.toPandas()
        frame = frame.astype(object).where(frame.notna(), None)
        count = store.write_table(name, table.primary_keys, columns,
                                  frame.itertuples(index=False, name=None))
        spec = store.spec()
        if spec not in table.online_stores:
            table.online_stores.append(spec)
        table.updated_at = utc_now()
        self.metadata.save(table)
        self._online[name] = store
        return count

    def get_online_features(self, name: str, keys: Any, *, online_store: online_stores.OnlineStore | None = None):
        """Published features of one key (a dict, or ``None`` if unknown) or of a list of keys.

        ``keys`` is a scalar or tuple (one key; tuples for composite keys), a
        ``{column: value}`` dict, or a list of those (then a list comes back,
        ``None`` where a key is unknown). No Spark: one indexed read per key.
        """
        store = online_store or self._online.get(name) or self._open_online(name)
        if isinstance(keys, list):
            return store.get_many(name, keys)
        return store.get(name, keys)

    def _open_online(self, name: str) -> online_stores.OnlineStore:
        table = self.get_table(name)
        if not table.online_stores:
            raise NotFoundError(
                f"The feature table {name!r} has not been published. Run "
                f"FeatureStoreClient().publish_table({name!r}) first."
            )
        store = online_stores.from_spec(table.online_stores[-1])
        self._online[name] = store
        return store

    def close(self) -> None:
        """Close the online store connections this client opened."""
        for store in self._online.values():
            store.close()
        self._online.clear()

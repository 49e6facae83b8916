"""Delta Lake for the lessons: the function names notebooks call, on both sides of the door.

Each function is one call of :mod:`mlops_kit.tables`: the Spark side
(:class:`~mlops_kit.tables.spark_side.SparkTables`: ``write_table``,
``read_table``, ``history``, ``merge_into``, ``optimize``, ...) or the delta-rs
side (:class:`~mlops_kit.tables.delta_rs.DeltaRsTables`: ``table_exists``,
``table_version``, ``row_count``, ``file_count``, ``read_snapshot``,
``write_snapshot``; no JVM). A bare table name resolves through the active
workspace (``listings`` -> ``<root>/users/<user>/<env>/tables/listings``) by the
one rule of :func:`~mlops_kit.tables.resolve_path`, and the errors a learner
hits first are the kit's own, with the fix in the message:

- appending a frame whose columns differ from the table's raises
  :class:`~mlops_kit.exceptions.SchemaMismatchError` naming the columns, and
  the table keeps its version;
- reading a table that does not exist, or a version it never had, raises
  :class:`~mlops_kit.exceptions.NotFoundError`;
- a name that is not a table name (``Listings``, ``my-table``) raises
  :class:`~mlops_kit.exceptions.ConfigError`.

Runtime modules use :mod:`mlops_kit.tables` directly. This module imports the
Spark side, so the serving side never imports it.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from mlops_kit.tables.base import resolve_path
from mlops_kit.tables.delta_rs import DeltaRsTables
from mlops_kit.tables.spark_side import SparkTables, spark_schema, sql_identifier
from mlops_kit.workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "resolve_path",
    "spark_schema",
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

def _spark_side(spark: "SparkSession | None" = None,
                workspace: Workspace | None = None) -> SparkTables:
    return SparkTables(workspace, spark=spark)


# ------------------------------------------------------------- Spark side
def to_spark(pdf: pd.DataFrame, spark: "SparkSession | None" = None) -> "DataFrame":
    """Convert a pandas frame to Spark through Arrow with :func:`spark_schema`."""
    return _spark_side(spark).to_spark(pdf)


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
    """Write ``df`` to a Delta table through Spark and return the table's new version.

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
    return _spark_side(spark).write(name_or_path, df, mode, merge_schema=merge_schema,
                                    overwrite_schema=overwrite_schema, partition_by=partition_by)


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
    return _spark_side(spark).read(name_or_path, version, timestamp=timestamp)


def history(name_or_path: str | os.PathLike[str], limit: int | None = None, *,
            spark: "SparkSession | None" = None) -> pd.DataFrame:
    """The table's commits, newest first, as a pandas frame.

    Columns: ``version``, ``timestamp`` (UTC; what ``read_table(timestamp=...)``
    compares against), ``operation``, ``mode``, ``rows`` (rows written, when
    the operation reports it), ``files`` (files added), and ``metrics`` (all
    of Delta's ``operationMetrics``).
    """
    return _spark_side(spark).history(name_or_path, limit)


def merge_into(path: str | os.PathLike[str], source: "DataFrame", keys: list[str] | tuple[str, ...],
               *, spark: "SparkSession | None" = None) -> None:
    """Upsert ``source`` into the Delta table at ``path`` by ``keys``, with schema evolution."""
    _spark_side(spark).merge(path, source, keys)


def optimize(path: str | os.PathLike[str], zorder_by: list[str] | tuple[str, ...] | None = None,
             *, spark: "SparkSession | None" = None) -> dict[str, int]:
    """Compact the Delta table at ``path`` (Z-ordered by ``zorder_by`` if given)."""
    return _spark_side(spark).optimize(path, zorder_by)


def last_commit(path: str | os.PathLike[str], *, spark: "SparkSession | None" = None) -> Any:
    """The newest commit of the Delta table at ``path`` (a Row of ``DESCRIBE HISTORY``)."""
    return _spark_side(spark).last_commit(path)


def table_detail(path: str | os.PathLike[str], *, spark: "SparkSession | None" = None) -> Any:
    """``DESCRIBE DETAIL`` of the Delta table at ``path`` (partition columns, files, size)."""
    return _spark_side(spark).detail(path)


# ---------------------------------------------------------- delta-rs side
def table_exists(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether a Delta table (a ``_delta_log`` with commits) is at ``path`` or name."""
    return DeltaRsTables().exists(name_or_path)


def table_version(name_or_path: str | os.PathLike[str]) -> int:
    """The latest version of a table (0 after its first write)."""
    return DeltaRsTables().version(name_or_path)


def row_count(name_or_path: str | os.PathLike[str]) -> int:
    """Rows in the latest version, from the log's statistics (no scan, no JVM)."""
    return DeltaRsTables().row_count(name_or_path)


def file_count(name_or_path: str | os.PathLike[str]) -> int:
    """Data files in the latest version: the small-files problem, as a number."""
    return DeltaRsTables().file_count(name_or_path)


def read_snapshot(name_or_path: str | os.PathLike[str], *,
                  version: int | None = None) -> tuple[pd.DataFrame, int]:
    """Rows of one version of a table (the latest by default), and that version (no JVM)."""
    return DeltaRsTables().snapshot(name_or_path, version)


def write_snapshot(name_or_path: str | os.PathLike[str], frame: pd.DataFrame, *,
                   mode: Literal["overwrite", "append"] = "append") -> int:
    """Write a pandas frame with delta-rs (no JVM); returns the table's new version.

    ``overwrite`` replaces the rows and the schema with a new version (the
    old one stays readable by time travel); ``append`` adds rows.
    """
    tables = DeltaRsTables()
    if mode == "overwrite":
        return tables.overwrite(name_or_path, frame, overwrite_schema=True)
    if mode != "append":
        from mlops_kit.tables.base import check_mode

        check_mode(mode)
    return tables.append(name_or_path, frame)


def _delta_rs(name_or_path: str | os.PathLike[str]):
    """The delta-rs handle of a table's latest version (the lesson plots read its files)."""
    return DeltaRsTables()._open(name_or_path)

"""Delta tables: one door with two sides behind one small interface.

Every module of the kit that opens a Delta table comes through here::

    TableAccess (base)     read · append · overwrite · merge · version · history · exists
    ├── DeltaRsTables      delta-rs, pandas and Arrow, no JVM   (mlops_kit.tables.delta_rs)
    └── SparkTables        Spark frames, SQL on delta.`path`    (mlops_kit.tables.spark_side)

A table is a workspace table name (``listings``) or a location (a ``Path``, or
a string with a separator or scheme); :func:`resolve_path` is the one rule, so
a bad name is the same :class:`~mlops_kit.exceptions.ConfigError` on both sides
and a missing table the same :class:`~mlops_kit.exceptions.NotFoundError`.

The delta-rs side never imports pyspark: the serving endpoint and its inference
log use only it. Import the side you need from its module; this package imports
neither engine. ``mlops_kit.delta`` keeps the function names the lessons use.
"""
from mlops_kit.tables.base import HISTORY_COLUMNS, TableAccess, resolve_path

__all__ = ["HISTORY_COLUMNS", "TableAccess", "resolve_path"]

"""The SparkSession factory: Delta on, tuned for a laptop, one per process.

``get_spark()`` returns the process's session, starting it on first use
(about 7-10 s on a 2-core machine, so it is started once and reused).
Where it points comes from the workspace (``MLOPS_KIT_SPARK_MASTER``):

- ``local[*]`` (default): a JVM in this process with Delta's SQL extension
  and catalog, few shuffle partitions, UI and progress bars off, quiet logs;
- ``spark://host:7077``, ``yarn``, ...: a cluster, same settings;
- ``sc://host:15002``: a Spark Connect server (which must have Delta itself).

Any ``spark.*`` setting can be added with ``MLOPS_KIT_SPARK_CONF`` as
``key=value;key=value``, and ``MLOPS_KIT_LOG4J`` names another log4j2 file.

The local JVM writes its own output (start-up notices, log4j errors) to
``<workspace>/logs/spark-driver.log`` rather than into the notebook cell that
happens to be running: errors reach Python as exceptions anyway.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from mlops_kit._processes import log_tail
from mlops_kit.exceptions import ConfigError, EnvironmentProblem
from mlops_kit.java import ensure_delta_jars, find_java
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["get_spark", "stop_spark", "spark_conf", "last_startup_seconds"]

_startup_seconds: float | None = None


def spark_conf(workspace: Workspace) -> dict[str, str]:
    """The settings the kit applies to a classic (non-Connect) session.

    Small-machine choices: 2 shuffle partitions instead of 200, 2 file-listing
    tasks instead of 10000 (VACUUM), and Delta snapshot reconstruction on 2
    partitions instead of 50, since on two cores every extra task is pure
    scheduling overhead; a local JVM compiles with C1 only (quick start),
    plans without adaptive execution (no per-query re-planning) and caches
    tables uncompressed (cheaper scans).
    """
    log4j = os.environ.get("MLOPS_KIT_LOG4J") or (
        resources.files("mlops_kit") / "resources" / "log4j2.properties")
    java_opts = f"-Dlog4j2.configurationFile=file:{log4j}"
    if workspace.spark_master.startswith("local") and not os.environ.get("MLOPS_KIT_SPARK_FULL_JIT"):
        # Lessons run short jobs on small data in a fresh JVM: the optimising (C2)
        # compiler spends its CPU on code that finishes before it pays back. C1
        # only made a start + Delta round trip 20-30 % faster here (25 s -> 20 s).
        # Benchmarks and long local runs set MLOPS_KIT_SPARK_FULL_JIT=1.
        java_opts = f"-XX:TieredStopAtLevel=1 {java_opts}"
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": os.environ.get("MLOPS_KIT_SHUFFLE_PARTITIONS", "2"),
        "spark.default.parallelism": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
        # VACUUM lists files with one task per this many (default 10000): 40-80 s
        # on two cores for a tiny table, 2 s with 2.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
        "spark.ui.enabled": "true" if os.environ.get("MLOPS_KIT_SPARK_UI") else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.memory": os.environ.get("MLOPS_KIT_DRIVER_MEMORY", "2g"),
        "spark.driver.extraJavaOptions": java_opts,
        "spark.executor.extraJavaOptions": java_opts,
        "spark.sql.warehouse.dir": str(workspace.root / "spark-warehouse"),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    if workspace.spark_master.startswith("local"):
        # Adaptive execution re-plans around shuffles from their real sizes: worth it
        # on a cluster, but locally every query pays its planning (tiny query 44 ms
        # -> 23 ms without it, a 1M-row compiled batch scoring 101 ms -> 88 ms) and
        # two shuffle partitions leave it nothing to coalesce. Clusters keep it.
        conf["spark.sql.adaptive.enabled"] = "false"
        # Cached tables are kept uncompressed: lessons cache small frames, so the
        # memory saved is small, while every scan of a compressed cache decodes it
        # again (a 1M x 8 doubles scan: 67 ms -> 42 ms uncompressed).
        conf["spark.sql.inMemoryColumnarStorage.compressed"] = "false"
    for item in filter(None, os.environ.get("MLOPS_KIT_SPARK_CONF", "").split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise ConfigError(
                "MLOPS_KIT_SPARK_CONF must be 'spark.key=value;spark.key2=value2'. "
                f"Got the item {item!r} instead."
            )
        conf[key.strip()] = value.strip()
    return conf


def driver_log_path(workspace: Workspace) -> Path:
    """Where the local Spark JVM's stdout and stderr go (see the module docstring)."""
    return workspace.root / "logs" / "spark-driver.log"


@contextlib.contextmanager
def _child_output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``path`` while a child process is started.

    PySpark starts the JVM with this process's stdout and stderr; in a notebook
    kernel those descriptors are captured into the cell's output (start-up
    notices, log4j errors, VACUUM's "Deleted N files" on stdout). A child keeps
    the descriptors it was given, so swapping them only for the start sends the
    JVM's whole life to the log file and leaves Python's own output untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with open(path, "ab") as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
        yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def _classic_session(workspace: Workspace, app_name: str) -> "SparkSession":
    from pyspark.sql import SparkSession

    find_java()
    # Workers must run the same interpreter, or spark_udf cannot import pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(workspace.spark_master).appName(app_name)
    for key, value in spark_conf(workspace).items():
        builder = builder.config(key, value)
    jars = ensure_delta_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    else:  # no Maven: let Spark's resolver download the artifact once
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    log = driver_log_path(workspace)
    try:
        with _child_output_to(log):
            return builder.getOrCreate()
    except Exception as err:  # the JVM failed to start: say why in a few lines
        first_line = (str(err).splitlines() or [""])[0]
        raise EnvironmentProblem(
            f"Spark did not start ({type(err).__name__}: {first_line}). "
            "Run `mlops-kit doctor` to see which part is missing. "
            f"Last lines of {log}:\n{log_tail(log, 5)}"
        ) from err


def get_spark(workspace: Workspace | None = None, *, app_name: str = "mlops-kit") -> "SparkSession":
    """Return this process's SparkSession, starting it with Delta on first use.

    Parameters
    ----------
    workspace : Workspace, optional
        Where the session points; the active workspace by default.
    app_name : str
        Name shown in the Spark UI and logs.
    """
    global _startup_seconds
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    workspace = workspace or get_workspace()
    started = time.perf_counter()
    if workspace.spark_master.startswith("sc://"):
        session = SparkSession.builder.remote(workspace.spark_master).getOrCreate()
    else:
        session = _classic_session(workspace, app_name)
        session.sparkContext.setLogLevel("ERROR")
    _startup_seconds = time.perf_counter() - started
    return session


def last_startup_seconds() -> float | None:
    """How long the last :func:`get_spark` start took (``None`` if reused)."""
    return _startup_seconds


def stop_spark() -> None:
    """Stop the session if one is running (tests and CLI commands call this)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()

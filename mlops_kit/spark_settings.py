"""The Spark settings the kit applies to the JVMs it starts.

One function, shared by the in-process session (:mod:`mlops_kit.spark`) and
the Spark Connect server (:mod:`mlops_kit.spark_server`), so both engines run
with the same small-machine choices and neither module imports the other.
"""
from __future__ import annotations

import os
from importlib import resources

from mlops_kit.exceptions import ConfigError
from mlops_kit.workspace import Workspace

__all__ = ["spark_conf", "SERVER_MEMORY_OPTS"]

#: JVM options that keep the long-lived server's resident memory near what it uses.
#: The optimising compiler's work areas and the server's threads' buffers are malloc'ed
#: and freed, but glibc keeps freed memory in its per-thread arenas: the server's RSS
#: rose to 5 GB for moments with a 2 GB heap. Every 5 s the JVM hands free native
#: memory back (TrimNativeHeapInterval), C2 gives up on a method whose graph passes
#: 40,000 nodes instead of 80,000 (the method keeps C1's code), and an idle server's
#: heap is collected every
#: 20 s and shrunk to at most 30 % free (G1PeriodicGCInterval, MaxHeapFreeRatio):
#: docs/PERFORMANCE.md, "Within 4 GB".
SERVER_MEMORY_OPTS = ("-XX:TrimNativeHeapInterval=5000 -XX:MaxNodeLimit=40000 "
                      "-XX:NodeLimitFudgeFactor=1000 -XX:G1PeriodicGCInterval=20000 "
                      "-XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30")


def spark_conf(workspace: Workspace, *, long_lived: bool = False) -> dict[str, str]:
    """The settings the kit applies to a JVM it starts (a classic session or the server).

    Small-machine choices: 2 shuffle partitions instead of 200, 2 file-listing
    tasks instead of 10000 (VACUUM), and Delta snapshot reconstruction on 1
    partition locally (2 on a cluster) instead of 50, since on two cores every extra task is pure
    scheduling overhead; a local JVM compiles with C1 only (quick start)
    unless it is ``long_lived`` (the shared Spark Connect server), plans
    without adaptive execution (no per-query re-planning) and caches tables
    uncompressed (cheaper scans).
    """
    log4j = os.environ.get("MLOPS_KIT_LOG4J") or (
        resources.files("mlops_kit") / "resources" / "log4j2.properties")
    java_opts = f"-Dlog4j2.configurationFile=file:{log4j}"
    asked = os.environ.get("MLOPS_KIT_SPARK_FULL_JIT", "")
    full_jit = asked not in ("", "0") or (long_lived and asked != "0")
    if workspace.spark_master.startswith("local") and not full_jit:
        # Lessons run short jobs on small data in a fresh JVM: the optimising (C2)
        # compiler spends its CPU on code that finishes before it pays back. C1
        # only made a start + Delta round trip 20-30 % faster here (25 s -> 20 s).
        # Benchmarks and long local runs set MLOPS_KIT_SPARK_FULL_JIT=1. The shared
        # server lives through the whole course, so C2 pays back there: the course
        # took 447 s against 485 s with a C1-only server, but C2's compilations
        # raise the server's peak resident memory for moments (up to 5 GB against
        # 2 GB; docs/PERFORMANCE.md). MLOPS_KIT_SPARK_FULL_JIT=0 keeps it on C1.
        java_opts = f"-XX:TieredStopAtLevel=1 {java_opts}"
    if long_lived and workspace.spark_master.startswith("local"):
        java_opts = f"{SERVER_MEMORY_OPTS} {java_opts}"
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": os.environ.get("MLOPS_KIT_SHUFFLE_PARTITIONS", "2"),
        "spark.default.parallelism": "2",
        "spark.databricks.delta.snapshotPartitions": "2",  # one locally, below
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
        "spark.sql.warehouse.dir": str(workspace.warehouse_dir),
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
        # A Delta table's state (its log replayed) on one task: the course's tables
        # have logs of tens of commits, where a second task only adds scheduling.
        # The first Spark cell of a kernel (a small Delta write and read on the
        # warm shared server) took 1.76 s instead of 2.02 s (median of 5,
        # benchmarks/spark_start.py).
        conf["spark.databricks.delta.snapshotPartitions"] = "1"
    for item in filter(None, os.environ.get("MLOPS_KIT_SPARK_CONF", "").split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise ConfigError(
                "MLOPS_KIT_SPARK_CONF must be 'spark.key=value;spark.key2=value2'. "
                f"Got the item {item!r} instead."
            )
        conf[key.strip()] = value.strip()
    return conf

"""Every benchmark runs on both engines: no JVM-only call, and the Spark ones run over Connect.

Spark Connect clients have no JVM in their process: ``spark.sparkContext``,
``df.rdd``, py4j handles (``_jvm``, ``_jsc``, ``_jdf``) and Delta's Python
``DeltaTable`` raise there. A static check reads every script in
``benchmarks/``; the Spark benchmarks then run their cheapest configuration on
the suite's engine (Connect by default, a local JVM in the ``both_engines`` pass).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((REPO / "benchmarks").glob("*.py"))

#: attributes that exist only on a session or DataFrame with a JVM in this process
JVM_ONLY_ATTRIBUTES = {"sparkContext", "rdd", "_jvm", "_jsc", "_jdf", "_jsparkSession", "_jconf"}
#: modules whose API needs that JVM (``delta.tables.DeltaTable``; delta-rs's ``deltalake`` is fine)
JVM_ONLY_MODULES = ("pyspark.context", "pyspark.rdd", "pyspark.sql.classic", "delta.tables")
JVM_ONLY_NAMES = {("pyspark", "SparkContext"), ("pyspark", "RDD"), ("delta", "DeltaTable")}


def jvm_only_calls(source: str) -> list[str]:
    """``line: what`` for every JVM-only attribute or import in Python ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in JVM_ONLY_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith(JVM_ONLY_MODULES)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(JVM_ONLY_MODULES):
                found.append(f"{node.lineno}: from {node.module} import ...")
            found += [f"{node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if (node.module, a.name) in JVM_ONLY_NAMES]
    return found


def test_the_check_finds_what_fails_over_spark_connect() -> None:
    source = (
        "from pyspark import SparkContext\n"
        "from delta.tables import DeltaTable\n"
        "n = spark.sparkContext.defaultParallelism\n"
        "spark.sparkContext._jvm.System.gc()\n"
        "df.rdd.getNumPartitions()\n"
        "from deltalake import DeltaTable as RustTable\n"
        "spark.sql('SELECT 1').collect()\n"
    )
    assert sorted(jvm_only_calls(source)) == sorted([
        "1: from pyspark import SparkContext", "2: from delta.tables import ...",
        "3: .sparkContext", "4: .sparkContext", "4: ._jvm", "5: .rdd"])


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_no_benchmark_calls_what_spark_connect_lacks(script: Path) -> None:
    assert jvm_only_calls(script.read_text()) == [], (
        f"{script.name} uses JVM-only Spark calls, which fail over Spark Connect "
        "(ask in SQL instead, e.g. spark_partition_id() for the parallelism)")


@pytest.fixture
def benchmarks_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    yield
    for name in ("batch", "online_lookup"):
        sys.modules.pop(name, None)


@pytest.mark.spark
@pytest.mark.both_engines
def test_the_batch_benchmark_runs_on_the_suite_engine(spark, benchmarks_importable, capsys) -> None:
    import batch

    from mlops_kit.spark import get_spark, is_connect

    from conftest import TEST_SPARK_ENGINE  # read at start-up: each test's environment is reset

    connect = TEST_SPARK_ENGINE == "connect"

    ratios = batch.main(["--rows", "2000", "--repeats", "1", "--models", "ridge",
                         "--paths", "pandas,auto"])
    out = capsys.readouterr().out
    assert is_connect(get_spark()) == connect
    assert ("engine=Spark Connect server" in out) == connect
    assert "cores=" in out and "ridge_pipeline: pandas cold" in out
    (label, ratio), = ratios.items()
    assert "score_dataframe (sql)" in label and ratio > 0


@pytest.mark.spark
@pytest.mark.both_engines
def test_the_online_lookup_benchmark_runs_on_the_suite_engine(spark, benchmarks_importable,
                                                               capsys) -> None:
    import online_lookup

    online_lookup.main(["--keys", "50", "--lookups", "200"])
    out = capsys.readouterr().out
    assert "published 50 keys x 20 features" in out
    assert "ratio (p50 kit / p50 plain sqlite3)" in out

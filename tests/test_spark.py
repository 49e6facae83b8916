"""The Spark session factory: one session, Delta on, settings from the environment."""
from __future__ import annotations

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.spark import get_spark, spark_conf
from mlops_kit.workspace import Workspace

# Only the tests that use Spark run again on a local JVM (both_engines): the others
# never start one, so the engine cannot change what they check.


def test_extra_settings_come_from_mlops_kit_spark_conf(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_KIT_SPARK_CONF",
                       "spark.sql.shuffle.partitions=8; spark.executor.memory = 1g")
    conf = spark_conf(Workspace(root=tmp_path, user="t"))
    assert conf["spark.sql.shuffle.partitions"] == "8"
    assert conf["spark.executor.memory"] == "1g"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"


@pytest.mark.parametrize("bad", ["spark.sql.shuffle.partitions", "memory=2g"])
def test_malformed_spark_conf_says_the_expected_form(bad, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_KIT_SPARK_CONF", bad)
    with pytest.raises(ConfigError, match=f"spark.key=value.*Got the item '{bad}'"):
        spark_conf(Workspace(root=tmp_path, user="t"))


def test_defaults_are_tuned_for_a_small_machine(tmp_path) -> None:
    conf = spark_conf(Workspace(root=tmp_path, user="t"))
    assert conf["spark.sql.shuffle.partitions"] == "2"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.driver.extraJavaOptions"].startswith("-XX:TieredStopAtLevel=1 ")
    assert conf["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark.sql.inMemoryColumnarStorage.compressed"] == "false"
    assert conf["spark.databricks.delta.snapshotPartitions"] == "1"


def test_clusters_keep_adaptive_execution_and_settings_can_turn_it_back_on(tmp_path, monkeypatch) -> None:
    cluster = Workspace(root=tmp_path, user="t", spark_master="spark://head:7077")
    assert "spark.sql.adaptive.enabled" not in spark_conf(cluster)
    assert "spark.sql.inMemoryColumnarStorage.compressed" not in spark_conf(cluster)
    assert spark_conf(cluster)["spark.databricks.delta.snapshotPartitions"] == "2"
    monkeypatch.setenv("MLOPS_KIT_SPARK_CONF", "spark.sql.adaptive.enabled=true")
    assert spark_conf(Workspace(root=tmp_path, user="t"))["spark.sql.adaptive.enabled"] == "true"


def test_full_jit_for_clusters_and_when_asked(tmp_path, monkeypatch) -> None:
    cluster = Workspace(root=tmp_path, user="t", spark_master="spark://head:7077")
    assert "TieredStopAtLevel" not in spark_conf(cluster)["spark.driver.extraJavaOptions"]
    monkeypatch.setenv("MLOPS_KIT_SPARK_FULL_JIT", "1")
    local = Workspace(root=tmp_path, user="t")
    assert "TieredStopAtLevel" not in spark_conf(local)["spark.executor.extraJavaOptions"]


@pytest.mark.spark
@pytest.mark.both_engines
def test_session_is_reused_and_has_delta(spark) -> None:
    assert get_spark() is spark
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"


def test_child_output_goes_to_the_log_and_python_keeps_its_own(tmp_path, capfd) -> None:
    """What the JVM prints lands in the driver log; this process's outputs are restored."""
    import subprocess

    from mlops_kit.spark import _child_output_to

    log = tmp_path / "logs" / "driver.log"
    with _child_output_to(log):
        subprocess.run(["sh", "-c", "echo 'child err' >&2; echo 'child out'"], check=True)
    subprocess.run(["sh", "-c", "echo 'after err' >&2; echo 'after out'"], check=True)
    assert log.read_text() == "child err\nchild out\n"
    captured = capfd.readouterr()
    assert "after out" in captured.out and "after err" in captured.err
    assert "child" not in captured.out + captured.err


def test_the_long_lived_server_compiles_fully_unless_told_not_to(tmp_path, monkeypatch) -> None:
    local = Workspace(root=tmp_path, user="t")
    assert "TieredStopAtLevel" not in spark_conf(local, long_lived=True)["spark.driver.extraJavaOptions"]
    monkeypatch.setenv("MLOPS_KIT_SPARK_FULL_JIT", "0")  # a laptop short of memory
    assert "TieredStopAtLevel=1" in spark_conf(local, long_lived=True)["spark.driver.extraJavaOptions"]
    assert "TieredStopAtLevel=1" in spark_conf(local)["spark.driver.extraJavaOptions"]

"""The Spark session factory: one session, Delta on, settings from the environment."""
from __future__ import annotations

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.spark import get_spark, spark_conf
from mlops_kit.workspace import Workspace


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


@pytest.mark.spark
def test_session_is_reused_and_has_delta(spark) -> None:
    assert get_spark() is spark
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"


def test_child_stderr_goes_to_the_log_and_python_keeps_its_own(tmp_path, capfd) -> None:
    """What the JVM prints lands in the driver log; this process's stderr is restored."""
    import subprocess

    from mlops_kit.spark import _child_stderr_to

    log = tmp_path / "logs" / "driver.log"
    with _child_stderr_to(log):
        subprocess.run(["sh", "-c", "echo 'from the child' >&2"], check=True)
    subprocess.run(["sh", "-c", "echo 'after the start' >&2"], check=True)
    assert log.read_text() == "from the child\n"
    assert "after the start" in capfd.readouterr().err

"""Files read by a query: the measure of data skipping before and after Z-ORDER."""
from __future__ import annotations

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.scans import ScanStats, files_read, measure_scan


def test_measure_scan_rejects_what_is_not_a_query():
    with pytest.raises(ConfigError, match="needs a Spark DataFrame"):
        measure_scan([1, 2, 3])


@pytest.mark.spark
def test_zorder_reduces_files_read_for_a_selective_query(workspace, spark):
    from pyspark.sql import functions as F

    path = str(workspace.table_path("scans"))
    frame = spark.range(4000).withColumn("k", (F.rand(seed=1) * 1000).cast("int"))
    frame.repartition(8).write.format("delta").save(path)

    def query():
        return spark.read.format("delta").load(path).where("k = 500")

    before = measure_scan(query())
    spark.conf.set("spark.databricks.delta.optimize.maxFileSize", str(8 * 1024))
    try:
        spark.sql(f"OPTIMIZE delta.`{path}` ZORDER BY (k)")
    finally:
        spark.conf.unset("spark.databricks.delta.optimize.maxFileSize")
    after = measure_scan(query())

    assert isinstance(before, ScanStats) and before.scans == 1
    assert before.files_read == 8  # random k: every file's min/max range holds 500
    assert 1 <= after.files_read < before.files_read
    assert after.rows == before.rows > 0
    assert after.bytes_read < before.bytes_read
    assert files_read(spark.read.format("delta").load(path)) > after.files_read
    assert "file(s) read" in str(after)

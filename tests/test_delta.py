"""Delta helpers against real Delta tables (Spark writes, Spark and delta-rs read)."""
from __future__ import annotations

import pandas as pd
import pytest

from mlops_kit import delta
from mlops_kit.exceptions import ConfigError, DataError, NotFoundError, SchemaMismatchError

# Only the tests that use Spark run again on a local JVM (both_engines): the others
# never start one, so the engine cannot change what they check.

V0 = pd.DataFrame({"id": [1, 2, 3], "city": ["SF", "LA", "NY"], "price": [100.0, 80.0, 120.0]})
V1 = pd.DataFrame({"id": [4, 5], "city": ["SEA", "SF"], "price": [90.0, 150.0]})


def rows(df) -> list[tuple]:
    """A Spark or pandas frame's rows, sorted, for order-free comparison."""
    pdf = df if isinstance(df, pd.DataFrame) else df.toPandas()
    return sorted(pdf[sorted(pdf.columns)].itertuples(index=False, name=None))


@pytest.fixture
def two_versions(spark, workspace) -> str:
    """A table with v0 = V0 and v1 = V1 (an overwrite); returns its bare name."""
    assert delta.write_table(V0, "prices", mode="overwrite") == 0
    assert delta.write_table(V1, "prices", mode="overwrite") == 1
    return "prices"


def test_bare_name_resolves_through_the_workspace(workspace, tmp_path):
    assert delta.resolve_path("listings") == str(workspace.table_path("listings"))
    assert delta.resolve_path(tmp_path / "x") == str(tmp_path / "x")
    assert delta.resolve_path("s3://bucket/t") == "s3://bucket/t"


def test_spark_schema_is_explicit_and_rejects_unknown_dtypes():
    pdf = pd.DataFrame({"i": [1], "f": [1.0], "b": [True], "s": ["x"],
                        "t": pd.to_datetime(["2024-01-01"])})
    schema = delta.spark_schema(pdf)
    assert [f.dataType.simpleString() for f in schema] == [
        "bigint", "double", "boolean", "string", "timestamp"]
    with pytest.raises(DataError, match="'d' has dtype timedelta"):
        delta.spark_schema(pd.DataFrame({"d": pd.to_timedelta([1], unit="s")}))


def test_read_rejects_version_and_timestamp_together(workspace):
    with pytest.raises(ConfigError, match="version OR by timestamp"):
        delta.read_table("prices", version=0, timestamp="2024-01-01")


def test_missing_table_is_not_found_and_names_the_fix(workspace):
    assert not delta.table_exists("prices")
    with pytest.raises(NotFoundError, match=r"no Delta table 'prices'.*install\(\)"):
        delta.read_table("prices")
    with pytest.raises(NotFoundError):
        delta.table_version("prices")


@pytest.mark.spark
@pytest.mark.both_engines
def test_overwrite_keeps_old_version_readable_by_version(two_versions):
    assert rows(delta.read_table(two_versions)) == rows(V1)
    assert rows(delta.read_table(two_versions, version=0)) == rows(V0)
    assert rows(delta.read_table(two_versions, version=1)) == rows(V1)


@pytest.mark.spark
@pytest.mark.both_engines
def test_time_travel_by_timestamp(two_versions):
    commits = delta.history(two_versions).set_index("version")["timestamp"]
    assert rows(delta.read_table(two_versions, timestamp=commits[0])) == rows(V0)
    assert rows(delta.read_table(two_versions, timestamp=commits[1])) == rows(V1)
    # a timezone-aware time is compared in UTC
    aware = pd.Timestamp(commits[0]).tz_localize("UTC").tz_convert("America/Los_Angeles")
    assert rows(delta.read_table(two_versions, timestamp=aware)) == rows(V0)


@pytest.mark.spark
@pytest.mark.both_engines
def test_time_travel_outside_the_log_is_not_found(two_versions):
    with pytest.raises(NotFoundError, match="no version 7: it has versions 0 to 1"):
        delta.read_table(two_versions, version=7)
    with pytest.raises(NotFoundError, match="no timestamp 2000-01-01"):
        delta.read_table(two_versions, timestamp="2000-01-01")


@pytest.mark.spark
@pytest.mark.both_engines
def test_history_shows_each_version_with_its_operation(two_versions):
    hist = delta.history(two_versions)
    assert hist["version"].tolist() == [1, 0]  # newest first, as DESCRIBE HISTORY
    assert hist["operation"].tolist() == ["WRITE", "WRITE"]
    assert hist["mode"].tolist() == ["Overwrite", "Overwrite"]
    assert hist["rows"].tolist() == [2, 3]
    assert hist["timestamp"].is_monotonic_decreasing
    assert hist.loc[0, "metrics"]["numOutputRows"] == "2"


@pytest.mark.spark
@pytest.mark.both_engines
def test_append_with_new_column_is_rejected_and_version_unchanged(two_versions):
    extra = V1.assign(rating=[4.5, 4.9])
    with pytest.raises(SchemaMismatchError,
                       match=r"new columns in the data: rating \(double\).*version 1.*merge_schema=True") as info:
        delta.write_table(extra, two_versions)
    assert info.value.differences["new_in_data"] == ["rating (double)"]
    assert delta.table_version(two_versions) == 1
    assert rows(delta.read_table(two_versions)) == rows(V1)


@pytest.mark.spark
@pytest.mark.both_engines
def test_append_with_changed_type_names_the_column(two_versions):
    wrong = V1.assign(price=["90", "150"])
    with pytest.raises(SchemaMismatchError, match="price: table double, data string.*cast"):
        delta.write_table(wrong, two_versions)
    assert delta.table_version(two_versions) == 1


@pytest.mark.spark
@pytest.mark.both_engines
def test_merge_schema_evolves_the_table(two_versions):
    extra = pd.DataFrame({"id": [6], "city": ["LA"], "price": [70.0], "rating": [4.2]})
    assert delta.write_table(extra, two_versions, merge_schema=True) == 2
    result = delta.read_table(two_versions).toPandas().set_index("id")
    assert "rating" in result.columns
    assert result.loc[6, "rating"] == 4.2
    assert result.loc[[4, 5], "rating"].isna().all()  # old rows: null in the new column
    assert delta.history(two_versions).loc[0, "mode"] == "Append"


@pytest.mark.spark
@pytest.mark.both_engines
def test_counts_come_from_the_log(two_versions):
    assert delta.table_exists(two_versions)
    assert delta.row_count(two_versions) == 2
    before = delta.file_count(two_versions)
    delta.write_table(V0, two_versions)  # an append adds files
    assert delta.file_count(two_versions) > before
    assert delta.row_count(two_versions) == 5


@pytest.mark.spark
@pytest.mark.both_engines
def test_tables_are_real_delta_readable_by_delta_rs(two_versions, workspace):
    from deltalake import DeltaTable

    table = DeltaTable(str(workspace.table_path(two_versions)))
    assert table.version() == 1
    assert rows(table.to_pandas()) == rows(delta.read_table(two_versions))
    table.load_as_version(0)
    assert rows(table.to_pandas()) == rows(delta.read_table(two_versions, version=0))
    latest = DeltaTable(str(workspace.table_path(two_versions)))
    rs_history = {h["version"]: h["operation"] for h in latest.history()}
    spark_history = delta.history(two_versions).set_index("version")["operation"].to_dict()
    assert rs_history == spark_history == {0: "WRITE", 1: "WRITE"}


@pytest.mark.spark
@pytest.mark.both_engines
def test_a_failing_write_keeps_its_own_error_and_commits_nothing(two_versions):
    """Only real schema differences become SchemaMismatchError, even if 'schema' is said."""
    from pyspark.sql import functions as F

    @F.udf("double")
    def implausible(price):
        raise ValueError("schema check: implausible price")

    bad = delta.read_table(two_versions).withColumn("price", implausible("price"))
    with pytest.raises(Exception, match="implausible price") as info:
        delta.write_table(bad, two_versions)
    assert not isinstance(info.value, SchemaMismatchError)
    assert delta.table_version(two_versions) == 1

"""Feature tables: create, MERGE, versions, validation, metadata, publishing."""
from __future__ import annotations

import datetime as dt

import pytest

from mlops_kit.exceptions import ConfigError, DataError, NotFoundError, SchemaMismatchError
from mlops_kit.features import FeatureStoreClient

pytestmark = [pytest.mark.spark, pytest.mark.both_engines]


@pytest.fixture
def fs(workspace, spark):
    client = FeatureStoreClient(workspace, spark=spark)
    yield client
    client.close()


@pytest.fixture
def table(fs, spark):
    df = spark.createDataFrame([(1, 10.0, "a"), (2, 20.0, "b")], "id long, x double, s string")
    fs.create_table("things", primary_keys="id", df=df, description="Test things",
                    tags={"team": "pricing"})
    return "things"


def rows(df, *cols):
    return sorted(tuple(r[c] for c in cols) for r in df.collect())


def test_create_records_keys_features_and_version(fs, table):
    info = fs.get_table(table)
    assert (info.primary_keys, info.features, info.data_version) == (["id"], ["x", "s"], 0)
    assert info.description == "Test things" and info.tags == {"team": "pricing"}
    assert info.path == str(fs.workspace.table_path(table))


def test_create_twice_is_refused(fs, table, spark):
    with pytest.raises(DataError, match="exists already"):
        fs.create_table(table, "id", df=spark.range(1))


def test_merge_updates_inserts_and_adds_new_features(fs, table, spark):
    update = spark.createDataFrame([(2, 21.0, 0.5), (3, 30.0, 1.5)], "id long, x double, y double")
    info = fs.write_table(table, update)
    assert info.features == ["x", "s", "y"] and info.data_version == 1
    got = rows(fs.read_table(table), "id", "x", "s", "y")
    assert got == [(1, 10.0, "a", None), (2, 21.0, "b", 0.5), (3, 30.0, None, 1.5)]


def test_as_of_version_reads_the_past(fs, table, spark):
    fs.write_table(table, spark.createDataFrame([(1, 99.0)], "id long, x double"))
    assert rows(fs.read_table(table, as_of_version=0), "id", "x") == [(1, 10.0), (2, 20.0)]
    assert rows(fs.read_table(table), "id", "x") == [(1, 99.0), (2, 20.0)]
    with pytest.raises(NotFoundError, match="versions 0 to 1"):
        fs.read_table(table, as_of_version=7)


@pytest.mark.parametrize(
    ("ddl", "data", "error", "match"),
    [
        ("x double", [(1.0,)], DataError, "lacks the key column"),
        ("id long, x double", [(1, 1.0), (1, 2.0)], DataError, "not unique"),
        ("id long, x double", [(None, 1.0)], DataError, "null in the key"),
        ("id string, x double", [("1", 1.0)], SchemaMismatchError, "id: bigint -> string"),
    ],
    ids=["no-key", "duplicate-keys", "null-key", "key-type-changed"],
)
def test_bad_writes_fail_clearly_and_leave_the_version(fs, table, spark, ddl, data, error, match):
    with pytest.raises(error, match=match):
        fs.write_table(table, spark.createDataFrame(data, ddl))
    assert fs.get_table(table).data_version == 0
    assert rows(fs.read_table(table), "id", "x") == [(1, 10.0), (2, 20.0)]


def test_overwrite_replaces_rows(fs, table, spark):
    fs.write_table(table, spark.createDataFrame([(5, 1.0)], "id long, x double"), mode="overwrite")
    assert rows(fs.read_table(table), "id", "x") == [(5, 1.0)]
    assert fs.get_table(table).features == ["x"]
    with pytest.raises(ConfigError, match="'merge' or 'overwrite'"):
        fs.write_table(table, spark.range(1), mode="append")


def test_timeseries_table_keys_include_the_time(fs, spark):
    t0 = dt.datetime(2024, 1, 1)
    df = spark.createDataFrame([(1, t0, 1.0), (1, t0 + dt.timedelta(days=1), 2.0)],
                               "id long, ts timestamp, v double")
    info = fs.create_table("ts_things", "id", df=df, timeseries_column="ts")
    assert info.key_columns == ["id", "ts"] and info.features == ["v"]
    fs.write_table("ts_things", spark.createDataFrame([(1, t0, 5.0)], "id long, ts timestamp, v double"))
    assert rows(fs.read_table("ts_things"), "v") == [(2.0,), (5.0,)]
    with pytest.raises(DataError, match="must be a timestamp"):
        fs.create_table("bad_ts", "id", df=spark.createDataFrame([(1, 3)], "id long, ts int"),
                        timeseries_column="ts")


def test_list_search_and_drop(fs, table, spark):
    fs.create_table("other", "id", df=spark.createDataFrame([(1, 1.0)], "id long, z double"),
                    tags={"team": "search"})
    assert [t.name for t in fs.list_tables()] == ["other", "things"]
    assert [t.name for t in fs.search_tables(tag="team=pricing")] == ["things"]
    assert [t.name for t in fs.search_tables(tag={"team": "search"})] == ["other"]
    assert [t.name for t in fs.search_tables(text="test things")] == ["things"]
    fs.drop_table("other")
    with pytest.raises(NotFoundError, match="Known tables: things"):
        fs.get_table("other")
    fs.drop_table("other", missing_ok=True)


def test_create_from_pandas_and_schema(fs):
    import pandas as pd

    info = fs.create_table("from_pandas", "id", df=pd.DataFrame({"id": [1, 2], "v": [0.1, 0.2]}))
    assert info.features == ["v"]
    empty = fs.create_table("empty", "id", schema="id long, v double")
    assert empty.features == ["v"] and fs.read_table("empty").count() == 0


def test_publish_and_online_lookup(fs, spark):
    t0 = dt.datetime(2024, 1, 1)
    df = spark.createDataFrame(
        [(1, t0, 1.0), (1, t0 + dt.timedelta(days=2), 2.0), (2, t0, None)],
        "id long, ts timestamp, v double",
    )
    fs.create_table("pub", "id", df=df, timeseries_column="ts")
    assert fs.publish_table("pub") == 2
    assert fs.get_online_features("pub", 1) == {"id": 1, "ts": "2024-01-03T00:00:00", "v": 2.0}
    assert fs.get_online_features("pub", [2, 3]) == [{"id": 2, "ts": "2024-01-01T00:00:00", "v": None}, None]
    assert fs.get_table("pub").online_stores == [{"type": "sqlite", "path": str(fs.workspace.online_store_path)}]
    fresh = FeatureStoreClient(fs.workspace)  # finds the store from the table's metadata
    assert fresh.get_online_features("pub", 1)["v"] == 2.0
    fresh.close()
    fs.drop_table("pub")
    from mlops_kit.features.online import SqliteOnlineStore

    assert "pub" not in SqliteOnlineStore(fs.workspace.online_store_path).tables()


def test_unpublished_table_names_the_fix(fs, table):
    with pytest.raises(NotFoundError, match="publish_table"):
        fs.get_online_features(table, 1)

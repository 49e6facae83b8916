"""Online stores: round trips, missing keys, republishing, the plugin registry. No Spark."""
from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError
from mlops_kit.features import online
from mlops_kit.features.online import OnlineStore, RedisOnlineStore, SqliteOnlineStore

COLUMNS = [("id", "INTEGER"), ("price", "REAL"), ("city", "TEXT"), ("seen", "TEXT")]


@pytest.fixture
def store(tmp_path):
    store = SqliteOnlineStore(tmp_path / "online.db")
    store.write_table("t", ["id"], COLUMNS, [
        (1, 10.5, "Oslo", dt.datetime(2024, 1, 2, 3, 4, 5)),
        (2, None, "Lima", None),
    ])
    yield store
    store.close()


def test_round_trip_returns_the_row_as_a_dict(store):
    assert store.get("t", 1) == {"id": 1, "price": 10.5, "city": "Oslo", "seen": "2024-01-02T03:04:05"}
    assert store.get("t", 2)["price"] is None


def test_missing_key_is_none_and_lists_keep_order(store):
    assert store.get("t", 99) is None
    assert [r and r["id"] for r in store.get_many("t", [2, 99, 1])] == [2, None, 1]


def test_unknown_table_names_the_fix(store):
    with pytest.raises(NotFoundError, match="publish_table"):
        store.get("nope", 1)


def test_composite_keys_by_tuple_or_dict(tmp_path):
    store = SqliteOnlineStore(tmp_path / "o.db")
    store.write_table("c", ["a", "b"], [("a", "TEXT"), ("b", "INTEGER"), ("x", "REAL")],
                      [("u", 1, 0.5), ("u", 2, 1.5)])
    assert store.get("c", ("u", 2))["x"] == 1.5
    assert store.get("c", {"b": 1, "a": "u"})["x"] == 0.5
    store.close()


def test_duplicate_keys_are_refused_and_the_old_copy_stays(store):
    with pytest.raises(ConfigError, match="not unique"):
        store.write_table("t", ["id"], COLUMNS, [(1, 1.0, "a", None), (1, 2.0, "b", None)])
    assert store.get("t", 1)["city"] == "Oslo"


def test_republish_with_new_columns_is_seen_by_a_reader_in_another_connection(tmp_path):
    path = tmp_path / "o.db"
    writer, reader = SqliteOnlineStore(path), SqliteOnlineStore(path, schema_check_seconds=0)
    writer.write_table("t", ["id"], [("id", "INTEGER"), ("a", "REAL")], [(1, 1.0)])
    assert reader.get("t", 1) == {"id": 1, "a": 1.0}
    writer.write_table("t", ["id"], [("id", "INTEGER"), ("a", "REAL"), ("b", "TEXT")], [(1, 2.0, "x")])
    assert reader.get("t", 1) == {"id": 1, "a": 2.0, "b": "x"}
    assert reader.tables() == ["t"]
    writer.close(), reader.close()


def test_store_file_is_plain_sqlite(store):
    """Other tools can read the online copy: it is an ordinary table."""
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT city FROM t WHERE id = 2").fetchone() == ("Lima",)
    conn.close()


def test_registry_round_trip_and_unknown_name(tmp_path):
    assert online.get("sqlite") is SqliteOnlineStore
    assert isinstance(online.from_spec({"type": "sqlite", "path": str(tmp_path / "x.db")}), SqliteOnlineStore)
    with pytest.raises(NotFoundError, match="No online store named 'memcached'"):
        online.get("memcached")
    with pytest.raises(ConfigError, match="subclass OnlineStore"):
        online.register("bad", dict)


def test_a_custom_backend_plugs_in():
    class Memory(OnlineStore):
        def __init__(self):
            self.tables = {}

        def write_table(self, name, key_columns, columns, rows):
            names = [c for c, _ in columns]
            self.tables[name] = {r[0]: dict(zip(names, r)) for r in rows}
            return len(self.tables[name])

        def get(self, name, key):
            return self.tables[name].get(key)

    online.register("memory", Memory)
    store = online.from_spec({"type": "memory"})
    store.write_table("t", ["id"], [("id", "INTEGER")], [(1,)])
    assert store.get_many("t", [1, 2]) == [{"id": 1}, None]
    online._BACKENDS.pop("memory")


def test_redis_without_the_client_names_the_extra():
    try:
        import redis  # noqa: F401
    except ImportError:
        with pytest.raises(EnvironmentProblem, match=r"pip install mlops-kit\[redis\]"):
            RedisOnlineStore("redis://127.0.0.1:1/0").get("t", 1)
    else:  # pragma: no cover
        pytest.skip("redis is installed")


def test_online_module_does_not_import_spark():
    import subprocess
    import sys

    code = "import sys, mlops_kit.features.online; print('pyspark' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]

"""Online stores: the latest feature row per key, one fast lookup away.

A serving endpoint calls :meth:`OnlineStore.get` once per request, so this
module imports neither pyspark nor pandas: publishing (which needs Spark)
lives in the client, and the store only stores rows and reads them back.

Backends share one plugin shape: subclass :class:`OnlineStore`, then
``register("name", YourStore)``; :func:`get` returns the class and
:func:`from_spec` rebuilds a store from what :meth:`OnlineStore.spec`
recorded in the table's metadata.

- ``sqlite`` (default): one table per feature table in a single file, primary
  key on the lookup keys (``WITHOUT ROWID``: one B-tree probe per lookup), one
  connection kept open, statements prepared once and reused.
- ``redis``: one hash per key; needs ``pip install mlops-kit[redis]``.

Examples
--------
>>> import tempfile, os
>>> store = SqliteOnlineStore(os.path.join(tempfile.mkdtemp(), "online.db"))
>>> store.write_table("prices", ["id"], [("id", "INTEGER"), ("price", "REAL")],
...                   [(1, 9.5), (2, 12.0)])
2
>>> store.get("prices", 2)
{'id': 2, 'price': 12.0}
>>> store.get("prices", 3) is None
True
"""
from __future__ import annotations

import abc
import datetime as _dt
import json
import os
import sqlite3
import threading
import time
from decimal import Decimal
from typing import Any, Iterable, Sequence

from mlops_kit._registry import Registry
from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError

__all__ = [
    "OnlineStore",
    "SqliteOnlineStore",
    "RedisOnlineStore",
    "register",
    "get",
    "from_spec",
    "to_online_value",
]

Key = Any  # a scalar, a tuple of scalars (composite keys) or a {column: value} dict


def to_online_value(value: Any) -> Any:
    """Turn one cell into something every backend stores losslessly enough.

    Timestamps and dates become ISO-8601 strings, decimals floats, lists and
    dicts JSON text, NumPy scalars their Python value; NaN stays a float.
    """
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item") and not isinstance(value, (list, dict)):  # NumPy scalar
        return to_online_value(value.item())
    if hasattr(value, "isoformat"):  # pandas.Timestamp and friends
        return value.isoformat()
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, default=str)


class OnlineStore(abc.ABC):
    """Where published features are read from at serving time.

    Subclasses implement :meth:`write_table` (replace a table with new rows,
    atomically for readers) and :meth:`get` (one key -> one row as a dict, or
    ``None`` when the key is unknown). :meth:`get_many` loops over :meth:`get`
    unless a backend can do better.
    """

    #: the name the backend is registered under (``sqlite``, ``redis``)
    kind: str = ""

    @abc.abstractmethod
    def write_table(
        self,
        name: str,
        key_columns: Sequence[str],
        columns: Sequence[tuple[str, str]],
        rows: Iterable[Sequence[Any]],
    ) -> int:
        """Replace table ``name`` with ``rows``; return how many rows were written.

        ``columns`` are ``(name, SQL type)`` pairs in row order, keys included;
        ``key_columns`` name the lookup key (unique in ``rows``). Readers must
        see either the old table or the new one, never a mix.
        """

    @abc.abstractmethod
    def get(self, name: str, key: Key) -> dict[str, Any] | None:
        """The row of ``key`` in table ``name`` as ``{column: value}``, or ``None``.

        ``key`` is a scalar for one key column, a tuple (in key order) or a
        ``{column: value}`` dict for composite keys. An unknown table raises
        :class:`~mlops_kit.exceptions.NotFoundError`.
        """

    def get_many(self, name: str, keys: Iterable[Key]) -> list[dict[str, Any] | None]:
        """One result per key, in order (``None`` for unknown keys)."""
        return [self.get(name, key) for key in keys]

    def drop_table(self, name: str) -> None:  # pragma: no cover - optional
        """Remove a published table (no error if it is not there)."""

    def spec(self) -> dict[str, Any]:
        """What :func:`from_spec` needs to open this store again (JSON-able)."""
        return {"type": self.kind}

    def close(self) -> None:
        """Release connections; the store reopens them on next use."""


# ------------------------------------------------------------------- registry
_BACKENDS: Registry[type[OnlineStore]] = Registry(
    "online store", plural="stores",
    hint="Register yours with mlops_kit.features.online.register(name, cls).")


def register(name: str, backend: type[OnlineStore]) -> type[OnlineStore]:
    """Make ``backend`` available as online store ``name``."""
    if not (isinstance(backend, type) and issubclass(backend, OnlineStore)):
        raise ConfigError(
            f"An online store backend must subclass OnlineStore. Got {backend!r} instead."
        )
    backend.kind = name
    return _BACKENDS.register(name, backend)


def get(name: str) -> type[OnlineStore]:
    """The backend class registered as ``name``; NotFoundError lists the known ones."""
    return _BACKENDS.lookup(name)


def from_spec(spec: dict[str, Any]) -> OnlineStore:
    """Open the store described by ``spec`` (as returned by :meth:`OnlineStore.spec`)."""
    options = dict(spec)
    return get(options.pop("type"))(**options)


# --------------------------------------------------------------------- sqlite
def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class SqliteOnlineStore(OnlineStore):
    """Online store in one SQLite file (the default; no server to run).

    Parameters
    ----------
    path : str or path-like
        The database file (created on first write).
    schema_check_seconds : float
        How often a reader looks for tables republished by another process
        with different columns. Between checks a lookup is one prepared
        ``SELECT`` on the kept-open connection.
    """

    def __init__(self, path: str | os.PathLike[str], *, schema_check_seconds: float = 1.0) -> None:
        self.path = os.fspath(path)
        self.schema_check_seconds = schema_check_seconds
        self._conn: sqlite3.Connection | None = None
        self._prepared: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        self._schema_version = -1
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "path": self.path}

    # ---------------------------------------------------------------- plumbing
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # readers never block the publisher
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        return self._conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        self._checked_at = time.monotonic()
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        if version != self._schema_version:
            self._prepared.clear()
            self._schema_version = version

    def _prepare(self, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        conn = self._connect()
        info = conn.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
        if not info:
            raise NotFoundError(
                f"No table {name!r} in the online store {self.path}. Publish it first: "
                f"FeatureStoreClient().publish_table({name!r})."
            )
        columns = tuple(row[1] for row in info)
        keys = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0)
        where = " AND ".join(f"{_quote(k)} = ?" for k in keys)
        sql = f"SELECT {', '.join(map(_quote, columns))} FROM {_quote(name)} WHERE {where}"
        self._prepared[name] = (sql, columns, keys)
        return self._prepared[name]

    # ------------------------------------------------------------------ writes
    def write_table(self, name, key_columns, columns, rows) -> int:
        conn = self._connect()
        names = [c for c, _ in columns]
        missing = [k for k in key_columns if k not in names]
        if missing or not key_columns:
            raise ConfigError(
                f"The key columns {list(key_columns)} must be among the columns {names}."
            )
        staging = f"__staging_{name}"
        ddl = ", ".join(f"{_quote(c)} {t}" for c, t in columns)
        pk = ", ".join(map(_quote, key_columns))
        insert = (
            f"INSERT INTO {_quote(staging)} VALUES ({', '.join('?' for _ in columns)})"
        )
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"DROP TABLE IF EXISTS {_quote(staging)}")
                conn.execute(
                    f"CREATE TABLE {_quote(staging)} ({ddl}, PRIMARY KEY ({pk})) WITHOUT ROWID"
                )
                cursor = conn.executemany(
                    insert, ([to_online_value(v) for v in row] for row in rows)
                )
                count = cursor.rowcount
                conn.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
                conn.execute(f"ALTER TABLE {_quote(staging)} RENAME TO {_quote(name)}")
                conn.execute("COMMIT")
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                raise ConfigError(
                    f"Publishing {name!r} failed: the key {list(key_columns)} is not unique "
                    f"({err}). Publish one row per key (the latest)."
                ) from None
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._prepared.pop(name, None)
        return count

    def drop_table(self, name: str) -> None:
        with self._lock:
            self._connect().execute(f"DROP TABLE IF EXISTS {_quote(name)}")
            self._prepared.pop(name, None)

    # ------------------------------------------------------------------- reads
    def get(self, name: str, key: Key) -> dict[str, Any] | None:
        conn = self._conn or self._connect()
        if time.monotonic() - self._checked_at > self.schema_check_seconds:
            self._check_schema(conn)
        prepared = self._prepared.get(name) or self._prepare(name)
        sql, columns, keys = prepared
        if type(key) is not tuple:
            key = tuple(key[k] for k in keys) if isinstance(key, dict) else (key,)
        row = conn.execute(sql, key).fetchone()
        return None if row is None else dict(zip(columns, row))

    def tables(self) -> list[str]:
        """Names of the published tables."""
        rows = self._connect().execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '\\_\\_%' ESCAPE '\\'"
        )
        return sorted(r[0] for r in rows)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._prepared.clear()


# ---------------------------------------------------------------------- redis
class RedisOnlineStore(OnlineStore):
    """Online store in Redis: one hash per key, for several serving replicas.

    Each publish writes a new generation of keys
    (``<prefix>:<table>:<generation>:<key>``) and then moves the table's
    pointer to it, so readers never see a half-written table; the previous
    generation is deleted afterwards.

    Parameters
    ----------
    url : str
        ``redis://host:port/db``.
    prefix : str
        Namespace of the store's keys.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "mlops-kit") -> None:
        self.url = url
        self.prefix = prefix
        self._client = None
        self._meta: dict[str, tuple[float, str, tuple[str, ...]]] = {}

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "url": self.url, "prefix": self.prefix}

    def _redis(self):
        if self._client is None:
            try:
                import redis  # optional: only this backend needs it
            except ImportError:
                raise EnvironmentProblem(
                    "The Redis online store needs the redis client, which is not installed. "
                    "Install it with: pip install mlops-kit[redis]"
                ) from None
            self._client = redis.Redis.from_url(self.url, decode_responses=True)
        return self._client

    def _key(self, name: str, generation: str, key: tuple) -> str:
        return f"{self.prefix}:{name}:{generation}:{json.dumps(list(key), default=str)}"

    def write_table(self, name, key_columns, columns, rows) -> int:
        client = self._redis()
        names = [c for c, _ in columns]
        positions = [names.index(k) for k in key_columns]
        generation = str(time.time_ns())
        count = 0
        pipe = client.pipeline(transaction=False)
        for row in rows:
            values = [to_online_value(v) for v in row]
            key = tuple(values[i] for i in positions)
            pipe.set(self._key(name, generation, key), json.dumps(values))
            count += 1
            if count % 1000 == 0:
                pipe.execute()
        pipe.execute()
        pointer = f"{self.prefix}:{name}:__meta__"
        old = client.hget(pointer, "generation")
        client.hset(pointer, mapping={
            "generation": generation, "columns": json.dumps(names),
            "keys": json.dumps(list(key_columns)),
        })
        if old:
            for stale in client.scan_iter(f"{self.prefix}:{name}:{old}:*", count=1000):
                client.delete(stale)
        self._meta.pop(name, None)
        return count

    def _table(self, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        cached = self._meta.get(name)
        if cached and time.monotonic() - cached[0] < 1.0:
            return cached[1], cached[2], cached[3]  # type: ignore[misc]
        meta = self._redis().hgetall(f"{self.prefix}:{name}:__meta__")
        if not meta:
            raise NotFoundError(
                f"No table {name!r} in the Redis online store at {self.url}. Publish it first."
            )
        entry = (time.monotonic(), meta["generation"], tuple(json.loads(meta["columns"])),
                 tuple(json.loads(meta["keys"])))
        self._meta[name] = entry  # type: ignore[assignment]
        return entry[1], entry[2], entry[3]

    def get(self, name: str, key: Key) -> dict[str, Any] | None:
        generation, columns, keys = self._table(name)
        if type(key) is not tuple:
            key = tuple(key[k] for k in keys) if isinstance(key, dict) else (key,)
        raw = self._redis().get(self._key(name, generation, key))
        return None if raw is None else dict(zip(columns, json.loads(raw)))

    def drop_table(self, name: str) -> None:
        client = self._redis()
        for stale in client.scan_iter(f"{self.prefix}:{name}:*", count=1000):
            client.delete(stale)
        self._meta.pop(name, None)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


register("sqlite", SqliteOnlineStore)
register("redis", RedisOnlineStore)

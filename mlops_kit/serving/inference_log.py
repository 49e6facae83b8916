"""The inference log: every answered request's rows appended to a Delta table.

Durability first: before ``/invocations`` answers 200, the request's rows are
appended to a local *write-ahead spool* (:class:`Spool`): append-only segment
files in the workspace (``ws.spool_path(table)``), one length-prefixed,
CRC-checked frame per request, written with ``os.write`` (and ``fsync`` when
``fsync="always"``). A background thread seals the current segment every
``flush_seconds`` (or once it holds ``segment_bytes``), appends the sealed
segment's rows to the Delta table with delta-rs (one commit per segment, no
JVM) and deletes the segment only after that commit. Each commit carries a
Delta *application transaction* ``(spool lane, segment number)``, so a
segment whose commit landed but whose file survived (a kill between the two)
is recognised and skipped: every request id lands exactly once. When the
endpoint starts, segments left by a process that died (SIGKILL, OOM, power
cut with ``fsync="always"``) are replayed first. See docs/RELIABILITY.md for
the guarantee and its limits.

Bounded backlog: the spool counts the bytes and requests not yet in the
table; past ``max_pending_bytes`` or ``max_pending_requests``
:meth:`InferenceLog.overloaded` says so and the endpoint answers 503 with a
``Retry-After`` header instead of taking more work than the log can write.

Upkeep: at two commits a second the table gathers small files, and delta-rs
lists the whole ``_delta_log`` folder on every commit, so without care each
append gets slower and the process bigger the longer the endpoint runs. The
writer therefore keeps one :class:`deltalake.DeltaTable` handle (no reload per
commit), and every ``maintain_every`` commits it compacts the small files
(``optimize.compact``, into files of at most ``compact_target_bytes``),
writes a checkpoint, and deletes commit files older than the table's
``delta.logRetentionDuration`` (:data:`LOG_TABLE_PROPERTIES`, set when the
table is created or first opened). The transaction log then holds at most
that retention's worth of commits, and time travel on the log reaches back
that far; the rows themselves are never deleted. Files compacted away are
vacuumed once ``delta.deletedFileRetentionDuration`` has passed. In the endpoint process,
:func:`tame_delta_allocator` keeps delta-rs's allocator from hoarding the
memory those maintenances free.

One row per scored row (a batch request of 10 rows gives 10 rows sharing a
``request_id``), so monitoring reads features and predictions with
``from_json`` without exploding arrays:

================  ==========================  ==================================
column            type                        content
================  ==========================  ==================================
request_id        string                      ``X-Request-Id`` (given or generated)
row_index         int32                       position of the row in the request
timestamp         timestamp (UTC)             when the request arrived
model_name        string                      registered model
model_version     string                      version that answered
model_alias       string                      alias it was served by (or null)
inputs            string                      the row's features as a JSON object
prediction        string                      the row's prediction as JSON
latency_ms        double                      server time of the whole request
status            int32                       HTTP status (200)
================  ==========================  ==================================
"""
from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import re
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from mlops_kit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["InferenceLog", "Spool", "LOG_COLUMNS", "LOG_TABLE_PROPERTIES",
           "tame_delta_allocator", "FSYNC_POLICIES", "read_inference_log"]

_log = logging.getLogger("mlops_kit.serving")

LOG_COLUMNS: tuple[str, ...] = (
    "request_id", "row_index", "timestamp", "model_name", "model_version", "model_alias",
    "inputs", "prediction", "latency_ms", "status",
)

#: Delta properties of a log table. Commit files older than the log retention are
#: deleted at each maintenance, which bounds the ``_delta_log`` folder every commit
#: lists; files compacted away drop out of checkpoints after the deleted-file
#: retention, which bounds what each checkpoint rewrites (Delta's defaults, 30 and
#: 7 days, let both grow with every commit for weeks)
LOG_TABLE_PROPERTIES: dict[str, str] = {
    "delta.logRetentionDuration": "interval 5 minutes",
    "delta.deletedFileRetentionDuration": "interval 1 hour",
}

#: jemalloc options for delta-rs in a long-running writer (:func:`tame_delta_allocator`)
DELTA_ALLOCATOR_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"

#: ``"write"``: os.write before the answer (survives any death of the process);
#: ``"always"``: also fsync before the answer (survives a kernel crash or power cut)
FSYNC_POLICIES: tuple[str, ...] = ("write", "always")

#: defaults of the backlog bound (``$MLOPS_KIT_SERVING_LOG_MAX_PENDING_BYTES`` /
#: ``..._REQUESTS``) and of the fsync policy (``$MLOPS_KIT_SERVING_LOG_FSYNC``)
DEFAULT_MAX_PENDING_BYTES = 64 << 20
DEFAULT_MAX_PENDING_REQUESTS = 5000


def _env_number(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"{name} must be a positive whole number. Got {value!r}.")
    return int(value)


def tame_delta_allocator() -> None:
    """Make delta-rs hand freed memory back to the OS at once; call before importing deltalake.

    delta-rs allocates through its own jemalloc, which keeps freed pages in
    per-thread arenas for reuse and purges an arena only when it is used
    again. Compaction and checkpoints run on whichever runtime thread is free,
    so arenas that held one maintenance's buffers can sit full while their
    thread idles: a writer that appended and compacted 8000 commits (about an
    hour of steady traffic) grew from 225 to 266 MiB, none of it reachable,
    and with these options stayed at 194-200 MiB, for slightly more CPU on the
    writer thread (within the noise of a shared machine). jemalloc reads ``$_RJEM_MALLOC_CONF`` once, when delta-rs
    first allocates; a value already set is left alone.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", DELTA_ALLOCATOR_CONF)


# ------------------------------------------------------------------ the spool
_MAGIC = b"MKS1"
_HEADER = struct.Struct("<4sII")  # magic, payload length, crc32 of the payload
_SEGMENT = re.compile(r"^(\d{12})\.seg$")
_LANE = re.compile(r"^lane-(\d+)$")


def _json_default(value: Any) -> Any:
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a DataFrame
        return value.to_dict(orient="records")
    if hasattr(value, "tolist"):  # numpy arrays of objects, numpy scalars, Series
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to the inference log")


class SpooledInput:
    """The columns of a request read back from the spool (``records()`` like ParsedInput)."""

    __slots__ = ("columns", "n_rows")

    def __init__(self, columns: dict[str, list], n_rows: int) -> None:
        self.columns = columns
        self.n_rows = n_rows

    def records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [dict(zip(names, row)) for row in zip(*self.columns.values())]


def encode_request(item: tuple) -> bytes:
    """One spool frame: header + JSON of (request_id, ts, columns, predictions, ...)."""
    import orjson

    request_id, ts, parsed, predictions, latency_ms, status, *extra = item
    payload = orjson.dumps(
        {"i": request_id, "t": ts, "n": parsed.n_rows, "c": parsed.columns,
         "p": predictions, "l": latency_ms, "s": status, "x": extra},
        default=_json_default,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )
    return _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> Iterator[tuple]:
    """The requests of a segment, in order; stops at a torn or corrupt tail."""
    import orjson

    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, length, crc = _HEADER.unpack_from(data, offset)
        payload = data[offset + _HEADER.size: offset + _HEADER.size + length]
        if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            # a frame cut short by a kill mid-write was never answered: drop it
            _log.warning("inference log: %s ends in %d unreadable bytes (an unanswered "
                         "request cut off by a crash); skipped", path, len(data) - offset)
            return
        offset += _HEADER.size + length
        r = orjson.loads(payload)
        yield (r["i"], r["t"], SpooledInput(r["c"], r["n"]), r["p"], r["l"], r["s"], *r["x"])


def _count_frames(path: Path) -> int:
    return sum(1 for _ in _frame_offsets(path))


def _frame_offsets(path: Path) -> Iterator[int]:
    with open(path, "rb") as f:
        offset = 0
        while True:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            magic, length, _ = _HEADER.unpack(header)
            if magic != _MAGIC:
                return
            f.seek(length, os.SEEK_CUR)
            offset += _HEADER.size + length
            if f.tell() != offset or offset > os.fstat(f.fileno()).st_size:
                return
            yield offset


class _Lane:
    """One spool folder owned (flock) by one process: ``lane-<k>/<seq>.seg``."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self.lock_fd = lock_fd
        self.app_id = f"mlops-kit-spool/{path.name}"

    def segments(self) -> list[tuple[int, Path]]:
        found = []
        for p in self.path.iterdir():
            m = _SEGMENT.fullmatch(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def release(self) -> None:
        if self.lock_fd >= 0:
            os.close(self.lock_fd)  # closing drops the flock
            self.lock_fd = -1


def _try_lock(path: Path) -> int | None:
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "LOCK", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


class Spool:
    """Append-only, segment-numbered write-ahead files for one log table.

    A process owns one *lane* (``<dir>/lane-<k>``, held with ``flock``) and
    appends to its open segment; lanes of processes that died are adopted by
    the next process that opens the spool, and drained first.
    """

    def __init__(self, directory: str | Path, *, fsync: str = "write",
                 segment_bytes: int = 4 << 20) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ConfigError(f"The spool fsync policy must be one of "
                              f"{', '.join(FSYNC_POLICIES)}. Got {fsync!r}.")
        self.directory = Path(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.lane: _Lane | None = None
        self.orphans: list[_Lane] = []
        self.pending_bytes = 0
        self.pending_requests = 0
        self._lock = threading.Lock()
        self._fd = -1
        self._seq = 0
        self._current_bytes = 0
        self._current_requests = 0
        self._sizes: dict[Path, tuple[int, int]] = {}  # sealed segment -> (bytes, requests)

    # ------------------------------------------------------------ opening
    def open(self, first_free_seq=lambda lane: 0) -> "Spool":
        """Take a lane (and every abandoned one); ``first_free_seq(lane)`` is the
        lowest segment number the table has not committed for that lane."""
        if self.lane is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        lanes = sorted((int(m.group(1)), p) for p in self.directory.iterdir()
                       if (m := _LANE.fullmatch(p.name)) and p.is_dir())
        taken: list[_Lane] = []
        for _, path in lanes:
            fd = _try_lock(path)
            if fd is not None:
                taken.append(_Lane(path, fd))
        if not taken:
            k = lanes[-1][0] + 1 if lanes else 0
            while True:
                fd = _try_lock(self.directory / f"lane-{k}")
                if fd is not None:
                    taken.append(_Lane(self.directory / f"lane-{k}", fd))
                    break
                k += 1
        self.lane, self.orphans = taken[0], taken[1:]
        for lane in taken:
            for _, seg in lane.segments():
                size = seg.stat().st_size
                if size == 0:
                    seg.unlink()
                    continue
                count = _count_frames(seg)
                self._sizes[seg] = (size, count)
                self.pending_bytes += size
                self.pending_requests += count
        existing = [seq for seq, _ in self.lane.segments()]
        self._seq = max([first_free_seq(self.lane) - 1, *existing, 0]) + 1
        self._open_segment()
        return self

    def _segment_path(self, seq: int) -> Path:
        return self.lane.path / f"{seq:012d}.seg"

    def _open_segment(self) -> None:
        self._fd = os.open(self._segment_path(self._seq),
                           os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_EXCL, 0o600)
        self._current_bytes = 0
        self._current_requests = 0

    # ---------------------------------------------------------- appending
    def append(self, frame: bytes) -> None:
        """Write one frame to the open segment (and fsync it, by policy)."""
        with self._lock:
            if self._fd < 0:
                raise RuntimeError("the inference-log spool is closed")
            view, fd = memoryview(frame), self._fd
            while view:
                view = view[os.write(fd, view):]
            self._current_bytes += len(frame)
            self._current_requests += 1
            self.pending_bytes += len(frame)
            self.pending_requests += 1
            if self._current_bytes >= self.segment_bytes:
                self._rotate()
        if self.fsync == "always":
            os.fsync(fd)  # outside the lock: concurrent requests share the disk flush

    def seal(self) -> None:
        """Close the open segment (if it holds anything) and open the next one."""
        with self._lock:
            if self._fd >= 0 and self._current_requests:
                self._rotate()

    def _rotate(self) -> None:
        os.fsync(self._fd) if self.fsync == "always" else None
        os.close(self._fd)
        self._sizes[self._segment_path(self._seq)] = (self._current_bytes,
                                                      self._current_requests)
        self._seq += 1
        self._open_segment()

    # ------------------------------------------------------------ draining
    def sealed(self) -> list[tuple[_Lane, int, Path]]:
        """Segments ready for the table: adopted lanes first, each in order."""
        with self._lock:  # every segment below the open one is complete
            open_seq = self._seq if self._fd >= 0 else None
        out = []
        for lane in self.orphans:
            out += [(lane, seq, p) for seq, p in lane.segments()]
        if self.lane is not None:
            out += [(self.lane, seq, p) for seq, p in self.lane.segments()
                    if open_seq is None or seq < open_seq]
        return out

    def done(self, segment: Path) -> None:
        """The segment is in the table: delete it and forget its backlog."""
        segment.unlink(missing_ok=True)
        size, count = self._sizes.pop(segment, (0, 0))
        with self._lock:
            self.pending_bytes -= size
            self.pending_requests -= count

    def close(self) -> None:
        """Close the open segment (deleted when empty) and drop the lane locks."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
                if not self._current_requests:
                    self._segment_path(self._seq).unlink(missing_ok=True)
                else:
                    self._sizes[self._segment_path(self._seq)] = (
                        self._current_bytes, self._current_requests)
        for lane in [*self.orphans, self.lane]:
            if lane is not None:
                lane.release()


class InferenceLog:
    """Durable (spooled), batched appends of answered requests to a Delta table.

    Parameters
    ----------
    path : path-like
        Folder of the Delta table (``ws.table_path("inference_log")``); created
        on the first write.
    model_name, model_version, model_alias : str
        Written on every row.
    flush_seconds : float
        Longest time a row waits in the spool before it is written to the table.
    max_rows : int
        Kept for compatibility: the spool rotates by ``segment_bytes``.
    maintain_every : int
        Commits between two maintenances (compact, checkpoint, drop expired
        commit files, vacuum expired data files); 0 turns maintenance off.
    compact_target_bytes : int
        Size compaction aims at; files this big are left alone, so one
        maintenance rewrites at most about this much, however long the log.
    table_properties : dict
        Delta properties the table gets (:data:`LOG_TABLE_PROPERTIES`).
    spool_dir : path-like, optional
        Folder of the write-ahead spool (``ws.spool_path(table)``); by default
        a hidden sibling of the table folder, ``.<table>.spool``.
    fsync : {"write", "always"}
        ``"write"`` (default, ``$MLOPS_KIT_SERVING_LOG_FSYNC``): a request is
        answered once its frame is written to the spool file, which survives
        any death of the process; ``"always"`` also fsyncs before answering,
        which survives a kernel crash or power cut for ~3 ms per request.
    max_pending_bytes, max_pending_requests : int
        Backlog (spooled, not yet in the table) past which :meth:`overloaded`
        asks the endpoint to shed load.
    segment_bytes : int
        A spool segment is sealed (and becomes one commit) at this size, or
        every ``flush_seconds``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        model_name: str,
        model_version: str,
        model_alias: str | None = None,
        flush_seconds: float = 0.5,
        max_rows: int = 500,
        maintain_every: int = 100,
        compact_target_bytes: int = 4 << 20,
        table_properties: dict[str, str] | None = None,
        spool_dir: str | Path | None = None,
        fsync: str | None = None,
        max_pending_bytes: int | None = None,
        max_pending_requests: int | None = None,
        segment_bytes: int = 4 << 20,
    ) -> None:
        self.path = Path(path)
        self.model_name = model_name
        self.model_version = model_version
        self.model_alias = model_alias
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self.maintain_every = maintain_every
        self.compact_target_bytes = compact_target_bytes
        self.table_properties = dict(LOG_TABLE_PROPERTIES if table_properties is None
                                     else table_properties)
        self.max_pending_bytes = max_pending_bytes or _env_number(
            "MLOPS_KIT_SERVING_LOG_MAX_PENDING_BYTES", DEFAULT_MAX_PENDING_BYTES)
        self.max_pending_requests = max_pending_requests or _env_number(
            "MLOPS_KIT_SERVING_LOG_MAX_PENDING_REQUESTS", DEFAULT_MAX_PENDING_REQUESTS)
        self.spool = Spool(
            spool_dir if spool_dir is not None
            else self.path.with_name(f".{self.path.name}.spool"),
            fsync=fsync or os.environ.get("MLOPS_KIT_SERVING_LOG_FSYNC") or "write",
            segment_bytes=segment_bytes)
        self.rows_written = 0
        self.commits = 0
        self.failed_writes = 0
        self.maintenances = 0
        self.replayed_segments = 0
        self.shed_requests = 0
        self._table = None  # deltalake.DeltaTable, opened on the first write
        self._queue = _SpoolWriter(self)  # what subclasses put request tuples on
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._bytes_per_second = 0.0

    # ------------------------------------------------------------ request path
    def record(self, request_id: str, timestamp: float, inputs: Any,
               predictions: Any, latency_ms: float, status: int = 200) -> None:
        """Spool one answered request (``inputs``: a ParsedInput); returns once written."""
        self._queue.put((request_id, timestamp, inputs, predictions, latency_ms, status))

    @property
    def pending(self) -> int:
        """Requests spooled but not yet in the table."""
        return self.spool.pending_requests

    @property
    def pending_bytes(self) -> int:
        """Spool bytes not yet in the table."""
        return self.spool.pending_bytes

    def overloaded(self) -> float | None:
        """Seconds to tell a client to wait when the backlog is past its bound, else None."""
        if (self.spool.pending_bytes < self.max_pending_bytes
                and self.spool.pending_requests < self.max_pending_requests):
            return None
        self.shed_requests += 1
        rate = self._bytes_per_second
        wait = self.spool.pending_bytes / rate if rate > 0 else 1.0
        return float(min(30, max(1, math.ceil(wait / 2))))

    # --------------------------------------------------------------- lifecycle
    def _open_spool(self) -> None:
        if self.spool.lane is None:
            self.spool.open(self._first_free_seq)

    def _first_free_seq(self, lane: _Lane) -> int:
        table = self._open_table()
        version = table.transaction_version(lane.app_id) if table is not None else None
        return 0 if version is None else version + 1

    def start(self) -> "InferenceLog":
        """Open the spool (adopting what a dead process left), start the writer thread."""
        import deltalake  # noqa: F401  - fail at start-up, not on the first flush
        import numpy as np

        from mlops_kit.serving.schema import ParsedInput

        # the first conversion loads Arrow's timezone and type machinery (~0.3 s
        # holding the GIL): pay it here, not in the middle of serving
        self._to_arrow([("warm-up", time.time(), ParsedInput({"x": np.zeros(1)}, 1),
                         np.zeros(1), 0.0, 200)])
        self._open_spool()
        if self.spool.pending_requests:
            _log.warning("inference log: replaying %d spooled requests (%d bytes) left by "
                         "an earlier endpoint into %s", self.spool.pending_requests,
                         self.spool.pending_bytes, self.path)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="inference-log-writer", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Write everything spooled to the table, then stop the writer thread.

        Whatever is not in the table after ``timeout`` seconds stays in the
        spool (on disk) and is replayed by the next start; nothing is dropped.
        """
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                _log.warning("inference log: %d answered requests (%d bytes) are still in the "
                             "spool %s after %g s; the next start of the endpoint writes them",
                             self.spool.pending_requests, self.spool.pending_bytes,
                             self.spool.directory, timeout)
                return  # the thread still owns the spool; the process exit releases it
            self._thread = None
        self.spool.close()

    def flush_now(self) -> None:
        """Write what is spooled, synchronously (for callers that own no thread)."""
        self._open_spool()
        self.spool.seal()
        self._drain()

    # ------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            stopping = self._stop.is_set()
            self.spool.seal()
            ok = self._drain()
            if stopping:
                if ok or not self.spool.pending_requests:
                    return
            if not ok:  # keep the segments, try again after a pause
                self._stop.wait(max(self.flush_seconds, 1.0))

    def _drain(self) -> bool:
        """Commit every sealed segment, in order; False when one failed."""
        with self._drain_lock:
            for lane, seq, segment in self.spool.sealed():
                if not self._commit_segment(lane, seq, segment):
                    return False
            return True

    def _commit_segment(self, lane: _Lane, seq: int, segment: Path) -> bool:
        t0 = time.monotonic()
        try:
            table = self._open_table()
            committed = table.transaction_version(lane.app_id) if table is not None else None
            if committed is not None and committed >= seq:
                self.spool.done(segment)  # committed before a crash, file left behind
                self.replayed_segments += 1
                return True
            size = segment.stat().st_size
            data = self._segment_to_arrow(segment)
            if data is not None:
                self._append(data, lane.app_id, seq)
        except Exception:  # noqa: BLE001 - the log must never take the endpoint down
            self.failed_writes += 1
            self._table = None  # reopen: the handle may be what failed
            _log.exception("inference log: appending spool segment %s to %s failed; "
                           "will retry", segment, self.path)
            return False
        self.spool.done(segment)
        if data is not None:
            self.rows_written += data.num_rows
            self.commits += 1
            elapsed = max(time.monotonic() - t0, 1e-3)
            rate = size / elapsed
            self._bytes_per_second = (rate if not self._bytes_per_second
                                      else 0.8 * self._bytes_per_second + 0.2 * rate)
            if self.maintain_every and self.commits % self.maintain_every == 0:
                self.maintain()
        return True

    def _segment_to_arrow(self, segment: Path):
        """The segment's rows as one Arrow table, built request by request."""
        import pyarrow as pa

        parts = [self._to_arrow([item]) for item in read_segment(segment)]
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return None
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def _open_table(self):
        """The kept handle, opened on first use; None while the table does not exist."""
        if self._table is None:
            from deltalake import DeltaTable
            from deltalake.exceptions import TableNotFoundError

            try:
                self._table = DeltaTable(str(self.path))
            except TableNotFoundError:
                return None
            self._set_missing_properties()
        return self._table

    def _append(self, data, app_id: str = "", seq: int = -1) -> None:
        """One append commit (with the spool's application transaction)."""
        from deltalake import (CommitProperties, DeltaTable, PostCommitHookProperties,
                               Transaction, write_deltalake)

        commit = (CommitProperties(app_transactions=[Transaction(app_id, seq)])
                  if app_id else None)
        table = self._open_table()
        if table is None:
            write_deltalake(str(self.path), data, mode="append",
                            configuration=self.table_properties, commit_properties=commit)
            self._table = DeltaTable(str(self.path))
            return
        if not self.maintain_every:
            # a kept handle gets slower and bigger with every commit unless maintain()
            # reopens it: open the table afresh, with delta-rs's own checkpoint hooks
            write_deltalake(str(self.path), data, mode="append", commit_properties=commit)
            self._table = None
            return
        # checkpoints and log clean-up happen in maintain(), at a known rhythm
        write_deltalake(table, data, mode="append", commit_properties=commit,
                        post_commithook_properties=PostCommitHookProperties(
                            create_checkpoint=False, cleanup_expired_logs=False))

    def _set_missing_properties(self) -> None:
        """Give a table made elsewhere (or by an older version) the log's properties."""
        current = self._table.metadata().configuration
        missing = {k: v for k, v in self.table_properties.items() if k not in current}
        if missing:
            self._table.alter.set_table_properties(missing)

    def maintain(self) -> None:
        """Compact small files, checkpoint, drop expired commit and data files; reopen.

        Runs on the writer thread every ``maintain_every`` commits (rows wait
        in the queue meanwhile). A failure is logged and the next maintenance
        tries again; appends go on either way.
        """
        table, self._table = self._table, None
        if table is None:
            return
        try:
            table.optimize.compact(target_size=self.compact_target_bytes)
            table.create_checkpoint()
            table.cleanup_metadata()
            # files compacted away longer ago than the deleted-file retention: no
            # snapshot a reader can still open needs them, so the disk stops growing.
            # full: list the folder, since the checkpoint above may already have
            # dropped the expired tombstones that a "lite" vacuum goes by
            table.vacuum(dry_run=False, full=True)
        except Exception:  # noqa: BLE001 - upkeep must never stop the log
            _log.exception("inference log: maintenance of %s failed; will retry", self.path)
            return
        self.maintenances += 1

    def _to_arrow(self, batch: list[tuple]):
        import orjson
        import pyarrow as pa

        opts = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

        cols: dict[str, list] = {name: [] for name in LOG_COLUMNS}
        for request_id, ts, parsed, predictions, latency_ms, status in batch:
            records = parsed.records()
            preds = _prediction_rows(predictions, len(records))
            for i, (record, pred) in enumerate(zip(records, preds)):
                cols["request_id"].append(request_id)
                cols["row_index"].append(i)
                cols["timestamp"].append(int(ts * 1_000_000))
                cols["inputs"].append(orjson.dumps(record, option=opts).decode())
                cols["prediction"].append(orjson.dumps(pred, option=opts).decode())
                cols["latency_ms"].append(latency_ms)
                cols["status"].append(status)
        n = len(cols["request_id"])
        return pa.table({
            "request_id": pa.array(cols["request_id"], pa.string()),
            "row_index": pa.array(cols["row_index"], pa.int32()),
            "timestamp": pa.array(cols["timestamp"], pa.timestamp("us", tz="UTC")),
            "model_name": pa.array([self.model_name] * n, pa.string()),
            "model_version": pa.array([self.model_version] * n, pa.string()),
            "model_alias": pa.array([self.model_alias] * n, pa.string()),
            "inputs": pa.array(cols["inputs"], pa.string()),
            "prediction": pa.array(cols["prediction"], pa.string()),
            "latency_ms": pa.array(cols["latency_ms"], pa.float64()),
            "status": pa.array(cols["status"], pa.int32()),
        })


def _prediction_rows(predictions: Any, n: int) -> list:
    """One JSON-ready prediction per input row, whatever the model returned."""
    rows = predictions
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        rows = predictions.to_dict(orient="records")
    elif hasattr(predictions, "tolist"):
        rows = predictions.tolist()
    if not isinstance(rows, list) or len(rows) != n:
        return [rows] * n if n else []
    return rows


class _SpoolWriter:
    """``log._queue``: ``put(item)`` writes the request tuple to the spool at once."""

    def __init__(self, log: InferenceLog) -> None:
        self._log = log

    def put(self, item: tuple) -> None:
        log = self._log
        log._open_spool()
        log.spool.append(encode_request(item))
        if log.spool.pending_bytes >= log.spool.segment_bytes:
            log._wake.set()

    def qsize(self) -> int:
        return self._log.spool.pending_requests


# -------------------------------------------------------------------- reader
def read_inference_log(table: str | os.PathLike[str] = "inference_log", *,
                       model_name: str | None = None, last_rows: int = 1000,
                       workspace: Any = None) -> "pd.DataFrame | None":
    """The features of the latest scored rows of an inference table, as pandas.

    The reader of what :class:`InferenceLog` writes: each row's ``inputs``
    JSON becomes columns, plus ``prediction`` and ``timestamp``. Read with
    delta-rs (:func:`mlops_kit.delta.read_snapshot`), so no JVM starts.

    Parameters
    ----------
    table : str or path
        A table name of the workspace, or the table's folder.
    model_name : str, optional
        Keep only this model's rows.
    last_rows : int
        How many of the latest rows (by ``timestamp``).

    Returns
    -------
    pandas.DataFrame or None
        ``None`` when the table does not exist yet (no traffic): a monitoring
        run then has nothing to check, which is not a failure.
    """
    import json

    import pandas as pd

    from mlops_kit.delta import read_snapshot, resolve_path, table_exists

    path = resolve_path(table, workspace)
    if not table_exists(path):
        return None
    log, _ = read_snapshot(path)
    if model_name:
        log = log[log["model_name"] == model_name]
    log = log.sort_values("timestamp").tail(last_rows)
    features = pd.DataFrame([json.loads(row) for row in log["inputs"]], index=log.index)
    features["prediction"] = [json.loads(p) for p in log["prediction"]]
    features["timestamp"] = log["timestamp"]
    return features.reset_index(drop=True)

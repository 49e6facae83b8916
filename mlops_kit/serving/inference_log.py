"""The inference log: every scored row appended to a Delta table, off the request path.

A request only puts one tuple on a queue (no I/O, no JSON). A background
thread collects them and appends a batch with delta-rs
(:func:`deltalake.write_deltalake`, ``mode="append"``, no JVM) every
``flush_seconds`` or every ``max_rows`` rows, whichever comes first. On a
clean shutdown (SIGTERM/SIGINT: uvicorn stops accepting, lets in-flight
requests finish, then runs the app's shutdown) :meth:`InferenceLog.close`
drains the queue and writes the last batch, so nothing answered with a 200 is
missing from the table.

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

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["InferenceLog", "LOG_COLUMNS", "LOG_TABLE_PROPERTIES", "tame_delta_allocator"]

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

_STOP = object()


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


class InferenceLog:
    """Batched, asynchronous appends of scored requests to a Delta table.

    Parameters
    ----------
    path : path-like
        Folder of the Delta table (``ws.table_path("inference_log")``); created
        on the first write.
    model_name, model_version, model_alias : str
        Written on every row.
    flush_seconds : float
        Longest time a row waits in memory before it is written.
    max_rows : int
        Rows that trigger a write before ``flush_seconds`` is up.
    maintain_every : int
        Commits between two maintenances (compact, checkpoint, drop expired
        commit files, vacuum expired data files); 0 turns maintenance off.
    compact_target_bytes : int
        Size compaction aims at; files this big are left alone, so one
        maintenance rewrites at most about this much, however long the log.
    table_properties : dict
        Delta properties the table gets (:data:`LOG_TABLE_PROPERTIES`).
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
        self.rows_written = 0
        self.commits = 0
        self.failed_writes = 0
        self.maintenances = 0
        self._table = None  # deltalake.DeltaTable, opened on the first write
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ request path
    def record(self, request_id: str, timestamp: float, inputs: Any,
               predictions: Any, latency_ms: float, status: int = 200) -> None:
        """Queue one answered request; ``inputs`` is the ParsedInput (read later)."""
        self._queue.put((request_id, timestamp, inputs, predictions, latency_ms, status))

    @property
    def pending(self) -> int:
        """Requests queued but not yet written (approximate)."""
        return self._queue.qsize() + self._pending

    # --------------------------------------------------------------- lifecycle
    def start(self) -> "InferenceLog":
        """Start the writer thread (imports pyarrow and deltalake once, here)."""
        import deltalake  # noqa: F401  - fail at start-up, not on the first flush
        import numpy as np

        from mlops_kit.serving.schema import ParsedInput

        # the first conversion loads Arrow's timezone and type machinery (~0.3 s
        # holding the GIL): pay it here, not in the middle of serving
        self._to_arrow([("warm-up", time.time(), ParsedInput({"x": np.zeros(1)}, 1),
                         np.zeros(1), 0.0, 200)])

        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="inference-log-writer", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then stop the writer thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def flush_now(self) -> None:
        """Write what is queued, synchronously (for callers that own no thread)."""
        batch = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                batch.append(item)
        self._write(batch)

    # ------------------------------------------------------------ writer thread
    def _run(self) -> None:
        batch: list[tuple] = []
        rows = 0
        deadline = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write(batch)
                return
            if item is not None:
                batch.append(item)
                rows += item[2].n_rows
                self._pending = len(batch)
                if deadline is None:
                    deadline = time.monotonic() + self.flush_seconds
            if batch and (rows >= self.max_rows or time.monotonic() >= deadline):
                if self._write(batch):
                    batch, rows, deadline, self._pending = [], 0, None, 0
                else:  # keep the rows, try again after another interval
                    deadline = time.monotonic() + max(self.flush_seconds, 1.0)

    def _write(self, batch: list[tuple]) -> bool:
        if not batch:
            return True
        try:
            table = self._to_arrow(batch)
            self._append(table)
        except Exception:  # noqa: BLE001 - the log must never take the endpoint down
            self.failed_writes += 1
            self._table = None  # reopen: the handle may be what failed
            _log.exception("inference log: appending %d requests to %s failed; will retry",
                           len(batch), self.path)
            return False
        self.rows_written += table.num_rows
        self.commits += 1
        if self.maintain_every and self.commits % self.maintain_every == 0:
            self.maintain()
        return True

    def _append(self, data) -> None:
        """One append commit, through the kept handle (opened or created on first use)."""
        from deltalake import DeltaTable, PostCommitHookProperties, write_deltalake
        from deltalake.exceptions import TableNotFoundError

        if self._table is None:
            try:
                self._table = DeltaTable(str(self.path))
            except TableNotFoundError:
                write_deltalake(str(self.path), data, mode="append",
                                configuration=self.table_properties)
                self._table = DeltaTable(str(self.path))
                return
            self._set_missing_properties()
        if not self.maintain_every:
            # a kept handle gets slower and bigger with every commit unless maintain()
            # reopens it: open the table afresh, with delta-rs's own checkpoint hooks
            write_deltalake(str(self.path), data, mode="append")
            return
        # checkpoints and log clean-up happen in maintain(), at a known rhythm
        write_deltalake(self._table, data, mode="append",
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

"""The inference log's writer: requests in through the spool, sealed segments out to Delta.

:class:`InferenceLog` is the request side (spool a request before its 200,
the backlog bound) and the writer thread's lifecycle; what the thread does
with a sealed segment is in :mod:`.commits`.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from mlops_kit.serving.inference_log.commits import SegmentCommits
from mlops_kit.serving.inference_log.frames import LoggedRequest, encode_request
from mlops_kit.serving.inference_log.settings import (DEFAULT_MAX_PENDING_BYTES,
                                                      DEFAULT_MAX_PENDING_REQUESTS,
                                                      LOG_TABLE_PROPERTIES, env_number)
from mlops_kit.serving.inference_log.spool import Spool

__all__ = ["InferenceLog"]

_log = logging.getLogger("mlops_kit.serving")


class InferenceLog(SegmentCommits):
    """Durable (spooled), batched appends of answered requests to a Delta table.

    Parameters
    ----------
    path : path-like
        Folder of the Delta table (``ws.table_path("inference_log")``); created
        on the first write.
    model_name, model_version, model_alias : str
        Written on every row (a request's own ``columns`` may override them).
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

    def __init__(self, path: str | Path, *, model_name: str, model_version: str,
                 model_alias: str | None = None, flush_seconds: float = 0.5,
                 max_rows: int = 500, maintain_every: int = 100,
                 compact_target_bytes: int = 4 << 20,
                 table_properties: dict[str, str] | None = None,
                 spool_dir: str | Path | None = None, fsync: str | None = None,
                 max_pending_bytes: int | None = None, max_pending_requests: int | None = None,
                 segment_bytes: int = 4 << 20) -> None:
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
        self.max_pending_bytes = max_pending_bytes or env_number(
            "MLOPS_KIT_SERVING_LOG_MAX_PENDING_BYTES", DEFAULT_MAX_PENDING_BYTES)
        self.max_pending_requests = max_pending_requests or env_number(
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
        self.skipped_frames = 0
        self._kept = None  # tables.delta_rs.KeptTable, made on first use
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._bytes_per_second = 0.0

    # ------------------------------------------------------------ request path
    def record(self, request_id: str, timestamp: float, inputs: Any, predictions: Any,
               latency_ms: float, status: int = 200, *, columns: dict[str, Any] | None = None,
               ) -> None:
        """Spool one answered request (``inputs``: a ParsedInput); returns once it is whole
        in the spool file, raises (``OSError``) when it is not, so no 200 goes out without it."""
        self.open()
        self.spool.append(encode_request(LoggedRequest(
            request_id, timestamp, inputs, predictions, latency_ms, status, columns or {})))
        if self.spool.pending_bytes >= self.spool.segment_bytes:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Requests spooled but not yet in the table."""
        return self.spool.pending_requests

    @property
    def pending_bytes(self) -> int:
        """Spool bytes not yet in the table."""
        return self.spool.pending_bytes

    @property
    def quarantined_segments(self) -> int:
        """Spool segments set aside because they could not be read whole."""
        return self.spool.quarantined

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
    def open(self) -> "InferenceLog":
        """Open the table and the spool (adopting what a dead process left); no thread.

        A damaged table fails here with one line naming the table and its
        damaged file (:func:`mlops_kit.tables.damage.explain_open_failure`).
        """
        if self.spool.lane is None:
            self.spool.open(self._first_free_seq)
        return self

    def start(self) -> "InferenceLog":
        """Open the spool and the table, start the writer thread."""
        from mlops_kit.tables.delta_rs import require_deltalake

        require_deltalake()  # fail at start-up, not on the first flush
        import numpy as np

        from mlops_kit.serving.schema import ParsedInput

        # the first conversion loads Arrow's timezone and type machinery (~0.3 s
        # holding the GIL): pay it here, not in the middle of serving
        self._to_arrow([LoggedRequest("warm-up", time.time(), ParsedInput({"x": np.zeros(1)}, 1),
                                      np.zeros(1), 0.0)])
        self.open()
        if self.spool.pending_requests:
            _log.warning("inference log: replaying %d spooled requests (%d bytes) left by "
                         "an earlier endpoint into %s", self.spool.pending_requests,
                         self.spool.pending_bytes, self.path)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="inference-log-writer",
                                            daemon=True)
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
        self.open()
        self.spool.seal()
        self._drain()

    # ------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                self.spool.seal()
                ok = self._drain()
            except Exception:  # noqa: BLE001 - the writer thread must outlive any failure
                _log.exception("inference log: the writer of %s failed; will retry", self.path)
                self.failed_writes += 1
                ok = False
            if stopping and (ok or not self.spool.pending_requests):
                return
            if not ok:  # keep the segments, try again after a pause
                self._stop.wait(max(self.flush_seconds, 1.0))


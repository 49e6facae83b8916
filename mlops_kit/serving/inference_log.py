"""The inference log: every scored row appended to a Delta table, off the request path.

A request only puts one tuple on a queue (no I/O, no JSON). A background
thread collects them and appends a batch with delta-rs
(:func:`deltalake.write_deltalake`, ``mode="append"``, no JVM) every
``flush_seconds`` or every ``max_rows`` rows, whichever comes first. On a
clean shutdown (SIGTERM/SIGINT: uvicorn stops accepting, lets in-flight
requests finish, then runs the app's shutdown) :meth:`InferenceLog.close`
drains the queue and writes the last batch, so nothing answered with a 200 is
missing from the table.

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
import queue
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["InferenceLog", "LOG_COLUMNS"]

_log = logging.getLogger("mlops_kit.serving")

LOG_COLUMNS: tuple[str, ...] = (
    "request_id", "row_index", "timestamp", "model_name", "model_version", "model_alias",
    "inputs", "prediction", "latency_ms", "status",
)

_STOP = object()


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
    ) -> None:
        self.path = Path(path)
        self.model_name = model_name
        self.model_version = model_version
        self.model_alias = model_alias
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self.rows_written = 0
        self.commits = 0
        self.failed_writes = 0
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
            from deltalake import write_deltalake

            table = self._to_arrow(batch)
            write_deltalake(str(self.path), table, mode="append")
        except Exception:  # noqa: BLE001 - the log must never take the endpoint down
            self.failed_writes += 1
            _log.exception("inference log: appending %d requests to %s failed; will retry",
                           len(batch), self.path)
            return False
        self.rows_written += table.num_rows
        self.commits += 1
        return True

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

"""Streaming queries in a notebook without traps: bounded waits, re-run cells, clear stops.

Three things go wrong when a learner drives Structured Streaming from cells:

- ``awaitTermination()`` on a ``processingTime`` query waits forever (such a
  query ends only when stopped), and interrupting it leaves the query running
  in the background behind a gRPC traceback;
- re-running the cell that starts a query fails ("a query with that name is
  already active") inside a trace of thousands of characters;
- a query started on a source table that does not exist yet fails deep inside
  Delta (``DELTA_SCHEMA_NOT_SET``).

:func:`wait_for_stream` is the one bounded wait the lessons use;
:func:`guard_endless_wait` turns the endless ``awaitTermination()`` into one
line; :func:`replace_active_query` stops the query an earlier run of the cell
left running before a new one with the same name starts.
"""
from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from mlops_kit.exceptions import EndlessWaitError, StreamWaitTimeout

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["wait_for_stream", "guard_endless_wait", "replace_active_query", "StreamWaitTimeout"]

#: how long :func:`wait_for_stream` waits unless told otherwise (a demo's stream takes seconds)
DEFAULT_TIMEOUT = 300.0
#: the attribute :func:`guard_endless_wait` leaves on a query: its trigger
TRIGGER_ATTRIBUTE = "mlops_kit_trigger"


def _name(query: "StreamingQuery") -> str:
    return query.name or str(query.id)


def guard_endless_wait(query: "StreamingQuery", trigger: str) -> "StreamingQuery":
    """Make ``awaitTermination()`` without a timeout refuse on a query that never ends.

    A ``processingTime`` query runs until stopped: waiting for its end without
    a timeout hangs the cell. The guarded call says so in one line and names
    the two ways out; a call with a timeout is passed through unchanged.
    """
    setattr(query, TRIGGER_ATTRIBUTE, trigger)
    if trigger != "processingTime":
        return query
    wait = query.awaitTermination

    def awaitTermination(timeout: int | None = None) -> bool | None:  # noqa: N802 - PySpark's name
        if timeout is None:
            raise EndlessWaitError(
                f"query {_name(query)!r} runs until it is stopped (trigger processingTime), so "
                "awaitTermination() would wait forever: use wait_for_stream(query) to wait until "
                "it has caught up with its source, or query.stop() to end it")
        return wait(timeout)

    query.awaitTermination = awaitTermination  # type: ignore[method-assign]
    return query


def _wait_in_thread(call: Any, timeout: float) -> bool:
    """Run ``call`` in a daemon thread; True if it ended within ``timeout`` (its error re-raised)."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            call()
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = err

    worker = threading.Thread(target=run, daemon=True, name="mlops-kit-stream-wait")
    worker.start()
    worker.join(timeout)
    if "error" in outcome:
        raise outcome["error"]
    return not worker.is_alive()


def wait_for_stream(query: "StreamingQuery", *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait, at most ``timeout`` seconds, for ``query`` to finish what its source holds.

    An ``availableNow`` query (or any query not started by the kit) is waited
    for until it ends; a ``processingTime`` query until it has processed every
    row there is now (it keeps running afterwards). Interrupting the wait
    (Jupyter's stop button) stops the query and says so in one line, instead of
    leaving it running in the background. A query still busy at the deadline
    raises :class:`StreamWaitTimeout`, naming it.
    """
    endless = getattr(query, TRIGGER_ATTRIBUTE, None) == "processingTime"
    call = query.processAllAvailable if endless else query.awaitTermination
    try:
        finished = _wait_in_thread(call, timeout)
    except KeyboardInterrupt:
        query.stop()
        raise KeyboardInterrupt(f"interrupted: the query {_name(query)!r} was stopped") from None
    if not finished:
        raise StreamWaitTimeout(
            f"the query {_name(query)!r} was still running after {timeout:g} s; it keeps "
            "running: call query.stop() to end it, or wait again with a longer timeout")


def replace_active_query(spark: "SparkSession", name: str) -> bool:
    """Stop an active query called ``name`` (an earlier run of the same cell); True if one was.

    Spark refuses to start a second query under an active query's name; a
    notebook cell that starts a query is re-run often, so the kit stops the
    old one first and says so in one line.
    """
    for active in spark.streams.active:
        if active.name == name:
            active.stop()
            print(f"stopped the running query {name!r} (started by an earlier run) before "
                  "starting it again", file=sys.stderr)
            return True
    return False

"""Measure how fast each deployment path answers, on this machine.

Small, honest stopwatches for the lessons: a batch job's wall time and rows per
second per scoring engine, the time from a row's arrival to its prediction in
a streaming query, and the round trip of single-row REST requests. Plots of
what they return are in :mod:`mlops_kit.deployment.plots`.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from mlops_kit.exceptions import ConfigError, EnvironmentProblem

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["time_batch_job", "engine_throughput", "stream_arrival_latencies", "request_latencies",
           "call_latencies"]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def time_batch_job(df: "DataFrame", model_uri: str, *, repeats: int = 3,
                   engine: str = "auto") -> list[float]:
    """Wall time (ms) of scoring all of ``df``, ``repeats`` times.

    Each run scores every row and hands the result to Spark's ``noop`` sink, so
    the work is done and nothing is written: what is timed is the scoring job.
    """
    from mlops_kit.deployment.batch import score_dataframe

    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1. Got {repeats} instead.")
    scored = score_dataframe(df, model_uri, engine=engine)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        scored.write.format("noop").mode("overwrite").save()
        timings.append(_ms(started))
    return timings


def engine_throughput(df: "DataFrame", model_uri: str,
                      engines: Sequence[str] = ("sql", "udf")) -> dict[str, float]:
    """Rows per second of each scoring engine on ``df`` (best of two runs each).

    The first run of an engine pays its start-up (Python workers and model load
    for ``udf``); the best of two runs is the steady rate a nightly job sees.
    """
    rows = df.count()
    found = {}
    for engine in engines:
        best_ms = min(time_batch_job(df, model_uri, repeats=2, engine=engine))
        found[engine] = round(rows / (best_ms / 1000), 1)
    return found


def stream_arrival_latencies(query: "StreamingQuery", arrive: Callable[[Any], Any],
                             chunks: Iterable[Any]) -> list[float]:
    """For each chunk: ms from its arrival (``arrive(chunk)``) until the query scored it.

    ``query`` is a running ``processingTime`` query; ``processAllAvailable``
    returns once every row that had arrived is in the sink.
    """
    if not query.isActive:
        raise ConfigError("stream_arrival_latencies needs a running query. Got a stopped one: "
                          "start it with trigger='processingTime'.")
    timings = []
    for chunk in chunks:
        started = time.perf_counter()
        arrive(chunk)
        query.processAllAvailable()
        timings.append(_ms(started))
    return timings


def request_latencies(client: Any, payloads: Iterable[Any], *, path: str = "/invocations",
                      warmup: int = 3) -> list[float]:
    """Round-trip ms of one POST per payload with ``client`` (an ``httpx.Client``).

    The first ``warmup`` payloads are sent but not timed (connection set-up,
    first-call caches). A response that is not 200 raises: a latency of an
    error is not a latency of the model.
    """
    timings = []
    for i, payload in enumerate(payloads):
        started = time.perf_counter()
        response = client.post(path, json=payload)
        elapsed = _ms(started)
        if response.status_code != 200:
            raise EnvironmentProblem(f"The endpoint answered {response.status_code} to request {i}: "
                              f"{response.text[:200]}")
        if i >= warmup:
            timings.append(elapsed)
    return timings


def call_latencies(func: Callable[[Any], Any], arguments: Iterable[Any], *,
                   warmup: int = 3) -> list[float]:
    """Milliseconds of ``func(argument)`` for each argument, after ``warmup`` untimed calls.

    For in-process steps such as an online-store lookup:
    ``call_latencies(lambda key: store.get("listing_features", key), keys)``.
    """
    timings = []
    for i, argument in enumerate(arguments):
        started = time.perf_counter()
        func(argument)
        if i >= warmup:
            timings.append(_ms(started))
    return timings

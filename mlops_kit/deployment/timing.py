"""Measure how fast each deployment path answers, on this machine.

Small, honest stopwatches for the lessons: a batch job's wall time and rows per
second per scoring engine, the time from a row's arrival to its prediction in
a streaming query, and the round trip of single-row REST requests. Plots of
what they return are in :mod:`mlops_kit.deployment.plots`.

A batch prediction's latency is not its job's wall time: a row that arrives
between two scheduled runs waits for the next one to start.
:func:`scheduled_batch_latencies` models that wait from the schedule and the
measured run times, so the three paradigms can be compared on one axis:
arrival to stored prediction.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from mlops_kit.exceptions import ConfigError, EnvironmentProblem

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["time_batch_job", "engine_throughput", "scheduled_batch_latencies",
           "stream_arrival_latencies", "request_latencies", "call_latencies", "human_duration"]

_MS_PER_HOUR = 3_600_000.0


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


def scheduled_batch_latencies(job_ms: Sequence[float], *, every_hours: float,
                              arrivals: int = 240) -> list[float]:
    """Modelled ms from a row's arrival to its stored prediction, for a scheduled batch job.

    The job starts every ``every_hours`` hours and takes as long as it was
    measured to take (``job_ms``, e.g. from :func:`time_batch_job`). Rows
    arrive evenly over one interval between two runs; each waits for the next
    run to start (the whole interval for a row that arrives just after a start,
    almost nothing for one that arrives just before: half the interval at the
    median), then for that run to finish (the measured run times, in turn).

    Parameters
    ----------
    job_ms : sequence of float
        Measured wall times of the job, in ms.
    every_hours : float
        The schedule: hours between two runs (24 for a nightly job).
    arrivals : int
        How many evenly spaced arrivals to model.

    Returns
    -------
    list of float
        One latency per arrival, in ms.

    Examples
    --------
    >>> lat = scheduled_batch_latencies([1000.0], every_hours=1, arrivals=4)
    >>> [round(ms / 60_000, 2) for ms in lat]   # minutes
    [52.52, 37.52, 22.52, 7.52]
    """
    runs = [float(ms) for ms in job_ms]
    if not runs or not all(ms >= 0 and ms == ms and ms != float("inf") for ms in runs):
        raise ConfigError(f"job_ms must hold at least one finite, non-negative run time. Got {runs!r}.")
    if not every_hours > 0:
        raise ConfigError(f"every_hours must be a positive number of hours. Got {every_hours!r} instead.")
    if arrivals < 1:
        raise ConfigError(f"arrivals must be at least 1. Got {arrivals} instead.")
    interval = every_hours * _MS_PER_HOUR
    if interval < max(runs):
        raise ConfigError(
            f"A job that runs every {every_hours:g} h ({interval:,.0f} ms) cannot take "
            f"{max(runs):,.0f} ms: runs would overlap. Choose a longer schedule.")
    # arrival i lands at (i + 0.5) / arrivals of the interval and waits for its end
    return [interval * (1 - (i + 0.5) / arrivals) + runs[i % len(runs)] for i in range(arrivals)]


def human_duration(ms: float) -> str:
    """A duration (given in ms) in the unit a person would say.

    >>> [human_duration(ms) for ms in (0.012, 6.9, 2044.6, 270_000, 43_200_700)]
    ['12 µs', '6.9 ms', '2.0 s', '4.5 min', '12.0 h']
    """
    for unit, size in (("h", _MS_PER_HOUR), ("min", 60_000.0), ("s", 1000.0)):
        if abs(ms) >= size:
            return f"{ms / size:.1f} {unit}"
    if abs(ms) >= 1 or ms == 0:
        return f"{ms:.1f} ms"
    return f"{ms * 1000:.0f} µs"


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

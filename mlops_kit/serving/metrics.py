"""Prometheus metrics of the endpoint, kept in plain counters.

A request costs a few dictionary updates here, no locks (the endpoint runs one
event loop per process) and no client library; ``/metrics`` renders the text
exposition format that Prometheus scrapes::

    mlops_kit_requests_total{path="/invocations",status="200"} 42
    mlops_kit_request_errors_total{path="/invocations",status="400"} 3
    mlops_kit_request_duration_seconds_bucket{path="/invocations",le="0.005"} 40
    mlops_kit_predictions_total 97
    process_resident_memory_bytes 1.6e+08
    process_cpu_seconds_total 3.1
"""
from __future__ import annotations

import bisect
import time
from collections import defaultdict
from typing import Any, Callable

__all__ = ["Metrics", "LATENCY_BUCKETS", "endpoint_metrics", "log_metrics"]

#: histogram bucket upper bounds in seconds (Prometheus ``le`` labels)
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """Request counters, a latency histogram and process gauges.

    Parameters
    ----------
    labels : dict, optional
        Constant labels put on the model metrics (model name, version).
    extra : callable, optional
        Returns ``{metric_name: value}`` to add at render time (the inference
        log's queue depth, for instance): gauges, and counters for names
        ending in ``_total`` (frames the log skipped).

    Examples
    --------
    >>> m = Metrics()
    >>> m.observe("/invocations", 200, 0.004, rows=3)
    >>> 'mlops_kit_predictions_total 3' in m.render()
    True
    """

    def __init__(
        self,
        labels: dict[str, str] | None = None,
        extra: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.labels = dict(labels or {})
        self.extra = extra
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self.predictions = 0
        self.started = time.time()

    def observe(self, path: str, status: int, seconds: float, *, rows: int = 0) -> None:
        """Count one request; record its latency; add ``rows`` scored."""
        self.requests[(path, status)] += 1
        self.latency[path].observe(seconds)
        self.predictions += rows

    def count(self, path: str, status: int | None = None) -> int:
        """Requests seen on ``path`` (with ``status``, when given)."""
        return sum(n for (p, s), n in self.requests.items()
                   if p == path and (status is None or s == status))

    # ----------------------------------------------------------------- render
    def _label_text(self, **more: object) -> str:
        pairs = {**self.labels, **{k: str(v) for k, v in more.items()}}
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())
        return "{" + inner + "}" if inner else ""

    def render(self) -> str:
        """The Prometheus text exposition (version 0.0.4)."""
        lines: list[str] = []
        add = lines.append

        add("# HELP mlops_kit_requests_total Requests answered, by path and status.")
        add("# TYPE mlops_kit_requests_total counter")
        for (path, status), n in sorted(self.requests.items()):
            add(f"mlops_kit_requests_total{self._label_text(path=path, status=status)} {n}")
        add("# HELP mlops_kit_request_errors_total Requests answered with 4xx or 5xx.")
        add("# TYPE mlops_kit_request_errors_total counter")
        for (path, status), n in sorted(self.requests.items()):
            if status >= 400:
                labels = self._label_text(path=path, status=status)
                add(f"mlops_kit_request_errors_total{labels} {n}")

        add("# HELP mlops_kit_request_duration_seconds Time from body read to response.")
        add("# TYPE mlops_kit_request_duration_seconds histogram")
        for path, hist in sorted(self.latency.items()):
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), hist.counts):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                add(f"mlops_kit_request_duration_seconds_bucket"
                    f"{self._label_text(path=path, le=le)} {cumulative}")
            add(f"mlops_kit_request_duration_seconds_sum{self._label_text(path=path)} "
                f"{hist.total:.6f}")
            add(f"mlops_kit_request_duration_seconds_count{self._label_text(path=path)} "
                f"{hist.count}")

        add("# HELP mlops_kit_predictions_total Rows scored.")
        add("# TYPE mlops_kit_predictions_total counter")
        add(f"mlops_kit_predictions_total{self._label_text()} {self.predictions}")
        lines.extend(_process_lines(self.started))
        for metric, value in (self.extra() if self.extra else {}).items():
            add(f"# TYPE {metric} {'counter' if metric.endswith('_total') else 'gauge'}")
            add(f"{metric}{self._label_text()} {value}")
        return "\n".join(lines) + "\n"


def endpoint_metrics(labels: dict[str, str] | None, inference_log: Any = None,
                     extra: Callable[[], dict[str, float]] | None = None) -> Metrics:
    """The endpoint's :class:`Metrics`, with the inference log's gauges and counters."""
    def gauges() -> dict[str, float]:
        values = {} if extra is None else dict(extra())
        if inference_log is not None:
            values.update(log_metrics(inference_log))
        return values

    return Metrics(labels=labels, extra=gauges)


def log_metrics(log: Any) -> dict[str, float]:
    """The inference log's backlog and failure counts, as ``/metrics`` names them."""
    return {"mlops_kit_inference_log_pending": log.pending,
            "mlops_kit_inference_log_pending_bytes": log.pending_bytes,
            "mlops_kit_inference_log_rows_written": log.rows_written,
            "mlops_kit_inference_log_failed_writes": log.failed_writes,
            "mlops_kit_inference_log_shed_requests": log.shed_requests,
            "mlops_kit_inference_log_skipped_frames_total": log.skipped_frames,
            "mlops_kit_inference_log_quarantined_segments_total": log.quarantined_segments}



def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _process_lines(started: float) -> list[str]:
    import psutil

    proc = psutil.Process()
    cpu = proc.cpu_times()
    return [
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {proc.memory_info().rss}",
        "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {cpu.user + cpu.system:.3f}",
        "# HELP process_start_time_seconds Start time of the process since the epoch.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {started:.3f}",
    ]

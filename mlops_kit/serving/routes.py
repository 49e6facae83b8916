"""The routes every endpoint has beside ``/invocations``: liveness, health, metrics, guards.

Both endpoints (:mod:`.app`, :mod:`.routed`) build these from their
:class:`~.pipeline.RequestPipeline`, so a token guards the same way, every
answer is counted in the same ``/metrics`` and ``/health`` says the same
things about the inference log, whichever endpoint a probe or a scraper
talks to. ``/ping`` and ``/health`` stay open for liveness probes; with a
token set, ``/health`` tells an anonymous caller only that it is up.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from mlops_kit.exceptions import InvalidRequestError
from mlops_kit.serving.pipeline import RequestPipeline

__all__ = ["guard", "health", "metrics_text", "ping"]


def guard(pipeline: RequestPipeline, path: str, render: Callable[[float], Any]):
    """A route that needs the token (when one is set) and answers ``render(t0)``."""
    async def endpoint(request: Any):
        t0 = time.perf_counter()
        try:
            pipeline.authorize(request)
        except InvalidRequestError as err:
            return pipeline.error_response(err, path, t0)
        return render(t0)
    return endpoint


def metrics_text(pipeline: RequestPipeline):
    """``GET /metrics``: the Prometheus text (guarded by the token)."""
    from starlette.responses import Response

    def render(t0: float) -> Response:
        pipeline.metrics.observe("/metrics", 200, time.perf_counter() - t0)
        return Response(pipeline.metrics.render(), media_type="text/plain; version=0.0.4")

    return guard(pipeline, "/metrics", render)


def ping(pipeline: RequestPipeline):
    """``GET /ping``: 200 while the process serves (liveness)."""
    from starlette.responses import Response

    async def endpoint(request: Any) -> Response:
        t0 = time.perf_counter()
        pipeline.metrics.observe("/ping", 200, time.perf_counter() - t0)
        return Response(b"\n", media_type="application/json")

    return endpoint


def health(pipeline: RequestPipeline, describe: Callable[[], dict[str, Any]]):
    """``GET /health``: ``{"status": "ok"}`` for anyone; with the token (or none set) also
    ``describe()``, the uptime, the inference log's state and whether a JVM is loaded."""
    async def endpoint(request: Any):
        t0 = time.perf_counter()
        try:
            pipeline.authorize(request)
        except InvalidRequestError:  # anyone may know it is up; nothing more
            return pipeline.json_response({"status": "ok"}, "/health", t0)
        log = pipeline.inference_log
        body = {
            "status": "ok", **describe(),
            "uptime_seconds": round(time.time() - pipeline.started, 3),
            "pyspark_imported": "pyspark" in sys.modules,
            "inference_log": None if log is None else {
                "path": str(log.path), "pending": log.pending,
                "pending_bytes": log.pending_bytes, "rows_written": log.rows_written,
                "failed_writes": log.failed_writes},
        }
        return pipeline.json_response(body, "/health", t0)

    return endpoint

"""The endpoint serving several deployments at once, routed by a live config file.

``python -m mlops_kit.serving.routed --routing routing.json`` (or
:class:`RoutedEndpoint` from Python) serves every deployment of the config
(see :mod:`mlops_kit.serving.router`) in one process:

``POST /invocations``   scored by the deployment the router picks (sticky by
                        ``X-User-Id``); the answer names it:
                        ``{"predictions": [...], "deployment": "challenger",
                        "model_version": "2"}`` (headers ``x-deployment``,
                        ``x-model-version``). Shadow deployments get a copy in a
                        worker thread after the answer is recorded.
``GET /rollout``        routing table, generation, per-deployment requests,
                        error rate, p50/p99 latency
``POST /rollout/reset`` clear the per-deployment stats (a canary step starts)
``GET /ping``           liveness
``GET /health``         ``{"status": "ok"}``; with the token also the routing
                        config, its generation and the inference log's state
``GET /metrics``        Prometheus text, as the single-model endpoint's

``/invocations`` is the same request pipeline as the single-model endpoint's
(:mod:`.pipeline`: auth, 503 with ``Retry-After`` when the log is behind, the
body's size and deadline, validation, scoring off the event loop for big
batches, 400 for non-finite outputs, the log before the answer, metrics). This
module adds only the choice of deployment (:func:`route`: one snapshot of the
routing table per request), the deployment's stats, and the shadow copies.

Every answer, live or shadow, goes to the inference log (default table
``rollout_log``) with the ``deployment`` and a ``shadow`` flag. The log is
opened before the endpoint listens, as the single-model endpoint's, so a
damaged table stops the start with one line and no answered request can
miss it.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from mlops_kit.serving.auth import token_from_env, validate_token
from mlops_kit.serving.bodies import DEFAULT_BODY_TIMEOUT
from mlops_kit.serving.inference_log import RolloutLog, tame_delta_allocator
from mlops_kit.serving.metrics import endpoint_metrics
from mlops_kit.serving.pipeline import DEFAULT_MAX_BODY_BYTES, RequestPipeline, Target
from mlops_kit.serving.process import Endpoint
from mlops_kit.serving.routes import guard, health, metrics_text, ping
from mlops_kit.serving.scoring import score_now

__all__ = ["RolloutLog", "RoutedEndpoint", "create_routed_app", "main"]

_log = logging.getLogger("mlops_kit.serving")

#: shadow copies allowed to wait for the shadow thread; more are dropped (and counted),
#: so a burst of live traffic cannot pile up parsed bodies in memory behind a shadow
SHADOW_QUEUE = 256


class ShadowCopies:
    """Score shadow deployments off the request path, in one thread, a bounded queue ahead.

    A shadow's answer is never returned: it is counted in its deployment's
    stats and logged with ``shadow=True``. A shadow that fails, or a log that
    cannot take its rows, affects nobody (a warning, not an error).
    """

    def __init__(self, inference_log: RolloutLog | None, limit: int = SHADOW_QUEUE) -> None:
        self.inference_log = inference_log
        self.limit = limit
        self.waiting = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="shadow")

    def submit(self, shadows: list, parsed: Any, request_id: str, arrived: float) -> None:
        for shadow in shadows:
            with self._lock:
                if self.waiting >= self.limit:
                    self.dropped += 1
                    continue
                self.waiting += 1
            self._pool.submit(self._run, shadow, parsed, request_id, arrived)

    def _run(self, deployment: Any, parsed: Any, request_id: str, arrived: float) -> None:
        from mlops_kit.exceptions import InvalidRequestError

        t0 = time.perf_counter()
        try:
            predictions = score_now(deployment.served.predict, parsed)
            ms = (time.perf_counter() - t0) * 1000
            deployment.stats.observe(ms, ok=True)
            if self.inference_log is not None:
                self.inference_log.record_routed(
                    request_id, arrived, parsed, predictions, ms, deployment=deployment.name,
                    model_version=deployment.version, shadow=True)
        except InvalidRequestError:  # the input did not suit it: not the shadow's failure
            deployment.stats.observe((time.perf_counter() - t0) * 1000, ok=True)
        except Exception as err:  # noqa: BLE001 - a shadow never affects anyone
            deployment.stats.observe((time.perf_counter() - t0) * 1000, ok=False)
            _log.warning("shadow %s on request %s: %s: %s", deployment.name, request_id,
                         type(err).__name__, err)
        finally:
            with self._lock:
                self.waiting -= 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def route(router: Any, shadows: ShadowCopies):
    """The routed endpoint's choice: a deployment of one table snapshot, as a :class:`Target`."""
    def choose(request: Any) -> Target:
        table = router.table   # one snapshot for the whole request
        deployment = table.choose(request.headers.get("x-user-id"), router.rng)
        name, version = deployment.name, deployment.version
        copies = table.shadows
        return Target(
            predict=deployment.served.predict, schema=table.schema, name=name,
            fields={"deployment": name, "model_version": version},
            headers={"x-deployment": name, "x-model-version": version},
            log_columns={"deployment": name, "model_version": version, "shadow": False},
            observe=lambda ms, ok: deployment.stats.observe(ms, ok=ok),
            after=(lambda parsed, request_id, arrived:
                   shadows.submit(copies, parsed, request_id, arrived)) if copies else None)
    return choose


def create_routed_app(router: Any, *, token: str | None = None,
                      inference_log: RolloutLog | None = None,
                      max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                      body_timeout: float = DEFAULT_BODY_TIMEOUT):
    """The ASGI app of a loaded :class:`~mlops_kit.serving.router.Router`."""
    import contextlib

    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    shadows = ShadowCopies(inference_log)
    pipeline = RequestPipeline(
        metrics=endpoint_metrics({"routing": router.config_path.stem}, inference_log,
                                 lambda: {"mlops_kit_shadow_dropped_total": shadows.dropped}),
        token=token, inference_log=inference_log, max_body_bytes=max_body_bytes,
        body_timeout=body_timeout)
    choose = route(router, shadows)

    async def invocations(request: Request) -> Response:
        return await pipeline.invocations(request, choose)

    def rollout(t0: float) -> Response:
        return Response(orjson.dumps(router.describe()), media_type="application/json")

    def reset(t0: float) -> Response:
        router.reset_stats()
        return rollout(t0)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        router.start()
        if inference_log is not None:
            inference_log.start()
        try:
            yield
        finally:
            router.stop()
            shadows.shutdown()
            if inference_log is not None:
                inference_log.close()

    app = Starlette(lifespan=lifespan)
    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_route("/rollout", guard(pipeline, "/rollout", rollout), methods=["GET"])
    app.add_route("/rollout/reset", guard(pipeline, "/rollout/reset", reset), methods=["POST"])
    app.add_route("/ping", ping(pipeline), methods=["GET"])
    app.add_route("/health", health(pipeline, lambda: {
        "routing": str(router.config_path), "generation": router.table.generation}),
        methods=["GET"])
    app.add_route("/metrics", metrics_text(pipeline), methods=["GET"])
    app.state.router = router
    app.state.pipeline = pipeline
    app.state.shadows = shadows
    return app


def build_routed_app(routing: str | Path, *, token: str | None = None,
                     log_table: str | None = "rollout_log", poll_seconds: float = 1.0,
                     seed: int | None = None, max_body_bytes: int | None = None):
    """Load every deployment of the routing config, open the log, and build the app."""
    from mlops_kit.serving.router import Router
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env().activate()
    router = Router(routing, poll_seconds=poll_seconds, seed=seed)
    table = router.load()
    first = next(iter(table.deployments.values()))
    log = None
    if log_table:
        log = RolloutLog(ws.table_path(log_table), model_name=first.served.name,
                         model_version=first.version, model_alias=None,
                         spool_dir=ws.spool_path(log_table))
        log.open()  # a damaged table or spool stops the start here, in one line
    return create_routed_app(router, token=validate_token(token), inference_log=log,
                             max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES)


class RoutedEndpoint(Endpoint):
    """:class:`~mlops_kit.serving.Endpoint` for a routing config instead of one model.

    Parameters
    ----------
    routing : path-like
        The routing config file; edit it (or move aliases) while it runs.
    poll_seconds : float
        How often the endpoint checks the file and the aliases.
    """

    def __init__(self, routing: str | Path, port: int | None = None, token: str | None = None,
                 *, log_table: str | None = "rollout_log", poll_seconds: float = 1.0,
                 seed: int | None = None, max_body_bytes: int | None = None,
                 startup_timeout: float = 60.0) -> None:
        super().__init__(f"routing:{routing}", port, token, log_table=log_table,
                         max_body_bytes=max_body_bytes, startup_timeout=startup_timeout)
        self.routing = Path(routing)
        self.poll_seconds = poll_seconds
        self.seed = seed

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "mlops_kit.serving.routed", "--routing", str(self.routing),
               "--host", self.host, "--port", str(self.port), "--log-table", self.log_table or "",
               "--poll-seconds", str(self.poll_seconds)]
        if self.max_body_bytes:
            cmd += ["--max-body-bytes", str(self.max_body_bytes)]
        return cmd + (["--seed", str(self.seed)] if self.seed is not None else [])

    def rollout(self) -> dict[str, Any]:
        """``GET /rollout``: the live routing table and per-deployment stats."""
        import httpx

        return httpx.get(f"{self.url}/rollout", headers=self.headers, timeout=10).json()

    def reset_stats(self) -> dict[str, Any]:
        import httpx

        return httpx.post(f"{self.url}/rollout/reset", headers=self.headers, timeout=10).json()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mlops_kit.serving.routed``; a kit error is one line."""
    from mlops_kit._exit import exit_on_kit_error
    from mlops_kit.serving.server import (_clean_exit_server_class, block_pyspark, check_host,
                                          uvicorn_config)

    block_pyspark()
    tame_delta_allocator()
    parser = argparse.ArgumentParser(prog="python -m mlops_kit.serving.routed")
    parser.add_argument("--routing", required=True, help="routing config JSON file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--log-table", default="rollout_log")
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-body-bytes", type=int, default=None, help="body limit (413 above)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with exit_on_kit_error():
        token = token_from_env()
        check_host(args.host, token=token, allow_remote=False)
        app = build_routed_app(args.routing, token=token, log_table=args.log_table or None,
                               poll_seconds=args.poll_seconds, seed=args.seed,
                               max_body_bytes=args.max_body_bytes)
    config = uvicorn_config(app, host=args.host, port=args.port)
    print(f"mlops-kit routed endpoint: {args.routing} on http://{args.host}:{args.port}", flush=True)
    _clean_exit_server_class()(config).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

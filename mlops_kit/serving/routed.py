"""The endpoint serving several deployments at once, routed by a live config file.

``python -m mlops_kit.serving.routed --routing routing.json`` (or
:class:`RoutedEndpoint` from Python) serves every deployment of the config
(see :mod:`mlops_kit.serving.router`) in one process:

``POST /invocations``   scored by the deployment the router picks (sticky by
                        ``X-User-Id``); the answer names it:
                        ``{"predictions": [...], "deployment": "challenger",
                        "model_version": "2"}`` (headers ``x-deployment``,
                        ``x-model-version``). Shadow deployments get a copy in a
                        worker thread after the answer is computed.
``GET /rollout``        routing table, generation, per-deployment requests,
                        error rate, p50/p99 latency
``POST /rollout/reset`` clear the per-deployment stats (a canary step starts)
``GET /ping``           liveness

Every answer, live or shadow, goes to the inference log (default table
``rollout_log``) with the ``deployment`` and a ``shadow`` flag.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from mlops_kit.exceptions import InvalidRequestError
from mlops_kit.serving.auth import check_bearer, token_from_env, validate_token
from mlops_kit.serving.bodies import json_content_type, predictions_body, read_body
from mlops_kit.serving.inference_log import RolloutLog, tame_delta_allocator
from mlops_kit.serving.process import Endpoint
from mlops_kit.serving.schema import parse_payload

__all__ = ["RolloutLog", "RoutedEndpoint", "create_routed_app", "main"]

_log = logging.getLogger("mlops_kit.serving")


def create_routed_app(router: Any, *, token: str | None = None,
                      inference_log: RolloutLog | None = None,
                      max_body_bytes: int = 1 << 20):
    """The ASGI app of a started :class:`~mlops_kit.serving.router.Router`."""
    import contextlib

    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    json_opts = orjson.OPT_SERIALIZE_NUMPY
    expected = token.encode() if token else None
    shadow_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="shadow")

    def error(err: InvalidRequestError, deployment: str | None = None) -> Response:
        headers = {"x-deployment": deployment} if deployment else None
        return Response(orjson.dumps(err.to_dict()), err.status_code, headers=headers,
                        media_type="application/json")

    def run_shadow(deployment, parsed, request_id: str, arrived: float) -> None:
        t0 = time.perf_counter()
        try:
            predictions = deployment.served.predict(parsed)
        except Exception:  # noqa: BLE001 - a shadow never affects anyone
            deployment.stats.observe((time.perf_counter() - t0) * 1000, ok=False)
            return
        ms = (time.perf_counter() - t0) * 1000
        deployment.stats.observe(ms, ok=True)
        if inference_log is not None:
            inference_log.record_routed(request_id, arrived, parsed, predictions, ms,
                                        deployment=deployment.name,
                                        model_version=deployment.version, shadow=True)

    async def invocations(request: Request) -> Response:
        t0 = time.perf_counter()
        arrived = time.time()
        table = router.table   # one snapshot for the whole request
        try:
            if expected is not None:
                check_bearer(request.headers.get("authorization"), expected)
            if not json_content_type(request.headers.get("content-type")):
                raise InvalidRequestError("The body must be JSON: send 'Content-Type: "
                                          "application/json'.", status_code=415,
                                          error_code="UNSUPPORTED_MEDIA_TYPE")
            body = await read_body(request, max_body_bytes)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as err:
                raise InvalidRequestError(f"The body is not valid JSON ({err}).",
                                          error_code="MALFORMED_REQUEST") from None
            parsed = parse_payload(payload, table.schema)
        except InvalidRequestError as err:
            return error(err)
        deployment = table.choose(request.headers.get("x-user-id"), router.rng)
        try:
            predictions = deployment.served.predict(parsed)
        except Exception as err:  # noqa: BLE001 - answer, count, keep serving
            deployment.stats.observe((time.perf_counter() - t0) * 1000, ok=False)
            return error(InvalidRequestError(
                f"The model of deployment {deployment.name!r} failed: {type(err).__name__}: {err}",
                status_code=500, error_code="INTERNAL_ERROR"), deployment.name)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        body = {"predictions": predictions_body(predictions), "deployment": deployment.name,
                "model_version": deployment.version}
        response = Response(orjson.dumps(body, option=json_opts), media_type="application/json",
                            headers={"x-request-id": request_id, "x-deployment": deployment.name,
                                     "x-model-version": deployment.version})
        ms = (time.perf_counter() - t0) * 1000
        deployment.stats.observe(ms, ok=True)
        if inference_log is not None:
            inference_log.record_routed(request_id, arrived, parsed, predictions, ms,
                                        deployment=deployment.name,
                                        model_version=deployment.version, shadow=False)
        for shadow in table.shadows:
            shadow_pool.submit(run_shadow, shadow, parsed, request_id, arrived)
        return response

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            if expected is not None:
                try:
                    check_bearer(request.headers.get("authorization"), expected)
                except InvalidRequestError as err:
                    return error(err)
            return handler()
        return endpoint

    def rollout() -> Response:
        return Response(orjson.dumps(router.describe()), media_type="application/json")

    def reset() -> Response:
        router.reset_stats()
        return rollout()

    async def ping(request: Request) -> Response:
        return Response(b"\n", media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        router.start()
        if inference_log is not None:
            inference_log.start()
        try:
            yield
        finally:
            router.stop()
            shadow_pool.shutdown(wait=True)
            if inference_log is not None:
                inference_log.close()

    app = Starlette(lifespan=lifespan)
    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_route("/rollout", guarded(rollout), methods=["GET"])
    app.add_route("/rollout/reset", guarded(reset), methods=["POST"])
    app.add_route("/ping", ping, methods=["GET"])
    app.state.router = router
    return app


def build_routed_app(routing: str | Path, *, token: str | None = None,
                     log_table: str | None = "rollout_log", poll_seconds: float = 1.0,
                     seed: int | None = None):
    """Load every deployment of the routing config and build the app."""
    from mlops_kit.serving.router import Router
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env().activate()
    router = Router(routing, poll_seconds=poll_seconds, seed=seed)
    table = router.load()
    first = next(iter(table.deployments.values()))
    log = None
    if log_table:
        log = RolloutLog(ws.table_path(log_table), model_name=first.served.name,
                         model_version=first.version, model_alias=None)
    return create_routed_app(router, token=validate_token(token), inference_log=log)


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
                 seed: int | None = None, startup_timeout: float = 60.0) -> None:
        super().__init__(f"routing:{routing}", port, token, log_table=log_table,
                         startup_timeout=startup_timeout)
        self.routing = Path(routing)
        self.poll_seconds = poll_seconds
        self.seed = seed

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "mlops_kit.serving.routed", "--routing", str(self.routing),
               "--host", self.host, "--port", str(self.port), "--log-table", self.log_table or "",
               "--poll-seconds", str(self.poll_seconds)]
        return cmd + (["--seed", str(self.seed)] if self.seed is not None else [])

    def rollout(self) -> dict[str, Any]:
        """``GET /rollout``: the live routing table and per-deployment stats."""
        import httpx

        return httpx.get(f"{self.url}/rollout", headers=self.headers, timeout=10).json()

    def reset_stats(self) -> dict[str, Any]:
        import httpx

        return httpx.post(f"{self.url}/rollout/reset", headers=self.headers, timeout=10).json()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mlops_kit.serving.routed``."""
    from mlops_kit.serving.server import _clean_exit_server_class, block_pyspark, uvicorn_config

    block_pyspark()
    tame_delta_allocator()
    parser = argparse.ArgumentParser(prog="python -m mlops_kit.serving.routed")
    parser.add_argument("--routing", required=True, help="routing config JSON file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--log-table", default="rollout_log")
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from mlops_kit.serving.server import check_host

    token = token_from_env()
    check_host(args.host, token=token, allow_remote=False)
    app = build_routed_app(args.routing, token=token, log_table=args.log_table or None,
                           poll_seconds=args.poll_seconds, seed=args.seed)
    config = uvicorn_config(app, host=args.host, port=args.port)
    print(f"mlops-kit routed endpoint: {args.routing} on http://{args.host}:{args.port}", flush=True)
    _clean_exit_server_class()(config).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

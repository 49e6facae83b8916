"""The FastAPI app of the endpoint: MLflow-compatible ``/invocations`` and friends.

Routes
------
``POST /invocations``  score rows (``dataframe_split``, ``dataframe_records``,
                       ``instances``, ``inputs``); answers ``{"predictions": [...]}``
``GET /ping``          200 once the model is loaded (liveness)
``GET /health``        ``{"status": "ok"}``; with the token (or when none is set) also
                       model, uptime, inference-log state, whether a JVM is loaded
``GET /version``       model name, version, alias, run id
``GET /metrics``       Prometheus text
``GET /openapi.json``  OpenAPI document (:mod:`.openapi`), with the token when one is set
``GET /docs``          Swagger UI over it (only without a token: a browser cannot send one)

``/invocations`` is the shared request pipeline (:mod:`.pipeline`: auth,
admission with 503 and ``Retry-After`` when the inference log is behind,
parse, validate, score off the event loop for big batches, finite outputs,
log before answer, metrics), which the routed endpoint (:mod:`.routed`) uses
too. This app adds only its one target: the loaded model, with the feature
lookup when the model needs one.

Speed: ``/invocations`` is a plain Starlette route (no dependency injection,
no pydantic), reads the body once, parses it with orjson, validates it in
plain Python (:mod:`.schema`) and calls the model's own predict function
(:mod:`.model_loader`); there is no middleware.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any

from mlops_kit.serving.bodies import DEFAULT_BODY_TIMEOUT
from mlops_kit.serving.inference_log import InferenceLog
from mlops_kit.serving.model_loader import ServedModel
from mlops_kit.serving.openapi import endpoint_openapi
from mlops_kit.serving.metrics import endpoint_metrics
from mlops_kit.serving.pipeline import DEFAULT_MAX_BODY_BYTES, RequestPipeline, Target
from mlops_kit.serving.routes import guard, health, metrics_text, ping
from mlops_kit.serving.scoring import THREAD_ROWS

__all__ = ["create_app", "DEFAULT_MAX_BODY_BYTES", "THREAD_ROWS"]


def create_app(
    model: ServedModel,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    inference_log: InferenceLog | None = None,
    feature_filler: Any = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
):
    """Build the endpoint's ASGI app for a loaded model.

    Parameters
    ----------
    model : ServedModel
        From :func:`~mlops_kit.serving.model_loader.load_served_model`.
    token : str, optional
        Bearer token required on ``/invocations``, ``/version``, ``/metrics``.
    max_body_bytes : int
        Larger bodies get 413.
    inference_log : InferenceLog, optional
        Started on app start-up, flushed and stopped on shutdown.
    feature_filler : object, optional
        Has ``schema`` (what requests must carry) and ``fill(parsed)``; looks
        up features the request leaves out (see :mod:`.features`).
    body_timeout : float
        Seconds to receive the whole body; slower senders get 408 and a closed
        connection (``$MLOPS_KIT_SERVING_BODY_TIMEOUT``, 10 s by default).
    """
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response

    request_schema = feature_filler.schema if feature_filler is not None else model.schema
    pipeline = RequestPipeline(
        metrics=endpoint_metrics({"model": model.name, "version": model.version}, inference_log),
        token=token, inference_log=inference_log, max_body_bytes=max_body_bytes,
        body_timeout=body_timeout)
    # one model answers everything: the route is a constant
    target = Target(predict=model.predict, schema=request_schema,
                    fill=feature_filler.fill if feature_filler is not None else None)

    def route(request: Request) -> Target:
        return target

    async def invocations(request: Request) -> Response:
        return await pipeline.invocations(request, route)

    def version(t0: float) -> Response:
        return pipeline.json_response(model.describe(), "/version", t0)

    @functools.cache
    def openapi() -> dict[str, Any]:
        return endpoint_openapi(
            title=app.title, version=app.version, description=app.description,
            schema=request_schema, token_required=pipeline.token is not None,
            max_body_bytes=max_body_bytes)

    def openapi_json(t0: float) -> Response:
        return pipeline.json_response(openapi(), "/openapi.json", t0)

    async def swagger_ui(request: Request) -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if inference_log is not None:
            inference_log.start()
        try:
            yield
        finally:
            if inference_log is not None:
                inference_log.close()

    app = FastAPI(
        title=f"mlops-kit endpoint: {model.name}",
        description="MLflow-compatible scoring endpoint.",
        version=str(model.version),
        lifespan=lifespan,
        # FastAPI's own document would be empty (no FastAPI routes) and public
        openapi_url=None, docs_url=None, redoc_url=None,
    )
    app.openapi = openapi  # what FastAPI tooling calls
    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_route("/ping", ping(pipeline), methods=["GET"])
    app.add_route("/health", health(pipeline, lambda: {"model": f"{model.name}/{model.version}"}),
                  methods=["GET"])
    app.add_route("/version", guard(pipeline, "/version", version), methods=["GET"])
    app.add_route("/metrics", metrics_text(pipeline), methods=["GET"])
    app.add_route("/openapi.json", guard(pipeline, "/openapi.json", openapi_json), methods=["GET"])
    if pipeline.token is None:
        app.add_route("/docs", swagger_ui, methods=["GET"])
    app.state.metrics = pipeline.metrics
    app.state.model = model
    app.state.pipeline = pipeline
    return app

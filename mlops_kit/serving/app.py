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

Speed: ``/invocations`` is a plain Starlette route (no dependency injection,
no pydantic), reads the body once, parses it with orjson, validates it in
plain Python (:mod:`.schema`) and calls the model's own predict function
(:mod:`.model_loader`); there is no middleware. Anything wrong with a request
is a 4xx with ``{"error_code", "message"}``; an unexpected failure inside the
model is a 500 with the same shape, and the server keeps serving.

Durability and back-pressure: a 200 is sent only after the request's rows are
in the inference log's write-ahead spool (:mod:`.inference_log`). When the
log's backlog passes its bound, ``/invocations`` answers 503 with a
``Retry-After`` header before reading the body, so memory and the backlog stay
bounded however hard clients push.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
import uuid
from typing import Any

from mlops_kit.exceptions import InvalidRequestError
from mlops_kit.serving.auth import check_bearer
from mlops_kit.serving.bodies import (
    DEFAULT_BODY_TIMEOUT, json_content_type, predictions_body, read_body,
)
from mlops_kit.serving.inference_log import InferenceLog
from mlops_kit.serving.metrics import Metrics
from mlops_kit.serving.model_loader import ServedModel
from mlops_kit.serving.openapi import endpoint_openapi
from mlops_kit.serving.schema import parse_payload

__all__ = ["create_app", "DEFAULT_MAX_BODY_BYTES"]

_log = logging.getLogger("mlops_kit.serving")

#: requests with a larger body get 413 (configurable per app)
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: batches larger than this are scored in a worker thread so /ping stays responsive
THREAD_ROWS = 2000


def _check_finite_predictions(predictions: Any) -> None:
    """Refuse inputs the model turned into infinity or NaN (e.g. 1e308 scaled up)."""
    import numpy as np

    try:
        values = np.asarray(predictions.to_numpy() if hasattr(predictions, "to_numpy")
                            else predictions)
    except Exception:  # noqa: BLE001 - not array-like: nothing numeric to check
        return
    if values.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidRequestError(
            f"Row {row} gives a prediction of {values.flat[int(np.flatnonzero(bad)[0])]}: the "
            "input is out of the range the model can compute with. Send finite values of a "
            "realistic size.", error_code="MODEL_REJECTED_INPUT")


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
    import anyio.to_thread
    import orjson
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response

    json_opts = orjson.OPT_SERIALIZE_NUMPY
    expected_token = token.encode() if token else None
    request_schema = feature_filler.schema if feature_filler is not None else model.schema
    metrics = Metrics(
        labels={"model": model.name, "version": model.version},
        extra=(lambda: {"mlops_kit_inference_log_pending": inference_log.pending,
                        "mlops_kit_inference_log_pending_bytes": inference_log.pending_bytes,
                        "mlops_kit_inference_log_rows_written": inference_log.rows_written,
                        "mlops_kit_inference_log_failed_writes": inference_log.failed_writes,
                        "mlops_kit_inference_log_shed_requests": inference_log.shed_requests,
                        "mlops_kit_inference_log_skipped_frames_total": inference_log.skipped_frames,
                        "mlops_kit_inference_log_quarantined_segments_total":
                            inference_log.quarantined_segments})
        if inference_log is not None else None,
    )
    started = time.time()

    def error_response(err: InvalidRequestError, path: str, t0: float,
                       headers: dict[str, str] | None = None) -> Response:
        if err.status_code == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if err.status_code == 408:  # the rest of the body may still come: drop the connection
            headers = {"Connection": "close"}
        metrics.observe(path, err.status_code, time.perf_counter() - t0)
        return Response(orjson.dumps(err.to_dict()), err.status_code,
                        headers=headers, media_type="application/json")

    def json_response(body: Any, path: str, t0: float, **kwargs: Any) -> Response:
        response = Response(orjson.dumps(body, option=json_opts),
                            media_type="application/json", **kwargs)
        metrics.observe(path, 200, time.perf_counter() - t0)
        return response

    async def invocations(request: Request) -> Response:
        t0 = time.perf_counter()
        arrived = time.time()
        try:
            if expected_token is not None:
                check_bearer(request.headers.get("authorization"), expected_token)
            if inference_log is not None:
                retry_after = inference_log.overloaded()
                if retry_after is not None:  # refuse before reading the body
                    overloaded = InvalidRequestError(
                        "The endpoint is behind on writing its inference log; try again "
                        f"in {retry_after:g} s.", status_code=503, error_code="OVERLOADED")
                    return error_response(overloaded, "/invocations", t0, {
                        "Retry-After": f"{retry_after:.0f}", "Connection": "close"})
            if not json_content_type(request.headers.get("content-type")):
                raise InvalidRequestError(
                    "The body must be JSON: send the header 'Content-Type: application/json'. "
                    f"Got {request.headers.get('content-type') or 'no content type'!r}.",
                    status_code=415, error_code="UNSUPPORTED_MEDIA_TYPE",
                )
            body = await read_body(request, max_body_bytes, body_timeout)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as err:
                raise InvalidRequestError(
                    f"The body is not valid JSON ({err}). Send e.g. "
                    '{"dataframe_records": [{"col": 1.0}]}.',
                    error_code="MALFORMED_REQUEST",
                ) from None
            parsed = parse_payload(payload, request_schema)
            if feature_filler is not None:
                parsed = feature_filler.fill(parsed)
            try:
                if parsed.n_rows > THREAD_ROWS:
                    predictions = await anyio.to_thread.run_sync(model.predict, parsed)
                else:
                    predictions = model.predict(parsed)
            except (ValueError, TypeError, KeyError) as err:
                raise InvalidRequestError(
                    f"The model rejected the input: {type(err).__name__}: {err}",
                    error_code="MODEL_REJECTED_INPUT",
                ) from None
            _check_finite_predictions(predictions)
        except InvalidRequestError as err:
            return error_response(err, "/invocations", t0)
        except Exception as err:  # noqa: BLE001 - answer, log, keep serving
            _log.exception("scoring failed")
            failure = InvalidRequestError(
                f"The model failed: {type(err).__name__}: {err}",
                status_code=500, error_code="INTERNAL_ERROR",
            )
            return error_response(failure, "/invocations", t0)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = Response(
            orjson.dumps({"predictions": predictions_body(predictions)}, option=json_opts),
            media_type="application/json", headers={"x-request-id": request_id},
        )
        elapsed = time.perf_counter() - t0
        if inference_log is not None:
            # the 200 goes out only once the rows are in the spool
            record = functools.partial(inference_log.record, request_id, arrived, parsed,
                                       predictions, elapsed * 1000.0)
            try:
                if parsed.n_rows > THREAD_ROWS or inference_log.spool.fsync == "always":
                    await anyio.to_thread.run_sync(record)
                else:
                    record()
            except Exception as err:  # noqa: BLE001 - no 200 without the record
                _log.exception("inference log: spooling request %s failed", request_id)
                failure = InvalidRequestError(
                    f"The request was scored but could not be recorded ({type(err).__name__}); "
                    "it was not counted. Try again.",
                    status_code=503, error_code="LOG_UNAVAILABLE")
                return error_response(failure, "/invocations", t0, {"Retry-After": "1"})
        metrics.observe("/invocations", 200, elapsed, rows=parsed.n_rows)
        return response

    async def ping(request: Request) -> Response:
        t0 = time.perf_counter()
        metrics.observe("/ping", 200, time.perf_counter() - t0)
        return Response(b"\n", media_type="application/json")

    async def health(request: Request) -> Response:
        t0 = time.perf_counter()
        if expected_token is not None:
            try:
                check_bearer(request.headers.get("authorization"), expected_token)
            except InvalidRequestError:  # anyone may know it is up; nothing more
                return json_response({"status": "ok"}, "/health", t0)
        body = {
            "status": "ok",
            "model": f"{model.name}/{model.version}",
            "uptime_seconds": round(time.time() - started, 3),
            "pyspark_imported": "pyspark" in sys.modules,
            "inference_log": None if inference_log is None else {
                "path": str(inference_log.path),
                "pending": inference_log.pending,
                "pending_bytes": inference_log.pending_bytes,
                "rows_written": inference_log.rows_written,
                "failed_writes": inference_log.failed_writes,
            },
        }
        return json_response(body, "/health", t0)

    def protected(path: str, render):
        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            try:
                if expected_token is not None:
                    check_bearer(request.headers.get("authorization"), expected_token)
            except InvalidRequestError as err:
                return error_response(err, path, t0)
            return render(t0)
        return endpoint

    def version(t0: float) -> Response:
        return json_response(model.describe(), "/version", t0)

    def metrics_text(t0: float) -> Response:
        metrics.observe("/metrics", 200, time.perf_counter() - t0)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @functools.cache
    def openapi() -> dict[str, Any]:
        return endpoint_openapi(
            title=app.title, version=app.version, description=app.description,
            schema=request_schema, token_required=expected_token is not None,
            max_body_bytes=max_body_bytes)

    def openapi_json(t0: float) -> Response:
        return json_response(openapi(), "/openapi.json", t0)

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
    app.add_route("/ping", ping, methods=["GET"])
    app.add_route("/health", health, methods=["GET"])
    app.add_route("/version", protected("/version", version), methods=["GET"])
    app.add_route("/metrics", protected("/metrics", metrics_text), methods=["GET"])
    app.add_route("/openapi.json", protected("/openapi.json", openapi_json), methods=["GET"])
    if expected_token is None:
        app.add_route("/docs", swagger_ui, methods=["GET"])
    app.state.metrics = metrics
    app.state.model = model
    return app

"""The one request pipeline of ``POST /invocations``, shared by every scoring endpoint.

Why one: the single-model endpoint (:mod:`.app`) and the routed endpoint
(:mod:`.routed`, canary, blue-green, shadow and A/B) once had a copy each of
the request path, and the copies drifted: the routed one never shed load,
answered ``null`` for an overflowing prediction, scored and logged on the
event loop and answered every model error with 500. Now both hand their
requests to :class:`RequestPipeline`, and an endpoint adds only the choice of
*who* answers: a :data:`Route`, called once per request, returns a
:class:`Target` (the model, its request schema, and what the answer and the
log say about it), the way a Starlette dependency or middleware is composed
around one handler instead of copied into it.

The stages, in order (each refusal is ``{"error_code", "message"}`` with its
status, and counted in ``/metrics``):

1. **auth**: the bearer token, when one is set (401 and ``WWW-Authenticate``);
2. **admission**: when the inference log's backlog is past its bound, 503 with
   ``Retry-After`` and ``Connection: close`` *before the body is read*, so
   memory and the spool stay bounded however hard clients push;
3. **parse**: JSON content type (415), the body within its size (413) and its
   deadline (408 with ``Connection: close``: the rest may still be coming),
   JSON (400);
4. **route**: the endpoint's choice of :class:`Target` (the routed endpoint:
   a deployment, from one snapshot of its routing table);
5. **validate**: the target's schema (:mod:`.schema`, 400), features looked up
   when the target fills them (:mod:`.features`);
6. **score**: :func:`.scoring.score`: big batches off the event loop, the
   model's refusals 400, non-finite outputs 400, any other failure 500;
7. **log before answer**: the rows are one whole frame in the inference log's
   spool before the 200 leaves (off the loop for big batches or ``fsync``);
   when that fails the client gets 503 ``LOG_UNAVAILABLE``, never a 200
   without its row;
8. **answer and metrics**: ``{"predictions": [...]}`` plus the target's
   fields and headers, ``x-request-id``; latency and rows in ``/metrics``;
   then the target's ``after`` hook (shadow copies) runs.
"""
from __future__ import annotations

import functools
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mlops_kit.exceptions import InvalidRequestError
from mlops_kit.serving.auth import check_bearer
from mlops_kit.serving.bodies import (DEFAULT_BODY_TIMEOUT, json_content_type, predictions_body,
                                      read_body)
from mlops_kit.serving.metrics import Metrics
from mlops_kit.serving.schema import InputSchema, ParsedInput, parse_payload
from mlops_kit.serving.scoring import predict_in_thread, score

__all__ = ["DEFAULT_MAX_BODY_BYTES", "INVOCATIONS", "RequestPipeline", "Route", "Target"]

_log = logging.getLogger("mlops_kit.serving")

#: requests with a larger body get 413 (configurable per endpoint)
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: the path every stage counts its answers under
INVOCATIONS = "/invocations"


@dataclass(frozen=True)
class Target:
    """Who answers one request, and what the answer and the log say about it.

    Parameters
    ----------
    predict : callable
        ``predict(parsed) -> predictions`` (a :class:`~.model_loader.ServedModel`'s).
    schema : InputSchema
        What the request must carry.
    fill : callable, optional
        ``fill(parsed) -> parsed``: features looked up for what the request leaves out.
    name : str, optional
        The deployment's name, said in a 500's message.
    fields, headers : mapping
        Added to the JSON answer and to its headers (headers also to a refusal
        that comes from scoring, so a client sees which deployment refused).
    log_columns : mapping, optional
        Per-request columns of the inference log's rows.
    observe : callable, optional
        ``observe(ms, ok)`` once scoring ends; ``ok`` is False for a 5xx.
    after : callable, optional
        ``after(parsed, request_id, arrived)`` once the answer is recorded
        (must not block: the routed endpoint queues shadow copies here).
    """

    predict: Callable[[ParsedInput], Any]
    schema: InputSchema
    fill: Callable[[ParsedInput], ParsedInput] | None = None
    name: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    log_columns: Mapping[str, Any] | None = None
    observe: Callable[[float, bool], None] | None = None
    after: Callable[[ParsedInput, str, float], None] | None = None


#: an endpoint's choice of target for a request (called once per request)
Route = Callable[[Any], Target]


class RequestPipeline:
    """Parse, validate, auth, admit, score, log and answer one ``/invocations`` request.

    Parameters
    ----------
    metrics : Metrics
        Where every answer is counted (:func:`.metrics.endpoint_metrics`).
    token : str, optional
        Bearer token required on ``/invocations`` and on the guarded routes
        (:func:`.routes.guard`).
    inference_log : InferenceLog, optional
        The write-ahead log every 200 is recorded in first; its backlog bound
        is the admission check.
    max_body_bytes : int
        Larger bodies get 413.
    body_timeout : float
        Seconds to receive the whole body (408 and a closed connection after).
    """

    def __init__(self, *, metrics: Metrics, token: str | None = None, inference_log: Any = None,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.metrics = metrics
        self.token = token.encode() if token else None
        self.inference_log = inference_log
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.started = time.time()

    # --------------------------------------------------------------- answers
    def error_response(self, err: InvalidRequestError, path: str, t0: float,
                       headers: Mapping[str, str] | None = None):
        """``{"error_code", "message"}`` with its status, counted under ``path``."""
        import orjson
        from starlette.responses import Response

        headers = dict(headers or {})
        if err.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if err.status_code == 408:  # the rest of the body may still come: drop the connection
            headers["Connection"] = "close"
        self.metrics.observe(path, err.status_code, time.perf_counter() - t0)
        return Response(orjson.dumps(err.to_dict()), err.status_code, headers=headers or None,
                        media_type="application/json")

    def json_response(self, body: Any, path: str, t0: float):
        """A 200 with ``body`` as JSON, counted under ``path``."""
        import orjson
        from starlette.responses import Response

        response = Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                            media_type="application/json")
        self.metrics.observe(path, 200, time.perf_counter() - t0)
        return response

    def authorize(self, request: Any) -> None:
        """Raise a 401 :class:`InvalidRequestError` unless ``request`` carries the token."""
        if self.token is not None:
            check_bearer(request.headers.get("authorization"), self.token)

    # ---------------------------------------------------------- /invocations
    async def invocations(self, request: Any, route: Route):
        """Answer one ``POST /invocations``; ``route(request)`` picks who scores it."""
        import orjson
        from starlette.responses import Response

        t0 = time.perf_counter()
        arrived = time.time()
        target: Target | None = None
        scoring = False
        try:
            self.authorize(request)
            retry_after = None if self.inference_log is None else self.inference_log.overloaded()
            if retry_after is not None:  # refuse before reading the body
                overloaded = InvalidRequestError(
                    "The endpoint is behind on writing its inference log; try again "
                    f"in {retry_after:g} s.", status_code=503, error_code="OVERLOADED")
                return self.error_response(overloaded, INVOCATIONS, t0, {
                    "Retry-After": f"{retry_after:.0f}", "Connection": "close"})
            payload = await self._payload(request)
            target = route(request)
            parsed = parse_payload(payload, target.schema)
            if target.fill is not None:
                parsed = target.fill(parsed)
            scoring = True
            predictions = await self._score(target, parsed, t0)
            request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
            body = orjson.dumps({"predictions": predictions_body(predictions), **target.fields},
                                option=orjson.OPT_SERIALIZE_NUMPY)
        except InvalidRequestError as err:
            return self.error_response(err, INVOCATIONS, t0,
                                       target.headers if scoring and target else None)
        except Exception as err:  # noqa: BLE001 - answer, log, keep serving
            _log.exception("scoring failed")
            whose = f" of deployment {target.name!r}" if target and target.name else ""
            failure = InvalidRequestError(f"The model{whose} failed: {type(err).__name__}: {err}",
                                          status_code=500, error_code="INTERNAL_ERROR")
            return self.error_response(failure, INVOCATIONS, t0,
                                       target.headers if scoring and target else None)
        elapsed = time.perf_counter() - t0
        if self.inference_log is not None:  # the 200 goes out only once the rows are spooled
            refused = await self._record(request_id, arrived, parsed, predictions, elapsed,
                                         target, t0)
            if refused is not None:
                return refused
        response = Response(body, media_type="application/json",
                            headers={"x-request-id": request_id, **target.headers})
        self.metrics.observe(INVOCATIONS, 200, elapsed, rows=parsed.n_rows)
        if target.after is not None:
            target.after(parsed, request_id, arrived)
        return response

    async def _payload(self, request: Any) -> Any:
        """The request's JSON: content type, size and deadline checked (415, 413, 408, 400)."""
        import orjson

        if not json_content_type(request.headers.get("content-type")):
            raise InvalidRequestError(
                "The body must be JSON: send the header 'Content-Type: application/json'. "
                f"Got {request.headers.get('content-type') or 'no content type'!r}.",
                status_code=415, error_code="UNSUPPORTED_MEDIA_TYPE")
        body = await read_body(request, self.max_body_bytes, self.body_timeout)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise InvalidRequestError(
                f"The body is not valid JSON ({err}). Send e.g. "
                '{"dataframe_records": [{"col": 1.0}]}.', error_code="MALFORMED_REQUEST") from None

    @staticmethod
    async def _score(target: Target, parsed: ParsedInput, t0: float) -> Any:
        """:func:`.scoring.score`, with the target told how it went."""
        try:
            predictions = await score(target.predict, parsed)
        except Exception as err:
            if target.observe is not None:
                target.observe((time.perf_counter() - t0) * 1000,
                               isinstance(err, InvalidRequestError))
            raise
        if target.observe is not None:
            target.observe((time.perf_counter() - t0) * 1000, True)
        return predictions

    async def _record(self, request_id: str, arrived: float, parsed: ParsedInput,
                      predictions: Any, elapsed: float, target: Target, t0: float):
        """Spool the answered rows; a 503 response when they could not be, else None."""
        import anyio.to_thread

        log = self.inference_log
        record = functools.partial(log.record, request_id, arrived, parsed, predictions,
                                   elapsed * 1000.0, columns=dict(target.log_columns or {}))
        try:
            if predict_in_thread(parsed) or log.spool.fsync == "always":
                await anyio.to_thread.run_sync(record)
            else:
                record()
        except Exception as err:  # noqa: BLE001 - no 200 without the record
            _log.exception("inference log: spooling request %s failed", request_id)
            failure = InvalidRequestError(
                f"The request was scored but could not be recorded ({type(err).__name__}); "
                "it was not counted. Try again.", status_code=503, error_code="LOG_UNAVAILABLE")
            return self.error_response(failure, INVOCATIONS, t0,
                                       {"Retry-After": "1", **target.headers})
        return None

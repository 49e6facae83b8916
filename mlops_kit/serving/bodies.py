"""Request and response bodies of the endpoints: one implementation for both.

The single-model app (:mod:`.app`) and the routed app (:mod:`.routed`) read
requests and write answers the same way:

- :func:`json_content_type`: is the ``Content-Type`` JSON (415 otherwise);
- :func:`read_body`: the body within a deadline (408) and a size limit (413),
  refusing an oversized body from its ``Content-Length`` before reading it;
- :func:`predictions_body`: what ``mlflow models serve`` puts under
  ``predictions`` (records for a frame, a list for a series or an array).
"""
from __future__ import annotations

from typing import Any

from mlops_kit._http import DEFAULT_BODY_TIMEOUT
from mlops_kit.exceptions import InvalidRequestError

__all__ = ["json_content_type", "read_body", "predictions_body", "DEFAULT_BODY_TIMEOUT"]


def json_content_type(value: str | None) -> bool:
    """Whether a ``Content-Type`` header value is ``application/json`` (any parameters)."""
    return bool(value) and value.split(";", 1)[0].strip().lower() == "application/json"


async def read_body(request: Any, limit: int, timeout: float = DEFAULT_BODY_TIMEOUT) -> bytes:
    """The body within ``timeout`` seconds, refusing more than ``limit`` bytes."""
    import anyio

    try:
        with anyio.fail_after(timeout):
            return await _read_limited(request, limit)
    except TimeoutError:
        raise InvalidRequestError(
            f"The request body did not arrive within {timeout:g} s. Send the whole body "
            "at once (and a Content-Length that matches it).",
            status_code=408, error_code="REQUEST_TIMEOUT",
        ) from None


async def _read_limited(request: Any, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes before reading it all."""
    length = request.headers.get("content-length")
    too_big = InvalidRequestError(
        f"The request body is larger than this endpoint's limit of {limit} bytes. "
        "Send fewer rows per request (split the batch).",
        status_code=413, error_code="PAYLOAD_TOO_LARGE",
    )
    if length is not None:
        if not length.isdigit():
            raise InvalidRequestError("The Content-Length header is not a number.")
        if int(length) > limit:
            raise too_big
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def predictions_body(predictions: Any) -> Any:
    """What ``mlflow models serve`` puts under ``predictions``."""
    if hasattr(predictions, "columns") and hasattr(predictions, "to_dict"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "to_numpy"):  # a Series
        return predictions.to_numpy()
    return predictions

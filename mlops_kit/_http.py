"""HTTP server pieces every listener of the kit shares: request deadlines.

The model endpoint (:mod:`mlops_kit.serving`) and the webhook receiver
(:mod:`mlops_kit.registry.webhooks`) both run uvicorn on 127.0.0.1 and both
refuse slow-loris clients with the same two deadlines: one for the request
head, here, and one for the body (:data:`DEFAULT_BODY_TIMEOUT`, enforced by
each app while it reads). This module sits below both, so neither imports the
other.

uvicorn times out a connection only while it sits idle *between* requests
(``timeout_keep_alive``). A client that connects and sends nothing, or sends
part of a request line or headers and then stalls, holds its socket (and a
file descriptor) forever: enough of them exhaust the server's descriptors. The
body has its own deadline in the app (``MLOPS_KIT_SERVING_BODY_TIMEOUT``); the
headers arrive before the app is called, so their deadline lives here, in the
protocol that parses them.

:func:`header_timeout_protocol` subclasses the protocol uvicorn would pick
(h11, or httptools when installed) so that a connection must deliver a
complete request head within ``timeout`` seconds of connecting, and within
``timeout`` seconds of the first byte of each later request on a keep-alive
connection. A client that started a request and stalled gets
``408 Request Timeout`` and the connection is closed; one that sent nothing is
closed silently (as uvicorn closes an idle keep-alive connection).

Pass the class as ``uvicorn.Config(http=...)``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from mlops_kit.exceptions import ConfigError

__all__ = ["header_timeout_protocol", "DEFAULT_HEADER_TIMEOUT", "DEFAULT_BODY_TIMEOUT",
           "HTTP_IMPLEMENTATIONS"]

_log = logging.getLogger("mlops_kit.serving")

#: seconds a client gets to send a complete request line and headers
DEFAULT_HEADER_TIMEOUT = float(os.environ.get("MLOPS_KIT_SERVING_HEADER_TIMEOUT", "10"))
#: seconds a client gets to send its whole body; a slow or stalled sender
#: (slow-loris) gets 408 and the connection is closed, instead of holding it forever
DEFAULT_BODY_TIMEOUT = float(os.environ.get("MLOPS_KIT_SERVING_BODY_TIMEOUT", "10"))

#: the uvicorn HTTP implementations the header timeout is written for
HTTP_IMPLEMENTATIONS = ("auto", "h11", "httptools")


def _timeout_response(timeout: float) -> bytes:
    """A 408 with the endpoint's error body (``{"error_code", "message"}``)."""
    body = json.dumps({
        "error_code": "REQUEST_TIMEOUT",
        "message": f"The request line and headers did not arrive within {timeout:g} s.",
    }).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))


class _HeaderTimeout:
    """Mixin over a uvicorn HTTP protocol: a deadline for each request head.

    Both uvicorn protocols create a new ``self.cycle`` the moment a request's
    headers are complete, and mark it ``response_complete`` once answered; the
    mixin needs nothing else from them. While a request is being served
    (cycle open), the body deadline belongs to the app and the timer is off.
    """

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None
    _head_started = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle  # type: ignore[attr-defined]
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not cycle or not _answered(cycle):  # type: ignore[attr-defined]
            self._disarm_head_timer()  # a head arrived, or a request is in progress
        elif not self.transport.is_closing():  # type: ignore[attr-defined]
            self._head_started = True  # part of a new request head: the clock runs
            if self._head_timer is None:
                self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(  # type: ignore[attr-defined]
            self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = None
        self._head_started = False

    def _head_timed_out(self) -> None:
        self._head_timer = None
        transport = self.transport  # type: ignore[attr-defined]
        if transport.is_closing():
            return
        if self._head_started:
            transport.write(_timeout_response(self.header_timeout))
            _log.info("closed a connection from %s: no complete request headers within %g s",
                      self.client, self.header_timeout)  # type: ignore[attr-defined]
        transport.close()


def _answered(cycle: Any) -> bool:
    """No request on the connection yet, or the last one is answered."""
    return cycle is None or cycle.response_complete


def _base_protocol(http: str) -> type[asyncio.Protocol]:
    if http not in HTTP_IMPLEMENTATIONS:
        raise ConfigError(
            f"MLOPS_KIT_SERVING_HTTP must be one of {', '.join(HTTP_IMPLEMENTATIONS)} "
            f"(the endpoint adds a header timeout to those). Got {http!r}."
        )
    if http == "auto":  # what uvicorn's "auto" picks
        try:
            import httptools  # noqa: F401
        except ImportError:
            http = "h11"
        else:
            http = "httptools"
    if http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def header_timeout_protocol(http: str = "auto",
                            timeout: float = DEFAULT_HEADER_TIMEOUT) -> type[asyncio.Protocol]:
    """uvicorn's ``http`` protocol class with a ``timeout``-second header deadline.

    Parameters
    ----------
    http : {"auto", "h11", "httptools"}
        As ``uvicorn.Config(http=...)``; "auto" picks httptools when installed.
    timeout : float
        Seconds from connecting (or from the first byte of a later request)
        to the end of the request headers (``$MLOPS_KIT_SERVING_HEADER_TIMEOUT``,
        10 by default).
    """
    if not timeout > 0:
        raise ConfigError(f"The header timeout must be a positive number of seconds. Got {timeout!r}.")
    base = _base_protocol(http)
    return type(f"HeaderTimeout{base.__name__}", (_HeaderTimeout, base), {"header_timeout": timeout})

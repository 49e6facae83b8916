"""The header timeout of the endpoint's HTTP protocol, over real sockets to a real uvicorn.

A small ASGI app served in a thread by uvicorn with the protocol class the
endpoint uses; each test talks raw HTTP/1.1 so it can stall exactly where a
slow-loris client would. The endpoint process itself is covered in
``test_reliability_serving.py``.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from mlops_kit.exceptions import ConfigError
from mlops_kit.serving import free_port
from mlops_kit.serving.protocol import header_timeout_protocol

TIMEOUT = 0.6


async def echo_app(scope, receive, send) -> None:
    """Answers every request with the size of its body."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _implementations() -> list:
    try:
        import httptools  # noqa: F401
        httptools_mark = []
    except ImportError:
        httptools_mark = [pytest.mark.skip(reason="httptools is not installed")]
    return ["h11", pytest.param("httptools", marks=httptools_mark)]


@pytest.fixture(scope="module", params=_implementations())
def server(request):
    """(host, port) of uvicorn with the header-timeout protocol, 5 s keep-alive."""
    port = free_port()
    config = uvicorn.Config(echo_app, host="127.0.0.1", port=port, log_level="warning",
                            http=header_timeout_protocol(request.param, TIMEOUT),
                            timeout_keep_alive=5, lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started
    yield "127.0.0.1", port
    srv.should_exit = True
    thread.join(10)


def _request(body: bytes = b"") -> bytes:
    return (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body))


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed."""
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received, time.monotonic()


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (the app always sends a Content-Length)."""
    received = b""
    while True:
        head, _, body = received.partition(b"\r\n\r\n")
        length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:")]
        if length and len(body) >= length[0]:
            return received
        chunk = sock.recv(4096)
        assert chunk, f"closed early: {received!r}"
        received += chunk


def test_partial_headers_get_408_and_a_closed_connection_while_others_are_served(server):
    with socket.create_connection(server, timeout=10) as stalled:
        stalled.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert httpx.post(f"http://{server[0]}:{server[1]}/", content=b"abc").text == "3"
        received, closed = _read_until_closed(stalled)
    assert received.startswith(b"HTTP/1.1 408 "), received
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error_code"] == "REQUEST_TIMEOUT"
    assert TIMEOUT - 0.2 < closed - started < TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server):
    with socket.create_connection(server, timeout=10) as silent:
        started = time.monotonic()
        received, closed = _read_until_closed(silent)
    assert received == b""
    assert TIMEOUT - 0.2 < closed - started < TIMEOUT + 2


def test_headers_trickled_in_time_are_served(server):
    head = _request(b"xy")
    with socket.create_connection(server, timeout=10) as slow:
        for i in range(0, len(head), 8):  # the whole head within the timeout
            slow.sendall(head[i:i + 8])
            time.sleep(TIMEOUT / 2 / (len(head) // 8 + 1))
        assert _read_response(slow).startswith(b"HTTP/1.1 200 ")


def test_keep_alive_idle_is_not_cut_but_a_stalled_next_request_is(server):
    with socket.create_connection(server, timeout=10) as conn:
        conn.sendall(_request(b"a"))
        assert _read_response(conn).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT * 2)  # idle between requests: keep-alive's business (5 s)
        conn.sendall(_request(b"bc"))
        assert _read_response(conn).endswith(b"\r\n\r\n2")
        conn.sendall(b"POST /invocations HTTP/1.1\r\n")  # then stall inside the next head
        started = time.monotonic()
        received, closed = _read_until_closed(conn)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert closed - started < TIMEOUT + 2


def test_a_slow_body_after_complete_headers_is_not_cut_by_the_header_timeout(server):
    with socket.create_connection(server, timeout=10) as conn:
        conn.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(TIMEOUT * 2)  # the body's deadline belongs to the app
        conn.sendall(b"cd")
        assert _read_response(conn).endswith(b"\r\n\r\n4")


@pytest.mark.parametrize(("http", "timeout"), [("zttp", 1.0), ("h11", 0), ("h11", -1.0)])
def test_unsupported_protocol_or_timeout_is_a_config_error(http, timeout):
    with pytest.raises(ConfigError):
        header_timeout_protocol(http, timeout)

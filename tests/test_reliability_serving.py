"""The endpoint against hostile input, stalled clients, shutdown mid-traffic and token leaks.

Every case that goes through ``/invocations`` runs on the single-model and on
the routed endpoint (the ``endpoint_kind`` fixture, tests/serving_kinds.py):
they share one request pipeline.
"""
from __future__ import annotations

import ast
import inspect
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import serving_kinds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_kinds import plain_only
from test_serving_endpoint import ROWS, TOKEN, _register

from mlops_kit.serving import Endpoint
from mlops_kit.serving import auth
from mlops_kit.workspace import Workspace

#: the endpoint under test, single-model and routed (tests/serving_kinds.py)
endpoint_kind = serving_kinds.endpoint_kind

BODY_TIMEOUT = 2.0
HEADER_TIMEOUT = 1.5
#: growth of the server's resident memory allowed over the whole fuzz run
# the first requests warm caches (pydantic, numpy, Arrow for the log): a leak of
# the fuzz run would grow far past this
RSS_BOUND = 80 * 2**20


@pytest.fixture(scope="module")
def served(tmp_path_factory, endpoint_kind):
    """(workspace, model uri, endpoint: token, 8 KiB body limit, 2 s body and 1.5 s header
    timeouts), once for the single-model endpoint and once for the routed one."""
    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    uri = _register(ws)
    timeouts = {"MLOPS_KIT_SERVING_BODY_TIMEOUT": str(BODY_TIMEOUT),
                "MLOPS_KIT_SERVING_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}
    os.environ.update(timeouts)
    try:
        endpoint = endpoint_kind.start(ws, uri, token=TOKEN, max_body_bytes=8192,
                                       log_table="fuzz_log")
    finally:
        for name in timeouts:
            del os.environ[name]
    yield ws, uri, endpoint
    assert endpoint.stop() == 0


@pytest.fixture(scope="module")
def client(served):
    with httpx.Client(base_url=served[2].url, headers=served[2].headers, timeout=30) as c:
        yield c


def rss(endpoint: Endpoint) -> int:
    return psutil.Process(endpoint.process.pid).memory_info().rss


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=10), inner, max_size=6)),
    max_leaves=40)
columns = st.sampled_from([*ROWS[0], "price", "", "0"])
records = st.lists(st.dictionaries(columns, scalars, max_size=7), max_size=5)
payloads = st.one_of(
    json_values,
    st.builds(lambda r: {"dataframe_records": r}, st.one_of(records, json_values)),
    st.builds(lambda r: {"instances": r}, st.one_of(records, json_values)),
    st.builds(lambda c, d: {"dataframe_split": {"columns": c, "data": d}},
              st.one_of(st.lists(columns, max_size=6), json_values),
              st.one_of(st.lists(st.lists(scalars, max_size=6), max_size=4), json_values)),
    st.builds(lambda d: {"inputs": d}, st.one_of(st.dictionaries(columns, st.lists(scalars, max_size=3)),
                                                 json_values)),
)


def test_fuzzed_json_never_gets_a_5xx_and_memory_stays_flat(served, client):
    """Random JSON shapes, types and sizes: always 2xx/4xx, the process up, RSS bounded."""
    endpoint = served[2]
    for _ in range(30):  # warm caches before the baseline
        client.post("/invocations", json={"dataframe_records": ROWS})
    before = rss(endpoint)
    statuses: dict[int, int] = {}

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(payloads)
    def post(payload) -> None:
        response = client.post("/invocations", json=payload)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (payload, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error_code", "message"}

    post()
    assert endpoint.running and client.get("/ping").status_code == 200
    assert 400 in statuses
    grown = rss(endpoint) - before
    assert grown < RSS_BOUND, f"RSS grew {grown / 2**20:.1f} MiB over the fuzz run"


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b"1e999999",
                                  b'{"inputs": NaN}', "{\"inputs\": \"\ud800\"}".encode("utf-8", "surrogatepass")])
def test_broken_bytes_are_4xx(client, body):
    response = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text


def test_chunked_body_over_the_limit_is_413_without_reading_it_all(client):
    def chunks():
        for _ in range(64):
            yield b" " * 1024

    response = client.post("/invocations", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get("/ping").status_code == 200


def test_a_stalled_partial_body_is_cut_off_and_others_are_served(served, client):
    """Slow-loris: 10 of 200 announced bytes, then silence. 408 and EOF within the timeout."""
    endpoint = served[2]
    stalled = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        stalled.sendall(
            f"POST /invocations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"inputs\":".encode())
        started = time.monotonic()
        assert client.post("/invocations", json={"inputs": ROWS}).status_code == 200
        received = b""
        while chunk := stalled.recv(4096):
            received += chunk
        waited = time.monotonic() - started
    finally:
        stalled.close()
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"connection: close" in received.partition(b"\r\n\r\n")[0].lower(), received[:300]
    assert BODY_TIMEOUT - 0.5 < waited < BODY_TIMEOUT + 3
    assert client.post("/invocations", json={"inputs": ROWS}).status_code == 200


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_stalled_headers_are_cut_off_and_others_are_served(served, client):
    """Header slow-loris: 50 connections stall inside their headers. 408 and EOF each."""
    endpoint = served[2]
    stalled = [socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
               for _ in range(50)]
    try:
        for sock in stalled:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for _ in range(5):
            assert client.post("/invocations", json={"inputs": ROWS}).status_code == 200
        received = [_read_until_closed(sock) for sock in stalled]
        waited = time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in received), received[0][:200]
    assert set(json.loads(received[0].partition(b"\r\n\r\n")[2])) == {"error_code", "message"}
    assert HEADER_TIMEOUT - 0.5 < waited < HEADER_TIMEOUT + 3
    assert client.get("/ping").status_code == 200


def _run_cases(operation, mode, examples: int, call) -> None:
    """``call(case, mode)`` on ``examples`` cases schemathesis generates for ``operation``."""
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        call(case, mode)

    run()


@plain_only  # the routed endpoint publishes no OpenAPI document
def test_schema_driven_fuzzing_conforms_to_the_openapi_document(served):
    """schemathesis, from the endpoint's own /openapi.json: no 5xx, documented answers only."""
    import requests
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                     response_schema_conformance, status_code_conformance)

    endpoint = served[2]
    assert httpx.get(f"{endpoint.url}/openapi.json").status_code == 401  # names the model
    schema = schemathesis.openapi.from_url(f"{endpoint.url}/openapi.json",
                                           headers=endpoint.headers, timeout=10)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    statuses: dict[tuple[str, str, int], int] = {}
    budget = {GenerationMode.POSITIVE: 200, GenerationMode.NEGATIVE: 150}

    with requests.Session() as session:
        def call(case, mode) -> None:
            response = case.call_and_validate(base_url=endpoint.url, session=session,
                                              headers=endpoint.headers, checks=checks, timeout=10)
            key = (case.operation.label, mode.value, response.status_code)
            statuses[key] = statuses.get(key, 0) + 1
            if mode is GenerationMode.POSITIVE and response.status_code != 200:
                # what the document calls valid is scored, except what JSON Schema cannot
                # say: columns of equal length (columnar form), a body within the limit,
                # numbers small enough that the model's arithmetic stays finite
                message = response.json()["message"]
                assert (response.status_code == 413 or "different lengths" in message
                        or "out of the range the model can compute" in message
                        or "too large for its type" in message), (case.body, response.text)

        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.method == "post":
                for mode, examples in budget.items():
                    _run_cases(operation, mode, examples, call)
            else:  # the GET routes take nothing to vary (or break) but headers
                _run_cases(operation, GenerationMode.POSITIVE, 5, call)

    assert endpoint.running and httpx.get(f"{endpoint.url}/ping").status_code == 200
    positive = {code: n for (label, mode, code), n in statuses.items()
                if label == "POST /invocations" and mode == "positive"}
    negative = {code: n for (label, mode, code), n in statuses.items()
                if label == "POST /invocations" and mode == "negative"}
    assert positive.get(200, 0) >= sum(positive.values()) // 2, positive
    assert negative.get(400, 0) > 0, negative
    assert sum(positive.values()) + sum(negative.values()) >= 300, statuses


def test_bearer_token_is_compared_in_constant_time(monkeypatch):
    source = inspect.getsource(auth.check_bearer)
    calls = [node for node in ast.walk(ast.parse(source.strip()))
             if isinstance(node, ast.Call) and ast.unparse(node.func) == "hmac.compare_digest"]
    assert calls, "check_bearer must compare with hmac.compare_digest"
    seen = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: seen.append(1) or real(a, b))
    auth.check_bearer(f"Bearer {TOKEN}", TOKEN.encode())
    assert seen == [1]


def test_token_is_never_logged_nor_in_the_inference_log(served, endpoint_kind):
    """Authorised and refused requests (one carrying the token plus a suffix): no trace of it."""
    from deltalake import DeltaTable

    ws, uri, _ = served
    ws.activate()
    endpoint = endpoint_kind.start(ws, uri, token=TOKEN, log_table="token_log")
    try:
        url = endpoint.invocations_url
        ok = httpx.post(url, json={"dataframe_records": ROWS}, headers=endpoint.headers)
        assert ok.status_code == 200
        for bad in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN):
            refused = httpx.post(url, json={"inputs": ROWS}, headers={"Authorization": bad})
            assert refused.status_code == 401 and TOKEN not in refused.text
        assert httpx.get(f"{endpoint.url}/metrics", headers=endpoint.headers).status_code == 200
        assert TOKEN not in httpx.get(f"{endpoint.url}/metrics", headers=endpoint.headers).text
        proc_cmdline = " ".join(psutil.Process(endpoint.process.pid).cmdline())
        assert TOKEN not in proc_cmdline
    finally:
        assert endpoint.stop() == 0
    assert TOKEN not in endpoint.log_path.read_text()
    log = DeltaTable(str(ws.table_path("token_log"))).to_pandas()
    assert len(log) == len(ROWS)
    assert TOKEN not in log.astype(str).to_csv()


def test_endpoint_listens_on_loopback_only(served):
    endpoint = served[2]
    listening = [c.laddr for c in psutil.Process(endpoint.process.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)


@pytest.mark.parametrize(("extra", "message"), [
    ([], "Pass --allow-remote AND --token"),
    (["--allow-remote"], "Pass --allow-remote AND --token"),
], ids=["no-flag", "flag-without-token"])
def test_serve_cli_refuses_other_interfaces_without_flag_and_token(tmp_path, extra, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_KIT_"))}
    env.update(MLOPS_KIT_HOME=str(tmp_path), MLOPS_KIT_USER="tester")
    done = subprocess.run([str(Path(sys.executable).with_name("mlops-kit")), "serve", "--model",
                           "price@champion", "--host", "0.0.0.0", *extra],
                          capture_output=True, text=True, env=env, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


def test_clean_shutdown_mid_traffic_answers_and_logs_every_accepted_request(served, endpoint_kind):
    """SIGTERM while 4 clients post: the inference log holds exactly the requests that got 200."""
    from deltalake import DeltaTable

    ws, uri, _ = served
    ws.activate()
    endpoint = endpoint_kind.start(ws, uri, log_table="shutdown_log")
    url = endpoint.invocations_url  # read once: a stopped endpoint's URL raises EndpointStopped
    answered, failures, lock = [], [], threading.Lock()
    stop = threading.Event()

    def client_loop(worker: int) -> None:
        n = 0
        while not stop.is_set():
            request_id = f"w{worker}-{n}"
            n += 1
            try:  # a fresh connection each time: an idle keep-alive socket is not a request
                r = httpx.post(url, json={"dataframe_records": ROWS},
                               headers={"X-Request-Id": request_id, "Connection": "close"},
                               timeout=30)
            except httpx.ConnectError:
                return  # not accepted: the listener is closed
            except httpx.TransportError as err:
                with lock:
                    failures.append((request_id, type(err).__name__))
                return
            with lock:
                (answered.append(request_id) if r.status_code == 200
                 else failures.append((request_id, r.status_code)))

    threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(answered) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert endpoint.stop() == 0
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    log = DeltaTable(str(ws.table_path("shutdown_log"))).to_pandas()
    assert len(answered) >= 40
    assert sorted(log["request_id"].unique()) == sorted(answered)
    assert len(log) == len(ROWS) * len(answered)
    # a request the server read was answered; anything else never reached the app
    assert all(kind in ("RemoteProtocolError", "ReadError") for _, kind in failures), failures

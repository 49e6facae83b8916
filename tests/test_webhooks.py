"""Webhooks end to end: a real ``mlflow server``, real HTTP, the real job notebook.

register -> MLflow delivers a signed webhook -> the receiver verifies it ->
the validation job runs -> tags and the challenger alias appear. One server
and one receiver for the whole module (a server start costs seconds), on one
pytest-xdist worker (the group ``webhook_stack``), and one good version
validated through them that the tests needing one share: no test depends on
another having run first.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import uuid

import httpx
import pytest

from mlops_kit.exceptions import SignatureError
from mlops_kit.registry.webhooks import (
    DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookReceiver, sign,
    verify_signature,
)

SECRET = "s3cret-" + "x" * 20


# ------------------------------------------------------------ pure functions
def _headers(body: bytes, *, delivery_id: str | None = None, timestamp: int | None = None,
             secret: str = SECRET) -> dict[str, str]:
    delivery_id = delivery_id or str(uuid.uuid4())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, delivery_id, stamp, body),
    }


def test_sign_matches_mlflow_own_signature():
    """Same bytes as mlflow.webhooks.delivery._generate_hmac_signature."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = json.dumps({"entity": "model_version", "action": "created", "data": {"é": 1}})
    assert sign(SECRET, "id-1", "1700000000", body) == _generate_hmac_signature(
        SECRET, "id-1", "1700000000", body
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h, b: (h, b + b" "), "does not match"),
        (lambda h, b: ({**h, SIGNATURE_HEADER: sign("other-secret-123456", h[DELIVERY_ID_HEADER],
                                                     h[TIMESTAMP_HEADER], b)}, b), "does not match"),
        (lambda h, b: ({k: v for k, v in h.items() if k != SIGNATURE_HEADER}, b), "missing"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "yesterday"}, b), "unix seconds"),
    ],
    ids=["altered-body", "wrong-secret", "unsigned", "bad-timestamp"],
)
def test_verify_signature_rejects(change, message):
    body = b'{"entity": "model_version", "action": "created", "data": {}}'
    headers, sent = change(_headers(body), body)
    with pytest.raises(SignatureError, match=message):
        verify_signature(SECRET, headers, sent)


def test_verify_signature_rejects_stale_and_accepts_fresh():
    body = b"{}"
    old = int(time.time()) - 600
    with pytest.raises(SignatureError, match="stale"):
        verify_signature(SECRET, _headers(body, timestamp=old), body, tolerance=300)
    headers = _headers(body, delivery_id="abc")
    assert verify_signature(SECRET, headers, body) == "abc"


def test_receiver_refuses_a_short_secret():
    with pytest.raises(ValueError, match="at least 16 characters"):
        WebhookReceiver("short", handler=lambda *a: None)


def test_receiver_needs_a_callable_handler():
    """The registry runs no job by itself: the action is passed in."""
    with pytest.raises(ValueError, match="needs handler.*validation_job_handler"):
        WebhookReceiver(SECRET, handler="jobs/validate_model")


# ------------------------------------------------------------ the live stack
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A tracking server, a receiver running the real validation job, a webhook."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit.registry.server import TrackingServer
    from mlops_kit.jobs.validation import validation_job_handler
    from mlops_kit.registry.webhooks import register_webhook
    from mlops_kit.workspace import Workspace

    ws = Workspace(root=tmp_path_factory.mktemp("kit"), user="tester")
    calls: list[str] = []
    validate = validation_job_handler(workspace=ws)

    def handler(event, data, delivery_id):
        calls.append(delivery_id)
        return validate(event, data, delivery_id)

    secret = secrets.token_hex(16)
    with TrackingServer(ws) as server:
        receiver = WebhookReceiver(secret, handler=handler,
                                   state_path=ws.root / "deliveries.db").start()
        try:
            register_webhook(receiver.url, secret,
                             client=MlflowClient(server.url, registry_uri=server.url))
            yield {"ws": ws, "server": server, "receiver": receiver, "calls": calls,
                   "secret": secret, "mlflow": mlflow}
        finally:
            receiver.stop()


#: the tests that use the live stack run on one worker, so it is built once
LIVE = pytest.mark.xdist_group("webhook_stack")


def _talk_to(stack) -> None:
    """Activate the module's workspace and talk to the server (not SQLite)."""
    stack["ws"].activate()
    stack["mlflow"].set_tracking_uri(stack["server"].url)
    stack["mlflow"].set_registry_uri(stack["server"].url)


@pytest.fixture
def live(stack):
    _talk_to(stack)
    return stack


@pytest.fixture(scope="module")
def validated(stack):
    """A good version registered once through the stack, and its delivery once handled."""
    _talk_to(stack)
    version = _log_and_register(stack["ws"], description="Ridge on nine listing features")
    row = stack["receiver"].wait_for("model_version.created", timeout=300,
                                     name=version.name, version=version.version)
    return version, row


def _log_and_register(ws, *, rename: dict | None = None, description: str):
    import mlflow

    from mlops_kit import models
    from mlops_kit.registry.promotion import register

    frame = models.listings_frame(800, 42).rename(columns=rename or {})
    features = [(rename or {}).get(c, c) for c in models.FEATURES]
    model = models.train_price_model(frame, features=features)
    ws.set_experiment("price")
    with mlflow.start_run():
        info = models.log_price_model(model, frame, features=features)
    return register(info.model_uri, ws.model_name("price"), description=description)


@pytest.mark.slow
@LIVE
def test_new_version_is_validated_through_the_webhook(live, validated):
    from mlflow import MlflowClient

    version, row = validated
    assert row["status"] == "done", row["detail"]
    tags = MlflowClient().get_model_version(version.name, version.version).tags
    assert tags["validation.status"] == "passed"
    assert tags["validation.signature"] == "passed"
    challenger = MlflowClient().get_model_version_by_alias(version.name, "challenger")
    assert str(challenger.version) == str(version.version)  # str over REST, int from SQLite


@pytest.mark.slow
@LIVE
def test_broken_version_gets_failure_tags_with_reasons(live, validated):
    from mlflow import MlflowClient

    good, _ = validated
    before = MlflowClient().get_model_version_by_alias(good.name, "challenger")
    assert str(before.version) == str(good.version)
    broken = _log_and_register(live["ws"], rename={"bedrooms": "rooms"},
                               description="bedrooms renamed upstream by mistake")
    row = live["receiver"].wait_for("model_version.created", timeout=300,
                                    name=broken.name, version=broken.version)
    assert row["status"] == "done", row["detail"]
    tags = MlflowClient().get_model_version(broken.name, broken.version).tags
    assert tags["validation.status"] == "failed"
    assert tags["validation.signature"].startswith("failed: ")
    assert "bedrooms" in tags["validation.signature"]
    assert tags["validation.metrics"].startswith("failed: ")
    challenger = MlflowClient().get_model_version_by_alias(broken.name, "challenger")
    assert str(challenger.version) == str(good.version)  # the alias did not move


@pytest.mark.slow
@LIVE
@pytest.mark.parametrize(
    "tamper, status",
    [("forged", 401), ("unsigned", 401), ("stale", 401), ("oversized", 413)],
)
def test_receiver_rejects_over_http(live, tamper, status):
    body = json.dumps({"entity": "model_version", "action": "created",
                       "data": {"name": "x", "version": "1"}}).encode()
    headers = _headers(body, secret=live["secret"])
    if tamper == "forged":
        headers = _headers(body, secret="not-the-secret-at-all")
    elif tamper == "unsigned":
        headers.pop(SIGNATURE_HEADER)
    elif tamper == "stale":
        headers = _headers(body, secret=live["secret"], timestamp=int(time.time()) - 3600)
    elif tamper == "oversized":
        body = b"x" * (live["receiver"].max_body_bytes + 1)
    before = len(live["receiver"].deliveries())
    answer = httpx.post(live["receiver"].url, content=body, headers=headers, timeout=10)
    assert answer.status_code == status
    assert len(live["receiver"].deliveries()) == before  # nothing recorded, nothing run


@pytest.mark.slow
@LIVE
def test_repeated_delivery_runs_the_job_once(live, validated):
    """MLflow retries with the same delivery id; a replay must not re-run the job."""
    good, _ = validated
    body = json.dumps({"entity": "model_version", "action": "created", "timestamp": "now",
                       "data": {"name": good.name, "version": str(good.version)}}).encode()
    delivery_id = str(uuid.uuid4())
    headers = _headers(body, delivery_id=delivery_id, secret=live["secret"])
    answers: list[httpx.Response] = []

    def post():
        answers.append(httpx.post(live["receiver"].url, content=body, headers=headers, timeout=10))

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.json()["status"] for a in answers)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    live["receiver"].wait_for("model_version.created", timeout=300, delivery_id=delivery_id)
    assert live["calls"].count(delivery_id) == 1

    # a new receiver on the same delivery log (a restart) still knows the id
    with WebhookReceiver(live["secret"], handler=lambda *a: pytest.fail("re-ran"),
                         state_path=live["ws"].root / "deliveries.db") as restarted:
        again = httpx.post(restarted.url, content=body, headers=headers, timeout=10)
    assert again.json()["status"] == "duplicate"


# ------------------------------------------------------------ stalled senders
def _stalled(receiver, request: bytes) -> tuple[bytes, float]:
    """Send part of a request, then nothing; what comes back and how long it took."""
    import socket

    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=15) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(4096)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks), time.monotonic() - t0


@pytest.mark.parametrize("part", ["headers", "body"])
def test_the_receiver_cuts_off_a_stalled_sender_and_keeps_serving(tmp_path, part):
    """It used to hold a connection with stalled headers or body open for 40 s and more."""
    import httpx

    from mlops_kit.registry.webhooks import WebhookReceiver

    with WebhookReceiver(SECRET, handler=lambda *a: None, state_path=tmp_path / "d.db",
                         header_timeout=1.0, body_timeout=1.0) as receiver:
        head = (f"POST {receiver.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n")
        request = (head + "X-Partial: yes\r\n" if part == "headers"
                   else head + "Content-Length: 1000\r\n\r\n{\"entity\": ").encode()
        answer, seconds = _stalled(receiver, request)
        assert seconds < 5, f"the connection stayed open {seconds:.1f} s"
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert httpx.get(f"http://127.0.0.1:{receiver.port}/health", timeout=5).json() == {
            "status": "ok"}

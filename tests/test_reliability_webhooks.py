"""The webhook receiver alone over real HTTP (no tracking server): who gets in, what runs."""
from __future__ import annotations

import json
import time

import httpx
import pytest
from test_webhooks import SECRET, _headers

from mlops_kit.registry.webhooks import DELIVERY_ID_HEADER, SIGNATURE_HEADER, WebhookReceiver

BODY = json.dumps({"entity": "model_version", "action": "created",
                   "data": {"name": "dev.tester.price", "version": "1"}}).encode()


@pytest.fixture
def receiver(tmp_path):
    calls: list[str] = []
    with WebhookReceiver(SECRET, handler=lambda event, data, delivery_id: calls.append(delivery_id),
                         state_path=tmp_path / "deliveries.db", max_body_bytes=4096) as rec:
        rec.calls = calls
        yield rec


def post(receiver, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(receiver.url, content=body, headers=headers, timeout=10)


def _stolen_signature() -> dict[str, str]:
    """A genuine signature of another delivery, under a new delivery id."""
    headers = _headers(BODY)
    return {**headers, DELIVERY_ID_HEADER: "a-new-id"}


@pytest.mark.parametrize(("headers", "status", "message"), [
    (lambda: {"Content-Type": "application/json"}, 401, "unsigned delivery"),
    (lambda: _headers(BODY, secret="another-secret-of-32-characters!"), 401, "does not match"),
    (lambda: {**_headers(BODY), SIGNATURE_HEADER: "v1,"}, 401, "does not match"),
    (_stolen_signature, 401, "does not match"),
    (lambda: _headers(BODY, timestamp=int(time.time()) - 3600), 401, "stale"),
    (lambda: _headers(BODY, timestamp=int(time.time()) + 3600), 401, "stale"),
], ids=["unsigned", "wrong-secret", "empty-signature", "signature-of-another-id",
        "stale", "from-the-future"])
def test_forged_or_stale_deliveries_are_refused_and_run_nothing(receiver, headers, status, message):
    answer = post(receiver, BODY, headers())
    assert answer.status_code == status and message in answer.json()["error"]
    assert receiver.deliveries().empty and receiver.calls == []


def test_a_replayed_delivery_is_answered_but_runs_once(receiver):
    headers = _headers(BODY)
    statuses = [post(receiver, BODY, headers).json()["status"] for _ in range(3)]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    receiver.wait_for("model_version.created", timeout=30, delivery_id=headers[DELIVERY_ID_HEADER])
    assert receiver.calls == [headers[DELIVERY_ID_HEADER]]


def test_oversized_chunked_body_is_413_without_a_content_length(receiver):
    """No Content-Length to trust: the receiver counts while reading and stops at the limit."""
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    answer = httpx.post(receiver.url, content=chunks(), headers=_headers(b""), timeout=10)
    assert answer.status_code == 413
    assert receiver.deliveries().empty and receiver.calls == []
    assert httpx.get(receiver.url.rsplit("/webhooks", 1)[0] + "/health").status_code == 200

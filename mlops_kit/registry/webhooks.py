"""Receive MLflow registry webhooks: verify, record once, act in the background.

MLflow's tracking server POSTs a JSON body such as
``{"entity": "model_version", "action": "created", "timestamp": ..., "data":
{"name": ..., "version": ...}}`` with three headers (``mlflow/webhooks/delivery.py``)::

    X-MLflow-Delivery-Id   a UUID, the same on every retry of one delivery
    X-MLflow-Timestamp     unix seconds when it was sent
    X-MLflow-Signature     v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>

:class:`WebhookReceiver` is a FastAPI app on uvicorn (127.0.0.1, a thread of
this process) that

1. refuses bodies over ``max_body_bytes`` (413) before reading them whole;
2. recomputes the signature over the raw bytes and compares in constant time
   (``hmac.compare_digest``); missing, forged or older than ``tolerance``
   seconds -> 401 (a replayed old delivery is stale);
3. records the delivery id in a SQLite file *before* answering, so a retry or
   a replay of the same id is acknowledged and not run again, even after a
   restart of the receiver;
4. hands the event to one worker thread and answers 200 at once: MLflow waits
   for the answer (30 s timeout, then retries), a validation job takes longer.

What a delivery does is the ``handler`` the receiver is given: the course
passes :func:`mlops_kit.jobs.validation.validation_job_handler`, which runs the
job notebook ``jobs/validate_model`` on ``model_version.created``. The
registry knows nothing of jobs; the job layer plugs its action in.
"""
# no `from __future__ import annotations`: FastAPI must see the real Request class
# of the route defined inside build_app()

import base64
import hashlib
import hmac
import json
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mlops_kit.exceptions import ConfigError, SignatureError
from mlops_kit.workspace import get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "sign", "verify_signature", "DeliveryLog", "WebhookReceiver", "Handler", "register_webhook",
    "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "DELIVERY_ID_HEADER",
]

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
_VERSION = "v1"

#: what a handler gets: event ("model_version.created"), data, delivery id
Handler = Callable[[str, dict, str], Any]


# ---------------------------------------------------------------- signature
def sign(secret: str, delivery_id: str, timestamp: str, body: bytes | str) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    signed = f"{delivery_id}.{timestamp}.".encode("utf-8") + raw
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> str:
    """Check a delivery is from MLflow and fresh; return its delivery id.

    Raises
    ------
    SignatureError
        Headers missing, timestamp outside ``tolerance`` seconds, or a
        signature that does not match (compared in constant time).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    delivery_id = lower.get(DELIVERY_ID_HEADER.lower())
    timestamp = lower.get(TIMESTAMP_HEADER.lower())
    signature = lower.get(SIGNATURE_HEADER.lower())
    missing = [h for h, v in ((DELIVERY_ID_HEADER, delivery_id), (TIMESTAMP_HEADER, timestamp),
                              (SIGNATURE_HEADER, signature)) if not v]
    if missing:
        raise SignatureError(f"unsigned delivery: missing header(s) {', '.join(missing)}")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds, got {timestamp!r}") from None
    age = (time.time() if now is None else now) - sent
    if abs(age) > tolerance:
        raise SignatureError(
            f"stale delivery: sent {age:.0f} s ago, accepted within {tolerance:.0f} s"
        )
    expected = sign(secret, delivery_id, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise SignatureError("signature does not match the body (wrong secret or altered body)")
    return delivery_id


# ---------------------------------------------------------------- delivery log
class DeliveryLog:
    """Deliveries seen, in SQLite: the once-only guarantee outlives the process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, "
            "received_at REAL, event TEXT, payload TEXT, status TEXT, detail TEXT, "
            "finished_at REAL)"
        )
        return conn

    def claim(self, delivery_id: str, event: str, payload: dict) -> bool:
        """Record a new delivery as ``queued``; False if the id was seen before."""
        with self._lock, self._connect() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, 'queued', NULL, NULL)",
                (delivery_id, time.time(), event, json.dumps(payload)),
            )
            return cursor.rowcount == 1

    def update(self, delivery_id: str, status: str, detail: str | None = None) -> None:
        finished = time.time() if status in ("done", "failed", "ignored") else None
        with self._lock, self._connect() as conn:
            conn.execute(
                "UPDATE deliveries SET status = ?, detail = ?, finished_at = ? WHERE delivery_id = ?",
                (status, detail, finished, delivery_id),
            )

    def rows(self) -> list[dict]:
        with self._lock, self._connect() as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute("SELECT * FROM deliveries ORDER BY received_at").fetchall()
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in found]

    def pending(self) -> list[dict]:
        """Deliveries accepted but never started (re-queued when a receiver starts).

        One that was ``running`` when its receiver died is marked ``interrupted``
        and not re-run: the job may have half-written its tags; re-run it by hand.
        """
        rows = self.rows()
        for row in rows:
            if row["status"] == "running":
                self.update(row["delivery_id"], "interrupted", "the receiver stopped mid-run")
        return [r for r in rows if r["status"] == "queued"]


# ---------------------------------------------------------------- receiver
class WebhookReceiver:
    """A signed-webhook endpoint on 127.0.0.1 with a background worker.

    Parameters
    ----------
    secret : str
        The secret given to ``MlflowClient.create_webhook(..., secret=...)``.
    handler : callable
        ``handler(event, data, delivery_id)``, run once per delivery in the
        worker thread; its return value (str) is stored as the detail. E.g.
        :func:`mlops_kit.jobs.validation.validation_job_handler` to validate
        each new model version with the job notebook.
    events : iterable of str, optional
        Events the handler runs for; others are recorded as ``ignored``.
    state_path : path, optional
        SQLite file of the delivery log (default: in the workspace root).
    port : int, optional
        Default: a free port.
    tolerance : float
        Seconds a delivery's timestamp may differ from now.
    max_body_bytes : int
        Larger bodies get 413.
    header_timeout, body_timeout : float, optional
        Seconds a client gets for its request headers and for its body, as on
        the model endpoint (``$MLOPS_KIT_SERVING_HEADER_TIMEOUT`` and
        ``$MLOPS_KIT_SERVING_BODY_TIMEOUT``, 10 s each by default); a stalled
        sender gets 408 and its connection is closed.
    """

    path = "/webhooks/mlflow"

    def __init__(
        self,
        secret: str,
        *,
        handler: Handler,
        events: tuple[str, ...] = ("model_version.created",),
        state_path: str | Path | None = None,
        port: int | None = None,
        tolerance: float = 300.0,
        max_body_bytes: int = 1 << 20,
        header_timeout: float | None = None,
        body_timeout: float | None = None,
    ) -> None:
        from mlops_kit._http import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT

        if not secret or len(secret) < 16:
            raise ConfigError(
                "The webhook secret must be at least 16 characters (use secrets.token_hex(16)). "
                f"Got {len(secret or '')} characters."
            )
        if not callable(handler):
            raise ConfigError(
                "The webhook receiver needs handler(event, data, delivery_id), e.g. "
                "mlops_kit.jobs.validation.validation_job_handler(). "
                f"Got {handler!r} instead.")
        self.secret = secret
        self.handler = handler
        self.events = tuple(events)
        self.state_path = state_path
        self.port = port
        self.tolerance = tolerance
        self.max_body_bytes = max_body_bytes
        self.header_timeout = header_timeout or DEFAULT_HEADER_TIMEOUT
        self.body_timeout = body_timeout or DEFAULT_BODY_TIMEOUT
        self._queue: queue.Queue = queue.Queue()
        self._server = None
        self._threads: list[threading.Thread] = []
        self._busy = threading.Event()

    # -------------------------------------------------------------- properties
    @property
    def url(self) -> str:
        """Where MLflow should POST: ``http://127.0.0.1:<port>/webhooks/mlflow``."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def log(self) -> DeliveryLog:
        path = self.state_path or get_workspace().webhook_deliveries_path
        return DeliveryLog(path)

    # -------------------------------------------------------------- the app
    def build_app(self):
        """The FastAPI app (usable on its own with ``TestClient`` or any ASGI server)."""
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse

        app = FastAPI(title="mlops-kit webhook receiver", docs_url=None, redoc_url=None)
        log = self.log

        @app.get("/health")
        def health() -> dict:
            return {"status": "ok"}

        @app.post(self.path)
        async def receive(request: Request):
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                return JSONResponse({"error": "body too large"}, status_code=413)
            import anyio

            body = bytearray()
            try:
                with anyio.fail_after(self.body_timeout):
                    async for chunk in request.stream():
                        body.extend(chunk)
                        if len(body) > self.max_body_bytes:
                            return JSONResponse({"error": "body too large"}, status_code=413)
            except TimeoutError:  # a stalled sender: answer and drop the connection
                return JSONResponse(
                    {"error": f"the body did not arrive within {self.body_timeout:g} s"},
                    status_code=408, headers={"Connection": "close"})
            try:
                delivery_id = verify_signature(
                    self.secret, request.headers, bytes(body), tolerance=self.tolerance
                )
            except SignatureError as err:
                return JSONResponse({"error": str(err)}, status_code=err.status_code)
            try:
                payload = json.loads(body)
                event = f"{payload['entity']}.{payload['action']}"
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"error": "body is not an MLflow webhook payload"},
                                    status_code=400)
            if not log.claim(delivery_id, event, payload):
                return {"status": "duplicate", "delivery_id": delivery_id}
            if event not in self.events:
                log.update(delivery_id, "ignored", f"no action for {event}")
                return {"status": "ignored", "delivery_id": delivery_id}
            self._queue.put(delivery_id)
            return {"status": "accepted", "delivery_id": delivery_id}

        return app

    # -------------------------------------------------------------- worker
    def _work(self) -> None:
        log = self.log
        handler = self.handler
        while True:
            delivery_id = self._queue.get()
            if delivery_id is None:
                return
            self._busy.set()
            try:
                row = next((r for r in log.rows() if r["delivery_id"] == delivery_id), None)
                if row is None:
                    continue
                log.update(delivery_id, "running")
                try:
                    detail = handler(row["event"], row["payload"].get("data", {}), delivery_id)
                    log.update(delivery_id, "done", None if detail is None else str(detail))
                except Exception as err:  # recorded, never kills the worker
                    log.update(delivery_id, "failed", f"{type(err).__name__}: {err}")
            finally:
                self._busy.clear()
                self._queue.task_done()

    # -------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 15.0) -> "WebhookReceiver":
        """Serve in a background thread; re-queue deliveries a previous run left."""
        import uvicorn

        from mlops_kit._processes import free_port
        from mlops_kit._http import header_timeout_protocol

        if self._server is not None:
            return self
        self.port = self.port or free_port()
        config = uvicorn.Config(self.build_app(), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off", access_log=False,
                                http=header_timeout_protocol("auto", self.header_timeout))
        self._server = uvicorn.Server(config)
        serve = threading.Thread(target=self._server.run, name="webhook-receiver", daemon=True)
        worker = threading.Thread(target=self._work, name="webhook-worker", daemon=True)
        self._threads = [serve, worker]
        for thread in self._threads:
            thread.start()
        for row in self.log.pending():
            self._queue.put(row["delivery_id"])
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not serve.is_alive():
                self.stop()
                raise ConfigError(f"The webhook receiver did not start on port {self.port}.")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving; the worker finishes the delivery it is on first."""
        if self._server is None:
            return
        self._server.should_exit = True
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._server = None
        self._threads = []

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- inspection
    def deliveries(self) -> "pd.DataFrame":
        """The delivery log: id, event, model/version, status, detail."""
        import pandas as pd

        rows = [{
            "delivery_id": r["delivery_id"], "event": r["event"],
            "model": r["payload"].get("data", {}).get("name"),
            "version": r["payload"].get("data", {}).get("version"),
            "status": r["status"], "detail": r["detail"],
        } for r in self.log.rows()]
        return pd.DataFrame(rows, columns=["delivery_id", "event", "model", "version",
                                           "status", "detail"])

    def wait_for(self, event: str, *, timeout: float = 120.0, delivery_id: str | None = None,
                 **data: str) -> dict:
        """Block until a delivery of ``event`` whose data matches ``data`` is finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for row in self.log.rows():
                found = row["payload"].get("data", {})
                if delivery_id is not None and row["delivery_id"] != delivery_id:
                    continue
                if row["event"] == event and all(str(found.get(k)) == str(v) for k, v in data.items()):
                    if row["status"] in ("done", "failed", "ignored"):
                        return row
            time.sleep(0.2)
        raise TimeoutError(f"No finished {event} delivery matching {data} within {timeout:.0f} s.")


def register_webhook(url: str, secret: str, *, events: tuple[str, ...] = ("model_version.created",),
                     name: str = "validate-new-versions", client=None):
    """Create (or update) the MLflow webhook that calls ``url``; the server must run.

    The webhook is a row in the registry store, so any client of that store
    can create it; but only versions registered *through the server* (a client
    whose tracking URI is ``server.url``) trigger deliveries: a client writing
    straight to ``sqlite:///`` fires nothing.
    """
    from mlflow import MlflowClient

    client = client or MlflowClient()
    for existing in client.list_webhooks():
        if existing.name == name:
            return client.update_webhook(existing.webhook_id, url=url, events=list(events),
                                         secret=secret, status="ACTIVE")
    return client.create_webhook(name, url, list(events), secret=secret)

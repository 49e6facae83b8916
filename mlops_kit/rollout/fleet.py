"""Rolling updates: several endpoint processes behind a client-side round-robin.

:class:`Fleet` runs ``size`` endpoints of one model on their own ports and
sends each request to the next instance in rotation. :meth:`Fleet.rolling_update`
replaces them one at a time without a failed request:

1. take the instance out of rotation (no new requests reach it);
2. wait until the requests it is serving have finished (drain);
3. stop it (SIGTERM: it finishes anything left and flushes its log);
4. start it again on the same port with the new model, wait for ``/ping``;
5. put it back in rotation, go to the next one.
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable

from mlops_kit.exceptions import ConfigError, EnvironmentProblem
from mlops_kit.serving.process import Endpoint

__all__ = ["Fleet"]


class Fleet:
    """``size`` endpoints of one model, a round-robin client and rolling updates.

    Parameters
    ----------
    model_uri : str
        The model every instance serves at first.
    size : int
        Number of processes (each one uvicorn worker on its own port).
    log_table : str or None
        Inference log table of every instance (None: no log).
    """

    def __init__(self, model_uri: str, size: int = 3, *, log_table: str | None = None) -> None:
        if size < 1:
            raise ConfigError(f"A fleet needs size >= 1. Got {size}.")
        self.model_uri = model_uri
        self.size = size
        self.log_table = log_table
        self.endpoints: list[Endpoint] = []
        self._live: list[int] = []
        self._in_flight: dict[int, int] = {}
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._clients: list = []

    def start(self) -> "Fleet":
        import httpx

        self.endpoints = [Endpoint(self.model_uri, log_table=self.log_table).start()
                          for _ in range(self.size)]
        self._live = list(range(self.size))
        self._in_flight = dict.fromkeys(self._live, 0)
        self._clients = [httpx.Client(timeout=30) for _ in self.endpoints]
        return self

    def stop(self) -> None:
        for endpoint in self.endpoints:
            endpoint.stop()
        for client in self._clients:
            client.close()
        self._clients = []

    def __enter__(self) -> "Fleet":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def ports(self) -> list[int]:
        return [e.port for e in self.endpoints]

    def _acquire(self) -> int:
        with self._lock:
            if not self._live:
                raise EnvironmentProblem("No fleet instance is in rotation.")
            index = self._live[next(self._turn) % len(self._live)]
            self._in_flight[index] += 1
            return index

    def post(self, payload: dict[str, Any]) -> Any:
        """Send one ``/invocations`` request to the next instance in rotation."""
        index = self._acquire()
        try:
            return self._clients[index].post(self.endpoints[index].invocations_url, json=payload)
        finally:
            with self._lock:
                self._in_flight[index] -= 1

    def versions(self) -> list[str]:
        """The model version each instance serves now (``GET /version``)."""
        import httpx

        return [httpx.get(f"{e.url}/version", timeout=5).json()["model_version"]
                for e in self.endpoints]

    def rolling_update(self, model_uri: str, *, drain_timeout: float = 30.0,
                       on_step: Callable[[int, Endpoint], None] | None = None) -> None:
        """Move every instance to ``model_uri``, one at a time, never failing a request."""
        import httpx

        for index, old in enumerate(self.endpoints):
            with self._lock:
                self._live.remove(index)
            deadline = time.monotonic() + drain_timeout
            while self._in_flight[index] and time.monotonic() < deadline:
                time.sleep(0.01)
            # close our keep-alive connections to it, so its shutdown has nothing to wait for
            self._clients[index].close()
            old.stop()
            new = Endpoint(model_uri, port=old.port, log_table=self.log_table).start()
            self.endpoints[index] = new
            self._clients[index] = httpx.Client(timeout=30)
            with self._lock:
                self._live.append(index)
            if on_step is not None:
                on_step(index, new)
        self.model_uri = model_uri

"""Rolling updates: several endpoint processes behind a client-side round-robin.

:class:`Fleet` runs ``size`` endpoints of one model on their own ports and
sends each request to the next instance in rotation. :meth:`Fleet.rolling_update`
replaces them one at a time without a failed request:

1. take the instance out of rotation (no new requests reach it);
2. wait until the requests it is serving have finished (drain);
3. stop it (SIGTERM: it finishes anything left and flushes its log);
4. start it again on the same port with the new model, wait for ``/ping``;
5. put it back in rotation, go to the next one.

Given ``traffic`` (rows to send), it keeps single-row requests flowing through
the fleet the whole time and returns one row per step: the version each
instance serves and the requests answered and failed during the step (see
:func:`mlops_kit.rollout.plots.plot_rolling_update`).

Every instance gets its own port, picked before any of them starts: a fleet
started from a notebook cell is one fleet, not endpoints that replace each
other as a re-run cell's endpoints do.
"""
from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

from mlops_kit._processes import free_port
from mlops_kit.exceptions import ConfigError, EndpointStopped, EnvironmentProblem
from mlops_kit.serving.process import Endpoint

__all__ = ["Fleet"]

if TYPE_CHECKING:
    import pandas as pd


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

        ports: list[int] = []
        while len(ports) < self.size:  # distinct ports before any start
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.endpoints = [Endpoint(self.model_uri, port=port, log_table=self.log_table)
                          for port in ports]
        try:  # side by side: each start mostly waits for its process to load the model
            with ThreadPoolExecutor(self.size) as pool:
                for started in [pool.submit(e.start) for e in self.endpoints]:
                    started.result()
        except BaseException:  # no half-started fleet is left behind
            self.stop()
            raise
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

        stopped = [i for i, e in enumerate(self.endpoints) if not e.running]
        if not self.endpoints or stopped:
            raise EndpointStopped(
                f"Fleet instance(s) {stopped or 'all'} of {self.model_uri} are not running; "
                f"start the fleet again (Fleet(...).start()).")
        return [str(httpx.get(f"{e.url}/version", timeout=5).json()["model_version"])
                for e in self.endpoints]

    def rolling_update(self, model_uri: str, *, traffic: "pd.DataFrame | None" = None,
                       rate: float = 40.0, drain_timeout: float = 30.0,
                       on_step: Callable[[int, Endpoint], None] | None = None) -> "pd.DataFrame":
        """Move every instance to ``model_uri``, one at a time, never failing a request.

        Parameters
        ----------
        model_uri : str
            The model every instance serves afterwards.
        traffic : pandas.DataFrame, optional
            Request rows: while the update runs, one single-row request after
            another (row ``i % len(traffic)``) goes through the fleet.
        rate : float
            Requests per second of that traffic, at most.
        drain_timeout : float
            Seconds to wait for an instance's in-flight requests before stopping it.
        on_step : callable, optional
            Called with ``(index, new_endpoint)`` after each replacement.

        Returns
        -------
        pandas.DataFrame
            One row per step (step 0: before the first replacement): ``step``,
            ``replaced`` (instance index), ``versions`` (per instance, after the
            step), ``on_new`` (instances on the new model), ``seconds``,
            ``requests`` and ``errors`` (answers other than 200, or no answer)
            during the step.
        """
        import httpx
        import pandas as pd

        rows = [] if traffic is None else _records(traffic)
        steps = [{"step": 0, "replaced": None, "versions": self.versions(), "seconds": 0.0}]
        counts: list[list[int]] = [[0, 0]]  # [requests, errors] of the current step
        stop = threading.Event()
        sender = None
        if rows:
            sender = threading.Thread(target=self._send_until, args=(rows, rate, stop, counts),
                                      daemon=True)
            sender.start()
            time.sleep(min(1.0, 20 / rate))  # a few requests on the old fleet first
        try:
            for index, old in enumerate(self.endpoints):
                started = time.monotonic()
                counts.append([0, 0])
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
                steps.append({"step": index + 1, "replaced": index, "versions": self.versions(),
                              "seconds": round(time.monotonic() - started, 2)})
        finally:
            stop.set()
            if sender is not None:
                sender.join(30)
        self.model_uri = model_uri
        frame = pd.DataFrame(steps)
        new_version = frame["versions"].iloc[-1]
        frame.insert(3, "on_new", [sum(v == n for v, n in zip(vs, new_version))
                                   for vs in frame["versions"]])
        frame["replaced"] = frame["replaced"].astype("Int64")  # step 0 replaced none: <NA>
        frame["requests"] = [c[0] for c in counts]
        frame["errors"] = [c[1] for c in counts]
        return frame.set_index("step")

    def _send_until(self, rows: list[dict], rate: float, stop: threading.Event,
                    counts: list[list[int]]) -> None:
        """Post single-row requests, ``rate`` per second at most, counted in ``counts[-1]``."""
        import httpx

        pause, i = 1.0 / rate, 0
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                ok = self.post({"dataframe_records": [rows[i % len(rows)]]}).status_code == 200
            except (httpx.HTTPError, EnvironmentProblem):
                ok = False
            step = counts[-1]
            step[0] += 1
            step[1] += not ok
            i += 1
            stop.wait(max(0.0, pause - (time.monotonic() - t0)))


def _records(frame: "pd.DataFrame") -> list[dict]:
    """JSON-ready rows (missing values as None)."""
    import numpy as np

    return frame.astype(object).replace({np.nan: None}).to_dict(orient="records")

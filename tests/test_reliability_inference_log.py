"""The inference log keeps every answered request, exactly once, and its backlog bounded.

Unit tests drive the spool directly (a crash between the Delta commit and the
segment's deletion, a frame torn by a kill, two live processes on one spool);
the endpoint tests post heavy bodies from several clients to a real endpoint
process, stop it with SIGTERM or SIGKILL, start it again and read the table.
Each endpoint test runs on the single-model and on the routed endpoint (the
``endpoint_kind`` fixture, tests/serving_kinds.py): one request pipeline.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import numpy as np
import psutil
import pytest
import serving_kinds
from deltalake import DeltaTable
from serving_kinds import EndpointKind
from test_serving_endpoint import _register

from mlops_kit.serving import Endpoint
from mlops_kit.serving.inference_log import InferenceLog
from mlops_kit.serving.schema import ParsedInput
from mlops_kit.workspace import Workspace

#: the endpoint under test, single-model and routed (tests/serving_kinds.py)
endpoint_kind = serving_kinds.endpoint_kind

#: rows per heavy request (~170 KB of JSON, under the 1 MiB body limit)
HEAVY_ROWS = 4000


def _record(log: InferenceLog, request_id: str, rows: int = 3) -> None:
    parsed = ParsedInput({"x": np.arange(rows, dtype=float), "city": np.array(["a"] * rows, dtype=object)},
                         rows)
    log.record(request_id, time.time(), parsed, np.ones(rows), 1.0)


def _ids(path) -> list[str]:
    return sorted(DeltaTable(str(path)).to_pandas()["request_id"])


def _log(tmp_path, **kwargs) -> InferenceLog:
    return InferenceLog(tmp_path / "log", model_name="m", model_version="1",
                        spool_dir=tmp_path / "spool", **kwargs)


# ---------------------------------------------------------------- the spool
def test_a_segment_committed_before_a_crash_is_not_written_twice(tmp_path):
    log = _log(tmp_path)
    for i in range(3):
        _record(log, f"r{i}")
    log.spool.seal()
    segment = log.spool.sealed()[0][2]
    kept = segment.read_bytes()
    log.flush_now()
    assert not segment.exists() and _ids(tmp_path / "log") == sorted(["r0", "r1", "r2"] * 3)
    log.spool.close()
    segment.write_bytes(kept)  # killed after the Delta commit, before the delete

    again = _log(tmp_path)
    _record(again, "r3")
    again.flush_now()
    assert again.replayed_segments == 1 and not segment.exists()
    assert _ids(tmp_path / "log") == sorted(["r0", "r1", "r2", "r3"] * 3)


def test_a_killed_process_s_spool_is_replayed_and_a_torn_frame_dropped(tmp_path):
    log = _log(tmp_path)
    for i in range(2):
        _record(log, f"r{i}")
    segment = log.spool.lane.segments()[-1][1]
    log.spool.close()  # the process died: the locks go, the spool stays
    with open(segment, "ab") as f:  # a frame cut short mid-write (never answered)
        f.write(b"MKS1\xff\xff\x00\x00\x12")

    again = _log(tmp_path).start()
    assert again.pending == 2  # counted before anything is written
    again.close()
    assert _ids(tmp_path / "log") == sorted(["r0", "r1"] * 3)
    assert not list((tmp_path / "spool").glob("lane-*/*.seg"))


def test_two_live_processes_on_one_spool_take_separate_lanes(tmp_path):
    first, second = _log(tmp_path), _log(tmp_path)
    _record(first, "a")
    _record(second, "b")
    assert first.spool.lane.path != second.spool.lane.path
    second.flush_now()
    first.flush_now()
    assert _ids(tmp_path / "log") == sorted(["a", "b"] * 3)


def test_the_backlog_bound_asks_to_shed_load_until_the_log_catches_up(tmp_path):
    log = _log(tmp_path, max_pending_bytes=1000, max_pending_requests=1000)
    assert log.overloaded() is None
    for i in range(10):
        _record(log, f"r{i}")
    assert log.pending == 10 and log.pending_bytes > 1000
    assert 1 <= log.overloaded() <= 30
    log.flush_now()
    assert log.overloaded() is None and log.pending == 0 and log.pending_bytes == 0


# ---------------------------------------------------------- a real endpoint
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    return ws, _register(ws)


def _heavy_body(rows: int = HEAVY_ROWS) -> bytes:
    import orjson

    rng = np.random.default_rng(0)
    return orjson.dumps({"inputs": {
        "room_type": rng.choice(["Private room", "Entire home/apt", "Shared room"], rows).tolist(),
        "host_is_superhost": rng.integers(0, 2, rows).astype(bool).tolist(),
        "accommodates": rng.integers(1, 8, rows).tolist(),
        "bathrooms": rng.integers(1, 4, rows).astype(float).tolist(),
        "review_scores_rating": rng.uniform(3, 5, rows).round(2).tolist(),
    }})


class Clients:
    """``n`` threads posting ``body`` until stopped; what got 200, 503 and errors."""

    def __init__(self, endpoint: Endpoint, body: bytes, n: int, prefix: str = "w") -> None:
        self.endpoint, self.body, self.prefix = endpoint, body, prefix
        self.answered: list[str] = []
        self.shed: list[str | None] = []
        self.other: list[object] = []
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(w,)) for w in range(n)]
        url = endpoint.invocations_url
        self.url = url
        for t in self.threads:
            t.start()

    def _loop(self, worker: int) -> None:
        n = 0
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                request_id = f"{self.prefix}{worker}-{n}"
                n += 1
                try:
                    r = client.post(self.url, content=self.body, headers={
                        "X-Request-Id": request_id, "Content-Type": "application/json"})
                except httpx.TransportError:
                    return  # the server went away (stopped or killed)
                with self.lock:
                    if r.status_code == 200:
                        self.answered.append(request_id)
                    elif r.status_code == 503:
                        self.shed.append(r.headers.get("retry-after"))
                    else:
                        self.other.append((r.status_code, r.text[:200]))

    def wait_for(self, answered: int, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answered) < answered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.answered) >= answered, f"only {len(self.answered)} answered"

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def _exactly_once(ws: Workspace, table: str, answered: list[str]) -> None:
    log = DeltaTable(str(ws.table_path(table))).to_pandas()
    counts = log.groupby("request_id").size()
    missing = sorted(set(answered) - set(counts.index))
    assert not missing, f"{len(missing)} answered requests missing from the log: {missing[:5]}"
    assert (counts[answered] == HEAVY_ROWS).all(), counts[counts != HEAVY_ROWS].head()
    # and nothing that was not answered (a request cut off by the stop was not recorded,
    # or was recorded and answered: either way it may only appear whole)
    assert (counts == HEAVY_ROWS).all()


def _stop_and_replay(ws: Workspace, uri: str, table: str, stop, kind: EndpointKind) -> Endpoint:
    table = f"{table}_{kind.name}"
    endpoint = kind.start(ws, uri, log_table=table)
    clients = Clients(endpoint, _heavy_body(), n=4)
    try:
        clients.wait_for(16)
        stop(endpoint)
    finally:
        clients.join()
    assert not clients.other, clients.other[:3]
    restarted = kind.start(ws, uri, log_table=table)  # replays what the spool holds
    assert restarted.stop() == 0
    _exactly_once(ws, table, clients.answered)
    assert not list(ws.spool_path(table).glob("lane-*/*.seg"))
    return endpoint


@pytest.mark.slow
def test_sigterm_under_heavy_bodies_loses_no_answered_request(served, endpoint_kind):
    ws, uri = served
    ws.activate()
    _stop_and_replay(ws, uri, "term_log", lambda e: e.stop(), endpoint_kind)


@pytest.mark.slow
def test_sigkill_under_heavy_bodies_loses_no_answered_request(served, endpoint_kind):
    ws, uri = served
    ws.activate()

    def kill(endpoint: Endpoint) -> None:
        os.killpg(endpoint.process.pid, signal.SIGKILL)
        endpoint.process.wait(30)

    _stop_and_replay(ws, uri, "kill_log", kill, endpoint_kind)


@pytest.mark.slow
def test_sustained_overload_is_shed_with_503_and_memory_stays_bounded(served, endpoint_kind,
                                                                       monkeypatch):
    """6 clients post heavy bodies for 12 s against a log allowed 4 MiB of backlog."""
    ws, uri = served
    ws.activate()
    monkeypatch.setenv("MLOPS_KIT_SERVING_LOG_MAX_PENDING_BYTES", str(4 << 20))
    table = f"overload_log_{endpoint_kind.name}"
    endpoint = endpoint_kind.start(ws, uri, log_table=table)
    process = psutil.Process(endpoint.process.pid)
    body = _heavy_body()
    warm = Clients(endpoint, body, n=1, prefix="warm")
    warm.wait_for(3)
    warm.join()
    baseline = process.memory_info().rss
    clients = Clients(endpoint, body, n=6)
    peak, backlog = baseline, 0
    try:
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            peak = max(peak, process.memory_info().rss)
            metrics = httpx.get(f"{endpoint.url}/metrics", timeout=30).text
            backlog = max(backlog, next(float(line.split()[-1]) for line in metrics.splitlines()
                                        if line.startswith("mlops_kit_inference_log_pending_bytes")))
            time.sleep(0.25)
    finally:
        clients.join()
    try:
        assert clients.shed, "no request was shed under overload"
        assert all(v is not None and 1 <= int(v) <= 30 for v in clients.shed)
        assert not clients.other, clients.other[:3]
        # the spool stays within its bound plus the requests already past the check
        assert backlog <= (4 << 20) + 6 * len(body) * 2
        growth = (peak - baseline) / 2**20
        assert growth < 300, f"RSS grew {growth:.0f} MiB under overload"
    finally:
        assert endpoint.stop() == 0
    _exactly_once(ws, table, clients.answered + warm.answered)


# ------------------------------------------------------------- small holes
@pytest.fixture(scope="module")
def guarded(served, endpoint_kind):
    """One endpoint (of each kind) with a token for the checks below."""
    from test_serving_endpoint import TOKEN

    ws, uri = served
    ws.activate()
    endpoint = endpoint_kind.start(ws, uri, token=TOKEN,
                                   log_table=f"health_log_{endpoint_kind.name}")
    yield ws, endpoint
    assert endpoint.stop() == 0


def test_health_without_the_token_says_only_that_it_is_up(guarded, endpoint_kind):
    ws, endpoint = guarded
    anonymous = httpx.get(f"{endpoint.url}/health", timeout=30)
    wrong = httpx.get(f"{endpoint.url}/health", timeout=30,
                      headers={"Authorization": "Bearer not-the-token-at-all-0000"})
    full = httpx.get(f"{endpoint.url}/health", headers=endpoint.headers, timeout=30)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    assert wrong.json() == {"status": "ok"}
    if endpoint_kind.name == "plain":
        assert full.json()["model"].endswith("/1")
    else:  # the routed endpoint names its routing config and the table's generation
        assert full.json()["routing"].endswith(".json") and full.json()["generation"] == 1
    assert full.json()["inference_log"]["path"] == str(
        ws.table_path(f"health_log_{endpoint_kind.name}"))


@pytest.mark.parametrize("value", [1e308, -1e308, 1.7e308])
def test_inputs_the_model_turns_into_infinity_are_refused(guarded, value):
    """1e308 was scored and answered {"predictions": [null]}."""
    _, endpoint = guarded
    row = {"room_type": "Private room", "host_is_superhost": True, "accommodates": 2,
           "bathrooms": value, "review_scores_rating": 4.5}
    bad = httpx.post(endpoint.invocations_url, json={"dataframe_records": [row]},
                     headers=endpoint.headers, timeout=30)
    good = httpx.post(endpoint.invocations_url, headers=endpoint.headers, timeout=30,
                      json={"dataframe_records": [{**row, "bathrooms": 1.0}]})
    assert bad.status_code == 400, bad.text
    assert bad.json()["error_code"] == "MODEL_REJECTED_INPUT" and "finite" in bad.json()["message"]
    assert good.status_code == 200 and np.isfinite(good.json()["predictions"][0])

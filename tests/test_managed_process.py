"""The one type for the kit's server child processes: start, wait ready, stop, clean up.

Real processes throughout: small Python programs that listen, die, ignore
SIGTERM or fork a grandchild, so what is checked is what the OS did.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from mlops_kit._processes import (
    ManagedProcess, free_port, read_record, remove_record, stop_recorded,
)
from mlops_kit.exceptions import EnvironmentProblem, ServerNotReadyError

REPO = Path(__file__).resolve().parents[1]


def _program(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def _listener(port: int, *, ignore_term: bool = False, grandchild: Path | None = None,
              delay: float = 0.0) -> list[str]:
    """A child that (after ``delay`` s) listens on ``port``; it may ignore SIGTERM and fork."""
    return _program(f"""
        import http.server, os, signal, subprocess, sys, time
        if {ignore_term!r}:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if {str(grandchild) if grandchild else ''!r}:
            keep = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN) "
                    "if {ignore_term!r} else None; time.sleep(600)")
            worker = subprocess.Popen([sys.executable, "-c", keep])
            open({str(grandchild)!r}, "w").write(str(worker.pid))
        time.sleep({delay})
        print("serving", flush=True)
        http.server.HTTPServer(("127.0.0.1", {port}), http.server.SimpleHTTPRequestHandler
                               ).serve_forever()
    """)


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has exited (a zombie counts as exited) within ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _wait_for_file(path: Path, within: float = 20.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


def test_a_child_that_gets_ready_answers_and_its_group_goes_with_it(tmp_path):
    port = free_port()
    worker_file = tmp_path / "worker.pid"
    child = ManagedProcess(_listener(port, grandchild=worker_file, delay=0.5), name="The test server",
                           log=tmp_path / "server.log", ready=f"http://127.0.0.1:{port}/")
    with child:
        assert child.running and child.startup_seconds >= 0.5  # waited for the port
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        assert os.getpgid(child.pid) == child.pid  # leads its own group
        pid, worker = child.pid, int(_wait_for_file(worker_file))
        assert os.getpgid(worker) == pid  # the grandchild is in that group
    assert not child.running and child.popen is None
    assert _gone(pid, 0) and _gone(worker, 0)  # stop returned once both were gone
    assert "serving" in child.log_tail()


def test_a_child_that_dies_before_ready_fails_at_once_with_its_log_and_leaves_nothing(tmp_path):
    worker_file = tmp_path / "worker.pid"
    dies = _program(f"""
        import subprocess, sys
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(worker_file)!r}, "w").write(str(worker.pid))
        print("config line 1", flush=True)
        print("fatal: the model file is missing", file=sys.stderr, flush=True)
        sys.exit(3)
    """)
    child = ManagedProcess(dies, name="The test server", log=tmp_path / "server.log",
                           ready=free_port(), ready_timeout=120, record=tmp_path / "server.json")
    started = time.monotonic()
    with pytest.raises(ServerNotReadyError, match=r"(?s)The test server exited with code 3 "
                       r"before 127\.0\.0\.1:\d+ answered.*server\.log\).*"
                       r"fatal: the model file is missing") as err:
        child.start()
    assert time.monotonic() - started < 30  # not the 120 s timeout
    assert err.value.returncode == 3 and err.value.log_path == tmp_path / "server.log"
    assert "config line 1" in err.value.log_tail
    assert isinstance(err.value, EnvironmentProblem)  # callers catching that still do
    assert _gone(int(worker_file.read_text()))  # its grandchild was stopped with it
    assert child.popen is None and not (tmp_path / "server.json").exists()


def test_a_child_that_never_gets_ready_times_out_naming_what_it_waited_for(tmp_path):
    port = free_port()
    child = ManagedProcess(_listener(port, delay=600), name="The slow server",
                           log=tmp_path / "slow.log", ready=f"http://127.0.0.1:{port}/ping",
                           ready_timeout=1.5)
    with pytest.raises(ServerNotReadyError, match=rf"(?s)The slow server did not answer "
                       rf"http://127\.0\.0\.1:{port}/ping within 1\.5 s.*slow\.log") as err:
        child.start()
    assert err.value.returncode is None
    assert child.popen is None and not child.running


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    port = free_port()
    worker_file = tmp_path / "worker.pid"
    child = ManagedProcess(_listener(port, ignore_term=True, grandchild=worker_file),
                           name="The stubborn server", log=tmp_path / "stubborn.log",
                           ready=port, stop_timeout=1.5).start()
    pid, worker = child.pid, int(_wait_for_file(worker_file))
    started = time.monotonic()
    code = child.stop()
    took = time.monotonic() - started
    assert code == -9  # SIGKILL, after SIGTERM was ignored
    assert 1.5 <= took < 15, took
    assert _gone(pid, 0) and _gone(worker, 0)  # the grandchild ignored SIGTERM too


def test_a_callable_probe_and_the_state_files_it_cleans_up(tmp_path):
    port = free_port()
    record, token = tmp_path / "server.json", tmp_path / "server.token"
    token.write_text("secret")
    seen = []

    def probe() -> bool:
        seen.append(json.loads(record.read_text())["ready"])  # written before it is ready
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    child = ManagedProcess(_listener(port, delay=0.3), name="The test server",
                           log=tmp_path / "server.log", ready=probe, record=record,
                           record_info={"port": port}, cleanup=[token]).start()
    assert seen and not any(seen)
    on_file = read_record(record)
    assert on_file["alive"] and on_file["ready"] and on_file["pid"] == child.pid
    assert on_file["port"] == port and on_file == {**child.recorded, "alive": True}
    child.stop()
    assert not record.exists() and not token.exists()
    assert read_record(record) is None


def test_a_server_that_outlives_its_starter_is_stopped_by_its_record(tmp_path):
    """``outlive``: the Python that started it exits and it runs on; a later process stops
    it through its record. Without ``outlive`` the child goes when its Python exits."""
    port, record = free_port(), tmp_path / "server.json"
    starter = textwrap.dedent("""
        import sys
        from pathlib import Path
        from mlops_kit._processes import ManagedProcess
        command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", sys.argv[2]]
        child = ManagedProcess(command, name="The test server", log=Path(sys.argv[3]),
                               ready=int(sys.argv[2]), record=Path(sys.argv[3] + ".json"),
                               outlive=sys.argv[1] == "outlive").start()
        print(child.pid)
    """)

    def start(mode: str, port: int, log: Path) -> int:
        run = subprocess.run([sys.executable, "-c", starter, mode, str(port), str(log)],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        return int(run.stdout)

    kept = start("outlive", port, tmp_path / "server")
    assert not _gone(kept, 1.0)
    info = read_record(record)
    assert info["alive"] and info["pid"] == kept
    stop_recorded(info, timeout=5)
    remove_record(record, info)
    assert _gone(kept) and not record.exists()

    owned = start("own", free_port(), tmp_path / "owned")
    assert _gone(owned)  # stopped when the Python that started it exited


def test_a_program_that_does_not_exist_is_one_clear_error(tmp_path):
    child = ManagedProcess([str(tmp_path / "no-such-server")], name="The missing server",
                           log=tmp_path / "missing.log", ready=free_port())
    with pytest.raises(EnvironmentProblem, match="The missing server could not be started"):
        child.start()
    assert child.popen is None

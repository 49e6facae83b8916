"""Server child processes on 127.0.0.1: a free port, readiness, and a clean stop.

The kit runs its servers (the serving endpoint, ``mlflow server``) as child
processes started with ``start_new_session=True``. Each then leads its own
process group, for two reasons: a Ctrl-C in the notebook does not reach it,
and stopping the *group* also stops the workers it forked, so none is left
holding the port after a crashed notebook or test.

The lifecycle is the same for every such server, so it lives here once:

1. :func:`free_port` picks a port (:func:`port_is_free` checks a given one);
2. :func:`wait_until_ready` polls its health URL (:func:`wait_until_listening`
   its port, for a server that speaks no HTTP), and fails fast, with the
   tail of its log, when the child exits before answering;
3. :func:`stop_child` (or :func:`stop_group`, for a pid this process did not
   start) sends SIGTERM to the group, so servers drain and flush, and SIGKILL
   to whatever is still there after a timeout.

A server that must outlive the command that started it (``mlops-kit
mlflow-server start``, ``mlops-kit spark start``) is *recorded* in a small JSON
file in the workspace: :func:`write_record` stores its pid with the process's
start time, and :func:`read_record` says whether that very process still runs
(a pid the OS has since given to another program does not count).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from mlops_kit.exceptions import EnvironmentProblem

__all__ = [
    "LOOPBACK",
    "free_port",
    "port_is_free",
    "log_tail",
    "wait_until_ready",
    "wait_until_listening",
    "write_record",
    "read_record",
    "process_alive",
    "signal_group",
    "stop_group",
    "stop_child",
]

#: the only interface the kit's servers bind: nothing is reachable from outside
LOOPBACK = "127.0.0.1"

#: seconds to reap a child after its group got SIGKILL
_REAP_SECONDS = 5.0


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether ``port`` can be bound now.

    Check a port the user chose before starting a server on it: if another
    server holds it, the health check would get its answer and pass.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: Path | None, lines: int = 15) -> str:
    """The last ``lines`` lines of a server's log (where start-up errors land)."""
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until_ready(
    url: str,
    timeout: float,
    *,
    name: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    log_lines: int = 15,
    interval: float = 0.1,
) -> None:
    """Poll ``url`` until it answers 200; raise with the log's tail if it never does.

    Parameters
    ----------
    url : str
        The server's health URL (``.../ping``, ``.../health``).
    timeout : float
        Seconds to wait in all.
    name : str
        How error messages name the server (``"The mlflow server"``).
    process : subprocess.Popen, optional
        The child serving ``url``: when it exits, waiting stops at once
        instead of running into the timeout.
    log : Path, optional
        The child's output, quoted in the error.

    Raises
    ------
    EnvironmentProblem
        The child exited, or ``url`` did not answer within ``timeout``.
    """
    import httpx

    def answered() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    _poll(answered, url, timeout, name=name, process=process, log=log,
          log_lines=log_lines, interval=interval)


def wait_until_listening(
    port: int,
    timeout: float,
    *,
    name: str,
    host: str = LOOPBACK,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    log_lines: int = 15,
    interval: float = 0.2,
) -> None:
    """Poll until ``host:port`` accepts a TCP connection; raise with the log's tail if not.

    For servers without an HTTP health URL (a gRPC server such as Spark
    Connect opens its port only once it can serve). Same parameters and
    errors as :func:`wait_until_ready`.
    """

    def listening() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

    _poll(listening, f"{host}:{port}", timeout, name=name, process=process, log=log,
          log_lines=log_lines, interval=interval)


def _poll(probe, target: str, timeout: float, *, name: str, process: subprocess.Popen | None,
          log: Path | None, log_lines: int, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EnvironmentProblem(
                f"{name} exited with code {process.returncode} before {target} answered. "
                f"{_log_note(log, log_lines)}"
            )
        if probe():
            return
        time.sleep(interval)
    raise EnvironmentProblem(
        f"{name} did not answer {target} within {timeout:g} s. {_log_note(log, log_lines)}"
    )


def _log_note(log: Path | None, lines: int) -> str:
    where = f" ({log})" if log is not None else ""
    return f"Last lines of its log{where}:\n{log_tail(log, lines)}"


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group ``pid`` leads; False if the group is gone.

    The group id is the pid itself (the child was started in its own
    session), never looked up: a pid reused by an unrelated process must not
    lead to signalling that process's group.
    """
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL what is left after ``timeout``.

    Waits for every member of the group, not only its leader: a server's
    workers can outlive it and keep its port. Zombies do not count (the
    leader stays one until its parent reaps it).
    """
    if not signal_group(pid, signal.SIGTERM):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.1)
    signal_group(pid, signal.SIGKILL)


def stop_child(process: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """Stop a child started with ``start_new_session=True``, with its group; reap it.

    Returns its exit code (None if it could not be reaped after SIGKILL).
    """
    stop_group(process.pid, timeout)
    try:
        return process.wait(_REAP_SECONDS)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
        return None


def _group_alive(pgid: int) -> bool:
    """Whether a process other than a zombie is still in the group ``pgid``."""
    import psutil

    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False


# ------------------------------------------------------------ detached servers
def process_alive(pid: int, create_time: float | None = None) -> bool:
    """Whether ``pid`` runs (a zombie does not count).

    With ``create_time`` (from :func:`write_record`), only the process that had
    that pid when it was recorded counts, not one that got the pid later.
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def write_record(path: Path, pid: int, **info: object) -> dict:
    """Record a server that outlives this process: its pid, start time and ``info``.

    Written atomically (a reader never sees half a file). Returns the record.
    """
    import psutil

    record = {"pid": pid, "create_time": psutil.Process(pid).create_time(), **info}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record))
    os.replace(partial, path)
    return record


def read_record(path: Path) -> dict | None:
    """The record at ``path`` plus ``"alive"``; ``None`` when there is none.

    ``alive`` is False when the recorded process has exited (or its pid now
    belongs to another process): the caller reports that and removes the file.
    An unreadable file counts as a record of a dead process.
    """
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        pid = int(record["pid"])
    except (ValueError, KeyError, TypeError, OSError):
        return {"pid": None, "alive": False}
    return {**record, "alive": process_alive(pid, record.get("create_time"))}

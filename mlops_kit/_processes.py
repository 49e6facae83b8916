"""Server child processes on 127.0.0.1: a free port, readiness, and a clean stop.

The kit runs its servers (the serving endpoint, ``mlflow server``) as child
processes started with ``start_new_session=True``. Each then leads its own
process group, for two reasons: a Ctrl-C in the notebook does not reach it,
and stopping the *group* also stops the workers it forked, so none is left
holding the port after a crashed notebook or test.

The lifecycle is the same for every such server, so it lives here once:

1. :func:`free_port` picks a port (:func:`port_is_free` checks a given one);
2. :func:`wait_until_ready` polls its health URL, and fails fast, with the
   tail of its log, when the child exits before answering;
3. :func:`stop_child` (or :func:`stop_group`, for a pid this process did not
   start) sends SIGTERM to the group, so servers drain and flush, and SIGKILL
   to whatever is still there after a timeout.
"""
from __future__ import annotations

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

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EnvironmentProblem(
                f"{name} exited with code {process.returncode} before {url} answered. "
                f"Last lines of its log:\n{log_tail(log, log_lines)}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise EnvironmentProblem(
        f"{name} did not answer {url} within {timeout:g} s. "
        f"Last lines of its log:\n{log_tail(log, log_lines)}"
    )


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

"""Server child processes on 127.0.0.1: one type to start, wait ready, stop and clean up.

Every server the kit runs as a child (the serving endpoint, ``mlflow models
serve``, the routed endpoint, a fleet's instances, ``mlflow server``, the Spark
Connect server) is a :class:`ManagedProcess`::

    with ManagedProcess([sys.executable, "-m", "http.server", str(port)],
                        name="The file server", log=path, ready=port) as child:
        ...   # it listens now; leaving the block stops it and its workers

One way to do each step:

1. **start**: the command in its own session (so its own process group: a
   Ctrl-C in a notebook does not reach it, and stopping the group also stops
   the workers it forked), stdout and stderr to a log file, stdin closed, the
   environment it is given;
2. **wait ready**: a readiness probe (an HTTP URL that must answer 200, a port
   that must accept a connection, or any callable) polled until it holds. A
   child that exits first fails at once with :class:`ServerNotReadyError`
   quoting the last lines of its log, never a wait into the timeout; a child
   that never gets ready fails at the timeout the same way. Either way it is
   stopped with its whole group, so nothing of a failed start is left;
3. **stop**: SIGTERM to the group (servers drain and flush), SIGKILL to
   whatever is left after a grace period, the child reaped;
4. **clean up**: the state files it was given (its record, a token) removed.

A server that must outlive the process that started it (``mlops-kit
mlflow-server start``, ``mlops-kit spark start``, the Spark server a kernel
starts for every notebook) is started with ``outlive=True`` and a ``record``:
a small JSON file (:func:`write_record`) with its pid and the process's start
time, so :func:`read_record` can tell whether that very process still runs (a
pid the OS has since given to another program does not count), and
:func:`stop_recorded` stops it from any later process. Every other child is
stopped when its object is collected or Python exits.

The pieces (:func:`free_port`, :func:`wait_until_ready`, :func:`stop_child`,
...) stay usable on their own for a child the kit does not own as a server
(a test's JupyterLab, a cluster's daemons).
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

from mlops_kit.exceptions import EnvironmentProblem, ServerNotReadyError

__all__ = [
    "LOOPBACK",
    "ManagedProcess",
    "Probe",
    "http_probe",
    "port_probe",
    "free_port",
    "port_is_free",
    "log_tail",
    "wait_until",
    "wait_until_ready",
    "wait_until_listening",
    "write_record",
    "read_record",
    "stop_recorded",
    "remove_record",
    "process_alive",
    "signal_group",
    "stop_group",
    "stop_child",
]

#: a readiness check: True once the server can serve
Probe = Callable[[], bool]

#: what ``ManagedProcess(ready=...)`` takes: an HTTP URL, a port, or a probe
Readiness = Union[str, int, Probe, None]

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


def http_probe(url: str) -> Probe:
    """A probe that holds when ``url`` answers 200 (a health URL such as ``/ping``)."""

    def answered() -> bool:
        import httpx

        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return answered


def port_probe(port: int, host: str = LOOPBACK) -> Probe:
    """A probe that holds when ``host:port`` accepts a TCP connection.

    For servers without an HTTP health URL: a gRPC server such as Spark
    Connect opens its port only once it can serve.
    """

    def listening() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

    return listening


def wait_until(
    probe: Probe,
    timeout: float,
    *,
    name: str,
    target: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    log_lines: int = 15,
    interval: float = 0.1,
) -> None:
    """Poll ``probe`` until it holds; fail at once when ``process`` exits first.

    Parameters
    ----------
    probe : callable
        Returns True once the server is ready (:func:`http_probe`, :func:`port_probe`).
    timeout : float
        Seconds to wait in all.
    name, target : str
        How the message names the server (``"The mlflow server"``) and what
        was waited for (``"http://127.0.0.1:5000/health"``).
    process : subprocess.Popen, optional
        The child that should become ready: when it exits, waiting stops at
        once instead of running into the timeout.
    log : Path, optional
        The child's output; its last ``log_lines`` lines are quoted in the error.

    Raises
    ------
    ServerNotReadyError
        The child exited, or the probe did not hold within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            reason = f"exited with code {process.returncode} before {target} answered"
            raise _not_ready(reason, name, target, process.returncode, log, log_lines)
        if probe():
            return
        if time.monotonic() >= deadline:
            reason = f"did not answer {target} within {timeout:g} s"
            raise _not_ready(reason, name, target, None, log, log_lines)
        time.sleep(interval)


def _not_ready(reason: str, name: str, target: str, returncode: int | None,
               log: Path | None, lines: int) -> ServerNotReadyError:
    where = f" ({log})" if log is not None else ""
    tail = log_tail(log, lines)
    return ServerNotReadyError(f"{name} {reason}. Last lines of its log{where}:\n{tail}",
                               name=name, target=target, returncode=returncode,
                               log_path=log, log_tail=tail)


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

    :func:`wait_until` with :func:`http_probe`; same parameters and errors.
    """
    wait_until(http_probe(url), timeout, name=name, target=url, process=process, log=log,
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

    :func:`wait_until` with :func:`port_probe`; same parameters and errors.
    """
    wait_until(port_probe(port, host), timeout, name=name, target=f"{host}:{port}",
               process=process, log=log, log_lines=log_lines, interval=interval)


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

    ``timeout`` is the grace period a server gets to drain and flush. Waits for every member of the group, not only its leader: a server's
    workers can outlive it and keep its port. Zombies do not count (the
    leader stays one until its parent reaps it).
    """
    if not signal_group(pid, signal.SIGTERM):
        return
    if _wait_group_gone(pid, timeout):
        return
    signal_group(pid, signal.SIGKILL)
    _wait_group_gone(pid, _REAP_SECONDS)  # SIGKILL is not refused, but takes a moment


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the group ``pgid`` to empty; whether it did."""
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_child(process: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """Stop a child started with ``start_new_session=True``, with its group; reap it.

    Returns its exit code (None if it could not be reaped after SIGKILL).
    """
    stop_group(process.pid, timeout)
    try:
        return process.wait(_REAP_SECONDS)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
        return None


def kill_family(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGKILL a child started with ``start_new_session=True``: its group and every
    descendant, also those that moved to a group of their own (jupyter_client gives a
    kernel its own); reap them. For a run that is over, with nothing to flush."""
    import psutil

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    signal_group(process.pid, signal.SIGKILL)
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()
    psutil.wait_procs(family, timeout=timeout)


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


def stop_recorded(record: dict, timeout: float = 10.0) -> None:
    """Stop the server a record (from :func:`read_record`) names, with its process group.

    A server this process started is stopped through its child handle (so it
    is reaped too); one another process started gets the same SIGTERM, then
    SIGKILL after ``timeout``, by its group. A dead record is left alone.
    """
    if not record.get("alive"):
        return
    pid = int(record["pid"])
    child = _CHILDREN.get(pid)
    if child is not None:
        stop_child(child, timeout)
    else:
        stop_group(pid, timeout)


def remove_record(path: Path, record: dict | None = None, *, also: Sequence[Path] = ()) -> None:
    """Remove a server's record and the files that live only as long as it (``also``).

    For a stopped or dead server. When this process started it, the child is
    reaped too, so no zombie is left.
    """
    path.unlink(missing_ok=True)
    for extra in also:
        extra.unlink(missing_ok=True)
    child = _CHILDREN.pop((record or {}).get("pid"), None)
    if child is not None:
        try:
            child.wait(1.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - stopped before it is forgotten
            pass


# ------------------------------------------------------------ the managed process
#: every server child this process started and has not stopped, by pid (to reap it)
_CHILDREN: dict[int, subprocess.Popen] = {}

#: the children to stop when Python exits (those started without ``outlive``)
_OWNED: "weakref.WeakSet[ManagedProcess]" = weakref.WeakSet()


class ManagedProcess:
    """A server child process: one way to start, wait ready, stop and clean up.

    Parameters
    ----------
    command : sequence of str
        The program and its arguments. Secrets go in ``env``, never here
        (a command line shows in ``ps``).
    name : str
        How messages name the server (``"The endpoint for price@champion"``).
    log : Path
        Where its stdout and stderr go (appended to, unless ``append_log=False``).
    ready : str, int or callable, optional
        The readiness probe: an HTTP URL that must answer 200, a port on
        127.0.0.1 that must accept a connection, or a callable returning
        True once ready. None: ready as soon as it runs.
    env : mapping, optional
        Its whole environment (default: this process's).
    cwd : Path, optional
        Its working directory.
    ready_timeout : float
        Seconds :meth:`start` waits for ``ready``.
    ready_interval : float
        Seconds between two probes.
    stop_timeout : float
        The grace period of :meth:`stop`: seconds between SIGTERM and SIGKILL.
    record : Path, optional
        A state file written when it starts (``ready: false``) and again when
        it is ready (``ready: true``, ``startup_seconds``), with its pid, start
        time and ``record_info``; removed when it stops.
    record_info : mapping, optional
        What else the record holds (port, URL, ...).
    cleanup : sequence of Path
        Other files that live only as long as the process (a token).
    log_lines : int
        How many lines of the log an error quotes.
    append_log : bool
        Append to ``log`` (the default) or start it anew.
    banner : str, optional
        A line written to the log before the process starts (a run's heading).
    outlive : bool
        Keep running after this object is collected and after this Python
        exits; stop it with :meth:`stop` or, from another process, by its
        record (:func:`stop_recorded`). By default it is stopped then.

    Examples
    --------
    >>> port = free_port()
    >>> with ManagedProcess([sys.executable, "-m", "http.server", str(port)],  # doctest: +SKIP
    ...                     name="A file server", log=Path("http.log"),
    ...                     ready=f"http://127.0.0.1:{port}/") as server:
    ...     server.running
    True
    """

    def __init__(self, command: Sequence[str], *, name: str, log: Path,
                 ready: Readiness = None, env: Mapping[str, str] | None = None,
                 cwd: Path | str | None = None, ready_timeout: float = 60.0,
                 ready_interval: float = 0.1, stop_timeout: float = 10.0,
                 record: Path | None = None, record_info: Mapping[str, object] | None = None,
                 cleanup: Sequence[Path] = (), log_lines: int = 15, append_log: bool = True,
                 banner: str | None = None, outlive: bool = False) -> None:
        self.command = list(command)
        self.name = name
        self.log = Path(log)
        self.ready = ready
        self.env = env
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.ready_interval = ready_interval
        self.stop_timeout = stop_timeout
        self.record = record
        self.record_info = dict(record_info or {})
        self.cleanup_paths = tuple(cleanup)
        self.log_lines = log_lines
        self.append_log = append_log
        self.banner = banner
        self.outlive = outlive
        #: the running child (None before start and after stop)
        self.popen: subprocess.Popen | None = None
        #: seconds from start until ready (None before it was ready)
        self.startup_seconds: float | None = None
        #: the record as written once it was ready (None without ``record``)
        self.recorded: dict | None = None
        self._spawned_at = 0.0

    # ------------------------------------------------------------ state
    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    @property
    def running(self) -> bool:
        """Whether the child was started, is not stopped and has not exited."""
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit code once it exited on its own (None while it runs)."""
        return None if self.popen is None else self.popen.poll()

    @property
    def target(self) -> str:
        """What readiness waits for, as messages name it."""
        if isinstance(self.ready, str):
            return self.ready
        if isinstance(self.ready, int):
            return f"{LOOPBACK}:{self.ready}"
        return "its readiness check"

    def log_tail(self, lines: int | None = None) -> str:
        """The last lines the child wrote (start-up errors land here)."""
        return log_tail(self.log, lines or self.log_lines)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ManagedProcess({self.name!r}, pid={self.pid}, {state})"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "ManagedProcess":
        """Start the child and wait until it is ready; a running one is left as it is.

        Raises
        ------
        ServerNotReadyError
            It exited, or did not get ready within ``ready_timeout``: the
            message quotes its log's last lines, and the child and its group
            are stopped, its state files removed.
        EnvironmentProblem
            The program could not be started at all (not found, not executable).
        """
        if self.running:
            return self
        self.spawn()
        try:
            self.wait_ready()
        except BaseException:  # no half-started server is left behind
            self.stop()
            raise
        return self

    def spawn(self) -> "ManagedProcess":
        """Start the child in its own process group, without waiting for it to be ready."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab" if self.append_log else "wb") as out:
            if self.banner:
                gap = "\n" if out.tell() else ""
                out.write(f"{gap}{self.banner}\n".encode())
                out.flush()
            try:
                self.popen = subprocess.Popen(
                    self.command, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=None if self.env is None else dict(self.env),
                    cwd=self.cwd, start_new_session=True,
                )
            except OSError as err:
                raise EnvironmentProblem(
                    f"{self.name} could not be started: {err.strerror or err} "
                    f"({self.command[0]}).") from None
        self._spawned_at = time.perf_counter()
        self.startup_seconds = None
        _CHILDREN[self.popen.pid] = self.popen
        if not self.outlive:
            _OWNED.add(self)
        if self.record is not None:
            write_record(self.record, self.popen.pid, ready=False, **self.record_info)
        return self

    def wait_ready(self, timeout: float | None = None) -> "ManagedProcess":
        """Wait until the readiness probe holds (see :meth:`start` for the errors)."""
        if self.popen is None:
            raise EnvironmentProblem(f"{self.name} was not started: call start() first.")
        if self.ready is not None:
            wait_until(self._probe(), self.ready_timeout if timeout is None else timeout,
                       name=self.name, target=self.target, process=self.popen, log=self.log,
                       log_lines=self.log_lines, interval=self.ready_interval)
        self.startup_seconds = time.perf_counter() - self._spawned_at
        if self.record is not None:
            self.recorded = write_record(self.record, self.popen.pid, ready=True,
                                         startup_seconds=round(self.startup_seconds, 1),
                                         **self.record_info)
        return self

    def _probe(self) -> Probe:
        if isinstance(self.ready, str):
            return http_probe(self.ready)
        if isinstance(self.ready, int) and not isinstance(self.ready, bool):
            return port_probe(self.ready)
        if callable(self.ready):
            return self.ready
        raise TypeError(f"ready must be a URL, a port or a callable. Got {self.ready!r}.")

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM its group, SIGKILL what is left after the grace period; clean up.

        Returns its exit code (None if it was not running, or could not be reaped).
        """
        popen, self.popen = self.popen, None
        _OWNED.discard(self)
        if popen is None:
            return None
        code = stop_child(popen, self.stop_timeout if timeout is None else timeout)
        _CHILDREN.pop(popen.pid, None)
        self.cleanup()
        return code

    def cleanup(self) -> None:
        """Remove its record and the other state files it was given."""
        if self.record is not None:
            self.record.unlink(missing_ok=True)
        for path in self.cleanup_paths:
            path.unlink(missing_ok=True)

    def detach(self) -> None:
        """Let the child run on after this object and this Python; forget it here.

        It is then stopped by its record (:func:`stop_recorded`), from any process.
        """
        self.outlive = True
        _OWNED.discard(self)
        self.popen = None

    def __enter__(self) -> "ManagedProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # pragma: no cover - last resort for a forgotten child
        popen = getattr(self, "popen", None)
        if popen is not None and not self.outlive and popen.poll() is None:
            signal_group(popen.pid, signal.SIGKILL)


@atexit.register
def _stop_owned() -> None:  # pragma: no cover - runs at interpreter exit
    for child in list(_OWNED):
        child.stop(timeout=min(child.stop_timeout, 10.0))

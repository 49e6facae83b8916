"""One warm Spark for the whole workspace: a Spark Connect server the kit runs.

Every notebook that builds its own SparkSession starts a JVM (7-15 s on two
cores) before its first query. A Spark Connect server keeps one JVM running;
a notebook then opens a thin gRPC client session to it in well under a second.
:func:`start_server` runs one per workspace, in the background, with what
:func:`mlops_kit.spark.get_spark` gives a local session: Delta's SQL extension
and catalog (the Delta jars from the local Maven repository), the kit's
small-machine settings (:func:`mlops_kit.spark_settings.spark_conf`: driver
memory, two shuffle partitions, ...; the full JIT, since the server is
long-lived) and ``MLOPS_KIT_SPARK_CONF``::

    mlops-kit spark start     # waits until the server answers, prints its sc:// URL
    mlops-kit spark status    # url, pid and uptime, or "not running"
    mlops-kit spark stop      # SIGTERM to its process group, SIGKILL if it lingers

Only the workspace's own processes may use it: each start makes a fresh
random token, kept in ``<root>/spark-connect.token`` (mode 0600, so no other
user of the machine can read it) and handed to the server in its environment
(``SPARK_CONNECT_AUTHENTICATE_TOKEN``, which the server reads when
``spark.connect.authenticate.token`` is not set; an environment is readable by
its owner only, a ``--conf`` would show in ``ps``). A client without the token,
or with another one, is refused before any plan runs. The kit's clients read the
file and connect to ``sc://localhost:<port>/;token=...`` (:func:`connect_url`):
PySpark sends a token over a plain local channel only to the host ``localhost``,
and wants TLS for any other name. For a Connect server the kit did not start
(``MLOPS_KIT_SPARK_MASTER=sc://...``) the token comes from the URL itself or from
``MLOPS_KIT_SPARK_TOKEN`` (:func:`with_token`).

The server binds 127.0.0.1 only, on a free port. It is recorded in
``<root>/spark-connect.json`` (pid, start time, port, URL) and writes its
output to ``<root>/logs/spark-connect.log``. A record whose process has died
is reported as such and removed; ``start`` is idempotent (a second call
returns the running server), and concurrent starts wait for each other.

``get_spark()`` uses the server unless ``MLOPS_KIT_SPARK=local`` or
``MLOPS_KIT_SPARK_MASTER`` is set (:func:`uses_shared_server`), and starts it
when it does not run (:func:`ensure_server`): see :mod:`mlops_kit.spark`.

A server started that way, on demand (a script, a probe, a kernel, a job), stops
itself once no client has been connected for ``MLOPS_KIT_SPARK_IDLE_MINUTES``
(default 10; 0 never), and the line that says it starts says so too: a script
that needed Spark for a moment leaves no 2 GB JVM behind. A small launcher
process (``resources/spark_idle_launcher.py``, the recorded pid, the server's
process group leader) watches the server's port and, once idle, removes the
record and token under the workspace's lock and stops the server. ``mlops-kit
spark start`` starts a server without that limit, and turns it off on an
on-demand server that already runs.

Whatever runs notebooks (the course, a job, setup, a pipeline, a release, a
retraining, the webhook's validation job) wraps the run in
:func:`shared_server`: a server that was not running before the run is
stopped when the run ends, one that was running stays warm.

The server process is a :class:`~mlops_kit._processes.ManagedProcess` that
outlives the process that started it, found again through its record.

Over Connect, Delta works through SQL (``MERGE INTO``, ``DESCRIBE HISTORY``,
``RESTORE``, ``versionAsOf`` reads); Delta's Python ``DeltaTable`` API and
``spark.sparkContext`` do not exist there.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from mlops_kit._processes import (
    LOOPBACK, ManagedProcess, free_port, port_is_free, read_record, remove_record, stop_recorded,
    write_record,
)
from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError
from mlops_kit.java import delta_version, ensure_delta_jars, find_java
from mlops_kit.spark_settings import spark_conf
from mlops_kit.workspace import DEFAULT_SPARK_MASTER, Workspace, get_workspace, make_private

__all__ = [
    "start_server", "stop_server", "server_status", "running_server", "ensure_server",
    "shared_server", "uses_shared_server", "spark_mode", "SPARK_MODES",
    "server_command", "state_path", "log_path", "spark_home", "token_path", "read_token",
    "connect_url", "with_token", "TOKEN_ENV", "idle_minutes", "IDLE_SETTING",
    "DEFAULT_IDLE_MINUTES",
]

#: the environment variable the server reads its token from (PySpark's client reads it too)
TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"

#: hosts that are this machine: a token to them travels over a local channel as ``localhost``
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

#: the class ``spark-submit`` runs (its jar ships in the pyspark package)
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"

#: where the server's Spark runs: a JVM on this machine, all its cores
SERVER_MASTER = "local[*]"

#: where an on-demand server's Spark runs instead (``spark://host:7077``; `classroom up` sets it)
SERVER_MASTER_SETTING = "MLOPS_KIT_SPARK_SERVER_MASTER"

#: seconds to wait for the port; a cold start is 10-20 s on two idle cores
DEFAULT_START_TIMEOUT = 180.0

#: seconds between SIGTERM (the JVM stops its SparkContext) and SIGKILL
STOP_TIMEOUT = 20.0

#: how long an on-demand server waits without a client before it stops itself
IDLE_SETTING = "MLOPS_KIT_SPARK_IDLE_MINUTES"

#: minutes an on-demand server runs on without a client (0: until stopped)
DEFAULT_IDLE_MINUTES = 10.0

#: the script that runs an on-demand server and stops it when idle (stdlib only)
IDLE_LAUNCHER = Path(__file__).resolve().parent / "resources" / "spark_idle_launcher.py"


def idle_minutes() -> float:
    """``MLOPS_KIT_SPARK_IDLE_MINUTES``: minutes an on-demand server waits for a client (0: forever).

    Fractions are allowed (0.5 is 30 s).
    """
    text = os.environ.get(IDLE_SETTING, "").strip()
    if not text:
        return DEFAULT_IDLE_MINUTES
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not minutes >= 0 or minutes == float("inf"):
        raise ConfigError(f"{IDLE_SETTING} must be a number of minutes, 0 or more (0: the "
                          f"server never stops by itself). Got {text!r} instead.")
    return minutes


def _idle_note(minutes: float | None) -> str:
    """How an on-demand server ends, for the line that says it starts."""
    if not minutes:
        return f"it runs until `mlops-kit spark stop` ({IDLE_SETTING}=0)"
    return (f"it stops after {minutes:g} min without a client ({IDLE_SETTING}; a server "
            "from `mlops-kit spark start` stays)")


#: values of ``MLOPS_KIT_SPARK``: where a session goes when no master is set
SPARK_MODES: tuple[str, ...] = ("local", "connect")


def spark_mode() -> str:
    """``MLOPS_KIT_SPARK``: ``connect`` (default: the workspace's server) or ``local``."""
    mode = os.environ.get("MLOPS_KIT_SPARK", "").strip().lower() or "connect"
    if mode not in SPARK_MODES:
        raise ConfigError(
            f"MLOPS_KIT_SPARK must be one of {', '.join(SPARK_MODES)}. Got "
            f"{os.environ['MLOPS_KIT_SPARK']!r} instead."
        )
    return mode


def uses_shared_server(workspace: Workspace | None = None) -> bool:
    """Whether sessions of ``workspace`` go to its shared Spark Connect server.

    True unless ``MLOPS_KIT_SPARK=local`` or a master is set explicitly
    (``MLOPS_KIT_SPARK_MASTER``, ``local[*]`` included).
    """
    workspace = workspace or get_workspace()
    return (spark_mode() == "connect" and not os.environ.get("MLOPS_KIT_SPARK_MASTER")
            and workspace.spark_master == DEFAULT_SPARK_MASTER)


def spark_home() -> Path:
    """The pyspark package folder: it holds ``bin/spark-submit`` and Spark's jars."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def state_path(workspace: Workspace) -> Path:
    """The record of the workspace's server: ``<root>/spark-connect.json``."""
    return workspace.spark_connect_state_path


def log_path(workspace: Workspace) -> Path:
    """The server's stdout and stderr: ``<root>/logs/spark-connect.log``."""
    return workspace.spark_connect_log_path


def token_path(workspace: Workspace) -> Path:
    """The server's token: ``<root>/spark-connect.token`` (0600, new at every start)."""
    return workspace.spark_connect_token_path


def read_token(workspace: Workspace) -> str | None:
    """The token of the workspace's server, or None when there is none (no server, or an old one)."""
    from mlops_kit._secrets import read_private

    return read_private(token_path(workspace))


def _new_token(workspace: Workspace) -> str:
    from mlops_kit._secrets import new_secret, write_private

    token = new_secret()
    write_private(token_path(workspace), token)
    return token


def _split_connect_url(url: str) -> tuple[str, str, list[str]]:
    """``sc://host:port/;a=b;c=d`` as ``(host, ":port" or "", ["a=b", "c=d"])``."""
    rest = url[len("sc://"):] if url.startswith("sc://") else url
    address, _, tail = rest.partition("/")
    params = [p for p in tail.lstrip(";").split(";") if p.strip()]
    if address.startswith("["):  # [::1]:15002
        host, _, port = address.partition("]")
        return host + "]", port, params
    host, colon, port = address.partition(":")
    return host, colon + port, params


def with_token(url: str, token: str | None) -> str:
    """``url`` (``sc://host:port[/;params]``) carrying ``token``; unchanged without one.

    A URL that already names a token keeps its own. A loopback host
    (``127.0.0.1``, ``::1``) is written ``localhost``: PySpark sends a token
    over a plain local channel only to ``localhost`` and asks for TLS otherwise.
    """
    if not token:
        return url
    host, port, params = _split_connect_url(url)
    if any(p.strip().lower().startswith("token=") for p in params):
        return url
    if host in _LOOPBACK_HOSTS:
        host = "localhost"
    return f"sc://{host}{port}/;" + ";".join([*params, f"token={token}"])


def connect_url(workspace: Workspace, record: dict | None = None) -> str:
    """The URL a client of the workspace's server connects to, token included.

    ``record`` is the server's record (default: the running server's). A server
    started without a token (by an older kit) is reached at its plain URL.

    Raises
    ------
    NotFoundError
        No server runs for the workspace.
    EnvironmentProblem
        The server asks for a token but its file is gone.
    """
    record = record or running_server(workspace)
    if record is None:
        raise NotFoundError(f"No Spark Connect server is running for the workspace "
                            f"{workspace.root}. Start one with: mlops-kit spark start")
    if not record.get("authenticated"):
        return record["url"]
    token = read_token(workspace)
    if token is None:
        raise EnvironmentProblem(
            f"The Spark Connect server of {workspace.root} asks for a token, but "
            f"{token_path(workspace)} is missing. Restart it: mlops-kit spark stop, then "
            "mlops-kit spark start.")
    return with_token(record["url"], token)


def server_conf(workspace: Workspace, port: int, master: str = SERVER_MASTER) -> dict[str, str]:
    """The ``spark.*`` settings of the server: a session's on ``master``, plus where to listen."""
    conf = spark_conf(replace(workspace, spark_master=master), long_lived=True)
    conf["spark.connect.grpc.binding.address"] = LOOPBACK  # the default is every interface
    conf["spark.connect.grpc.binding.port"] = str(port)
    return conf


def server_command(workspace: Workspace, port: int, master: str = SERVER_MASTER) -> list[str]:
    """The ``spark-submit`` command line that runs the workspace's server on ``port``.

    ``master`` is where the server's own Spark runs: this machine by default,
    or a cluster (``spark://host:7077``), whose executors then do the work of
    every client.
    """
    if master.startswith("sc://"):
        raise ConfigError(f"A Spark Connect server runs on a Spark master, not on another "
                          f"Connect server. Got {master!r}: use local[*] or spark://host:port.")
    command = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master", master,
        "--name", "mlops-kit-connect",
        "--class", SERVER_CLASS,
    ]  # fmt: skip
    jars = ensure_delta_jars()
    if jars:
        command += ["--jars", ",".join(str(jar) for jar in jars)]
    else:  # no Maven: Spark's resolver downloads the artifact once
        command += ["--packages", f"io.delta:delta-spark_2.13:{delta_version()}"]
    for key, value in server_conf(workspace, port, master).items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "spark-internal"]


def _server_env(workspace: Workspace) -> dict[str, str]:
    java = find_java()
    env = workspace.to_environ(plain_mlflow=True)  # its Python workers (UDFs) log to the workspace's MLflow
    # a client-side Connect setting must not turn the server into a client, and a
    # token meant for another server must not become this one's
    for key in ("SPARK_REMOTE", "MLOPS_KIT_SPARK", TOKEN_ENV, "MLOPS_KIT_SPARK_TOKEN"):
        env.pop(key, None)
    env.update(
        SPARK_HOME=str(spark_home()),
        JAVA_HOME=str(java.home),
        SPARK_LOCAL_IP=LOOPBACK,
        # two malloc arenas instead of eight per core: the JVM's hundreds of threads
        # (and the Python workers it forks) otherwise each keep freed memory to themselves
        MALLOC_ARENA_MAX=env.get("MALLOC_ARENA_MAX", "2"),
        # Python workers (UDFs, spark_udf) run this interpreter, which has pandas
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", sys.executable),
        PYSPARK_DRIVER_PYTHON=env.get("PYSPARK_DRIVER_PYTHON", sys.executable),
    )
    return env


@contextlib.contextmanager
def _locked(workspace: Workspace, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the workspace's server lock (start, stop and clean-up take turns).

    Yields False, without waiting, when ``blocking`` is False and another
    process holds it.
    """
    make_private(workspace.root)  # it will hold the token
    with open(workspace.spark_connect_lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _with_uptime(record: dict) -> dict:
    started = record.get("create_time")
    if started is not None:
        record = {**record, "uptime_seconds": max(0.0, time.time() - started)}
    return record


def _forget(workspace: Workspace, record: dict) -> None:
    """Remove the record (of a stopped or dead server) and its token; reap it if it was ours."""
    remove_record(state_path(workspace), record, also=(token_path(workspace),))


def start_server(
    workspace: Workspace | None = None,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    master: str = SERVER_MASTER,
    idle_timeout: float | None = None,
) -> dict:
    """Start the workspace's Spark Connect server, or return the one that runs.

    Blocks until the server accepts connections on its port.

    Parameters
    ----------
    workspace : Workspace, optional
        Whose server (default: the active workspace).
    port : int, optional
        Port on 127.0.0.1; a free one by default.
    timeout : float
        Seconds to wait for the port to answer.
    master : str
        Where the server's Spark runs: ``local[*]`` (default) or a cluster's
        master URL. Ignored when a server already runs.
    idle_timeout : float, optional
        Seconds without a client after which the server stops itself (an
        on-demand server, :func:`ensure_server`). None (``mlops-kit spark
        start``): it runs until stopped, and a running on-demand server is
        told to do the same.

    Returns
    -------
    dict
        ``pid``, ``port``, ``url`` (``sc://127.0.0.1:<port>``, without the token:
        clients use :func:`connect_url`), ``authenticated``, ``log``,
        ``startup_seconds``; ``already_running`` is True when nothing was
        started, ``replaced_stale`` the pid of a dead server whose record
        was cleaned up first.

    Raises
    ------
    EnvironmentProblem
        The port is taken, or the server exited or did not answer in time
        (the message quotes the end of its log and names the file).
    """
    ws = workspace or get_workspace()
    with _locked(ws):
        record = read_record(state_path(ws))
        stale = None
        if record is not None:
            if record["alive"]:
                if idle_timeout is None and record.get("idle_minutes"):
                    record = _keep_running(ws, record)
                return {**_with_uptime(record), "already_running": True}
            stale = record.get("pid")
            _forget(ws, record)
        port = port or free_port()
        if not port_is_free(port):
            raise EnvironmentProblem(
                f"Port {port} on {LOOPBACK} is already in use, so the Spark Connect server "
                "cannot bind it. Pass another port, or none to get a free one."
            )
        log = log_path(ws)
        command = server_command(ws, port, master)
        env = _server_env(ws)
        env[TOKEN_ENV] = _new_token(ws)  # in its environment, not on its command line
        minutes = round(idle_timeout / 60, 4) if idle_timeout else None
        if minutes:
            command = [sys.executable, str(IDLE_LAUNCHER), f"{idle_timeout:g}", str(port),
                       str(state_path(ws)), str(ws.spark_connect_lock_path),
                       str(token_path(ws)), "--", *command]
        server = ManagedProcess(
            command, name="The Spark Connect server", log=log,
            env=env, cwd=ws.root, ready=port, ready_timeout=timeout, ready_interval=0.2,
            stop_timeout=STOP_TIMEOUT, log_lines=10, outlive=True,
            record=state_path(ws), cleanup=(token_path(ws),),
            record_info={"port": port, "url": f"sc://{LOOPBACK}:{port}", "log": str(log),
                         "master": master, "authenticated": True, "idle_minutes": minutes},
            banner=f"=== mlops-kit spark start: port {port}, "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S')}"
                   f"{f', stops after {minutes:g} min without a client' if minutes else ''} ===")
        server.start()  # a server that exits or never answers is stopped, its record removed
        record = server.recorded or {}
    return {**_with_uptime(record), "already_running": False, "replaced_stale": stale}


def _keep_running(workspace: Workspace, record: dict) -> dict:
    """Turn off the idle stop of a running on-demand server (its launcher gets SIGUSR1)."""
    import signal

    os.kill(int(record["pid"]), signal.SIGUSR1)
    kept = {k: v for k, v in record.items() if k not in ("pid", "create_time", "alive")}
    kept["idle_minutes"] = None
    return {**write_record(state_path(workspace), int(record["pid"]), **kept), "alive": True}


def server_status(workspace: Workspace | None = None) -> dict:
    """Whether the workspace's server runs.

    Returns a dict whose ``state`` is ``running`` (with ``url``, ``pid``,
    ``uptime_seconds``, ``log``), ``starting`` (its port does not answer
    yet), ``stopped`` (nothing recorded) or ``dead`` (the recorded process
    is gone: the record is removed, ``pid`` and ``log`` say which and where).
    """
    ws = workspace or get_workspace()
    record = read_record(state_path(ws))
    if record is None:
        return {"state": "stopped"}
    if record["alive"]:
        return {**_with_uptime(record), "state": "running" if record.get("ready") else "starting"}
    with _locked(ws, blocking=False) as mine:
        if mine:  # else a start or stop is under way and will clean up itself
            again = read_record(state_path(ws))
            if again is not None and not again["alive"]:
                _forget(ws, again)
    return {**record, "state": "dead"}


def running_server(workspace: Workspace | None = None) -> dict | None:
    """The record of the workspace's server if it runs and answers, else None.

    Cheap (a file read and one local TCP connect): :func:`mlops_kit.spark.get_spark`
    calls it.
    """
    import socket

    ws = workspace or get_workspace()
    record = read_record(state_path(ws))
    if record is None or not record["alive"] or not record.get("ready"):
        return None
    try:
        with socket.create_connection((LOOPBACK, int(record["port"])), timeout=0.5):
            return record
    except OSError:
        return None


def stop_server(workspace: Workspace | None = None, *, timeout: float = STOP_TIMEOUT) -> dict:
    """Stop the workspace's server (its whole process group) and remove its record.

    Returns the record of the server that was stopped.

    Raises
    ------
    NotFoundError
        No server is recorded, or the recorded one had already died (its
        record is removed then, so the next ``start`` begins clean).
    """
    ws = workspace or get_workspace()
    with _locked(ws):
        record = read_record(state_path(ws))
        if record is None:
            raise NotFoundError(
                f"No Spark Connect server is running for the workspace {ws.root}. "
                "Start one with: mlops-kit spark start"
            )
        if not record["alive"]:
            _forget(ws, record)
            raise NotFoundError(
                f"The Spark Connect server recorded for the workspace {ws.root} (pid "
                f"{record.get('pid')}) was no longer running; its record is removed. "
                f"Why it stopped may be at the end of {record.get('log') or log_path(ws)}."
            )
        stop_recorded(record, timeout)  # ours or another process's: its whole group
        _forget(ws, record)
    return record


def ensure_server(workspace: Workspace | None = None, *, say: Callable[[str], None] | None = None
                  ) -> dict:
    """The workspace's running server, started first if there is none.

    What happens is said in one line (to stderr by default): a start, or a
    restart after the recorded server died, and when the server will stop by
    itself (after :func:`idle_minutes` without a client). A running server is
    returned silently, so every notebook after the first connects without a word.
    """
    ws = workspace or get_workspace()
    record = running_server(ws)
    if record is not None:
        return {**record, "already_running": True}
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    minutes = idle_minutes()
    previous = read_record(state_path(ws))
    if previous is not None and not previous["alive"]:
        say(f"The workspace's Spark Connect server (pid {previous.get('pid')}) had stopped; "
            "starting a new one (its last log lines: "
            f"{previous.get('log') or log_path(ws)}); {_idle_note(minutes)}.")
    else:
        say("Starting this workspace's Spark Connect server: one Spark for every notebook "
            f"and job; {_idle_note(minutes)}; MLOPS_KIT_SPARK=local keeps Spark in the "
            "kernel.")
    # a classroom points every learner's server at the class's standalone master
    master = os.environ.get(SERVER_MASTER_SETTING) or SERVER_MASTER
    info = start_server(ws, idle_timeout=minutes * 60 or None, master=master)
    return info


def lease_dir(workspace: Workspace) -> Path:
    """``<root>/spark-connect.leases``: a file ``<pid>-<id>`` per run that keeps the server up."""
    return workspace.spark_connect_leases_dir


def _take_lease(workspace: Workspace) -> Path:
    """Count this process as a client of an on-demand server until the lease is removed.

    Its idle stop (resources/spark_idle_launcher.py) waits while a live process holds
    a lease, so a course or job keeps the server through notebooks that need no Spark;
    a lease of a process that died no longer counts.
    """
    import uuid

    folder = lease_dir(workspace)
    make_private(workspace.root)
    folder.mkdir(exist_ok=True)
    lease = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # one per run: runs may nest
    lease.touch()
    return lease


@contextlib.contextmanager
def shared_server(workspace: Workspace | None = None, *, start_now: bool = False,
                  say: Callable[[str], None] | None = None,
                  say_stopped: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Give a run of notebooks the workspace's server; stop it after if the run started it.

    Every entry point that runs notebooks wraps its run in this: the course,
    ``mlops-kit job run`` and ``setup``, pipelines, releases, a retraining and
    the webhook's validation job.

    Parameters
    ----------
    workspace : Workspace, optional
        Whose server (default: the active workspace).
    start_now : bool
        Start the server before the run (the course: kernels would start it
        themselves, but each would say so in its own output and parallel ones
        would wait for each other). Without it a notebook that needs Spark
        starts the server itself, and a run that needs none never pays for it.
    say : callable, optional
        Where the one line about a start goes (default: stderr).
    say_stopped : callable, optional
        Told when the server this run started is stopped.

    Yields
    ------
    bool
        Whether a server was started here, before the run.

    Notes
    -----
    A server that was not running before the run is stopped when it ends
    (failed or interrupted too), so a scheduled job leaves no JVM behind; one
    already running (``mlops-kit spark start``, an outer run) stays warm.
    Nothing starts or stops with ``MLOPS_KIT_SPARK=local`` or an explicit master.
    While the run lasts it holds a lease (:func:`lease_dir`), so an on-demand server
    does not stop for idleness between notebooks that need no Spark.
    """
    ws = workspace or get_workspace()
    if not uses_shared_server(ws):
        yield False
        return
    was_running = running_server(ws) is not None
    lease = _take_lease(ws)  # an on-demand server stays up between notebooks of the run
    try:
        started = not was_running and start_now and not ensure_server(ws, say=say).get(
            "already_running", True)
        yield started
    finally:
        lease.unlink(missing_ok=True)
        if not was_running and server_status(ws)["state"] in ("running", "starting"):
            with contextlib.suppress(NotFoundError):  # it died on its own meanwhile
                stop_server(ws)
                if say_stopped:
                    say_stopped("stopped the Spark Connect server this run started")

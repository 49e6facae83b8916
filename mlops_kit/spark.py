"""The SparkSession factory: Delta on, tuned for a laptop, one per process.

``get_spark()`` returns the process's session, starting it on first use
(about 7-10 s on a 2-core machine, so it is started once and reused).
Where it points comes from the workspace (``MLOPS_KIT_SPARK_MASTER``):

- ``local[*]`` (default): a JVM in this process with Delta's SQL extension
  and catalog, few shuffle partitions, UI and progress bars off, quiet logs;
- ``spark://host:7077``, ``yarn``, ...: a cluster, same settings;
- ``sc://host:15002``: a Spark Connect server (which must have Delta itself);
  one that asks for a token gets it from the URL (``sc://host:15002/;token=...``)
  or from ``MLOPS_KIT_SPARK_TOKEN``.

With ``MLOPS_KIT_SPARK_MASTER`` unset, a session connects to the workspace's
own Spark Connect server (:mod:`mlops_kit.spark_server`): one warm JVM shared
by every notebook, lab and job of the workspace, a client session in well
under a second, authenticated with the server's token (a 0600 file of the
workspace, see :mod:`mlops_kit.spark_server`). The first command that needs Spark starts that server (one
line says so), and a server that died is started again by the next one. A
kernel that crashes does not take the server down; ``mlops-kit spark stop``
does. ``MLOPS_KIT_SPARK=local`` (or any explicit master, ``local[*]``
included) keeps a JVM inside this process instead: that is what code needing
the JVM directly (``sparkContext``, py4j, RDDs) wants.

Any ``spark.*`` setting can be added with ``MLOPS_KIT_SPARK_CONF`` as
``key=value;key=value``, and ``MLOPS_KIT_LOG4J`` names another log4j2 file.

The local JVM writes its own output (start-up notices, log4j errors) to
``<workspace>/logs/spark-driver.log`` rather than into the notebook cell that
happens to be running: errors reach Python as exceptions anyway.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from mlops_kit._processes import log_tail
from mlops_kit.exceptions import EnvironmentProblem
from mlops_kit.java import ensure_delta_jars, find_java
from mlops_kit.spark_server import spark_mode, uses_shared_server
from mlops_kit.spark_settings import spark_conf
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["get_spark", "stop_spark", "spark_conf", "spark_mode", "uses_shared_server",
           "is_connect", "session_alive", "session_url", "last_startup_seconds", "reconnect"]

_startup_seconds: float | None = None
#: this process's Spark Connect session (PySpark's own registry is per thread)
_remote_session: "SparkSession | None" = None
_remote_url_used = ""
#: the workspace whose server ``_remote_session`` talks to (its record tells a stopped server)
_remote_workspace: Workspace | None = None

def _remote_url(workspace: Workspace) -> str | None:
    """The ``sc://`` URL a session for ``workspace`` connects to, or None for a JVM here.

    An explicit ``MLOPS_KIT_SPARK_MASTER`` always wins; otherwise the
    workspace's own server, started here if it does not run
    (:func:`mlops_kit.spark_server.ensure_server`), unless ``MLOPS_KIT_SPARK=local``.
    """
    if workspace.spark_master.startswith("sc://"):
        return _explicit_connect_url(workspace)
    if not uses_shared_server(workspace):
        return None
    from mlops_kit.spark_server import connect_url, ensure_server

    return connect_url(workspace, ensure_server(workspace))


#: the token of a Spark Connect server named by ``MLOPS_KIT_SPARK_MASTER`` (not the workspace's own)
TOKEN_SETTING = "MLOPS_KIT_SPARK_TOKEN"


def _explicit_connect_url(workspace: Workspace) -> str:
    """``MLOPS_KIT_SPARK_MASTER`` (``sc://...``) with the token the server asks for, if any.

    A token in the URL itself wins; else ``MLOPS_KIT_SPARK_TOKEN``; else, when the
    URL names this workspace's own running server (``mlops-kit spark start``
    printed it), that server's token file. A URL without any of these is used
    as it is (a server started without a token).
    """
    from mlops_kit.spark_server import read_token, running_server, with_token

    master = workspace.spark_master
    token = os.environ.get(TOKEN_SETTING, "").strip() or None
    if token is None:
        from urllib.parse import urlsplit

        with contextlib.suppress(ValueError):
            address = urlsplit(master)
            if address.hostname in ("127.0.0.1", "localhost", "::1"):
                record = running_server(workspace)
                if record is not None and record.get("authenticated") \
                        and int(record["port"]) == address.port:
                    token = read_token(workspace)
    return with_token(master, token)


def is_connect(session: "SparkSession") -> bool:
    """Whether ``session`` is a Spark Connect client (no JVM in this process)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def driver_log_path(workspace: Workspace) -> Path:
    """Where the local Spark JVM's stdout and stderr go (see the module docstring)."""
    return workspace.spark_driver_log_path


@contextlib.contextmanager
def _child_output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``path`` while a child process is started.

    PySpark starts the JVM with this process's stdout and stderr; in a notebook
    kernel those descriptors are captured into the cell's output (start-up
    notices, log4j errors, VACUUM's "Deleted N files" on stdout). A child keeps
    the descriptors it was given, so swapping them only for the start sends the
    JVM's whole life to the log file and leaves Python's own output untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with open(path, "ab") as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
        yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def _classic_session(workspace: Workspace, app_name: str) -> "SparkSession":
    from pyspark.sql import SparkSession

    find_java()
    # Workers must run the same interpreter, or spark_udf cannot import pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(workspace.spark_master).appName(app_name)
    for key, value in spark_conf(workspace).items():
        builder = builder.config(key, value)
    jars = ensure_delta_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    else:  # no Maven: let Spark's resolver download the artifact once
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    log = driver_log_path(workspace)
    try:
        with _child_output_to(log):
            return builder.getOrCreate()
    except Exception as err:  # the JVM failed to start: say why in a few lines
        first_line = (str(err).splitlines() or [""])[0]
        raise EnvironmentProblem(
            f"Spark did not start ({type(err).__name__}: {first_line}). "
            "Run `mlops-kit doctor` to see which part is missing. "
            f"Last lines of {log}:\n{log_tail(log, 5)}"
        ) from err


def get_spark(workspace: Workspace | None = None, *, app_name: str = "mlops-kit") -> "SparkSession":
    """Return this process's SparkSession, starting it with Delta on first use.

    Parameters
    ----------
    workspace : Workspace, optional
        Where the session points; the active workspace by default.
    app_name : str
        Name shown in the Spark UI and logs (of a JVM in this process).
    """
    global _startup_seconds, _remote_session, _remote_url_used, _remote_workspace
    from pyspark.sql import SparkSession

    if _remote_session is not None and not _remote_session.is_stopped:
        if not _server_gone(_remote_url_used):
            return _remote_session
        # checked before PySpark's active session, which is this dead one: handed
        # back, its next query would wait through minutes of PySpark's retries
        _forget_dead_session(_remote_session)  # the next lines start a new server
        _remote_session = None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    workspace = workspace or get_workspace()
    started = time.perf_counter()
    remote = _remote_url(workspace)
    if remote is not None:
        session = _remote_session = SparkSession.builder.remote(remote).getOrCreate()
        _remote_url_used, _remote_workspace = remote, workspace
        if uses_shared_server(workspace):
            _retry_briefly(session, remote)
    else:
        session = _classic_session(workspace, app_name)
        session.sparkContext.setLogLevel("ERROR")
    _quiet_query_context_loggers()
    _startup_seconds = time.perf_counter() - started
    return session


def _quiet_query_context_loggers() -> None:
    """Keep PySpark's query-context log records out of cell output.

    For every failed query PySpark 4 logs, before raising, the same message as
    one screen-long JSON ERROR record (``SQLQueryContextLogger``,
    ``DataFrameQueryContextLogger``) on stderr; the exception the cell raises
    already says what went wrong, so the record only buries it.
    """
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def reconnect(session: "SparkSession") -> bool:
    """Point ``session`` at a new server if the workspace's server it used has died.

    The ``spark`` a notebook holds is a Connect client bound to one server; after
    that server stops (``mlops-kit spark stop``, a crash, a machine that slept)
    every query would wait through retries and fail until the kernel restarts.
    Here the same object gets a client for a server that runs (the workspace's
    own server is started again), so ``spark`` works at its next use. Tables
    are on disk and stay; DataFrames cached on the old server, temporary views
    and ``spark.conf`` settings made in the old session are gone.

    Returns True when it reconnected; False when ``session`` is not a Connect
    session made by :func:`get_spark` or its server still answers. An explicit
    ``MLOPS_KIT_SPARK_MASTER`` that no longer answers raises
    :class:`EnvironmentProblem` (the kit cannot start someone else's server).
    """
    global _remote_session, _remote_url_used, _remote_workspace
    if session is not _remote_session or not _server_gone(_remote_url_used):
        return False
    from pyspark.sql.connect.client import SparkConnectClient
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    _forget_dead_session(session)
    _remote_session = None
    workspace = _remote_workspace or get_workspace()
    url = _remote_url(workspace)
    if url is None or not _answers(url):
        from mlops_kit._secrets import redact_token

        raise EnvironmentProblem(
            f"the Spark Connect server {redact_token(_remote_url_used)} does not answer: start it "
            "again (or unset MLOPS_KIT_SPARK_MASTER), then run `spark = get_spark()`")
    session._client = SparkConnectClient(connection=url)  # noqa: SLF001 - no public way
    session._session_id = session._client._session_id  # noqa: SLF001
    if uses_shared_server(workspace):
        _retry_briefly(session, url)
    ConnectSession._set_default_and_active_session(session)  # noqa: SLF001
    _remote_session, _remote_url_used, _remote_workspace = session, url, workspace
    return True


#: retries of a client of the kit's own server: about 20 s in all instead of PySpark's
#: 10 minutes, which are meant for a remote cluster's network; on 127.0.0.1 a server
#: that does not answer for that long has died, and the next get_spark() starts one
LOCAL_SERVER_RETRIES = {"max_retries": 8, "max_backoff": 4000}


def _retry_briefly(session: "SparkSession", url: str) -> None:
    """Give a client of the workspace's own server short retries (:data:`LOCAL_SERVER_RETRIES`).

    A server whose port no longer accepts connections has stopped: no retry
    can help, so the query fails at once (and the notebook's next cell reaches
    a new server, :func:`reconnect`) instead of after the retries' 20 s.
    """
    from pyspark.sql.connect.client.retries import DefaultPolicy

    class LocalServerPolicy(DefaultPolicy):
        def can_retry(self, e: BaseException) -> bool:
            return super().can_retry(e) and not _server_gone(url)

    session.client.set_retry_policies([LocalServerPolicy(**LOCAL_SERVER_RETRIES)])


def _forget_dead_session(session: "SparkSession") -> None:
    """Drop PySpark's references to a Connect session whose server is gone.

    PySpark hands its default session back to the next ``getOrCreate()``, so a
    dead one must be forgotten there too. ``stop()`` would ask the dead server
    to release it and wait through PySpark's retries, so the references are
    cleared without any call to the server. The calls PySpark still retries
    in the background for it (releasing results) give up at their next
    attempt: Python waits for them when it exits.
    """
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    for policy in session.client.get_retry_policies():
        policy.max_retries = 0

    with ConnectSession._lock:  # noqa: SLF001 - PySpark keeps no public way to do this
        if ConnectSession._default_session is session:  # noqa: SLF001
            ConnectSession._default_session = None  # noqa: SLF001
        if getattr(ConnectSession._active_session, "session", None) is session:  # noqa: SLF001
            ConnectSession._active_session.session = None  # noqa: SLF001


def _answers(url: str) -> bool:
    """Whether the Spark Connect server at ``url`` (``sc://host:port/...``) accepts connections."""
    import socket
    from urllib.parse import urlsplit

    try:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port or 15002), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def _server_gone(url: str) -> bool:
    """Whether the server at ``url`` has stopped.

    A port that refuses connections says so; for the workspace's own server its
    record says so sooner: a killed JVM keeps its port open for seconds while
    its threads exit, and a server started again since listens on another port.
    """
    if not _answers(url):
        return True
    workspace = _remote_workspace or get_workspace()
    if workspace.spark_master.startswith("sc://") or not uses_shared_server(workspace):
        return False
    from urllib.parse import urlsplit

    from mlops_kit.spark_server import running_server

    record = running_server(workspace)
    return record is None or int(record["port"]) != urlsplit(url).port


def session_alive(session: "SparkSession") -> bool:
    """Whether a Connect ``session`` made by :func:`get_spark` still has a server to talk to.

    Other sessions (a local JVM, a Connect session made elsewhere) count as alive.
    """
    if session is not _remote_session:
        return True
    return not _server_gone(_remote_url_used)


def session_url() -> str | None:
    """The ``sc://`` URL this process's Spark Connect session uses (None: no such session).

    Its token, if any, is shown as ``***``.
    """
    from mlops_kit._secrets import redact_token

    return redact_token(_remote_url_used) if _remote_session is not None else None


def last_startup_seconds() -> float | None:
    """How long the last :func:`get_spark` start took (``None`` if reused)."""
    return _startup_seconds


def stop_spark() -> None:
    """Stop this process's session if one is running (tests and CLI commands call this).

    A Spark Connect session is only closed here: the shared server keeps running.
    """
    global _remote_session
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    if _remote_session is not None:
        remote, _remote_session = _remote_session, None
        with contextlib.suppress(Exception):
            remote.stop()

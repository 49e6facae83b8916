"""A local MLflow tracking server, run by the kit as a child process.

Registry webhooks are delivered only by a running ``mlflow server``, never by a
client writing straight to ``sqlite:///``. :class:`TrackingServer` starts one on
127.0.0.1 with the workspace's SQLite database as backend (so runs logged
before are there) and the workspace's artifact folder as default artifact root,
waits until ``/health`` answers, and kills the whole process group on exit, so
no worker survives a crashed notebook or test::

    with TrackingServer(ws) as server:
        client = MlflowClient(server.url)
        ...

The CLI (``mlops-kit mlflow-server start|stop|status``) keeps one server per
workspace alive between commands with a pid file in the workspace root.

The backend store is SQLite in the workspace unless told otherwise: pass
``backend_store_uri="postgresql://user@host:5432/mlflow"`` (or set
``$MLOPS_KIT_MLFLOW_BACKEND_STORE_URI``, or ``--backend-store-uri`` on the
CLI) to keep runs and the registry in a real database that many users and
envs share; names carry env and user, so each still sees only its own. A
``postgresql://`` URI needs the driver SQLAlchemy picks for it
(``pip install -e ".[postgres]"``); a URI with a password is handed to the
server through its environment, never on the command line ``ps`` shows.

Start-up cost: ``mlflow server`` with its default four workers took 33-39 s on
a 2-core machine. One worker, no artifact proxy (clients on the same machine
write artifacts straight to the folder) and the job runner switched off bring
it down to what importing MLflow costs (see :attr:`TrackingServer.startup_seconds`).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlops_kit._processes import (
    LOOPBACK, free_port, port_is_free, stop_child, stop_group, wait_until_ready,
)
from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["TrackingServer", "free_port", "webhook_encryption_key", "read_pid_file",
           "backend_store_uri", "redact_uri"]

#: seconds to wait for ``/health`` before giving up
DEFAULT_START_TIMEOUT = 120.0

#: the setting that moves the server's backend store out of the workspace's SQLite
BACKEND_STORE_SETTING = "MLOPS_KIT_MLFLOW_BACKEND_STORE_URI"

#: SIGTERM the process group led by a pid, SIGKILL what is left (``stop_detached``)
kill_group = stop_group


def webhook_encryption_key(workspace: Workspace) -> str:
    """The Fernet key MLflow encrypts webhook secrets with; made once per workspace.

    Without a stable key the server cannot decrypt the secrets it stored before a
    restart, and every signed delivery breaks.
    """
    path = workspace.webhook_key_path
    if not path.exists():
        from cryptography.fernet import Fernet

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return path.read_text().strip()


def backend_store_uri(workspace: Workspace, uri: str | None = None) -> str:
    """The backend store a server for ``workspace`` uses.

    ``uri`` if given, else ``$MLOPS_KIT_MLFLOW_BACKEND_STORE_URI``, else the
    workspace's SQLite file (``<root>/mlflow.db``).
    """
    return uri or os.environ.get(BACKEND_STORE_SETTING) or f"sqlite:///{workspace.mlflow_db_path}"


def redact_uri(uri: str) -> str:
    """``uri`` with its password replaced by ``***`` (for logs, pid files, messages)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def check_backend_driver(uri: str) -> None:
    """Raise a clear error when the database driver a backend URI needs is missing.

    Without this the server dies at start-up and the reason is a traceback deep
    in its log. SQLAlchemy decides the driver: ``postgresql://`` loads psycopg
    (version 3) with SQLAlchemy 2.1, ``postgresql+psycopg2://`` loads psycopg2.
    """
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(uri)
        dialect = url.get_dialect()
    except (ArgumentError, NoSuchModuleError) as err:
        raise ConfigError(
            f"The backend store URI {redact_uri(uri)!r} is not one SQLAlchemy can use ({err}). "
            "Use e.g. postgresql://user@host:5432/mlflow or sqlite:////path/mlflow.db."
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        raise EnvironmentProblem(
            f"The backend store {redact_uri(uri)} needs the Python driver "
            f"{dialect.driver!r}, which is not installed ({err}). For PostgreSQL: "
            "pip install -e \".[postgres]\" (or pip install 'psycopg[binary]')."
        ) from None


def _server_env(workspace: Workspace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
        MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
        MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=webhook_encryption_key(workspace),
        # a webhook created after the first event must see the next one at once
        MLFLOW_WEBHOOK_CACHE_TTL="1",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    # the server's own client settings must not point at itself or elsewhere
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(key, None)
    return env


class TrackingServer:
    """An ``mlflow server`` child process bound to 127.0.0.1.

    Parameters
    ----------
    workspace : Workspace, optional
        Whose SQLite database and artifact folder to serve (default: the active one).
    port : int, optional
        Port to bind; a free one by default.
    start_timeout : float
        Seconds to wait for ``/health``.
    backend_store_uri : str, optional
        Where runs and the registry live: a SQLAlchemy URI such as
        ``postgresql://mlflow@db:5432/mlflow``. Default:
        ``$MLOPS_KIT_MLFLOW_BACKEND_STORE_URI``, else the workspace's SQLite file.
    basic_auth : bool
        Run MLflow's ``basic-auth`` app (needs ``mlflow[auth]``): every request
        needs a user and password. The admin password comes from
        ``$MLFLOW_AUTH_ADMIN_PASSWORD`` (12+ characters), never from code.

    Examples
    --------
    >>> with TrackingServer() as server:          # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:53211
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        port: int | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        basic_auth: bool = False,
        backend_store_uri: str | None = None,
    ) -> None:
        self.workspace = workspace
        self._backend_store_uri = backend_store_uri
        self.basic_auth = basic_auth
        self.port = port
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """The tracking URI clients use, ``http://127.0.0.1:<port>``."""
        if self.port is None:
            raise EnvironmentProblem("The tracking server has no port yet: call start() first.")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._workspace.tracking_server_log_path

    @property
    def _workspace(self) -> Workspace:
        return self.workspace or get_workspace()

    @property
    def backend_store_uri(self) -> str:
        """The backend store this server uses (may hold a password: see :func:`redact_uri`)."""
        return backend_store_uri(self._workspace, self._backend_store_uri)

    @property
    def _backend_in_env(self) -> bool:
        # a password must not show in ``ps``: the server reads it from its environment
        return urlsplit(self.backend_store_uri).password is not None

    def command(self) -> list[str]:
        """The ``mlflow server`` command line this object runs."""
        ws = self._workspace
        artifacts = ws.artifacts_root
        return [
            sys.executable, "-m", "mlflow", "server",
            "--host", LOOPBACK,
            "--port", str(self.port),
            "--workers", "1",
            *([] if self._backend_in_env else ["--backend-store-uri", self.backend_store_uri]),
            "--no-serve-artifacts",
            "--default-artifact-root", artifacts.as_uri(),
            *(["--app-name", "basic-auth"] if self.basic_auth else []),
        ]  # fmt: skip

    def _env(self, ws: Workspace) -> dict[str, str]:
        env = _server_env(ws)
        env.pop("MLFLOW_BACKEND_STORE_URI", None)
        if self._backend_in_env:
            env["MLFLOW_BACKEND_STORE_URI"] = self.backend_store_uri
        if not self.basic_auth:
            return env
        try:
            import flask_wtf  # noqa: F401 - what mlflow[auth] adds
        except ImportError:
            raise EnvironmentProblem(
                "basic_auth=True needs MLflow's auth extra: pip install 'mlflow[auth]'."
            ) from None
        if len(env.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")) < 12:
            raise ConfigError(
                "basic_auth=True needs the admin password in $MLFLOW_AUTH_ADMIN_PASSWORD "
                "(12 or more characters); it is never taken from code or arguments."
            )
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(32))
        return env

    def start(self) -> "TrackingServer":
        """Start the server and block until ``/health`` answers (or raise)."""
        if self.process is not None and self.process.poll() is None:
            return self
        ws = self._workspace
        ws.root.mkdir(parents=True, exist_ok=True)
        ws.artifacts_root.mkdir(exist_ok=True)
        check_backend_driver(self.backend_store_uri)
        self.port = self.port or free_port()
        if not port_is_free(self.port):  # else /health would answer from the other server
            raise EnvironmentProblem(
                f"Port {self.port} on {LOOPBACK} is already in use, so an mlflow server "
                "cannot bind it. Pass another port, or none to get a free one."
            )
        started = time.perf_counter()
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(ws),
                cwd=ws.root,
                start_new_session=True,  # own process group: stop() kills workers too
            )
        finally:
            log.close()
        try:
            wait_healthy(self.url, self.start_timeout, process=self.process, log=self.log_path)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group; kill it if it does not leave in ``timeout``."""
        if self.process is None:
            return
        stop_child(self.process, timeout)
        self.process = None

    def __enter__(self) -> "TrackingServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"TrackingServer({self.url if self.port else 'no port'}, {state})"


def wait_healthy(
    url: str, timeout: float, *, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    """Poll ``<url>/health`` until it answers 200; raise with the log tail if not."""
    wait_until_ready(f"{url}/health", timeout, name="The mlflow server", process=process,
                     log=log, interval=0.25)


# ------------------------------------------------------------ pid-file control
def _pid_file(workspace: Workspace) -> Path:
    return workspace.tracking_server_pid_path


def read_pid_file(workspace: Workspace | None = None) -> dict | None:
    """``{"pid", "port", "url"}`` of the server the CLI started, if it still runs."""
    import psutil

    path = _pid_file(workspace or get_workspace())
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if not psutil.pid_exists(info["pid"]):
        path.unlink(missing_ok=True)
        return None
    return info


def start_detached(workspace: Workspace | None = None, *, port: int | None = None,
                   backend_store_uri: str | None = None) -> dict:
    """Start a server that outlives this process; record it in the pid file.

    The pid file records the backend store with its password redacted.
    """
    ws = workspace or get_workspace()
    running = read_pid_file(ws)
    if running is not None:
        return {**running, "already_running": True}
    server = TrackingServer(ws, port=port, backend_store_uri=backend_store_uri).start()
    assert server.process is not None
    info = {
        "pid": server.process.pid,
        "port": server.port,
        "url": server.url,
        "backend": redact_uri(server.backend_store_uri),
        "startup_seconds": round(server.startup_seconds or 0.0, 1),
    }
    _pid_file(ws).write_text(json.dumps(info))
    server.process = None  # detach: this object no longer owns it
    return info


def stop_detached(workspace: Workspace | None = None) -> dict:
    """Stop the server recorded in the pid file."""
    ws = workspace or get_workspace()
    info = read_pid_file(ws)
    if info is None:
        raise NotFoundError(
            f"No mlflow server is running for the workspace {ws.root}. "
            "Start one with: mlops-kit mlflow-server start"
        )
    kill_group(info["pid"])
    _pid_file(ws).unlink(missing_ok=True)
    return info

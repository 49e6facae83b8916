"""A local MLflow tracking server, run by the kit as a child process.

Registry webhooks are delivered only by a running ``mlflow server``, never by a
client writing straight to ``sqlite:///``. :class:`TrackingServer` starts one on
127.0.0.1 with the workspace's SQLite database as backend (so runs logged
before are there) and the workspace's artifact folder as default artifact root,
waits until ``/health`` answers, and kills the whole process group on exit, so
no worker survives a crashed notebook or test (the child is a
:class:`~mlops_kit._processes.ManagedProcess`, as every server the kit starts)::

    with TrackingServer(ws) as server:
        client = MlflowClient(server.url)
        ...

The CLI (``mlops-kit mlflow-server start|stop|status``) keeps one server per
workspace alive between commands, recorded in ``<root>/mlflow-server.json``
(pid and start time: a pid the OS later gives to another program is not taken
for the server).

The backend store is SQLite in the workspace unless told otherwise: pass
``backend_store_uri="postgresql://user@host:5432/mlflow"`` (or set
``$MLOPS_KIT_MLFLOW_BACKEND_STORE_URI``, or ``--backend-store-uri`` on the
CLI) to keep runs and the registry in a real database that many users and
envs share; names carry env and user, so each still sees only its own. A
``postgresql://`` URI needs the driver SQLAlchemy picks for it
(``pip install -e ".[postgres]"``); a URI with a password is handed to the
server through its environment, never on the command line ``ps`` shows.

Who may call it: ``mlops-kit mlflow-server start`` runs MLflow's ``basic-auth``
app by default (``--no-auth`` opts out). Every request then needs a user and a
password, and each experiment and registered model is readable and changeable
only by the user who created it (and those it is shared with) and by the admin
(``default_permission = NO_PERMISSIONS``; MLflow's own default would let every
user read everything). The admin password, the password of the user who
started the server and the Flask secret are made at random the first time and
kept in ``<root>/mlflow-auth.json`` (mode 0600, :func:`auth_credentials`); the
users and permissions live in ``<root>/mlflow-auth.db``. They reach the server
through its environment, never its command line. A kit process whose tracking
URI is that server takes its user's credentials from the same file
(:meth:`Workspace.mlflow_credentials`, as ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD``). :class:`TrackingServer` (the webhook lesson's
server, the tests') runs without authentication unless ``basic_auth=True``:
it is reachable from this machine only (127.0.0.1), by every local user.

Start-up cost: ``mlflow server`` with its default four workers took 33-39 s on
a 2-core machine. One worker, no artifact proxy (clients on the same machine
write artifacts straight to the folder) and the job runner switched off bring
it down to what importing MLflow costs (see :attr:`TrackingServer.startup_seconds`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlops_kit._processes import (
    LOOPBACK, ManagedProcess, free_port, port_is_free, read_record, remove_record, stop_group,
    stop_recorded, wait_until_ready, write_record,
)
from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError
from mlops_kit.workspace import Workspace, get_workspace, make_private

__all__ = ["TrackingServer", "free_port", "webhook_encryption_key", "read_pid_file",
           "backend_store_uri", "redact_uri", "auth_credentials", "ADMIN_USER"]

#: the MLflow user of the kit's authenticated server who may do everything
ADMIN_USER = "admin"

#: users without a permission on an experiment or model cannot even read it
AUTH_DEFAULT_PERMISSION = "NO_PERMISSIONS"

#: MLflow's rule for the admin password it bootstraps with
_MIN_ADMIN_PASSWORD = 12

#: seconds to wait for ``/health`` before giving up
DEFAULT_START_TIMEOUT = 120.0

#: the setting that moves the server's backend store out of the workspace's SQLite
BACKEND_STORE_SETTING = "MLOPS_KIT_MLFLOW_BACKEND_STORE_URI"

#: SIGTERM the process group led by a pid, SIGKILL what is left after a grace period
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


def auth_credentials(workspace: Workspace, *, user: str | None = None) -> dict:
    """The credentials of the workspace's authenticated MLflow server, made on first use.

    ``{"admin": {"username", "password"}, "users": {name: password},
    "flask_secret_key": ...}`` from ``<root>/mlflow-auth.json`` (0600). A
    password for ``user`` (default: the workspace's user) is added when missing.
    The passwords are random (``secrets``), never typed in code or shown.
    """
    from mlops_kit._secrets import new_secret, read_private_json, write_private_json

    path = workspace.tracking_server_auth_path
    data = read_private_json(path) or {}
    before = json.dumps(data, sort_keys=True)
    data.setdefault("admin", {"username": ADMIN_USER, "password": new_secret()})
    data.setdefault("flask_secret_key", new_secret())
    users = data.setdefault("users", {})
    users.setdefault(user or workspace.user, new_secret(18))
    if json.dumps(data, sort_keys=True) != before:
        write_private_json(path, data)
    return data


def _auth_config(workspace: Workspace, admin: str) -> Path:
    """Write the ``basic-auth`` app's settings (no secret in them); return the file."""
    path = workspace.tracking_server_auth_config_path
    path.write_text(
        "[mlflow]\n"
        f"default_permission = {AUTH_DEFAULT_PERMISSION}\n"
        f"database_uri = sqlite:///{workspace.tracking_server_auth_db_path}\n"
        f"admin_username = {admin}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n")
    return path


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


#: how long a start waits for the database's port before it says the host is unreachable
BACKEND_CONNECT_TIMEOUT = 5.0
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


def check_backend_reachable(uri: str, timeout: float = BACKEND_CONNECT_TIMEOUT) -> None:
    """Raise at once, naming the host and the cause, when the backend's database cannot be reached.

    Without this an mlflow server pointed at a database that is down or
    mistyped retries in silence until the start times out (90 s), and the
    reason is buried in its log. A TCP connection to the database's port
    answers the question in milliseconds (a refusal) or ``timeout`` seconds.
    """
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return
    import socket

    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if not url.host:  # a Unix socket: nothing to dial
        return
    port = url.port or _DEFAULT_PORTS.get(url.get_backend_name())
    if port is None:
        return
    try:
        with socket.create_connection((url.host, port), timeout=timeout):
            return
    except socket.gaierror as err:
        cause = f"the name {url.host!r} does not resolve ({err.strerror})"
    except TimeoutError:
        cause = f"no answer within {timeout:g} s"
    except OSError as err:
        cause = err.strerror or type(err).__name__
    raise EnvironmentProblem(
        f"The backend store {redact_uri(uri)} cannot be reached at {url.host}:{port}: {cause}. "
        "Start the database (or fix the host and port in the URI) and try again.")


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
        Run MLflow's ``basic-auth`` app (``mlflow[auth]``): every request
        needs a user and password, and a user sees only the experiments and
        models it created or was given. The admin password is
        ``$MLFLOW_AUTH_ADMIN_PASSWORD`` if set (12+ characters), else the one
        made for the workspace (:func:`auth_credentials`); the workspace's
        user gets an account with its own password at start.

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
        self.startup_seconds: float | None = None
        self._admin: tuple[str, str] | None = None
        self._child: ManagedProcess | None = None

    @property
    def process(self) -> subprocess.Popen | None:
        """The server's process while it was started and not stopped (None otherwise)."""
        return None if self._child is None else self._child.popen

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
        if "MLFLOW_AUTH_ADMIN_PASSWORD" in env and \
                len(env["MLFLOW_AUTH_ADMIN_PASSWORD"]) < _MIN_ADMIN_PASSWORD:
            raise ConfigError(
                "The admin password in $MLFLOW_AUTH_ADMIN_PASSWORD must have 12 or more "
                "characters (unset it and the kit makes one, kept 0600 in the workspace)."
            )
        creds = auth_credentials(ws)
        env.setdefault("MLFLOW_AUTH_ADMIN_PASSWORD", creds["admin"]["password"])
        env["MLFLOW_AUTH_ADMIN_USERNAME"] = creds["admin"]["username"]
        env.setdefault("MLFLOW_AUTH_CONFIG_PATH", str(_auth_config(ws, creds["admin"]["username"])))
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", creds["flask_secret_key"])
        # the server's own client credentials must not be someone else's
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(key, None)
        self._admin = (env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"])
        return env

    @property
    def admin_auth(self) -> tuple[str, str]:
        """``(user, password)`` of the admin of a ``basic_auth`` server that was started."""
        if self._admin is None:
            raise EnvironmentProblem("The server has no admin: start it with basic_auth=True.")
        return self._admin

    def add_user(self, name: str, password: str | None = None) -> str:
        """Give ``name`` an account on this ``basic_auth`` server; return its password.

        The password is the one kept for ``name`` in the workspace's
        credentials file (made there if new) unless given. An account that
        exists already is left as it is.
        """
        import httpx

        if password is None:
            password = auth_credentials(self._workspace, user=name)["users"][name]
        answer = httpx.post(f"{self.url}/api/2.0/mlflow/users/create", auth=self.admin_auth,
                            json={"username": name, "password": password}, timeout=30)
        if answer.status_code != 200 and "RESOURCE_ALREADY_EXISTS" not in answer.text:
            raise EnvironmentProblem(
                f"The mlflow server at {self.url} did not create the user {name!r} "
                f"(HTTP {answer.status_code}: {answer.text[:200]}). If its admin password "
                f"was changed, set MLFLOW_AUTH_ADMIN_PASSWORD to the current one.")
        return password

    def start(self) -> "TrackingServer":
        """Start the server and block until ``/health`` answers (or raise)."""
        if self._child is not None and self._child.running:
            return self
        ws = self._workspace
        make_private(ws.root)  # it holds the database and, with auth, the credentials
        ws.artifacts_root.mkdir(exist_ok=True)
        check_backend_driver(self.backend_store_uri)
        check_backend_reachable(self.backend_store_uri)
        self.port = self.port or free_port()
        if not port_is_free(self.port):  # else /health would answer from the other server
            raise EnvironmentProblem(
                f"Port {self.port} on {LOOPBACK} is already in use, so an mlflow server "
                "cannot bind it. Pass another port, or none to get a free one."
            )
        self._child = ManagedProcess(
            self.command(), name="The mlflow server", log=self.log_path, env=self._env(ws),
            cwd=ws.root, ready=f"{self.url}/health", ready_timeout=self.start_timeout,
            ready_interval=0.25, stop_timeout=10.0)
        try:
            self._child.start()
            if self.basic_auth:  # the workspace's user works under its own account
                self.add_user(ws.user)
                if ws.tracking_server_auth_db_path.exists():  # password hashes: owner only
                    ws.tracking_server_auth_db_path.chmod(0o600)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = self._child.startup_seconds
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group; kill it if it does not leave in ``timeout``."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout)

    def detach(self) -> int:
        """Let the server run on after this object and this Python; return its pid."""
        if self._child is None or self.process is None:
            raise EnvironmentProblem("The tracking server is not running: call start() first.")
        pid = self.process.pid
        self._child.detach()
        self._child = None
        return pid

    def __enter__(self) -> "TrackingServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._child is not None and self._child.running else "stopped"
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
    """``{"pid", "port", "url", ...}`` of the server the CLI started, if it still runs.

    A record whose process has exited (or whose pid now belongs to another
    process) is removed, and None returned.
    """
    path = _pid_file(workspace or get_workspace())
    record = read_record(path)
    if record is None:
        return None
    if not record.pop("alive"):
        remove_record(path, record)
        return None
    return record


def start_detached(workspace: Workspace | None = None, *, port: int | None = None,
                   backend_store_uri: str | None = None, auth: bool = True) -> dict:
    """Start a server that outlives this process; record it in the pid file.

    ``auth`` (the default) runs MLflow's ``basic-auth`` app: see the module
    docstring. The pid file records the backend store with its password
    redacted, and no credential.
    """
    ws = workspace or get_workspace()
    running = read_pid_file(ws)
    if running is not None:
        return {**running, "already_running": True}
    server = TrackingServer(ws, port=port, backend_store_uri=backend_store_uri,
                            basic_auth=auth).start()
    info = {
        "port": server.port,
        "url": server.url,
        "backend": redact_uri(server.backend_store_uri),
        "startup_seconds": round(server.startup_seconds or 0.0, 1),
        "auth": auth,
        **({"user": ws.user, "credentials": str(ws.tracking_server_auth_path)} if auth else {}),
    }
    record = write_record(_pid_file(ws), server.detach(), **info)
    return {key: value for key, value in record.items() if key != "create_time"}


def stop_detached(workspace: Workspace | None = None) -> dict:
    """Stop the server recorded in the pid file (its whole process group)."""
    ws = workspace or get_workspace()
    info = read_pid_file(ws)
    if info is None:
        raise NotFoundError(
            f"No mlflow server is running for the workspace {ws.root}. "
            "Start one with: mlops-kit mlflow-server start"
        )
    stop_recorded({**info, "alive": True})
    remove_record(_pid_file(ws), info)
    return info

"""Start and stop the endpoint as a background process, from Python or a notebook.

>>> with Endpoint("dev.ada.price@champion") as endpoint:   # doctest: +SKIP
...     httpx.post(endpoint.invocations_url, json={"inputs": rows}).json()

:meth:`Endpoint.start` picks a free port on 127.0.0.1, starts
``python -m mlops_kit.serving`` with the active workspace's settings (the
token travels in an environment variable, never on the command line), and
returns once ``/ping`` answers. :meth:`Endpoint.stop` sends SIGTERM, which
lets in-flight requests finish and flushes the inference log, and waits; a
process that does not exit in time is killed. Endpoints still running when
Python exits are stopped too. The process itself is a
:class:`~mlops_kit._processes.ManagedProcess`, as every server the kit starts.

Two notebook habits are safe:

- re-running the cell that starts an endpoint (or Run All twice) stops the
  endpoint that cell started before, instead of leaving it running with no
  name to stop it by: an endpoint started from a notebook cell replaces a
  running one of the same kind, model and port started from a cell too
  (endpoints started by library code, such as a fleet's instances, never
  replace each other);
- using a stopped endpoint's URL raises :class:`EndpointStopped`, one line
  that says to run the setup cell again, instead of a connection-refused
  traceback from the HTTP client.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

from mlops_kit._processes import LOOPBACK, ManagedProcess, free_port, log_tail
from mlops_kit.exceptions import EndpointStopped
from mlops_kit.serving.auth import TOKEN_ENV, validate_token

__all__ = ["Endpoint", "EndpointStopped", "MlflowServe", "free_port"]

_RUNNING: "weakref.WeakSet[Endpoint]" = weakref.WeakSet()

#: package directory: frames inside it are library code, not a notebook cell
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def _notebook_cell_run() -> int | None:
    """The kernel's execution count when the first caller outside the package is a cell.

    None when the endpoint is started by library code or outside IPython. The
    count tells two endpoints started by one run of a cell (a fleet, a loop),
    which must not replace each other, from a re-run of that cell, which must.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR):
            if frame.f_globals.get("__name__") != "__main__":
                return None
            return int(getattr(shell, "execution_count", 0) or 0)
        frame = frame.f_back
    return None


class Endpoint:
    """The serving endpoint of one registered model, in a child process.

    Parameters
    ----------
    model_uri : str
        ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (that registered
        model), or ``NAME@ALIAS`` / ``NAME/VERSION`` where a short NAME means
        ``<env>.<user>.NAME`` (see
        :class:`~mlops_kit.registry.reference.ModelReference`).
    port : int, optional
        A free port is picked when not given.
    token : str, optional
        Require ``Authorization: Bearer <token>``.
    log_table : str or None
        Delta table of the inference log in the workspace (None: no log).
    max_body_bytes : int, optional
        Request body limit (413 above it); 1 MiB by default.
    startup_timeout : float
        Seconds to wait for ``/ping``.
    """

    #: the child is the kit's own server, which rebuilds the workspace from
    #: ``MLOPS_KIT_*`` (see :meth:`~mlops_kit.workspace.Workspace.to_environ`)
    plain_mlflow = False

    def __init__(self, model_uri: str, port: int | None = None, token: str | None = None,
                 *, log_table: str | None = "inference_log",
                 max_body_bytes: int | None = None, fast_path: bool = True,
                 startup_timeout: float = 60.0) -> None:
        self.model_uri = model_uri
        self.port = port
        self.token = token
        self.log_table = log_table
        self.max_body_bytes = max_body_bytes
        self.fast_path = fast_path
        self.startup_timeout = startup_timeout
        self.host = LOOPBACK
        self.log_path: Path | None = None
        self._child: ManagedProcess | None = None
        #: what a later start from a notebook cell replaces (None: started by library code)
        self._cell_key: tuple | None = None
        #: the kernel's execution count of the cell run that started it
        self._cell_run: int | None = None

    # ------------------------------------------------------------------ URLs
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def invocations_url(self) -> str:
        """``<url>/invocations``; :class:`EndpointStopped` when the endpoint is not running."""
        if not self.running:
            raise EndpointStopped(self._stopped_message())
        return f"{self.url}/invocations"

    def _stopped_message(self) -> str:
        what = "was never started" if self.log_path is None else "is stopped"
        return (f"The endpoint for {self.model_uri} {what}; run the setup cell that starts it "
                f"again (it stops the old one).")

    @property
    def headers(self) -> dict[str, str]:
        """Headers a client needs (the bearer token, when one is set)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def process(self) -> subprocess.Popen | None:
        """The server's process while it was started and not stopped (None otherwise)."""
        return None if self._child is None else self._child.popen

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Endpoint({self.model_uri!r}, url={self.url!r}, {state})"

    # -------------------------------------------------------------- lifecycle
    def _command(self) -> list[str]:
        from mlops_kit.registry.reference import ModelReference

        model = str(ModelReference.parse(self.model_uri))
        cmd = [sys.executable, "-m", "mlops_kit.serving", "--model", model,
               "--host", self.host, "--port", str(self.port),
               "--log-table", self.log_table or ""]
        if self.max_body_bytes:
            cmd += ["--max-body-bytes", str(self.max_body_bytes)]
        if not self.fast_path:
            cmd.append("--no-fast-path")
        return cmd

    def start(self) -> "Endpoint":
        """Start the process and wait until ``/ping`` answers."""
        from mlops_kit.workspace import get_workspace

        if self.running:
            return self
        self._command()  # a bad model reference fails here, not in the child
        validate_token(self.token)
        self._cell_run = _notebook_cell_run()
        if self._cell_run is not None:
            self._cell_key = self._replace_key()
            self._stop_replaced()
        self.port = self.port or free_port()
        ws = get_workspace()
        ws.endpoints_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = ws.endpoints_dir / f"endpoint-{self.port}.log"
        env = ws.to_environ(plain_mlflow=self.plain_mlflow)
        env["PYTHONUNBUFFERED"] = "1"
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.pop(TOKEN_ENV, None)
        if self.token:
            env[TOKEN_ENV] = self.token
        self._child = ManagedProcess(
            self._command(), name=f"The endpoint for {self.model_uri}", log=self.log_path,
            env=env, ready=f"{self.url}/ping", ready_timeout=self.startup_timeout,
            stop_timeout=30.0, log_lines=30, append_log=False)
        _RUNNING.add(self)
        try:
            self._child.start()  # a child that dies or never answers is stopped, with its group
        except BaseException:
            self.stop()
            raise
        return self

    def _replace_key(self) -> tuple:
        """Endpoints with equal keys started from notebook cells replace each other."""
        return (type(self).__name__, str(self.model_uri), self.port)

    def _stop_replaced(self) -> None:
        """Stop the running endpoints an earlier run of a notebook cell left with this key."""
        for other in list(_RUNNING):
            if (other is not self and other._cell_key == self._cell_key
                    and other._cell_run != self._cell_run and other.running):
                other.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server printed (start-up errors land here)."""
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (drain, flush the inference log, exit), then wait; kill if stuck.

        Returns the exit code (None if it was not running).
        """
        child, self._child = self._child, None
        _RUNNING.discard(self)
        if child is None:
            return None
        return child.stop(timeout)

    def __enter__(self) -> "Endpoint":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class MlflowServe(Endpoint):
    """``mlflow models serve -w 1 --env-manager local`` on 127.0.0.1, for comparison.

    The course's way to serve a model; same start/stop/context manager as
    :class:`Endpoint` (no token, no inference log: MLflow's server has neither).

    Examples
    --------
    >>> with MlflowServe("models:/dev.ada.price@champion") as server:  # doctest: +SKIP
    ...     requests.post(server.invocations_url, json={"inputs": rows}).json()
    """

    #: MLflow's own server knows nothing of the workspace: it is given MLflow's URIs
    plain_mlflow = True

    def __init__(self, model_uri: str, port: int | None = None, *,
                 startup_timeout: float = 120.0) -> None:
        from mlops_kit.registry.reference import ModelReference

        model_uri = ModelReference.parse(model_uri).expand().as_uri()
        super().__init__(model_uri, port, log_table=None, startup_timeout=startup_timeout)

    def _command(self) -> list[str]:
        return [str(Path(sys.executable).with_name("mlflow")), "models", "serve",
                "-m", self.model_uri, "-w", "1", "--env-manager", "local",
                "--host", self.host, "-p", str(self.port)]


@atexit.register
def _stop_all() -> None:  # pragma: no cover - runs at interpreter exit
    """Stop every running endpoint (each drains and flushes its inference log)."""
    for endpoint in list(_RUNNING):
        endpoint.stop(timeout=10)

"""``%load_ext mlops_kit``: everything a lesson needs, in the first cell.

Loading the extension

- activates the workspace (folders, MLflow tracking URI, env variables for
  child processes), from ``MLOPS_KIT_*`` settings;
- keeps MLflow's INFO records and registry notices out of cell output
  (:func:`mlops_kit._mlflow_logs.quiet_mlflow`);
- puts ``spark`` in the notebook: a stand-in that starts the Spark session on
  first use, so notebooks that never touch Spark never pay its ~10 s start;
- puts :func:`mlops_kit.display.display` in the notebook;
- reaches a new Spark server from a ``spark`` whose server stopped, and keeps
  SQL commands from echoing ``DataFrame[]`` (:mod:`mlops_kit.spark_cells`);
- shows where things are (workspace root, user, env, MLflow URI, Spark master);
- registers the magics ``%kit`` (that summary again), ``%mlflow_ui`` (a link
  to the MLflow UI for the current experiment or run) and ``%reset_lesson``
  (delete this user's tables, experiments and models in this env).

Running ``%load_ext mlops_kit`` again (a re-run of the first cell) loads it
again and shows the summary, instead of IPython's "already loaded" note.
"""
from __future__ import annotations

import html
import os
import socket
from typing import Any
from urllib.parse import urlparse

from mlops_kit.labs.widgets import show_html
from mlops_kit.spark_cells import install as install_spark_cells
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["load_ipython_extension", "LazySpark", "summary", "mlflow_ui_url"]

#: where ``mlops-kit ui`` serves the MLflow UI unless MLOPS_KIT_UI_URL says otherwise
DEFAULT_UI_URL = "http://127.0.0.1:5000"


class LazySpark:
    """Stands in for ``spark`` until first used, then starts the session.

    On the first attribute access it calls :func:`mlops_kit.spark.get_spark`,
    replaces itself in the notebook's namespace with the real session, and
    forwards the access, so later cells see a genuine ``SparkSession``.
    """

    def __init__(self, namespace: dict[str, Any] | None = None, name: str = "spark") -> None:
        self._namespace = namespace
        self._name = name

    def _session(self):
        from mlops_kit.spark import get_spark

        session = get_spark()
        if self._namespace is not None and self._namespace.get(self._name) is self:
            self._namespace[self._name] = session
        return session

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_repr_") or name.startswith("_ipython_"):
            raise AttributeError(name)  # IPython probing for display methods
        return getattr(self._session(), name)

    def __repr__(self) -> str:
        return "<SparkSession: starts on first use (spark.range(3), spark.read, ...)>"


def _spark_line(ws: Workspace) -> str:
    from mlops_kit._secrets import redact_token
    from mlops_kit.spark import uses_shared_server

    if uses_shared_server(ws):
        return f"{ws.spark_master} in the workspace's shared Spark Connect server"
    return redact_token(ws.spark_master)  # a token in the URL is not for the page


def summary(workspace: Workspace | None = None) -> tuple[str, str]:
    """HTML and text describing the active workspace."""
    ws = workspace or get_workspace()
    items = [
        ("workspace", str(ws.env_dir)),
        ("user", ws.user),
        ("env", ws.env),
        ("MLflow tracking URI", ws.tracking_uri),
        ("Spark master", _spark_line(ws)),
    ]
    text = "mlops-kit ready\n" + "\n".join(f"  {k:<20} {v}" for k, v in items)
    rows = "".join(
        f'<tr><td style="text-align:left"><b>{html.escape(k)}</b></td>'
        f'<td style="text-align:left"><code>{html.escape(v)}</code></td></tr>'
        for k, v in items
    )
    markup = f'<div class="mlops-kit-summary"><b>mlops-kit ready</b><table>{rows}</table></div>'
    return markup, text


def mlflow_ui_url() -> str:
    """The MLflow UI page of the active run, else of the current experiment."""
    import mlflow

    base = os.environ.get("MLOPS_KIT_UI_URL", DEFAULT_UI_URL).rstrip("/")
    run = mlflow.active_run()
    if run is not None:
        return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    from mlflow.tracking.fluent import _get_experiment_id

    experiment_id = _get_experiment_id()
    return f"{base}/#/experiments/{experiment_id}" if experiment_id else base


def _listening(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 80), timeout=0.3):
            return True
    except OSError:
        return False


def _kit_magic(line: str = "") -> None:
    """%kit: show the workspace summary again."""
    show_html(*summary())


def _mlflow_ui_magic(line: str = "") -> None:
    """%mlflow_ui: a link to the MLflow UI for the current experiment or run."""
    url = mlflow_ui_url()
    running = _listening(url)
    state = "" if running else " (not running: start it in a terminal with `mlops-kit ui`)"
    show_html(
        f'<a href="{html.escape(url)}" target="_blank">Open the MLflow UI</a>{html.escape(state)}',
        f"MLflow UI: {url}{state}",
    )


def _reset_lesson_magic(line: str = "") -> None:
    """%reset_lesson: delete this user's tables, experiments and models in this env."""
    ws = get_workspace()
    tables = sorted(p.name for p in ws.tables_dir.iterdir()) if ws.tables_dir.exists() else []
    print(
        f"Removing everything of user {ws.user!r} in env {ws.env!r}: "
        f"{len(tables)} table(s) {', '.join(tables)}; checkpoints, online store and job "
        f"runs under {ws.env_dir}; experiments under /Users/{ws.user}/{ws.env}/; "
        f"registered models named {ws.env}.{ws.user}.*"
    )
    removed = ws.reset()
    ws.activate()
    print("Removed " + ", ".join(f"{n} {kind}" for kind, n in removed.items()) + ".")


_MAGICS = {"kit": _kit_magic, "mlflow_ui": _mlflow_ui_magic, "reset_lesson": _reset_lesson_magic}


def _usable_session(existing: Any) -> bool:
    """Whether ``spark`` in the notebook is a session to keep on ``%load_ext``.

    A session the learner made (a local JVM or a Spark Connect client) is kept,
    unless it is a Connect session whose server has died since: then ``spark``
    starts over lazily, and the next use starts the server again.
    """
    if isinstance(existing, LazySpark) or not hasattr(existing, "createDataFrame"):
        return False
    from mlops_kit.spark import is_connect, session_alive

    return not is_connect(existing) or session_alive(existing)


def _allow_reload(ipython) -> None:
    """Let the next ``%load_ext mlops_kit`` run this extension again.

    IPython marks an extension loaded after its load function returns and
    then answers later ``%load_ext`` calls with "already loaded"; once the
    cell has run, forget the mark (``%reload_ext`` and unloading still work).
    """
    def forget(*args: Any) -> None:
        ipython.extension_manager.loaded.discard(__name__.rpartition(".")[0] or "mlops_kit")
        ipython.events.unregister("post_run_cell", forget)

    for callback in list(ipython.events.callbacks.get("post_run_cell", [])):
        if getattr(callback, "__name__", "") == "forget" and callback.__module__ == __name__:
            ipython.events.unregister("post_run_cell", callback)
    ipython.events.register("post_run_cell", forget)


def load_ipython_extension(ipython) -> None:
    """Prepare the lesson in this IPython shell (``%load_ext mlops_kit``)."""
    from mlops_kit._mlflow_logs import quiet_mlflow
    from mlops_kit.display import display

    ws = Workspace.from_env().activate()
    quiet_mlflow()  # MLflow's INFO records and registry notices stay out of lesson output
    namespace = ipython.user_ns
    if not _usable_session(namespace.get("spark")):
        namespace["spark"] = LazySpark(namespace)
    namespace["display"] = display
    for name, func in _MAGICS.items():
        ipython.register_magic_function(func, magic_kind="line", magic_name=name)
    install_spark_cells(ipython)
    _allow_reload(ipython)
    show_html(*summary(ws))

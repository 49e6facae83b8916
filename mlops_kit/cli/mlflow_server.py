"""``mlops-kit mlflow-server start|stop|status``: the local tracking server.

Registry webhooks need a running ``mlflow server``; this keeps one per
workspace alive between commands (pid file in the workspace root). In a
notebook or test, prefer the context manager
:class:`mlops_kit.registry.server.TrackingServer`.

``start --backend-store-uri postgresql://user@host:5432/mlflow`` (or the
setting ``MLOPS_KIT_MLFLOW_BACKEND_STORE_URI``) keeps runs and the registry in
a real database instead of the workspace's SQLite file.

The server asks who is calling (MLflow's ``basic-auth`` app): an admin and
the user who started it get accounts with random passwords, kept 0600 in
``<root>/mlflow-auth.json``; each user sees only its own experiments and
models. Kit processes of the workspace pass the user's credentials themselves.
``--no-auth`` runs it open to every local user, as before.
"""
from __future__ import annotations

import click


@click.group("mlflow-server")
def command() -> None:
    """Run the MLflow tracking server the registry webhooks need."""


@command.command("start")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one).")
@click.option(
    "--backend-store-uri", default=None, metavar="URI",
    help="Database for runs and the registry, e.g. postgresql://user@host:5432/mlflow "
         "(default: $MLOPS_KIT_MLFLOW_BACKEND_STORE_URI, else SQLite in the workspace).",
)
@click.option(
    "--auth/--no-auth", default=True, show_default=True,
    help="Ask every caller for a user and password (MLflow's basic-auth app); "
         "--no-auth lets any local user read and change every run and model.",
)
def start(port: int | None, backend_store_uri: str | None, auth: bool) -> None:
    """Start the server in the background and wait until it answers /health."""
    from mlops_kit.registry.server import start_detached
    from mlops_kit.workspace import get_workspace

    info = start_detached(get_workspace(), port=port, backend_store_uri=backend_store_uri,
                          auth=auth)
    if info.get("already_running"):
        click.echo(f"already running: {info['url']} (pid {info['pid']})")
        return
    click.echo(f"started: {info['url']} (pid {info['pid']}, ready in {info['startup_seconds']} s)")
    click.echo(f"backend: {info['backend']}")
    if info.get("auth"):
        click.echo(f"auth:    basic-auth; you are {info['user']!r}, passwords in "
                   f"{info['credentials']} (readable by you only)")
        click.echo(f"use it:  export MLOPS_KIT_TRACKING_URI={info['url']}  "
                   "(the kit passes your credentials)")
    else:
        click.echo("auth:    none: every local user can read and change it")
        click.echo(f"use it:  export MLFLOW_TRACKING_URI={info['url']}")


@command.command("stop")
def stop() -> None:
    """Stop the server started with ``start`` (its whole process group)."""
    from mlops_kit.registry.server import stop_detached

    info = stop_detached()
    click.echo(f"stopped: {info['url']} (pid {info['pid']})")


@command.command("status")
def status() -> None:
    """Say whether a server runs for this workspace; exit 1 if not."""
    from mlops_kit.registry.server import read_pid_file

    info = read_pid_file()
    if info is None:
        click.echo("not running")
        raise SystemExit(1)
    click.echo(f"running: {info['url']} (pid {info['pid']})")
    click.echo(f"auth:    {'basic-auth' if info.get('auth') else 'none'}")
    if info.get("backend"):
        click.echo(f"backend: {info['backend']}")

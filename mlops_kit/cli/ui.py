"""``mlops-kit ui``: the MLflow UI on this workspace's tracking store."""
from __future__ import annotations

import os
import shlex
import sys

import click


@click.command("ui")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--print-command", is_flag=True, help="Print the command instead of running it.")
def command(port: int, print_command: bool) -> None:
    """Start `mlflow ui` on 127.0.0.1 with the workspace's store and artifacts."""
    from mlops_kit.workspace import get_workspace

    ws = get_workspace()
    if ws.tracking_uri.startswith(("http://", "https://")):
        click.echo(f"MLflow runs on a tracking server: open {ws.tracking_uri}")
        return
    argv = [sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--backend-store-uri", ws.tracking_uri,
            "--default-artifact-root", ws.artifacts_root.as_uri()]
    if print_command:
        click.echo(shlex.join(argv))
        return
    click.echo(f"MLflow UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    os.execv(sys.executable, argv)

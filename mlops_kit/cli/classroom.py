"""``mlops-kit classroom up|down|status``: JupyterHub for a class, on one machine (as root)."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from mlops_kit.classroom.hub import DEFAULT_STATE

_STATE = click.option("--state", type=click.Path(path_type=Path), default=DEFAULT_STATE,
                      show_default=True, help="The classroom's state folder (root only, 0700).")


@click.group("classroom")
def command() -> None:
    """A JupyterHub for a class: one account, server and workspace per learner."""


@command.command("up")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="CSV file with the header username,name.")
@click.option("--instructor", default="instructor", show_default=True,
              help="The instructor's account (hub and MLflow admin).")
@_STATE
@click.option("--port", type=int, default=8000, show_default=True,
              help="The hub's port on 127.0.0.1.")
def up_command(roster: Path, instructor: str, state: Path, port: int) -> None:
    """Make the accounts, start MLflow on PostgreSQL and JupyterHub."""
    from mlops_kit.classroom.hub import up

    info = up(roster, instructor=instructor, state=state, port=port, say=click.echo)
    click.echo(f"learners: {', '.join(info['learners'])}")
    click.echo(f"first passwords: {info['passwords']}")


@command.command("down")
@_STATE
@click.option("--remove-users", is_flag=True,
              help="Also delete the accounts (and homes) `up` made.")
def down_command(state: Path, remove_users: bool) -> None:
    """Stop the hub, the learners' servers, MLflow and PostgreSQL."""
    from mlops_kit.classroom.hub import down

    down(state, remove_users=remove_users, say=click.echo)


@command.command("status")
@_STATE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(state: Path, as_json: bool) -> None:
    """Say what runs: hub, MLflow, PostgreSQL and each learner's server."""
    from mlops_kit.classroom.hub import status

    info = status(state)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key in ("hub_url", "hub", "mlflow_url", "mlflow", "postgres", "spark_url", "spark",
                "instructor"):
        click.echo(f"{key + ':':12} {info[key]}")
    for name, server in info["learners"].items():
        click.echo(f"  {name:20} {server or 'unknown'}")


# the instructor's commands (progress, collect) live beside this file
try:
    _instructor = importlib.import_module("mlops_kit.cli.classroom_instructor")
except ModuleNotFoundError as _err:  # not there yet in a partial checkout
    if _err.name != "mlops_kit.cli.classroom_instructor":
        raise
else:
    for _command in getattr(_instructor, "COMMANDS", ()):
        command.add_command(_command)

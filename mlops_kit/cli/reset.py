"""``mlops-kit reset``: delete this user's tables, experiments and models in one env."""
from __future__ import annotations

import click

from mlops_kit.workspace import ENVS


@click.command("reset")
@click.option("--env", default=None, metavar="|".join(ENVS),
              help="Environment to reset (default: $MLOPS_KIT_ENV or dev).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def command(env: str | None, yes: bool) -> None:
    """Start over: remove what you created in ENV; other users and envs are untouched."""
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env(env)
    if not yes:
        click.confirm(f"Delete {ws.user}'s tables, experiments and models in {ws.env}?",
                      abort=True)
    removed = ws.reset()
    click.echo(f"Removed from {ws.user}'s {ws.env}:")
    click.echo(removed.describe())

"""``mlops-kit lab``: start JupyterLab for the course, without the news pop-up."""
from __future__ import annotations

import os
import shlex

import click


@click.command("lab", context_settings={"ignore_unknown_options": True})
@click.option("--print-command", is_flag=True, help="Show the command instead of running it.")
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED)
def command(print_command: bool, jupyter_args: tuple[str, ...]) -> None:
    """Start JupyterLab (extra arguments go to it), with its news pop-up turned off."""
    from mlops_kit.jupyter import disable_news, lab_command, lab_environment

    config = disable_news()
    cmd = lab_command(jupyter_args)
    click.echo(f"news pop-up off: {config}")
    if "--allow-root" in cmd and "--allow-root" not in jupyter_args:
        click.echo("running as root: JupyterLab is started with --allow-root")
    if print_command:
        click.echo(shlex.join(cmd))
        return
    # JupyterLab takes over this process (and Ctrl-C); its terminals find mlops-kit on PATH
    os.execve(cmd[0], cmd, lab_environment())

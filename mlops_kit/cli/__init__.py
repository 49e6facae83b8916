"""The ``mlops-kit`` command: a click group of thin subcommands.

Each subcommand lives in its own module under :mod:`mlops_kit.cli` and exposes a
click command or group named ``command``; it parses, calls the library and
reports. Errors the kit raises on purpose (:class:`~mlops_kit.exceptions.MlopsKitError`)
become one line on stderr and the error's ``exit_code``.
"""
from __future__ import annotations

import importlib

import click

from mlops_kit._exit import exit_on_kit_error

#: subcommand modules, in the order ``--help`` lists them
_COMMAND_MODULES: list[str] = ["setup", "doctor", "course", "job", "reset", "ui", "lab", "labs", "progress", "mlflow_server", "spark", "serve", "pipeline", "classroom"]


class _KitGroup(click.Group):
    """A group that turns the kit's own errors into a one-line message."""

    def invoke(self, ctx: click.Context):
        with exit_on_kit_error():
            return super().invoke(ctx)


@click.group(cls=_KitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlops-kit")
def main() -> None:
    """Machine Learning in Production, on one laptop."""


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f"mlops_kit.cli.{_name}")
    main.add_command(_module.command)

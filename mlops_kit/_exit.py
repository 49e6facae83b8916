"""How a command ends on one of the kit's own errors: one line, its exit code.

Shared by the ``mlops-kit`` group and by ``python -m mlops_kit.serving``, which
must not import :mod:`mlops_kit.cli` (the CLI sits above ``serving``).
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import click

from mlops_kit.exceptions import MlopsKitError

__all__ = ["exit_on_kit_error"]


@contextlib.contextmanager
def exit_on_kit_error() -> Iterator[None]:
    """Turn a :class:`MlopsKitError` into ``error: ...`` on stderr and its exit code."""
    try:
        yield
    except MlopsKitError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(err.exit_code)

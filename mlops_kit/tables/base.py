"""What both sides of table access share: the interface, the name rule, the errors.

One rule turns what a caller passes into a table's location
(:func:`resolve_path`), so the same bad name gets the same error on either
side; one message says a table is missing (:func:`not_found`). Nothing here
imports an engine.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.workspace import Workspace, check_name, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["HISTORY_COLUMNS", "TableAccess", "check_keys", "check_mode", "label", "no_such_version",
           "not_found", "resolve_path"]

#: what a path or URI has and a table name never has
_LOCATION_MARKS = ("/", "\\", os.sep, ":")

#: the columns ``history()`` returns on both sides, newest commit first
HISTORY_COLUMNS = ("version", "timestamp", "operation", "mode", "rows", "files", "metrics")

def resolve_path(name_or_path: Any, workspace: Workspace | None = None) -> str:
    """The location of a table: the one rule every caller goes through.

    - a ``Path`` (any ``os.PathLike``) is the location itself;
    - a string with a path separator or a scheme (``/tmp/t``, ``s3://b/t``)
      is the location itself;
    - any other string is a table name of the workspace and must be one
      (``listings`` -> ``<root>/users/<user>/<env>/tables/listings``);
      anything else (``Listings``, ``my-table``, ``""``, ``None``) is a
      :class:`~mlops_kit.exceptions.ConfigError` saying what a name looks like.

    Examples
    --------
    >>> resolve_path("s3://bucket/t")
    's3://bucket/t'
    """
    if isinstance(name_or_path, os.PathLike):
        return os.fspath(name_or_path)
    if isinstance(name_or_path, str) and any(m in name_or_path for m in _LOCATION_MARKS):
        return name_or_path
    return str((workspace or get_workspace()).table_path(check_name("table", name_or_path)))


def label(name_or_path: Any) -> str:
    """How a message names the table: as the caller gave it."""
    return os.fspath(name_or_path) if isinstance(name_or_path, os.PathLike) else str(name_or_path)


def not_found(name_or_path: Any, path: str) -> NotFoundError:
    """The one error for "no Delta table there", listing the tables beside it."""
    parent = Path(path).parent
    known = sorted(p.name for p in parent.iterdir() if (p / "_delta_log").is_dir()) \
        if parent.is_dir() else []
    return NotFoundError(
        f"There is no Delta table {label(name_or_path)!r} at {path}. "
        f"Tables there: {known or 'none'}. Write it first, or run "
        "mlops_kit.datasets.install() for the course tables."
    )


def no_such_version(name_or_path: Any, asked: str, latest: int) -> NotFoundError:
    """The one error for a version (or time) a table never had."""
    return NotFoundError(
        f"The Delta table {label(name_or_path)!r} has no {asked}: it has versions 0 to "
        f"{latest}. See history({label(name_or_path)!r}) for versions and commit times."
    )


def check_keys(name_or_path: Any, keys: Sequence[str] | str, columns: Sequence[str]) -> list[str]:
    """The merge keys as a list, each a column of the data; else :class:`ConfigError`."""
    keys = [keys] if isinstance(keys, str) else list(keys or ())
    if not keys:
        raise ConfigError(
            f"merge into {label(name_or_path)!r} needs keys: the column(s) that identify a "
            "row, e.g. keys=['id']. Got none.")
    missing = [k for k in keys if k not in columns]
    if missing:
        raise ConfigError(
            f"The merge keys {missing} are not columns of the data merged into "
            f"{label(name_or_path)!r}. Expected some of {list(columns)}.")
    return keys


def check_mode(mode: str, allowed: Sequence[str] = ("append", "overwrite")) -> str:
    if mode not in allowed:
        raise ConfigError(
            f"mode must be {' or '.join(repr(m) for m in allowed)}. Got {mode!r} instead.")
    return mode


class TableAccess(abc.ABC):
    """Delta tables through one engine: the verbs both sides of the door share.

    A table is named by a workspace table name or given by its location
    (:func:`resolve_path`). Every write is one Delta commit, so it lands
    whole or not at all; bad input (a wrong mode, merge keys the data lacks,
    columns that do not fit) is refused before anything is written, and the
    table keeps its version.

    ``read`` returns the engine's frame (pandas on the delta-rs side, Spark on
    the Spark side); ``history`` returns the same pandas columns on both
    (:data:`HISTORY_COLUMNS`).

    Parameters
    ----------
    workspace : Workspace, optional
        Where table names resolve; the active workspace when omitted.
    """

    def __init__(self, workspace: Workspace | None = None) -> None:
        self._workspace = workspace

    def path(self, name_or_path: Any) -> str:
        """The table's location (:func:`resolve_path`)."""
        return resolve_path(name_or_path, self._workspace)

    def exists(self, name_or_path: Any) -> bool:
        """Whether a Delta table (a ``_delta_log`` with commits) is there. No JVM."""
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.path(name_or_path))

    def version(self, name_or_path: Any) -> int:
        """The latest version (0 after the first write). No JVM.

        Raises
        ------
        NotFoundError
            No table there.
        """
        from deltalake import DeltaTable

        path = self.path(name_or_path)
        if not DeltaTable.is_deltatable(path):
            raise not_found(name_or_path, path)
        return int(DeltaTable(path).version())

    @abc.abstractmethod
    def read(self, name_or_path: Any, version: int | None = None) -> Any:
        """The rows of one version (the latest by default); ``NotFoundError`` if none."""

    @abc.abstractmethod
    def append(self, name_or_path: Any, data: Any, *, merge_schema: bool = False) -> int:
        """Add rows (creating the table); returns the new version."""

    @abc.abstractmethod
    def overwrite(self, name_or_path: Any, data: Any, *, overwrite_schema: bool = False,
                  partition_by: Sequence[str] | None = None) -> int:
        """Replace the rows with a new version (the old one stays readable)."""

    @abc.abstractmethod
    def merge(self, name_or_path: Any, data: Any, keys: Sequence[str] | str) -> int:
        """Upsert by ``keys``, adding the data's new columns; returns the new version."""

    @abc.abstractmethod
    def history(self, name_or_path: Any, limit: int | None = None) -> "pd.DataFrame":
        """The commits, newest first, with :data:`HISTORY_COLUMNS`."""

"""The delta-rs side of table access: pandas and Arrow in, pandas out, no JVM.

Never imports pyspark, never starts Spark: the serving endpoint, its
inference log, the jobs that only train or monitor, and quick metadata reads
(version, row and file counts, history) use only this side, so they start in
a second. :class:`DeltaRsTables` is the interface's implementation;
:class:`KeptTable` is the appender for a writer that commits many times a
minute (the inference log): one open handle, commits tagged with an
application transaction (exactly-once replay), upkeep at a known rhythm.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit.exceptions import SchemaMismatchError
from mlops_kit.tables.base import (
    HISTORY_COLUMNS,
    TableAccess,
    check_keys,
    label,
    no_such_version,
    not_found,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

__all__ = ["DeltaRsTables", "KeptTable", "require_deltalake"]


def require_deltalake() -> str:
    """Import delta-rs now (a process that will need it fails at start, not later); its version."""
    try:
        import deltalake
    except ImportError as err:
        from mlops_kit.exceptions import EnvironmentProblem

        raise EnvironmentProblem(
            f"delta-rs is not importable ({err}). Install it: pip install 'deltalake>=1,<2'."
        ) from err
    return str(deltalake.__version__)


def _arrow(data: Any) -> "pa.Table":
    """A pandas frame (index dropped) or an Arrow table, as Arrow."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if hasattr(data, "columns") and hasattr(data, "dtypes"):
        return pa.Table.from_pandas(data, preserve_index=False)
    from mlops_kit.exceptions import DataError

    raise DataError(f"Expected a pandas DataFrame or an Arrow table. Got "
                    f"{type(data).__name__} instead.")


def _metric(metrics: dict, *keys: str) -> int | None:
    for key in keys:
        if metrics.get(key) is not None:
            return int(metrics[key])
    return None


class DeltaRsTables(TableAccess):
    """Delta tables through delta-rs (``deltalake``): no JVM, pandas frames.

    Examples
    --------
    >>> tables = DeltaRsTables()          # doctest: +SKIP
    >>> tables.append("inference_log", frame)  # doctest: +SKIP
    3
    """

    def _open(self, name_or_path: Any, version: int | None = None):
        from deltalake import DeltaTable

        path = self.path(name_or_path)
        if not DeltaTable.is_deltatable(path):
            raise not_found(name_or_path, path)
        if version is None:
            return DeltaTable(path)
        try:
            return DeltaTable(path, version=version)
        except Exception as err:  # a version that never existed, or was vacuumed
            raise no_such_version(name_or_path, f"version {version}",
                                  DeltaTable(path).version()) from err

    def snapshot(self, name_or_path: Any, version: int | None = None) -> tuple["pd.DataFrame", int]:
        """The rows of one version and that version's number."""
        table = self._open(name_or_path, version)
        return table.to_pandas(), int(table.version())

    def read(self, name_or_path: Any, version: int | None = None) -> "pd.DataFrame":
        return self.snapshot(name_or_path, version)[0]

    def row_count(self, name_or_path: Any) -> int:
        """Rows in the latest version, from the log's statistics (no scan)."""
        return int(self._open(name_or_path).count())

    def file_count(self, name_or_path: Any) -> int:
        """Data files in the latest version: the small-files problem, as a number."""
        return len(self._open(name_or_path).file_uris())

    def _write(self, name_or_path: Any, data: Any, mode: str, schema_mode: str | None,
               partition_by: Sequence[str] | None = None) -> int:
        from deltalake import write_deltalake
        from deltalake.exceptions import SchemaMismatchError as RsSchemaMismatch

        path = self.path(name_or_path)
        arrow = _arrow(data)
        if "://" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        before = self.version(path) if self.exists(path) else None
        try:
            write_deltalake(path, arrow, mode=mode, schema_mode=schema_mode,
                            partition_by=list(partition_by) if partition_by else None)
        except RsSchemaMismatch as err:  # nothing was committed
            fix = ("pass merge_schema=True to add new columns" if mode == "append"
                   else "pass overwrite_schema=True to replace the table's schema")
            raise SchemaMismatchError(
                f"Cannot {'append to' if mode == 'append' else 'overwrite'} the Delta table "
                f"{label(name_or_path)!r}: the data's schema differs from the table's "
                f"({str(err).splitlines()[0]}). The table stays at version {before}. "
                f"Fix: {fix}, or cast the columns to the table's types."
            ) from None
        return self.version(path)

    def append(self, name_or_path: Any, data: Any, *, merge_schema: bool = False) -> int:
        return self._write(name_or_path, data, "append", "merge" if merge_schema else None)

    def overwrite(self, name_or_path: Any, data: Any, *, overwrite_schema: bool = False,
                  partition_by: Sequence[str] | None = None) -> int:
        return self._write(name_or_path, data, "overwrite",
                           "overwrite" if overwrite_schema else None, partition_by)

    def merge(self, name_or_path: Any, data: Any, keys: Sequence[str] | str) -> int:
        arrow = _arrow(data)
        keys = check_keys(name_or_path, keys, arrow.column_names)
        if not self.exists(name_or_path):
            return self.append(name_or_path, arrow)
        condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        (self._open(name_or_path)
         .merge(arrow, predicate=condition, source_alias="s", target_alias="t",
                merge_schema=True)
         .when_matched_update_all().when_not_matched_insert_all().execute())
        return self.version(name_or_path)

    def history(self, name_or_path: Any, limit: int | None = None) -> "pd.DataFrame":
        import pandas as pd

        commits = self._open(name_or_path).history(int(limit) if limit else None)
        metrics = [dict(c.get("operationMetrics") or {}) for c in commits]
        frame = pd.DataFrame({
            "version": pd.array([int(c["version"]) for c in commits], dtype="int64"),
            "timestamp": pd.to_datetime([int(c["timestamp"]) for c in commits], unit="ms"),
            "operation": [c.get("operation") for c in commits],
            "mode": [dict(c.get("operationParameters") or {}).get("mode") for c in commits],
            "rows": pd.array([_metric(m, "num_added_rows", "num_output_rows", "numOutputRows")
                              for m in metrics], dtype="Int64"),
            "files": pd.array([_metric(m, "num_added_files", "num_target_files_added",
                                       "numFiles", "numAddedFiles") for m in metrics],
                              dtype="Int64"),
            "metrics": metrics,
        }, columns=list(HISTORY_COLUMNS))
        return frame.sort_values("version", ascending=False, ignore_index=True)


class KeptTable:
    """One table appended to many times a minute through one kept delta-rs handle.

    Reloading a table reads its whole log; a kept handle does not, so each
    append costs the same however long the log grows, as long as
    :meth:`maintain` checkpoints and trims it at a known rhythm. Each commit
    can carry an application transaction ``(app_id, seq)``, which the table
    remembers: a writer replaying after a crash asks
    :meth:`transaction_version` and skips what was already committed.

    Parameters
    ----------
    path : str or path
        The table's folder (created by the first append).
    table_properties : dict
        Delta table properties the table is created with, and given if it lacks them.
    """

    def __init__(self, path: str | os.PathLike[str], table_properties: dict[str, str]) -> None:
        self.path = str(path)
        self.table_properties = dict(table_properties)
        self._table = None  # deltalake.DeltaTable, opened on first use

    def open(self):
        """The kept handle, opened on first use; None while the table does not exist."""
        if self._table is None:
            from deltalake import DeltaTable
            from deltalake.exceptions import TableNotFoundError

            try:
                self._table = DeltaTable(self.path)
            except TableNotFoundError:
                return None
            current = self._table.metadata().configuration
            missing = {k: v for k, v in self.table_properties.items() if k not in current}
            if missing:  # a table made elsewhere (or by an older version)
                self._table.alter.set_table_properties(missing)
        return self._table

    def forget(self) -> None:
        """Drop the handle (after a failure): the next use reopens the table."""
        self._table = None

    def transaction_version(self, app_id: str) -> int | None:
        """The last ``seq`` committed for ``app_id``; None if none (or no table)."""
        table = self.open()
        return table.transaction_version(app_id) if table is not None else None

    def append(self, data: Any, app_id: str = "", seq: int = -1, *,
               deferred_upkeep: bool = True) -> None:
        """One append commit, tagged ``(app_id, seq)`` when ``app_id`` is given.

        With ``deferred_upkeep`` the commit writes no checkpoint and trims no
        log (:meth:`maintain` does); without it, delta-rs's own hooks run and
        the handle is reopened next time.
        """
        from deltalake import (CommitProperties, DeltaTable, PostCommitHookProperties,
                               Transaction, write_deltalake)

        data = _arrow(data)
        commit = (CommitProperties(app_transactions=[Transaction(app_id, seq)])
                  if app_id else None)
        table = self.open()
        if table is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            write_deltalake(self.path, data, mode="append",
                            configuration=self.table_properties, commit_properties=commit)
            self._table = DeltaTable(self.path)
            return
        if not deferred_upkeep:
            write_deltalake(self.path, data, mode="append", commit_properties=commit)
            self._table = None
            return
        write_deltalake(table, data, mode="append", commit_properties=commit,
                        post_commithook_properties=PostCommitHookProperties(
                            create_checkpoint=False, cleanup_expired_logs=False))

    def maintain(self, compact_target_bytes: int) -> bool:
        """Compact small files, checkpoint, drop expired commits and data files; reopen.

        Returns False when there was no handle to maintain. Errors propagate
        (the handle is dropped either way).
        """
        table, self._table = self._table, None
        if table is None:
            return False
        table.optimize.compact(target_size=compact_target_bytes)
        table.create_checkpoint()
        table.cleanup_metadata()
        # files compacted away longer ago than the deleted-file retention: no
        # snapshot a reader can still open needs them, so the disk stops growing.
        # full: list the folder, since the checkpoint above may already have
        # dropped the expired tombstones that a "lite" vacuum goes by
        table.vacuum(dry_run=False, full=True)
        return True

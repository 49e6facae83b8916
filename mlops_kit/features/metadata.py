"""Feature-table metadata: keys, description, tags, timestamps and lineage.

The data of a feature table is a Delta table; what Delta does not know (which
columns are keys, the timeseries column, who trained on it) lives in one small
JSON document per table under ``<env dir>/feature_tables/<name>.json``. Each
write goes to a temporary file that is then renamed over the old one, so a
reader sees either the old or the new document, never half of one.

The current data version is read with delta-rs (:mod:`mlops_kit.tables`), so
:meth:`FeatureTable.data_version` needs no Spark session.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlops_kit.exceptions import NotFoundError
from mlops_kit.workspace import Workspace, check_name

__all__ = ["FeatureTable", "MetadataStore", "delta_version", "utc_now"]


def utc_now() -> str:
    """The current time as an ISO-8601 string in UTC (what the documents store)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def delta_version(table_path: str | os.PathLike[str]) -> int | None:
    """The latest committed version of the Delta table at ``table_path``.

    Read with delta-rs (no JVM), checkpoints and all. ``None`` when there is
    no table there.
    """
    from mlops_kit.tables.delta_rs import DeltaRsTables

    tables = DeltaRsTables()
    path = Path(table_path)
    return tables.version(path) if tables.exists(path) else None


@dataclass
class FeatureTable:
    """What the store knows about one feature table.

    Attributes
    ----------
    name : str
        Table name (also the folder name of its Delta table).
    primary_keys : list of str
        Columns that identify an entity (without the timeseries column).
    timeseries_column : str or None
        For time-series tables, the event-time column; together with the keys
        it identifies a row, and point-in-time lookups compare against it.
    features : list of str
        Every column that is neither a key nor the timeseries column.
    lineage : list of dict
        One entry per logged model that used the table: ``run_id``,
        ``model_uri``, ``registered_model_name``, ``model_version``,
        ``table_version`` and ``logged_at``.
    """

    name: str
    path: str
    primary_keys: list[str]
    timeseries_column: str | None = None
    partition_columns: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    online_stores: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key_columns(self) -> list[str]:
        """Keys plus the timeseries column: what identifies one row of data."""
        return self.primary_keys + ([self.timeseries_column] if self.timeseries_column else [])

    @property
    def data_version(self) -> int | None:
        """Current Delta version of the table's data."""
        return delta_version(self.path)

    @property
    def models(self) -> list[str]:
        """Names (or URIs) of the models trained on this table, oldest first."""
        seen: list[str] = []
        for entry in self.lineage:
            model = entry.get("registered_model_name") or entry.get("model_uri")
            if model and model not in seen:
                seen.append(model)
        return seen

    @property
    def runs(self) -> list[str]:
        """MLflow run ids that trained on this table, oldest first."""
        return list(dict.fromkeys(e["run_id"] for e in self.lineage if e.get("run_id")))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        ts = f", timeseries_column={self.timeseries_column!r}" if self.timeseries_column else ""
        return (
            f"FeatureTable(name={self.name!r}, primary_keys={self.primary_keys!r}{ts}, "
            f"features={self.features!r}, version={self.data_version})"
        )


class MetadataStore:
    """JSON documents of the feature tables of one workspace env.

    Parameters
    ----------
    workspace : Workspace
        Whose tables; documents live in ``workspace.env_dir / "feature_tables"``.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @property
    def folder(self) -> Path:
        return self.workspace.env_dir / "feature_tables"

    def _file(self, name: str) -> Path:
        return self.folder / f"{check_name('feature table', name)}.json"

    def exists(self, name: str) -> bool:
        return self._file(name).is_file()

    def load(self, name: str) -> FeatureTable:
        """The table's document; :class:`NotFoundError` naming the known tables if absent."""
        path = self._file(name)
        if not path.is_file():
            known = ", ".join(self.names()) or "none yet"
            raise NotFoundError(
                f"No feature table named {name!r} in env {self.workspace.env!r}. "
                f"Known tables: {known}. Create it with "
                f"FeatureStoreClient().create_table({name!r}, primary_keys=..., df=...)."
            )
        return FeatureTable(**json.loads(path.read_text()))

    def save(self, table: FeatureTable) -> FeatureTable:
        """Write the document atomically (temporary file, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{table.name}.", suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(table.to_dict(), out, indent=2, default=str)
        os.replace(tmp, self._file(table.name))
        return table

    def delete(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def all(self) -> list[FeatureTable]:
        return [self.load(name) for name in self.names()]

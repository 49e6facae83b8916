"""Online feature lookup for models logged with a feature spec.

A model logged by :meth:`FeatureStoreClient.log_model` carries, in its MLmodel
metadata (``feature_spec``), the lookups it was trained with: which feature
table, which key columns, which features. Served, such a model accepts rows
that hold only the keys (plus any features the caller wants to override): the
endpoint reads the missing features from the online store (SQLite at
``ws.online_store_path`` by default; whatever the table was published to
otherwise), one indexed read per key and table, with no Spark.

Request schema: the model's columns, with every looked-up feature optional,
plus the lookup keys (required, any scalar type).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlops_kit.serving.schema import Column, InputSchema, ParsedInput, _convert

__all__ = ["OnlineFeatureFiller", "feature_filler_for", "SPEC_KEY"]

#: where FeatureStoreClient.log_model puts the spec in the MLmodel metadata
SPEC_KEY = "feature_spec"


class OnlineFeatureFiller:
    """Fills the features a request leaves out from the online store.

    Parameters
    ----------
    spec : dict
        The model's feature spec (``lookups``, ``input_columns``).
    model_schema : InputSchema
        The model's signature columns.
    open_store : callable
        ``open_store(table_name) -> OnlineStore`` (``get(name, key)``).
    """

    def __init__(self, spec: dict[str, Any], model_schema: InputSchema, open_store) -> None:
        self.lookups = spec.get("lookups") or []
        self.model_schema = model_schema
        self.open_store = open_store
        self._stores: dict[str, Any] = {}
        looked_up = {name for lookup in self.lookups for name in self._outputs(lookup)}
        looked_up |= set(spec.get("feature_columns") or ())
        columns = [
            Column(c.name, c.type, c.required and c.name not in looked_up)
            for c in model_schema.columns or ()
        ]
        known = {c.name for c in columns}
        for lookup in self.lookups:
            for key in lookup["lookup_key"]:
                if key not in known:
                    columns.append(Column(key, "any", True))
                    known.add(key)
        self.schema = InputSchema(tuple(columns))

    @staticmethod
    def _outputs(lookup: dict[str, Any]) -> list[str]:
        renames = lookup.get("rename_outputs") or {}
        return [renames.get(f, f) for f in lookup.get("feature_names") or []]

    def _store(self, table: str):
        if table not in self._stores:
            self._stores[table] = self.open_store(table)
        return self._stores[table]

    def fill(self, parsed: ParsedInput) -> ParsedInput:
        """Look up every feature the request did not provide."""
        columns = dict(parsed.columns)
        for lookup in self.lookups:
            table = lookup["table_name"]
            keys = lookup["lookup_key"]
            renames = lookup.get("rename_outputs") or {}
            defaults = lookup.get("default_values") or {}
            store = self._store(table)
            key_values = list(zip(*(columns[k].tolist() for k in keys)))
            found = [store.get(table, key if len(key) > 1 else key[0]) for key in key_values]
            # feature_names None means "all of the table's features": what the rows hold
            names = lookup.get("feature_names") or sorted(
                {f for row in found if row for f in row if f not in keys})
            wanted = [f for f in names if renames.get(f, f) not in parsed.provided
                      and (lookup.get("feature_names") or renames.get(f, f)
                           in set(self.model_schema.names))]
            for feature in wanted:
                out = renames.get(feature, feature)
                default = defaults.get(out, defaults.get(feature))
                values = [default if row is None or row.get(feature) is None
                          else row[feature] for row in found]
                spec = next((c for c in self.model_schema.columns or () if c.name == out),
                            None)
                columns[out] = (_convert(Column(out, spec.type, False), values)
                                if spec is not None else np.asarray(values, dtype=object))
        # model columns first, then the keys (kept for the inference log)
        names = list(dict.fromkeys([*(self.model_schema.names or ()), *columns]))
        return ParsedInput({n: columns[n] for n in names if n in columns},
                           parsed.n_rows, parsed.params, provided=parsed.provided)


def _store_opener(workspace):
    def open_store(table: str):
        from mlops_kit.features import online

        try:
            from mlops_kit.features.metadata import MetadataStore

            meta = MetadataStore(workspace)
            if meta.exists(table) and meta.load(table).online_stores:
                return online.from_spec(meta.load(table).online_stores[-1])
        except ImportError:  # pragma: no cover - features package trimmed
            pass
        return online.SqliteOnlineStore(workspace.online_store_path)
    return open_store


def feature_filler_for(model, workspace) -> OnlineFeatureFiller | None:
    """The filler of a served model with a feature spec, else ``None``."""
    metadata = getattr(model.pyfunc.metadata, "metadata", None) or {}
    spec = metadata.get(SPEC_KEY)
    if not spec or not spec.get("lookups"):
        return None
    return OnlineFeatureFiller(spec, model.schema, _store_opener(workspace))

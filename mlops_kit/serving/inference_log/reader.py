"""The reader of the log table: the latest scored rows' features, as monitoring wants them."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["read_inference_log"]


def read_inference_log(table: str | os.PathLike[str] = "inference_log", *,
                       model_name: str | None = None, last_rows: int = 1000,
                       workspace: Any = None) -> "pd.DataFrame | None":
    """The features of the latest scored rows of an inference table, as pandas.

    The reader of what :class:`InferenceLog` writes: each row's ``inputs``
    JSON becomes columns, plus ``prediction`` and ``timestamp``. Read through the
    delta-rs side of :mod:`mlops_kit.tables`, so no JVM starts.

    Parameters
    ----------
    table : str or path
        A table name of the workspace, or the table's folder.
    model_name : str, optional
        Keep only this model's rows.
    last_rows : int
        How many of the latest rows (by ``timestamp``).

    Returns
    -------
    pandas.DataFrame or None
        ``None`` when the table does not exist yet (no traffic): a monitoring
        run then has nothing to check, which is not a failure.
    """
    import json

    import pandas as pd

    from mlops_kit.tables.delta_rs import DeltaRsTables

    tables = DeltaRsTables(workspace)
    if not tables.exists(table):
        return None
    log = tables.read(table)
    if model_name:
        log = log[log["model_name"] == model_name]
    log = log.sort_values("timestamp").tail(last_rows)
    features = pd.DataFrame([json.loads(row) for row in log["inputs"]], index=log.index)
    features["prediction"] = [json.loads(p) for p in log["prediction"]]
    features["timestamp"] = log["timestamp"]
    return features.reset_index(drop=True)

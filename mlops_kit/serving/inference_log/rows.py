"""Answered requests as the log table's rows: one row per scored row, as Arrow."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlops_kit.serving.inference_log.frames import LoggedRequest

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["requests_to_arrow"]


def prediction_rows(predictions: Any, n: int) -> list:
    """One JSON-ready prediction per input row, whatever the model returned."""
    rows = predictions
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        rows = predictions.to_dict(orient="records")
    elif hasattr(predictions, "tolist"):
        rows = predictions.tolist()
    if not isinstance(rows, list) or len(rows) != n:
        return [rows] * n if n else []
    return rows


def requests_to_arrow(batch: Sequence[LoggedRequest], *, constants: Mapping[str, Any],
                      extra_columns: Mapping[str, tuple[str, Any]] | None = None) -> "pa.Table":
    """The rows of ``batch``: the columns of ``LOG_COLUMNS``, then ``extra_columns``.

    ``constants`` gives ``model_name``, ``model_version`` and ``model_alias``;
    a request's own ``columns`` override them and fill the extra columns
    (``{name: (Arrow type alias, default)}``), row by row.
    """
    import orjson
    import pyarrow as pa

    opts = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    extra_columns = extra_columns or {}
    per_request = {"model_name": "string", "model_version": "string", "model_alias": "string",
                   **{name: kind for name, (kind, _) in extra_columns.items()}}
    defaults = {**constants, **{name: default for name, (_, default) in extra_columns.items()}}
    cols: dict[str, list] = {name: [] for name in (
        "request_id", "row_index", "timestamp", "inputs", "prediction", "latency_ms", "status",
        *per_request)}
    for request in batch:
        records = request.inputs.records()
        preds = prediction_rows(request.predictions, len(records))
        for i, (record, pred) in enumerate(zip(records, preds)):
            cols["request_id"].append(request.request_id)
            cols["row_index"].append(i)
            cols["timestamp"].append(int(request.timestamp * 1_000_000))
            cols["inputs"].append(orjson.dumps(record, option=opts).decode())
            cols["prediction"].append(orjson.dumps(pred, option=opts).decode())
            cols["latency_ms"].append(request.latency_ms)
            cols["status"].append(request.status)
        for name in per_request:
            cols[name] += [request.columns.get(name, defaults[name])] * len(records)
    arrays = {
        "request_id": pa.array(cols["request_id"], pa.string()),
        "row_index": pa.array(cols["row_index"], pa.int32()),
        "timestamp": pa.array(cols["timestamp"], pa.timestamp("us", tz="UTC")),
        "model_name": None, "model_version": None, "model_alias": None,
        "inputs": pa.array(cols["inputs"], pa.string()),
        "prediction": pa.array(cols["prediction"], pa.string()),
        "latency_ms": pa.array(cols["latency_ms"], pa.float64()),
        "status": pa.array(cols["status"], pa.int32()),
    }
    for name, kind in per_request.items():
        arrays[name] = pa.array(cols[name], pa.type_for_alias(kind))
    return pa.table(arrays)

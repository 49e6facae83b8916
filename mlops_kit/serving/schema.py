"""Parse an ``/invocations`` body into typed columns, or say exactly what is wrong.

The endpoint accepts the four JSON shapes ``mlflow models serve`` accepts::

    {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.0]]}}
    {"dataframe_records": [{"a": 1, "b": 2.5}, {"a": 3, "b": 4.0}]}
    {"instances": [{"a": 1, "b": 2.5}]}          (or {"instances": {"a": [1], "b": [2.5]}})
    {"inputs": {"a": [1, 3], "b": [2.5, 4.0]}}   (or a list of records)

and checks them against the model's signature itself, in plain Python over the
values, instead of handing a DataFrame to pyfunc's pandas-based enforcement:
for one row that enforcement costs more than the HTTP round trip. Every
problem becomes an :class:`~mlops_kit.exceptions.InvalidRequestError` (HTTP
400) whose message names the column, the row, what was expected and what came.

Columns come out as numpy arrays with the dtype the signature promises
(``double`` -> float64, ``long`` -> int64, ``string`` -> object, ...), in
signature order, ready for ``pandas.DataFrame``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from mlops_kit.exceptions import InvalidRequestError

__all__ = ["Column", "InputSchema", "ParsedInput", "parse_payload", "FORMATS"]

#: the top-level keys of an /invocations body, one of which must be present
FORMATS: tuple[str, ...] = ("dataframe_split", "dataframe_records", "instances", "inputs")

_MISSING = object()

# MLflow data type -> (numpy dtype, Python types accepted as-is, null allowed)
_TYPES: dict[str, tuple[Any, tuple[type, ...], bool]] = {
    "double": (np.float64, (float, int), True),
    "float": (np.float32, (float, int), True),
    "long": (np.int64, (int,), False),
    "integer": (np.int32, (int,), False),
    "boolean": (np.bool_, (bool,), False),
    "string": (object, (str,), False),
}
_JSON_NAMES = {float: "number", int: "integer", bool: "boolean", str: "string",
               list: "array", dict: "object", type(None): "null"}


@dataclass(frozen=True)
class Column:
    """One input column of a model signature."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class InputSchema:
    """The columns a model takes, in order; ``columns=None`` accepts any columns.

    Build it from a model's signature with :meth:`from_signature`.
    """

    columns: tuple[Column, ...] | None

    @classmethod
    def from_signature(cls, signature: Any) -> "InputSchema":
        """Column specs of an MLflow signature (``None`` or tensors: accept anything)."""
        inputs = getattr(signature, "inputs", None)
        if inputs is None or inputs.is_tensor_spec() or not inputs.has_input_names():
            return cls(None)
        columns = []
        for spec in inputs.inputs:
            type_name = getattr(spec.type, "name", str(spec.type))
            columns.append(Column(spec.name, type_name, getattr(spec, "required", True)))
        return cls(tuple(columns))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns or ()]

    def describe(self) -> str:
        """``a (double), b (string, optional)`` for error messages."""
        return ", ".join(
            f"{c.name} ({c.type}{'' if c.required else ', optional'})"
            for c in self.columns or ()
        )


@dataclass
class ParsedInput:
    """Validated input: ``columns`` maps name -> numpy array of ``n_rows`` values."""

    columns: dict[str, np.ndarray]
    n_rows: int
    params: dict[str, Any] | None = None
    #: the column names the request itself carried
    provided: frozenset[str] = frozenset()

    def to_frame(self, names: list[str] | None = None):
        """The input as a pandas DataFrame (only ``names``, in that order, when given)."""
        import pandas as pd

        columns = self.columns if not names else {n: self.columns[n] for n in names}
        return pd.DataFrame(columns, copy=False)

    def records(self) -> list[dict[str, Any]]:
        """One ``{column: value}`` dict per row, JSON-ready (NaN becomes None)."""
        names = list(self.columns)
        values = [_json_ready(v) for v in self.columns.values()]
        return [dict(zip(names, row)) for row in zip(*values)]


def _json_ready(array: np.ndarray) -> list:
    out = array.tolist()
    if array.dtype.kind == "f":
        out = [None if v != v else v for v in out]  # NaN -> null
    return out


def _bad(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, status_code=400, error_code="BAD_REQUEST")


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


# ------------------------------------------------------------------ shapes
def _from_records(records: Any, key: str) -> tuple[dict[str, list], int]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _bad(
            f"'{key}' must be a list of objects, one per row, like "
            f'{{"{key}": [{{"col": 1.0}}]}}. Got {_json_type(records)} instead.'
        )
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {n: [r.get(n, _MISSING) for r in records] for n in names}
    return columns, len(records)


def _from_split(split: Any) -> tuple[dict[str, list], int]:
    if not isinstance(split, dict) or "data" not in split or "columns" not in split:
        raise _bad(
            "'dataframe_split' must be an object with 'columns' and 'data', like "
            '{"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}.'
        )
    names, data = split["columns"], split["data"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad("'dataframe_split.columns' must be a list of column names (strings).")
    if len(set(names)) != len(names):
        raise _bad(f"'dataframe_split.columns' names a column twice: {names}.")
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise _bad("'dataframe_split.data' must be a list of rows, each a list of values.")
    for i, row in enumerate(data):
        if len(row) != len(names):
            raise _bad(
                f"Row {i} of 'dataframe_split.data' has {len(row)} values but "
                f"'columns' names {len(names)}. Give one value per column."
            )
    columns = {n: [row[j] for row in data] for j, n in enumerate(names)}
    return columns, len(data)


def _from_tensor_style(value: Any, key: str) -> tuple[dict[str, list], int]:
    if isinstance(value, dict):  # columnar: {"a": [1, 2], "b": [3, 4]}
        columns = {n: (v if isinstance(v, list) else [v]) for n, v in value.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise _bad(
                f"The columns of '{key}' have different lengths "
                f"({ {n: len(v) for n, v in columns.items()} }). Give every column "
                "one value per row."
            )
        return columns, lengths.pop() if lengths else 0
    if isinstance(value, list) and value and not all(isinstance(r, dict) for r in value):
        raise _bad(
            f"'{key}' must be a list of objects keyed by column name, or an object of "
            f'columns, like {{"{key}": [{{"col": 1.0}}]}}. Got a list of '
            f"{_json_type(value[0])}s instead: name the columns."
        )
    return _from_records(value, key)


def _shape(payload: Any) -> tuple[dict[str, list], int, dict | None]:
    if not isinstance(payload, dict):
        raise _bad(
            f"The body must be a JSON object with one of the keys {', '.join(FORMATS)}. "
            f"Got a JSON {_json_type(payload)} instead."
        )
    keys = [k for k in payload if k in FORMATS]
    unknown = [k for k in payload if k not in FORMATS and k != "params"]
    if len(keys) != 1 or unknown:
        got = ", ".join(map(repr, payload)) or "no keys"
        raise _bad(
            f"The body must have exactly one of the keys {', '.join(FORMATS)} (and "
            f"optionally 'params'). Got {got}."
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise _bad(f"'params' must be an object. Got {_json_type(params)} instead.")
    key = keys[0]
    if key == "dataframe_split":
        columns, n = _from_split(payload[key])
    elif key == "dataframe_records":
        columns, n = _from_records(payload[key], key)
    else:
        columns, n = _from_tensor_style(payload[key], key)
    return columns, n, params


# ------------------------------------------------------------------- types
def _column_error(column: Column, values: list, accepted: tuple[type, ...], null_ok: bool):
    for row, value in enumerate(values):
        if value is _MISSING:
            return _bad(f"Row {row} has no value for column '{column.name}'. Every row "
                        "needs every required column.")
        if value is None:
            if null_ok:
                continue
            return _bad(f"Column '{column.name}' ({column.type}) has a null in row {row}; "
                        "it needs a value in every row.")
        if type(value) not in accepted and not _integral(value, column.type):
            want = {"double": "a number", "float": "a number", "long": "an integer",
                    "integer": "an integer", "boolean": "true or false",
                    "string": "a string"}[column.type]
            return _bad(
                f"Column '{column.name}' must hold {want} ({column.type}); row {row} "
                f"holds the {_json_type(value)} {value!r}."
            )
    return None


def _integral(value: Any, type_name: str) -> bool:
    """3.0 is an acceptable integer; True is not (bool is an int in Python)."""
    return (type_name in ("long", "integer") and type(value) is float
            and value.is_integer() and not math.isinf(value))


def _convert(column: Column, values: list) -> np.ndarray:
    dtype, accepted, null_ok = _TYPES[column.type]
    null_ok = null_ok or not column.required
    if not all(type(v) in accepted for v in values):
        error = _column_error(column, values, accepted, null_ok)
        if error is not None:
            raise error
        if any(v is None for v in values):
            if dtype in (np.float64, np.float32):
                values = [math.nan if v is None else v for v in values]
            elif dtype in (np.int64, np.int32):  # pandas' own choice for ints with nulls
                values, dtype = [math.nan if v is None else v for v in values], np.float64
            else:
                dtype = object
    if dtype is object:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    try:
        with np.errstate(over="ignore"):
            array = np.asarray(values, dtype=dtype)
    except OverflowError:
        raise _bad(f"Column '{column.name}' holds an integer too large for {column.type}.")
    _check_finite(column.name, array, column.type)
    return array


def _check_finite(name: str, array: np.ndarray, type_name: str) -> None:
    """Infinity (a value too large for the column's type) is refused, as NaN is."""
    if array.dtype.kind == "f":
        infinite = np.isinf(array)
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise _bad(f"Column '{name}' ({type_name}) holds a value in row {row} that is too "
                       "large for its type (it becomes infinity). Send finite numbers.")


def _convert_untyped(name: str, values: list) -> np.ndarray:
    if any(v is _MISSING for v in values):
        raise _bad(f"Some rows have no value for column '{name}'. Give every row the "
                   "same columns.")
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nested values ([1] next to [1, 2]): no numeric array
        array = None
    if array is None or array.ndim != 1 or array.dtype.kind in "USO":
        # strings, mixed or nested values: one Python object per row
        array = np.empty(len(values), dtype=object)
        array[:] = values
    _check_finite(name, array, "number")
    return array


def _check_names(schema: InputSchema, names: Iterable[str]) -> None:
    given = set(names)
    expected = {c.name for c in schema.columns or ()}
    missing = [c.name for c in schema.columns or () if c.required and c.name not in given]
    extra = sorted(given - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"unexpected column(s) {extra}")
        raise _bad(
            f"The input does not match the model's signature: {' and '.join(parts)}. "
            f"Expected: {schema.describe()}."
        )


def parse_payload(payload: Any, schema: InputSchema) -> ParsedInput:
    """Validate a decoded JSON body against ``schema``; return typed columns.

    Parameters
    ----------
    payload : object
        The body after ``json.loads``.
    schema : InputSchema
        The model's input columns.

    Returns
    -------
    ParsedInput

    Raises
    ------
    InvalidRequestError
        Wrong shape, no rows, missing or unexpected columns, or a value of the
        wrong type; the message names which and how to fix it.

    Examples
    --------
    >>> schema = InputSchema((Column("x", "double"), Column("city", "string")))
    >>> parsed = parse_payload({"inputs": {"x": [1, 2.5], "city": ["SF", "LA"]}}, schema)
    >>> parsed.n_rows, parsed.columns["x"].dtype.name
    (2, 'float64')
    """
    raw, n_rows, params = _shape(payload)
    if n_rows == 0:
        raise _bad("The input has no rows. Send at least one row to score.")
    provided = frozenset(raw)
    if schema.columns is None:
        columns = {n: _convert_untyped(n, v) for n, v in raw.items()}
        return ParsedInput(columns, n_rows, params, provided)
    _check_names(schema, raw)
    columns: dict[str, np.ndarray] = {}
    for column in schema.columns:
        if column.type == "any":  # lookup keys: any JSON scalar
            columns[column.name] = _convert_untyped(column.name, raw[column.name])
            continue
        if column.type not in _TYPES:
            raise _bad(f"Column '{column.name}' has type {column.type}, which this "
                       "endpoint cannot parse from JSON yet.")
        values = raw.get(column.name)
        if values is None:  # an optional column left out: all null
            values = [None] * n_rows
        elif not column.required:
            values = [None if v is _MISSING else v for v in values]
        columns[column.name] = _convert(column, values)
    return ParsedInput(columns, n_rows, params, provided)

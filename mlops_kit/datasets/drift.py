"""Drift injectors: pure functions that return a changed copy of a frame.

Monitoring is taught by breaking data on purpose and watching the tests
notice. Each injector changes exactly one column in one named way and leaves
every other column (and the input frame) untouched, so a lab can say which
drift it planted and check that the monitor found that one and no other:

=========================  ==============================================
:func:`shift_feature`      covariate drift: add ``delta`` or scale by ``factor``
:func:`change_units`       a pipeline bug: Celsius arrives as Fahrenheit
:func:`change_category_mix` a categorical feature's shares move
:func:`inject_nulls`       an upstream source starts dropping values
:func:`shift_label`        concept drift: same inputs, different outcome
=========================  ==============================================
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

import numpy as np
import pandas as pd

from mlops_kit.exceptions import ConfigError, DataError

__all__ = [
    "UNIT_CONVERSIONS",
    "shift_feature",
    "change_units",
    "change_category_mix",
    "inject_nulls",
    "shift_label",
]

#: name -> (factor, offset): new = old * factor + offset
UNIT_CONVERSIONS: dict[str, tuple[float, float]] = {
    "C->F": (9 / 5, 32.0),
    "F->C": (5 / 9, -32.0 * 5 / 9),
    "km->mi": (1 / 1.609344, 0.0),
    "mi->km": (1.609344, 0.0),
    "kg->lb": (2.2046226, 0.0),
    "lb->kg": (1 / 2.2046226, 0.0),
    "USD->cents": (100.0, 0.0),
}

Rows = Union[pd.Series, np.ndarray, Callable[[pd.DataFrame], pd.Series], None]


def _column(df: pd.DataFrame, col: str, *, numeric: bool = False) -> pd.Series:
    if col not in df.columns:
        raise DataError(
            f"The column {col!r} is not in the frame. Expected one of {list(df.columns)}."
        )
    series = df[col]
    if numeric and not (
        pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    ):
        raise DataError(
            f"The column {col!r} must be numeric to shift it. Got dtype {series.dtype} instead."
        )
    return series


def _scaled(series: pd.Series, factor: float, offset: float, mask: np.ndarray) -> pd.Series:
    """``series * factor + offset`` on ``mask`` rows; integer columns stay integer."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.where(mask, values * factor + offset, values)
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        return pd.Series(np.round(values).astype(series.dtype), index=series.index)
    return pd.Series(values, index=series.index)


def _shift(df: pd.DataFrame, col: str, delta: float | None, factor: float | None,
           where: Rows, func: str) -> pd.DataFrame:
    series = _column(df, col, numeric=True)
    if (delta is None) == (factor is None):
        raise ConfigError(
            f"{func}() needs exactly one of delta= (add) or factor= (multiply). "
            f"Got delta={delta!r}, factor={factor!r}."
        )
    if callable(where):
        where = where(df)
    mask = np.ones(len(df), dtype=bool) if where is None else np.asarray(where, dtype=bool)
    if mask.shape != (len(df),):
        raise ConfigError(
            f"{func}(where=...) must select rows of the frame: a boolean mask of length "
            f"{len(df)}. Got shape {mask.shape} instead."
        )
    out = df.copy()
    out[col] = _scaled(series, 1.0 if factor is None else factor, delta or 0.0, mask)
    return out


def shift_feature(df: pd.DataFrame, col: str, delta: float | None = None, *,
                  factor: float | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` with ``col`` moved by ``delta`` or scaled by ``factor``.

    Examples
    --------
    >>> df = pd.DataFrame({"t": [10.0, 20.0], "x": [1, 2]})
    >>> shift_feature(df, "t", 5)["t"].tolist()
    [15.0, 25.0]
    >>> shift_feature(df, "t", factor=2)["t"].tolist()
    [20.0, 40.0]
    """
    return _shift(df, col, delta, factor, None, "shift_feature")


def change_units(df: pd.DataFrame, col: str, conversion: str | float, *,
                 offset: float = 0.0) -> pd.DataFrame:
    """Return a copy of ``df`` with ``col`` expressed in other units.

    Parameters
    ----------
    conversion : str or float
        A name from :data:`UNIT_CONVERSIONS` (``"C->F"``, ``"F->C"``, ...) or
        a plain factor (``new = old * factor + offset``).
    offset : float
        Added after scaling when ``conversion`` is a factor.

    Examples
    --------
    >>> df = pd.DataFrame({"temperature": [0.0, 100.0]})
    >>> change_units(df, "temperature", "C->F")["temperature"].round(6).tolist()
    [32.0, 212.0]
    """
    if isinstance(conversion, str):
        if conversion not in UNIT_CONVERSIONS:
            raise ConfigError(
                f"Unknown unit conversion {conversion!r}. Expected one of "
                f"{sorted(UNIT_CONVERSIONS)} or a number (the factor)."
            )
        factor, offset = UNIT_CONVERSIONS[conversion]
    else:
        factor = float(conversion)
    series = _column(df, col, numeric=True)
    out = df.copy()
    out[col] = _scaled(series.astype(np.float64), factor, offset, np.ones(len(df), bool))
    return out


def change_category_mix(df: pd.DataFrame, col: str, new_weights: Mapping[str, float],
                        seed: int = 0) -> pd.DataFrame:
    """Return a copy of ``df`` whose ``col`` is redrawn with ``new_weights``.

    Every non-null value is drawn again from the categories in
    ``new_weights`` (weights need not sum to one); null values stay null.

    Examples
    --------
    >>> df = pd.DataFrame({"flavour": ["Vanilla"] * 100})
    >>> change_category_mix(df, "flavour", {"Mint": 1.0})["flavour"].unique().tolist()
    ['Mint']
    """
    series = _column(df, col)
    weights = pd.Series(dict(new_weights), dtype=np.float64)
    if weights.empty or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(
            "new_weights must map categories to non-negative weights with a positive "
            f"sum, e.g. {{'Chocolate': 0.6, 'Vanilla': 0.4}}. Got {dict(new_weights)!r}."
        )
    rng = np.random.default_rng(seed)
    present = series.notna().to_numpy()
    drawn = rng.choice(weights.index.to_numpy(), size=int(present.sum()),
                       p=(weights / weights.sum()).to_numpy())
    out = df.copy()
    values = series.astype(object).to_numpy(copy=True)
    values[present] = drawn
    redrawn = pd.Series(values, index=df.index)
    out[col] = (redrawn.astype(series.dtype) if pd.api.types.is_string_dtype(series)
                else redrawn.infer_objects())
    return out


def inject_nulls(df: pd.DataFrame, col: str, rate: float, seed: int = 0) -> pd.DataFrame:
    """Return a copy of ``df`` with ``round(rate * len(df))`` values of ``col`` set to null.

    Integer columns become float (``NaN``), as pandas stores them.

    Examples
    --------
    >>> df = pd.DataFrame({"humidity": [50.0] * 10})
    >>> int(inject_nulls(df, "humidity", 0.3)["humidity"].isna().sum())
    3
    """
    series = _column(df, col)
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"rate must be a fraction in [0, 1]. Got {rate!r} instead.")
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(df), size=int(round(rate * len(df))), replace=False)
    mask = np.zeros(len(df), dtype=bool)
    mask[rows] = True
    out = df.copy()
    out[col] = series.mask(mask)
    return out


def shift_label(df: pd.DataFrame, col: str, delta: float | None = None, *,
                factor: float | None = None, where: Rows = None) -> pd.DataFrame:
    """Return a copy of ``df`` whose label ``col`` changed, optionally only on some rows.

    Concept drift: the features keep their distribution while the outcome
    they predict moves. ``where`` (a boolean mask, or a function of the frame
    returning one) limits the change to a segment, e.g. hot days only.

    Examples
    --------
    >>> df = pd.DataFrame({"temp": [10, 30], "sales": [100, 100]})
    >>> shift_label(df, "sales", factor=0.5, where=lambda d: d["temp"] > 20)["sales"].tolist()
    [100, 50]
    """
    return _shift(df, col, delta, factor, where, "shift_label")

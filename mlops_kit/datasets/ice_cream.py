"""Ice-cream sales: the monitoring lab's data, with a reference and a current window.

One row is one store's sales of one flavour on one day. Sales rise with
temperature, promotions and weekends, and fall with price, so a model
trained on the reference window is accurate there, and the drift scenarios
below break it in ways a monitor should notice:

==============  ================================================================
``units``       the current window's temperature arrives in Fahrenheit (a bug)
``heatwave``    it is 6 °C warmer (real covariate drift)
``flavour_mix`` Chocolate and Mint Chip take over from Vanilla
``nulls``       15 % of humidity readings are missing (a broken sensor)
``label``       30 % fewer cones sold at the same inputs (concept drift)
==============  ================================================================
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mlops_kit.datasets.drift import (
    change_category_mix,
    change_units,
    inject_nulls,
    shift_feature,
    shift_label,
)
from mlops_kit.exceptions import ConfigError

__all__ = ["DRIFT_SCENARIOS", "FLAVOURS", "ice_cream_sales", "ice_cream_windows"]

#: flavour -> (share of rows, effect on log sales)
FLAVOURS: dict[str, tuple[float, float]] = {
    "Vanilla": (0.30, 0.10),
    "Chocolate": (0.28, 0.15),
    "Strawberry": (0.17, -0.05),
    "Mint Chip": (0.13, -0.10),
    "Cookie Dough": (0.12, 0.0),
}
STORES = ("Embarcadero", "Ocean Beach", "Dolores Park", "Union Square")

#: the scenarios ``drift=True`` applies, in order
DEFAULT_DRIFT: tuple[str, ...] = ("units", "flavour_mix", "nulls", "label")


def _units(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return change_units(df, "temperature", "C->F")


def _heatwave(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return shift_feature(df, "temperature", 6.0)


def _flavour_mix(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    weights = {"Vanilla": 0.10, "Chocolate": 0.40, "Strawberry": 0.10,
               "Mint Chip": 0.30, "Cookie Dough": 0.10}
    return change_category_mix(df, "flavour", weights, seed=seed)


def _nulls(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return inject_nulls(df, "humidity", 0.15, seed=seed)


def _label(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return shift_label(df, "cones_sold", factor=0.7)


DRIFT_SCENARIOS = {
    "units": _units,
    "heatwave": _heatwave,
    "flavour_mix": _flavour_mix,
    "nulls": _nulls,
    "label": _label,
}


def _scenarios(drift: bool | str | Iterable[str]) -> list[str]:
    if drift is False or drift is None:
        return []
    if drift is True:
        return list(DEFAULT_DRIFT)
    names = [drift] if isinstance(drift, str) else list(drift)
    unknown = [name for name in names if name not in DRIFT_SCENARIOS]
    if unknown:
        raise ConfigError(
            f"Unknown drift scenario(s) {unknown}. Expected True, False or names from "
            f"{sorted(DRIFT_SCENARIOS)}."
        )
    return names


def ice_cream_sales(
    n: int = 1000,
    seed: int = 42,
    *,
    start: str = "2024-06-01",
    days: int = 30,
    drift: bool | str | Iterable[str] = False,
) -> pd.DataFrame:
    """Generate ``n`` store-flavour-day sales rows over ``days`` days from ``start``.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        Seed of the numpy Generator (the drift scenarios derive theirs from it).
    start : str
        First day of the window.
    days : int
        Length of the window in days.
    drift : bool, str or list of str
        ``False`` for clean data, ``True`` for the lab's scenarios
        (:data:`DEFAULT_DRIFT`), or scenario names from :data:`DRIFT_SCENARIOS`.

    Returns
    -------
    pandas.DataFrame
        ``date``, ``store``, ``flavour``, ``temperature`` (°C unless drifted),
        ``humidity`` (%), ``is_weekend``, ``promotion``, ``price_per_cone``
        (USD) and the label ``cones_sold``.

    Examples
    --------
    >>> ice_cream_sales(50, seed=0).shape
    (50, 9)
    """
    if n < 1 or days < 1:
        raise ConfigError(f"ice_cream_sales() needs n >= 1 and days >= 1. Got n={n}, days={days}.")
    scenarios = _scenarios(drift)
    rng = np.random.default_rng(seed)
    day = np.sort(rng.integers(0, days, n))
    date = pd.Timestamp(start) + pd.to_timedelta(day, unit="D")
    names = np.array(list(FLAVOURS))
    shares = np.array([share for share, _ in FLAVOURS.values()])
    flavour = rng.choice(names, size=n, p=shares)
    store = rng.choice(np.array(STORES), size=n)

    daily_temp = 21 + 3 * np.sin(np.arange(days) / 5) + rng.normal(0, 3, days)
    temperature = np.round(daily_temp[day] + rng.normal(0, 1.0, n), 1)
    humidity = np.round(np.clip(rng.normal(68, 10, n) - 0.8 * (temperature - 21), 15, 100), 1)
    is_weekend = date.day_of_week.to_numpy() >= 5
    promotion = rng.random(n) < 0.15
    price = np.round(rng.choice([3.5, 4.0, 4.5, 5.0], size=n, p=[0.2, 0.4, 0.3, 0.1]), 2)
    effect = pd.Series({k: v[1] for k, v in FLAVOURS.items()}).reindex(flavour).to_numpy()
    log_rate = (3.4 + 0.07 * (temperature - 21) + 0.30 * promotion + 0.20 * is_weekend
                - 0.25 * (price - 4.0) + effect - 0.004 * (humidity - 68))
    cones = rng.poisson(np.exp(log_rate))

    frame = pd.DataFrame(
        {
            "date": np.asarray(date, dtype="datetime64[us]"),
            "store": store,
            "flavour": flavour,
            "temperature": temperature,
            "humidity": humidity,
            "is_weekend": is_weekend,
            "promotion": promotion,
            "price_per_cone": price,
            "cones_sold": cones.astype(np.int64),
        }
    )
    for offset, name in enumerate(scenarios, start=1):
        frame = DRIFT_SCENARIOS[name](frame, seed + 1000 * offset)
    return frame


def ice_cream_windows(
    n: int = 1000,
    seed: int = 42,
    *,
    start: str = "2024-06-01",
    days: int = 30,
    drift: bool | str | Iterable[str] = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lab's two windows: a clean ``reference`` and the ``current`` days after it.

    The current window is drawn with another seed (so even without drift it
    differs row by row, as real weeks do) and then drifted as ``drift`` says.

    Examples
    --------
    >>> reference, current = ice_cream_windows(200, seed=1, drift="units")
    >>> bool(current["temperature"].mean() > reference["temperature"].mean() + 20)
    True
    """
    reference = ice_cream_sales(n, seed, start=start, days=days)
    current_start = str((pd.Timestamp(start) + pd.Timedelta(days=days)).date())
    current = ice_cream_sales(n, seed + 1, start=current_start, days=days, drift=drift)
    return reference, current

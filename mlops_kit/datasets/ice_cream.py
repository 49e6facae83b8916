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
``label``       30 % fewer cones sold at the same inputs (concept drift, seen in
                the label)
``promotion``   half the sales are on promotion instead of 15 %: more cones
                (label drift) by the same relation, while temperature,
                humidity, price and flavour keep their distribution
==============  ================================================================

Rows are independent draws by default: each row has its own temperature,
drawn around the same summer mean (21 °C, no trend inside a window, so a week
is drawn like the whole window), which is what the drift tests assume. ``shared_weather=True`` draws one weather per
day instead, shared by every row of that day, as a single city's sales are:
then 2,000 rows carry the information of about ``days`` temperatures, and
tests that count rows as independent raise false alarms (the monitoring
lesson measures how often). A window is four whole weeks by default, so two
windows have the same share of weekend days.
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

__all__ = ["DRIFT_SCENARIOS", "FLAVOURS", "expected_cones", "ice_cream_sales", "ice_cream_windows"]

#: flavour -> (share of rows, effect on log sales)
FLAVOURS: dict[str, tuple[float, float]] = {
    "Vanilla": (0.30, 0.10),
    "Chocolate": (0.28, 0.15),
    "Strawberry": (0.17, -0.05),
    "Mint Chip": (0.13, -0.10),
    "Cookie Dough": (0.12, 0.0),
}
STORES = ("Embarcadero", "Ocean Beach", "Dolores Park", "Union Square")

#: mean temperature (°C) of every window: one summer, with no trend inside a window,
#: so any week of it is drawn like the whole window
SUMMER_MEAN = 21.0

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


#: the share of sales on promotion in the ``promotion`` scenario (15 % otherwise)
CAMPAIGN_SHARE = 0.5


def _promotion(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A campaign: more rows on promotion, their sales redrawn by the unchanged relation."""
    rng = np.random.default_rng(seed)
    off = ~df["promotion"].to_numpy(dtype=bool)
    share_off = max(off.mean(), 1e-12)
    turn_on = off & (rng.random(len(df)) < max(CAMPAIGN_SHARE - (1 - share_off), 0.0) / share_off)
    out = df.copy()
    out["promotion"] = df["promotion"].to_numpy(dtype=bool) | turn_on
    cones = out["cones_sold"].to_numpy(copy=True)
    cones[turn_on] = rng.poisson(expected_cones(out.loc[turn_on]))
    out["cones_sold"] = cones.astype(df["cones_sold"].dtype)
    return out


DRIFT_SCENARIOS = {
    "units": _units,
    "heatwave": _heatwave,
    "flavour_mix": _flavour_mix,
    "nulls": _nulls,
    "label": _label,
    "promotion": _promotion,
}


def expected_cones(frame: pd.DataFrame) -> np.ndarray:
    """Mean cones sold for each row's inputs: the relation every window is drawn from.

    ``cones_sold`` is Poisson with this mean. Temperature must be in °C.
    """
    effect = pd.Series({k: v[1] for k, v in FLAVOURS.items()}).reindex(frame["flavour"]).to_numpy()
    promotion = frame["promotion"].to_numpy(dtype=np.float64)
    weekend = frame["is_weekend"].to_numpy(dtype=np.float64)
    temperature = frame["temperature"].to_numpy(dtype=np.float64)
    humidity = frame["humidity"].to_numpy(dtype=np.float64)
    price = frame["price_per_cone"].to_numpy(dtype=np.float64)
    return np.exp(3.4 + 0.07 * (temperature - 21) + 0.30 * promotion + 0.20 * weekend
                  - 0.25 * (price - 4.0) + effect - 0.004 * (humidity - 68))


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
    days: int = 28,
    drift: bool | str | Iterable[str] = False,
    shared_weather: bool = False,
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
    shared_weather : bool
        ``False`` (default): every row draws its own temperature from the
        season, so rows are independent. ``True``: one weather draw per day,
        shared by all the rows of that day (rows of a day are then dependent).

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

    if shared_weather:   # one draw per day (sd 3) plus a little per row (sd 1)
        weather = (SUMMER_MEAN + rng.normal(0, 3, days))[day] + rng.normal(0, 1.0, n)
    else:                # the same spread, drawn afresh for every row
        weather = SUMMER_MEAN + rng.normal(0, np.sqrt(3.0**2 + 1.0**2), n)
    temperature = np.round(weather, 1)
    humidity = np.round(np.clip(rng.normal(68, 10, n) - 0.8 * (temperature - 21), 15, 100), 1)
    is_weekend = date.day_of_week.to_numpy() >= 5
    promotion = rng.random(n) < 0.15
    price = np.round(rng.choice([3.5, 4.0, 4.5, 5.0], size=n, p=[0.2, 0.4, 0.3, 0.1]), 2)

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
        }
    )
    frame["cones_sold"] = rng.poisson(expected_cones(frame)).astype(np.int64)
    for offset, name in enumerate(scenarios, start=1):
        frame = DRIFT_SCENARIOS[name](frame, seed + 1000 * offset)
    return frame


def ice_cream_windows(
    n: int = 1000,
    seed: int = 42,
    *,
    start: str = "2024-06-01",
    days: int = 28,
    drift: bool | str | Iterable[str] = True,
    shared_weather: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lab's two windows: a clean ``reference`` and the ``current`` days after it.

    The current window is drawn with another seed (so even without drift it
    differs row by row, as real weeks do) and then drifted as ``drift`` says.
    Both are ``days`` long (four whole weeks by default, so they have the same
    share of weekend days); ``shared_weather`` is passed to both (see
    :func:`ice_cream_sales`).

    Examples
    --------
    >>> reference, current = ice_cream_windows(200, seed=1, drift="units")
    >>> bool(current["temperature"].mean() > reference["temperature"].mean() + 20)
    True
    """
    reference = ice_cream_sales(n, seed, start=start, days=days, shared_weather=shared_weather)
    current_start = str((pd.Timestamp(start) + pd.Timedelta(days=days)).date())
    current = ice_cream_sales(n, seed + 1, start=current_start, days=days, drift=drift,
                              shared_weather=shared_weather)
    return reference, current

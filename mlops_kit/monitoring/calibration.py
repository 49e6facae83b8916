"""How far to trust a drift test: its behaviour on data that did not change.

A drift test is calibrated when, on two windows from one distribution, it
fires about as often as it promises. Three things the monitoring lesson
measures with these functions:

- :func:`clean_false_alarms`: how often each test family fires on two clean
  ice-cream windows, over many seeds. With independent rows the Bonferroni
  promise holds (at most ``alpha``); when every row of a day shares that day's
  weather, it does not, and testing one row per day (daily means) repairs it.
- :func:`js_null`: the Jensen-Shannon distance between two samples of one
  distribution, by sample size, measured and as the chi-square approximation
  of :func:`~.stattests.js_noise` predicts it.
- :func:`chi_square_by_hand`: the chi-square test of a categorical feature
  worked by hand, observed against expected counts, next to scipy's result.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mlops_kit.monitoring.stattests import DEFAULT_THRESHOLDS, NumericComparison, js_noise

__all__ = ["clean_false_alarms", "daily_means", "js_null", "chi_square_by_hand"]

#: the numeric columns the false-alarm study tests (the label is tested as well)
_NUMERIC = ["temperature", "humidity", "price_per_cone"]


def daily_means(frame: pd.DataFrame, columns: Sequence[str], *, time_col: str = "date") -> pd.DataFrame:
    """One row per day: the mean of each column (the unit that is independent when
    every row of a day shares that day's weather)."""
    return frame.groupby(time_col, sort=True)[list(columns)].mean().reset_index()


def clean_false_alarms(n_rows: int, seeds: Iterable[int], *, shared_weather: bool = False,
                       unit: str = "row", tests: Sequence[str] = ("ks", "mannwhitney", "levene"),
                       alpha: float = 0.05) -> pd.Series:
    """Share of seeds in which each test family fires on two *clean* ice-cream windows.

    Parameters
    ----------
    n_rows : int
        Rows per window.
    seeds : iterable of int
        One pair of windows per seed (``ice_cream_windows(n_rows, seed, drift=False)``).
    shared_weather : bool
        Passed to :func:`~mlops_kit.datasets.ice_cream_windows`.
    unit : ``"row"`` or ``"day"``
        Test the rows, or the daily means of the numeric columns and the label.
    tests : sequence of str
        The Monitor's tests to run (p-value families).

    Returns
    -------
    pandas.Series
        Test name -> share of seeds in which at least one column of that family
        drifted (the family-wise false-alarm rate; Bonferroni promises <= alpha).
    """
    from mlops_kit.datasets import ice_cream_windows
    from mlops_kit.exceptions import ConfigError
    from mlops_kit.monitoring.monitor import Monitor

    if unit not in ("row", "day"):
        raise ConfigError(f"unit must be 'row' or 'day'. Got {unit!r} instead.")
    columns = [*_NUMERIC, "cones_sold"]
    fired = {test: 0 for test in tests}
    count = 0
    for seed in seeds:
        reference, current = ice_cream_windows(n_rows, seed=int(seed), drift=False,
                                               shared_weather=shared_weather)
        if unit == "day":
            reference, current = daily_means(reference, columns), daily_means(current, columns)
        results = Monitor(reference, numeric=_NUMERIC, categorical=[], label="cones_sold",
                          tests=list(tests), alpha=alpha).run(current).results
        for test, rows in results.groupby("test"):
            fired[test] += bool(rows["drifted"].any())
        count += 1
    return pd.Series({test: hits / max(count, 1) for test, hits in fired.items()},
                     name="false-alarm rate")


def js_null(sizes: Iterable[int], *, repeats: int = 200, bins: int = 20, seed: int = 0,
            threshold: float = DEFAULT_THRESHOLDS["js"]) -> pd.DataFrame:
    """JS distance between two normal samples of one distribution, per sample size.

    Returns one row per size ``n`` (rows per side): the measured median and
    99th percentile over ``repeats`` pairs, the share of pairs at or above
    ``threshold`` (false alarms), and the approximation's median and 99th
    percentile (:func:`~.stattests.js_noise`).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        n = int(n)
        distances = np.array([NumericComparison(rng.normal(size=n), rng.normal(size=n)).js(threshold, bins).distance
                              for _ in range(repeats)])
        rows.append({"rows per side": n, "median": float(np.median(distances)),
                     "99th percentile": float(np.quantile(distances, 0.99)),
                     "share >= threshold": float(np.mean(distances >= threshold)),
                     "predicted median": js_noise(n, n, bins=bins, q=0.5),
                     "predicted 99th": js_noise(n, n, bins=bins, q=0.99)})
    return pd.DataFrame(rows).set_index("rows per side")


def chi_square_by_hand(reference, current) -> tuple[pd.DataFrame, float, int, float]:
    """The chi-square test of one categorical column, observed against expected counts.

    If both windows came from one distribution, each category's count in a
    window would be about the window's size times the category's share of
    both windows together (the *expected* count). The statistic adds
    ``(observed - expected)**2 / expected`` over every cell; its p-value comes
    from the chi-square distribution with ``categories - 1`` degrees of freedom.

    Returns
    -------
    table : pandas.DataFrame
        One row per category: observed and expected counts per window and the
        cell contributions.
    statistic, dof, p_value
        The test's result (no continuity correction: this is for more than two
        categories, where scipy applies none either).
    """
    from scipy import stats

    observed = pd.concat([pd.Series(reference).value_counts(), pd.Series(current).value_counts()],
                         axis=1, keys=["reference", "current"]).fillna(0).sort_index()
    totals = observed.sum(axis=0)
    shares = observed.sum(axis=1) / totals.sum()
    expected = pd.DataFrame({window: shares * totals[window] for window in observed.columns})
    contributions = (observed - expected) ** 2 / expected
    table = pd.concat({"observed": observed, "expected": expected, "(O-E)²/E": contributions}, axis=1)
    statistic = float(contributions.to_numpy().sum())
    dof = int(len(observed) - 1)
    return table, statistic, dof, float(stats.chi2.sf(statistic, dof))

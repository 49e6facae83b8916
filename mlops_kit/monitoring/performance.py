"""Concept drift: the model got worse, measured once the late labels arrive.

Feature drift says the inputs moved; it cannot say whether the model still
works. When ground truth arrives (days later, for sales or churn), compare the
model's metric on the new window with the metric it had at validation time.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from mlops_kit._html import CardMixin
from mlops_kit.exceptions import ConfigError, DataError

__all__ = ["PerformanceDrift", "performance_drift", "METRICS"]


def _rmse(y, p):
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _mae(y, p):
    return float(np.mean(np.abs(y - p)))


def _r2(y, p):
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / ss if ss else math.nan


def _accuracy(y, p):
    return float(np.mean(y == p))


def _f1(y, p):
    from sklearn.metrics import f1_score

    return float(f1_score(y, p))


#: metric name -> (function(y_true, y_pred), higher_is_better)
METRICS: dict[str, tuple[Callable, bool]] = {
    "rmse": (_rmse, False), "mae": (_mae, False), "r2": (_r2, True),
    "accuracy": (_accuracy, True), "f1": (_f1, True),
}


@dataclass(frozen=True)
class PerformanceDrift(CardMixin):
    """Reference vs current value of a metric and whether it degraded beyond tolerance."""

    metric: str
    reference: float
    current: float
    change: float            # current - reference
    relative_change: float   # change / |reference|
    degradation: float       # relative change in the bad direction (>= 0 is worse)
    tolerance: float
    drifted: bool

    def to_dict(self) -> dict:
        return asdict(self)

    _repr_pretty_ = CardMixin._repr_pretty_  # before the dataclass __repr__ in IPython

    def _card(self):
        rows = [(f"{self.metric} at validation", self.reference), (f"{self.metric} now", self.current),
                ("relative change", f"{self.relative_change:+.1%}"),
                ("tolerated degradation", f"{self.tolerance:.0%}")]
        verdict = (f"degraded by {self.degradation:.1%} > {self.tolerance:.0%}: act (retrain, investigate)"
                   if self.drifted else "within tolerance")
        return f"Performance drift ({self.metric})", rows, verdict, not self.drifted


def performance_drift(reference_metric: float, current_y_true, current_y_pred, *,
                      metric: str | Callable = "rmse", tolerance: float = 0.1,
                      higher_is_better: bool | None = None) -> PerformanceDrift:
    """Has the model's ``metric`` degraded by more than ``tolerance`` (relative)?

    Parameters
    ----------
    reference_metric : float
        The metric at validation time (e.g. logged in the model's MLflow run).
    current_y_true, current_y_pred : array-like
        Late-arriving labels and the predictions made for them.
    metric : str or callable
        A name from :data:`METRICS` or ``f(y_true, y_pred) -> float``.
    tolerance : float
        Allowed relative degradation: 0.1 flags RMSE more than 10 % higher
        (or accuracy more than 10 % lower).
    higher_is_better : bool, optional
        Needed for a callable metric; known for named ones.

    Examples
    --------
    >>> performance_drift(1.0, [0, 0], [1.5, 1.5], metric="rmse").drifted
    True
    """
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ConfigError(f"Unknown metric {metric!r}. Expected one of {sorted(METRICS)} or a callable.")
        fn, better_high = METRICS[metric]
        name = metric
    elif callable(metric):
        if higher_is_better is None:
            raise ConfigError("A callable metric needs higher_is_better=True/False.")
        fn, better_high, name = metric, higher_is_better, getattr(metric, "__name__", "metric")
    else:
        raise ConfigError(f"metric must be a name or a callable. Got {metric!r}.")
    if higher_is_better is not None:
        better_high = higher_is_better
    y, p = np.asarray(current_y_true), np.asarray(current_y_pred)
    if y.shape != p.shape or y.size == 0:
        raise DataError(f"performance_drift needs labels and predictions of the same non-zero length. "
                        f"Got {y.shape} and {p.shape}.")
    current = float(fn(y, p))
    change = current - reference_metric
    relative = (change / abs(reference_metric) if reference_metric
                else 0.0 if change == 0 else math.copysign(math.inf, change))
    degradation = -relative if better_high else relative
    return PerformanceDrift(name, float(reference_metric), current, change, float(relative),
                            float(degradation), tolerance, bool(degradation > tolerance))

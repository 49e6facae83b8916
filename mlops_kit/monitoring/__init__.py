"""Monitoring: data drift, target/prediction drift and concept drift.

- :class:`Monitor` compares a reference with new data (pandas or Spark) and
  returns a :class:`DriftReport` (tidy results, summary stats, Delta, MLflow,
  plots, alerts); :meth:`Monitor.run_windows` does it per time window.
- :mod:`.stattests`: the tests one at a time (KS, Mann-Whitney, Levene,
  Jensen-Shannon, PSI, Wasserstein, chi-square, null rate).
- :func:`performance_drift`: a metric's drop once late labels arrive.
"""
from mlops_kit.monitoring.monitor import Monitor
from mlops_kit.monitoring.performance import PerformanceDrift, performance_drift
from mlops_kit.monitoring.report import DriftReport, WindowedDriftReport
from mlops_kit.monitoring.stattests import (
    DriftTestResult, chi_square_test, js_categorical, js_distance, ks_test, levene_test,
    mann_whitney_test, psi_test, wasserstein_test,
)

__all__ = [
    "Monitor", "DriftReport", "WindowedDriftReport", "DriftTestResult",
    "PerformanceDrift", "performance_drift",
    "ks_test", "mann_whitney_test", "levene_test", "js_distance", "psi_test",
    "wasserstein_test", "chi_square_test", "js_categorical",
]

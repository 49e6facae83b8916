"""Checks of the monitoring lab (``solutions/04-production/01L-monitoring-lab.ipynb``).

The lab's current window of ice-cream sales has three problems injected by
:func:`mlops_kit.datasets.ice_cream_windows`: temperature in Fahrenheit, a
new flavour mix and 15 % missing humidity readings. The checkers receive the
learner's data as context, so they recompute the truth from it.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: the features the lab's drift scenarios break
BROKEN = {"temperature", "flavour", "humidity"}


@checker("monitoring-lab", "ex1", title="Null counts of the current window")
def check_ex1(value: Any, **context: Any) -> CheckResult:
    import pandas as pd

    current = context.get("current")
    if not isinstance(value, pd.Series):
        return CheckResult.fail(f"expected a pandas Series of null counts per column, got {type(value).__name__}",
                                hint="current.isna().sum()")
    expected = current.isna().sum() if current is not None else None
    if expected is not None and not value.reindex(expected.index).fillna(-1).astype(int).equals(expected.astype(int)):
        return CheckResult.fail("the counts differ from the nulls in `current`",
                                hint="count per column over the current window: current.isna().sum()")
    if value.get("humidity", 0) <= 0:
        return CheckResult.fail("humidity shows no nulls", hint="count nulls in the *current* window")
    return CheckResult.ok(f"humidity lost {int(value['humidity'])} readings; no other column has nulls")


@checker("monitoring-lab", "ex2", title="Run the Monitor")
def check_ex2(value: Any, **context: Any) -> CheckResult:
    from mlops_kit.monitoring import DriftReport

    if not isinstance(value, DriftReport):
        return CheckResult.fail(f"expected the DriftReport that Monitor.run returns, got {type(value).__name__}",
                                hint="Monitor(reference, numeric=[...], categorical=[...]).run(current)")
    tested = set(value.results["feature"])
    missing = sorted(BROKEN - tested)
    if missing:
        return CheckResult.fail(f"the report did not test {missing}",
                                hint="pass the numeric and categorical feature columns to the Monitor")
    found = BROKEN & set(value.drifted_features)
    if found != BROKEN:
        return CheckResult.fail(f"only {sorted(found)} drifted; the lab data breaks {sorted(BROKEN)}",
                                hint="run the Monitor on the reference and *current* windows, all tests")
    return CheckResult.ok(f"drift found on {sorted(value.drifted_features)}")


@checker("monitoring-lab", "ex3", title="Which feature changed units?")
def check_ex3(value: Any, **context: Any) -> CheckResult:
    if value == "temperature":
        return CheckResult.ok("temperature's mean jumped by >200 %: Celsius became Fahrenheit")
    return CheckResult.fail(f"{value!r} is not the column with the unit change",
                            hint="look for the largest percent change of the mean in report.summary_stats")


@checker("monitoring-lab", "ex4", title="The Bonferroni-corrected KS threshold")
def check_ex4(value: Any, **context: Any) -> CheckResult:
    report = context.get("report")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return CheckResult.fail(f"expected a number, got {value!r}", hint="alpha / number of numeric features")
    if report is not None:
        expected = float(report.results.loc[report.results["test"] == "ks", "threshold"].iloc[0])
        if abs(value - expected) > 1e-12:
            return CheckResult.fail(f"{value:g} is not the KS threshold the Monitor used ({expected:g})",
                                    hint="divide alpha by the number of numeric columns the KS test ran on")
    return CheckResult.ok(f"each KS p-value is compared with {value:g}, so all features together "
                          "raise a false alarm at most alpha of the time")

"""Checks of the monitoring lab (``solutions/04-production/01L-monitoring-lab.ipynb``).

The lab's current window of ice-cream sales (:func:`mlops_kit.labs.scenarios.
monitoring_windows`) has three problems: a new flavour mix, 15 % missing
humidity readings and one column in other units, *which* column depending on
the learner (``learner_seed``). The checkers receive the learner's data and
seed as context and recompute the truth from them, so a column name copied
from the demo is not an answer.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: the features every learner's current window breaks (plus one unit change)
BROKEN = {"flavour", "humidity"}


def _broken(learner: int | None) -> set[str]:
    from mlops_kit.labs.scenarios import unit_change

    return BROKEN | {unit_change(learner)[0]} if learner is not None else set(BROKEN)


@checker("monitoring-lab", "ex1", title="Null counts of the current window", hints=[
    "A null count is a number per column: how many rows have no value there.",
    "pandas marks missing values with isna(); count them per column of the window you are asked about.",
])
def check_ex1(value: Any, **context: Any) -> CheckResult:
    import pandas as pd

    current = context.get("current")
    if not isinstance(value, pd.Series):
        return CheckResult.fail(f"expected a pandas Series of null counts per column, got {type(value).__name__}",
                                hint="Aggregate per column so that the result is indexed by column name.")
    expected = current.isna().sum() if current is not None else None
    if expected is not None and not value.reindex(expected.index).fillna(-1).astype(int).equals(expected.astype(int)):
        return CheckResult.fail("the counts differ from the nulls in `current`",
                                hint="Counts, not rates, over the current window (not the reference).")
    if value.get("humidity", 0) <= 0:
        return CheckResult.fail("humidity shows no nulls", hint="count nulls in the *current* window")
    return CheckResult.ok(f"humidity lost {int(value['humidity'])} readings; no other column has nulls")


#: the features exercise 2 lists, and the model's label (what it predicts, never an input)
NUMERIC = ("temperature", "humidity", "price_per_cone")
FEATURES = NUMERIC + ("store", "flavour")
LABEL = "cones_sold"


def _window_of(profile: dict, frame: Any) -> bool:
    """Whether the numeric column profiles of a report describe ``frame``."""
    import math

    for name, column in profile.items():
        if not column.numeric or name not in frame:
            continue
        values = frame[name]
        if column.n + column.nulls != len(values) or column.nulls != int(values.isna().sum()):
            return False
        mean = column.stats.get("mean")
        if mean is not None and not math.isclose(mean, float(values.mean()), rel_tol=1e-6, abs_tol=1e-9):
            return False
    return True


@checker("monitoring-lab", "ex2", title="Run the Monitor", hints=[
    "A Monitor is built on the window you trust and run on the window you doubt.",
    "Give it every numeric and categorical feature the exercise lists, and the current window to run on.",
])
def check_ex2(value: Any, *, learner: int | None = None, reference: Any = None, current: Any = None,
              **context: Any) -> CheckResult:
    from mlops_kit.monitoring import DriftReport

    if not isinstance(value, DriftReport):
        return CheckResult.fail(f"expected the DriftReport that Monitor.run returns, got {type(value).__name__}",
                                hint="Monitor(reference, numeric=[...], categorical=[...]).run(current)")
    if reference is None or current is None:
        return CheckResult.fail("the check needs your windows: pass reference=reference, current=current",
                                hint="Call lab.check as the cell shows.")
    tested = set(value.results["feature"])
    if LABEL in tested or (value.results["kind"] != "feature").any():
        return CheckResult.fail(f"the report tests {LABEL!r}, the label the model predicts: a change "
                                "there is judged on fresh labels with the model's error, not as an "
                                "input drift, and it spends a share of alpha meant for the features",
                                hint="List the feature columns yourself instead of letting the "
                                     "Monitor take every column.")
    unlisted = sorted(tested - set(FEATURES))
    if unlisted:
        return CheckResult.fail(f"the report tests {unlisted}, which the exercise did not list",
                                hint="Test exactly the numeric and categorical features listed.")
    broken = _broken(learner)
    missing = sorted(set(FEATURES) - tested)
    if missing:
        return CheckResult.fail(f"the report did not test {missing}",
                                hint="pass the numeric and categorical feature columns to the Monitor")
    as_numbers = set(value.results.loc[value.results["test"] == "ks", "feature"])
    if as_numbers != set(NUMERIC):
        return CheckResult.fail(f"the report tests {sorted(set(NUMERIC) - as_numbers)} as categories "
                                f"and {sorted(as_numbers - set(NUMERIC))} as numbers",
                                hint="A measurement goes in numeric=[...], a label of a group in "
                                     "categorical=[...], as the exercise lists them.")
    if not (_window_of(value.reference_profile, reference) and _window_of(value.current_profile, current)):
        swapped = (_window_of(value.reference_profile, current)
                   and _window_of(value.current_profile, reference))
        return CheckResult.fail("the report compares your windows the wrong way round: its reference "
                                "is the current window" if swapped else
                                "the report was not computed on your reference and current windows",
                                hint="Which window did the model learn from? That one is the "
                                     "Monitor's reference.")
    found = broken & set(value.drifted_features)
    if found != broken:
        return CheckResult.fail(f"only {len(found)} of the {len(broken)} broken features drifted in "
                                f"this report",
                                hint="Run it on the current window, with every test and the lab's alpha.")
    return CheckResult.ok(f"drift found on {sorted(value.drifted_features)}")


@checker("monitoring-lab", "ex3", title="Which feature changed units?", hints=[
    "A unit change moves a column's mean by a large factor, up or down.",
    "Rank the means' percent changes by their size, whatever their sign, in *your* report.",
])
def check_ex3(value: Any, *, reference: Any = None, current: Any = None, **context: Any) -> CheckResult:
    if not isinstance(value, str):
        return CheckResult.fail(f"expected a column name (a str), got {type(value).__name__}",
                                hint="Take the feature column of the row you picked.")
    if reference is None or current is None:
        return CheckResult.fail("the check needs your windows: pass reference=reference, current=current",
                                hint="Call lab.check as the cell shows.")
    numeric = [c for c in ("temperature", "humidity", "price_per_cone") if c in current]
    change = {c: abs(current[c].mean() / reference[c].mean() - 1) for c in numeric}
    expected = max(change, key=change.get)
    if value == expected:
        return CheckResult.ok(f"{expected}'s mean changed by {change[expected]:.0%}: other units")
    if value not in change:
        return CheckResult.fail(f"{value!r} is not one of the numeric features the Monitor tested",
                                hint="Look at report.summary_stats, rows whose stat is the mean.")
    return CheckResult.fail(f"the mean of {value!r} changed by {change[value]:.0%} in your data; another "
                            f"feature's changed more",
                            hint="A fall to a hundredth is as large a change as a rise a hundredfold: "
                                 "compare sizes, not signed values.")


#: the decimals a report's table shows a threshold with (pandas prints six)
PRINTED_PRECISION = 1e-6


@checker("monitoring-lab", "ex4", title="The Bonferroni-corrected KS threshold", hints=[
    "Bonferroni splits one alpha over the tests of one family.",
    "The KS family is the numeric features only; the categorical ones get chi-square.",
])
def check_ex4(value: Any, **context: Any) -> CheckResult:
    report = context.get("report")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return CheckResult.fail(f"expected a number, got {value!r}",
                                hint="The threshold is a probability computed from alpha.")
    if report is not None:
        expected = float(report.results.loc[report.results["test"] == "ks", "threshold"].iloc[0])
        # the report prints thresholds to six decimals: a value read off it is right
        if abs(value - expected) > PRINTED_PRECISION / 2 + 1e-12:
            return CheckResult.fail(f"{value:g} is not the KS threshold the Monitor used "
                                    f"({'larger' if value > expected else 'smaller'} than it)",
                                    hint="Count only the features the KS test ran on.")
    return CheckResult.ok(f"each KS p-value is compared with {value:g}, so all features together "
                          "raise a false alarm at most alpha of the time")


#: the triage menu of exercise 5: what a team can do about a drifted feature
TRIAGE_ACTIONS = {
    "fix_pipeline": "the data is wrong: fix how it is produced and backfill; do not retrain on it",
    "retrain_if_error_grows": "the world changed: measure the error on fresh labels, retrain on "
                              "recent data if it grew",
    "rollback": "serve the previous model version",
    "no_action": "nothing to do",
}

#: why an action is wrong for each kind of problem (shown on a wrong choice)
_WRONG_FOR_A_DATA_BUG = {
    "retrain_if_error_grows": "retraining on these rows would teach the model the bug, and the "
                              "next fix upstream would break it again",
    "rollback": "the previous model reads the same broken column",
    "no_action": "the model is reading wrong inputs right now",
}
_WRONG_FOR_A_REAL_CHANGE = {
    "fix_pipeline": "nothing upstream produced these values wrongly: customers really changed",
    "rollback": "the previous model was trained on the old world too",
    "no_action": "a real change can still make the model worse; someone has to look at the error",
}


#: a feature the learner's report flagged although nothing was planted in it (a test fires
#: by chance about alpha of the time): watching the error or doing nothing yet are fair
_WRONG_FOR_A_CHANCE_ALARM = {
    "fix_pipeline": "nothing about how this column is produced changed: its values come from the "
                    "same process as the reference, and a test fires by chance now and then",
    "rollback": "nothing suggests the current model is worse than the previous one",
}


@checker("monitoring-lab", "ex5", title="Decide what to do about each problem", hints=[
    "Ask of each drifted feature: did the world change, or did the data break on its way to you?",
    "Nulls from a sensor and a column in other units are not the world changing; a new taste "
    "in flavours is.",
])
def check_ex5(value: Any, *, learner: int | None = None, report: Any = None,
              **context: Any) -> CheckResult:
    if not isinstance(value, dict):
        return CheckResult.fail(f"expected a dict of feature -> action, got {type(value).__name__}",
                                hint="One key per problem feature, one TRIAGE_ACTIONS key as each value.")
    unknown = sorted(str(a) for a in value.values() if a not in TRIAGE_ACTIONS)
    if unknown:
        return CheckResult.fail(f"{unknown} is not on the triage menu",
                                hint=f"Choose each action from {sorted(TRIAGE_ACTIONS)}.")
    broken = _broken(learner)
    # every feature the learner's own report flagged needs a decision, even one that
    # drifted by chance (without the report, the planted problems are what counts)
    flagged = set(getattr(report, "drifted_features", None) or ()) | broken
    missing, extra = sorted(flagged - set(value)), sorted(set(value) - flagged)
    if missing:
        return CheckResult.fail(f"{len(missing)} of the problems your report found has no decision",
                                hint="Every feature that drifted in *your* report needs an action, "
                                     "including the one whose units changed.")
    if extra:
        return CheckResult.fail(f"{extra} did not drift in your data",
                                hint="Decide only about the features your report flagged.")
    for feature in sorted(flagged - broken):
        wrong = _WRONG_FOR_A_CHANCE_ALARM.get(value[feature])
        if wrong:
            return CheckResult.fail(f"{value[feature]!r} for {feature!r}: {wrong}",
                                    hint="Compare how far this feature moved with how far the "
                                         "broken ones did.")
    for feature in sorted(broken):
        action = value[feature]
        real_change = feature == "flavour"
        wrong = (_WRONG_FOR_A_REAL_CHANGE if real_change else _WRONG_FOR_A_DATA_BUG).get(action)
        if wrong:
            return CheckResult.fail(f"{action!r} for {feature!r}: {wrong}",
                                    hint="Work out first whether this drift is a data bug or a "
                                         "real change.")
    return CheckResult.ok("data bugs get fixed where the data is made; the real change gets "
                          "watched on fresh labels before anyone retrains")

"""Checker mutants of the monitoring lab (``monitoring-lab`` ex1-ex5).

The windows are those of ``tests/test_monitoring_lab.py`` (a learner whose pipeline
changed the units of ``price_per_cone``, not the demo's ``temperature``).
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations

LAB = "monitoring-lab"


@functools.lru_cache(maxsize=1)
def _data():
    from test_monitoring_lab import NUMERIC, PRICE_LEARNER

    from mlops_kit.labs.scenarios import monitoring_windows
    from mlops_kit.monitoring import Monitor

    reference, current = monitoring_windows(1500, 7, learner=PRICE_LEARNER)
    report = Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour"]).run(current)
    return reference, current, report


def _monitor(reference, current, *, numeric=None, categorical=("store", "flavour"), **options):
    from test_monitoring_lab import NUMERIC

    from mlops_kit.monitoring import Monitor

    return Monitor(reference, numeric=list(NUMERIC if numeric is None else numeric),
                   categorical=list(categorical), **options).run(current)


@mutations(LAB, "ex1")
def _ex1():
    reference, current, _ = _data()
    answer = current.isna().sum()
    return answer, {"current": current}, [
        Mutant("the reference window's nulls", LISTED, lambda a: reference.isna().sum()),
        Mutant("rates, not counts", LISTED, lambda a: current.isna().mean()),
        Mutant("a list of counts", LISTED, lambda a: a.tolist()),
        Mutant("non-null counts", GENERIC, lambda a: current.notna().sum()),
        Mutant("humidity off by one", GENERIC, lambda a: a.add(a.index.isin(["humidity"]).astype(int))),
        Mutant("humidity only", GENERIC, lambda a: a[a > 0]),
        Mutant("the total, not per column", GENERIC, lambda a: int(a.sum())),
        Mutant("no nulls anywhere", GENERIC, lambda a: a * 0),
        Mutant("a one-column frame", GENERIC, lambda a: a.to_frame("nulls")),
    ]


@mutations(LAB, "ex2")
def _ex2():
    from test_monitoring_lab import NUMERIC, PRICE_LEARNER

    from mlops_kit.labs.scenarios import monitoring_windows
    from mlops_kit.monitoring import Monitor

    reference, current, report = _data()
    other_ref, other_cur = monitoring_windows(1500, 8, learner=PRICE_LEARNER)
    context = {"learner": PRICE_LEARNER, "reference": reference, "current": current}
    rest = [c for c in NUMERIC if c != "humidity"]
    return report, context, [
        Mutant("reference and current swapped", LISTED, lambda a: _monitor(current, reference)),
        Mutant("every column, the label included", LISTED,
               lambda a: Monitor(reference).run(current)),
        Mutant("the label as a numeric feature", LISTED,
               lambda a: _monitor(reference, current, numeric=NUMERIC + ["cones_sold"])),
        Mutant("the label passed as label=", LISTED,
               lambda a: _monitor(reference, current, label="cones_sold")),
        Mutant("the reference against itself", LISTED, lambda a: _monitor(reference, reference)),
        Mutant("the categorical features left out", LISTED,
               lambda a: _monitor(reference, current, categorical=())),
        Mutant("the results table, not the report", LISTED, lambda a: a.results),
        Mutant("another learner's windows", GENERIC, lambda a: _monitor(other_ref, other_cur)),
        Mutant("the current window against itself", GENERIC, lambda a: _monitor(current, current)),
        Mutant("store dropped", GENERIC, lambda a: _monitor(reference, current, categorical=("flavour",))),
        Mutant("temperature dropped", GENERIC, lambda a: _monitor(reference, current, numeric=rest)),
        Mutant("humidity tested as a category", GENERIC,
               lambda a: _monitor(reference, current, numeric=rest,
                                  categorical=("store", "flavour", "humidity"))),
        Mutant("an unlisted column added", GENERIC,
               lambda a: _monitor(reference, current, categorical=("store", "flavour", "promotion"))),
        Mutant("only the KS and chi-square tests", GENERIC,
               lambda a: _monitor(reference, current, tests=["ks", "chi2"])),
        Mutant("the drifted features, not the report", GENERIC, lambda a: a.drifted_features),
    ]


@mutations(LAB, "ex3")
def _ex3():
    from test_monitoring_lab import NUMERIC

    reference, current, report = _data()
    means = report.summary_stats.query("stat == 'mean'")
    answer = means.loc[means["pct_change"].abs().idxmax(), "feature"]
    signed = means.loc[means["pct_change"].idxmin(), "feature"]
    others = [c for c in NUMERIC if c != answer]
    return answer, {"reference": reference, "current": current}, [
        Mutant("the demo's temperature", LISTED, lambda a: "temperature"),
        Mutant("the smallest signed change", LISTED, lambda a: signed if signed != a else others[0]),
        Mutant("the label", LISTED, lambda a: "cones_sold"),
        Mutant("a list", LISTED, lambda a: [a]),
        *[Mutant(f"{c} instead", GENERIC, lambda a, c=c: c) for c in others],
        Mutant("capitalised", GENERIC, lambda a: a.capitalize()),
        Mutant("the row of summary_stats", GENERIC, lambda a: means[means["feature"] == a]),
        Mutant("the broken sensor's humidity", GENERIC, lambda a: "humidity"),
    ]


@mutations(LAB, "ex4")
def _ex4():
    *_, report = _data()
    return 0.05 / 3, {"report": report}, [
        Mutant("no correction", LISTED, lambda a: 0.05),
        Mutant("all five features", LISTED, lambda a: 0.05 / 5),
        Mutant("the categorical family", LISTED, lambda a: 0.05 / 2),
        Mutant("the label counted in the family", GENERIC, lambda a: 0.05 / 4),
        Mutant("every column of the window", GENERIC, lambda a: 0.05 / 8),
        Mutant("Sidak instead of Bonferroni", GENERIC, lambda a: 1 - (1 - 0.05) ** (1 / 3)),
        Mutant("multiplied, not divided", GENERIC, lambda a: 0.05 * 3),
        Mutant("alpha 0.1", GENERIC, lambda a: 0.1 / 3),
        Mutant("a neighbouring value, 0.016668", GENERIC, lambda a: 0.016668),
        Mutant("a neighbouring value, 0.016665", GENERIC, lambda a: 0.016665),
        Mutant("a formula as text", GENERIC, lambda a: "alpha / 3"),
    ]


@mutations(LAB, "ex5")
def _ex5():
    from test_monitoring_lab import PRICE_LEARNER, RIGHT_TRIAGE

    *_, report = _data()
    flagged = report.drifted_features
    answer = {f: "fix_pipeline" if f in {"humidity", "price_per_cone"} else "retrain_if_error_grows"
              for f in flagged}
    assert set(answer) == set(RIGHT_TRIAGE)
    return answer, {"learner": PRICE_LEARNER, "report": report}, [
        Mutant("retrain on the unit change", LISTED, lambda a: {**a, "price_per_cone": "retrain_if_error_grows"}),
        Mutant("ignore the broken sensor", LISTED, lambda a: {**a, "humidity": "no_action"}),
        Mutant("fix the real change upstream", LISTED, lambda a: {**a, "flavour": "fix_pipeline"}),
        Mutant("roll back the unit change", LISTED, lambda a: {**a, "price_per_cone": "rollback"}),
        Mutant("the demo's temperature typed in", LISTED,
               lambda a: {"flavour": "retrain_if_error_grows", "humidity": "fix_pipeline",
                          "temperature": "fix_pipeline"}),
        Mutant("a feature that did not drift", LISTED, lambda a: {**a, "store": "no_action"}),
        Mutant("every feature fixed upstream", GENERIC, lambda a: dict.fromkeys(a, "fix_pipeline")),
        Mutant("every feature retrained", GENERIC, lambda a: dict.fromkeys(a, "retrain_if_error_grows")),
        Mutant("nothing done", GENERIC, lambda a: dict.fromkeys(a, "no_action")),
        Mutant("one feature dropped", GENERIC, lambda a: dict(list(a.items())[1:])),
        Mutant("an action off the menu", GENERIC, lambda a: {**a, "humidity": "impute"}),
        Mutant("a list of pairs", GENERIC, lambda a: list(a.items())),
        Mutant("actions mapped to features", GENERIC, lambda a: {v: k for k, v in a.items()}),
    ]

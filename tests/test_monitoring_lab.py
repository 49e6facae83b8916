"""Checkers of the monitoring lab: the solution passes, plausible mistakes fail with a pointer."""
from __future__ import annotations

import pytest

from mlops_kit.labs.checks.monitoring_lab import check_ex1, check_ex2, check_ex3, check_ex4, check_ex5
from mlops_kit.labs.registry import get
from mlops_kit.labs.scenarios import learner_seed, monitoring_windows, unit_change
from mlops_kit.monitoring import Monitor

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("monitoring-lab", "ex1"), ("monitoring-lab", "ex2"),
                    ("monitoring-lab", "ex3"), ("monitoring-lab", "ex4"),
                    ("monitoring-lab", "ex5")]

NUMERIC = ["temperature", "humidity", "price_per_cone"]
#: a learner whose pipeline changed the units of price_per_cone, not of temperature as in the demo
PRICE_LEARNER = 1


@pytest.fixture(scope="module")
def windows():
    assert unit_change(PRICE_LEARNER)[0] == "price_per_cone"
    return monitoring_windows(1500, 7, learner=PRICE_LEARNER)


@pytest.fixture(scope="module")
def report(windows):
    reference, current = windows
    return Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour"]).run(current)


def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3", "ex4", "ex5"):
        assert len(get("monitoring-lab", exercise).hints) >= 2


def test_the_unit_change_differs_between_learners():
    columns = {unit_change(learner_seed("monitoring-lab", u))[0] for u in ("ada", "bob", "cyd", "dan")}
    assert len(columns) > 1


def test_ex1_null_counts(windows):
    reference, current = windows
    assert check_ex1(current.isna().sum(), current=current).passed
    for wrong in (reference.isna().sum(), current.isna().mean(), [0, 1]):  # window, rates, type
        result = check_ex1(wrong, current=current)
        assert not result.passed


def test_ex1_failure_never_prints_the_answer(windows):
    """Before: the hint was the solution's code, current.isna().sum()."""
    reference, current = windows
    for wrong in (reference.isna().sum(), [0, 1]):
        result = check_ex1(wrong, current=current)
        assert "isna()" not in (result.hint or "") and "isna()" not in result.message


def test_ex2_monitor_report(windows, report):
    reference, current = windows
    mine = {"learner": PRICE_LEARNER, "reference": reference, "current": current}
    assert check_ex2(report, **mine).passed
    same = Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour"]).run(reference)
    assert not check_ex2(same, **mine).passed                            # reference against itself
    only_numeric = Monitor(reference, numeric=NUMERIC, categorical=[]).run(current)
    failed = check_ex2(only_numeric, **mine)
    assert not failed.passed and "flavour" in failed.message             # a feature left out
    no_price = Monitor(reference, numeric=["temperature", "humidity"],
                       categorical=["store", "flavour"]).run(current)
    assert "price_per_cone" in check_ex2(no_price, **mine).message
    assert not check_ex2(report.results, **mine).passed                  # the table, not the report


def test_ex2_rejects_swapped_windows(windows):
    """Before: a Monitor built on the current window and run on the reference passed."""
    reference, current = windows
    swapped = Monitor(current, numeric=NUMERIC, categorical=["store", "flavour"]).run(reference)
    assert set(swapped.drifted_features) >= {"flavour", "humidity", "price_per_cone"}  # it drifts too
    result = check_ex2(swapped, learner=PRICE_LEARNER, reference=reference, current=current)
    assert not result.passed and "wrong way round" in result.message


@pytest.mark.parametrize("monitor", [
    lambda ref: Monitor(ref),                                                   # every column
    lambda ref: Monitor(ref, numeric=NUMERIC + ["cones_sold"], categorical=["store", "flavour"]),
    lambda ref: Monitor(ref, numeric=NUMERIC, categorical=["store", "flavour"], label="cones_sold"),
], ids=["every-column", "label-as-a-feature", "label-kind"])
def test_ex2_rejects_a_monitor_that_tests_the_label(windows, monitor):
    """Before: Monitor(reference) tested every column, the label cones_sold included, and passed."""
    reference, current = windows
    result = check_ex2(monitor(reference).run(current), learner=PRICE_LEARNER,
                       reference=reference, current=current)
    assert not result.passed and "cones_sold" in result.message


def test_ex2_rejects_a_listed_feature_left_out_or_tested_as_a_category(windows):
    """Before: only the broken features had to be tested; store could be left out, and humidity
    tested with the categorical tests."""
    reference, current = windows
    mine = {"learner": PRICE_LEARNER, "reference": reference, "current": current}
    no_store = Monitor(reference, numeric=NUMERIC, categorical=["flavour"]).run(current)
    result = check_ex2(no_store, **mine)
    assert not result.passed and "store" in result.message
    as_category = Monitor(reference, numeric=["temperature", "price_per_cone"],
                          categorical=["store", "flavour", "humidity"]).run(current)
    result = check_ex2(as_category, **mine)
    assert not result.passed and "as categories" in result.message


def test_ex2_rejects_unlisted_columns_and_another_learners_windows(windows):
    reference, current = windows
    extra = Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour", "promotion"]).run(current)
    result = check_ex2(extra, learner=PRICE_LEARNER, reference=reference, current=current)
    assert not result.passed and "promotion" in result.message
    other_ref, other_cur = monitoring_windows(1500, 8, learner=PRICE_LEARNER)
    theirs = Monitor(other_ref, numeric=NUMERIC, categorical=["store", "flavour"]).run(other_cur)
    result = check_ex2(theirs, learner=PRICE_LEARNER, reference=reference, current=current)
    assert not result.passed and "not computed on your" in result.message
    assert "pass reference=reference" in check_ex2(theirs, learner=PRICE_LEARNER).message


def test_ex3_finds_this_learners_unit_change(windows, report):
    reference, current = windows
    means = report.summary_stats.query("stat == 'mean'")
    answer = means.loc[means["pct_change"].abs().idxmax(), "feature"]
    assert answer == "price_per_cone"
    assert check_ex3(answer, reference=reference, current=current).passed


def test_ex3_rejects_the_column_typed_in_from_the_demo(windows):
    """Before: "temperature" passed for everyone, whatever their data."""
    reference, current = windows
    result = check_ex3("temperature", reference=reference, current=current)
    assert not result.passed and "another feature's changed more" in result.message
    assert "price_per_cone" not in result.message + (result.hint or "")


def test_ex3_rejects_the_largest_signed_change_and_non_features():
    reference, current = monitoring_windows(1500, 7, learner=2)  # humidity fell to a hundredth
    signed = (current[NUMERIC].mean() / reference[NUMERIC].mean() - 1).idxmax()
    assert signed != "humidity"
    assert check_ex3("humidity", reference=reference, current=current).passed
    assert "sizes" in check_ex3(signed, reference=reference, current=current).hint
    assert "not one of the numeric" in check_ex3("cones_sold", reference=reference, current=current).message
    assert not check_ex3(["humidity"], reference=reference, current=current).passed


def test_ex3_names_the_wrong_feature_in_plain_words():
    reference, current = monitoring_windows(1500, 7, learner=2)  # humidity fell to a hundredth
    message = check_ex3("temperature", reference=reference, current=current).message
    assert "'temperature'" in message and "''s" not in message and "'s mean" not in message


def test_ex4_bonferroni_threshold(report):
    assert check_ex4(0.05 / 3, report=report).passed
    for wrong in (0.05, 0.05 / 5, 0.05 / 2):  # no correction, all five features, categorical only
        result = check_ex4(wrong, report=report)
        assert not result.passed and "0.0166667" not in result.message + result.hint
    assert not check_ex4("alpha", report=report).passed


def test_ex4_accepts_the_threshold_as_the_report_prints_it(report):
    """Before: 0.016667, read off the learner's own report, failed as "larger than it"."""
    shown = report.results.query("test == 'ks'").to_string()
    assert "0.016667" in shown
    assert check_ex4(0.016667, report=report).passed
    assert check_ex4("0.016667", report=report).passed


@pytest.mark.parametrize("wrong", [0.05, 0.0167, 0.01667, 0.016668, 0.016665, 0.0125, 0.025, 0.01])
def test_ex4_still_rejects_neighbouring_thresholds(report, wrong):
    assert not check_ex4(wrong, report=report).passed


#: the right triage for PRICE_LEARNER, whose price_per_cone changed units
RIGHT_TRIAGE = {"flavour": "retrain_if_error_grows", "humidity": "fix_pipeline",
                "price_per_cone": "fix_pipeline"}


def test_ex5_accepts_fixing_data_bugs_and_watching_the_real_change():
    assert check_ex5(RIGHT_TRIAGE, learner=PRICE_LEARNER).passed


@pytest.mark.parametrize("wrong, message", [
    ({**RIGHT_TRIAGE, "price_per_cone": "retrain_if_error_grows"}, "teach the model the bug"),
    ({**RIGHT_TRIAGE, "humidity": "no_action"}, "reading wrong inputs"),
    ({**RIGHT_TRIAGE, "flavour": "fix_pipeline"}, "customers really changed"),
    ({**RIGHT_TRIAGE, "price_per_cone": "rollback"}, "same broken column"),
    ({"flavour": "retrain_if_error_grows", "humidity": "fix_pipeline",
      "temperature": "fix_pipeline"}, "has no decision"),  # the demo's unit change, typed in
    ({**RIGHT_TRIAGE, "store": "no_action"}, "did not drift"),
    ({**RIGHT_TRIAGE, "humidity": "impute"}, "not on the triage menu"),
    ([("flavour", "retrain_if_error_grows")], "expected a dict"),
])
def test_ex5_rejects_wrong_decisions_without_naming_the_right_one(wrong, message):
    result = check_ex5(wrong, learner=PRICE_LEARNER)
    assert not result.passed and message in result.message
    for action in ("fix_pipeline", "retrain_if_error_grows"):
        if action not in str(wrong):
            assert action not in result.message and action not in (result.hint or "")


@pytest.fixture(scope="module")
def chance_alarm():
    """A price learner whose report also flags temperature, where nothing was planted."""
    reference, current = monitoring_windows(1500, 28, learner=PRICE_LEARNER)
    report = Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour"]).run(current)
    assert "temperature" in report.drifted_features
    return report


@pytest.mark.parametrize("action", ["retrain_if_error_grows", "no_action"])
def test_ex5_accepts_a_decision_about_every_feature_the_report_flagged(chance_alarm, action):
    """Before: doing what the exercise says (decide about every flagged feature) failed with
    "['temperature'] did not drift in your data"."""
    answer = {**RIGHT_TRIAGE, "temperature": action}
    assert check_ex5(answer, learner=PRICE_LEARNER, report=chance_alarm).passed


def test_ex5_with_the_report_still_rejects_wrong_answers(chance_alarm):
    missing = check_ex5(RIGHT_TRIAGE, learner=PRICE_LEARNER, report=chance_alarm)
    assert not missing.passed and "has no decision" in missing.message
    fixed = check_ex5({**RIGHT_TRIAGE, "temperature": "fix_pipeline"}, learner=PRICE_LEARNER,
                      report=chance_alarm)
    assert not fixed.passed and "by chance" in fixed.message
    assert not check_ex5({**RIGHT_TRIAGE, "temperature": "no_action", "store": "no_action"},
                         learner=PRICE_LEARNER, report=chance_alarm).passed
    assert not check_ex5({**RIGHT_TRIAGE, "temperature": "no_action", "humidity": "no_action"},
                         learner=PRICE_LEARNER, report=chance_alarm).passed

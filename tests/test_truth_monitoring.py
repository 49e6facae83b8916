"""The monitoring lesson (04.1) tells the truth about its statistics, on its own data.

Each test pins one mistake that a reading of the executed lesson found:

- the Bonferroni promise (each family's false-alarm rate at most alpha) must hold
  on two clean ``ice_cream_windows``, which needs independent rows;
- a Jensen-Shannon distance on few rows is mostly noise: the Monitor must not
  call it drift, and says why;
- the label-drift scenario must move the label without moving the inputs the
  monitor tests (resampling hot days moved temperature: covariate shift);
- concept drift: the input tests miss it, the label test sees it;
- the error growth is attributed to its causes, and ``is_weekend`` is explained;
- the slides' chi-square example, worked by hand, equals scipy's;
- every number in the lesson's prose goes through a claim.

``MLOPS_KIT_TRUTH_MONITORING_NB`` points the notebook tests at another copy of the
lesson (e.g. the committed one) to show what they catch.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy import stats

from mlops_kit.datasets import ice_cream_sales, ice_cream_windows
from mlops_kit.monitoring import Monitor, js_distance
from notebook_runner import REPO
from test_claims import unbound_numbers

NOTEBOOK = Path(os.environ.get("MLOPS_KIT_TRUTH_MONITORING_NB",
                               REPO / "notebooks" / "04-production" / "01-monitoring.ipynb"))
P_VALUE_FAMILIES = ["ks", "mannwhitney", "levene", "chi2", "nulls"]
ALPHA = 0.05


@pytest.fixture(scope="module")
def lesson():
    return nbformat.read(NOTEBOOK, as_version=4)


def _claim_ids(nb) -> set[str]:
    import re

    return {m.group(1) for cell in nb.cells if cell.cell_type == "code"
            for m in re.finditer(r"claim\(\s*\"([^\"]+)\"", cell.source)}


def _markdown(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


# ------------------------------------------------ the Bonferroni promise (independent rows)
def test_each_p_value_family_keeps_its_false_alarm_rate_on_clean_windows():
    """200 pairs of clean windows: each family fires in at most 2 * alpha of them.

    With a true rate of alpha (Bonferroni's bound) more than 20 alarms in 200 pairs
    happens with probability 0.002; when every row of a day shared its weather, the
    KS family fired in nearly every pair and the weekend share of 30-day windows
    made chi-square fire in every pair.
    """
    seeds = range(3000, 3200)
    fired = dict.fromkeys(P_VALUE_FAMILIES, 0)
    for seed in seeds:
        reference, current = ice_cream_windows(600, seed=seed, drift=False)
        results = Monitor(reference, label="cones_sold", tests=P_VALUE_FAMILIES,
                          alpha=ALPHA).run(current).results
        for family, rows in results.groupby("test"):
            fired[family] += bool(rows["drifted"].any())
    limit = 2 * ALPHA * len(seeds)
    assert all(hits <= limit for hits in fired.values()), fired


def test_rows_that_share_a_days_weather_break_the_promise_and_daily_means_repair_it():
    """The lesson's live illustration: dependent rows fire, independent units do not."""
    from mlops_kit.monitoring.calibration import clean_false_alarms

    seeds = range(40)
    shared = clean_false_alarms(1000, seeds, shared_weather=True, tests=["ks"])["ks"]
    daily = clean_false_alarms(1000, seeds, shared_weather=True, unit="day", tests=["ks"])["ks"]
    independent = clean_false_alarms(1000, seeds, tests=["ks"])["ks"]
    bound = stats.binom.ppf(0.999, len(seeds), ALPHA) / len(seeds)
    assert shared >= 0.5
    assert daily <= bound and independent <= bound


def test_the_lesson_teaches_the_independence_assumption(lesson):
    assert "bonferroni-needs-independent-rows" in _claim_ids(lesson)
    assert "independent" in _markdown(lesson)


# ------------------------------------------------------------ JS on few rows
def test_js_on_too_few_rows_is_not_called_drift():
    """Two samples of one distribution at 100 rows: the median JS (0.26) is above 0.2."""
    rng = np.random.default_rng(0)
    results = [js_distance(rng.normal(size=100), rng.normal(size=100)) for _ in range(50)]
    assert np.median([r.distance for r in results]) > 0.2      # the noise is real ...
    assert not any(r.drifted for r in results)                  # ... and not drift
    assert all("too few rows" in r.note for r in results)


def test_js_from_the_minimum_rows_rarely_fires_on_unchanged_data():
    from mlops_kit.monitoring.stattests import js_min_rows

    need = js_min_rows(0.2)
    rng = np.random.default_rng(1)
    results = [js_distance(rng.normal(size=need), rng.normal(size=need)) for _ in range(300)]
    assert all(r.note == "" for r in results)
    assert np.mean([r.drifted for r in results]) <= 0.03


def test_the_monitor_reports_an_undecided_js_with_its_minimum():
    reference, current = ice_cream_windows(100, seed=3, drift=False)
    report = Monitor(reference, numeric=["humidity"], categorical=[], tests=["js"]).run(current)
    row = report.results.iloc[0]
    assert not row["drifted"] and "327" in row["note"]
    assert list(report.undecided["feature"]) == ["humidity"]


def test_the_lesson_states_the_js_noise_as_a_claim(lesson):
    assert "stay small" not in _markdown(lesson)
    assert "js-needs-enough-rows" in _claim_ids(lesson)


# ------------------------------------------------------- the label-drift scenario
def test_label_drift_moves_the_label_not_the_monitored_inputs():
    """Over seeds, the monitored inputs stay (at most one chance alarm) and the label always moves."""
    from mlops_kit.monitoring.drift_types import drift_scenarios

    numeric, categorical = ["temperature", "humidity", "price_per_cone"], ["flavour"]
    input_alarms, label_moves, seeds = 0, 0, range(12)
    for seed in seeds:
        month = ice_cream_sales(2000, seed).sample(frac=1.0, random_state=seed).reset_index(drop=True)
        reference, fresh = month.iloc[:1000], month.iloc[1000:].reset_index(drop=True)
        scenarios = drift_scenarios(fresh, seed=seed)
        label_drift = next(frame for name, frame in scenarios.items() if name.startswith("label drift"))
        report = Monitor(reference, numeric=numeric, categorical=categorical, label="cones_sold",
                         tests=["ks", "chi2", "js", "nulls"]).run(label_drift)
        hits = report.results[report.results["drifted"].astype(bool)]
        input_alarms += bool((hits["kind"] == "feature").any())
        label_moves += bool((hits["kind"] == "label").any())
    assert input_alarms <= 1 and label_moves == len(seeds)


def test_the_old_label_drift_name_still_resolves():
    from mlops_kit.monitoring.drift_types import drift_type_table, scenario_name

    assert scenario_name("label drift (more hot days)") in drift_type_table(300, seed=1).index


# ------------------------------------------------------------ concept drift
def test_concept_drift_is_missed_by_input_tests_and_seen_by_the_label_test():
    reference, current = ice_cream_windows(2000, seed=42, drift="label")
    report = Monitor(reference, label="cones_sold").run(current)
    assert report.drifted_features == ["cones_sold"]


def test_the_lesson_says_what_each_test_sees_of_concept_drift(lesson):
    text = _markdown(lesson)
    assert "shows nowhere else" not in text and "invisible to every" not in text
    assert "label" in text and "concept drift is invisible to input tests" in text.lower()


# ---------------------------------------------------- error growth and is_weekend
def test_is_weekend_does_not_drift_between_the_lessons_windows():
    """Four whole weeks each: the same weekend share (30-day windows differ, 10 vs 8 days)."""
    for seed in (42, 7, 11):
        reference, current = ice_cream_windows(2000, seed=seed)
        assert "is_weekend" not in Monitor(reference, label="cones_sold").run(current).drifted_features


def test_the_lesson_attributes_the_error_growth_and_explains_is_weekend(lesson):
    ids = _claim_ids(lesson)
    assert {"error-growth-by-cause", "weekend-share-is-a-calendar-effect"} <= ids


# ------------------------------------------------------ chi-square worked by hand
def test_chi_square_by_hand_equals_scipy_on_the_course_data():
    from mlops_kit.monitoring.calibration import chi_square_by_hand

    reference, current = ice_cream_windows(2000, seed=42)
    table, statistic, dof, p_value = chi_square_by_hand(reference["flavour"], current["flavour"])
    expected = stats.chi2_contingency(table["observed"].T.to_numpy())
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert dof == expected.dof == len(table) - 1
    assert np.allclose(table["expected"].T.to_numpy(), expected.expected_freq)


def test_the_lesson_works_the_chi_square_example(lesson):
    assert "chi-square-by-hand-equals-scipy" in _claim_ids(lesson)


# ------------------------------------------------------------------ claims
def test_the_lessons_prose_types_no_measured_number(lesson):
    assert unbound_numbers(lesson) == []

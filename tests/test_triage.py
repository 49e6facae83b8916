"""Triage (mlops_kit.jobs.triage): a broken pipeline opens an incident, a changed world retrains.

Both cases on the listings the closed loop serves: a unit change upstream
(0-5 stars arriving as a 0-100 score), a null-rate jump and a schema change
must block retraining whatever the error says; a real move of the market,
with the error grown, must retrain; a real move with the error unchanged, or
no labels yet, is watched.
"""
from __future__ import annotations

import pytest

from mlops_kit.datasets import change_units, inject_nulls, listings
from mlops_kit.datasets.market import market_moved
from mlops_kit.exceptions import ConfigError
from mlops_kit.jobs.triage import (
    Finding, open_incident, pipeline_bugs, read_incidents, schema_changes, triage,
)
from mlops_kit.monitoring import Monitor, performance_drift
from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES

FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES


@pytest.fixture(scope="module")
def reference():
    return listings(2000, seed=42)


def _report(reference, current):
    return Monitor(reference, numeric=NUMERIC_FEATURES, categorical=CATEGORICAL_FEATURES,
                   tests=["ks", "chi2", "nulls"]).run(current)


def _worse(growth: float):
    """A PerformanceDrift whose RMSE grew by ``growth`` (relative), tolerance 0.3."""
    return performance_drift(100.0, [0.0], [100.0 * (1 + growth)], metric="rmse", tolerance=0.3)


def test_a_unit_change_is_a_pipeline_bug_and_blocks_retraining(reference) -> None:
    current = change_units(listings(400, seed=8), "review_scores_rating", 20.0)
    decision = triage(_report(reference, current), performance=_worse(50.0))
    assert decision.action == "fix_pipeline" and not decision.retrain
    (finding,) = decision.findings
    assert finding.feature == "review_scores_rating" and finding.kind == "scale change"
    assert "x20" in finding.evidence
    assert "review_scores_rating" in decision.reason and "retraining is blocked" in decision.reason


def test_celsius_arriving_as_fahrenheit_is_a_scale_change() -> None:
    import pandas as pd

    ref = pd.DataFrame({"temperature": [15.0, 20.0, 25.0, 18.0, 22.0] * 40})
    cur = change_units(ref, "temperature", "C->F")
    stats = Monitor(ref, numeric=["temperature"], tests=["ks"]).run(cur).summary_stats
    assert [f.kind for f in pipeline_bugs(stats)] == ["scale change"]


def test_a_null_rate_jump_is_a_pipeline_bug(reference) -> None:
    current = inject_nulls(listings(400, seed=9), "bathrooms", 0.3, seed=1)
    decision = triage(_report(reference, current))
    assert decision.action == "fix_pipeline"
    assert [(f.feature, f.kind) for f in decision.findings] == [("bathrooms", "null-rate jump")]


def test_a_schema_change_is_a_pipeline_bug(reference) -> None:
    current = listings(400, seed=9).drop(columns=["beds"])
    current["bedrooms"] = current["bedrooms"].astype(str)
    found = schema_changes(reference, current, FEATURES)
    assert {(f.feature, f.kind) for f in found} == {("beds", "schema change"), ("bedrooms", "schema change")}
    assert triage(None, schema=found).action == "fix_pipeline"


def test_a_real_market_move_with_a_grown_error_retrains(reference) -> None:
    current = market_moved(listings(400, seed=8), seed=1)
    report = _report(reference, current)
    assert report.drifted and "accommodates" in report.drifted_features
    decision = triage(report, performance=_worse(0.9))
    assert decision.action == "retrain" and decision.retrain and decision.findings == ()
    assert "within a plausible range" in decision.reason and "90%" in decision.reason


def test_a_real_move_is_watched_until_the_error_grows(reference) -> None:
    report = _report(reference, market_moved(listings(400, seed=8), seed=1))
    assert triage(report).action == "watch"
    assert "no labels yet" in triage(report).reason
    assert triage(report, performance=_worse(0.1)).action == "watch"


def test_concept_drift_with_clean_inputs_retrains(reference) -> None:
    decision = triage(_report(reference, listings(400, seed=3)), performance=_worse(0.8))
    assert decision.action == "retrain" and "concept drift" in decision.reason


@pytest.mark.parametrize("seed", range(1, 21))
def test_clean_traffic_raises_no_pipeline_finding(reference, seed) -> None:
    """Sampling noise on clean listings never looks like a broken pipeline."""
    assert pipeline_bugs(_report(reference, listings(400, seed=seed)).summary_stats) == []


def test_nothing_tested_is_no_action() -> None:
    assert triage(None).action == "no_action"


def test_thresholds_are_checked() -> None:
    with pytest.raises(ConfigError, match="scale_factor must be > 1"):
        pipeline_bugs(None, scale_factor=1.0)


def test_an_incident_is_recorded_only_for_a_pipeline_bug(tmp_path) -> None:
    bug = triage(None, schema=[Finding("beds", "schema change", "the column is missing")])
    incident = open_incident(bug, model="dev.me.price", path=tmp_path / "incidents.jsonl")
    assert incident["status"] == "open" and incident["findings"] == [
        "beds: schema change (the column is missing)"]
    assert read_incidents(tmp_path / "incidents.jsonl") == [incident]
    with pytest.raises(ConfigError, match="Only a fix_pipeline decision"):
        open_incident(triage(None), model="m", path=tmp_path / "incidents.jsonl")

"""Each validation check passes on a good model and fails, with a reason, on a bad one."""
from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from mlops_kit._price_model import pip_requirements
from mlops_kit import models
from mlops_kit.exceptions import ConfigError
from mlops_kit.registry.promotion import promote, register
from mlops_kit.registry.validation import (
    CHECKS, CheckOutcome, Thresholds, record_validation, validate_model_version,
)


@pytest.fixture(scope="module")
def data():
    return models.listings_frame(800, 42), models.listings_frame(300, 7)


def _register(workspace, frame, *, features=None, description="ridge on listing features",
              alpha=1.0, example=True):
    features = features or models.FEATURES
    model = models.train_price_model(frame, features=features, alpha=alpha)
    workspace.set_experiment("price")
    with mlflow.start_run():
        if example:
            info = models.log_price_model(model, frame, features=features)
        else:
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=models.trusted_types(model),
                pip_requirements=pip_requirements())
    return register(info.model_uri, workspace.model_name("price"), description=description)


def _by_name(report):
    return {c.name: c for c in report.checks}


def test_good_model_passes_every_check_and_becomes_challenger(workspace, data):
    train, holdout = data
    version = _register(workspace, train)
    report = validate_model_version(version.name, version.version, holdout)
    assert [c.name for c in report.checks] == list(CHECKS)
    assert report.passed, report.to_frame()
    tags = record_validation(report)
    assert tags["validation.status"] == "passed"
    assert str(MlflowClient().get_model_version_by_alias(version.name, "challenger").version) == "1"


def test_wrong_signature_fails_with_reasons_and_no_alias(workspace, data):
    train, holdout = data
    renamed = train.rename(columns={"bedrooms": "rooms"})
    features = ["rooms" if c == "bedrooms" else c for c in models.FEATURES]
    version = _register(workspace, renamed, features=features)
    report = validate_model_version(version.name, version.version, holdout)
    checks = _by_name(report)
    assert not report.passed
    assert "lacks training columns ['bedrooms']" in checks["signature"].reason
    assert not checks["metrics"].passed and not checks["champion"].passed
    tags = record_validation(report)
    assert tags["validation.signature"].startswith("failed: the signature lacks")
    assert tags["validation.status"] == "failed"
    assert "challenger" not in MlflowClient().get_model_version(version.name, "1").aliases


def test_missing_example_description_and_thresholds_fail(workspace, data):
    train, holdout = data
    version = _register(workspace, train, description="", example=False)
    strict = Thresholds(max_rmse=10.0, min_r2=0.99, latency_budget_ms=0.001)
    checks = _by_name(validate_model_version(version.name, version.version, holdout,
                                             thresholds=strict))
    assert not checks["input_example"].passed and "without an input example" in checks["input_example"].reason
    assert not checks["description"].passed
    assert not checks["metrics"].passed and "rmse=" in checks["metrics"].reason
    assert not checks["latency"].passed and "budget 0.001 ms" in checks["latency"].reason
    assert not checks["signature"].passed  # no example: MLflow infers no signature either
    assert "without a signature" in checks["signature"].reason


def test_worse_than_champion_fails(workspace, data):
    train, holdout = data
    champion = _register(workspace, train)
    promote(champion.name, champion.version, "champion", "the good one")
    worse = _register(workspace, train, alpha=5000.0, description="heavily regularised ridge")
    checks = _by_name(validate_model_version(worse.name, worse.version, holdout,
                                             thresholds=Thresholds(max_rmse=1000, min_r2=-1)))
    assert not checks["champion"].passed
    assert "worse than the champion" in checks["champion"].reason
    assert checks["metrics"].passed


def test_champion_with_other_inputs_is_scored_on_its_own_columns(workspace, data):
    """A version that adds features is compared on the same rows, not crashed into."""
    train, holdout = data
    fewer = [c for c in models.FEATURES if c not in ("latitude", "longitude")]
    champion = _register(workspace, train, features=fewer)
    promote(champion.name, champion.version, "champion", "fewer features")
    challenger = _register(workspace, train)
    report = validate_model_version(challenger.name, challenger.version, holdout)
    checks = _by_name(report)
    assert [c.name for c in report.checks] == list(CHECKS)
    assert "vs champion v1" in checks["champion"].reason


def test_champion_needing_a_missing_column_fails_the_comparison_only(workspace, data):
    train, holdout = data
    renamed = train.rename(columns={"bedrooms": "rooms"})
    champion = _register(workspace, renamed,
                         features=["rooms" if c == "bedrooms" else c for c in models.FEATURES])
    promote(champion.name, champion.version, "champion", "an older interface")
    challenger = _register(workspace, train)
    checks = _by_name(validate_model_version(challenger.name, challenger.version, holdout))
    assert not checks["champion"].passed
    assert "needs the columns ['rooms']" in checks["champion"].reason
    assert checks["metrics"].passed and checks["signature"].passed and checks["latency"].passed


def test_tag_value_is_short_and_says_why():
    outcome = CheckOutcome("metrics", False, "x" * 2000)
    assert outcome.tag_value.startswith("failed: ") and len(outcome.tag_value) < 500
    assert CheckOutcome("metrics", True, "fine").tag_value == "passed"


def test_bad_thresholds_and_holdout_are_refused(workspace, data):
    with pytest.raises(ConfigError, match="'max_rmse' threshold must be a positive"):
        Thresholds(max_rmse=0)
    with pytest.raises(ConfigError, match="no target column 'price'"):
        validate_model_version("dev.tester.price", 1, data[1].drop(columns="price"))

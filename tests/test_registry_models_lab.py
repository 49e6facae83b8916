"""The MLflow models lab checkers: the solution passes; plausible wrong answers fail with a
hint that points at the mistake without giving the answer."""
from __future__ import annotations

import sys

import cloudpickle
import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.models import infer_signature

from mlops_kit._price_model import pip_requirements
from mlops_kit.labs.checks.mlflow_models_lab import (
    MODEL, TEAM_ALIAS, check_ex1, check_ex2, check_ex3, prepare_team, raw_request, team_registry,
    team_versions,
)
from mlops_kit.models import FEATURES, listings_frame, train_price_model
from mlops_kit.workspace import Workspace

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [("mlflow-models-lab", "ex1"), ("mlflow-models-lab", "ex2"), ("mlflow-models-lab", "ex3")]


class Right(mlflow.pyfunc.PythonModel):
    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input, params=None):
        features = model_input[FEATURES].apply(pd.to_numeric, errors="coerce")
        return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(features)]


class NoPreprocessing(Right):
    def predict(self, context, model_input, params=None):
        return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(model_input)]


class ColumnsButText(Right):
    def predict(self, context, model_input, params=None):
        prices = self.model.predict(model_input[FEATURES])
        return ["Expensive" if p > 100 else "Not Expensive" for p in prices]


class DropsExtrasKeepsOrder(Right):
    def predict(self, context, model_input, params=None):
        features = model_input.drop(columns=["listing_url", "host_name"], errors="ignore").astype(float)
        return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(features)]


class RelabelsByPosition(Right):
    """The measured hole: drop the extra fields, then name the shuffled columns by position."""

    def predict(self, context, model_input, params=None):
        features = model_input.drop(columns=["listing_url", "host_name"]).astype(float)
        features.columns = FEATURES
        return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(features)]


class InclusiveBoundary(Right):
    def predict(self, context, model_input, params=None):
        features = model_input[FEATURES].apply(pd.to_numeric, errors="coerce")
        return ["Expensive" if p >= 100 else "Not Expensive" for p in self.model.predict(features)]


def test_raw_request_is_per_learner_text_with_extra_fields():
    one, other = raw_request(5, seed=1), raw_request(5, seed=2)
    assert set(FEATURES) < set(one.columns) and list(one.columns)[:len(FEATURES)] != FEATURES
    assert list(one.columns) != list(other.columns)
    assert not any(pd.api.types.is_numeric_dtype(one[c]) for c in one.columns)


def test_ex1_accepts_the_solution():
    result = check_ex1(Right)
    assert result.passed, result


@pytest.mark.parametrize("wrong, says", [
    (NoPreprocessing, "extra column"),
    (ColumnsButText, "non-numeric"),
    (DropsExtrasKeepsOrder, "another order"),
    (InclusiveBoundary, "100.0 -> 'Expensive'"),
    (RelabelsByPosition, "other values than the request's"),
])
def test_ex1_rejects_plausible_mistakes_without_giving_the_answer(wrong, says):
    result = check_ex1(wrong)
    assert not result.passed and says in result.message
    assert result.hint and not any(code in result.hint for code in ("to_numeric", ">=", "> 100", "FEATURES"))


@pytest.mark.parametrize("value", [object, Right(None), "PriceLabelModel", pd.Series([1])])
def test_ex1_names_the_type_it_expected(value):
    result = check_ex1(value)
    assert not result.passed and "expected a subclass of mlflow.pyfunc.PythonModel" in result.message


def _log(python_model, *, outputs=None, inputs=None, example=True, signature=True):
    request = raw_request(20)
    inputs = request if inputs is None else inputs
    outputs = ["Expensive"] * len(request) if outputs is None else outputs
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        signature=infer_signature(inputs, outputs) if signature else None,
        input_example=inputs.head(3) if example else None,
        pip_requirements=pip_requirements(),
    )


@pytest.fixture(scope="module")
def _logged_once(tmp_path_factory):
    """A right model and wrong ones, logged once in one run (classes pickled by value)."""
    workspace = Workspace.from_env(root=tmp_path_factory.mktemp("models-lab"), user="tester").activate()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    regressor = train_price_model(listings_frame(200, seed=2))
    workspace.set_experiment("models_lab_checks")
    X = listings_frame(20, seed=1)[FEATURES]
    with mlflow.start_run():
        models = {
            "good": _log(Right(regressor)),
            "boundary": _log(InclusiveBoundary(regressor)),
            # the regressor's prices as the signature's output: floats, not labels
            "float_output": _log(Right(regressor), outputs=regressor.predict(X)),
            # the regressor's features as the signature's input: raw requests are refused
            "features_input": _log(Right(regressor), inputs=X),
            "no_example": _log(Right(regressor), example=False),
            # without an input example too: MLflow infers a signature from the example
            "no_signature": _log(Right(regressor), signature=False, example=False),
            "by_position": _log(RelabelsByPosition(regressor)),
        }
    return workspace, models


@pytest.fixture
def logged(_logged_once):
    workspace, models = _logged_once
    return workspace.activate(), models


def test_ex2_accepts_the_solution(logged):
    _, models = logged
    assert check_ex2(models["good"]).passed


def test_ex2_rejects_a_signature_whose_output_is_the_regressors_prices(logged):
    _, models = logged
    result = check_ex2(models["float_output"])
    assert not result.passed and "returns labels" in result.message
    assert "string" not in result.hint and "labels)" not in result.hint


@pytest.mark.parametrize("which, says", [
    ("boundary", "100.0 -> 'Expensive'"),
    ("features_input", "refused a raw request"),
    ("no_example", "without an input example"),
    ("no_signature", "without a signature"),
    ("by_position", "other values than the request's"),
])
def test_ex2_rejects_incomplete_models(logged, which, says):
    _, models = logged
    result = check_ex2(models[which])
    assert not result.passed and says in result.message and result.hint


def test_ex2_names_the_type_it_expected(logged):
    _, models = logged
    assert "expected the ModelInfo" in check_ex2(models["good"].model_uri).message
    assert "got Series" in check_ex2(pd.Series([1])).message


@pytest.fixture(scope="module")
def _team_once(_logged_once):
    """The teammates' versions and the team's alias, registered once before the learner's."""
    workspace, models = _logged_once
    workspace.activate()
    return prepare_team()


@pytest.fixture
def team(_team_once, logged):
    """The active workspace with the team's versions registered, and the logged models."""
    workspace, models = logged
    return workspace, models


def register_mine(workspace, info):
    """The learner's registration of exercise 3: a new version of the workspace's name."""
    return mlflow.register_model(info.model_uri, workspace.model_name(MODEL))


def put_team_alias_back(workspace):
    """Point the team's alias at its teammate's version again (a test moved it)."""
    client = mlflow.MlflowClient()
    name = workspace.model_name(MODEL)
    teammates = [v for v in client.search_model_versions(f"name = '{name}'")
                 if (v.tags or {}).get("registered_by")]
    first = min(int(v.version) for v in teammates)
    client.set_registered_model_alias(name, TEAM_ALIAS, str(first - 1 + team_versions()[1]))


def test_team_registries_differ_between_learners():
    shapes = {team_versions(f"learner{i}") for i in range(40)}
    assert {count for count, _ in shapes} == {1, 2, 3}
    assert all(1 <= alias <= count for count, alias in shapes)


def test_prepare_team_registers_teammates_versions_with_the_teams_alias(team):
    workspace, _ = team
    registry = team_registry()
    teammates = registry[registry["registered by"] == "a teammate"]
    assert len(teammates) >= team_versions()[0]
    assert (registry["aliases"] == TEAM_ALIAS).sum() == 1


def test_ex3_accepts_the_registered_version(team):
    workspace, models = team
    good = models["good"]
    version = register_mine(workspace, good)
    result = check_ex3(f"models:/{version.name}/{version.version}", model_info=good)
    assert result.passed, result


def test_ex3_accepts_an_alias_of_the_learners_own(team):
    workspace, models = team
    good = models["good"]
    version = register_mine(workspace, good)
    mlflow.MlflowClient().set_registered_model_alias(version.name, "my_staging", version.version)
    result = check_ex3(f"models:/{version.name}@my_staging", model_info=good)
    assert result.passed, result


def test_ex3_rejects_moving_the_teams_alias_to_the_learners_version(team):
    """The registry lesson's move: the team's app would serve an unreviewed model."""
    workspace, models = team
    good = models["good"]
    version = register_mine(workspace, good)
    mlflow.MlflowClient().set_registered_model_alias(version.name, TEAM_ALIAS, version.version)
    try:
        for uri in (f"models:/{version.name}@{TEAM_ALIAS}", f"models:/{version.name}/{version.version}"):
            result = check_ex3(uri, model_info=good)
            assert not result.passed and "team's app would serve" in result.message, (uri, result)
            assert TEAM_ALIAS not in result.hint.replace("team's alias", "")
    finally:
        put_team_alias_back(workspace)


@pytest.mark.parametrize("uri, says", [
    (lambda name, mine: f"models:/{name}@{TEAM_ALIAS}", "another run"),
    (lambda name, mine: f"models:/{name}/latest", "'latest' names whatever version"),
    (lambda name, mine: f"models:/{name}/1", "another run"),
])
def test_ex3_rejects_references_that_are_not_the_learners_version_for_good(team, uri, says):
    workspace, models = team
    good = models["good"]
    mine = register_mine(workspace, good).version
    result = check_ex3(uri(workspace.model_name(MODEL), mine), model_info=good)
    assert not result.passed and says in result.message, result
    assert str(mine) not in result.hint


def test_ex3_rejects_a_runs_uri_because_nothing_was_registered(logged):
    _, models = logged
    good = models["good"]
    for uri in (good.model_uri, f"runs:/{good.run_id}/model"):
        result = check_ex3(uri, model_info=good)
        assert not result.passed and "not registered" in result.message
        assert "models:/" not in result.hint


def test_ex3_rejects_other_names_other_runs_and_unknown_versions(logged):
    workspace, models = logged
    good = models["good"]
    plain = mlflow.register_model(good.model_uri, MODEL)  # not the workspace's name
    result = check_ex3(f"models:/{plain.name}/{plain.version}", model_info=good)
    assert not result.passed and "not under this workspace's" in result.message
    assert workspace.model_name(MODEL) not in result.hint

    other = mlflow.register_model(models["boundary"].model_uri, workspace.model_name(MODEL))
    with mlflow.start_run():  # the learner's own model, logged again in a later run
        mine = _log(Right(None))
    result = check_ex3(f"models:/{other.name}/{other.version}", model_info=mine)
    assert not result.passed and "another run" in result.message

    result = check_ex3(f"models:/{workspace.model_name(MODEL)}/99", model_info=good)
    assert not result.passed and "no model version" in result.message
    assert "expected a model URI (str), got int" in check_ex3(3).message


def test_ex1_ex2_reject_columns_relabelled_by_position(logged):
    """It prices the learner's listings from the wrong fields: the checkers look at the values."""
    _, models = logged
    assert not check_ex1(RelabelsByPosition).passed
    assert not check_ex2(models["by_position"]).passed


def test_ex3_rejects_a_registered_model_that_prices_from_the_wrong_fields(logged):
    workspace, models = logged
    wrong = models["by_position"]
    version = mlflow.register_model(wrong.model_uri, workspace.model_name(MODEL))
    result = check_ex3(f"models:/{version.name}/{version.version}", model_info=wrong)
    assert not result.passed and "wrong" in result.message
    assert "FEATURES" not in result.hint

"""Compare, then promote: the champion alias moves only for a challenger that wins on a holdout."""
from __future__ import annotations

import mlflow
import pytest

from mlops_kit import models
from mlops_kit.exceptions import ConfigError, DataError, NotFoundError
from mlops_kit.registry.promotion import (
    HoldoutComparison, audit_trail, compare_on_holdout, current_alias_version, promote,
    promote_if_better, register,
)

FEW = ["accommodates", "bedrooms"]


@pytest.fixture(scope="module")
def data():
    return models.listings_frame(600, 42), models.listings_frame(300, 7)


def _register(workspace, train, description, *, features=None, alpha=1.0):
    features = features or models.FEATURES
    workspace.set_experiment("price")
    with mlflow.start_run():
        info = models.log_price_model(
            models.train_price_model(train, features=features, alpha=alpha), train, features=features)
    return register(info.model_uri, workspace.model_name("price"), description=description).version


@pytest.fixture
def weak_and_strong(workspace, data):
    """v1 sees two columns, v2 all nine: v2 is the better model on any holdout of listings."""
    train, _ = data
    weak = _register(workspace, train, "ridge on two columns", features=FEW)
    strong = _register(workspace, train, "ridge on nine columns")
    return workspace.model_name("price"), str(weak), str(strong)


def test_a_winning_challenger_is_promoted_with_the_numbers_as_reason(weak_and_strong, data):
    name, weak, strong = weak_and_strong
    _, holdout = data
    promote(name, weak, "champion", "the first model")
    promote(name, strong, "challenger", "more columns")
    comparison = compare_on_holdout(name, holdout)
    assert (comparison.challenger, comparison.champion) == (strong, weak)
    assert comparison.challenger_score < comparison.champion_score
    assert comparison.challenger_wins and comparison.rows == len(holdout)
    assert list(comparison.scores.index) == ["challenger", "champion"]
    assert comparison.scores.loc["champion", "rmse"] == pytest.approx(comparison.champion_score)
    event = promote_if_better(comparison)
    assert event["action"] == "set_alias" and current_alias_version(name, "champion") == strong
    assert f"{comparison.challenger_score:.2f}" in event["reason"]
    assert f"{comparison.champion_score:.2f}" in event["reason"]
    assert " is below " in event["reason"]


def test_a_losing_challenger_is_refused_and_the_refusal_recorded(weak_and_strong, data):
    name, weak, strong = weak_and_strong
    _, holdout = data
    promote(name, strong, "champion", "the better model")
    promote(name, weak, "challenger", "fewer columns, to compare")
    comparison = compare_on_holdout(name, holdout)
    assert not comparison.challenger_wins
    event = promote_if_better(comparison)
    assert event["action"] == "refuse"
    assert current_alias_version(name, "champion") == strong
    assert " is not below " in event["reason"]
    assert f"{comparison.challenger_score:.2f}" in event["reason"]
    trail = audit_trail(name)
    assert list(trail["action"]) == ["set_alias", "set_alias", "refuse"]
    assert trail.iloc[-1]["version"] == weak and trail.iloc[-1]["from_version"] == strong


def test_the_decision_follows_the_metric_not_the_version_order(workspace, data):
    """An r2 comparison ranks higher as better; a margin larger than the gain refuses."""
    name = workspace.model_name("price")
    train, holdout = data
    weak = _register(workspace, train, "ridge on two columns", features=FEW)
    strong = _register(workspace, train, "ridge on nine columns")
    by_r2 = compare_on_holdout(name, holdout, challenger=strong, champion=weak, metric="r2")
    assert by_r2.challenger_score > by_r2.champion_score and by_r2.challenger_wins
    by_rmse = compare_on_holdout(name, holdout, challenger=strong, champion=weak)
    gain = by_rmse.champion_score - by_rmse.challenger_score
    assert gain > 0 and by_rmse.challenger_wins
    strict = compare_on_holdout(name, holdout, challenger=strong, champion=weak, margin=gain + 1)
    assert not strict.challenger_wins and "by more than" in strict.reason


def test_no_champion_yet_means_the_challenger_wins(workspace, data):
    train, holdout = data
    version = _register(workspace, train, "ridge on nine columns")
    name = workspace.model_name("price")
    comparison = compare_on_holdout(name, holdout, challenger=version)
    assert comparison.champion is None and comparison.challenger_wins
    assert "no champion" in promote_if_better(comparison)["reason"]


def test_a_stale_comparison_is_not_acted_on(weak_and_strong, data):
    name, weak, strong = weak_and_strong
    _, holdout = data
    promote(name, weak, "champion", "the first model")
    comparison = compare_on_holdout(name, holdout, challenger=strong)
    third = _register_again(name, strong)
    promote(name, third, "champion", "moved by someone else")
    with pytest.raises(ConfigError, match="compare again"):
        promote_if_better(comparison)


def _register_again(name, version):
    from mlflow import MlflowClient

    source = MlflowClient().get_model_version(name, version)
    return register(f"models:/{name}/{version}", name, description=f"copy of v{source.version}").version


def test_misuse_is_a_clear_error(weak_and_strong, data):
    name, weak, strong = weak_and_strong
    _, holdout = data
    with pytest.raises(NotFoundError, match="no alias 'challenger'"):
        compare_on_holdout(name, holdout)
    with pytest.raises(ConfigError, match="both version"):
        compare_on_holdout(name, holdout, challenger=weak, champion=weak)
    with pytest.raises(ConfigError, match="metric must be one of"):
        compare_on_holdout(name, holdout, challenger=strong, metric="accuracy")
    with pytest.raises(ConfigError, match="no target column"):
        compare_on_holdout(name, holdout.drop(columns="price"), challenger=strong)
    with pytest.raises(DataError, match="lacks"):
        compare_on_holdout(name, holdout.drop(columns="latitude"), challenger=strong, champion=weak)


def test_the_reason_reads_as_a_sentence():
    won = HoldoutComparison("m", "2", "1", "rmse", 10.0, 12.5, 200)
    assert won.reason == ("challenger v2 holdout RMSE 10.00 is below champion v1's 12.50, "
                          "on the same 200 holdout rows")
    lost = HoldoutComparison("m", "2", "1", "rmse", 12.5, 10.0, 200)
    assert not lost.challenger_wins and " is not below " in lost.reason

"""Aliases with an audit trail, archiving, copies between environments (real MLflow, SQLite)."""
from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from mlops_kit import models
from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.registry.promotion import (
    archive, audit_trail, copy_to_env, current_alias_version, promote, register,
)


@pytest.fixture(scope="module")
def trained():
    frame = models.listings_frame(300, 42)
    return frame, models.train_price_model(frame)


@pytest.fixture
def two_versions(workspace, trained):
    frame, model = trained
    workspace.set_experiment("price")
    name = workspace.model_name("price")
    with mlflow.start_run():
        info = models.log_price_model(model, frame)
    for text in ("first ridge model", "second ridge model"):
        register(info.model_uri, name, description=text)
    return name


def test_register_keeps_the_description(two_versions):
    version = MlflowClient().get_model_version(two_versions, "2")
    assert version.description == "second ridge model"


def test_promote_sets_alias_and_records_who_when_from_why(two_versions):
    name = two_versions
    promote(name, 1, "champion", "first model that passed", actor="ada")
    event = promote(name, 2, "champion", "beats v1 on holdout RMSE", actor="grace")
    assert current_alias_version(name, "champion") == "2"
    assert str(MlflowClient().get_model_version_by_alias(name, "champion").version) == "2"
    assert event["from_version"] == "1" and event["actor"] == "grace"
    trail = audit_trail(name)
    assert list(trail["version"].astype(str)) == ["1", "2"]
    assert list(trail["actor"]) == ["ada", "grace"]
    assert trail.loc[1, "reason"] == "beats v1 on holdout RMSE"
    assert trail["at"].notna().all()
    tag = MlflowClient().get_model_version(name, "2").tags["promotion.champion"]
    assert '"from_version": "1"' in tag


def test_promote_refuses_unknown_version_and_missing_reason(two_versions):
    with pytest.raises(NotFoundError, match="No version 9"):
        promote(two_versions, 9, "champion", "does not exist")
    with pytest.raises(ConfigError, match="needs a reason"):
        promote(two_versions, 1, "champion", "")
    assert current_alias_version(two_versions, "champion") is None


def test_archive_removes_aliases_and_keeps_the_version(two_versions):
    name = two_versions
    promote(name, 1, "challenger", "candidate for review")
    archive(name, 1, "superseded by version 2")
    version = MlflowClient().get_model_version(name, "1")
    assert version.aliases == [] and version.tags["archived"] == "true"
    assert mlflow.pyfunc.load_model(f"models:/{name}/1") is not None
    assert list(audit_trail(name)["action"]) == ["set_alias", "archive"]


def test_copy_from_dev_to_staging_to_prod(workspace, two_versions):
    staged = copy_to_env("price", 2, from_env="dev", to_env="staging",
                         reason="validated in dev", alias="champion")
    assert staged.name == "staging.tester.price"
    assert staged.tags["copied_from"] == "dev.tester.price/2"
    prod = copy_to_env("price", staged.version, from_env="staging", to_env="prod",
                       reason="two days in staging, no alerts", alias="champion")
    assert prod.name == "prod.tester.price"
    assert current_alias_version("prod.tester.price", "champion") == str(prod.version)
    loaded = mlflow.pyfunc.load_model("models:/prod.tester.price@champion")
    frame = models.listings_frame(5, 1)[models.FEATURES]
    assert len(loaded.predict(frame)) == 5
    assert list(audit_trail("prod.tester.price")["action"]) == ["copy", "set_alias"]
    with pytest.raises(ConfigError, match="both 'dev'"):
        copy_to_env("price", 1, from_env="dev", to_env="dev", reason="same env twice")

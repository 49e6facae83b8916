"""The workspace: names carry env and user, settings are checked, reset is scoped."""
from __future__ import annotations

import os

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.workspace import Workspace, check_name, get_workspace


def test_names_carry_env_and_user(tmp_path) -> None:
    ws = Workspace.from_env("prod", root=tmp_path, user="Ada.Lovelace")
    assert ws.model_name("price") == "prod.ada_lovelace.price"
    assert ws.experiment_name("training") == "/Users/ada_lovelace/prod/training"
    assert ws.table_path("listings") == tmp_path.resolve() / "ada_lovelace" / "prod" / "tables" / "listings"
    assert ws.with_env("dev").model_name("price") == "dev.ada_lovelace.price"


def test_env_comes_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MLOPS_KIT_ENV", "staging")
    assert Workspace.from_env(root=tmp_path).env == "staging"


@pytest.mark.parametrize("env", ["qa", "Prod", ""])
def test_bad_env_names_the_choices(env, tmp_path) -> None:
    with pytest.raises(ConfigError, match=f"one of dev, staging, prod. Got '{env}' instead"):
        Workspace(root=tmp_path, user="t", env=env)


@pytest.mark.parametrize("name", ["1table", "my-table", "drop table;", "", "x" * 65])
def test_unsafe_names_are_refused(name, tmp_path) -> None:
    with pytest.raises(ConfigError, match="letters, digits and underscores"):
        Workspace(root=tmp_path, user="t").table_path(name)
    with pytest.raises(ConfigError, match=f"The model name must be"):
        check_name("model", name)


def test_activate_points_mlflow_and_child_processes_here(workspace) -> None:
    import mlflow

    assert mlflow.get_tracking_uri() == workspace.tracking_uri
    assert workspace.tracking_uri == f"sqlite:///{workspace.root / 'mlflow.db'}"
    assert os.environ["MLFLOW_TRACKING_URI"] == workspace.tracking_uri
    assert os.environ["MLOPS_KIT_ENV"] == "dev"
    assert get_workspace() is workspace
    assert workspace.jobs_dir.is_dir() and workspace.tables_dir.is_dir()


def test_a_child_process_sees_the_local_store_as_local(workspace) -> None:
    """activate() exports MLFLOW_TRACKING_URI; reading it back keeps artifacts in the kit."""
    child = Workspace.from_env()
    assert child.tracking_uri == workspace.tracking_uri
    assert child.uses_local_mlflow
    assert not Workspace(root=workspace.root, user="t",
                         tracking_uri_override="http://mlflow:5000").uses_local_mlflow


def _populate(ws: Workspace) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    ws.activate()
    ws.table_path("listings").mkdir(parents=True, exist_ok=True)
    ws.set_experiment("training")
    with mlflow.start_run() as run:
        mlflow.log_metric("rmse", 1.0)
        mlflow.log_text("weights", "model/weights.txt")
    client = MlflowClient()
    client.create_registered_model(ws.model_name("price"))
    client.create_model_version(ws.model_name("price"), f"{run.info.artifact_uri}/model",
                                run_id=run.info.run_id)


def test_reset_removes_exactly_this_user_and_env(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    mine = Workspace(root=tmp_path, user="ada", env="dev")
    others = [Workspace(root=tmp_path, user="bob", env="dev"),
              Workspace(root=tmp_path, user="ada", env="prod"),
              # a user whose name would match a careless LIKE 'dev.ada%' pattern
              Workspace(root=tmp_path, user="adam", env="dev")]
    for ws in (mine, *others):
        _populate(ws)
    mine.activate()

    assert mine.reset() == {"tables": 1, "experiments": 1, "models": 1}
    client = MlflowClient(tracking_uri=mine.tracking_uri)
    models = {m.name for m in client.search_registered_models()}
    experiments = {e.name for e in client.search_experiments()}
    assert models == {ws.model_name("price") for ws in others}
    assert {ws.experiment_name("training") for ws in others} <= experiments
    assert mine.experiment_name("training") not in experiments
    assert not mine.env_dir.exists() and not mine.artifacts_dir.exists()
    assert all(ws.table_path("listings").exists() for ws in others)

    assert mine.reset() == {"tables": 0, "experiments": 0, "models": 0}  # idempotent
    mine.activate()
    mine.set_experiment("training")  # the name is free again at once

"""The workspace: names carry env and user, settings are checked, reset is scoped."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.workspace import Workspace, check_name, get_workspace, migrate_layout


def test_names_carry_env_and_user(tmp_path) -> None:
    ws = Workspace.from_env("prod", root=tmp_path, user="ada_lovelace")
    assert ws.model_name("price") == "prod.ada_lovelace.price"
    assert ws.experiment_name("training") == "/Users/ada_lovelace/prod/training"
    assert ws.table_path("listings") == (
        tmp_path.resolve() / "users" / "ada_lovelace" / "prod" / "tables" / "listings")
    assert ws.spool_path("log") == tmp_path.resolve() / "users" / "ada_lovelace" / "prod" / "spool" / "log"
    assert ws.with_env("dev").model_name("price") == "dev.ada_lovelace.price"


# every group folded into one user before: now each spelling but the canonical one is refused
@pytest.mark.parametrize("user", ["ADA", "Ada", "ada.x", "ada-x", "ädä", "..", "*", "%", "",
                                  "a/b", "1ada", "_ada", "x" * 33, "x" * 300, "ada\n", "ada\n\n"])
def test_a_user_name_is_taken_only_in_canonical_form(user, tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match=r"lowercase letter followed by lowercase letters"):
        Workspace.from_env(root=tmp_path, user=user)
    monkeypatch.setenv("MLOPS_KIT_USER", user or "?")
    with pytest.raises(ConfigError, match="from MLOPS_KIT_USER"):
        Workspace.from_env(root=tmp_path)
    with pytest.raises(ConfigError, match="lowercase letter"):
        Workspace(root=tmp_path, user=user)


def test_the_refusal_shows_the_canonical_form_and_stays_short(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"Got 'ADA' from the user argument \(did you mean 'ada'\?\)"):
        Workspace.from_env(root=tmp_path, user="ADA")
    with pytest.raises(ConfigError) as err:
        Workspace.from_env(root=tmp_path, user="x" * 300)
    assert "(300 characters)" in str(err.value) and len(str(err.value)) < 300
    for user in ("ada", "ada_x", "t", "tester", "a" * 32):
        assert Workspace.from_env(root=tmp_path, user=user).user == user


@pytest.mark.parametrize(("login", "expected"), [("root", "root"), ("Root", "root"),
                                                  ("first.last", "first_last"),
                                                  ("Jean-Luc", "jean_luc")])
def test_the_default_user_is_the_login_made_canonical(login, expected, monkeypatch,
                                                      tmp_path) -> None:
    monkeypatch.delenv("MLOPS_KIT_USER", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: login)
    assert Workspace.from_env(root=tmp_path).user == expected


@pytest.mark.parametrize("login", ["ädä", "9lives", "x" * 40])
def test_a_login_that_cannot_be_made_canonical_asks_for_mlops_kit_user(login, monkeypatch,
                                                                        tmp_path) -> None:
    monkeypatch.delenv("MLOPS_KIT_USER", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: login)
    with pytest.raises(ConfigError, match="Set MLOPS_KIT_USER"):
        Workspace.from_env(root=tmp_path)


@pytest.mark.parametrize("name", ["Price", "PRICE", "price.v2", "price-v2", "préix", "x" * 65])
def test_table_model_and_experiment_names_are_not_folded(name, tmp_path) -> None:
    ws = Workspace(root=tmp_path, user="ada")
    for build in (ws.table_path, ws.model_name, ws.experiment_name, ws.spool_path):
        with pytest.raises(ConfigError, match="lowercase letters, digits and underscores"):
            build(name)


def test_a_user_named_like_a_shared_folder_never_reaches_it(tmp_path) -> None:
    """The old layout put user 'mlartifacts' in the folder holding every user's artifacts."""
    dev = Workspace(root=tmp_path, user="dev")
    clash = Workspace(root=tmp_path, user="mlartifacts")
    shared = {dev.artifacts_dir, tmp_path / "mlartifacts", tmp_path / "mlflow.db",
              tmp_path / "logs", tmp_path / "spark-warehouse"}
    for user in ("mlartifacts", "logs", "users", "mlflow", "spark_warehouse", "dev"):
        for env in ("dev", "prod"):
            env_dir = Workspace(root=tmp_path, user=user, env=env).env_dir
            assert env_dir.is_relative_to(tmp_path / "users" / user)
            assert not any(env_dir == p or p.is_relative_to(env_dir) or env_dir.is_relative_to(p)
                           for p in shared if p != tmp_path / "users")
    assert not dev.artifacts_dir.is_relative_to(clash.env_dir)


def test_an_old_layout_is_moved_under_users_with_its_documents(tmp_path) -> None:
    old = tmp_path / "ada" / "dev"
    (old / "tables" / "listings").mkdir(parents=True)
    (old / "feature_tables").mkdir()
    (old / "feature_tables" / "f.json").write_text(json.dumps({"path": str(old / "tables" / "f")}))
    (tmp_path / "mlartifacts" / "ada" / "dev").mkdir(parents=True)  # shared: stays
    moves = migrate_layout(tmp_path)
    ws = Workspace(root=tmp_path, user="ada")
    assert moves == [(tmp_path / "ada", tmp_path / "users" / "ada")]
    assert ws.table_path("listings").is_dir() and not (tmp_path / "ada").exists()
    doc = json.loads((ws.env_dir / "feature_tables" / "f.json").read_text())
    assert doc["path"] == str(ws.table_path("f"))
    assert (tmp_path / "mlartifacts" / "ada" / "dev").is_dir()
    assert migrate_layout(tmp_path) == []  # done once


def test_a_user_in_both_layouts_is_refused_with_what_to_merge(tmp_path) -> None:
    (tmp_path / "ada" / "dev" / "tables").mkdir(parents=True)
    (tmp_path / "users" / "ada" / "dev" / "tables").mkdir(parents=True)
    with pytest.raises(ConfigError, match="holds user 'ada' twice"):
        Workspace(root=tmp_path, user="ada").activate()


def test_env_comes_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MLOPS_KIT_ENV", "staging")
    assert Workspace.from_env(root=tmp_path).env == "staging"


@pytest.mark.parametrize("env", ["qa", "Prod", ""])
def test_bad_env_names_the_choices(env, tmp_path) -> None:
    with pytest.raises(ConfigError, match=f"one of dev, staging, prod. Got '{env}' instead"):
        Workspace(root=tmp_path, user="t", env=env)


@pytest.mark.parametrize("name", ["1table", "my-table", "drop table;", "", "x" * 65, "Listings",
                                  "listings\n"])
def test_unsafe_names_are_refused(name, tmp_path) -> None:
    with pytest.raises(ConfigError, match="letters, digits and underscores"):
        Workspace(root=tmp_path, user="t").table_path(name)
    with pytest.raises(ConfigError, match="The model name must be"):
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


@pytest.mark.parametrize("ws", [
    Workspace(root=Path("/tmp/kit"), user="ada", env="prod", spark_master="sc://h:15002"),
    Workspace(root=Path("/tmp/kit"), user="ada", tracking_uri_override="http://mlflow:5000"),
    Workspace(root=Path("/tmp/kit"), user="ada", registry_uri_override="http://reg:5000"),
    Workspace(root=Path("/tmp/kit"), user="ada",
              tracking_uri_override="sqlite:////tmp/kit/mlflow.db"),
], ids=["local", "tracking-server", "registry-server", "local-given-as-uri"])
def test_to_environ_rebuilds_the_same_workspace_in_a_child(ws, monkeypatch) -> None:
    """from_env() in a process started with to_environ() gives back the same workspace."""
    stale = {"MLOPS_KIT_HOME": "/elsewhere", "MLOPS_KIT_TRACKING_URI": "http://stale:1",
             "MLOPS_KIT_REGISTRY_URI": "http://stale:2", "MLFLOW_TRACKING_URI": "http://stale:3",
             "PATH": "/bin"}
    env = ws.to_environ(stale)
    assert env["PATH"] == "/bin" and stale["MLOPS_KIT_HOME"] == "/elsewhere"  # base untouched
    for key in [k for k in os.environ if k.startswith(("MLOPS_KIT_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    child = Workspace.from_env()
    assert child == ws or (child.uses_local_mlflow and ws.uses_local_mlflow and
                           (child.root, child.user, child.env) == (ws.root, ws.user, ws.env))
    assert (child.tracking_uri, child.registry_uri) == (ws.tracking_uri, ws.registry_uri)
    assert child.spark_master == ws.spark_master


@pytest.mark.parametrize(("base", "workspace_master", "child_master"), [
    ({}, "local[*]", None),                                    # nothing said: the child picks
    ({"MLOPS_KIT_SPARK_MASTER": "local[*]"}, "local[*]", "local[*]"),  # a JVM asked for: kept
    ({"MLOPS_KIT_SPARK_MASTER": "sc://h:1"}, "local[*]", "local[*]"),  # the workspace wins
    ({}, "spark://h:7077", "spark://h:7077"),
], ids=["default", "explicit-local", "stale-other", "cluster"])
def test_the_default_master_is_not_written_so_children_share_the_spark_server(
        tmp_path, monkeypatch, base, workspace_master, child_master) -> None:
    """activate() and to_environ() leave an unset master unset: a child process then
    uses the workspace's shared Spark Connect server instead of a JVM of its own."""
    ws = Workspace(root=tmp_path, user="ada", spark_master=workspace_master)
    assert ws.to_environ(base).get("MLOPS_KIT_SPARK_MASTER") == child_master
    monkeypatch.delenv("MLOPS_KIT_SPARK_MASTER", raising=False)
    for key, value in base.items():
        monkeypatch.setenv(key, value)
    ws.activate()
    assert os.environ.get("MLOPS_KIT_SPARK_MASTER") == child_master


def test_a_child_is_not_told_it_is_a_spark_connect_client_because_its_parent_is(tmp_path) -> None:
    """PySpark marks a process whose session is a Connect client; a child of that
    process inheriting the mark could not start the JVM of its own it is asked for."""
    import subprocess
    import sys

    parent = {**os.environ, "SPARK_CONNECT_MODE_ENABLED": "1", "MLOPS_KIT_SPARK": "local"}
    child = Workspace(root=tmp_path, user="ada").to_environ(parent)
    assert "SPARK_CONNECT_MODE_ENABLED" not in child and child["MLOPS_KIT_SPARK"] == "local"
    probe = [sys.executable, "-c", "from pyspark.sql.utils import is_remote; print(is_remote())"]
    assert subprocess.run(probe, env=parent, capture_output=True, text=True).stdout.strip() == "True"
    assert subprocess.run(probe, env=child, capture_output=True, text=True).stdout.strip() == "False"


def test_to_environ_leaves_the_mlflow_uris_out_for_the_local_store(tmp_path) -> None:
    env = Workspace(root=tmp_path, user="ada").to_environ({"MLFLOW_TRACKING_URI": "x"})
    assert not {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLOPS_KIT_TRACKING_URI",
                "MLOPS_KIT_REGISTRY_URI"} & set(env)
    assert env["MLOPS_KIT_HOME"] == str(tmp_path) and env["MLOPS_KIT_USER"] == "ada"


def test_to_environ_defaults_to_this_process_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOME_SETTING", "kept")
    assert Workspace(root=tmp_path, user="ada").to_environ()["SOME_SETTING"] == "kept"


def test_the_job_runner_and_the_endpoint_export_the_workspace_with_to_environ(tmp_path,
                                                                              monkeypatch) -> None:
    from mlops_kit.jobs.runner import job_environment

    ws = Workspace(root=tmp_path, user="ada", env="staging",
                   registry_uri_override="http://reg:5000")
    env = job_environment(ws, {"PATH": "/bin"})
    assert {k: v for k, v in env.items() if k.startswith("MLOPS_KIT_")} == {
        k: v for k, v in ws.to_environ({}).items()}
    assert env["PYTHONUNBUFFERED"] == "1"


def test_every_root_path_comes_from_the_workspace(tmp_path) -> None:
    ws = Workspace(root=tmp_path, user="ada", env="prod")
    shared = {ws.mlflow_db_path, ws.artifacts_root, ws.logs_dir, ws.warehouse_dir,
              ws.tracking_server_log_path, ws.tracking_server_pid_path, ws.webhook_key_path,
              ws.webhook_deliveries_path, ws.spark_connect_state_path, ws.spark_connect_lock_path}
    assert {p.relative_to(tmp_path).parts[0] for p in shared} <= {
        "mlflow.db", "mlartifacts", "logs", "spark-warehouse", "mlflow-server.log",
        "mlflow-server.json", "webhook-secret.key", "webhook-deliveries.db",
        "spark-connect.json", "spark-connect.lock"}
    assert ws.spark_driver_log_path.parent == ws.spark_connect_log_path.parent == ws.logs_dir
    assert ws.tracking_uri == f"sqlite:///{ws.mlflow_db_path}"
    assert ws.artifacts_dir == ws.artifacts_root / "ada" / "prod"
    for mine in (ws.endpoints_dir, ws.feature_tables_dir):
        assert mine.parent == ws.env_dir
    assert ws.progress_path.parent == ws.user_dir


def test_no_module_joins_a_name_onto_the_workspace_root() -> None:
    """Paths under the root are Workspace properties; other modules only use them."""
    import re

    package = Path(__file__).resolve().parents[1] / "mlops_kit"
    pattern = re.compile(r"\.root\s*/")
    offenders = [f"{path.relative_to(package)}:{number}"
                 for path in sorted(package.rglob("*.py")) if path.name != "workspace.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, f"build these paths with a Workspace property: {offenders}"


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

    report = mine.reset()
    assert report == {"tables": 1, "experiments": 1, "models": 1}
    assert report.names == {"tables": ["listings"], "experiments": ["/Users/ada/dev/training"],
                            "models": ["dev.ada.price"]}
    assert report.folders == [mine.env_dir, mine.artifacts_dir]
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


def test_reset_as_a_user_named_like_a_shared_folder_removes_only_its_own(tmp_path) -> None:
    """MLOPS_KIT_USER=mlartifacts reset --env dev once deleted user dev's artifacts."""
    import mlflow

    dev = Workspace(root=tmp_path, user="dev", env="dev")
    _populate(dev)
    run = mlflow.search_runs(experiment_names=[dev.experiment_name("training")]).iloc[0]
    artifact = dev.artifacts_dir / "training" / run.run_id / "artifacts" / "model" / "weights.txt"
    assert artifact.is_file()
    clash = Workspace(root=tmp_path, user="mlartifacts", env="dev")
    clash.activate()
    report = clash.reset()
    assert report == {"tables": 0, "experiments": 0, "models": 0}
    assert report.folders == [tmp_path / "users" / "mlartifacts" / "dev",
                              tmp_path / "mlartifacts" / "mlartifacts" / "dev"]
    assert artifact.is_file() and dev.table_path("listings").is_dir()


def test_reset_as_another_spelling_of_a_user_is_refused(tmp_path, monkeypatch) -> None:
    """MLOPS_KIT_USER=ADA mlops-kit reset once removed ada's table and experiment."""
    from click.testing import CliRunner

    from mlops_kit.cli import main

    ada = Workspace(root=tmp_path, user="ada", env="dev")
    ada.activate()
    ada.table_path("listings").mkdir(parents=True)
    for user in ("ADA", "ada.", "Ada", "x" * 300):
        monkeypatch.setenv("MLOPS_KIT_USER", user)
        monkeypatch.setenv("MLOPS_KIT_HOME", str(tmp_path))
        result = CliRunner().invoke(main, ["reset", "--env", "dev", "--yes"])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert "lowercase letter followed by" in lines[0]
    assert ada.table_path("listings").is_dir()


def test_from_env_reads_a_given_environment_and_leaves_this_process_alone(tmp_path):
    import os

    before = dict(os.environ)
    ws = Workspace.from_env(environ={"MLOPS_KIT_HOME": str(tmp_path), "MLOPS_KIT_USER": "bob",
                                     "MLOPS_KIT_ENV": "prod",
                                     "MLOPS_KIT_TRACKING_URI": "http://127.0.0.1:5000"})
    assert (ws.root, ws.user, ws.env) == (tmp_path.resolve(), "bob", "prod")
    assert ws.tracking_uri == "http://127.0.0.1:5000"
    assert dict(os.environ) == before


def test_a_plain_mlflow_child_gets_mlflows_own_uris(tmp_path):
    ws = Workspace(root=tmp_path, user="ada")
    kit_child = ws.to_environ({"PATH": "/bin"})
    mlflow_child = ws.to_environ({"PATH": "/bin"}, plain_mlflow=True)
    assert "MLFLOW_TRACKING_URI" not in kit_child  # the kit derives it from MLOPS_KIT_HOME
    assert mlflow_child["MLFLOW_TRACKING_URI"] == ws.tracking_uri
    assert mlflow_child["MLFLOW_REGISTRY_URI"] == ws.registry_uri

"""A new workspace's MLflow store starts as a copy of a migrated empty one when told where it is."""
from __future__ import annotations

import sqlite3

from mlops_kit.workspace import MLFLOW_TEMPLATE_SETTING, Workspace, make_mlflow_template


def _tables(db) -> set[str]:
    with sqlite3.connect(db) as con:
        return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_the_template_is_migrated_and_holds_no_experiment(tmp_path) -> None:
    template = make_mlflow_template(tmp_path / "template.db")
    assert {"experiments", "runs", "registered_models", "model_versions", "alembic_version"} <= _tables(template)
    with sqlite3.connect(template) as con:
        assert con.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
    before = template.stat().st_mtime_ns
    assert make_mlflow_template(template) == template and template.stat().st_mtime_ns == before
    assert [p.name for p in tmp_path.iterdir()] == ["template.db"]  # no partial file left


def test_a_new_workspace_starts_from_a_copy_and_works(tmp_path, monkeypatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    template = make_mlflow_template(tmp_path / "template.db")
    monkeypatch.setenv(MLFLOW_TEMPLATE_SETTING, str(template))
    ws = Workspace(root=tmp_path / "kit", user="tester").activate()
    assert ws.mlflow_db_path.is_file() and ws.mlflow_db_path.stat().st_mode & 0o777 == 0o600
    experiment_id = ws.set_experiment("copied")
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_metric("m", 1.0)
    client = MlflowClient()
    assert client.get_experiment("0").name == "Default"  # MLflow made its default one, as always
    assert [e.name for e in client.search_experiments()] == [ws.experiment_name("copied"), "Default"]
    with sqlite3.connect(template) as con:  # the template itself stays empty
        assert con.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)


def test_an_existing_store_is_never_replaced(tmp_path, monkeypatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.delenv(MLFLOW_TEMPLATE_SETTING, raising=False)
    ws = Workspace(root=tmp_path / "kit", user="tester").activate()  # no template: MLflow's own
    ws.set_experiment("kept")
    monkeypatch.setenv(MLFLOW_TEMPLATE_SETTING, str(make_mlflow_template(tmp_path / "template.db")))
    Workspace(root=tmp_path / "kit", user="tester").activate()
    assert ws.experiment_name("kept") in [e.name for e in MlflowClient().search_experiments()]


def test_a_workspace_on_a_tracking_server_gets_no_sqlite_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(MLFLOW_TEMPLATE_SETTING, str(make_mlflow_template(tmp_path / "template.db")))
    ws = Workspace(root=tmp_path / "kit", user="tester",
                   tracking_uri_override="http://127.0.0.1:9").activate()
    assert not ws.mlflow_db_path.exists()


def test_a_missing_template_leaves_the_store_to_mlflow(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(MLFLOW_TEMPLATE_SETTING, str(tmp_path / "absent.db"))
    ws = Workspace(root=tmp_path / "kit", user="tester").activate()
    assert not ws.mlflow_db_path.exists()  # created by MLflow on first use, as without one

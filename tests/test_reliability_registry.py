"""The tracking server: basic auth keeps strangers out; a validation job survives it being down."""
from __future__ import annotations

import httpx
import pytest

from mlops_kit.exceptions import ConfigError, JobFailedError
from mlops_kit.registry.server import TrackingServer, free_port
from mlops_kit.workspace import Workspace

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "admin-password-from-env-1234"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


def test_basic_auth_refuses_a_short_admin_password_from_the_environment(workspace, monkeypatch):
    """An admin password set by hand must be long; without one the kit makes its own (0600)."""
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "short")
    server = TrackingServer(workspace, basic_auth=True)
    with pytest.raises(ConfigError, match="MLFLOW_AUTH_ADMIN_PASSWORD"):
        server.start()
    assert server.process is None
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD")
    env = TrackingServer(workspace, basic_auth=True)._env(workspace)
    assert len(env["MLFLOW_AUTH_ADMIN_PASSWORD"]) >= 40
    assert workspace.tracking_server_auth_path.stat().st_mode & 0o777 == 0o600


def test_basic_auth_server_answers_401_to_anonymous_clients(workspace, monkeypatch):
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    assert "--app-name" not in TrackingServer(workspace).command()
    with TrackingServer(workspace, basic_auth=True) as server:
        assert httpx.get(server.url + SEARCH, timeout=10).status_code == 401
        wrong = httpx.get(server.url + SEARCH, auth=("admin", "guess-guess-guess"), timeout=10)
        assert wrong.status_code == 401
        admin = httpx.get(server.url + SEARCH, auth=("admin", ADMIN_PASSWORD), timeout=10)
        assert admin.status_code == 200, admin.text
    assert ADMIN_PASSWORD not in server.log_path.read_text()


def _register_version(ws: Workspace) -> str:
    import mlflow

    from mlops_kit import models
    from mlops_kit.registry.promotion import register

    frame = models.listings_frame(400, 42)
    model = models.train_price_model(frame)
    ws.set_experiment("price")
    with mlflow.start_run():
        info = models.log_price_model(model, frame)
    return str(register(info.model_uri, ws.model_name("price"), description="ridge").version)


def test_validation_job_with_the_server_down_fails_clearly_sets_nothing_and_reruns(tmp_path):
    """Server down: the job exits failed naming the server; no tag, no alias; after a restart it passes."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit.jobs.runner import run_notebook

    port = free_port()
    ws = Workspace(root=tmp_path / "kit", user="tester",
                   tracking_uri_override=f"http://127.0.0.1:{port}")
    server = TrackingServer(ws, port=port).start()
    try:
        ws.activate()
        mlflow.set_tracking_uri(server.url)
        mlflow.set_registry_uri(server.url)
        version = _register_version(ws)
    finally:
        server.stop()
    name = ws.model_name("price")
    job = dict(notebook="jobs/validate_model", parameters={"model_name": name, "version": version,
                                                           "latency_budget_ms": 1000.0},
               workspace=ws, timeout=300,
               extra_env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"})

    with pytest.raises(JobFailedError) as failed:
        run_notebook(**job)
    assert f"127.0.0.1:{port}" in failed.value.evalue or "Connection refused" in failed.value.evalue, \
        failed.value

    # back up (on a new port: the old one may linger in TIME_WAIT), same database
    port = free_port()
    job["workspace"] = ws = Workspace(root=ws.root, user="tester",
                                      tracking_uri_override=f"http://127.0.0.1:{port}")
    with TrackingServer(ws, port=port) as server:
        client = MlflowClient(server.url, registry_uri=server.url)
        untouched = client.get_model_version(name, version)
        assert not any(k.startswith("validation") for k in untouched.tags)
        assert client.get_registered_model(name).aliases == {}
        run_notebook(**job)  # the retry completes and records a verdict
        status = client.get_model_version(name, version).tags["validation.status"]
        assert status in ("passed", "failed")
        aliases = client.get_registered_model(name).aliases
        assert aliases == ({"challenger": version} if status == "passed" else {})

"""generate_dockerfile runs MLflow's own command and writes an image's recipe, no Docker needed."""
from __future__ import annotations

import mlflow.sklearn
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from mlops_kit.deployment.container import generate_dockerfile
from mlops_kit.exceptions import ConfigError


@pytest.fixture
def saved_model(tmp_path):
    rng = np.random.default_rng(0)
    model = Ridge().fit(rng.random((20, 2)), rng.random(20))
    path = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(path), pip_requirements=["scikit-learn"])
    return path


def test_generate_dockerfile_writes_the_dockerfile_and_a_copy_of_the_model(saved_model, tmp_path):
    made = generate_dockerfile(str(saved_model), tmp_path / "image")
    files = set(made.files["file"])
    assert "Dockerfile" in files and any(f.endswith("MLmodel") for f in files)
    assert made.command_line.startswith("mlflow models generate-dockerfile -m ")
    lines = made.dockerfile.splitlines()
    assert lines[0].startswith("FROM python:") and not any(line.startswith("#") for line in lines)
    assert any(line.startswith("ENTRYPOINT") for line in lines)
    assert (made.files["bytes"] > 0).all()


def test_generate_dockerfile_replaces_a_folder_it_wrote_before(tmp_path, monkeypatch):
    import subprocess

    def fake_run(command, **kwargs):  # what the command leaves behind, without running MLflow
        out = tmp_path / "image"
        out.mkdir(parents=True)
        (out / "Dockerfile").write_text("# recipe\nFROM python:3.11-slim\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    old = tmp_path / "image"
    old.mkdir()
    (old / "Dockerfile").write_text("FROM old\n")
    (old / "stale.txt").write_text("from the last run")
    monkeypatch.setattr("mlops_kit.deployment.container.subprocess.run", fake_run)
    made = generate_dockerfile("models:/m@champion", old)
    assert list(made.files["file"]) == ["Dockerfile"] and made.dockerfile == "FROM python:3.11-slim"


def test_generate_dockerfile_never_writes_over_other_files(saved_model, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds other files"):
        generate_dockerfile(str(saved_model), busy)
    assert (busy / "notes.txt").read_text() == "mine"


def test_a_failed_command_says_why(tmp_path, monkeypatch):
    import subprocess

    from mlops_kit.exceptions import EnvironmentProblem

    def failing(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "RESOURCE_DOES_NOT_EXIST: no model m\n")

    monkeypatch.setattr("mlops_kit.deployment.container.subprocess.run", failing)
    with pytest.raises(EnvironmentProblem, match=r"exit 1\):\nRESOURCE_DOES_NOT_EXIST"):
        generate_dockerfile("models:/m@champion", tmp_path / "image")


def test_offline_points_every_web_proxy_at_a_closed_local_port(tmp_path, monkeypatch):
    import subprocess

    seen = {}

    def fake_run(command, env, **kwargs):
        seen.update(env)
        (tmp_path / "image").mkdir()
        (tmp_path / "image" / "Dockerfile").write_text("FROM python:3.11-slim\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr("mlops_kit.deployment.container.subprocess.run", fake_run)
    generate_dockerfile("models:/m@champion", tmp_path / "image")
    assert seen["HTTPS_PROXY"] == seen["http_proxy"] == "http://127.0.0.1:9"
    assert "127.0.0.1" in seen["NO_PROXY"]

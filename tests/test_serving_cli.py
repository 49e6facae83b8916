"""``mlops-kit serve`` and ``python -m mlops_kit.serving``: one command, one meaning of --model.

A ``models:/`` URI serves exactly that registered model (as ``mlflow models
serve -m`` does); only a short ``NAME@ALIAS`` becomes ``<env>.<user>.NAME``.
Two models are registered so that reading the wrong one shows: ``iris`` (a
plain MLflow name) predicts ``10 * x``, the kit's ``dev.tester.iris`` ``-x``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mlops_kit._processes import free_port, stop_child, wait_until_ready
from mlops_kit.serving import Endpoint
from mlops_kit.workspace import Workspace

MLOPS_KIT = str(Path(sys.executable).with_name("mlops-kit"))


def _register(name: str, slope: float) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from registered import register_champion

    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    register_champion(LinearRegression().fit(X, slope * X["x"]), X, name)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    ws.set_experiment("serving_cli")
    _register("iris", 10.0)
    _register(ws.model_name("iris"), -1.0)
    return ws


def _served(url: str) -> tuple[str, float]:
    """(model name from /version, prediction for x = 2) of the server at ``url``."""
    version = httpx.get(f"{url}/version", timeout=30).json()
    answer = httpx.post(f"{url}/invocations", json={"inputs": [{"x": 2.0}]}, timeout=30)
    assert answer.status_code == 200, answer.text
    return version["model_name"], answer.json()["predictions"][0]


def test_cli_serves_a_models_uri_as_mlflow_would(ws, tmp_path):
    """`mlops-kit serve --model models:/iris@champion` serves the MLflow model 'iris'."""
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [MLOPS_KIT, "serve", "--model", "models:/iris@champion", "--port", str(port),
             "--log-table", ""],
            env=ws.to_environ(), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ping", 120, process=proc,
                         name="mlops-kit serve", log=log)
        name, prediction = _served(f"http://127.0.0.1:{port}")
    finally:
        assert stop_child(proc, 60) == 0
    assert name == "iris"
    assert prediction == pytest.approx(20.0)


def test_endpoint_expands_a_short_name_through_python_m_serving(ws):
    """Endpoint starts `python -m mlops_kit.serving`: a short name is <env>.<user>.NAME."""
    ws.activate()
    with Endpoint("iris@champion", log_table=None, fast_path=False) as endpoint:
        assert endpoint.process.args[1:4] == ["-m", "mlops_kit.serving", "--model"]
        name, prediction = _served(endpoint.url)
    assert name == "dev.tester.iris"
    assert prediction == pytest.approx(-2.0)


def test_a_missing_model_is_one_line_and_exit_code_4(ws):
    result = subprocess.run(
        [sys.executable, "-m", "mlops_kit.serving", "--model", "models:/nosuch@champion",
         "--port", str(free_port())],
        env=ws.to_environ(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith("error: No registered model version for "
                                    "models:/nosuch@champion in the registry at ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("model, message", [
    ("runs:/abc/model", "does not name a registered model version"),
    ("Price@champion", "write models:/Price@champion"),
    ("price", "names no model version"),
])
def test_cli_refuses_a_bad_model_reference_before_loading_anything(model, message):
    from mlops_kit.cli import main

    result = CliRunner().invoke(main, ["serve", "--model", model])
    assert result.exit_code == 2
    assert message in result.output


def test_endpoint_refuses_a_bad_model_reference_before_starting_a_process():
    from mlops_kit.exceptions import ConfigError

    endpoint = Endpoint("runs:/abc/model")
    with pytest.raises(ConfigError, match="does not name a registered model version"):
        endpoint.start()
    assert endpoint.process is None


def test_python_m_serving_is_the_serve_command():
    result = subprocess.run([sys.executable, "-m", "mlops_kit.serving", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: python -m mlops_kit.serving [OPTIONS]")
    for option in ("--model", "--token", "--allow-remote", "--log-table", "--no-fast-path"):
        assert option in result.stdout


def test_mlflow_serve_reads_a_short_name_as_the_endpoint_does(workspace):
    from mlops_kit.serving import MlflowServe

    assert MlflowServe("iris@champion").model_uri == "models:/dev.tester.iris@champion"
    assert MlflowServe("models:/iris@champion").model_uri == "models:/iris@champion"


def test_mlflow_serve_finds_a_model_in_the_workspaces_local_registry(ws):
    """`mlflow models serve` knows nothing of the kit: it is given MLflow's URIs, so a
    model registered in the workspace's SQLite registry is found and served."""
    from mlops_kit.serving import MlflowServe

    ws.activate()
    with MlflowServe("iris@champion") as server:
        answer = httpx.post(server.invocations_url, json={"inputs": [{"x": 2.0}]}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0] == pytest.approx(-2.0)

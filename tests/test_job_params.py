"""Job notebooks obey plain papermill: parameters checked in the notebook, `env` honoured.

A scheduler runs a job notebook with papermill's CLI, not with ``mlops-kit job
run``: the notebook itself must refuse a mistyped name or a wrong type with
one line and a non-zero exit, and run in the env its ``env`` parameter names.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.jobs.job_params import assignments, check_parameters
from mlops_kit.workspace import Workspace, use_workspace
from notebook_runner import REPO

PARAMETERS = 'model_alias = "champion"\nrows = 5000\nrate: float = 0.5\nenv = "dev"\n'


def _namespace(injected: str | None, **values) -> dict:
    history = ["", "%load_ext mlops_kit", PARAMETERS]
    if injected is not None:
        history.append("# Parameters\n" + injected)
    history.append("ws = check_parameters()")
    return {"In": history, "env": "dev", **values}


@pytest.fixture
def dev_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_KIT_ENV", raising=False)
    ws = Workspace.from_env(root=tmp_path / "kit", user="tester").activate()
    use_workspace(ws)
    yield ws
    use_workspace(None)


def test_assignments_reads_literals_and_keeps_other_names() -> None:
    assert assignments('a = 1\nb: str = "x"\nc = f(2)\nimport os') == {"a": 1, "b": "x", "c": ...}


@pytest.mark.parametrize("injected, message", [
    ('modle_alias = "x"\n', r"no parameter 'modle_alias'\. Did you mean 'model_alias'\? "
                            r"It takes: model_alias, rows, rate, env\."),
    ('colour = "red"\n', r"no parameter 'colour'\. It takes"),
    ('rows = "5k"\n', r"'rows' must be int \(its default is 5000\)\. Got '5k' \(str\)"),
    ("rows = True\n", r"'rows' must be int"),
    ('env = "production"\n', r"'env' must be one of dev, staging, prod\. Got 'production'"),
])
def test_a_bad_parameter_fails_with_one_line(injected, message, dev_workspace) -> None:
    namespace = _namespace(injected, env="production" if "production" in injected else "dev")
    with pytest.raises(ConfigError, match=message) as err:
        check_parameters(namespace)
    assert err.value._render_traceback_() == [f"ParameterError: {err.value}"]


def test_an_int_may_stand_for_a_float_and_nothing_injected_is_fine(dev_workspace) -> None:
    assert check_parameters(_namespace("rate = 1\n")).env == "dev"
    assert check_parameters(_namespace(None)).env == "dev"


def test_the_env_parameter_chooses_the_workspace(dev_workspace, monkeypatch) -> None:
    from mlops_kit.workspace import get_workspace

    monkeypatch.setenv("MLOPS_KIT_ENV", "dev")
    ws = check_parameters(_namespace('env = "prod"\n', env="prod"))
    assert ws.env == "prod" and get_workspace().env == "prod"
    assert ws.model_name("price") == "prod.tester.price"


JOBS = sorted((REPO / "notebooks" / "jobs").glob("*.ipynb"))


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.stem)
def test_every_job_notebook_checks_its_parameters_right_after_declaring_them(path: Path) -> None:
    import nbformat

    cells = nbformat.read(path, as_version=4).cells
    index = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert "check_parameters()" in cells[index + 1].source, (
        f"{path.name}: the cell after the parameters cell must call check_parameters()")
    assert "env" in assignments(cells[index].source), f"{path.name} declares no env parameter"


def _papermill(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The papermill CLI itself, as a scheduler runs it."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_KIT_", "MLFLOW_"))}
    env.update(MLOPS_KIT_HOME=str(tmp_path / "kit"), MLOPS_KIT_USER="tester",
               MLOPS_KIT_SPARK="local")
    return subprocess.run(
        [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "jobs" / "score_batch.ipynb"),
         str(tmp_path / "out.ipynb"), "-k", "python3", "--cwd", str(tmp_path), *args],
        env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_papermill_cli_env_prod_runs_in_prod_or_fails_saying_so(tmp_path: Path) -> None:
    run = _papermill(tmp_path, "-p", "env", "prod")
    assert run.returncode != 0, "a job asked for prod must not run in dev"
    assert "prod.tester.price" in run.stderr + run.stdout
    assert "dev.tester.price" not in run.stderr + run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args, line", [
    (("-p", "modle_alias", "x"), "This job takes no parameter 'modle_alias'. Did you mean 'model_alias'?"),
    (("-p", "engine", "5"), "The parameter 'engine' must be str (its default is 'auto'). Got 5 (int)"),
])
def test_papermill_cli_refuses_a_bad_parameter(tmp_path: Path, args, line) -> None:
    run = _papermill(tmp_path, *args)
    assert run.returncode != 0
    assert line in run.stderr + run.stdout

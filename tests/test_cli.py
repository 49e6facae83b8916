"""The ``mlops-kit`` command: help everywhere, one-line errors, exit codes, real runs."""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from mlops_kit.cli import main

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = Path(__file__).parent / "notebooks"
COMMANDS = ["setup", "doctor", "course", "job", "job run", "job list", "reset", "ui"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = invoke(*command.split(), "--help")
    assert result.exit_code == 0 and "Usage: main" in result.output


@pytest.mark.parametrize(("args", "code", "message"), [
    (["job", "run", "no/such_notebook"], 4, "No notebook 'no/such_notebook'"),
    (["job", "run", str(NOTEBOOKS / "double.ipynb"), "-p", "y", "1"], 2,
     "has no parameter 'y'. Valid names: x, scale, loud, label, env."),
    (["job", "run", str(NOTEBOOKS / "double.ipynb"), "-p", "x", "abc"], 2,
     "The parameter 'x' must be int. Got 'abc' instead."),
    (["job", "run", str(NOTEBOOKS / "double.ipynb"), "--env", "qa"], 2,
     "The env must be one of dev, staging, prod. Got 'qa' instead."),
    (["reset", "--env", "qa", "--yes"], 2, "The env must be one of"),
    (["course", "--only", "no-such-module"], 4, "No course notebook matches"),
])
def test_bad_input_is_one_line_and_a_documented_exit_code(args, code, message) -> None:
    result = invoke(*args)
    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_job_run_prints_the_executed_copy(workspace) -> None:
    result = invoke("job", "run", str(NOTEBOOKS / "double.ipynb"), "-p", "x", "5", "--env", "staging")
    assert result.exit_code == 0, result.output
    assert "ok in" in result.output and "x=5" in result.output and "env='staging'" in result.output
    path = Path(result.output.split("executed notebook: ")[1].strip())
    assert path.parent == workspace.with_env("staging").jobs_dir and path.exists()


def _mlops_kit(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLOPS_KIT_HOME": str(home), "MLOPS_KIT_USER": "tester"}
    exe = Path(sys.executable).parent / "mlops-kit"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


def test_real_process_job_run_exit_codes(tmp_path) -> None:
    """The installed command, as cron or CI calls it: 0 on success, 5 with the failing cell."""
    ok = _mlops_kit("job", "run", "tests/notebooks/double", "-p", "x", "2", "--env", "prod",
                    home=tmp_path)
    assert ok.returncode == 0, ok.stderr
    copy = Path(ok.stdout.split("executed notebook: ")[1].strip())
    assert copy.is_relative_to(tmp_path / "users" / "tester" / "prod" / "jobs")

    failed = _mlops_kit("job", "run", "tests/notebooks/fails.ipynb", "-p", "threshold", "0.9",
                        home=tmp_path)
    assert failed.returncode == 5
    # one numbering with papermill and Jupyter: the failing cell's In [n]
    executed = nbformat.read(failed.stderr.split("executed notebook: ")[1].strip(), as_version=4)
    failing = next(c for c in executed.cells if any(o.get("output_type") == "error"
                                                     for o in c.get("outputs", [])))
    assert f"FAILED in In [{failing.execution_count}]" in failed.stderr
    assert '    raise ValueError(f"score {score} is below {threshold}")' in failed.stderr
    assert "ValueError: score 0.1 is below 0.9" in failed.stderr
    assert "executed notebook: " + str(tmp_path / "users" / "tester" / "dev" / "jobs") in failed.stderr
    assert "Traceback" not in failed.stderr


def test_course_summary_and_failure(tmp_path, workspace) -> None:
    for name, source in {"00-setup/01-welcome": "double", "01-experimentation/01-x": "fails",
                         "01-experimentation/02-y": "double"}.items():
        target = tmp_path / "notebooks" / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NOTEBOOKS / f"{source}.ipynb", target)
    listed = invoke("course", "--root", str(tmp_path), "--list")
    assert listed.exit_code == 0
    assert listed.output.split() == ["00-setup/01-welcome", "(demo)", "01-experimentation/01-x",
                                     "(demo)", "01-experimentation/02-y", "(demo)"]
    result = invoke("course", "--root", str(tmp_path))
    assert result.exit_code == 5
    assert "00-setup/01-welcome" in result.output and "ok" in result.output
    assert "failed" in result.output and "1 notebook(s) not run" in result.output
    assert "raise ValueError" in result.output
    # not a terminal (a scheduler's log): one line per notebook as it ends
    assert "[1/3] 00-setup/01-welcome ok" in result.output
    assert "[2/3] 01-experimentation/01-x FAILED" in result.output


def test_reset_removes_this_env_only(workspace) -> None:
    workspace.table_path("listings").mkdir(parents=True)
    prod = workspace.with_env("prod").activate()
    prod.table_path("listings").mkdir(parents=True)
    result = invoke("reset", "--env", "dev", "--yes")
    assert result.exit_code == 0 and "1 table: listings" in result.output
    assert "0 experiments" in result.output and str(workspace.env_dir) in result.output
    assert not workspace.table_path("listings").exists()
    assert prod.table_path("listings").exists()


def test_reset_asks_first() -> None:
    result = CliRunner().invoke(main, ["reset"], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output


def test_ui_uses_the_workspace_store_on_localhost(workspace) -> None:
    result = invoke("ui", "--port", "5055", "--print-command")
    assert result.exit_code == 0
    out = result.output
    assert "--host 127.0.0.1 --port 5055" in out
    assert f"--backend-store-uri {workspace.tracking_uri}" in out
    assert (workspace.root / "mlartifacts").as_uri() in out


def test_setup_without_data_prepares_folders_and_jars(tmp_path) -> None:
    result = invoke("setup", "--no-data", "--env", "staging")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kit" / "users" / "tester" / "staging" / "tables").is_dir()
    assert "delta jars:" in result.output


@pytest.mark.parametrize("command", ["lab", "labs grade", "progress"])
def test_lab_commands_have_help(command: str) -> None:
    result = invoke(*command.split(), "--help")
    assert result.exit_code == 0 and "Usage: main" in result.output


def test_lab_turns_the_news_pop_up_off_and_keeps_other_settings(tmp_path, monkeypatch) -> None:
    import json

    config = tmp_path / "jupyter"
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    page_config = config / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({"disabledExtensions": {"x:y": True}, "other": 1}))
    result = invoke("lab", "--print-command", "--port", "8899")
    assert result.exit_code == 0, result.output
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert result.output.strip().endswith(shlex.join([sys.executable, "-m", "jupyterlab", *root,
                                                      "--port", "8899"]))
    assert ("running as root: JupyterLab is started with --allow-root" in result.output) == bool(root)
    assert json.loads(page_config.read_text()) == {"other": 1, "disabledExtensions": {
        "x:y": True, "@jupyterlab/apputils-extension:announcements": True}}


def test_lab_command_allows_root_once_and_puts_this_python_first_on_path() -> None:
    from mlops_kit.jupyter import lab_command, lab_environment

    assert lab_command(["--port", "1"], root=True)[3:] == ["--allow-root", "--port", "1"]
    assert lab_command(["--allow-root"], root=True)[3:] == ["--allow-root"]
    assert lab_command([], root=False)[3:] == []
    env = lab_environment({"PATH": f"/usr/bin:{Path(sys.executable).parent}"})
    assert env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]


@pytest.mark.skipif(os.geteuid() != 0, reason="starts JupyterLab as root, which needs root")
def test_lab_starts_as_root_and_its_terminals_find_the_kit(tmp_path) -> None:
    """As in a container: the real `mlops-kit lab` serves /api/status, with the kit on PATH."""
    import time

    import httpx

    from mlops_kit._processes import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env.update(PATH="/usr/bin:/bin", JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), HOME=str(tmp_path))
    kit = Path(sys.executable).parent / "mlops-kit"
    proc = subprocess.Popen([str(kit), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", "--IdentityProvider.token=t0ken",
                             f"--ServerApp.root_dir={tmp_path}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status",
                             headers={"Authorization": "token t0ken"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError("JupyterLab did not answer as root")
        server_env = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        path = next(v for v in server_env if v.startswith(b"PATH=")).decode()[5:]
        assert path.split(os.pathsep)[0] == str(kit.parent)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert b"running as root: JupyterLab is started with --allow-root" in proc.stdout.read()

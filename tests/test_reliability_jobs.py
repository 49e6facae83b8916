"""The real ``mlops-kit`` process: one-line errors, a job killed mid-write, reset's boundaries."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from mlops_kit.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
DOUBLE = str(REPO / "tests" / "notebooks" / "double.ipynb")
EXE = str(Path(sys.executable).parent / "mlops-kit")


def mlops_kit(*args: str, home: Path, user: str = "tester", **env: str) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_KIT_"))}
    full_env.update(MLOPS_KIT_HOME=str(home), MLOPS_KIT_USER=user, **env)
    return subprocess.Popen([EXE, *args], env=full_env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.mark.parametrize(("args", "env", "code", "message"), [
    (["job", "run", "jobs/no_such_job"], {}, 4, "No notebook 'jobs/no_such_job'"),
    (["job", "run", DOUBLE, "-p", "nope", "1"], {}, 2, "has no parameter 'nope'"),
    (["job", "run", DOUBLE, "-p", "x", "1.5"], {}, 2, "The parameter 'x' must be int"),
    (["job", "run", DOUBLE, "-p", "loud", "maybe"], {}, 2, "The parameter 'loud' must be bool"),
    (["job", "run", DOUBLE], {"MLOPS_KIT_ENV": "qa"}, 2, "The env must be one of dev, staging, prod"),
    (["job", "run", DOUBLE, "--env", "PROD"], {}, 2, "The env must be one of"),
    (["reset", "--yes"], {"MLOPS_KIT_ENV": "production"}, 2, "Got 'production' instead"),
], ids=["unknown-notebook", "unknown-parameter", "int-gets-float", "bool-gets-word",
        "bad-env-variable", "env-wrong-case", "reset-bad-env"])
def test_bad_input_is_one_stderr_line_and_a_nonzero_exit(tmp_path, args, env, code, message):
    """As cron runs it: the installed command, no traceback, the documented exit code."""
    rc, out, err = finish(mlops_kit(*args, home=tmp_path, **env))
    lines = err.strip().splitlines()
    assert rc == code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err and out == ""


WRITER_CELLS = [
    'table = ""\nbatches: int = 4\npause = 0.0\nmarker = ""',
    "import os, time\nimport pyarrow as pa\nfrom pathlib import Path\nfrom deltalake import write_deltalake",
    (
        "schema = pa.schema([('batch', pa.int64()), ('value', pa.float64())])\n"
        "def produce():\n"
        "    for b in range(batches):\n"
        "        if b == 2 and marker:\n"
        "            Path(marker).write_text(str(os.getpid()))\n"
        "        time.sleep(pause)\n"
        "        yield pa.record_batch([pa.array([b] * 1000), pa.array([b * 0.5] * 1000)], schema=schema)\n"
        "write_deltalake(table, pa.RecordBatchReader.from_batches(schema, produce()), mode='overwrite')"
    ),
]


def test_job_killed_mid_write_leaves_the_previous_version_and_a_rerun_completes(tmp_path):
    """SIGKILL of the kernel while it streams a Delta write: no commit; the re-run commits."""
    from deltalake import DeltaTable

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in WRITER_CELLS]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    notebook = tmp_path / "write_table.ipynb"
    nbformat.write(nb, notebook)
    table, marker = tmp_path / "out_table", tmp_path / "kernel.pid"
    home = tmp_path / "kit"

    rc, _, err = finish(mlops_kit("job", "run", str(notebook), "-p", "table", str(table),
                                  "-p", "batches", "2", home=home))
    assert rc == 0, err
    assert DeltaTable(str(table)).version() == 0

    job = mlops_kit("job", "run", str(notebook), "-p", "table", str(table), "-p", "batches", "40",
                    "-p", "pause", "0.25", "-p", "marker", str(marker), home=home)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.05)
        os.kill(int(marker.read_text()), signal.SIGKILL)  # the kernel, mid-stream
        rc, _, err = finish(job, timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert rc == 5 and "DeadKernelError: Kernel died" in err, err  # the cell is not named yet
    killed = DeltaTable(str(table))
    assert killed.version() == 0
    assert killed.to_pyarrow_table().num_rows == 2000

    rc, _, err = finish(mlops_kit("job", "run", str(notebook), "-p", "table", str(table),
                                  "-p", "batches", "5", home=home))
    assert rc == 0, err
    done = DeltaTable(str(table))
    assert done.version() == 1 and done.to_pyarrow_table().num_rows == 5000


def _populate(ws: Workspace) -> None:
    import mlflow
    from deltalake import write_deltalake
    from mlflow.tracking import MlflowClient
    import pandas as pd

    ws.activate()
    write_deltalake(str(ws.table_path("listings")), pd.DataFrame({"id": [1, 2, 3]}))
    ws.set_experiment("training")
    with mlflow.start_run() as run:
        mlflow.log_text("weights", "model/weights.txt")
    client = MlflowClient()
    client.create_registered_model(ws.model_name("price"))
    client.create_model_version(ws.model_name("price"), f"{run.info.artifact_uri}/model",
                                run_id=run.info.run_id)


def test_cli_reset_touches_no_other_user_or_env(tmp_path):
    """`mlops-kit reset` as ada in dev; bob's and ada's prod data (tables, runs, models) survive."""
    from deltalake import DeltaTable
    from mlflow.tracking import MlflowClient

    home = tmp_path / "kit"
    mine = Workspace(root=home, user="ada", env="dev")
    others = [Workspace(root=home, user="bob", env="dev"), Workspace(root=home, user="ada", env="prod"),
              Workspace(root=home, user="ada_x", env="dev")]
    for ws in (mine, *others):
        _populate(ws)

    rc, out, err = finish(mlops_kit("reset", "--yes", home=home, user="ada", MLOPS_KIT_ENV="dev"))
    assert rc == 0, err
    assert "Removed from ada's dev:" in out
    assert "1 table: listings" in out and "1 model: dev.ada.price" in out
    assert "1 experiment: /Users/ada/dev/training" in out

    client = MlflowClient(tracking_uri=others[0].tracking_uri)
    assert {m.name for m in client.search_registered_models()} == {ws.model_name("price") for ws in others}
    for ws in others:
        assert DeltaTable(str(ws.table_path("listings"))).to_pyarrow_table().num_rows == 3
        experiment = client.get_experiment_by_name(ws.experiment_name("training"))
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 1
        assert client.download_artifacts(runs[0].info.run_id, "model/weights.txt", str(tmp_path / ws.user / ws.env))
    assert not mine.table_path("listings").exists()

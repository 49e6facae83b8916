"""The tracking-server process: ready on /health, nothing left behind, CLI control."""
from __future__ import annotations

import httpx
import psutil
import pytest
from click.testing import CliRunner

from mlops_kit.cli import main
from mlops_kit.exceptions import EnvironmentProblem, NotFoundError
from mlops_kit.registry.server import TrackingServer, free_port, webhook_encryption_key


def _group(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_encryption_key_is_made_once_and_kept(workspace):
    key = webhook_encryption_key(workspace)
    assert webhook_encryption_key(workspace) == key
    assert len(key) == 44  # a urlsafe-base64 Fernet key


@pytest.mark.slow
def test_server_answers_and_leaves_no_process(workspace):
    from mlflow import MlflowClient

    with TrackingServer(workspace) as server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert server.startup_seconds < 60
        procs = _group(server.process.pid)
        assert {c.laddr.ip for p in procs for c in p.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN} == {"127.0.0.1"}
        client = MlflowClient(server.url)
        client.create_registered_model(workspace.model_name("served"))
    assert _alive(procs) == []
    # the server wrote to the workspace's own database: a direct client sees the model
    assert MlflowClient(workspace.tracking_uri).get_registered_model(workspace.model_name("served"))


@pytest.mark.slow
def test_server_that_cannot_start_says_why(workspace):
    port = free_port()
    with TrackingServer(workspace, port=port) as first:
        clash = TrackingServer(workspace, port=port, start_timeout=60)
        with pytest.raises(EnvironmentProblem, match="already in use"):
            clash.start()
        assert clash.process is None
        assert httpx.get(f"{first.url}/health").status_code == 200


@pytest.mark.slow
def test_cli_start_status_stop(workspace):
    runner = CliRunner()
    started = runner.invoke(main, ["mlflow-server", "start"])
    assert started.exit_code == 0, started.output
    try:
        status = runner.invoke(main, ["mlflow-server", "status"])
        assert status.exit_code == 0 and "running: http://127.0.0.1:" in status.output
        again = runner.invoke(main, ["mlflow-server", "start"])
        assert "already running" in again.output
        pid = int(status.output.split("pid ")[1].split(")")[0])
        procs = _group(pid)
    finally:
        stopped = runner.invoke(main, ["mlflow-server", "stop"])
    assert stopped.exit_code == 0, stopped.output
    assert _alive(procs) == []
    assert runner.invoke(main, ["mlflow-server", "status"]).exit_code == 1
    missing = runner.invoke(main, ["mlflow-server", "stop"])
    assert missing.exit_code == 4 and "No mlflow server is running" in missing.output


def test_a_pid_file_whose_pid_went_to_another_process_is_not_a_running_server(workspace):
    """The CLI's record holds the server's start time: a pid the OS gave to another program
    since (here: this test's own) does not make ``status`` report a server, nor ``stop``
    signal that program's group."""
    import json
    import os

    from mlops_kit._processes import write_record
    from mlops_kit.registry.server import read_pid_file, stop_detached

    path = workspace.tracking_server_pid_path
    record = write_record(path, os.getpid(), port=1, url="http://127.0.0.1:1", auth=False)
    record["create_time"] -= 3600  # the recorded server started an hour before this pid's owner
    path.write_text(json.dumps(record))
    assert read_pid_file(workspace) is None
    assert not path.exists()  # the stale record is removed
    path.write_text(json.dumps(record))
    with pytest.raises(NotFoundError, match="No mlflow server is running"):
        stop_detached(workspace)

"""A pipeline leaves the workspace's Spark Connect server as it found it.

As ``mlops-kit job run`` does: a run started without a server stops the one its
steps started, and a server running before the run stays warm. A real server
(one JVM per run) and real kernels; nothing is faked.
"""
from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from mlops_kit.jobs.pipelines import Pipeline, Step, run_pipeline
from mlops_kit.spark_server import (
    log_path, running_server, server_status, start_server, state_path, stop_server,
)
from mlops_kit.workspace import Workspace
from notebook_runner import write_spark_count_job

pytestmark = [pytest.mark.slow, pytest.mark.own_spark]



def _server_processes(ws: Workspace) -> list[psutil.Process]:
    """Live processes whose command line names the workspace (its server's JVM)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and \
                any(str(ws.root) in part for part in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def _spark_step(tmp_path: Path) -> Pipeline:
    """A one-step pipeline whose notebook needs Spark (so its kernel connects to the server)."""
    job = tmp_path / "count.ipynb"
    write_spark_count_job(job)
    return Pipeline("spark-count", (Step(str(job)),))


def test_a_pipeline_stops_the_server_it_started_and_leaves_a_running_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_KIT_SPARK", raising=False)  # the course's default: the shared server
    monkeypatch.delenv("MLOPS_KIT_SPARK_MASTER", raising=False)
    ws = Workspace.from_env(root=tmp_path / "kit", user="tester")
    pipeline = _spark_step(tmp_path)
    during: list[dict | None] = []

    def progress(index, step, result) -> None:
        if result is not None:
            during.append(running_server(ws))

    try:
        assert running_server(ws) is None
        run_pipeline(pipeline, {"rows": 4}, workspace=ws, progress=progress)
        assert during[0] is not None  # the step's kernel started the server and used it ...
        assert log_path(ws).exists()
        assert server_status(ws)["state"] == "stopped"  # ... and the run stopped it
        assert not state_path(ws).exists() and _server_processes(ws) == []

        warm = start_server(ws)
        during.clear()
        run_pipeline(pipeline, workspace=ws, progress=progress)
        assert during[0]["pid"] == warm["pid"]  # the step used the running server ...
        assert running_server(ws)["pid"] == warm["pid"]  # ... which stays warm after the run
    finally:
        if running_server(ws) is not None:
            stop_server(ws)

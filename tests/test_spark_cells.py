"""Spark in an open kernel: a server that stops, SQL commands that return nothing.

A real IPython kernel (jupyter_client) with ``%load_ext mlops_kit`` and the
workspace's own Spark Connect server: the server is killed under the kernel
between cells and during a cell, and the learner's next cell must work (or fail
at once with one line), never wait through retries until the kernel restarts.
"""
from __future__ import annotations

import os
import queue
import signal
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from mlops_kit.spark_server import running_server, stop_server
from mlops_kit.workspace import Workspace

pytestmark = [pytest.mark.own_spark, pytest.mark.slow]


def _run(client, code: str, timeout: float = 300) -> dict:
    """Execute ``code``; return its text output, stderr, result and error lines."""
    msg_id = client.execute(code)
    seen = {"stdout": "", "stderr": "", "result": None, "error": None}
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout} s to: {code}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            seen[content["name"]] += content["text"]
        elif kind == "execute_result":
            seen["result"] = content["data"].get("text/plain")
        elif kind == "error":
            seen["error"] = content["traceback"]
        elif kind == "status" and content["execution_state"] == "idle":
            return seen


def _kill_server(ws: Workspace) -> None:
    record = running_server(ws)
    assert record is not None, "the workspace's server should be running"
    os.killpg(int(record["pid"]), signal.SIGKILL)
    deadline = time.monotonic() + 120
    while running_server(ws) is not None and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture
def kernel(tmp_path: Path):
    ws = Workspace(root=tmp_path / "kit", user="tester")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER="tester")
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        assert _run(client, "%load_ext mlops_kit")["error"] is None
        yield ws, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        if running_server(ws) is not None:
            stop_server(ws)


def test_spark_in_an_open_kernel_outlives_its_server_and_sql_commands_echo_nothing(kernel):
    ws, client = kernel
    first = _run(client, "spark.range(3).count()")
    assert first["error"] is None and first["result"] == "3"

    # a SQL command returns a DataFrame without columns: the cell shows nothing
    command = _run(client, 'spark.sql("CREATE OR REPLACE TEMP VIEW v AS SELECT 1 AS x")')
    assert command["error"] is None and command["result"] is None
    assert _run(client, 'spark.sql("SELECT x FROM v")')["result"] == "DataFrame[x: int]"

    # a failed query: the error, without PySpark's screen-long JSON log record
    failed = _run(client, 'spark.sql("SELECT * FROM no_such_table").collect()')
    assert failed["error"] and "TABLE_OR_VIEW_NOT_FOUND" in "".join(failed["error"])
    assert "SQLQueryContextLogger" not in failed["stderr"] and '"errorClass"' not in failed["stderr"]

    # the server stops between cells: the next cell reaches a new server
    _kill_server(ws)
    again = _run(client, "spark.range(4).count()")
    assert again["error"] is None and again["result"] == "4", again
    assert "had stopped: `spark` now uses a new one" in again["stderr"]
    assert running_server(ws) is not None

    # the server stops during a cell: one line says what happened and what to do
    pid = running_server(ws)["pid"]
    during = _run(client, f"""
import os, signal, time
from mlops_kit.spark_server import running_server
os.killpg({pid}, signal.SIGKILL)
while running_server() is not None:
    time.sleep(0.2)
spark.range(5).count()
""")
    assert during["error"] is not None and len(during["error"]) == 1, during["error"]
    assert "stopped while this cell ran. Run the cell again" in during["error"][0]

"""The workspace's Spark Connect server: command line, lifecycle, Delta over Connect.

One real server is started for the module (a JVM start costs 10-60 s on two
shared cores); the tests that need none (command line, stale records, errors)
fake what they must. Clients run in a subprocess: a Connect session switches
its whole Python process into Connect mode, which the other tests of this
worker must not inherit.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from mlops_kit._processes import process_alive, read_record, write_record
from mlops_kit.cli import main
from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError
from mlops_kit.spark_server import (
    SERVER_CLASS, log_path, running_server, server_command, server_status, start_server,
    state_path, stop_server,
)
from mlops_kit.workspace import Workspace, use_workspace

pytestmark = pytest.mark.own_spark

REPO = Path(__file__).resolve().parents[1]


def _conf(command: list[str]) -> dict[str, str]:
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "--conf"]
    return dict(pair.split("=", 1) for pair in pairs)


def _cli(ws: Workspace, *args: str):
    """Run ``mlops-kit`` against ``ws`` (the workspace is rebuilt from the environment)."""
    use_workspace(None)
    try:
        return CliRunner().invoke(main, list(args),
                                  env={"MLOPS_KIT_HOME": str(ws.root), "MLOPS_KIT_USER": ws.user})
    finally:
        use_workspace(None)


def _processes_of(ws: Workspace) -> list[psutil.Process]:
    """Live processes whose command line names the workspace (its server's JVM)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(ws.root) in part for part in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def _run_kit(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    """``mlops-kit ARGS`` in a new process, as a shell or scheduler runs it, against ``ws``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER=ws.user)
    exe = str(Path(sys.executable).parent / "mlops-kit")
    return subprocess.run([exe, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=900)


def _dead_record(ws: Workspace) -> int:
    """Record a server whose process has exited; return its pid."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    state_path(ws).parent.mkdir(parents=True, exist_ok=True)
    state_path(ws).write_text(json.dumps({
        "pid": child.pid, "create_time": 1.0, "ready": True, "port": 1,
        "url": "sc://127.0.0.1:1", "log": str(log_path(ws)),
    }))
    return child.pid


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(root=tmp_path / "kit", user="tester")


# ---------------------------------------------------------------- no server
def test_command_runs_connect_with_delta_on_loopback(ws, monkeypatch):
    monkeypatch.setenv("MLOPS_KIT_DRIVER_MEMORY", "3g")
    command = server_command(ws, 15999)
    assert command[0].endswith("/pyspark/bin/spark-submit")
    assert command[command.index("--class") + 1] == SERVER_CLASS
    assert command[command.index("--master") + 1] == "local[*]"
    assert command[-1] == "spark-internal"
    conf = _conf(command)
    assert conf["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert conf["spark.connect.grpc.binding.port"] == "15999"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"].endswith("delta.catalog.DeltaCatalog")
    assert conf["spark.driver.memory"] == "3g"
    # long-lived: the optimising compiler pays back over a course, unlike in a kernel's JVM
    assert "TieredStopAtLevel" not in conf["spark.driver.extraJavaOptions"]
    assert conf["spark.sql.warehouse.dir"] == str(ws.warehouse_dir)
    jars = command[command.index("--jars") + 1] if "--jars" in command else ""
    packages = command[command.index("--packages") + 1] if "--packages" in command else ""
    assert "delta-spark_2.13" in jars + packages


def test_the_server_hands_back_memory_it_no_longer_uses(ws, monkeypatch):
    """The long-lived server trims glibc's free memory, caps C2's graphs and shrinks an idle
    heap, and runs with two malloc arenas; a kernel's short-lived JVM keeps its settings."""
    from mlops_kit.spark import spark_conf
    from mlops_kit.spark_server import _server_env

    for full_jit in ("", "0"):
        monkeypatch.setenv("MLOPS_KIT_SPARK_FULL_JIT", full_jit)
        opts = _conf(server_command(ws, 15999))["spark.driver.extraJavaOptions"].split()
        for flag in ("-XX:TrimNativeHeapInterval=5000", "-XX:MaxNodeLimit=40000",
                     "-XX:G1PeriodicGCInterval=20000", "-XX:MaxHeapFreeRatio=30"):
            assert flag in opts, (full_jit, opts)
        assert ("-XX:TieredStopAtLevel=1" in opts) is (full_jit == "0")
    assert "TrimNativeHeapInterval" not in spark_conf(ws)["spark.driver.extraJavaOptions"]
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert _server_env(ws)["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # a learner's own choice wins
    assert _server_env(ws)["MALLOC_ARENA_MAX"] == "4"


def test_command_keeps_local_settings_when_the_workspace_points_at_connect(ws):
    remote = Workspace(root=ws.root, user="tester", spark_master="sc://elsewhere:15002")
    conf = _conf(server_command(remote, 15999))
    assert conf["spark.sql.adaptive.enabled"] == "false"  # a local-only choice
    assert conf["spark.sql.shuffle.partitions"] == "2"


def test_stop_when_nothing_runs_says_so(ws):
    with pytest.raises(NotFoundError, match="No Spark Connect server is running"):
        stop_server(ws)
    result = _cli(ws, "spark", "stop")
    assert result.exit_code == 4 and "mlops-kit spark start" in result.output
    status = _cli(ws, "spark", "status")
    assert status.exit_code == 1 and status.output.strip() == "not running"
    assert server_status(ws) == {"state": "stopped"}


def test_dead_server_is_reported_and_its_record_removed(ws):
    pid = _dead_record(ws)
    status = _cli(ws, "spark", "status")
    assert status.exit_code == 1
    assert f"pid {pid} has died" in status.output and str(log_path(ws)) in status.output
    assert not state_path(ws).exists()

    _dead_record(ws)
    assert server_status(ws)["state"] == "dead"
    assert server_status(ws) == {"state": "stopped"}  # cleaned up by the first call

    _dead_record(ws)
    with pytest.raises(NotFoundError, match=r"was no longer running; its record is removed"):
        stop_server(ws)
    assert not state_path(ws).exists()


def test_a_reused_pid_is_not_taken_for_the_server(ws):
    # our own pid is alive, but the record says it belonged to a process started long ago
    write_record(state_path(ws), os.getpid(), ready=True, port=1, url="sc://127.0.0.1:1", log="x")
    record = json.loads(state_path(ws).read_text())
    assert process_alive(os.getpid(), record["create_time"])
    record["create_time"] -= 3600
    state_path(ws).write_text(json.dumps(record))
    assert server_status(ws)["state"] == "dead"
    assert not state_path(ws).exists()


def test_start_refuses_a_taken_port(ws):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(EnvironmentProblem, match="already in use"):
            start_server(ws, port=taken.getsockname()[1])
    assert not state_path(ws).exists()


@pytest.mark.slow
def test_a_server_that_cannot_start_names_its_log(ws, monkeypatch):
    monkeypatch.setenv("MLOPS_KIT_DRIVER_MEMORY", "1x")  # the JVM refuses this heap size
    with pytest.raises(EnvironmentProblem, match=r"(?s)exited with code \d+ before .*"
                       r"spark-connect\.log\).*Invalid maximum heap size"):
        start_server(ws, timeout=120)
    assert not state_path(ws).exists()


@pytest.mark.slow
def test_start_timeout_points_at_the_log_and_leaves_nothing(ws):
    with pytest.raises(EnvironmentProblem,
                       match=r"did not answer 127\.0\.0\.1:\d+ within 0\.5 s") as err:
        start_server(ws, timeout=0.5)
    assert str(log_path(ws)) in str(err.value)
    assert not state_path(ws).exists()
    assert _processes_of(ws) == []


def test_sessions_go_to_the_shared_server_unless_a_local_jvm_is_asked_for(ws, monkeypatch):
    from mlops_kit.spark import _remote_url, spark_mode, uses_shared_server

    monkeypatch.delenv("MLOPS_KIT_SPARK", raising=False)
    with socket.socket() as listener:  # stands in for the server's port
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        write_record(state_path(ws), os.getpid(), ready=True, port=port,
                     url=f"sc://127.0.0.1:{port}", log="x")
        assert spark_mode() == "connect" and uses_shared_server(ws)  # the default
        assert _remote_url(ws) == f"sc://127.0.0.1:{port}"
        monkeypatch.setenv("MLOPS_KIT_SPARK", "local")
        assert _remote_url(ws) is None
        monkeypatch.delenv("MLOPS_KIT_SPARK")
        monkeypatch.setenv("MLOPS_KIT_SPARK_MASTER", "local[*]")  # an explicit master wins
        assert _remote_url(ws) is None
        monkeypatch.delenv("MLOPS_KIT_SPARK_MASTER")
        assert _remote_url(Workspace(root=ws.root, user="tester", spark_master="spark://h:7077")) is None
        assert _remote_url(Workspace(root=ws.root, user="tester", spark_master="sc://h:1")) == "sc://h:1"
    monkeypatch.setenv("MLOPS_KIT_SPARK", "remote")
    with pytest.raises(ConfigError, match="MLOPS_KIT_SPARK must be one of local, connect"):
        spark_mode()


def test_a_missing_or_dead_server_is_started_and_the_start_is_said_once(ws, monkeypatch):
    """No server (or a dead one): ensure_server starts one and says so in one line."""
    from mlops_kit import spark_server

    started, said = [], []

    def start(workspace, **_):
        started.append(workspace.root)
        return {"url": "sc://127.0.0.1:1", "pid": 1}

    monkeypatch.setattr(spark_server, "start_server", start)
    assert spark_server.ensure_server(ws, say=said.append)["url"] == "sc://127.0.0.1:1"
    assert started == [ws.root] and len(said) == 1 and "Starting" in said[0]
    record = write_record(state_path(ws), os.getpid(), ready=True, port=1, url="sc://127.0.0.1:1",
                          log="x")
    # the same pid started at another time: the recorded server is gone
    state_path(ws).write_text(json.dumps({**record, "create_time": record["create_time"] - 1000}))
    said.clear()
    spark_server.ensure_server(ws, say=said.append)
    assert len(said) == 1 and "had stopped; starting a new one" in said[0], said


# ------------------------------------------------------- the idle stop, on a stand-in
#: listens on the port it is given and holds every connection open until the client closes it
STAND_IN = textwrap.dedent("""
    import socket, sys, threading
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    def hold(conn):
        while conn.recv(1024):
            pass
    while True:
        conn, _ = server.accept()
        threading.Thread(target=hold, args=(conn,), daemon=True).start()
""")


@pytest.fixture
def stand_in(ws, monkeypatch):
    """The server's command replaced by a small listener: the launcher's logic, no JVM."""
    from mlops_kit import spark_server

    monkeypatch.setattr(spark_server, "server_command",
                        lambda workspace, port, master=None: [sys.executable, "-c", STAND_IN, str(port)])
    yield ws
    if running_server(ws) is not None:
        stop_server(ws)


def _wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_an_on_demand_server_stops_itself_once_no_client_is_left(stand_in, monkeypatch):
    """Started on demand with a short idle limit: it says so, a connected client keeps it up
    longer than the limit, and once the client is gone it stops and leaves no record."""
    from mlops_kit import spark_server
    from mlops_kit.spark_server import token_path

    ws = stand_in
    monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", "0.03")  # 1.8 s
    said: list[str] = []
    info = spark_server.ensure_server(ws, say=said.append)
    assert len(said) == 1 and "it stops after 0.03 min without a client" in said[0], said
    assert json.loads(state_path(ws).read_text())["idle_minutes"] == 0.03
    (served,) = psutil.Process(info["pid"]).children()  # the server, under its launcher
    with socket.create_connection(("127.0.0.1", info["port"])) as client:
        client.sendall(b"x")
        time.sleep(4.0)  # twice the limit, with a client connected
        assert running_server(ws)["pid"] == info["pid"]
    assert _wait_for(lambda: not state_path(ws).exists(), 20), "still recorded"
    assert not token_path(ws).exists()
    assert _wait_for(lambda: not process_alive(info["pid"], info["create_time"]), 20)
    assert _wait_for(lambda: not _processes_of(ws) and not served.is_running(), 20)
    assert server_status(ws) == {"state": "stopped"}
    assert "no client for 0.03 min: stopping this on-demand server" in log_path(ws).read_text()


def test_spark_start_keeps_a_server_running_and_turns_off_an_on_demand_ones_limit(
        stand_in, monkeypatch):
    from mlops_kit import spark_server

    ws = stand_in
    long_lived = start_server(ws)
    assert json.loads(state_path(ws).read_text())["idle_minutes"] is None
    from mlops_kit.spark_server import IDLE_LAUNCHER

    assert str(IDLE_LAUNCHER) not in psutil.Process(long_lived["pid"]).cmdline()  # no launcher
    time.sleep(2.0)
    assert running_server(ws)["pid"] == long_lived["pid"]
    stop_server(ws)

    monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", "0.1")
    on_demand = spark_server.ensure_server(ws, say=lambda line: None)
    again = start_server(ws)  # `mlops-kit spark start` while it runs
    assert again["already_running"] and again["pid"] == on_demand["pid"]
    assert json.loads(state_path(ws).read_text())["idle_minutes"] is None
    status = _cli(ws, "spark", "status")
    assert "runs until `mlops-kit spark stop`" in status.output, status.output
    time.sleep(8.0)  # no client for longer than the limit it had
    assert running_server(ws)["pid"] == on_demand["pid"]
    assert "the idle stop is off" in log_path(ws).read_text()
    stop_server(ws)

    # the limit turned off while the launcher, having found the server idle, waits for the lock
    monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", "0.03")
    raced = spark_server.ensure_server(ws, say=lambda line: None)
    with spark_server._locked(ws):
        time.sleep(3.0)  # past the limit: the launcher is waiting for this lock now
        spark_server._keep_running(ws, read_record(state_path(ws)))
    time.sleep(4.0)
    assert running_server(ws)["pid"] == raced["pid"]


def test_a_run_of_notebooks_keeps_an_on_demand_server_through_notebooks_without_spark(
        stand_in, monkeypatch):
    """A course or job holds a lease while it runs: no client for longer than the limit does
    not stop the server then; once the run ends (or its process died) the limit applies."""
    from mlops_kit import spark_server
    from mlops_kit.spark_server import lease_dir, shared_server

    ws = stand_in
    monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", "0.03")
    monkeypatch.delenv("MLOPS_KIT_SPARK", raising=False)  # the suite's default keeps Spark local
    monkeypatch.delenv("MLOPS_KIT_SPARK_MASTER", raising=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease_dir(ws).mkdir(parents=True)
    (lease_dir(ws) / f"{dead.pid}-0").touch()  # a run that was killed: its lease is void
    info = spark_server.ensure_server(ws, say=lambda line: None)
    with shared_server(ws):  # the server runs already: the run leaves it running
        with shared_server(ws):  # a run inside the run: its end does not end the outer lease
            pass
        time.sleep(4.0)  # no client for twice the limit, but the run holds its lease
        assert running_server(ws)["pid"] == info["pid"]
        assert [p.name.split("-")[0] for p in lease_dir(ws).iterdir()] == [str(os.getpid())]
    assert not list(lease_dir(ws).iterdir())
    assert _wait_for(lambda: not state_path(ws).exists(), 20), "the limit no longer applies"


def test_the_idle_limit_setting(ws, monkeypatch):
    from mlops_kit import spark_server
    from mlops_kit.spark_server import idle_minutes

    monkeypatch.delenv("MLOPS_KIT_SPARK_IDLE_MINUTES", raising=False)
    assert idle_minutes() == 10
    for bad in ("ten", "-1", "nan", "inf"):
        monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", bad)
        with pytest.raises(ConfigError, match="MLOPS_KIT_SPARK_IDLE_MINUTES must be a number"):
            idle_minutes()
    timeouts, said = [], []
    monkeypatch.setattr(spark_server, "start_server",
                        lambda workspace, **kw: timeouts.append(kw["idle_timeout"]) or {})
    monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", "0")
    spark_server.ensure_server(ws, say=said.append)
    monkeypatch.setenv("MLOPS_KIT_SPARK_IDLE_MINUTES", "2.5")
    spark_server.ensure_server(ws, say=said.append)
    assert timeouts == [None, 150.0]
    assert "it runs until `mlops-kit spark stop`" in said[0]
    assert "it stops after 2.5 min without a client" in said[1]


def test_the_launcher_counts_the_clients_of_its_port(tmp_path):
    """The /proc/net/tcp reading: the listening socket and the server's end of each client."""
    import runpy

    from mlops_kit.spark_server import IDLE_LAUNCHER

    port_use = runpy.run_path(str(IDLE_LAUNCHER))["port_use"]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert port_use(port) == (True, 0)
        with socket.create_connection(("127.0.0.1", port)), \
                socket.create_connection(("127.0.0.1", port)):
            assert port_use(port) == (True, 2)
    assert port_use(port)[0] is False
    assert port_use(port, tables=(str(tmp_path / "missing"),)) is None


# -------------------------------------------------------------- real server
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One Spark Connect server for the tests below; stopped (and checked) at the end."""
    ws = Workspace(root=tmp_path_factory.mktemp("connect") / "kit", user="tester")
    info = start_server(ws)
    yield ws, info
    if process_alive(info["pid"], info["create_time"]):
        stop_server(ws)


@pytest.mark.slow
@pytest.mark.xdist_group("spark_connect_server")
class TestRealServer:
    def test_start_records_the_server_and_listens_on_loopback_only(self, server):
        ws, info = server
        assert info["already_running"] is False
        assert info["url"] == f"sc://127.0.0.1:{info['port']}"
        assert json.loads(state_path(ws).read_text())["pid"] == info["pid"]
        assert log_path(ws).is_file() and log_path(ws).parent == ws.logs_dir
        # Java listens on IPv6 sockets: 127.0.0.1 shows as ::ffff:127.0.0.1
        listening = {(c.laddr.ip.removeprefix("::ffff:"), c.laddr.port)
                     for c in psutil.Process(info["pid"]).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert ("127.0.0.1", info["port"]) in listening
        assert {ip for ip, _ in listening} == {"127.0.0.1"}  # nothing reachable from outside

    def test_status_shows_url_pid_and_uptime(self, server):
        ws, info = server
        result = _cli(ws, "spark", "status")
        assert result.exit_code == 0, result.output
        assert f"running: {info['url']} (pid {info['pid']}, up " in result.output
        assert str(log_path(ws)) in result.output
        assert running_server(ws)["pid"] == info["pid"]

    def test_start_again_is_idempotent(self, server):
        ws, info = server
        again = start_server(ws)
        assert again["already_running"] and again["pid"] == info["pid"]
        result = _cli(ws, "spark", "start")
        assert result.exit_code == 0, result.output
        assert f"already running: {info['url']} (pid {info['pid']}" in result.output

    def test_delta_round_trip_over_connect(self, server):
        ws, info = server
        table = ws.root / "round_trip"
        client = textwrap.dedent(f"""
            from mlops_kit.spark import get_spark
            spark = get_spark()
            assert type(spark).__module__ == "pyspark.sql.connect.session", type(spark)
            path = {str(table)!r}
            spark.range(5).selectExpr("id", "id * 2 AS v").write.format("delta").save(path)
            spark.range(3, 8).selectExpr("id", "id * 10 AS v").createOrReplaceTempView("updates")
            merged = spark.sql(
                f"MERGE INTO delta.`{{path}}` t USING updates s ON t.id = s.id "
                "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *").first()
            assert (merged.num_updated_rows, merged.num_inserted_rows) == (2, 3), merged
            history = spark.sql(f"DESCRIBE HISTORY delta.`{{path}}`").orderBy("version")
            assert [r.operation for r in history.collect()] == ["WRITE", "MERGE"]
            old = spark.read.format("delta").option("versionAsOf", 0).load(path)
            assert sorted(r.v for r in old.collect()) == [0, 2, 4, 6, 8]
            spark.sql(f"RESTORE TABLE delta.`{{path}}` TO VERSION AS OF 0")
            now = spark.read.format("delta").load(path)
            assert sorted(r.v for r in now.collect()) == [0, 2, 4, 6, 8]
            last = spark.sql(f"DESCRIBE HISTORY delta.`{{path}}`").orderBy("version").collect()[-1]
            assert last.operation == "RESTORE", last
            assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
            print("round trip ok")
        """)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
        env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER="tester", MLOPS_KIT_SPARK="connect",
                   PYTHONWARNINGS="error::UserWarning")
        done = subprocess.run([sys.executable, "-c", client], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "round trip ok" in done.stdout
        # written by the server's JVM into the workspace, as a Delta table
        assert (table / "_delta_log" / "00000000000000000002.json").is_file()

    def test_the_kits_delta_feature_and_batch_paths_run_over_connect(self, server):
        """MERGE, history, OPTIMIZE/ZORDER, scan metrics, the feature store and batch
        scoring go through SQL and MLflow's UDF: no DeltaTable API, no JVM in the client.

        Scoring by alias twice, with the alias moved in between, must give the new
        version's predictions (the server's Python workers are reused between queries).
        """
        ws, info = server
        client = textwrap.dedent("""
            import pandas as pd
            from sklearn.linear_model import LinearRegression
            from mlflow.tracking import MlflowClient
            from mlops_kit import delta, get_workspace
            from mlops_kit.deployment.batch import optimize_table, score_table
            from mlops_kit.features import FeatureStoreClient
            from mlops_kit.scans import measure_scan
            from mlops_kit.spark import get_spark, is_connect
            from registered import register_champion

            ws = get_workspace().activate()
            spark = get_spark()
            assert is_connect(spark), type(spark)

            frame = pd.DataFrame({"id": range(400), "x": [float(i % 97) for i in range(400)]})
            for part in range(8):  # eight small files, each spanning every x
                delta.write_table(frame.iloc[part::8], "things", mode="append")
            path = delta.resolve_path("things")
            wanted = spark.read.format("delta").load(path).where("x = 3")
            before = measure_scan(wanted)
            print("optimize", optimize_table("things", zorder_by=["x"]))
            after = measure_scan(wanted)
            assert before.rows == after.rows == int((frame["x"] == 3).sum()), (before, after)
            assert after.files_read == 1 < before.files_read, (before, after)
            assert delta.last_commit(path)["operation"] == "OPTIMIZE"

            updates = spark.createDataFrame([(1, 100.0, "a"), (1000, 5.0, "b")], "id long, x double, tag string")
            delta.merge_into(path, updates, ["id"])
            merged = spark.read.format("delta").load(path)
            assert merged.count() == 401 and "tag" in merged.columns
            assert merged.where("id = 1").first()["x"] == 100.0
            ops = delta.history("things")["operation"].tolist()
            assert ops[:2] == ["MERGE", "OPTIMIZE"], ops
            assert list(delta.table_detail(path)["partitionColumns"]) == []

            fs = FeatureStoreClient(ws, spark=spark)
            fs.create_table("feats", primary_keys="id",
                            df=spark.createDataFrame([(1, 1.0), (2, 2.0)], "id long, f double"))
            fs.write_table("feats", spark.createDataFrame([(2, 20.0, 7), (3, 3.0, 8)],
                                                          "id long, f double, g long"))
            rows = sorted((r.id, r.f, r.g) for r in fs.read_table("feats").collect())
            assert rows == [(1, 1.0, None), (2, 20.0, 7), (3, 3.0, 8)], rows

            X = frame[["x"]]

            def constant(value):  # a model that answers value for every row
                return LinearRegression().fit(X, [value] * len(X))

            def scored():
                rows = spark.read.format("delta").load(delta.resolve_path("scored")).collect()
                return {round(r.prediction, 6) for r in rows}

            uri = register_champion(constant(1.0), X, "const")
            first = score_table(uri, "things", "scored", engine="udf")
            assert first["engine"] == "udf" and scored() == {1.0}, (first, scored())
            # the same URI text, the alias moved to a new version: its answers, not the cached ones
            assert register_champion(constant(2.0), X, "const") == uri
            score_table(uri, "things", "scored", engine="udf")
            assert scored() == {2.0}, scored()
            print("kit over connect ok")
        """)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
        env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER="tester",
                   PYTHONPATH=str(REPO / "tests"))
        template = os.environ.get("MLOPS_KIT_MLFLOW_TEMPLATE")  # the suite's migrated empty store
        if template:
            env["MLOPS_KIT_MLFLOW_TEMPLATE"] = template
        done = subprocess.run([sys.executable, "-c", client], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr[-4000:]
        assert "kit over connect ok" in done.stdout
        assert "Starting" not in done.stderr  # the running server was used, silently
        assert running_server(ws)["pid"] == info["pid"]

    def test_a_job_leaves_a_server_started_beforehand_running(self, server, tmp_path):
        """``mlops-kit job run`` with Spark, in a workspace whose server was started beforehand
        (the module's): the job uses it and leaves it running."""
        from notebook_runner import write_spark_count_job

        ws, info = server
        job = tmp_path / "count.ipynb"
        write_spark_count_job(job)
        second = _run_kit(ws, "job", "run", str(job))
        assert second.returncode == 0, second.stderr[-3000:]
        assert running_server(ws)["pid"] == info["pid"]  # a server started beforehand stays

    def test_stop_ends_the_process_group(self, server):
        ws, info = server
        procs = [psutil.Process(info["pid"]), *psutil.Process(info["pid"]).children(recursive=True)]
        result = _cli(ws, "spark", "stop")
        assert result.exit_code == 0, result.output
        assert f"stopped: {info['url']} (pid {info['pid']})" in result.output
        assert [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
        assert not state_path(ws).exists()
        assert _cli(ws, "spark", "status").exit_code == 1
        assert _cli(ws, "spark", "stop").exit_code == 4


@pytest.mark.slow
def test_the_first_command_that_needs_spark_starts_the_server_and_later_ones_share_it(tmp_path):
    """With nothing set, a session goes to the workspace's server: the first process starts
    it (one line says so), the next connects silently, and the server outlives both."""
    ws = Workspace(root=tmp_path / "kit", user="tester")
    client = ("from mlops_kit.spark import get_spark, is_connect\n"
              "spark = get_spark()\n"
              "print(is_connect(spark), spark.range(3).count())\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER="tester")
    try:
        runs = [subprocess.run([sys.executable, "-c", client], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=600) for _ in range(2)]
        for run in runs:
            assert run.returncode == 0, run.stdout + run.stderr[-3000:]
            assert run.stdout.strip() == "True 3"
        assert runs[0].stderr.count("Starting this workspace's Spark Connect server") == 1
        assert "Starting" not in runs[1].stderr
        assert running_server(ws) is not None  # the clients are gone, the server is not
        # a kernel killed in the middle of its work does not take the server down
        killed = subprocess.run(
            [sys.executable, "-c", client + "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert killed.returncode == -9
        again = subprocess.run([sys.executable, "-c", client], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=600)
        assert again.stdout.strip() == "True 3" and "Starting" not in again.stderr, again.stderr
        # a server that died is started again by the next process that needs Spark, which says so
        dead = running_server(ws)["pid"]
        os.killpg(dead, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while running_server(ws) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        revived = subprocess.run([sys.executable, "-c", client], env=env, cwd=REPO,
                                 capture_output=True, text=True, timeout=600)
        assert revived.stdout.strip() == "True 3", revived.stderr[-3000:]
        assert f"(pid {dead}) had stopped; starting a new one" in revived.stderr
        assert running_server(ws)["pid"] != dead
    finally:
        if running_server(ws) is not None:
            stop_server(ws)


@pytest.mark.slow
def test_a_real_on_demand_server_outlives_a_session_in_use_then_stops_by_itself(tmp_path):
    """A script starts the server on demand with a 6 s limit, keeps its session through a
    10 s pause and queries again; once it exits the server stops and leaves nothing."""
    ws = Workspace(root=tmp_path / "kit", user="tester")
    client = textwrap.dedent("""
        import time
        from mlops_kit.spark import get_spark
        from mlops_kit.spark_server import running_server
        spark = get_spark()
        assert spark.range(3).count() == 3
        pid = running_server()["pid"]
        time.sleep(10)  # longer than the limit, session open
        assert spark.range(4).count() == 4 and running_server()["pid"] == pid
        print(pid)
    """)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER="tester",
               MLOPS_KIT_SPARK_IDLE_MINUTES="0.1")
    try:
        run = subprocess.run([sys.executable, "-c", client], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        assert "it stops after 0.1 min without a client" in run.stderr
        assert _wait_for(lambda: not state_path(ws).exists(), 60), "the server still runs"
        assert _wait_for(lambda: not _processes_of(ws), 60), _processes_of(ws)
        assert server_status(ws) == {"state": "stopped"}
        assert "no client for 0.1 min" in log_path(ws).read_text()
    finally:
        if running_server(ws) is not None:
            stop_server(ws)


@pytest.mark.slow
def test_a_job_leaves_the_server_as_it_found_it(tmp_path):
    """``mlops-kit job run`` as a scheduler runs it: a job without Spark starts nothing, and a
    job with Spark stops the server it started (one started beforehand stays warm:
    ``TestRealServer.test_a_job_leaves_a_server_started_beforehand_running``)."""
    from notebook_runner import write_spark_count_job

    ws = Workspace(root=tmp_path / "kit", user="tester")
    job = tmp_path / "count.ipynb"
    write_spark_count_job(job)

    def job_run(notebook: Path, *args: str) -> subprocess.CompletedProcess:
        return _run_kit(ws, "job", "run", str(notebook), *args)

    try:
        plain = job_run(REPO / "tests" / "notebooks" / "double.ipynb")
        assert plain.returncode == 0, plain.stderr[-3000:]
        assert not state_path(ws).exists() and not log_path(ws).exists()  # never started

        first = job_run(job, "-p", "rows", "5")
        assert first.returncode == 0, first.stderr[-3000:]
        assert log_path(ws).exists()  # the job's kernel started a server ...
        assert server_status(ws)["state"] == "stopped" and not _processes_of(ws)  # ... and it went
        # a server started beforehand stays warm: TestRealServer's test on the module's server
    finally:
        if running_server(ws) is not None:
            stop_server(ws)


@pytest.mark.slow
def test_setup_writes_its_tables_through_a_server_it_then_stops(tmp_path):
    """``mlops-kit setup`` needs Spark for the course's Delta tables; the server it starts for
    them is stopped when it is done, so a set-up machine has no JVM left running."""
    ws = Workspace(root=tmp_path / "kit", user="tester")
    try:
        result = _run_kit(ws, "setup")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "rows, version" in result.stdout  # the tables were written ...
        assert log_path(ws).exists()  # ... through the workspace's server ...
        assert "stopped the Spark Connect server" in result.stdout
        assert server_status(ws)["state"] == "stopped" and not _processes_of(ws)  # ... now gone
    finally:
        if running_server(ws) is not None:
            stop_server(ws)


@pytest.mark.slow
def test_a_kernel_whose_server_died_gets_a_new_one_at_its_next_get_spark(tmp_path):
    """In one process: the server dies under a live session, and the next ``get_spark()``
    starts a new server at once instead of handing back the dead session (whose queries
    would wait through minutes of PySpark's retries)."""
    ws = Workspace(root=tmp_path / "kit", user="tester")
    script = textwrap.dedent("""
        import os, signal, time
        from mlops_kit.spark import get_spark, session_alive
        from mlops_kit.spark_server import running_server
        first = get_spark()
        assert first.range(3).count() == 3
        dead = running_server()["pid"]
        os.killpg(dead, signal.SIGKILL)
        while running_server() is not None:
            time.sleep(0.2)
        # the JVM's main thread is a zombie before its hundreds of other threads have
        # exited and its port has closed (seconds under load): wait for the port, bounded
        deadline = time.monotonic() + 60
        while session_alive(first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not session_alive(first)
        started = time.monotonic()
        second = get_spark()
        assert second is not first and second.range(4).count() == 4
        print(dead, running_server()["pid"], round(time.monotonic() - started))
    """)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER="tester")
    try:
        run = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        dead, alive, _seconds = run.stdout.split()
        assert dead != alive
        assert f"(pid {dead}) had stopped; starting a new one" in run.stderr
    finally:
        if running_server(ws) is not None:
            stop_server(ws)

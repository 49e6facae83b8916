"""The kit on a real Spark standalone cluster: a master and two workers on 127.0.0.1.

The fixture starts them from the pip package (``$SPARK_HOME/bin/spark-class``,
SPARK_HOME = pyspark's folder), waits until both workers have registered, and
stops every process at teardown. tests/cluster_scenario.py then runs the
kit's Spark workloads in a subprocess twice, with ``MLOPS_KIT_SPARK_MASTER``
``local[2]`` (started first, while the cluster starts) and
``spark://127.0.0.1:<port>``, so the session of the other tests in this process is
never disturbed; the results must be equal.

Covered: batch scoring (compiled SQL and ``spark_udf`` on the executors), the
Spark drift monitor, the feature store's point-in-time training set, and the
scoring stream stopped while running and restarted.

Small on purpose (a shared 2-core machine): each worker offers 1 core and
1 GB, executors get 512 MB, the driver 768 MB, the daemons 256 MB each.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from mlops_kit._processes import LOOPBACK, free_port, log_tail, stop_child

# two scenario runs, each with its own JVM: ~11 min on a busy 2-core machine
pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.cluster, pytest.mark.own_spark,
              pytest.mark.timeout(2700),
              pytest.mark.xdist_group("standalone_cluster")]  # one cluster, one worker

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "tests" / "cluster_scenario.py"
WORKERS = 2


def _without_connect_mode(environ) -> dict[str, str]:
    """``environ`` without PySpark's marks of a Spark Connect client.

    This test runs in the suite's main pass, in a worker whose other tests hold a Spark
    Connect session, and PySpark marks that process with ``SPARK_CONNECT_MODE_ENABLED``
    (and ``SPARK_REMOTE``). Inherited, the marks would make the scenario's classic
    session and the daemons' Python workers act as Connect clients."""
    return {k: v for k, v in environ.items()
            if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class StandaloneCluster:
    """``spark-class`` master + workers as child processes, each in its own group."""

    def __init__(self, base: Path, workers: int = WORKERS) -> None:
        from mlops_kit.java import find_java

        self.base = base
        self.workers = workers
        self.port, self.ui_port = free_port(), free_port()
        self.processes: list[tuple[subprocess.Popen, Path]] = []
        find_java()  # sets JAVA_HOME when it was not set
        self.env = {
            **_without_connect_mode(os.environ),
            "SPARK_HOME": str(_spark_home()),
            "SPARK_LOCAL_IP": LOOPBACK,
            "SPARK_DAEMON_MEMORY": "256m",
            "SPARK_LOCAL_DIRS": str(base / "local"),
            "SPARK_LOG_DIR": str(base / "logs"),
            # the daemons must not write into the installed package
            "SPARK_WORKER_DIR": str(base / "work"),
        }

    @property
    def url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def _spawn(self, name: str, *args: str) -> None:
        log_path = self.base / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [str(_spark_home() / "bin" / "spark-class"), *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.base, start_new_session=True,
            )
        self.processes.append((process, log_path))

    def alive_workers(self) -> int:
        try:
            state = httpx.get(f"http://{LOOPBACK}:{self.ui_port}/json/", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return 0
        return int(state.get("aliveworkers", 0))

    def start(self, timeout: float = 180) -> "StandaloneCluster":
        self._spawn("master", "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                    "--port", str(self.port), "--webui-port", str(self.ui_port))
        for i in range(self.workers):
            self._spawn(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", self.url,
                        "--host", LOOPBACK, "--webui-port", str(free_port()),
                        "--cores", "1", "--memory", "1g",
                        "--work-dir", str(self.base / f"work-{i}"))
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            for process, log in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{log.stem} exited ({process.returncode}):\n"
                                       f"{log_tail(log, 20)}")
            if self.alive_workers() == self.workers:
                self.startup_seconds = time.monotonic() - started
                return self
            time.sleep(0.5)
        raise RuntimeError(f"{self.workers} workers did not register within {timeout} s:\n"
                           f"{log_tail(self.base / 'master.log', 20)}")

    def stop(self) -> None:
        for process, _ in reversed(self.processes):  # workers first, then the master
            stop_child(process, timeout=15)
        self.processes.clear()


class ScenarioRun:
    """tests/cluster_scenario.py against one master, in a subprocess with its own JVM.

    Started and finished apart, so the local run can go on while the cluster starts."""

    def __init__(self, master: str, home: Path, out: Path) -> None:
        env = {k: v for k, v in _without_connect_mode(os.environ).items()
               if not k.startswith(("MLFLOW_", "MLOPS_KIT_", "PYSPARK_"))}
        env.update(
            MLOPS_KIT_HOME=str(home), MLOPS_KIT_USER="tester", MLOPS_KIT_SPARK_MASTER=master,
            MLOPS_KIT_DRIVER_MEMORY="768m",
            # executors share the workers' 1 GB and 1 core each; adaptive execution off on
            # both sides so the plans (and float sums) are the same
            MLOPS_KIT_SPARK_CONF=_SMALL_CLUSTER_CONF,
            PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
        )
        self.master, self.out = master, out
        # output to files, not pipes: nobody reads a pipe while the run goes on alone
        self.log = out.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(SCENARIO), str(out)], env=env, cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def report(self, timeout: float = 1200) -> dict:
        """Wait for the run; its JSON report (the end of its output when it failed)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_child(self.process, timeout=10)
            raise AssertionError(f"{self.master}: the scenario ran over {timeout} s:\n"
                                 f"{log_tail(self.log, 40)}") from None
        assert self.process.returncode == 0, f"{self.master}:\n{log_tail(self.log, 80)}"
        return json.loads(self.out.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_child(self.process, timeout=10)


def run_scenario(master: str, home: Path, out: Path, timeout: float = 1200) -> dict:
    """Run tests/cluster_scenario.py against ``master``; its JSON report."""
    run = ScenarioRun(master, home, out)
    try:
        return run.report(timeout)
    finally:
        run.stop()


@pytest.fixture(scope="module")
def scenario_base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scenario")


@pytest.fixture(scope="module")
def local_run(scenario_base):
    """The local[2] reference run, started before the cluster so the two overlap: the
    cluster's start is mostly JVMs waiting for each other to register."""
    run = ScenarioRun("local[2]", scenario_base / "local-home", scenario_base / "local.json")
    yield run
    run.stop()


@pytest.fixture(scope="module")
def cluster(local_run):
    base = Path(tempfile.mkdtemp(prefix="mlops-kit-cluster-"))
    standalone = StandaloneCluster(base)
    try:
        yield standalone.start()
    finally:
        standalone.stop()
        shutil.rmtree(base, ignore_errors=True)


_SMALL_CLUSTER_CONF = ("spark.executor.memory=512m;spark.cores.max=2;"
                       "spark.sql.adaptive.enabled=false")


@pytest.fixture(scope="module")
def runs(local_run, cluster, scenario_base):
    local = local_run.report()
    remote = run_scenario(cluster.url, scenario_base / "cluster-home",
                          scenario_base / "cluster.json")
    print("\nseconds (local):", local["seconds"], "\nseconds (cluster):", remote["seconds"],
          f"\ncluster start: {cluster.startup_seconds:.1f} s")
    return local, remote


def _close(a, b, path: str = "") -> None:
    """Equal records, floats to 1e-9 relative (sums may be added in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_the_cluster_has_two_workers_and_the_scenario_ran_on_it(cluster, runs):
    local, remote = runs
    assert cluster.alive_workers() == WORKERS
    assert local["spark_master"] == "local[2]" and local["executors"] == 0
    assert remote["spark_master"] == cluster.url
    assert remote["executors"] == WORKERS  # one executor per worker: the work left the driver


def test_batch_scoring_equals_the_local_run(runs):
    local, remote = runs
    assert len(local["batch"]["sql"]) == 2000
    _close(local["batch"], remote["batch"], "batch")
    # the two engines agree with each other too
    _close(remote["batch"]["sql"], remote["batch"]["udf"], "sql-vs-udf")


def test_drift_monitor_equals_the_local_run(runs):
    local, remote = runs
    assert "temperature" in local["drift"]["drifted"]
    _close(local["drift"], remote["drift"], "drift")


def test_point_in_time_training_set_equals_the_local_run(runs):
    local, remote = runs
    assert len(local["training_set"]) == 300
    assert any(row["v"] is None for row in local["training_set"])  # labels before any feature
    _close(local["training_set"], remote["training_set"], "training_set")


def test_restarted_stream_scores_each_row_once_as_locally(runs):
    local, remote = runs
    ids = [row["id"] for row in remote["streaming"]["rows"]]
    assert ids == list(range(280))
    _close(local["streaming"], remote["streaming"], "streaming")


@pytest.fixture(scope="module")
def connect_on_cluster(cluster, runs, tmp_path_factory):
    """A Spark Connect server whose Spark runs on the cluster (after the classic runs,
    which held the cluster's cores); stopped at the end."""
    from mlops_kit.spark_server import connect_url, start_server, stop_server
    from mlops_kit.workspace import Workspace

    ws = Workspace(root=tmp_path_factory.mktemp("connect-server") / "kit", user="tester")
    saved = {k: os.environ.get(k) for k in ("MLOPS_KIT_SPARK_CONF", "MLOPS_KIT_DRIVER_MEMORY")}
    os.environ.update(MLOPS_KIT_SPARK_CONF=_SMALL_CLUSTER_CONF, MLOPS_KIT_DRIVER_MEMORY="768m")
    try:
        info = start_server(ws, master=cluster.url)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    try:
        yield {**info, "url": connect_url(ws, info)}  # what its clients dial: the token with it
    finally:
        stop_server(ws)


def test_a_connect_server_on_the_cluster_gives_the_local_results(cluster, runs, connect_on_cluster,
                                                                tmp_path):
    """Clients of the server run the same workloads; the server's executors are the cluster's."""
    local, _ = runs
    through = run_scenario(connect_on_cluster["url"], tmp_path / "home", tmp_path / "connect.json")
    assert through["spark_master"] == cluster.url
    apps = httpx.get(f"http://{LOOPBACK}:{cluster.ui_port}/json/", timeout=5).json()["activeapps"]
    assert [a["name"] for a in apps] == ["mlops-kit-connect"] and apps[0]["cores"] == WORKERS
    for section in ("batch", "drift", "training_set", "streaming"):
        _close(local[section], through[section], section)


def test_a_lesson_notebook_runs_through_the_server_on_the_cluster(connect_on_cluster, tmp_path):
    from notebook_runner import run_notebook

    run = run_notebook(REPO / "notebooks" / "03-deployment" / "01-batch.ipynb",
                       env={"MLOPS_KIT_HOME": str(tmp_path / "kit"),
                            "MLOPS_KIT_SPARK_MASTER": connect_on_cluster["url"]},
                       engine="given")
    assert run.error is None


def test_teardown_leaves_no_spark_daemon(tmp_path):
    """A second, short-lived cluster: after stop() none of its JVMs is left."""
    import psutil

    standalone = StandaloneCluster(tmp_path, workers=1).start()
    pids = [p.pid for p, _ in standalone.processes]
    standalone.stop()
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]

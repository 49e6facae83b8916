"""Check that this machine can run the course, part by part.

Each check runs the real thing (start Spark, write a Delta table, log an MLflow
run) and reports ``(name, ok, detail, seconds, fix)``. A failing check never
stops the others, so one run of ``mlops-kit doctor`` lists everything to fix.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["DoctorCheck", "DoctorWarning", "run_checks", "CHECKS", "COURSE_PEAK_MIB",
           "machine_memory"]


@dataclass(frozen=True)
class DoctorCheck:
    """The outcome of one check: what, whether it passed, details, time, the fix.

    ``warn`` marks a check that passed with a caveat (the course runs, but slowly):
    ``ok`` stays True, and ``fix`` says what would help.
    """

    name: str
    ok: bool
    detail: str
    seconds: float
    fix: str = ""
    warn: bool = False


class DoctorWarning(Exception):
    """Raised by a check that passes with a caveat (its message is the detail)."""


#: The whole course's peak resident memory, all its processes together (the shared
#: Spark server's JVM and Python workers, kernels, serving and MLflow processes), in
#: MiB: measured by benchmarks/course_engines.py on 2026-12-08, docs/PERFORMANCE.md
#: ("2026-12-08: within 4 GB").
COURSE_PEAK_MIB = 4128


def machine_memory() -> tuple[int, int]:
    """This machine's total and available memory in MiB (``MemTotal``, ``MemAvailable``)."""
    import psutil

    memory = psutil.virtual_memory()
    return memory.total // 2**20, memory.available // 2**20


def check_memory(ws: Workspace) -> str:
    total, available = machine_memory()
    need = COURSE_PEAK_MIB
    have = f"this machine has {total / 1024:.1f} GB, {available / 1024:.1f} GB of it free now"
    wants = f"the course needs about {need / 1024:.1f} GB at its peak"
    if total < need:
        raise DoctorWarning(f"{wants}, but {have}: it will swap and run slowly")
    if available < need:
        raise DoctorWarning(f"{wants}; {have}: close other programs before the course")
    return f"{wants}; {have}"


def check_python(ws: Workspace) -> str:
    if sys.version_info[:2] != (3, 11):
        raise RuntimeError(f"Python {sys.version.split()[0]}; the kit is built for 3.11")
    return f"Python {sys.version.split()[0]} ({sys.executable})"


def check_java(ws: Workspace) -> str:
    from mlops_kit.java import find_java

    runtime = find_java()
    return f"Java {runtime.major} at {runtime.home}"


def check_delta_jars(ws: Workspace) -> str:
    from mlops_kit.java import delta_version, ensure_delta_jars

    jars = ensure_delta_jars()
    if not jars:
        return f"delta-spark {delta_version()}: no mvn; Spark will download the jars on first start"
    return f"delta-spark {delta_version()}: {', '.join(j.name for j in jars)}"


def check_spark(ws: Workspace) -> str:
    from mlops_kit.spark import get_spark, is_connect, last_startup_seconds, session_url

    spark = get_spark(ws)
    startup = last_startup_seconds()
    took = f"started in {startup:.1f} s" if startup is not None else "already running"
    where = (f"the Spark Connect server {session_url()}" if is_connect(spark)
             else ws.spark_master)
    return f"Spark {spark.version} on {where}, {took}"


def check_delta(ws: Workspace) -> str:
    from mlops_kit.spark import get_spark

    spark = get_spark(ws)
    with tempfile.TemporaryDirectory(prefix="mlops-kit-doctor-") as tmp:
        path = str(Path(tmp) / "roundtrip")
        spark.range(3).write.format("delta").save(path)
        spark.range(5).write.format("delta").mode("overwrite").save(path)
        v0 = spark.read.format("delta").option("versionAsOf", 0).load(path).count()
        v1 = spark.read.format("delta").load(path).count()
    if (v0, v1) != (3, 5):
        raise RuntimeError(f"time travel read {v0} and {v1} rows; expected 3 and 5")
    return "wrote versions 0 and 1, read version 0 back"


def check_mlflow(ws: Workspace) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    ws.activate()
    ws.set_experiment("doctor")
    with mlflow.start_run(run_name="doctor") as run:
        mlflow.log_param("check", "roundtrip")
        mlflow.log_metric("answer", 42.0)
    client = MlflowClient(tracking_uri=ws.tracking_uri)
    back = client.get_run(run.info.run_id).data
    client.delete_run(run.info.run_id)
    if back.metrics.get("answer") != 42.0 or back.params.get("check") != "roundtrip":
        raise RuntimeError("the run read back does not hold what was logged")
    return f"logged and read back a run at {ws.tracking_uri}"


def check_kernel(ws: Workspace) -> str:
    import shutil

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        raise RuntimeError("no 'python3' Jupyter kernel") from None
    exe = spec.argv[0]
    resolved = sys.executable if exe in ("python", "python3") else shutil.which(exe)
    if not resolved:
        raise RuntimeError(f"the python3 kernel runs {exe!r}, which does not exist")
    return f"python3 kernel: {resolved}"


def check_privacy(ws: Workspace) -> str:
    from mlops_kit.workspace import readable_by_others

    if readable_by_others(ws.root):
        mode = oct(ws.root.stat().st_mode & 0o777)
        raise RuntimeError(f"the workspace {ws.root} is open to other users (mode {mode}): "
                           "they can read your tables, inference logs and registry")
    return f"{ws.root} is private (0700)" if ws.root.exists() else "created private on first use"


#: (name, check, fix) in the order they run; a check returns its detail or raises
CHECKS: list[tuple[str, Callable[[Workspace], str], str]] = [
    ("python", check_python, "Use Python 3.11: ./run.sh creates .venv with python3.11."),
    ("java", check_java, "Install Java 17: apt-get install openjdk-17-jdk-headless "
                         "(or conda install -c conda-forge openjdk=17), or set JAVA_HOME."),
    ("delta jars", check_delta_jars, "Run `mlops-kit setup --no-data` with Maven Central "
                                     "reachable, or copy the jars into ~/.m2/repository."),
    ("spark", check_spark, "Fix java and delta jars first; see the detail for Spark's own error."),
    ("delta round trip", check_delta, "Check that the Delta jar matches pyspark "
                                      "(pip install -e . reinstalls the pinned pair)."),
    ("mlflow", check_mlflow, "Check MLOPS_KIT_TRACKING_URI / MLFLOW_TRACKING_URI, or unset them "
                             "to use the workspace's SQLite store."),
    ("memory", check_memory, "Close other programs (browsers, IDEs) while the course runs, "
                             "and run it with `mlops-kit course --no-prepare-next` (one "
                             "kernel at a time instead of two)."),
    ("workspace privacy", check_privacy, "Run `chmod 700` on the workspace folder (the kit "
                                         "does this when it owns the folder)."),
    ("papermill kernel", check_kernel, "Run `python -m ipykernel install --sys-prefix` in .venv."),
]


def _spark_running() -> bool:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return False
    return SparkSession.getActiveSession() is not None


def run_checks(
    workspace: Workspace | None = None,
    *,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[DoctorCheck]:
    """Run the checks (all, or those named in ``only``) and return their outcomes.

    Spark is stopped afterwards if a check started it.
    """
    ws = workspace or get_workspace()
    results: list[DoctorCheck] = []
    wants_spark = any(name in ("spark", "delta round trip") for name, _, _ in CHECKS
                      if not only or name in only)
    had_spark = wants_spark and _spark_running()
    for name, check, fix in CHECKS:
        if only and name not in only:
            continue
        if progress:
            progress(name)
        started = time.perf_counter()
        warn = False
        try:
            detail, ok = check(ws), True
        except DoctorWarning as caveat:
            detail, ok, warn = str(caveat), True, True
        except Exception as err:  # a failing check must not stop the others
            first = next((line for line in str(err).splitlines() if line.strip()), "")
            detail, ok = f"{type(err).__name__}: {first}", False
        results.append(DoctorCheck(name, ok, detail, time.perf_counter() - started,
                                   fix if warn or not ok else "", warn=warn))
    if wants_spark and not had_spark:  # leave a session the caller had running alone
        from mlops_kit.spark import stop_spark

        stop_spark()
    return results

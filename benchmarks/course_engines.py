"""The course on one shared Spark Connect server vs a Spark JVM in every kernel: time and memory.

``mlops-kit course`` runs every notebook and job against the workspace's one
Spark Connect server (the default, started once by the command). The baseline
is the same command with ``MLOPS_KIT_SPARK=local``: each kernel that touches
Spark starts a JVM of its own, as the kit did before the shared server.

Each way runs the selected notebooks (default: the whole course) from a fresh
workspace (``mlops-kit setup --no-data``). A sampler reads, every second, the
resident memory of every process of that workspace (found by its
``MLOPS_KIT_HOME``), in four groups: Spark JVMs, Spark's Python workers,
Jupyter kernels, the rest (papermill runners, serving and MLflow processes).
Printed per way: wall time, notebooks green, the peak of each group's sum,
the peak of the total, and the JVMs' resident memory in the last sample
before the course ended (for the shared server: what it holds after the whole
course). The ratio is baseline / shared for time and for the total's peak.

Run: ``.venv/bin/python benchmarks/course_engines.py [--only PATTERN ...]``
(the whole course takes about ten minutes a way on two cores).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

KIT = [str(Path(sys.executable).with_name("mlops-kit"))]  # the console script of this environment
WAYS = {"a JVM per kernel (baseline)": {"MLOPS_KIT_SPARK": "local"},
        "one shared Connect server (kit)": {}}
GROUPS = ("Spark JVMs", "Spark Python workers", "kernels", "other")
MIB = 1024 * 1024


def _group(proc: psutil.Process) -> str:
    cmdline = " ".join(proc.cmdline())
    if proc.name() == "java" or "/bin/java" in cmdline:
        return "Spark JVMs"
    if "pyspark.daemon" in cmdline or "pyspark.worker" in cmdline:
        return "Spark Python workers"
    if "ipykernel_launcher" in cmdline:
        return "kernels"
    return "other"


class Sampler(threading.Thread):
    """Sums the RSS of the workspace's processes per group, once a second."""

    def __init__(self, home: str) -> None:
        super().__init__(daemon=True)
        self.home, self.samples = home, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            sums = dict.fromkeys(GROUPS, 0)
            for proc in psutil.process_iter():
                try:
                    if proc.environ().get("MLOPS_KIT_HOME") != self.home:
                        continue
                    sums[_group(proc)] += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.samples.append(sums)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _green(log: str) -> str:
    """``n of m green`` from the course's one line per notebook (``[3/32] name ok 9.1 s``)."""
    lines = re.findall(r"^\[\d+/(\d+)\] \S+ (\w+)", log, re.M)
    return f"{sum(status == 'ok' for _, status in lines)} of {lines[0][0] if lines else 0} green"


def _run_course(only: list[str], settings: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlops-kit-bench-") as home:
        env = {**os.environ, "MLOPS_KIT_HOME": home, **settings}
        if "MLOPS_KIT_SPARK" not in settings:
            env.pop("MLOPS_KIT_SPARK", None)
        subprocess.run([*KIT, "setup", "--no-data"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        selection = [arg for pattern in only for arg in ("--only", pattern)]
        sampler = Sampler(home)
        sampler.start()
        started = time.perf_counter()
        done = subprocess.run([*KIT, "course", "--keep-going", *selection], env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        sampler.stop()
        with_jvm = [s for s in sampler.samples if s["Spark JVMs"]]
        return {
            "seconds": seconds,
            "green": _green(done.stdout),
            "peaks": {g: max((s[g] for s in sampler.samples), default=0) for g in GROUPS},
            "total": max((sum(s.values()) for s in sampler.samples), default=0),
            "jvm_last": with_jvm[-1]["Spark JVMs"] if with_jvm else 0,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN")
    args = parser.parse_args()
    runs = {}
    for way, settings in WAYS.items():
        runs[way] = run = _run_course(args.only, settings)
        peaks = " / ".join(f"{run['peaks'][g] / MIB:.0f}" for g in GROUPS)
        print(f"{way:32s} {run['seconds']:7.1f} s  {run['green']}  peak RSS MiB "
              f"({' / '.join(GROUPS)}): {peaks}; total peak {run['total'] / MIB:.0f}; "
              f"JVMs at the end {run['jvm_last'] / MIB:.0f}", flush=True)
    baseline, kit = runs.values()
    print(f"ratio (baseline / kit): time {baseline['seconds'] / kit['seconds']:.2f}x, "
          f"total peak RSS {baseline['total'] / max(kit['total'], 1):.2f}x")


if __name__ == "__main__":
    main()

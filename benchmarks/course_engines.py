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
The server's process tree (from its record) is counted whatever its
environment. Printed per way: wall time, notebooks green, the peak of each
group's sum, the peak of the total and the groups at that moment, and the
JVMs' resident memory in the last sample before the course ended (for the
shared server: what it holds after the whole course); then the time series,
the highest total of each minute and its groups. The ratio is baseline /
shared for time and for the total's peak. ``--csv DIR`` also writes every
sample (seconds since the start, MiB per group) to ``DIR/<way>.csv`` as it
is taken. The shared server's way runs first.

A Spark Connect server named in this shell (``MLOPS_KIT_SPARK_MASTER``,
``MLOPS_KIT_SPARK_TOKEN``) is left out: each way starts its own, in its own
workspace, so its memory is counted.

Run: ``.venv/bin/python benchmarks/course_engines.py [--only PATTERN ...] [--ways shared]``
(the whole course takes about ten minutes a way on two cores).
"""
from __future__ import annotations

import argparse
import csv
import json
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
WAYS = {"one shared Connect server (kit)": {},
        "a JVM per kernel (baseline)": {"MLOPS_KIT_SPARK": "local"}}
SHORT = {"a JVM per kernel (baseline)": "local", "one shared Connect server (kit)": "shared"}
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


def _server_tree(home: str) -> set[int]:
    """The pids of the workspace's Spark Connect server and its children (none: empty)."""
    try:
        pid = int(json.loads((Path(home) / "spark-connect.json").read_text())["pid"])
        server = psutil.Process(pid)
        return {pid, *(child.pid for child in server.children(recursive=True))}
    except (OSError, ValueError, KeyError, psutil.Error):
        return set()


class Sampler(threading.Thread):
    """Sums the RSS of the workspace's processes per group, once a second.

    Each sample is a dict of bytes per group plus ``"t"``, seconds since the start.
    """

    def __init__(self, home: str, csv_path: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.home, self.samples, self.csv_path = home, [], csv_path
        self._stop_event = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            sums = dict.fromkeys(GROUPS, 0)
            server = _server_tree(self.home)
            for proc in psutil.process_iter():
                try:
                    if proc.pid not in server and proc.environ().get("MLOPS_KIT_HOME") != self.home:
                        continue
                    sums[_group(proc)] += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.samples.append({**sums, "t": time.perf_counter() - self._t0})
            if self.csv_path is not None:  # as it goes: an interrupted run keeps its samples
                with open(self.csv_path, "a", newline="") as handle:
                    row = self.samples[-1]
                    csv.writer(handle).writerow([round(row["t"], 1),
                                                 *(round(row[g] / MIB) for g in GROUPS)])

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _green(log: str) -> str:
    """``n of m green`` from the course's one line per notebook (``[3/32] name ok 9.1 s``)."""
    lines = re.findall(r"^\[\d+/(\d+)\] \S+ (\w+)", log, re.M)
    return f"{sum(status == 'ok' for _, status in lines)} of {lines[0][0] if lines else 0} green"


def _run_course(only: list[str], settings: dict[str, str], csv_path: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlops-kit-bench-") as home:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MLOPS_KIT_SPARK", "MLOPS_KIT_SPARK_MASTER", "MLOPS_KIT_SPARK_TOKEN",
                            "SPARK_REMOTE", "SPARK_CONNECT_AUTHENTICATE_TOKEN")}
        env.update(MLOPS_KIT_HOME=home, **settings)
        subprocess.run([*KIT, "setup", "--no-data"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        selection = [arg for pattern in only for arg in ("--only", pattern)]
        if csv_path is not None:
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            csv_path.write_text(",".join(["seconds", *GROUPS]) + "\n")
        sampler = Sampler(home, csv_path)
        sampler.start()
        started = time.perf_counter()
        done = subprocess.run([*KIT, "course", "--keep-going", *selection], env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        sampler.stop()
        with_jvm = [s for s in sampler.samples if s["Spark JVMs"]]
        at_peak = max(sampler.samples, key=_total, default=dict.fromkeys(GROUPS, 0))
        return {
            "seconds": seconds,
            "green": _green(done.stdout),
            "peaks": {g: max((s[g] for s in sampler.samples), default=0) for g in GROUPS},
            "total": _total(at_peak),
            "at_peak": at_peak,
            "jvm_last": with_jvm[-1]["Spark JVMs"] if with_jvm else 0,
            "samples": sampler.samples,
            "failed": done.returncode != 0 and done.stdout[-1500:] + done.stderr[-1500:],
        }


def _total(sample: dict) -> int:
    return sum(sample[g] for g in GROUPS)


def _mib(sample: dict) -> str:
    return " / ".join(f"{sample[g] / MIB:.0f}" for g in GROUPS)


def minute_table(samples: list[dict]) -> list[str]:
    """The highest total of each minute with its groups, as markdown rows."""
    rows = []
    for minute in range(int(max((s["t"] for s in samples), default=0) // 60) + 1):
        window = [s for s in samples if minute * 60 <= s["t"] < (minute + 1) * 60]
        if window:
            top = max(window, key=_total)
            rows.append(f"| {minute}-{minute + 1} | {_total(top) / MIB:.0f} | {_mib(top)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--ways", choices=("both", "shared", "local"), default="both")
    parser.add_argument("--csv", type=Path, default=None, metavar="DIR")
    args = parser.parse_args()
    runs = {}
    for way, settings in WAYS.items():
        if args.ways not in ("both", SHORT[way]):
            continue
        runs[way] = run = _run_course(args.only, settings,
                                      args.csv / f"{SHORT[way]}.csv" if args.csv else None)
        print(f"{way:32s} {run['seconds']:7.1f} s  {run['green']}  peak RSS MiB "
              f"({' / '.join(GROUPS)}): {_mib(run['peaks'])}; total peak "
              f"{run['total'] / MIB:.0f} (at {run['at_peak']['t']:.0f} s: "
              f"{_mib(run['at_peak'])}); JVMs at the end {run['jvm_last'] / MIB:.0f}", flush=True)
        if run["failed"]:
            print(run["failed"])
    for way, run in runs.items():
        print(f"\n{way}: the highest total of each minute, MiB\n"
              f"| minute | total | {' / '.join(GROUPS)} |\n|---|---|---|")
        print("\n".join(minute_table(run["samples"])))
    if len(runs) == 2:
        kit, baseline = runs.values()
        print(f"ratio (baseline / kit): time {baseline['seconds'] / kit['seconds']:.2f}x, "
              f"total peak RSS {baseline['total'] / max(kit['total'], 1):.2f}x")


if __name__ == "__main__":
    main()

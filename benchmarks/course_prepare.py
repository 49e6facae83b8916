"""Course notebooks one after another: kernels started on demand vs prepared ahead.

``mlops-kit course`` starts the next notebook's kernel, and the imports most
lessons need (:mod:`mlops_kit.jobs.warmup`: MLflow and its SQL store,
scikit-learn, skops, SciPy, PySpark's Connect client), while the current
notebook runs (``--prepare-next``, the default). The baseline is the same
command with ``--no-prepare-next``: each kernel starts, and imports, only when
its notebook's turn comes, as before.

Each way runs the selected notebooks (default: the model-management module,
six notebooks) from a fresh workspace (``mlops-kit setup --no-data``, its own
Spark Connect server started by the course command and stopped after), the two
ways alternating so they see the same machine. Prints each run's wall time,
the median of each way and the ratio (baseline / prepared).

Run: ``.venv/bin/python benchmarks/course_prepare.py [--only 02-model-management] [--repeats 1]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = [str(Path(sys.executable).with_name("mlops-kit"))]  # the console script of this environment
WAYS = {"kernels on demand (baseline)": "--no-prepare-next", "prepared ahead (kit)": "--prepare-next"}


def _course_seconds(only: list[str], flag: str) -> float:
    with tempfile.TemporaryDirectory(prefix="mlops-kit-bench-") as home:
        env = {**os.environ, "MLOPS_KIT_HOME": home}
        subprocess.run([*KIT, "setup", "--no-data"], env=env, check=True, stdout=subprocess.DEVNULL)
        selection = [arg for pattern in only for arg in ("--only", pattern)]
        started = time.perf_counter()
        subprocess.run([*KIT, "course", *selection, flag], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=None, metavar="PATTERN")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    only = args.only or ["02-model-management"]
    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    for repeat in range(args.repeats):
        for way, flag in WAYS.items():
            took = _course_seconds(only, flag)
            seconds[way].append(took)
            print(f"run {repeat + 1}: {way:30s} {took:7.1f} s", flush=True)
    medians = {way: statistics.median(times) for way, times in seconds.items()}
    for way, median in medians.items():
        print(f"{way:30s} median {median:7.1f} s over {len(seconds[way])} run(s)")
    baseline, kit = medians.values()
    print(f"ratio (baseline / kit): {baseline / kit:.2f}x")


if __name__ == "__main__":
    main()

"""First Spark cell of a fresh Python process: a local JVM vs a warm Spark Connect server.

What a lesson pays before its first result. Each repetition starts a new
Python process (as a new notebook kernel is) that runs one "first cell":

    from mlops_kit.spark import get_spark
    spark = get_spark()                                 # session
    spark.range(1000)...write.format("delta").save(p)   # small Delta write
    spark.read.format("delta").load(p).count()          # and read back

two ways, alternating so both see the same machine load:

- classic: ``MLOPS_KIT_SPARK=local``, a local[*] JVM started in the process
  (the kit's settings: C1-only JIT, Delta jars from ``~/.m2``): every kernel
  before the shared server became the default;
- connect: the default, the workspace's Spark Connect server, started once by
  this benchmark (``mlops_kit.spark_server``, its own start-up time is
  printed) and stopped at the end. A server that has just started loads
  Delta's classes and compiles its first queries for its first clients; in
  a course it has served the notebooks before. So ``--warm-clients`` (2)
  connect cells run first, printed but not counted: the timed ones are those
  of a server that is up and warm.

Prints, per way, min and median of the session start, of the whole cell, and
of the process (interpreter start and imports included), then the ratio of
the medians (classic / connect).

Also printed: each cell's parts (the kit's import, the session, the Delta write, the
read), their medians, and the machine's load at the end.

Run: ``.venv/bin/python benchmarks/spark_start.py [--repeats 5] [--rows 1000] [--warm-clients 2]
[--ways connect]`` (``connect``: the warm server only, no local JVMs)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops_kit.spark_server import start_server, stop_server  # noqa: E402
from mlops_kit.workspace import Workspace  # noqa: E402

CELL = textwrap.dedent("""
    import json, sys, time
    started = time.perf_counter()
    from mlops_kit.spark import get_spark
    imports = time.perf_counter() - started
    spark = get_spark()
    session = time.perf_counter() - started
    path, rows = sys.argv[1], int(sys.argv[2])
    spark.range(rows).selectExpr("id", "id * 2 AS v").write.format("delta").save(path)
    written = time.perf_counter() - started
    assert spark.read.format("delta").load(path).count() == rows
    cell = time.perf_counter() - started
    print(json.dumps({"imports": imports, "session": session, "write": written - session,
                      "read": cell - written, "cell": cell, "kind": type(spark).__module__}))
""")


def first_cell(mode: str, root: Path, table: Path, rows: int) -> dict:
    """Run the cell in a fresh interpreter; its timings plus the process's wall time."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(root), MLOPS_KIT_USER="bench", MLOPS_KIT_SPARK=mode)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CELL, str(table), str(rows)], env=env,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the {mode} cell failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = "pyspark.sql.connect.session" if mode == "connect" else "pyspark.sql.session"
    if result["kind"] != expected:
        raise SystemExit(f"the {mode} cell ran on {result['kind']}, not {expected}")
    return {**result, "process": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--warm-clients", type=int, default=2,
                        help="untimed connect cells first (a fresh server's first clients)")
    parser.add_argument("--ways", choices=("both", "connect"), default="both",
                        help="connect: the warm server only (no local JVMs)")
    args = parser.parse_args()
    ways = (("classic", "local"), ("connect", "connect"))[1 if args.ways == "connect" else 0:]

    root = Path(tempfile.mkdtemp(prefix="spark-start-bench-"))
    ws = Workspace(root=root, user="bench")
    server = start_server(ws)
    print(f"Spark Connect server started in {server['startup_seconds']:.1f} s ({server['url']})")
    samples: dict[str, list[dict]] = {name: [] for name, _ in ways}
    try:
        for client in range(args.warm_clients):
            sample = first_cell("connect", root, root / "tables" / f"warm_{client}", args.rows)
            print(f"  warm-up client {client + 1} of the fresh server: cell {sample['cell']:6.2f} s "
                  "(not counted)", flush=True)
        for rep in range(args.repeats):
            for name, mode in ways:
                table = root / "tables" / f"{name}_{rep}"
                sample = first_cell(mode, root, table, args.rows)
                samples[name].append(sample)
                print(f"  {rep + 1}/{args.repeats} {name:8s} imports {sample['imports']:5.2f} s  "
                      f"session {sample['session']:6.2f} s  write {sample['write']:5.2f} s  "
                      f"read {sample['read']:5.2f} s  cell {sample['cell']:6.2f} s  "
                      f"process {sample['process']:6.2f} s", flush=True)
    finally:
        stop_server(ws)
    print(f"\n{'way':8s} {'session min/median s':>22s} {'cell min/median s':>20s} "
          f"{'process min/median s':>22s}")
    medians = {}
    for name, rows in samples.items():
        cols = []
        for key in ("session", "cell", "process"):
            values = [row[key] for row in rows]
            medians[name, key] = statistics.median(values)
            cols.append(f"{min(values):9.2f} / {statistics.median(values):6.2f}")
        print(f"{name:8s} {cols[0]:>22s} {cols[1]:>20s} {cols[2]:>22s}")
    for name, rows in samples.items():
        parts = ", ".join(f"{key} {statistics.median(row[key] for row in rows):.2f}"
                          for key in ("imports", "session", "write", "read"))
        print(f"{name}: medians of the parts (session counts from the start, imports "
              f"included): {parts} s")
    for key in ("session", "cell", "process"):
        if ("classic", key) in medians:
            ratio = medians["classic", key] / medians["connect", key]
            print(f"ratio of medians, {key:8s} (classic / connect): {ratio:.1f}x")
    print(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

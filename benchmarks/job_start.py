"""Starting a notebook job: the runner's imports with and without rfc3987-syntax.

Every course notebook and every job runs in a new papermill runner process
(``mlops_kit.jobs._execute``), which imports papermill, which imports
nbformat, which imports jsonschema. jsonschema 4.25 and later also import
``rfc3987_syntax`` when it is installed (jupyter-events installs it), and that
module builds a parser grammar at import time. The kit pins
``jsonschema<4.25``, whose import never touches it.

The baseline is a runner process of jsonschema 4.25+: it imports papermill and
then ``rfc3987_syntax``, exactly the import those versions add. The kit's
runner imports papermill only. Both run as fresh processes, alternating, so
they see the same machine load; a first untimed pair warms the file cache. For
scale it also times one whole ``run_notebook`` of a two-cell notebook.

Prints min and median seconds for each, and the ratio of the medians
(baseline / kit).

Run: ``.venv/bin/python benchmarks/job_start.py [--repeats 7]``
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WAYS = {
    "jsonschema 4.25+ (baseline)": "import papermill, rfc3987_syntax",
    "kit (jsonschema<4.25)": "import papermill",
}


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if importlib.util.find_spec("rfc3987_syntax") is None:
        sys.exit("rfc3987-syntax is not installed here: pip install rfc3987-syntax to "
                 "measure the baseline")

    from importlib.metadata import version

    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    for repeat in range(args.repeats + 1):  # repeat 0 warms the file cache, untimed
        for way, code in WAYS.items():
            took = _seconds(code)
            if repeat:
                seconds[way].append(took)

    print(f"runner imports in a fresh process, {args.repeats} repeats each "
          f"(jsonschema {version('jsonschema')} installed)")
    for way, values in seconds.items():
        print(f"  {way:28s} min {min(values):5.2f} s   median {statistics.median(values):5.2f} s")
    baseline, kit = (statistics.median(v) for v in seconds.values())
    print(f"  ratio baseline / kit: {baseline / kit:.2f}x "
          f"({baseline - kit:.2f} s saved per notebook or job)")

    from mlops_kit.jobs import run_notebook
    from mlops_kit.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="job-start-bench-") as tmp:
        result = run_notebook(ROOT / "tests" / "notebooks" / "double.ipynb", {"x": "1"},
                              workspace=Workspace(root=Path(tmp), user="bench"))
    print(f"one whole run_notebook of a two-cell notebook: {result.seconds:.2f} s")


if __name__ == "__main__":
    main()

"""From one course notebook to the next: waiting for the kernel's shutdown vs not.

``mlops-kit course`` and pipelines start the next notebook's kernel while the
current one runs (:func:`mlops_kit.jobs.prepare_notebook`). What the next
notebook still waited for was the end of the current one: papermill stopped
its kernel, and a graceful kernel shutdown (exit handlers, channels) takes a
second or more, before the runner reported. The kit now writes the outcome
first and stops the kernel after it (``PreparedJob.run(wait_for_shutdown=False)``),
so the course goes on while the shutdown runs on the other core.

Each repetition prepares a short notebook (``%load_ext mlops_kit`` and two
cells, the shape of a course notebook's first cells), lets its warm-up finish,
and times ``run()`` both ways, alternating; the kernel that was not waited for
is waited for outside the timing. Prints min and median of each way and the
ratio of medians (baseline / kit).

Run: ``.venv/bin/python benchmarks/notebook_handoff.py [--repeats 7]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

WAYS = {"wait for the kernel's shutdown (baseline)": True, "outcome first (kit)": False}


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext mlops_kit"),
                nbformat.v4.new_code_cell("rows = [n * n for n in range(1000)]"),
                nbformat.v4.new_code_cell("print(sum(rows))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / "handoff.ipynb"
    nbformat.write(nb, path)
    return path


def _time_run(notebook: Path, wait: bool, settle: float) -> float:
    from mlops_kit.jobs import prepare_notebook

    job = prepare_notebook(notebook, output_path=notebook.with_name("out.ipynb"))
    time.sleep(settle)  # the warm-up is done: only the run itself is timed
    started = time.perf_counter()
    job.run(wait_for_shutdown=wait)
    seconds = time.perf_counter() - started
    job.wait_closed()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--settle", type=float, default=8.0,
                        help="seconds between preparing and running (the warm-up's time)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-kit-bench-") as home:
        os.environ["MLOPS_KIT_HOME"] = home
        notebook = _notebook(Path(home))
        seconds: dict[str, list[float]] = {way: [] for way in WAYS}
        _time_run(notebook, True, args.settle)  # untimed: first kernel, cold caches
        for _ in range(args.repeats):
            for way, wait in WAYS.items():
                seconds[way].append(_time_run(notebook, wait, args.settle))
    for way, times in seconds.items():
        print(f"{way:42s} min {min(times):5.2f} s  median {statistics.median(times):5.2f} s")
    baseline, kit = (statistics.median(t) for t in seconds.values())
    print(f"ratio of medians (baseline / kit): {baseline / kit:.1f}x "
          f"({baseline - kit:.2f} s less per notebook or pipeline step)")


if __name__ == "__main__":
    main()

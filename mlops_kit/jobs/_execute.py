"""Child process of :func:`mlops_kit.jobs.runner.run_notebook`: one papermill run.

Running papermill in its own process group lets the parent enforce an outer
timeout (killing this process and its kernel together) and run several
notebooks at once without sharing a kernel manager or an event loop.

Usage: ``python -m mlops_kit.jobs._execute SPEC.json``. The spec holds the
papermill arguments; the outcome is written to ``spec["result_path"]`` as JSON:
``{"status": "ok"}`` or ``{"status": "failed", "cell_index": ..., "ename": ...,
"evalue": ..., "source": ...}``.
"""
from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path


def locate_failure(output_path: str | Path) -> tuple[int | None, str]:
    """Index and source of the cell that failed or was still running, if any.

    Used when papermill itself could not say (cell timeout, outer timeout,
    dead kernel): the executed copy on disk is saved after every cell.
    """
    import nbformat

    try:
        nb = nbformat.read(str(output_path), as_version=4)
    except Exception:  # not written yet, or cut off mid-write
        return None, ""
    for index, cell in enumerate(nb.cells):
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if errored or status in ("running", "failed"):
            return index, cell.source
    return None, ""


def _execute(spec: dict) -> dict:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            spec["input_path"],
            spec["output_path"],
            parameters=spec["parameters"],
            kernel_name=spec["kernel_name"],
            cwd=spec["cwd"],
            execution_timeout=spec["execution_timeout"],
            log_output=spec["log_output"],
            progress_bar=False,
            start_timeout=120,
        )
    except PapermillExecutionError as err:
        # papermill puts an error banner cell on top of the saved copy; report
        # the index in that copy, the one a person opens
        cell_index, _ = locate_failure(spec["output_path"])
        return {
            "status": "failed",
            "cell_index": err.cell_index if cell_index is None else cell_index,
            "ename": err.ename,
            "evalue": err.evalue,
            "source": err.source,
        }
    except Exception as err:  # kernel died, cell timeout, bad notebook: report, don't crash
        cell_index, source = locate_failure(spec["output_path"])
        if isinstance(err, TimeoutError):
            evalue = f"the cell ran longer than {spec['execution_timeout']:g} s"
        else:
            evalue = next((line for line in str(err).splitlines() if line.strip()), "")
        return {
            "status": "failed",
            "cell_index": cell_index,
            "ename": type(err).__name__,
            "evalue": evalue,
            "source": source,
            "traceback": traceback.format_exc(),
        }
    return {"status": "ok"}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    if spec["log_output"]:  # papermill logs cell outputs through logging
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    outcome = _execute(spec)
    Path(spec["result_path"]).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    sys.exit(main(sys.argv[1:]))

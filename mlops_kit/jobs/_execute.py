"""Child process of :func:`mlops_kit.jobs.runner.run_notebook`: one papermill run.

Running papermill in its own process group lets the parent enforce an outer
timeout (killing this process and its kernel together) and run several
notebooks at once without sharing a kernel manager or an event loop.

The child starts its kernel, then waits for a line on stdin: ``go`` runs the
notebook, end of input ends it without running. A parent that knows the next
notebook (the course runner, a pipeline) starts it while the current one runs,
with ``"warm_up": true`` in the spec: the kernel then also imports what lessons
and jobs use (:mod:`mlops_kit.jobs.warmup`) before its first cell, so the
seconds of kernel start and imports are spent on the idle core instead of in
front of the learner. A job started to run at once skips the warm-up: it
would only delay a notebook that may need none of it.

Usage: ``python -m mlops_kit.jobs._execute SPEC.json``. The spec holds the
papermill arguments; the outcome is written to ``spec["result_path"]`` as JSON:
``{"status": "ok"}`` or ``{"status": "failed", "cell_index": ..., "ename": ...,
"evalue": ..., "source": ...}``. It is written (whole, by a rename) before the
kernel is shut down: a graceful shutdown takes a second or more, and a parent
that has the next notebook ready need not wait for it.
"""
from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

#: what the kernel runs before the notebook: imports only, nothing bound in the
#: learner's namespace, no output, no history entry (``silent=True``)
WARM_UP = "__import__('mlops_kit.jobs.warmup', fromlist=['import_common']).import_common()"
#: the line that tells a started child to run its notebook
GO = "go"


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


def start_kernel(spec: dict) -> Any:
    """A started kernel for the spec's notebook (its folder as working directory)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    km = AsyncKernelManager(kernel_name=spec["kernel_name"])
    run_sync(km.start_kernel)(cwd=spec["cwd"])
    return km


def warm_up(km: Any, timeout: float = 120) -> None:
    """Run :data:`WARM_UP` in the kernel and wait for it (a failed import only costs its time).

    Its own client, closed after: papermill's client then sees a kernel
    whose execution count is still 0 and whose namespace holds nothing new.
    """
    from jupyter_client.blocking import BlockingKernelClient

    kc = BlockingKernelClient()
    kc.load_connection_info(km.get_connection_info())
    # no heartbeat channel: a client without one would call a kernel that is
    # slow to answer its first kernel_info (a loaded machine) dead after 1 s
    kc.start_channels(hb=False)
    try:
        kc.wait_for_ready(timeout=timeout)
        msg_id = kc.execute(WARM_UP, silent=True, store_history=False)
        while True:
            reply = kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return
    finally:
        kc.stop_channels()


def stop_kernel(km: Any) -> None:
    from jupyter_core.utils import run_sync

    if run_sync(km.is_alive)():
        run_sync(km.shutdown_kernel)(now=False)


def wait_for_go() -> bool:
    """True when the parent says :data:`GO`; False on end of input (it cancelled, or died)."""
    return sys.stdin.readline().strip() == GO


def _prepared_kernel_engine() -> str:
    """Register (once) and name papermill's nbclient engine for a kernel started before.

    The client is handed the warmed kernel. A timed-out cell or a dead kernel
    stops it exactly as if the client had started it (the interrupted cell
    keeps its ``KeyboardInterrupt`` output); after a normal end the runner
    stops it once the outcome is written (see :func:`main`).
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class PreparedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     km=None, **_ignored):
            client = PapermillNotebookClient(
                nb_man, km=km, timeout=execution_timeout, startup_timeout=start_timeout,
                kernel_name=kernel_name, log=logging.getLogger("papermill"),
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            # A run that ends normally (failed cells included) leaves the kernel to
            # the runner, which stops it after the outcome is written; a run that
            # breaks off (timeout, dead kernel) stops it here, as nbclient would
            # stop a kernel it started.
            try:
                nb = client.execute(cleanup_kc=False)
            except BaseException:
                client._cleanup_kernel()
                raise
            client.kc.stop_channels()
            return nb

    papermill_engines.register(ENGINE, PreparedKernelEngine)
    return ENGINE


#: papermill engine name of :func:`_prepared_kernel_engine`
ENGINE = "mlops-kit-prepared"


def _execute(spec: dict, km: Any = None) -> dict:
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
            engine_name=_prepared_kernel_engine(),
            km=km,
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


def _failed_start(err: BaseException) -> dict:
    return {"status": "failed", "cell_index": None, "ename": type(err).__name__,
            "evalue": f"the kernel did not start: {err}", "source": "",
            "traceback": traceback.format_exc()}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    if spec["log_output"]:  # papermill logs cell outputs through logging
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        km = start_kernel(spec)
    except Exception as err:  # no kernel: nothing to run, say why once asked to
        if wait_for_go():
            write_result(spec["result_path"], _failed_start(err))
        return 0
    _prepared_kernel_engine()  # imports papermill (about a second) while the kernel starts
    if spec.get("warm_up"):
        try:
            warm_up(km)
        except Exception:  # only the head start is lost: papermill reports a dead kernel itself
            pass
    try:
        if not wait_for_go():
            return 0
        outcome = _execute(spec, km)
        # the outcome first: a parent that does not wait for the kernel's
        # shutdown (a second or more) can go on as soon as it is written
        write_result(spec["result_path"], outcome)
    finally:
        stop_kernel(km)
    return 0


def write_result(path: str | Path, outcome: dict) -> None:
    """Write the outcome whole or not at all: the parent reads it as soon as it exists."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(outcome))
    partial.replace(path)


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    sys.exit(main(sys.argv[1:]))

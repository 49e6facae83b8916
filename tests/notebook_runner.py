"""Run a notebook the way the course does, as a test: the kit's runner, strict labs.

``run_notebook`` hands the notebook to the kit's job runner
(:func:`mlops_kit.jobs.runner.run_notebook`, the one ``mlops-kit course`` uses:
papermill in a process of its own, kernel ``python3``, working directory = the
notebook's folder, a per-cell timeout and an outer timeout that kills the whole
process group, kernel included) with ``MLOPS_KIT_HOME`` pointing at a test
directory and ``MLOPS_KIT_LABS_STRICT=1`` so a wrong solution fails. When the run does not end as expected, the executed
notebook is kept under ``.test-artifacts/notebooks/`` and the test fails with
the failing cell's source and error.

Kernels use the Spark the test's environment names (``tests/conftest.py``): by
default a Spark Connect server shared by the test process
(:func:`shared_spark_master`), the course's default engine, while every test
keeps its own workspace and MLflow registry (the lessons hand ``spark_udf`` a
model version's own storage address, so the server's reused Python workers
never score one test's model with another's). ``engine="connect"`` or
``"local"`` asks for one of the two whatever the environment says.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest


REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".test-artifacts" / "notebooks"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class CellError:
    """The first error a notebook raised."""

    cell_index: int
    source: str
    ename: str
    evalue: str
    traceback: str

    def describe(self) -> str:
        return (
            f"cell {self.cell_index}:\n{_indent(self.source)}\n"
            f"raised {self.ename}: {self.evalue}\n{_indent(self.traceback[-3000:])}"
        )


@dataclass(frozen=True)
class NotebookRun:
    """An executed notebook and how it ended."""

    path: Path
    notebook: Any
    error: CellError | None
    returncode: int
    log: str


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def first_error(nb) -> CellError | None:
    """The first code cell whose outputs hold an error."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return CellError(
                    index,
                    cell.source,
                    output.get("ename", ""),
                    output.get("evalue", ""),
                    _ANSI.sub("", "\n".join(output.get("traceback", []))),
                )
    return None


#: a Python warning as the ``warnings`` module prints it: ``<file>:<line>: <Category>: <message>``
_PY_WARNING = re.compile(r"^\S.*?:\d+: (?:[A-Za-z_]\w*\.)*[A-Z]\w*Warning: .*$", re.M)


def warnings_in(nb) -> list[tuple[int, str]]:
    """``(cell index, line)`` of every warning a notebook's outputs show.

    A warning is what Python's ``warnings`` module prints (``file.py:12:
    UserWarning: ...``, whatever the category) in any stream output; colours
    are stripped first. A lesson's own text that merely contains the word
    ("Warning: drift detected") is not one, and neither is a library's log
    record at WARNING level (MLflow's advice on ``spark_udf(env_manager=
    "local")``, say): those are messages about a choice the course made.
    """
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream":
                continue
            text = _ANSI.sub("", output.get("text", ""))
            found.extend((index, m.group(0)[:300]) for m in _PY_WARNING.finditer(text))
    return sorted(found)


def notebook_metadata(path: Path) -> dict:
    """The notebook's ``mlops_kit`` metadata (e.g. ``{"test": "skip-standalone"}``)."""
    nb = nbformat.read(str(path), as_version=4)
    return dict(nb.metadata.get("mlops_kit", {}))


def _keep(executed: Path, path: Path) -> Path:
    try:
        relative = path.resolve().relative_to(REPO)
    except ValueError:
        relative = Path(path.name)
    kept = ARTIFACTS / relative
    kept.parent.mkdir(parents=True, exist_ok=True)
    if executed.exists():
        shutil.copyfile(executed, kept)
    return kept


_shared_master: str | None = None
_shared_workspace = None


def shared_spark_master() -> str:
    """The ``sc://`` URL of this test process's Spark Connect server, started on first use.

    One per pytest-xdist worker (each has its own folder under ``.test-artifacts``),
    stopped when the process exits. Kernels get it as ``MLOPS_KIT_SPARK_MASTER``:
    their own workspaces stay per test, and the server reads and writes wherever
    their paths point. (Models reach its Python workers as local copies, see
    ``mlops_kit.deployment.batch``.) The server asks for its token, so the URL
    carries it (``sc://localhost:PORT/;token=...``): the kernels' workspaces are
    not the server's, and could not find its token file otherwise.
    """
    global _shared_master, _shared_workspace
    if _shared_master is None:
        from mlops_kit.spark_server import connect_url, start_server
        from mlops_kit.workspace import Workspace

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        _shared_workspace = Workspace(root=REPO / ".test-artifacts" / f"spark-connect-{worker}",
                                      user="tester")
        _shared_master = connect_url(_shared_workspace, start_server(_shared_workspace))
        atexit.register(stop_shared_spark)
    return _shared_master


def stop_shared_spark() -> None:
    """Stop this process's shared Spark Connect server, if it started one.

    Called at the end of the test session (``conftest.pytest_sessionfinish``): an
    xdist worker can exit without running ``atexit`` handlers, and its server's JVM
    would outlive the test run. ``atexit`` stays as the fallback of a plain run.
    """
    global _shared_master
    if _shared_workspace is None or _shared_master is None:
        return
    from mlops_kit.exceptions import NotFoundError
    from mlops_kit.spark_server import stop_server

    _shared_master = None
    try:
        stop_server(_shared_workspace)
    except NotFoundError:  # it died on its own meanwhile
        pass


def run_notebook(
    path: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 600,
    cell_timeout: float = 300,
    env: dict[str, str] | None = None,
    expect_error: bool = False,
    engine: str = "given",
) -> NotebookRun:
    """Execute ``path`` with the kit's job runner and fail the test unless it ends as expected.

    The runner is the one ``mlops-kit course`` and ``mlops-kit job run`` use
    (:func:`mlops_kit.jobs.runner.run_notebook`: papermill in a process group of
    its own, a per-cell and an outer timeout, the first failing cell); this
    adapter only chooses the kernel's environment and turns the outcome into a
    test's pass or failure.

    Parameters
    ----------
    path : path
        The notebook.
    parameters : dict, optional
        Values for the cell tagged ``parameters``.
    cwd : path, optional
        Working directory of the kernel; default the notebook's folder.
    timeout, cell_timeout : float
        Seconds for the whole run (the process group is killed after it) and per cell.
    env : dict, optional
        Extra environment variables for the kernel.
    expect_error : bool
        The notebook is meant to stop with an error (a generated lab): the test
        fails if it does not; the error is in the result.
    engine : {"connect", "local", "given"}
        Spark through this process's shared Connect server, a JVM in the kernel,
        or (the default) wherever the test's environment and ``env`` point it.
    """
    from mlops_kit.exceptions import JobFailedError
    from mlops_kit.jobs import runner
    from mlops_kit.workspace import Workspace

    path = Path(path).resolve()
    child_env = {**os.environ, "MLOPS_KIT_LABS_STRICT": "1", **(env or {})}
    child_env.pop("SPARK_CONNECT_MODE_ENABLED", None)  # PySpark's mark of this process, not a setting
    if engine == "connect":
        child_env.pop("MLOPS_KIT_SPARK", None)
        child_env["MLOPS_KIT_SPARK_MASTER"] = shared_spark_master()
    elif engine == "local":
        child_env.pop("MLOPS_KIT_SPARK_MASTER", None)
        child_env["MLOPS_KIT_SPARK"] = "local"
    elif engine != "given":  # "given": the caller's env says where Spark is
        raise ValueError(f"engine must be 'connect', 'local' or 'given', got {engine!r}")
    child_env.setdefault("MLOPS_KIT_HOME", str(Path(tempfile.mkdtemp()) / "kit"))
    child_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{child_env.get('PATH', '')}"
    workspace = Workspace.from_env(environ=child_env)
    with tempfile.TemporaryDirectory(prefix="nbrun-") as tmp:
        executed = Path(tmp) / path.name
        failure: JobFailedError | None = None
        try:
            runner.run_notebook(path, parameters or {}, workspace=workspace, output_path=executed,
                                cwd=cwd, timeout=timeout, cell_timeout=cell_timeout,
                                base_env=child_env)
        except JobFailedError as err:
            failure = err
        if failure is not None and failure.ename == "TimeoutError" and "notebook ran longer" in failure.evalue:
            kept = _keep(executed, path)
            pytest.fail(f"{path.name} did not finish within {timeout:.0f} s; partial run at {kept}")
        nb = nbformat.read(str(executed), as_version=4) if executed.exists() else None
        error = first_error(nb) if nb is not None else None
        failed = failure is not None
        log = str(failure) if failure is not None else ""
        if failed != expect_error or (failed and nb is None):
            kept = _keep(executed, path)
            if error is not None:
                pytest.fail(f"{path.name} failed in {error.describe()}\nexecuted notebook: {kept}",
                            pytrace=False)
            outcome = f"failed: {log}" if failed else "ran without error"
            pytest.fail(f"{path.name} {outcome}; executed notebook: {kept}", pytrace=False)
        return NotebookRun(path, nb, error, int(failed), log)


#: nbval's rules for what changes between runs (run ids, paths, times...)
SANITIZE = REPO / "tests" / "sanitize.cfg"


def checked_output_differences(executed, reference) -> list[str]:
    """Where ``executed`` differs from ``reference`` in the cells nbval checks, after sanitizing.

    The comparison of ``pytest --nbval-lax --nbval-sanitize-with tests/sanitize.cfg``
    (nbval's own option parsing, stream merging, sanitizing and output
    comparison), applied to a copy the runner already executed instead of running
    the notebook a second time in nbval's kernel. Cells are matched by id; a cell
    is compared when nbval's lax mode would compare it (tagged
    ``nbval-check-output`` or marked ``# NBVAL_CHECK_OUTPUT``, not skipped). One
    message per differing cell, empty when they agree.
    """
    import copy
    from collections import OrderedDict, defaultdict
    from functools import partial
    from types import SimpleNamespace

    from nbval.plugin import (IPyNbCell, coalesce_streams, find_comment_markers,
                              find_metadata_tags, get_sanitize_patterns, nocolors)

    # what nbval leaves out of a comparison (IPyNbFile, without --nbdime)
    skip_compare = ("metadata", "traceback", "prompt_number", "output_type", "name",
                    "execution_count", "application/vnd.jupyter.widget-view+json",
                    "image/png", "image/jpeg")
    judge = SimpleNamespace(
        parent=SimpleNamespace(skip_compare=skip_compare,
                               sanitize_patterns=OrderedDict(get_sanitize_patterns(SANITIZE.read_text()))),
        colors=nocolors, config=None,
        ihook=SimpleNamespace(pytest_assertrepr_compare=lambda **_: []))
    judge.sanitize = partial(IPyNbCell.sanitize, judge)
    judge.format_output_compare = partial(IPyNbCell.format_output_compare, judge)
    ran = {cell.get("id"): cell for cell in executed.cells if cell.cell_type == "code"}
    differences = []
    for index, cell in enumerate(reference.cells):
        if cell.cell_type != "code":
            continue
        options = defaultdict(bool, find_metadata_tags(cell.metadata))
        options.update(find_comment_markers(cell.source))
        if options["skip"] or not options["check"]:
            continue
        if cell.execution_count is None:
            if cell.outputs:
                differences.append(f"cell {index}: unrun reference cell has outputs")
            continue
        if cell.get("id") not in ran:
            differences.append(f"cell {index} (id {cell.get('id')}) was not run")
            continue
        test = coalesce_streams(copy.deepcopy(ran[cell.get("id")].outputs))
        ref = coalesce_streams(copy.deepcopy(cell.outputs))
        if not IPyNbCell.compare_outputs(judge, test, ref):
            differences.append(f"cell {index}:\n{cell.source}\n" + "\n".join(
                str(line) for line in judge.comparison_traceback))
    return differences


def write_spark_count_job(job: Path) -> Path:
    """A one-cell job notebook (``rows`` parameter) that needs Spark: its kernel connects to
    the workspace's server, counts ``rows`` rows and asserts the count."""
    nb = nbformat.read(REPO / "tests" / "notebooks" / "double.ipynb", as_version=4)  # kernelspec
    nb.cells = [nbformat.v4.new_code_cell("rows = 3", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from mlops_kit.spark import get_spark, is_connect\n"
                                          "spark = get_spark()\n"
                                          "assert is_connect(spark)\n"
                                          "assert spark.range(rows).count() == rows")]
    nbformat.write(nb, job)
    return job

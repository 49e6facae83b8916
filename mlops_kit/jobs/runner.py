"""Run a notebook as a parameterized job with papermill.

:func:`run_notebook` is what ``mlops-kit job run`` and the course runner call:

1. resolve the notebook (a path, or a name under ``notebooks/`` such as
   ``jobs/validate_model``);
2. check the parameters against its ``parameters`` cell and coerce them;
3. inject ``env`` when the notebook declares it, and export the workspace to
   the kernel (``MLOPS_KIT_ENV``, ``MLOPS_KIT_HOME``, ...) so ``%load_ext
   mlops_kit`` inside the job picks the same env;
4. execute it in a child process (own process group: an outer timeout kills
   the kernel too), cell by cell with a per-cell timeout;
5. keep the executed copy in the workspace (``<env dir>/jobs/<stem>-<time>.ipynb``)
   and raise :class:`~mlops_kit.exceptions.JobFailedError` with the failing
   cell when one raised.
"""
from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from mlops_kit._processes import kill_family
from mlops_kit.exceptions import ConfigError, JobFailedError, NotFoundError
from mlops_kit.jobs._execute import GO, locate_failure
from mlops_kit.jobs.params import coerce_parameters, declared_parameters
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["JobResult", "run_notebook", "prepare_notebook", "PreparedJob", "resolve_notebook", "notebooks_dir",
           "job_environment"]

#: where the repo keeps its notebooks (an editable install sits in the repo)
REPO_ROOT = Path(__file__).resolve().parents[2]

#: per-cell limit; a cell of a course notebook runs in seconds, Spark start included
DEFAULT_CELL_TIMEOUT = 600
#: limit for the whole notebook
DEFAULT_TIMEOUT = 1800
#: how often a caller not waiting for the kernel's shutdown looks for the outcome (s)
_RESULT_POLL = 0.05


@dataclass(frozen=True)
class CheckedJob:
    """A job whose notebook, env and parameters :func:`check_job` has resolved.

    Pass it to :func:`run_notebook` to run what was checked without reading
    and checking the notebook a second time.
    """

    path: Path
    workspace: Workspace
    values: dict[str, Any]


@dataclass(frozen=True)
class JobResult:
    """What a notebook run produced.

    Attributes
    ----------
    notebook : Path
        The notebook that was run.
    path : Path
        The executed copy, with outputs (and the failing cell, on failure).
    seconds : float
        Wall time, kernel start included.
    parameters : dict
        The parameters injected, after coercion.
    status : str
        ``"ok"`` or ``"failed"``.
    error : JobFailedError or None
        Why it failed (the course runner records failures instead of raising).
    """

    notebook: Path
    path: Path
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    error: JobFailedError | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def notebooks_dir() -> Path:
    """The folder notebook names are resolved against (``MLOPS_KIT_NOTEBOOKS``)."""
    return Path(os.environ.get("MLOPS_KIT_NOTEBOOKS") or REPO_ROOT / "notebooks")


def _known_notebooks(base: Path) -> list[str]:
    if not base.is_dir():
        return []
    return sorted(
        str(p.relative_to(base).with_suffix(""))
        for p in base.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )


def resolve_notebook(notebook: str | os.PathLike[str]) -> Path:
    """Find a notebook by path, or by name relative to :func:`notebooks_dir`.

    ``jobs/validate_model``, ``jobs/validate_model.ipynb`` and
    ``notebooks/jobs/validate_model.ipynb`` all name the same file.

    Raises
    ------
    NotFoundError
        When nothing matches; the message lists the closest names.
    """
    raw = str(notebook)
    base = notebooks_dir()
    names = [raw] if raw.endswith(".ipynb") else [raw, raw + ".ipynb"]
    for name in names:
        for candidate in (Path(name).expanduser(), base / name, REPO_ROOT / name):
            if candidate.is_file() and candidate.suffix == ".ipynb":
                return candidate.resolve()
    known = _known_notebooks(base)
    stem = raw.removesuffix(".ipynb").removeprefix("notebooks/")
    close = difflib.get_close_matches(stem, known, n=3, cutoff=0.4) or [
        k for k in known if Path(stem).name in k
    ][:3]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise NotFoundError(
        f"No notebook {raw!r} (looked for a path, and under {base}).{hint} "
        "Run `mlops-kit job list` to see the job notebooks."
    )


def job_environment(workspace: Workspace, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables for a job's kernel: the workspace's
    (:meth:`~mlops_kit.workspace.Workspace.to_environ`), plus this Python for
    Spark's workers and unbuffered output."""
    env = workspace.to_environ(base)
    env.update(
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", sys.executable),
        PYSPARK_DRIVER_PYTHON=env.get("PYSPARK_DRIVER_PYTHON", sys.executable),
        PYTHONUNBUFFERED="1",
    )
    return env


def _output_path(workspace: Workspace, notebook: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S-%f")
    return workspace.jobs_dir / f"{notebook.stem}-{stamp}.ipynb"


def _execution_count(output: Path, cell_index: int | None) -> int | None:
    """The ``In [n]`` of the failing cell, as papermill and Jupyter number it."""
    if cell_index is None:
        return None
    import nbformat

    try:
        cells = nbformat.read(str(output), as_version=4).cells
    except Exception:  # not written, or cut off mid-write
        return None
    count = cells[cell_index].get("execution_count") if 0 <= cell_index < len(cells) else None
    return count if isinstance(count, int) else None


def _outcome(proc: subprocess.Popen, result_path: Path, stderr_path: Path, output: Path,
             timeout: float) -> dict[str, Any]:
    """What the child reported, or what we can tell when it could not report."""
    if result_path.exists():
        return json.loads(result_path.read_text())
    cell_index, source = locate_failure(output)
    if proc.returncode == -signal.SIGKILL:
        return {"status": "failed", "ename": "TimeoutError", "cell_index": cell_index,
                "source": source, "evalue": f"the notebook ran longer than {timeout:g} s"}
    tail = stderr_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return {"status": "failed", "ename": "RunnerError", "cell_index": cell_index,
            "source": source,
            "evalue": f"the runner exited with code {proc.returncode}: {tail[0]}"}


def check_job(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    env: str | None = None,
    workspace: Workspace | None = None,
) -> CheckedJob:
    """Resolve the notebook, the env and the parameter values, or raise before anything starts.

    Bad input should cost nothing: a scheduler that passes a wrong value gets
    its one-line error before a kernel or a Spark server is started for it.
    Returns the notebook's path, the workspace in the job's env and the
    coerced parameter values (``env`` included when the notebook declares it).

    Raises
    ------
    NotFoundError
        Unknown notebook.
    ConfigError
        Unknown parameter name, a value of the wrong type, a bad env, or two
        different envs (``env=`` and the parameter ``env``).
    """
    path = resolve_notebook(notebook)
    workspace = workspace or get_workspace()
    given = dict(parameters or {})
    if env is not None:
        workspace = workspace.with_env(env)  # validates the env name
    declared = declared_parameters(path)
    values = coerce_parameters(declared, given, notebook=path.name)
    if "env" in declared:
        if "env" in values and values["env"] != workspace.env:
            if env is not None:
                raise ConfigError(
                    f"Two envs were given: --env {env} and the parameter env={values['env']!r}. "
                    "Give one."
                )
            workspace = workspace.with_env(values["env"])
        values["env"] = workspace.env
    return CheckedJob(path=path, workspace=workspace, values=values)


def run_notebook(
    notebook: str | os.PathLike[str] | CheckedJob,
    parameters: Mapping[str, Any] | None = None,
    *,
    wait_for_shutdown: bool = True,
    **options: Any,
) -> JobResult:
    """Execute ``notebook`` with ``parameters`` and keep the executed copy.

    Parameters
    ----------
    notebook : str, path or CheckedJob
        A path, or a name under ``notebooks/`` (``jobs/validate_model``), or
        what :func:`check_job` returned (then give no ``parameters``, ``env``
        or ``workspace``: they were checked with it).
    parameters : mapping, optional
        Values for names of the notebook's ``parameters`` cell; strings are
        coerced to the declared default's type.
    wait_for_shutdown : bool
        Return only once the job's kernel has shut down (default). ``False``
        returns as soon as the outcome is known (see :meth:`PreparedJob.run`).

    Other options, by keyword (those of :func:`prepare_notebook`):

    env : {"dev", "staging", "prod"}, optional
        The environment to run in (default: the workspace's).
    workspace : Workspace, optional
        Default: the active workspace.
    output_path : path, optional
        Where to write the executed notebook (default: the env's jobs folder).
    cwd : path, optional
        Kernel working directory (default: the notebook's folder, as in Jupyter).
    timeout, cell_timeout : float
        Seconds for the whole run and for each cell.
    kernel_name : str
        Jupyter kernel to use.
    log_output : bool
        Stream cell outputs to this process's stdout/stderr.
    extra_env : mapping, optional
        More environment variables for the kernel (e.g. ``MLOPS_KIT_LABS_STRICT``).
    base_env : mapping, optional
        The environment the kernel starts from (default: this process's);
        the workspace's variables and ``extra_env`` are set on top of it. A
        caller that runs a notebook under other settings than its own (a test
        with its own workspace and Spark engine) passes it instead of changing
        ``os.environ``.

    Returns
    -------
    JobResult

    Raises
    ------
    NotFoundError
        Unknown notebook.
    ConfigError
        Unknown parameter name, a value of the wrong type, a bad env.
    JobFailedError
        A cell raised, a cell or the run timed out, or the kernel died.
    """
    job = prepare_notebook(notebook, parameters, warm_up=False, **options)
    return job.run(wait_for_shutdown=wait_for_shutdown)


def prepare_notebook(
    notebook: str | os.PathLike[str] | CheckedJob,
    parameters: Mapping[str, Any] | None = None,
    *,
    env: str | None = None,
    workspace: Workspace | None = None,
    output_path: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    kernel_name: str = "python3",
    log_output: bool = False,
    extra_env: Mapping[str, str] | None = None,
    base_env: Mapping[str, str] | None = None,
    warm_up: bool = True,
) -> "PreparedJob":
    """Check the job and start its runner and kernel now; run its cells at :meth:`PreparedJob.run`.

    Takes the arguments of :func:`run_notebook`. A caller that knows what runs
    next (the course runner, a pipeline) prepares it while the current
    notebook runs: the kernel's start and, with ``warm_up``, the imports most
    lessons and jobs need (:mod:`mlops_kit.jobs.warmup`) then use the idle
    core. Use it as a context manager, or call :meth:`PreparedJob.cancel`
    when the job will not run after all.

    Raises
    ------
    NotFoundError, ConfigError
        As :func:`run_notebook`, before any process starts.
    """
    if isinstance(notebook, CheckedJob):
        if parameters is not None or env is not None or workspace is not None:
            raise TypeError("a CheckedJob carries its parameters, env and workspace; "
                            "give them to check_job() instead")
        job = notebook
    else:
        job = check_job(notebook, parameters, env=env, workspace=workspace)
    output = Path(output_path) if output_path else _output_path(job.workspace, job.path)
    return PreparedJob(job, output, cwd=Path(cwd or job.path.parent), timeout=timeout,
                       cell_timeout=cell_timeout, kernel_name=kernel_name,
                       log_output=log_output, extra_env=dict(extra_env or {}),
                       base_env=None if base_env is None else dict(base_env), warm_up=warm_up)


class PreparedJob:
    """A job whose runner process and kernel are started, waiting to run its cells.

    Made by :func:`prepare_notebook`. :meth:`run` runs it once (its time is
    counted from there); :meth:`cancel`, or leaving a ``with`` block without
    running it, stops the kernel without running a cell.
    """

    def __init__(self, job: CheckedJob, output: Path, *, cwd: Path, timeout: float,
                 cell_timeout: float, kernel_name: str, log_output: bool,
                 extra_env: dict[str, str], warm_up: bool,
                 base_env: dict[str, str] | None = None) -> None:
        self.job = job
        self.output = output
        self.timeout = timeout
        output.parent.mkdir(parents=True, exist_ok=True)
        job.workspace.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="mlops-kit-job-")
        tmp = Path(self._tmp.name)
        spec_path, self._result_path = tmp / "spec.json", tmp / "result.json"
        spec_path.write_text(json.dumps({
            "input_path": str(job.path),
            "output_path": str(output),
            "parameters": job.values,
            "kernel_name": kernel_name,
            "cwd": str(cwd),
            "execution_timeout": cell_timeout,
            "log_output": log_output,
            "result_path": str(self._result_path),
            "warm_up": warm_up,
        }))
        self._stderr_path = tmp / "stderr.txt"
        with open(self._stderr_path, "wb") as stderr:  # kernel chatter; shown if the runner crashes
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "mlops_kit.jobs._execute", str(spec_path)],
                env={**job_environment(job.workspace, base_env), **extra_env},
                stdin=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # its own process group: the kernel dies with it
            )
        self._state = "prepared"

    def run(self, *, wait_for_shutdown: bool = True) -> JobResult:
        """Run the notebook's cells and wait for them; the executed copy is kept either way.

        Parameters
        ----------
        wait_for_shutdown : bool
            Also wait until the kernel has shut down (default), so nothing of
            the job runs when this returns. ``False`` returns once the outcome
            and the executed copy are written, and the runner stops the kernel
            in the background (a second or more: its exit handlers run); call
            :meth:`wait_closed` before relying on it being gone. The course and
            pipelines do this so the next notebook need not wait for it.

        Raises
        ------
        JobFailedError
            A cell raised, a cell or the run timed out, or the kernel died.
        RuntimeError
            It already ran or was cancelled.
        """
        if self._state != "prepared":
            raise RuntimeError(f"this job was {self._state} already; prepare it again")
        self._state = "run"
        path, values, proc = self.job.path, self.job.values, self._proc
        started = time.perf_counter()
        try:
            try:
                proc.stdin.write(f"{GO}\n".encode())
                proc.stdin.close()
            except BrokenPipeError:  # the runner is gone: _outcome says why
                pass
            try:
                self._wait(started, wait_for_shutdown)
            except subprocess.TimeoutExpired:
                kill_family(proc)
            except BaseException:  # Ctrl-C: take the kernel down with us
                kill_family(proc)
                raise
            outcome = _outcome(proc, self._result_path, self._stderr_path, self.output,
                               self.timeout)
        finally:
            if proc.returncode is not None:
                self._tmp.cleanup()
        seconds = time.perf_counter() - started
        if outcome["status"] != "ok":
            raise JobFailedError(
                notebook=str(path),
                output_path=str(self.output),
                cell_index=outcome.get("cell_index"),
                ename=outcome.get("ename", ""),
                evalue=outcome.get("evalue", ""),
                source=outcome.get("source", ""),
                execution_count=_execution_count(self.output, outcome.get("cell_index")),
            )
        return JobResult(notebook=path, path=self.output, seconds=seconds, parameters=values)

    def _wait(self, started: float, for_shutdown: bool) -> None:
        """Until the runner exits or, unless ``for_shutdown``, its outcome is written.

        Raises ``TimeoutExpired`` past the job's timeout.
        """
        if for_shutdown:
            self._proc.wait(timeout=self.timeout)
            return
        deadline = started + self.timeout
        while not self._result_path.exists():
            try:
                self._proc.wait(timeout=min(_RESULT_POLL, max(deadline - time.perf_counter(), 0)))
                return
            except subprocess.TimeoutExpired:
                if time.perf_counter() >= deadline:
                    raise

    def wait_closed(self, timeout: float = 60) -> None:
        """Wait until the runner and its kernel have exited (killed after ``timeout`` s)."""
        if self._proc.returncode is None:
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_family(self._proc)
        self._tmp.cleanup()

    def cancel(self) -> None:
        """Stop the waiting runner and its kernel without running a cell (no-op after :meth:`run`)."""
        if self._state != "prepared":
            return
        self._state = "cancelled"
        try:
            self._proc.stdin.close()  # end of input: the runner stops its kernel and exits
            self._proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            kill_family(self._proc)
        finally:
            self._tmp.cleanup()

    def __enter__(self) -> "PreparedJob":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()

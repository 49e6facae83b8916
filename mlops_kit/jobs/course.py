"""Run the whole course, module by module, as papermill jobs.

The course is discovered from the folders, nothing is listed by hand:

- modules are the numbered folders (``00-setup``, ``01-experimentation``, ...)
  of ``notebooks/`` and ``solutions/``, in order;
- inside a module, demos (``notebooks/<module>/``) and worked labs
  (``solutions/<module>/``) run together sorted by file name, so
  ``02-feature-store`` runs before ``02L-feature-store-lab`` which needs its tables;
- ``notebooks/jobs/`` is not part of it: demos run those jobs themselves.

Notebooks run one after the other by default, and the next one's kernel starts
(and imports what lessons use) while the current one runs: see
:func:`~mlops_kit.jobs.runner.prepare_notebook`. With ``parallel=N``, consecutive
notebooks of one module whose metadata says ``{"mlops_kit": {"parallel_safe":
true}}`` run up to N at a time, each in its own process; modules stay in order.

Each run records what happened to every selected notebook (passed, failed or
not run, seconds, the executed copy) in ``course-run.json`` beside the executed
notebooks, after every notebook: :func:`load_course_run` reads it back, and
:mod:`mlops_kit.jobs.course_html` renders a run as web pages from it without
running anything again.
"""
from __future__ import annotations

import fnmatch
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from mlops_kit.exceptions import JobFailedError, NotFoundError
from mlops_kit.jobs.runner import REPO_ROOT, JobResult, PreparedJob, prepare_notebook
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["CourseNotebook", "CourseEntry", "discover_course", "run_course", "course_entries",
           "save_course_run", "load_course_run", "RUN_RECORD"]

_MODULE = re.compile(r"^\d{2}-")
#: worked labs run with strict checks: a wrong solution fails the course run
_STRICT = {"MLOPS_KIT_LABS_STRICT": "1"}
#: the run record, written beside the executed notebooks
RUN_RECORD = "course-run.json"
#: what a course notebook's run came to
STATUSES = ("passed", "failed", "not run")


@dataclass(frozen=True)
class CourseNotebook:
    """One notebook of the course: its module, kind (``demo``/``lab``) and path."""

    module: str
    kind: str
    path: Path

    @property
    def name(self) -> str:
        """``<module>/<file stem>``, the name ``--only`` matches and tables show."""
        return f"{self.module}/{self.path.stem}"

    @property
    def parallel_safe(self) -> bool:
        import nbformat

        meta = nbformat.read(str(self.path), as_version=4).metadata
        return bool(meta.get("mlops_kit", {}).get("parallel_safe", False))


@dataclass(frozen=True)
class CourseEntry:
    """One line of a course run: a notebook and what its run came to.

    Attributes
    ----------
    module, name, kind : str
        As :class:`CourseNotebook` (``name`` is ``<module>/<stem>``).
    status : str
        ``"passed"``, ``"failed"`` or ``"not run"`` (after a failure).
    seconds : float or None
        Wall time of the run, kernel start included; ``None`` when not run.
    executed : str or None
        The executed copy, relative to the run folder (``<module>/<file>``).
    error : str
        ``"<ename>: <evalue>"`` of a failed notebook, else ``""``.
    """

    module: str
    name: str
    kind: str
    status: str
    seconds: float | None = None
    executed: str | None = None
    error: str = ""


def _matches(name: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatch(name, pattern):
            return True
        if pattern in name:
            return True
    return False


def discover_course(root: str | Path | None = None, *, only: str | Iterable[str] | None = None
                    ) -> list[CourseNotebook]:
    """The course's notebooks in the order they must run.

    Parameters
    ----------
    root : path, optional
        Folder holding ``notebooks/`` and ``solutions/`` (default: the repo).
    only : str or list of str, optional
        Keep notebooks whose ``<module>/<stem>`` contains the text or matches
        the glob (``01-*``, ``feature-store``).

    Raises
    ------
    NotFoundError
        When ``only`` matches nothing.
    """
    root = Path(root) if root else REPO_ROOT
    sources = (("demo", root / "notebooks"), ("lab", root / "solutions"))
    modules = sorted({
        d.name for _, base in sources if base.is_dir()
        for d in base.iterdir() if d.is_dir() and _MODULE.match(d.name)
    })
    course: list[CourseNotebook] = []
    for module in modules:
        found = [
            CourseNotebook(module, kind, path)
            for kind, base in sources
            for path in (base / module).glob("*.ipynb")
        ]
        course.extend(sorted(found, key=lambda nb: (nb.path.name, nb.kind)))
    if only:
        patterns = [only] if isinstance(only, str) else list(only)
        selected = [nb for nb in course if _matches(nb.name, patterns)]
        if not selected:
            raise NotFoundError(
                f"No course notebook matches {', '.join(map(repr, patterns))}. "
                f"Names look like {course[0].name if course else '01-experimentation/01-delta-lake'}."
            )
        course = selected
    return course


def _batches(course: list[CourseNotebook], parallel: int) -> list[list[CourseNotebook]]:
    """Group consecutive parallel-safe notebooks of one module; others run alone."""
    batches: list[list[CourseNotebook]] = []
    for nb in course:
        last = batches[-1] if batches else None
        if (parallel > 1 and last and nb.parallel_safe and last[0].module == nb.module
                and all(other.parallel_safe for other in last)):
            last.append(nb)
        else:
            batches.append([nb])
    return batches


def course_entries(course: list[CourseNotebook], results: Iterable[JobResult],
                   run_dir: str | Path) -> list[CourseEntry]:
    """Pair every notebook of ``course`` with its result (``"not run"`` when it has none)."""
    run_dir = Path(run_dir)
    by_source = {Path(r.notebook).resolve(): r for r in results}
    entries = []
    for nb in course:
        result = by_source.get(nb.path.resolve())
        if result is None:
            entries.append(CourseEntry(nb.module, nb.name, nb.kind, "not run"))
            continue
        try:
            executed = Path(result.path).relative_to(run_dir).as_posix()
        except ValueError:  # kept elsewhere: record where
            executed = str(result.path)
        error = f"{result.error.ename}: {result.error.evalue}" if result.error else ""
        entries.append(CourseEntry(nb.module, nb.name, nb.kind,
                                   "passed" if result.ok else "failed",
                                   round(result.seconds, 1), executed, error))
    return entries


def save_course_run(entries: list[CourseEntry], run_dir: str | Path) -> Path:
    """Write ``entries`` to ``<run_dir>/course-run.json`` (replacing an older record)."""
    path = Path(run_dir) / RUN_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "notebooks": [asdict(e) for e in entries]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)  # a reader never sees half a record
    return path


def load_course_run(run_dir: str | Path | None = None, *, workspace: Workspace | None = None,
                    only: str | Iterable[str] | None = None) -> list[CourseEntry]:
    """The last course run recorded in ``run_dir`` (default: the workspace's course folder).

    Raises
    ------
    NotFoundError
        When no run was recorded there, or ``only`` matches none of its notebooks.
    """
    if run_dir is None:
        run_dir = (workspace or get_workspace()).jobs_dir / "course"
    path = Path(run_dir) / RUN_RECORD
    if not path.is_file():
        raise NotFoundError(
            f"No course run is recorded in {run_dir} (no {RUN_RECORD}). "
            "Run `mlops-kit course` first."
        )
    entries = [CourseEntry(**e) for e in json.loads(path.read_text())["notebooks"]]
    if only:
        patterns = [only] if isinstance(only, str) else list(only)
        entries = [e for e in entries if _matches(e.name, patterns)]
        if not entries:
            raise NotFoundError(f"No notebook of the last course run matches "
                                f"{', '.join(map(repr, patterns))}.")
    return entries


def run_course(
    *,
    only: str | Iterable[str] | None = None,
    parallel: int = 1,
    stop_on_failure: bool = True,
    progress: Callable[[CourseNotebook, JobResult | None], None] | None = None,
    root: str | Path | None = None,
    workspace: Workspace | None = None,
    output_dir: str | Path | None = None,
    cell_timeout: float | None = None,
    prepare_next: bool = True,
) -> list[JobResult]:
    """Run every course notebook (or those matching ``only``) and report each.

    Parameters
    ----------
    only, root
        See :func:`discover_course`.
    parallel : int
        How many parallel-safe notebooks of one module may run at once.
    stop_on_failure : bool
        Stop after the first failing notebook (later ones usually need its output).
    progress : callable, optional
        Called ``progress(notebook, None)`` when a notebook starts and
        ``progress(notebook, result)`` when it ends.
    workspace : Workspace, optional
        Default: the active workspace.
    output_dir : path, optional
        Where executed notebooks go (default: ``<jobs dir>/course/<module>/``);
        the run record (see :func:`save_course_run`) goes there too.
    prepare_next : bool
        Start the next notebook's kernel while the current one runs (its
        imports then cost the course nothing on an idle core). A notebook's
        seconds count from its first cell either way.

    Returns
    -------
    list of JobResult
        One per notebook that ran, in course order; failed ones carry ``error``.
    """
    workspace = workspace or get_workspace()
    out = Path(output_dir) if output_dir else workspace.jobs_dir / "course"
    extra = {"cell_timeout": cell_timeout} if cell_timeout else {}

    def target(nb: CourseNotebook) -> Path:
        return out / nb.module / nb.path.name

    def prepare(nb: CourseNotebook, *, ahead: bool = False) -> PreparedJob:
        # warm the imports only for a kernel that waits its turn: one that runs
        # at once would just do them before its first cell instead of during it
        return prepare_notebook(nb.path, workspace=workspace, output_path=target(nb),
                                extra_env=_STRICT if nb.kind == "lab" else None, warm_up=ahead,
                                **extra)

    closing: list[PreparedJob] = []  # ran; their kernels shut down while the next one runs

    def run_one(nb: CourseNotebook, prepared: PreparedJob | None = None) -> JobResult:
        if progress:
            progress(nb, None)
        started = time.perf_counter()
        job = prepared or prepare(nb)
        closing.append(job)
        try:
            result = job.run(wait_for_shutdown=False)
        except JobFailedError as err:
            result = JobResult(nb.path, target(nb), time.perf_counter() - started,
                               status="failed", error=err)
        if progress:
            progress(nb, result)
        return result

    course = discover_course(root, only=only)
    batches = _batches(course, parallel)
    results: list[JobResult] = []
    save_course_run(course_entries(course, results, out), out)
    upcoming: PreparedJob | None = None  # the next lone notebook, its kernel already starting
    try:
        for index, batch in enumerate(batches):
            if len(batch) == 1:
                current, upcoming = upcoming or prepare(batch[0]), None
                following = batches[index + 1] if index + 1 < len(batches) else []
                if prepare_next and len(following) == 1:
                    upcoming = prepare(following[0], ahead=True)
                done = [run_one(batch[0], current)]
            else:
                with ThreadPoolExecutor(max_workers=parallel) as pool:  # each run is a process
                    done = list(pool.map(run_one, batch))
            results.extend(done)
            save_course_run(course_entries(course, results, out), out)
            if stop_on_failure and any(not r.ok for r in done):
                break
    finally:
        if upcoming is not None:  # stopped early: its kernel never runs a cell
            upcoming.cancel()
        for job in closing:
            job.wait_closed()
    return results

"""Run the whole course, module by module, as papermill jobs.

The course is discovered from the folders, nothing is listed by hand:

- modules are the numbered folders (``00-setup``, ``01-experimentation``, ...)
  of ``notebooks/`` and ``solutions/``, in order;
- inside a module, demos (``notebooks/<module>/``) and worked labs
  (``solutions/<module>/``) run together sorted by file name, so
  ``02-feature-store`` runs before ``02L-feature-store-lab`` which needs its tables;
- ``notebooks/jobs/`` is not part of it: demos run those jobs themselves.

Notebooks run one after the other by default. With ``parallel=N``, consecutive
notebooks of one module whose metadata says ``{"mlops_kit": {"parallel_safe":
true}}`` run up to N at a time, each in its own process; modules stay in order.
"""
from __future__ import annotations

import fnmatch
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from mlops_kit.exceptions import JobFailedError, NotFoundError
from mlops_kit.jobs.runner import REPO_ROOT, JobResult, run_notebook
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["CourseNotebook", "discover_course", "run_course"]

_MODULE = re.compile(r"^\d{2}-")
#: worked labs run with strict checks: a wrong solution fails the course run
_STRICT = {"MLOPS_KIT_LABS_STRICT": "1"}


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
        Where executed notebooks go (default: ``<jobs dir>/course/<module>/``).

    Returns
    -------
    list of JobResult
        One per notebook that ran, in course order; failed ones carry ``error``.
    """
    workspace = workspace or get_workspace()
    out = Path(output_dir) if output_dir else workspace.jobs_dir / "course"
    extra = {"cell_timeout": cell_timeout} if cell_timeout else {}

    def run_one(nb: CourseNotebook) -> JobResult:
        if progress:
            progress(nb, None)
        started = time.perf_counter()
        target = out / nb.module / nb.path.name
        try:
            result = run_notebook(nb.path, workspace=workspace, output_path=target,
                                  extra_env=_STRICT if nb.kind == "lab" else None, **extra)
        except JobFailedError as err:
            result = JobResult(nb.path, target, time.perf_counter() - started,
                               status="failed", error=err)
        if progress:
            progress(nb, result)
        return result

    results: list[JobResult] = []
    for batch in _batches(discover_course(root, only=only), parallel):
        if len(batch) == 1:
            done = [run_one(batch[0])]
        else:
            with ThreadPoolExecutor(max_workers=parallel) as pool:  # each run is a process
                done = list(pool.map(run_one, batch))
        results.extend(done)
        if stop_on_failure and any(not r.ok for r in done):
            break
    return results

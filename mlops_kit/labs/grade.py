"""Grade learners' lab notebooks: run each one, record every check, score it.

:func:`grade_notebook` runs one submission with papermill (the job runner of
:mod:`mlops_kit.jobs.runner`: a child process, an outer time limit that kills
the kernel too) in a workspace of its own (a temporary ``MLOPS_KIT_HOME``),
with ``MLOPS_KIT_LABS_RECORD`` set: every ``Lab(...)`` and every
``lab.check`` appends a JSON line to that file as it happens. Failed checks do
not raise (not strict), so a wrong answer costs its own points only; a crash
or a hang stops the rest of the notebook, and the exercises it never reached
score 0 with the error as their reason. The grader itself never crashes on a
submission.

One :class:`GradeRow` per learner and exercise: learner (the notebook's
``metadata.mlops_kit.learner``, else its file stem), lab, exercise, passed,
points, reason.
"""
from __future__ import annotations

import csv
import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

from mlops_kit.labs.progress import RECORD_ENV

__all__ = ["GradeRow", "grade_notebook", "grade_notebooks", "write_csv", "learner_name"]

#: seconds a submission may run, kernel start included
DEFAULT_TIMEOUT = 600
_LAB = re.compile(r"""\bLab\(\s*["']([a-z][a-z0-9-]*)["']""")


@dataclass(frozen=True)
class GradeRow:
    """The grade of one exercise of one learner."""

    learner: str
    lab: str
    exercise: str
    passed: bool
    points: float
    reason: str


def learner_name(path: Path) -> str:
    """``metadata.mlops_kit.learner`` (or ``metadata.learner``) of the notebook, else its stem."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return Path(path).stem
    name = (meta.get("mlops_kit") or {}).get("learner") or meta.get("learner")
    return str(name) if name else Path(path).stem


def _labs_in_source(path: Path) -> list[str]:
    """Lab ids a notebook creates, from its code (for a run that never got that far)."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return []
    found = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found += _LAB.findall("".join(source) if isinstance(source, list) else source)
    return list(dict.fromkeys(found))


def _registered(lab_id: str) -> list[tuple[str, str]]:
    from mlops_kit.labs import registry

    try:
        return [(e.exercise_id, e.title) for e in registry.exercises(lab_id)]
    except Exception:  # unknown lab, or its checks module does not import here
        return []


def _read_events(record: Path) -> list[dict]:
    if not record.exists():
        return []
    events = []
    for line in record.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:  # a line cut off by a kill
            continue
    return events


def _run(path: Path, tmp: Path, record: Path, timeout: float) -> str:
    """Run the notebook; return why it stopped early ("" when it ran to the end)."""
    from mlops_kit.exceptions import JobFailedError, MlopsKitError
    from mlops_kit.jobs.runner import run_notebook
    from mlops_kit.workspace import Workspace

    workspace = Workspace(root=tmp / "home", user="learner")
    try:
        run_notebook(
            path, workspace=workspace, output_path=tmp / "executed.ipynb",
            timeout=timeout, cell_timeout=timeout,
            extra_env={RECORD_ENV: str(record), "MLOPS_KIT_LABS_STRICT": "0"},
        )
    except JobFailedError as err:
        where = f"cell {err.cell_index}" if err.cell_index is not None else "a cell"
        if "Timeout" in err.ename:  # the whole run (TimeoutError) or one cell (CellTimeoutError)
            return f"stopped after {timeout:g} s in {where} (time limit)"
        return f"crashed in {where}: {err.ename}: {err.evalue}"
    except (MlopsKitError, OSError, ValueError) as err:
        return f"could not run: {err}"
    return ""


def grade_notebook(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT,
                   points: float = 1.0) -> list[GradeRow]:
    """Run one submission and grade every exercise of the labs it opens.

    Parameters
    ----------
    path : path
        The learner's notebook.
    timeout : float
        Seconds it may run in all; after that it is stopped and graded as far as it got.
    points : float
        Points for each exercise whose last check passed.
    """
    path = Path(path)
    learner = learner_name(path)
    with tempfile.TemporaryDirectory(prefix="mlops-kit-grade-") as tmp_dir:
        tmp = Path(tmp_dir)
        record = tmp / "checks.jsonl"
        error = _run(path, tmp, record, timeout)
        events = _read_events(record)
    labs: dict[str, list[tuple[str, str]]] = {}
    for event in events:
        if event.get("event") == "lab":
            labs.setdefault(event["lab"], [tuple(pair) for pair in event.get("exercises", [])])
    for lab_id in _labs_in_source(path):
        if lab_id not in labs:
            labs[lab_id] = _registered(lab_id)
    last = {(e["lab"], e["exercise"]): e for e in events if e.get("event") == "check"}
    not_reached = f"not reached: the notebook {error}" if error else "not attempted"
    rows = []
    for lab_id, exercises in labs.items():
        checked_ids = [ex for (lab, ex) in last if lab == lab_id]
        ids = list(dict.fromkeys([ex for ex, _ in exercises] + checked_ids))
        for exercise_id in ids:
            event = last.get((lab_id, exercise_id))
            if event is None:
                rows.append(GradeRow(learner, lab_id, exercise_id, False, 0.0, not_reached))
                continue
            reason = event.get("message", "")
            if not event.get("passed") and event.get("hint"):
                reason = f"{reason} (hint: {event['hint']})"
            rows.append(GradeRow(learner, lab_id, exercise_id, bool(event.get("passed")),
                                 points if event.get("passed") else 0.0, reason))
    if not rows:
        rows.append(GradeRow(learner, "", "", False, 0.0,
                             f"no lab found: the notebook {error}" if error
                             else "no lab found: the notebook never creates Lab(...)"))
    return rows


def grade_notebooks(paths: Sequence[str | Path], *, timeout: float = DEFAULT_TIMEOUT,
                    points: float = 1.0, jobs: int = 1) -> list[GradeRow]:
    """Grade several submissions (``jobs`` at a time); rows in the order of ``paths``."""
    def one(path: str | Path) -> list[GradeRow]:
        return grade_notebook(path, timeout=timeout, points=points)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [row for rows in pool.map(one, paths) for row in rows]


def write_csv(rows: Iterable[GradeRow], path: str | Path) -> Path:
    """Write the grades as CSV (header: learner, lab, exercise, passed, points, reason)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(GradeRow)])
        writer.writerows(astuple(row) for row in rows)
    return path

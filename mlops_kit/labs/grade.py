"""Grade learners' lab notebooks: each in a sandbox, every check decided outside its reach.

:func:`grade_notebook` runs one submission inside the grading sandbox
(:mod:`mlops_kit.labs.sandbox`: its own file system view, process tree and
network; killed whole at the time limit) as an unprivileged user, in a
throwaway workspace named after the learner (so per-learner lab data is
theirs). Its checks are decided by the grader's check service
(:mod:`mlops_kit.labs.check_service`), which records each verdict where the
submission cannot write; the notebook's own badges are only a display.

A grade therefore depends only on the answers: a line appended to a record, a
monkeypatched checker, a process left behind after the time limit, a peek at
another submission or at the instructor's workspace change nothing.

For each exercise the check that counts is the last one run from the
exercise's own cell (the first cell of the notebook that checks it), not a
scratch check elsewhere. Failed checks do not raise, so a wrong answer costs
its own points only; a crash or a hang stops the rest of the notebook, and the
exercises it never reached score 0 with the error as their reason. The grader
itself never crashes on a submission, and writes its CSV atomically.

One :class:`GradeRow` per learner and exercise: learner (the notebook's
``metadata.mlops_kit.learner``, else its file stem), lab, exercise, passed,
points, reason.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

from mlops_kit._files import write_atomically
from mlops_kit._processes import kill_family
from mlops_kit.exceptions import EnvironmentProblem

__all__ = ["GradeRow", "grade_notebook", "grade_notebooks", "write_csv", "learner_name",
           "learner_user"]

#: seconds a submission may run, kernel start included
DEFAULT_TIMEOUT = 600
#: seconds the sandbox gets beyond the notebook's own time limit before it is killed whole
_GRACE = 30
_LAB = re.compile(r"""\bLab\(\s*["']([a-z][a-z0-9-]*)["']""")
_CHECK = re.compile(r"""\.check\(\s*["']([a-z]+\d+[a-z]?)["']""")


@dataclass(frozen=True)
class GradeRow:
    """The grade of one exercise of one learner."""

    learner: str
    lab: str
    exercise: str
    passed: bool
    points: float
    reason: str


def _metadata(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {}) or {}
    except (OSError, ValueError, AttributeError):
        return {}


def learner_name(path: Path) -> str:
    """``metadata.mlops_kit.learner`` (or ``metadata.learner``) of the notebook, else its stem."""
    meta = _metadata(path)
    name = (meta.get("mlops_kit") or {}).get("learner") or meta.get("learner")
    return str(name) if name else Path(path).stem


def learner_user(path: Path) -> str:
    """The workspace user a submission is graded as, so its per-learner data is the learner's.

    The kit writes the user a lab ran as into the notebook's metadata
    (``metadata.mlops_kit.user``); else it is derived from :func:`learner_name`
    as the kit derives a login (lowercase; ``.``, ``-`` and spaces as ``_``).
    """
    from mlops_kit.exceptions import ConfigError
    from mlops_kit.workspace import check_user

    meta = (_metadata(path).get("mlops_kit") or {})
    for candidate in (meta.get("user"), learner_name(path)):
        if not isinstance(candidate, str):
            continue
        derived = re.sub(r"[.\- ]", "_", candidate.strip().lower())
        try:
            return check_user(derived)
        except ConfigError:
            continue
    return "learner"


def _cells(path: Path) -> list[dict]:
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return []
    return [c for c in cells if isinstance(c, dict)]


def _code_cells(path: Path) -> list[str | None]:
    return [("".join(c.get("source", "")) if isinstance(c.get("source"), list) else c.get("source", ""))
            if c.get("cell_type") == "code" else None for c in _cells(path)]


def _labs_in_source(path: Path) -> list[str]:
    """Lab ids a notebook creates, from its code (for a run that never got that far)."""
    found: list[str] = []
    for source in _code_cells(path):
        if source:
            found += _LAB.findall(source)
    return list(dict.fromkeys(found))


def _own_cells(path: Path) -> dict[str, str]:
    """``{exercise: id of the first cell that checks it}`` in the submission."""
    own: dict[str, str] = {}
    for index, (cell, source) in enumerate(zip(_cells(path), _code_cells(path))):
        for exercise in _CHECK.findall(source or ""):
            own.setdefault(exercise, str(cell.get("id", index)))
    return own


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


def _cells_by_count(executed: Path) -> dict[int, str]:
    """``{execution count: cell id}`` of the executed copy (what a learner sees as In [n])."""
    return {c["execution_count"]: str(c.get("id", i)) for i, c in enumerate(_cells(executed))
            if c.get("cell_type") == "code" and isinstance(c.get("execution_count"), int)}


def _shown_cell(executed: Path, index: int | None) -> str:
    """A cell of the executed copy as the learner sees it: ``In [n]`` when it ran."""
    cells = _cells(executed)
    if index is None or not 0 <= index < len(cells):
        return "a cell"
    count = cells[index].get("execution_count")
    return f"In [{count}]" if isinstance(count, int) else "a cell that did not run"


def _environment(box: str, user: str, sandboxed: bool) -> dict[str, str]:
    """The submission's whole environment: nothing of the grader's leaks in."""
    from mlops_kit.java import m2_repository

    keep = {name: os.environ[name] for name in ("LANG", "LC_ALL", "JAVA_HOME", "TZ")
            if name in os.environ}
    home = f"{box}/home"
    return {**keep, "HOME": home, "USER": user, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "MLOPS_KIT_HOME": f"{home}/.mlops-kit", "MLOPS_KIT_USER": user,
            "MLOPS_KIT_M2_REPO": str(m2_repository()), "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg", "MLOPS_KIT_LABS_STRICT": "0",
            # the sandbox's network is loopback only: Spark must not look up the host's name
            "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_HOSTNAME": "localhost",
            "JUPYTER_PLATFORM_DIRS": "1", "TMPDIR": "/tmp" if sandboxed else f"{box}/tmp"}


def _prepare(path: Path, tmp: Path, sandboxed: bool) -> tuple[Path, Path]:
    box, grader = tmp / "box", tmp / "grader"
    for folder in (box / "home", box / "work", box / "out", box / "run", box / "tmp", grader):
        folder.mkdir(parents=True)
    shutil.copyfile(path, box / "work" / "submission.ipynb")  # its own notebook, nothing else
    if sandboxed:  # the submission's user owns its scratch folder; the record stays root's
        from mlops_kit.labs.sandbox import LEARNER_GID, LEARNER_UID

        for folder in [box, *box.rglob("*")]:
            os.chown(folder, LEARNER_UID, LEARNER_GID)
        grader.chmod(0o700)
    return box, grader


def _run(path: Path, tmp: Path, user: str, timeout: float, checks: Sequence[str],
         sandboxed: bool) -> tuple[Path, Path, dict]:
    """Run the submission; return (record, executed copy, how it ended)."""
    from mlops_kit.java import m2_repository
    from mlops_kit.labs.sandbox import BOX, GRADER, SandboxLayout, bwrap_command

    box, grader = _prepare(path, tmp, sandboxed)
    inside_box, inside_grader = (BOX, GRADER) if sandboxed else (str(box), str(grader))
    extra, visible = [], []
    for number, source in enumerate(checks):  # instructor's checks files travel as copies
        target = grader / f"checks_{number}.py"  # the service's copy, out of the kernel's reach
        shutil.copyfile(source, target)
        extra += ["--checks", f"{inside_grader}/{target.name}"]
        shutil.copyfile(source, box / "run" / target.name)  # the kernel's, to show its lab
        visible.append(f"{inside_box}/run/{target.name}")
    argv = [sys.executable, "-m", "mlops_kit.labs.grade_box",
            f"--notebook={inside_box}/work/submission.ipynb",
            f"--out={inside_box}/out/executed.ipynb", f"--status={inside_box}/out/run.json",
            f"--home={inside_box}/home/.mlops-kit", f"--cwd={inside_box}/work", f"--user={user}",
            f"--timeout={timeout:g}", f"--record={inside_grader}/checks.jsonl",
            f"--socket={inside_box}/run/check.sock", *extra]
    env = _environment(inside_box, user, sandboxed)
    if visible:
        from mlops_kit.labs.registry import EXTRA_CHECKS_ENV

        env[EXTRA_CHECKS_ENV] = os.pathsep.join(visible)
    if sandboxed:
        layout = SandboxLayout(box=box, grader=grader, m2_repo=m2_repository())
        command = bwrap_command(layout, argv, env)
        popen_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        command, popen_env = argv + ["--no-drop"], env
    process = subprocess.Popen(command, env=popen_env, cwd=box / "work", start_new_session=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    status: dict = {}
    try:
        _, stderr = process.communicate(timeout=timeout + _GRACE)
    except subprocess.TimeoutExpired:
        status = {"error": f"stopped after {timeout:g} s (time limit)", "cell_index": None}
        stderr = b""
    finally:
        kill_family(process)  # the sandbox's PID namespace takes every process with it
    executed = box / "out" / "executed.ipynb"
    if not status:
        try:
            status = json.loads((box / "out" / "run.json").read_text())
        except (OSError, ValueError):
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] if stderr else []
            status = {"error": f"could not run: {tail[0] if tail else 'the sandbox ended early'}",
                      "cell_index": None}
    return grader / "checks.jsonl", executed, status


def grade_notebook(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT, points: float = 1.0,
                   checks: Sequence[str | Path] = (), sandbox: bool = True) -> list[GradeRow]:
    """Run one submission in the sandbox and grade every exercise of the labs it opens.

    Parameters
    ----------
    path : path
        The learner's notebook.
    timeout : float
        Seconds it may run in all; after that it is stopped and graded as far as it got.
    points : float
        Points for each exercise whose counted check passed.
    checks : paths
        The instructor's own checks files (for labs the kit does not ship).
    sandbox : bool
        ``False`` runs the submission without isolation (same user, same file
        system): only for a machine without bubblewrap, and only on trusted code.

    Raises
    ------
    EnvironmentProblem
        ``sandbox`` is on and this machine cannot sandbox (the message says why).
    """
    from mlops_kit.labs.sandbox import sandbox_available

    if sandbox:
        ok, why = sandbox_available()
        if not ok:
            raise EnvironmentProblem(f"Cannot grade in a sandbox: {why}. (On trusted code only: "
                                     "--no-sandbox.)")
    path = Path(path)
    learner, user = learner_name(path), learner_user(path)
    checks = [str(Path(c).resolve()) for c in checks]
    for source in checks:
        _load_checks_here(source)
    with tempfile.TemporaryDirectory(prefix="mlops-kit-grade-") as tmp_dir:
        record, executed, status = _run(path, Path(tmp_dir), user, timeout, checks, sandbox)
        events = _read_events(record)
        by_count = _cells_by_count(executed)
        error = status.get("error", "")
        where = _shown_cell(executed, status.get("cell_index")) if error else ""
    return _rows(path, learner, events, by_count, error, where, points)


def _load_checks_here(source: str) -> None:
    """Import an instructor's checks file in the grader too (to list its exercises)."""
    from mlops_kit.labs.grade_box import preload_checkers

    preload_checkers([source], kit=False)


def _rows(path: Path, learner: str, events: list[dict], by_count: dict[int, str], error: str,
          where: str, points: float) -> list[GradeRow]:
    own = _own_cells(path)
    counted: dict[tuple[str, str], dict] = {}
    for event in events:
        if event.get("event") != "check":
            continue
        exercise = str(event.get("exercise"))
        cell = by_count.get(event.get("execution_count"))
        if cell is not None and cell == own.get(exercise):
            counted[(str(event.get("lab")), exercise)] = event  # the last one from its own cell
    problem = error.replace("crashed:", f"crashed in {where}:").replace(
        "(time limit)", f"in {where} (time limit)") if error else ""
    not_reached = f"not reached: the notebook {problem}" if problem else "not attempted"
    rows = []
    for lab_id in _labs_in_source(path):
        exercises = [ex for ex, _ in _registered(lab_id)]
        if not exercises:
            rows.append(GradeRow(learner, lab_id, "", False, 0.0,
                                 f"unknown lab {lab_id!r}: the grader has no checks for it"))
            continue
        for exercise_id in exercises:
            event = counted.get((lab_id, exercise_id))
            if event is None:
                rows.append(GradeRow(learner, lab_id, exercise_id, False, 0.0, not_reached))
                continue
            passed = event.get("passed") is True
            reason = str(event.get("message", ""))
            if not passed and event.get("hint"):
                reason = f"{reason} (hint: {event['hint']})"
            rows.append(GradeRow(learner, lab_id, exercise_id, passed, points if passed else 0.0,
                                 reason))
    if not rows:
        rows.append(GradeRow(learner, "", "", False, 0.0,
                             f"no lab found: the notebook {problem}" if problem
                             else "no lab found: the notebook never creates Lab(...)"))
    return rows


def grade_notebooks(paths: Sequence[str | Path], *, timeout: float = DEFAULT_TIMEOUT,
                    points: float = 1.0, jobs: int = 1, checks: Sequence[str | Path] = (),
                    sandbox: bool = True) -> list[GradeRow]:
    """Grade several submissions (``jobs`` at a time); rows in the order of ``paths``.

    Every sandbox is gone when this returns, so nothing a submission started
    can touch what the caller writes next.
    """
    def one(path: str | Path) -> list[GradeRow]:
        return grade_notebook(path, timeout=timeout, points=points, checks=checks,
                              sandbox=sandbox)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [row for rows in pool.map(one, paths) for row in rows]


def write_csv(rows: Iterable[GradeRow], path: str | Path) -> Path:
    """Write the grades as CSV (header: learner, lab, exercise, passed, points, reason).

    Atomically: the rows go to a temporary file beside ``path``, which then
    replaces it, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([f.name for f in fields(GradeRow)])
    writer.writerows(astuple(row) for row in rows)
    write_atomically(path, text.getvalue())
    return path

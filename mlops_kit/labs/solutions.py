"""Worked solutions, read from the one source labs are built from: ``solutions/``.

:func:`find_solution` opens the solution notebook whose code creates
``Lab("<lab id>")`` and returns the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` that answers an exercise: the regions of the cell that
calls ``lab.check("<exercise id>", ...)``, or, when that cell has none, those
of the cells since the previous check (a solution spread over a few cells).
Concept questions have no notebook solution: :func:`question_answer` states
the right option(s) and why.
"""
from __future__ import annotations

import inspect
import itertools
import os
import re
import textwrap
from pathlib import Path
from typing import Any

from mlops_kit.exceptions import NotFoundError
from mlops_kit.labs.build import BEGIN, END

__all__ = ["solutions_dir", "find_solution", "question_answer"]

#: an editable install sits in the repository, next to solutions/
_REPO = Path(__file__).resolve().parents[2]


def solutions_dir() -> Path:
    """Where solution notebooks live (``MLOPS_KIT_SOLUTIONS`` overrides)."""
    return Path(os.environ.get("MLOPS_KIT_SOLUTIONS") or _REPO / "solutions")


def _regions(source: str) -> list[str]:
    regions, current = [], None
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            current = []
        elif stripped == END and current is not None:
            regions.append(textwrap.dedent("\n".join(current)).strip("\n"))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def _creates_lab(source: str, lab_id: str) -> bool:
    return re.search(rf"""\bLab\(\s*["']{re.escape(lab_id)}["']""", source) is not None


def _checks(source: str, exercise_id: str | None = None) -> bool:
    which = re.escape(exercise_id) if exercise_id else r"[a-z]+\d+[a-z]?"
    return re.search(rf"""\.check\(\s*["']{which}["']""", source) is not None


def find_solution(lab_id: str, exercise_id: str, folder: Path | None = None) -> tuple[Path, str]:
    """The solution notebook of ``lab_id`` and the solution code of ``exercise_id``.

    Raises
    ------
    NotFoundError
        No solution notebook creates this lab, or none of its cells checks the exercise.
    """
    import nbformat

    folder = Path(folder) if folder is not None else solutions_dir()
    notebooks = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        if not any(_creates_lab(source, lab_id) for source in code):
            continue
        since_last_check: list[str] = []
        for source in code:
            if _checks(source, exercise_id):
                regions = _regions(source) or since_last_check
                if regions:
                    return path, "\n\n".join(regions)
            if _checks(source):
                since_last_check = []
            else:
                since_last_check += _regions(source)
        raise NotFoundError(
            f"{path.name} has no solution region for {lab_id}/{exercise_id}: no cell calls "
            f"lab.check({exercise_id!r}, ...) after a {BEGIN} ... {END} block."
        )
    raise NotFoundError(
        f"No solution notebook creates Lab({lab_id!r}) under {folder}. Set "
        "MLOPS_KIT_SOLUTIONS to the course's solutions/ folder if it lives elsewhere."
    )


def _closure(func: Any) -> dict[str, Any]:
    try:
        return dict(inspect.getclosurevars(func).nonlocals)
    except (TypeError, ValueError):
        return {}


def question_answer(exercise) -> tuple[str, str]:
    """The right answer of a concept question and why, as (short text, explanation)."""
    question = exercise.question
    answer = getattr(question, "answer", None)
    if answer is None:  # quiz.py keeps the answer in the checker's closure
        closure = _closure(exercise.check)
        answer = closure.get("right", closure.get("answer"))
    if question.kind == "number":
        explanation = _closure(exercise.check).get("explanation") or ""
        if callable(answer):
            return ("computed from your own data (the objects passed to lab.check)",
                    explanation or "rerun the computation the question describes")
        return f"{answer:g}" if isinstance(answer, (int, float)) else str(answer), explanation
    by_key = {option.key: option for option in question.options}
    if answer is None:  # unknown shape: the choice (or set of choices) that passes
        answer = next((k for k in by_key if exercise.check(k).passed), None) or next(
            (set(combo) for n in range(1, len(by_key) + 1)
             for combo in itertools.combinations(by_key, n) if exercise.check(set(combo)).passed),
            [],
        )
    keys = [answer] if isinstance(answer, str) else sorted(answer)
    text = ", ".join(f"{k}) {by_key[k].text}" for k in keys if k in by_key)
    why = " ".join(by_key[k].why for k in keys if k in by_key)
    return text, why

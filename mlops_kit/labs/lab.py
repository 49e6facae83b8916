"""A lab in a notebook: run each exercise's checker, show and remember the result.

::

    from mlops_kit.labs import Lab
    lab = Lab("feature-store")
    ...
    lab.check("ex1", features_df)    # badge: pass, or fail with reason and hint
    ...
    lab.summary()                     # last cell: every exercise and its state

A failed check does not raise, so learners can go on; in strict mode
(``Lab(..., strict=True)`` or ``MLOPS_KIT_LABS_STRICT=1``, as in CI) it raises
:class:`~mlops_kit.exceptions.CheckFailedError`, so a solution whose answer
is wrong fails the build. An answer that is still ``FILL_IN`` always raises
:class:`~mlops_kit.exceptions.ExerciseError`.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

from mlops_kit.exceptions import CheckFailedError, ExerciseError, NotFoundError
from mlops_kit.labs import registry
from mlops_kit.labs.fill_in import contains_fill_in, fill_in_error, set_active_lab
from mlops_kit.labs.registry import CheckResult
from mlops_kit.labs.widgets import in_kernel, show_html, show_result

__all__ = ["Lab", "LabSummary", "strict_from_env"]

_TRUE = {"1", "true", "yes", "on"}


def strict_from_env() -> bool:
    """True when ``MLOPS_KIT_LABS_STRICT`` asks failed checks to raise."""
    return os.environ.get("MLOPS_KIT_LABS_STRICT", "").strip().lower() in _TRUE


class Lab:
    """The exercises of one lab and the results this learner got so far.

    Parameters
    ----------
    lab_id : str
        The lab's slug; its checkers are registered under the same id.
    strict : bool, optional
        Raise on a failed check. Default: ``MLOPS_KIT_LABS_STRICT``.

    Attributes
    ----------
    results_ : dict
        ``exercise_id -> CheckResult`` of the latest check of each exercise.
    """

    def __init__(self, lab_id: str, *, strict: bool | None = None) -> None:
        self.lab_id = lab_id
        self.strict = strict
        self.results_: dict[str, CheckResult] = {}
        registry.exercises(lab_id)  # an unknown lab id fails here, not at ex1
        set_active_lab(self._current_exercise)

    def __repr__(self) -> str:
        return f"Lab({self.lab_id!r}, {len(self.results_)} checked)"

    def _current_exercise(self) -> tuple[int, str] | None:
        """The first exercise not attempted yet: the one a stray FILL_IN belongs to."""
        for exercise in registry.exercises(self.lab_id):
            if exercise.exercise_id not in self.results_:
                return exercise.number, exercise.title
        return None

    @property
    def is_strict(self) -> bool:
        return strict_from_env() if self.strict is None else self.strict

    def check(self, exercise_id: str, value: Any, **context: Any) -> None:
        """Check ``value`` as the answer to ``exercise_id`` and show the verdict.

        ``context`` is passed to the checker (e.g. ``spark=spark`` or the input
        table the answer was computed from).

        Raises
        ------
        ExerciseError
            ``value`` is (or contains) ``FILL_IN``.
        CheckFailedError
            The answer is wrong and the lab is strict.
        NotFoundError
            No exercise ``exercise_id`` in this lab.
        """
        exercise = registry.get(self.lab_id, exercise_id)
        if value is None and exercise.is_question:
            show_html(
                f'<div class="mlops-kit-unanswered" style="color:#5f6368;font-family:sans-serif">'
                f"{html.escape(exercise.label)}: not answered yet. Replace None with your answer "
                f"and run the cell again.</div>",
                f"{exercise.label}: not answered yet. Replace None with your answer.",
            )
            return
        if contains_fill_in(value):
            raise fill_in_error(exercise.number, exercise.title)
        try:
            result = registry.run_check(exercise, value, **context)
        except ExerciseError:
            raise
        except Exception as err:  # a wrong kind of answer must not end in a traceback
            result = CheckResult.fail(
                f"the answer could not be checked ({type(err).__name__}: {err})",
                hint=f"look at what the exercise asks for; you gave a {type(value).__name__}",
            )
        self.results_[exercise_id] = result
        show_result(exercise.label, result.passed, result.message, result.hint)
        if not result.passed and self.is_strict:
            hint = f" Hint: {result.hint}" if result.hint else ""
            raise CheckFailedError(f"{exercise.label} failed: {result.message}.{hint}")

    def ask(self, question_id: str) -> None:
        """Show a concept check's question and its options (see :mod:`.quiz`)."""
        exercise = registry.get(self.lab_id, question_id)
        if exercise.question is None:
            raise NotFoundError(
                f"{exercise.label} is an exercise, not a question: its task is in the markdown above."
            )
        show_html(exercise.question.to_html(exercise.label), exercise.question.to_text(exercise.label))

    def summary(self) -> "LabSummary":
        """Every exercise with its state (passed, failed, not attempted); shown and returned."""
        rows = []
        for exercise in registry.exercises(self.lab_id):
            result = self.results_.get(exercise.exercise_id)
            if result is None:
                state, message = "not attempted", ""
            else:
                state, message = ("passed" if result.passed else "failed"), result.message
            rows.append((exercise.number, exercise.exercise_id, exercise.title, state, message))
        summary = LabSummary(self.lab_id, rows)
        if not in_kernel():
            print(repr(summary))
        return summary


_COLOURS = {"passed": "#1e8e3e", "failed": "#d93025", "not attempted": "#80868b"}


@dataclass(frozen=True)
class LabSummary:
    """The state of every exercise of a lab; a table in Jupyter, text elsewhere."""

    lab_id: str
    rows: list[tuple[int, str, str, str, str]]

    def count(self, state: str) -> int:
        return sum(1 for row in self.rows if row[3] == state)

    @property
    def all_passed(self) -> bool:
        return self.count("passed") == len(self.rows)

    def _headline(self) -> str:
        return f"Lab {self.lab_id}: {self.count('passed')}/{len(self.rows)} exercises passed"

    def __repr__(self) -> str:
        lines = [self._headline()]
        for number, _, title, state, message in self.rows:
            detail = f" — {message}" if message else ""
            lines.append(f"  {number:>2}. {title}: {state}{detail}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{number}</td><td>{html.escape(title)}</td>"
            f'<td style="color:{_COLOURS[state]};font-weight:bold">{state}</td>'
            f"<td>{html.escape(message)}</td></tr>"
            for number, _, title, state, message in self.rows
        )
        return (
            f'<div class="mlops-kit-summary"><b>{html.escape(self._headline())}</b>'
            "<table><thead><tr><th>#</th><th>exercise</th><th>state</th><th>detail</th>"
            f"</tr></thead><tbody>{cells}</tbody></table></div>"
        )

    def to_frame(self):
        """The summary as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            self.rows, columns=["number", "exercise_id", "title", "state", "message"]
        )

"""A lab in a notebook: run each exercise's checker, show and remember the result.

::

    from mlops_kit.labs import Lab
    lab = Lab("feature-store")
    ...
    lab.check("ex1", features_df)    # badge: pass, or fail with reason and hint
    ...
    lab.hint("ex1")                   # the next hint, gentle to specific
    lab.solution("ex1")               # the worked solution, from solutions/
    lab.summary()                     # last cell: every exercise and its state

Checks, hints and solutions shown are saved in the learner's workspace
(:mod:`.progress`), so the summary survives a kernel restart.

A failed check does not raise, so learners can go on; in strict mode
(``Lab(..., strict=True)`` or ``MLOPS_KIT_LABS_STRICT=1``, as in CI) it raises
:class:`~mlops_kit.exceptions.CheckFailedError`, so a solution whose answer
is wrong fails the build. An answer that is still ``FILL_IN`` always raises
:class:`~mlops_kit.exceptions.ExerciseError`; in a notebook both show as their
one message, without a traceback through the kit's code.
"""
from __future__ import annotations

import html
import inspect
import os
from dataclasses import dataclass
from typing import Any

from mlops_kit.exceptions import CheckFailedError, ExerciseError, NotFoundError
from mlops_kit.labs import registry
from mlops_kit.labs.check_service import SOCKET_ENV
from mlops_kit.labs.fill_in import contains_fill_in, fill_in_error, one_line, set_active_lab
from mlops_kit.labs.progress import ExerciseProgress, Progress, record_event
from mlops_kit.labs.registry import CheckResult, expect_type, type_name
from mlops_kit.labs.widgets import (
    in_kernel, inline_html, inline_text, label_separator, note_html, show_html, show_result,
)

__all__ = ["Lab", "LabSummary", "strict_from_env"]

_TRUE = {"1", "true", "yes", "on"}


def strict_from_env() -> bool:
    """True when ``MLOPS_KIT_LABS_STRICT`` asks failed checks to raise."""
    return os.environ.get("MLOPS_KIT_LABS_STRICT", "").strip().lower() in _TRUE


def _expected_type(exercise: registry.Exercise) -> Any:
    """The type a checker's answer parameter is annotated with, if it names one."""
    import builtins
    import typing

    try:
        first = next(iter(inspect.signature(exercise.check).parameters.values()))
    except (StopIteration, TypeError, ValueError):
        return None
    annotation = first.annotation
    if isinstance(annotation, str):
        name = annotation.strip()
        if name in ("pd.DataFrame", "pandas.DataFrame", "pd.Series", "pandas.Series"):
            return "pandas." + name.rpartition(".")[2]
        if name in ("DataFrame", "pyspark.sql.DataFrame"):
            return None  # pandas or Spark: cannot tell
        annotation = getattr(builtins, name, None)
    if annotation in (inspect.Parameter.empty, object, typing.Any):
        return None
    if isinstance(annotation, type):
        return annotation
    return None


def _graded_check(lab_id: str, exercise_id: str, value: Any, context: dict[str, Any]) -> CheckResult:
    """The verdict of the grader's check service (see :mod:`mlops_kit.labs.check_service`)."""
    from mlops_kit.labs.check_service import send_check

    verdict = send_check(lab_id, exercise_id, value, context)
    return CheckResult(bool(verdict.get("passed")), str(verdict.get("message", "")),
                       verdict.get("hint") or None)


def _crash_result(exercise: registry.Exercise, value: Any, err: Exception) -> CheckResult:
    """What a learner sees when a checker crashed on their answer: expected vs got."""
    expected = _expected_type(exercise)
    if expected is not None:
        failed = expect_type(value, expected, "an answer")
        if failed is not None:
            return failed
    return CheckResult.fail(
        f"expected another kind of answer, got {type_name(value)} "
        f"(the check stopped with {type(err).__name__})",
        hint="reread what the exercise asks for (a table? a column name? a number?) and "
             "look at what your variable holds, e.g. with type(...)",
    )


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
        self._hints_shown: dict[str, int] = {}
        found = registry.exercises(lab_id)  # an unknown lab id fails here, not at ex1
        set_active_lab(self._current_exercise)
        record_event({"event": "lab", "lab": lab_id,
                      "exercises": [[e.exercise_id, e.title] for e in found]})

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

    def _progress(self, action: str, exercise_id: str, **kwargs: Any) -> ExerciseProgress | None:
        """Save to the learner's progress file; a read-only workspace never breaks a lab."""
        try:
            return getattr(Progress(), action)(self.lab_id, exercise_id, **kwargs)
        except OSError:
            return None

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
                f"{inline_html(exercise.label)}: not answered yet. Replace None with your answer "
                f"and run the cell again.</div>",
                f"{inline_text(exercise.label)}: not answered yet. Replace None with your answer.",
            )
            return
        if contains_fill_in(value):
            raise fill_in_error(exercise.number, exercise.title)
        crash: Exception | None = None
        try:
            if os.environ.get(SOCKET_ENV):  # being graded: the grader's service decides
                result = _graded_check(self.lab_id, exercise_id, value, context)
            else:
                result = registry.run_check(exercise, value, **context)
        except ExerciseError:
            raise
        except Exception as err:  # a wrong kind of answer must not end in a traceback
            crash, result = err, _crash_result(exercise, value, err)
        self.results_[exercise_id] = result
        self._progress("record_check", exercise_id, passed=result.passed,
                       message=inline_text(result.message))
        record_event({"event": "check", "lab": self.lab_id, "exercise": exercise_id,
                      "passed": result.passed, "message": inline_text(result.message),
                      "hint": inline_text(result.hint or "")})
        show_result(exercise.label, result.passed, result.message, result.hint)
        if not result.passed and self.is_strict:
            hint = f" Hint: {inline_text(result.hint)}" if result.hint else ""
            detail = f" The checker raised {type(crash).__name__}: {crash}." if crash else ""
            error = CheckFailedError(
                f"{inline_text(exercise.label)} failed: {inline_text(result.message)}.{hint}{detail}"
            )
            raise one_line(error) from crash

    def ask(self, question_id: str) -> None:
        """Show a concept check's question and its options (see :mod:`.quiz`)."""
        exercise = registry.get(self.lab_id, question_id)
        if exercise.question is None:
            raise NotFoundError(
                f"{exercise.label} is an exercise, not a question: its task is in the markdown above."
            )
        show_html(exercise.question.to_html(exercise.label), exercise.question.to_text(exercise.label))

    def hint(self, exercise_id: str) -> None:
        """Show the next hint of ``exercise_id`` (gentle first, then more specific).

        After the last one it says so, repeats them all and points at
        :meth:`solution`. Each hint shown is saved in the learner's progress.
        """
        exercise = registry.get(self.lab_id, exercise_id)
        hints = list(exercise.hints)  # numbered the same way whatever the last check said
        last = self.results_.get(exercise_id)
        pointer = (last.hint if last is not None and not last.passed and last.hint
                   and last.hint not in hints else "")
        stored = self._progress("record_hint", exercise_id)
        self._hints_shown[exercise_id] = self._hints_shown.get(exercise_id, 0) + 1
        used = max(stored.hints_used if stored else 0, self._hints_shown[exercise_id])
        label = inline_text(exercise.label)
        if used <= len(hints):
            title = f"Hint {used} of {len(hints)} for {label}"
            body = hints[used - 1]
            extra = f" (your last check pointed at: {pointer})" if pointer else ""
            show_html(note_html("hint", title, inline_html(body + extra)),
                      f"{title}: {inline_text(body + extra)}")
            return
        numbered = len(hints)
        if pointer:
            hints.append(f"your last check pointed at: {pointer}")
        more = f'lab.solution("{exercise_id}") shows the worked solution.'
        if hints:
            title = (f"No more hints for {label}: you have seen all {numbered}" if numbered
                     else f"{label} has no hints")
            items = "".join(f"<li>{inline_html(h)}</li>" for h in hints)
            markup = note_html("hint", title, f"<ol>{items}</ol>{html.escape(more)}")
            text = f"{title}:\n" + "\n".join(f"  {i}. {inline_text(h)}" for i, h in
                                              enumerate(hints, 1)) + f"\n{more}"
        else:
            title = f"{label} has no hints"
            markup = note_html("hint", title, "Run the check: its message says what is wrong. "
                                              + html.escape(more))
            text = f"{title}. Run the check: its message says what is wrong. {more}"
        show_html(markup, text)

    def solution(self, exercise_id: str) -> None:
        """Show the worked solution of ``exercise_id`` (the right option, for a question).

        The code comes from the solution notebook this lab is built from, so it
        is the code CI runs. Viewing it is saved in the learner's progress.
        """
        from mlops_kit.labs.solutions import find_solution, question_answer

        exercise = registry.get(self.lab_id, exercise_id)
        label = inline_text(exercise.label)
        if exercise.question is not None:
            left = self._hints_left_before_answer(exercise)
            if left:
                title = f"The answer to {label} comes after its hints"
                body = (f"Commit to an answer first: lab.hint(\"{exercise_id}\") points you where "
                        f"to look ({left} hint{'s' if left != 1 else ''} left), then ask again.")
                show_html(note_html("hint", title, html.escape(body)), f"{title}. {body}")
                return
            answer, why = question_answer(exercise)
            self._progress("record_solution", exercise_id)
            title = f"Answer to {label}"
            show_html(note_html("solution", title, f"<b>{html.escape(answer)}</b><br>{inline_html(why)}"),
                      f"{title}{label_separator(title)}{answer}\n{inline_text(why)}")
            return
        path, code = find_solution(self.lab_id, exercise_id)
        self._progress("record_solution", exercise_id)
        title = f"Solution to {label} (from {path.name})"
        show_html(note_html("solution", title, f"<pre><code>{html.escape(code)}</code></pre>"),
                  f"{title}:\n{code}")

    def _hints_left_before_answer(self, exercise) -> int:
        """How many hints a learner must see before a question's answer is shown.

        A concept check is worth something only if the learner commits to an
        answer: the explanation comes once they chose right, or after every hint.
        """
        try:
            stored = Progress().get(self.lab_id, exercise.exercise_id)
        except OSError:
            stored = None
        last = self.results_.get(exercise.exercise_id)
        if (last is not None and last.passed) or (stored is not None and stored.ever_passed):
            return 0
        used = max(stored.hints_used if stored else 0,
                   self._hints_shown.get(exercise.exercise_id, 0))
        return max(0, len(exercise.hints) - used)

    def summary(self) -> "LabSummary":
        """Every exercise with its state, attempts, hints and solutions; shown and returned.

        Read from the learner's saved progress, so it survives a kernel restart.
        """
        try:
            saved = Progress().labs().get(self.lab_id, {})
        except OSError:
            saved = {}
        rows = []
        for exercise in registry.exercises(self.lab_id):
            record = saved.get(exercise.exercise_id, ExerciseProgress())
            result = self.results_.get(exercise.exercise_id)
            state, message = record.state, record.message
            if result is not None:  # this session's check wins (the file may be read-only)
                state, message = ("passed" if result.passed else "failed"), inline_text(result.message)
            rows.append((exercise.number, exercise.exercise_id, inline_text(exercise.title), state,
                         message, max(record.attempts, int(result is not None)),
                         max(record.hints_used, self._hints_shown.get(exercise.exercise_id, 0)),
                         record.solution_viewed))
        summary = LabSummary(self.lab_id, rows)
        if not in_kernel():
            print(repr(summary))
        return summary


_COLOURS = {"passed": "#1e8e3e", "failed": "#d93025", "not attempted": "#80868b"}
_COLUMNS = ["number", "exercise_id", "title", "state", "message", "attempts", "hints_used",
            "solution_viewed"]


@dataclass(frozen=True)
class LabSummary:
    """The state of every exercise of a lab; a table in Jupyter, text elsewhere.

    Each row: number, exercise id, title, state (passed, failed, not
    attempted), latest message, attempts, hints used, solution viewed.
    """

    lab_id: str
    rows: list[tuple]

    def count(self, state: str) -> int:
        return sum(1 for row in self.rows if row[3] == state)

    @property
    def all_passed(self) -> bool:
        return self.count("passed") == len(self.rows)

    def _headline(self) -> str:
        return f"Lab {self.lab_id}: {self.count('passed')}/{len(self.rows)} exercises passed"

    @staticmethod
    def _effort(row: tuple) -> str:
        attempts, hints, solution = (tuple(row[5:8]) + (0, 0, False))[:3]
        parts = [f"{attempts} attempt{'s' if attempts != 1 else ''}"] if attempts else []
        if hints:
            parts.append(f"{hints} hint{'s' if hints != 1 else ''}")
        if solution:
            parts.append("solution viewed")
        return ", ".join(parts)

    def __repr__(self) -> str:
        lines = [self._headline()]
        for row in self.rows:
            number, _, title, state, message = row[:5]
            detail = f" — {message}" if message else ""
            effort = self._effort(row)
            effort = f" ({effort})" if effort else ""
            lines.append(f"  {number:>2}. {title}{label_separator(title)}{state}{effort}{detail}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{row[0]}</td><td>{inline_html(row[2])}</td>"
            f'<td style="color:{_COLOURS[row[3]]};font-weight:bold">{row[3]}</td>'
            f"<td>{html.escape(self._effort(row))}</td><td>{inline_html(row[4])}</td></tr>"
            for row in self.rows
        )
        return (
            f'<div class="mlops-kit-summary"><b>{html.escape(self._headline())}</b>'
            "<table><thead><tr><th>#</th><th>exercise</th><th>state</th><th>effort</th>"
            f"<th>detail</th></tr></thead><tbody>{cells}</tbody></table></div>"
        )

    def to_frame(self):
        """The summary as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([tuple(row) + (None,) * (len(_COLUMNS) - len(row)) for row in self.rows],
                            columns=_COLUMNS)

"""Concept checks: questions a concepts notebook asks, checked by the lab system.

A concept check is an exercise whose id starts with ``q`` (``q1``, ``q2``...).
It is registered in the lab's checks module like any exercise, so it counts in
the learner's progress, and it explains *why* each wrong option is wrong::

    from mlops_kit.labs.quiz import Option, multiple_choice

    multiple_choice(
        "concepts-03", "q1", title="Which pattern ships code?",
        prompt="Which deployment pattern moves training code, not model files, to prod?",
        options=[
            Option("a", "Deploy models", "That moves the trained artifact, not the code."),
            Option("b", "Deploy code", "Right: prod retrains from the promoted code."),
        ],
        answer="b",
    )

In the notebook: ``lab.ask("q1")`` shows the question and its options, and
``lab.check("q1", "b")`` checks a choice. ``lab.check("q1", None)`` (the value
a concepts notebook ships with) shows a neutral "not answered yet" note and
records nothing, so the course runs green before anyone answers.

Three kinds of question:

- :func:`multiple_choice`: one key (``"b"``);
- :func:`choose_all`: a set of keys (``{"a", "c"}``), every right one and no wrong one;
- :func:`numeric`: a number within a tolerance of a value, which may be computed
  from the learner's own objects passed as check context.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Collection, Sequence

from mlops_kit.exceptions import ConfigError
from mlops_kit.labs.registry import CheckResult, Exercise, register

__all__ = ["Option", "Question", "multiple_choice", "choose_all", "numeric"]


@dataclass(frozen=True)
class Option:
    """One option of a question: its key, its text, and why it is right or wrong."""

    key: str
    text: str
    why: str


@dataclass(frozen=True)
class Question:
    """What :meth:`Lab.ask` shows: the prompt and, for choices, the options."""

    prompt: str
    options: tuple[Option, ...] = ()
    kind: str = "choice"  # "choice", "choose-all" or "number"

    def to_html(self, label: str) -> str:
        items = "".join(
            f"<li><code>{html.escape(o.key)}</code> {html.escape(o.text)}</li>"
            for o in self.options
        )
        listing = f'<ul style="list-style:none;padding-left:0">{items}</ul>' if items else ""
        how = {
            "choice": "Answer with one key, e.g. <code>lab.check(..., \"a\")</code>.",
            "choose-all": "Answer with every key that applies, e.g. <code>{\"a\", \"c\"}</code>.",
            "number": "Answer with a number.",
        }[self.kind]
        return (
            '<div class="mlops-kit-question" style="border-left:4px solid #1a73e8;'
            'padding:6px 10px;margin:4px 0;font-family:sans-serif;background:#e8f0fe">'
            f"<b>{html.escape(label)}</b><br>{html.escape(self.prompt)}{listing}"
            f'<small style="color:#5f6368">{how}</small></div>'
        )

    def to_text(self, label: str) -> str:
        lines = [f"{label}: {self.prompt}"]
        lines += [f"  {o.key}) {o.text}" for o in self.options]
        return "\n".join(lines)


def _options(options: Sequence[Option]) -> tuple[Option, ...]:
    found = tuple(options)
    keys = [o.key for o in found]
    if len(found) < 2 or len(set(keys)) != len(keys):
        raise ConfigError(
            f"A question needs at least two options with distinct keys. Got keys {keys} instead."
        )
    return found


def _normalise_key(value: Any, keys: Collection[str]) -> tuple[str | None, CheckResult | None]:
    """The learner's key, or a failed result that says what was expected."""
    if not isinstance(value, str):
        return None, CheckResult.fail(
            f"expected one option key (a str such as {sorted(keys)[0]!r}), "
            f"got {type(value).__name__}",
            hint=f"answer with one of {', '.join(repr(k) for k in sorted(keys))}",
        )
    key = value.strip().lower().rstrip(")").lstrip("(")
    if key not in keys:
        return None, CheckResult.fail(
            f"{value!r} is not one of the options",
            hint=f"answer with one of {', '.join(repr(k) for k in sorted(keys))}",
        )
    return key, None


def multiple_choice(lab_id: str, question_id: str, *, title: str, prompt: str,
                    options: Sequence[Option], answer: str,
                    hints: Sequence[str] = ()) -> Exercise:
    """Register a one-answer question; a wrong choice fails with that option's ``why``."""
    found = _options(options)
    by_key = {o.key: o for o in found}
    if answer not in by_key:
        raise ConfigError(f"The answer of {lab_id}/{question_id} must be one of "
                          f"{sorted(by_key)}. Got {answer!r} instead.")

    def check(value: Any, **context: Any) -> CheckResult:
        key, failed = _normalise_key(value, by_key)
        if failed:
            return failed
        if key != answer:
            return CheckResult.fail(f"not {key}: {by_key[key].why}",
                                    hint=hints[0] if hints else "reread the section above")
        return CheckResult.ok(by_key[key].why)

    question = Question(prompt, found, "choice")
    return register(lab_id, question_id, check, title=title, hints=hints, question=question)


def choose_all(lab_id: str, question_id: str, *, title: str, prompt: str,
               options: Sequence[Option], answer: Collection[str],
               hints: Sequence[str] = ()) -> Exercise:
    """Register a choose-every-option-that-applies question.

    A wrong pick fails with its ``why``; a missing right option fails saying how
    many are missing (not which: that would give the answer away).
    """
    found = _options(options)
    by_key = {o.key: o for o in found}
    right = set(answer)
    if not right or not right <= set(by_key):
        raise ConfigError(f"The answer of {lab_id}/{question_id} must be a non-empty subset "
                          f"of {sorted(by_key)}. Got {sorted(right)} instead.")

    def check(value: Any, **context: Any) -> CheckResult:
        if isinstance(value, str) or not isinstance(value, Collection):
            return CheckResult.fail(
                f"expected a set of option keys (such as {{'a', 'b'}}), got {type(value).__name__}",
                hint="put every key that applies in a set or a list",
            )
        picked = set()
        for item in value:
            key, failed = _normalise_key(item, by_key)
            if failed:
                return failed
            picked.add(key)
        wrong = sorted(picked - right)
        if wrong:
            return CheckResult.fail(f"not {wrong[0]}: {by_key[wrong[0]].why}",
                                    hint=hints[0] if hints else "reread the section above")
        missing = len(right - picked)
        if missing:
            return CheckResult.fail(
                f"every choice you made applies, but {missing} more option"
                f"{'s apply' if missing > 1 else ' applies'}",
                hint=hints[0] if hints else "look at each option you left out again",
            )
        return CheckResult.ok("; ".join(by_key[k].why for k in sorted(right)))

    question = Question(prompt, found, "choose-all")
    return register(lab_id, question_id, check, title=title, hints=hints, question=question)


def numeric(lab_id: str, question_id: str, *, title: str, prompt: str,
            answer: float | Callable[..., float], rel_tol: float = 0.05, abs_tol: float = 0.0,
            too_low: str, too_high: str, explanation: str = "",
            hints: Sequence[str] = ()) -> Exercise:
    """Register a numeric question.

    ``answer`` is a number, or a function of the check's context that computes it
    from the learner's own data (so no constant from a demo can be typed in).
    ``too_low``/``too_high`` say what the usual mistake behind each side is.
    """

    def check(value: Any, **context: Any) -> CheckResult:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return CheckResult.fail(f"expected a number (int or float), got {type(value).__name__}",
                                    hint="answer with the number itself, not a string or a table")
        if not math.isfinite(value):
            return CheckResult.fail(f"{value} is not a finite number", hint=too_low)
        expected = answer(**context) if callable(answer) else float(answer)
        if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
            return CheckResult.ok(explanation or f"{value:g} is right")
        if value < expected:
            return CheckResult.fail(f"{value:g} is too low: {too_low}",
                                    hint=hints[0] if hints else too_low)
        return CheckResult.fail(f"{value:g} is too high: {too_high}",
                                hint=hints[0] if hints else too_high)

    question = Question(prompt, (), "number")
    return register(lab_id, question_id, check, title=title, hints=hints, question=question)

"""Concept checks: every option of every choice question is tried.

The right option passes and explains why; each wrong option fails with its own
explanation and a hint that does not name the right key. Numeric questions are
tested in the lab's own test module (``COVERS_EXERCISES``).
"""
from __future__ import annotations

import importlib
import itertools
import pkgutil

import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.labs import Lab, registry
from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric


def _questions() -> list:
    package = importlib.import_module("mlops_kit.labs.checks")
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        lab_id = info.name.replace("_", "-")
        for exercise in registry.exercises(lab_id):
            if exercise.question is not None and exercise.question.kind != "number":
                found.append(pytest.param(exercise, id=f"{lab_id}-{exercise.exercise_id}"))
    return found


def _right_answer(exercise):
    """The one answer that passes: found by trying every option (and subset)."""
    keys = [o.key for o in exercise.question.options]
    if exercise.question.kind == "choice":
        candidates = keys
    else:
        candidates = [set(c) for n in range(1, len(keys) + 1) for c in itertools.combinations(keys, n)]
    passing = [c for c in candidates if exercise.check(c).passed]
    assert len(passing) == 1, f"{exercise.label}: exactly one answer must pass, got {passing}"
    return passing[0]


@pytest.mark.parametrize("exercise", _questions())
def test_only_the_right_answer_passes_and_each_wrong_option_says_why(exercise) -> None:
    right = _right_answer(exercise)
    right_keys = {right} if isinstance(right, str) else right
    by_key = {o.key: o for o in exercise.question.options}
    for option in exercise.question.options:
        if option.key in right_keys:
            continue
        answer = option.key if exercise.question.kind == "choice" else right_keys | {option.key}
        result = exercise.check(answer)
        assert not result.passed, f"{exercise.label} accepted the wrong option {option.key}"
        assert option.why in result.message, "a wrong option's failure explains that option"
        assert result.hint, "a failed concept check gives a hint"
        assert by_key[option.key].why != "" and len(option.why) > 10, "explain each option"
    assert exercise.check(right).passed


@pytest.mark.parametrize("exercise", _questions())
def test_a_question_has_a_prompt_and_four_or_more_options(exercise) -> None:
    """With three options and an explanation after each miss, two tries solve anything."""
    assert len(exercise.question.prompt) > 15
    assert len(exercise.question.options) >= 4


def _mentions(text: str, option) -> bool:
    text = text.lower()
    return (option.text.lower() in text
            or any(mark in text for mark in (f"({option.key})", f"'{option.key}'",
                                             f'"{option.key}"', f"option {option.key}")))


@pytest.mark.parametrize("exercise", _questions())
def test_a_miss_never_gives_the_right_option_away(exercise) -> None:
    """A wrong option's failure and every hint point at where to look, not at the answer."""
    right = _right_answer(exercise)
    right_keys = {right} if isinstance(right, str) else right
    rights = [o for o in exercise.question.options if o.key in right_keys]
    for option in exercise.question.options:
        if option.key in right_keys:
            continue
        answer = option.key if exercise.question.kind == "choice" else right_keys | {option.key}
        result = exercise.check(answer)
        said = f"{result.message} {result.hint or ''}"
        assert not any(_mentions(said, r) for r in rights), (
            f"{exercise.label}: choosing {option.key} reveals the answer: {said!r}")
    for hint in exercise.hints:
        assert not any(_mentions(hint, r) for r in rights), f"{exercise.label}: hint names the answer"


# ------------------------------------------------------------ the quiz machinery
@pytest.fixture
def toy_quiz():
    multiple_choice("toy-quiz", "q1", title="Pick b", prompt="Which one?", options=[
        Option("a", "A", "a is the wrong letter"), Option("b", "B", "b is right"),
        Option("c", "C", "c is too far"), Option("d", "D", "d is the last")], answer="b",
        hints=["not the first"])
    choose_all("toy-quiz", "q2", title="Pick a and c", prompt="Which ones?", options=[
        Option("a", "A", "a applies"), Option("b", "B", "b does not apply"),
        Option("c", "C", "c applies")], answer={"a", "c"})
    numeric("toy-quiz", "q3", title="Twice n", prompt="What is twice n?",
            answer=lambda n: 2 * n, too_low="you halved", too_high="you squared")
    yield "toy-quiz"
    registry._REGISTRY.pop("toy-quiz", None)


@pytest.mark.parametrize("answer, passed, text", [
    ("b", True, "b is right"), (" B ", True, "b is right"), ("a", False, "a is the wrong letter"),
    ("z", False, "not one of the options"), (2, False, "expected one option key (a str"),
])
def test_multiple_choice(toy_quiz, answer, passed, text) -> None:
    result = registry.get(toy_quiz, "q1").check(answer)
    assert result.passed is passed and text in result.message


@pytest.mark.parametrize("answer, passed, text", [
    ({"a", "c"}, True, "a applies"), (["c", "a"], True, "c applies"),
    ({"a"}, False, "1 more option applies"), ({"a", "b", "c"}, False, "b does not apply"),
    ("a", False, "expected a set of option keys"),
])
def test_choose_all(toy_quiz, answer, passed, text) -> None:
    result = registry.get(toy_quiz, "q2").check(answer)
    assert result.passed is passed and text in result.message


@pytest.mark.parametrize("answer, passed, text", [
    (6, True, "right"), (3, False, "too low: you halved"), (9, False, "too high: you squared"),
    ("6", False, "expected a number"), (float("nan"), False, "not a finite number"),
])
def test_numeric_recomputes_from_context(toy_quiz, answer, passed, text) -> None:
    result = registry.get(toy_quiz, "q3").check(answer, n=3)
    assert result.passed is passed and text in result.message


def test_a_questions_answer_waits_for_its_hints_or_a_right_choice(toy_quiz, capsys) -> None:
    """The explanation of the right answer is shown once chosen, or after every hint."""
    lab = Lab(toy_quiz)
    lab.check("q1", "a")
    capsys.readouterr()
    lab.solution("q1")
    out = capsys.readouterr().out
    assert "comes after its hints" in out and "b is right" not in out
    lab.hint("q1")
    lab.solution("q1")
    assert "b is right" in capsys.readouterr().out
    fresh = Lab(toy_quiz)
    fresh.check("q2", {"a", "c"})  # chosen right: its explanation is earned
    capsys.readouterr()
    fresh.solution("q2")
    assert "a applies" in capsys.readouterr().out


def test_unanswered_question_is_not_recorded(toy_quiz, capsys) -> None:
    lab = Lab(toy_quiz, strict=True)
    lab.check("q1", None)
    assert "not answered yet" in capsys.readouterr().out
    assert lab.results_ == {}


def test_ask_shows_the_prompt_and_options(toy_quiz, capsys) -> None:
    Lab(toy_quiz).ask("q1")
    out = capsys.readouterr().out
    assert "Which one?" in out and "c) C" in out


def test_a_question_needs_distinct_options_and_a_known_answer() -> None:
    with pytest.raises(ConfigError, match="distinct keys"):
        multiple_choice("toy-bad", "q1", title="t", prompt="p", answer="a",
                        options=[Option("a", "A", "x"), Option("a", "B", "y")])
    with pytest.raises(ConfigError, match="must be one of"):
        multiple_choice("toy-bad", "q1", title="t", prompt="p", answer="z",
                        options=[Option("a", "A", "x"), Option("b", "B", "y")])
    registry._REGISTRY.pop("toy-bad", None)

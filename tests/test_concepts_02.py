"""Concept checks of module 02: the numeric ones against the learner's own measurements.

Every option of the choice questions is tried by tests/test_labs_quiz.py.
"""
from __future__ import annotations

import pandas as pd
import pytest

from mlops_kit.labs import Lab, registry

COVERS_EXERCISES = [
    ("concepts-02", "q1"), ("concepts-02", "q2"), ("concepts-02", "q3"), ("concepts-02", "q4"),
    ("concepts-02", "q5"), ("concepts-02", "q6"), ("concepts-02", "q7"),
]


def _check(question, value, **context):
    return registry.run_check(registry.get("concepts-02", question), value, **context)


def _skew(model, caller):
    return pd.DataFrame({"transform inside the model": model, "caller's copy without the clip": caller})


SKEW = _skew([224.7, 200.9, 36.4], [210.7, 178.0, 4.4])  # largest gap: 32.0, in the last row


@pytest.mark.parametrize("value, passed, words", [
    (32.0, True, "no error was raised"),
    (32.1, True, ""),
    (22.9, False, "largest difference"),   # another row's gap
    (14.0, False, "too low"),
    (40.8, False, "do not add"),           # larger than any row's gap
    (432.6, False, "too high"),            # the two prices added
    ("32", False, "expected a number"),
])
def test_q1_is_the_largest_gap_of_the_learners_skew_table(value, passed, words):
    result = _check("q1", value, skew=SKEW)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


def test_q1_follows_the_learners_table_not_a_constant():
    other = _skew([100.0, 120.0, 80.0], [90.0, 150.0, 79.0])  # largest gap 30.0, in the middle row
    assert _check("q1", 30.0, skew=other).passed
    assert not _check("q1", 32.0, skew=other).passed
    assert not _check("q1", 30.0, skew=SKEW).passed


@pytest.mark.parametrize("value, passed, words", [
    (0.9, True, "price of the transform"),
    (0.92, True, ""),
    (0.5, False, "too low"),
    (-0.9, False, "subtract the bare"),
    (3.4, False, "too high"),
    ("0.9", False, "expected a number"),
])
def test_q2_is_checked_against_the_learners_own_latencies(value, passed, words):
    result = _check("q2", value, inside_ms=3.4, bare_ms=2.5)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


def test_q2_follows_the_measurement_not_a_constant():
    assert _check("q2", 2.0, inside_ms=7.0, bare_ms=5.0).passed
    assert not _check("q2", 2.0, inside_ms=3.4, bare_ms=2.5).passed


def test_choice_questions_have_four_or_more_options():
    for exercise in registry.exercises("concepts-02"):
        if exercise.question.kind != "number":
            assert len(exercise.question.options) >= 4, exercise.label


def test_an_unanswered_question_records_nothing():
    lab = Lab("concepts-02", strict=True)
    lab.check("q1", None)
    assert lab.results_ == {}


def test_every_question_is_listed_here():
    found = {("concepts-02", e.exercise_id) for e in registry.exercises("concepts-02")}
    assert found == set(COVERS_EXERCISES)

"""Concept checks of module 03 (deployment): asked in order, four or more options, the
numeric one checked against the learner's own measurement.

Every option of every choice question is tried in tests/test_labs_quiz.py.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from mlops_kit.labs import Lab, registry
from notebook_runner import REPO

LAB = "concepts-03"
NOTEBOOK = REPO / "notebooks" / "03-deployment" / "00-concepts.ipynb"

COVERS_EXERCISES = [
    ("concepts-03", "q1"), ("concepts-03", "q2"), ("concepts-03", "q3"), ("concepts-03", "q4"),
    ("concepts-03", "q5"), ("concepts-03", "q6"), ("concepts-03", "q7"), ("concepts-03", "q8"),
    ("concepts-03", "q9"), ("concepts-03", "q10"), ("concepts-03", "q11"), ("concepts-03", "q12"),
    ("concepts-03", "q13"),
]


def _check(question, value, **context):
    return registry.run_check(registry.get(LAB, question), value, **context)


def test_every_question_is_listed_here():
    assert {(LAB, e.exercise_id) for e in registry.exercises(LAB)} == set(COVERS_EXERCISES)


def test_the_notebook_asks_every_question_once_in_order():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    asked = [m for cell in nb.cells if cell.cell_type == "code"
             for m in re.findall(r'lab\.ask\("(q\d+)"\)', cell.source)]
    assert asked == [q for _, q in COVERS_EXERCISES]


@pytest.mark.parametrize("exercise", registry.exercises(LAB), ids=lambda e: e.exercise_id)
def test_choice_questions_have_four_or_more_options_and_hints_that_name_no_key(exercise):
    question = exercise.question
    if question.kind == "number":
        return
    assert len(question.options) >= 4, exercise.exercise_id
    for hint in exercise.hints:
        assert not re.search(r"\b(option|answer) [a-e]\b|\([a-e]\)", hint), hint


@pytest.mark.parametrize("value, passed, words", [
    (450.7, True, "half the interval"),
    (450, True, ""),          # the run is small next to the wait: rounding it away is fine
    (900.7, False, "does not wait a whole interval"),
    (0.7, False, "waits for the next run to start"),
    (7.5, False, "too low"),  # the answer in minutes
    ("450", False, "expected a number"),
])
def test_q8_is_half_the_interval_plus_the_learners_job_time(value, passed, words):
    result = _check("q8", value, job_p50_ms=700.0)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


def test_q8_follows_the_measured_job_time_not_a_constant():
    assert _check("q8", 480.0, job_p50_ms=30_000.0).passed
    assert not _check("q8", 450.0, job_p50_ms=30_000.0).passed


def test_an_unanswered_question_records_nothing():
    lab = Lab(LAB, strict=True)
    lab.check("q1", None)
    lab.check("q8", None, job_p50_ms=700.0)
    assert lab.results_ == {}

"""Concept checks of modules 02 and 03: numeric questions against the learner's numbers."""
from __future__ import annotations

import pytest

from mlops_kit.labs import Lab, registry

COVERS_EXERCISES = [
    ("concepts-02", "q1"), ("concepts-02", "q2"), ("concepts-02", "q3"), ("concepts-02", "q4"),
    ("concepts-02", "q5"), ("concepts-02", "q6"), ("concepts-02", "q7"),
    ("concepts-03", "q1"), ("concepts-03", "q2"), ("concepts-03", "q3"), ("concepts-03", "q4"),
    ("concepts-03", "q5"), ("concepts-03", "q6"), ("concepts-03", "q7"), ("concepts-03", "q8"),
    ("concepts-03", "q9"),
]


def _check(lab_id, question, value, **context):
    return registry.run_check(registry.get(lab_id, question), value, **context)


@pytest.mark.parametrize("value, passed, words", [
    (0.9, True, "price of the transform"),
    (0.92, True, ""),
    (0.5, False, "too low"),
    (-0.9, False, "subtract the bare"),
    (3.4, False, "too high"),
    ("0.9", False, "expected a number"),
])
def test_q2_is_checked_against_the_learners_own_latencies(value, passed, words):
    result = _check("concepts-02", "q2", value, inside_ms=3.4, bare_ms=2.5)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


def test_q2_follows_the_measurement_not_a_constant():
    assert _check("concepts-02", "q2", 2.0, inside_ms=7.0, bare_ms=5.0).passed
    assert not _check("concepts-02", "q2", 2.0, inside_ms=3.4, bare_ms=2.5).passed


@pytest.mark.parametrize("value, passed", [(250, True), (240, True), (100, False), (1000, False),
                                           (0.25, False)])
def test_q6_is_the_ratio_of_the_learners_p50s(value, passed):
    result = _check("concepts-03", "q6", value, streaming_p50_ms=1000.0, rest_p50_ms=4.0)
    assert result.passed is passed


@pytest.mark.parametrize("lab_id", ["concepts-02", "concepts-03"])
def test_an_unanswered_question_records_nothing(lab_id):
    lab = Lab(lab_id, strict=True)
    lab.check("q1", None)
    assert lab.results_ == {}


def test_every_question_is_listed_here():
    found = {(lab, e.exercise_id) for lab in ("concepts-02", "concepts-03")
             for e in registry.exercises(lab)}
    assert found == set(COVERS_EXERCISES)

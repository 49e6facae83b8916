"""Concept checks of module 04: the numeric question, and that every question is registered."""
from __future__ import annotations

import pytest

from mlops_kit.labs import registry
from mlops_kit.rollout import sample_size

COVERS_EXERCISES = [("concepts-04", "q13")]


def _check(question, value, **context):
    return registry.get("concepts-04", question).check(value, **context)


def test_every_section_has_its_questions():
    ids = [e.exercise_id for e in registry.exercises("concepts-04")]
    assert ids == [f"q{i}" for i in range(1, 15)]


@pytest.mark.parametrize("value, passed, text", [
    (sample_size(0.10, 0.005), True, "four times the users"),
    (4 * sample_size(0.10, 0.01), True, "four times the users"),        # the table's law
    (2 * sample_size(0.10, 0.01), False, "more than doubles"),          # linear, not square
    (16 * sample_size(0.10, 0.01), False, "grew from one row"),         # squared twice
    (sample_size(0.10, 0.01), False, "more than doubles"),              # the table's own row
    ("57763", False, "expected a number"),
])
def test_half_point_question_applies_the_square_law(value, passed, text):
    result = _check("q13", value, baseline_rate=0.10)
    assert result.passed is passed
    assert text in result.message + (result.hint or "")


def test_half_point_question_follows_the_learners_baseline():
    """Another baseline gives another answer: a constant copied from the demo fails."""
    assert _check("q13", sample_size(0.05, 0.005), baseline_rate=0.05).passed
    assert not _check("q13", sample_size(0.10, 0.005), baseline_rate=0.05).passed


def test_concept_drift_is_predicted_before_the_table():
    """q6 is a prediction: only the error sees concept drift in the lesson's scenario."""
    assert _check("q6", {"c"}).passed
    assert not _check("q6", {"a", "c"}).passed

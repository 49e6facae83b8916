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
    (sample_size(0.05, 0.01), True, "8,200"),
    (8200, True, "8,200"),
    (2 * sample_size(0.05, 0.01), False, "both arms"),
    (1000, False, "many more users"),
    ("8158", False, "expected a number"),
])
def test_sample_size_question(value, passed, text):
    result = _check("q13", value)
    assert result.passed is passed
    assert text in result.message + (result.hint or "")

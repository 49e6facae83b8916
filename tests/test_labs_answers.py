"""Answers carried to the grader's check service: what loads, what is refused, what is judged."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pandas as pd
import pytest

from mlops_kit.labs.answers import QuerySnapshot, UnsafeAnswerError, dump_answer, load_answer


def test_values_frames_and_notebook_functions_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"price": [1.5, 2.5]})
    scale = 3

    def gate(change):  # a learner's function, defined in the notebook: travels by value
        return change * scale

    value, context = load_answer(dump_answer(gate, {"frame": frame, "seed": 7}, tmp_path))
    assert value(2) == 6
    pd.testing.assert_frame_equal(context["frame"], frame)
    assert context["seed"] == 7


def test_a_subclass_of_a_builtin_is_judged_as_the_value_it_holds(tmp_path: Path) -> None:
    class Anything(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    class Liar(list):
        def __len__(self):
            return 3

    value, context = load_answer(dump_answer(Anything(41), {"items": Liar([1])}, tmp_path))
    assert type(value) is int and value == 41 and value != 42
    assert type(context["items"]) is list and len(context["items"]) == 1


class _Payload:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _Patch:
    def __reduce__(self):
        import mlops_kit.labs.registry as registry

        return (registry.register, ("x", "ex1", print))


@pytest.mark.parametrize("make", [lambda p: _Payload(str(p / "pwned")), lambda p: _Patch()])
def test_a_payload_that_acts_while_loading_is_refused(tmp_path: Path, make) -> None:
    data = pickle.dumps((make(tmp_path), {}))
    with pytest.raises(UnsafeAnswerError):
        load_answer(data)
    assert not (tmp_path / "pwned").exists()


def test_a_query_snapshot_answers_like_the_query_did() -> None:
    snapshot = QuerySnapshot(id="q", name="scoring", isActive=False, exception_text="boom")
    assert snapshot.exception() == "boom" and not snapshot.isActive

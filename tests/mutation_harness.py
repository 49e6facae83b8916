"""The checker-mutation harness: how an exercise registers its right answer and its mutants.

``tests/test_checker_mutations.py`` runs every registered exercise; the
registrations live there and in ``tests/mutants_<lab>.py`` (one module per lab,
imported by the test module), so each lab's wrong answers sit in one file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mlops_kit.labs.registry import get, run_check

LISTED, GENERIC = "listed", "generic"
#: the least share of generic mutants a checker must reject
GENERIC_FLOOR = 0.9


@dataclass(frozen=True)
class Mutant:
    """One wrong answer: ``make(answer)`` is the mutated answer (or ``(answer, context)``)."""

    name: str
    kind: str
    make: Callable[..., Any]
    with_context: bool = False


@dataclass(frozen=True)
class Exercise:
    lab: str
    exercise: str
    build: Callable[[], tuple[Any, dict[str, Any], list[Mutant]]]
    needs: tuple[str, ...] = ()


#: (lab, exercise) -> how to build its right answer and its mutants
REGISTRY: dict[tuple[str, str], Exercise] = {}


def mutations(lab: str, exercise: str, *, needs: tuple[str, ...] = ()):
    """Register the mutants of one exercise (``needs``: fixtures such as ``"workspace"``)."""

    def register(build):
        REGISTRY[(lab, exercise)] = Exercise(lab, exercise, build, needs)
        return build

    return register


@dataclass
class Outcome:
    accepted_right: bool
    rejected: dict[str, list[str]]   # kind -> names of the rejected mutants
    survived: dict[str, list[str]]   # kind -> names of the mutants the checker let through

    def share(self, kind: str) -> tuple[int, int]:
        caught = len(self.rejected.get(kind, []))
        return caught, caught + len(self.survived.get(kind, []))


def run_exercise(entry: Exercise) -> Outcome:
    answer, context, mutants = entry.build()
    exercise = get(entry.lab, entry.exercise)
    right = run_check(exercise, answer, **context)
    rejected: dict[str, list[str]] = {LISTED: [], GENERIC: []}
    survived: dict[str, list[str]] = {LISTED: [], GENERIC: []}
    for mutant in mutants:
        made = mutant.make(answer, context) if mutant.with_context else (mutant.make(answer), context)
        value, ctx = made
        try:
            result = run_check(exercise, value, **ctx)
            passed = result.passed
        except Exception:  # noqa: BLE001 - a crash is not a pass, but the lab shows it as a fail
            passed = False
        (survived if passed else rejected)[mutant.kind].append(mutant.name)
    return Outcome(right.passed, rejected, survived)



#: undo steps a builder registers (e.g. a patched client) to run after its exercise
exercise_cleanup: list[Callable[[], None]] = []

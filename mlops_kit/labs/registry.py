"""Exercise checkers: the registry labs look their checks up in.

A checker is a plain function ``check(value, **context) -> CheckResult``
registered under a lab id and an exercise id::

    from mlops_kit.labs import CheckResult, checker

    @checker("feature-store", "ex1", title="Build the feature table")
    def check_ex1(value, **context):
        if "listing_id" not in value.columns:
            return CheckResult.fail("the table has no listing_id column",
                                    hint="keep the key column when selecting features")
        return CheckResult.ok("the key and all features are there")

A checker that needs a particular type of answer starts with
:func:`expect_type`, so a wrong kind of answer reads "expected a feature
name (str), got Series" instead of a pandas error from comparing it::

    failed = expect_type(value, str, "a feature name")
    if failed:
        return failed

Checkers of lab ``feature-store`` live in
``mlops_kit/labs/checks/feature_store.py``; :func:`get` imports that module on
first use, so a lab only pays for its own checks. Logic stays in plain
functions because widget callbacks never fire under papermill: tests call the
checkers directly, widgets only present their result.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from mlops_kit._registry import Registry
from mlops_kit.exceptions import ConfigError, NotFoundError

__all__ = [
    "CheckResult", "Exercise", "checker", "register", "get", "exercises", "known_labs",
    "expect_type", "type_name",
]

_CHECKS_PACKAGE = "mlops_kit.labs.checks"


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a checker: passed or not, why, and a hint when not.

    Build it with :meth:`ok` or :meth:`fail`.

    Examples
    --------
    >>> CheckResult.ok("3 rows, as expected").passed
    True
    >>> CheckResult.fail("2 rows", hint="filter on price > 0").hint
    'filter on price > 0'
    """

    passed: bool
    message: str
    hint: str | None = None

    @classmethod
    def ok(cls, message: str = "correct") -> "CheckResult":
        """A passed check; ``message`` says what was verified."""
        return cls(True, message)

    @classmethod
    def fail(cls, message: str, hint: str | None = None) -> "CheckResult":
        """A failed check; ``message`` says what is wrong, ``hint`` how to fix it."""
        return cls(False, message, hint)


Checker = Callable[..., CheckResult]

#: a type, a tuple of types, or "module.Class" (matched by name, without importing it)
TypeSpec = Any


def type_name(value: Any) -> str:
    """What a learner would call the type of ``value``: ``Series``, ``str``, ``DataFrame``."""
    return "None" if value is None else type(value).__name__


def _matches(value: Any, spec: Any) -> bool:
    if isinstance(spec, tuple):
        return any(_matches(value, item) for item in spec)
    if isinstance(spec, str):  # "pyspark.DataFrame": any pyspark class named DataFrame
        module, _, name = spec.rpartition(".")
        return any(
            klass.__name__ == name and klass.__module__.split(".")[0] == module.split(".")[0]
            for klass in type(value).__mro__
        )
    if spec is float:  # an int is a fine float; a bool is not a number here
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, spec) and not (spec is int and isinstance(value, bool))


def _spec_name(spec: Any) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_spec_name(item) for item in spec)
    if isinstance(spec, str):
        module, _, name = spec.rpartition(".")
        return f"{'Spark' if module.startswith('pyspark') else module} {name}".strip()
    return spec.__name__


def _a(word: str) -> str:
    return word if word == "None" else f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def expect_type(value: Any, expected: TypeSpec, what: str,
                hint: str | None = None) -> CheckResult | None:
    """A failed result if ``value`` is not of the ``expected`` type, else None.

    Call it first in a checker, so a wrong kind of answer gets a message that
    says what was expected instead of an error from comparing it::

        failed = expect_type(value, str, "a feature name")
        if failed:
            return failed

    ``expected`` is a type, a tuple of types, or a ``"module.Class"`` string
    such as ``"pyspark.DataFrame"`` (matches classic and Spark Connect
    DataFrames without importing pyspark) or ``"pandas.DataFrame"``.

    >>> expect_type(3, str, "a feature name").message
    'expected a feature name (str), got int'
    >>> expect_type("price", str, "a feature name") is None
    True
    """
    if _matches(value, expected):
        return None
    kind = _spec_name(expected)
    return CheckResult.fail(
        f"expected {what} ({kind}), got {type_name(value)}",
        hint=hint or f"the answer should be {what} ({kind}); yours is {_a(type_name(value))}",
    )


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: where it belongs, its title, and its checker."""

    lab_id: str
    exercise_id: str
    title: str
    check: Checker
    #: hints from gentle to specific, shown one at a time by ``Lab.hint``
    hints: tuple[str, ...] = ()
    #: a concept check's question (see :mod:`mlops_kit.labs.quiz`), None for exercises
    question: Any = None

    @property
    def number(self) -> int:
        """The exercise number learners see (the digits of ``ex3`` -> 3)."""
        digits = re.findall(r"\d+", self.exercise_id)
        return int(digits[0]) if digits else 0

    @property
    def is_question(self) -> bool:
        """True for a concept check (``q1``), False for a lab exercise (``ex1``)."""
        return self.exercise_id.startswith("q")

    @property
    def label(self) -> str:
        kind = "Question" if self.is_question else "Exercise"
        return f"{kind} {self.number} — {self.title}"


#: lab id -> its exercises by id; a lab's checks module registers on first use
_REGISTRY: Registry[dict[str, Exercise]] = Registry(
    "lab", known=lambda: known_labs(),
    hint=lambda lab_id: (f"Add its checkers in {module_name(lab_id).replace('.', '/')}.py with "
                         f"@checker({lab_id!r}, 'ex1', title=...)."))


def module_name(lab_id: str) -> str:
    """The checks module of a lab: ``feature-store`` -> ``...checks.feature_store``."""
    return f"{_CHECKS_PACKAGE}.{lab_id.replace('-', '_')}"


def register(lab_id: str, exercise_id: str, check: Checker, *, title: str,
             hints: Sequence[str] = (), question: Any = None) -> Exercise:
    """Register ``check`` as the checker of ``exercise_id`` in lab ``lab_id``.

    ``hints`` go from a gentle nudge to a specific pointer (never the answer);
    ``question`` is set by :mod:`mlops_kit.labs.quiz` for concept checks.
    """
    if not re.fullmatch(r"[a-z][a-z0-9-]*", lab_id):
        raise ConfigError(
            f"A lab id must be a lowercase slug like 'feature-store'. Got {lab_id!r} instead."
        )
    if not re.fullmatch(r"(ex|q)\d+[a-z]?", exercise_id):
        raise ConfigError(
            f"An exercise id must look like 'ex1' or 'ex2b' (or 'q1' for a concept check). "
            f"Got {exercise_id!r} instead."
        )
    exercise = Exercise(lab_id, exercise_id, title, check, tuple(hints), question)
    if lab_id not in _REGISTRY:
        _REGISTRY.register(lab_id, {})
    _REGISTRY[lab_id][exercise_id] = exercise
    return exercise


def checker(lab_id: str, exercise_id: str, *, title: str,
            hints: Sequence[str] = ()) -> Callable[[Checker], Checker]:
    """Decorator form of :func:`register`; returns the function unchanged."""

    def decorate(func: Checker) -> Checker:
        register(lab_id, exercise_id, func, title=title, hints=hints)
        return func

    return decorate


def known_labs() -> list[str]:
    """Lab ids that have a checks module (whether imported yet or not)."""
    package = importlib.import_module(_CHECKS_PACKAGE)
    found = {info.name.replace("_", "-") for info in pkgutil.iter_modules(package.__path__)}
    return sorted(found | set(_REGISTRY))


#: checks files of an instructor's own labs, separated by os.pathsep (set by the grader)
EXTRA_CHECKS_ENV = "MLOPS_KIT_LABS_CHECKS"


def _load(lab_id: str) -> dict[str, Exercise]:
    if lab_id not in _REGISTRY:
        try:
            importlib.import_module(module_name(lab_id))
        except ModuleNotFoundError as err:
            if err.name != module_name(lab_id):
                raise
    if lab_id not in _REGISTRY:
        _load_extra_checks()
    return _REGISTRY.lookup(lab_id)


def _load_extra_checks() -> None:
    """Import the checks files named in ``MLOPS_KIT_LABS_CHECKS`` (once each)."""
    import importlib.util
    import os
    import sys

    for number, path in enumerate(filter(None, os.environ.get(EXTRA_CHECKS_ENV, "").split(os.pathsep))):
        name = f"_extra_checks_{number}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


def _sort_key(exercise: Exercise) -> tuple[int, str]:
    return exercise.number, exercise.exercise_id


def exercises(lab_id: str) -> list[Exercise]:
    """The exercises of a lab in course order (ex1, ex2, ..., ex10)."""
    return sorted(_load(lab_id).values(), key=_sort_key)


def get(lab_id: str, exercise_id: str) -> Exercise:
    """The exercise ``exercise_id`` of lab ``lab_id``; a clear error if unknown."""
    lab = _load(lab_id)
    if exercise_id not in lab:
        known = ", ".join(e.exercise_id for e in exercises(lab_id))
        raise NotFoundError(
            f"No exercise named {exercise_id!r} in lab {lab_id!r}. Known exercises: {known}."
        )
    return lab[exercise_id]


def run_check(exercise: Exercise, value: Any, **context: Any) -> CheckResult:
    """Run a checker and make sure it answered with a :class:`CheckResult`."""
    result = exercise.check(value, **context)
    if not isinstance(result, CheckResult):
        raise TypeError(
            f"The checker of {exercise.lab_id}/{exercise.exercise_id} must return a "
            f"CheckResult (CheckResult.ok(...) or CheckResult.fail(...)). "
            f"Got {type(result).__name__} instead."
        )
    return result

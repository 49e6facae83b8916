"""Checkers of a toy lab for the grading tests, given to the grader with ``--checks``."""
from mlops_kit.labs import CheckResult, checker


@checker("grade-toy", "ex1", title="Answer 42")
def _ex1(value, **context):
    if isinstance(value, bool) or not isinstance(value, int):
        return CheckResult.fail(f"expected an int, got {type(value).__name__}", hint="a number")
    return CheckResult.ok("42") if value == 42 else CheckResult.fail(f"{value!r} is not it", hint="6 * 7")


@checker("grade-toy", "ex2", title="Three items")
def _ex2(value, **context):
    if not isinstance(value, list):
        return CheckResult.fail(f"expected a list, got {type(value).__name__}", hint="a list")
    return CheckResult.ok("3 items") if len(value) == 3 else CheckResult.fail(f"{len(value)} items", hint="count")

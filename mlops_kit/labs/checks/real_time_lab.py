"""Checkers of Lab 3.3, real-time scoring over HTTP (``real-time-lab``).

Both exercises score rows through the endpoint; the checkers score the same
rows in-process with ``mlflow.pyfunc`` and compare.
"""
from __future__ import annotations

import functools
import numbers
from typing import Any

from mlops_kit.labs import CheckResult, checker


@functools.lru_cache(maxsize=4)
def _model(model_uri: str):
    import mlflow

    return mlflow.pyfunc.load_model(model_uri)


def _expected(model_uri: str, rows: list[dict[str, Any]]) -> list[float]:
    import pandas as pd

    return [float(v) for v in _model(model_uri).predict(pd.DataFrame(rows))]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


@checker("real-time-lab", "ex1", title="Score one row over HTTP")
def check_ex1(value: Any, *, model_uri: str, rows: list[dict[str, Any]], **context: Any) -> CheckResult:
    if isinstance(value, (list, dict)) or not isinstance(value, numbers.Real):
        return CheckResult.fail(
            f"one_prediction should be one number; got a {type(value).__name__}.",
            hint='The endpoint answers {"predictions": [...]}: take '
                 'response.json()["predictions"][0].',
        )
    expected = _expected(model_uri, rows[:1])[0]
    if not _close(float(value), expected):
        return CheckResult.fail(
            f"The model predicts {expected:.2f} for the first row; you got {value:.2f}.",
            hint="Send exactly rows[:1] as dataframe_records.",
        )
    return CheckResult.ok(f"the endpoint and the model agree: {expected:.2f}")


@checker("real-time-lab", "ex2", title="Score a batch over HTTP")
def check_ex2(value: Any, *, model_uri: str, rows: list[dict[str, Any]], **context: Any) -> CheckResult:
    if not isinstance(value, list):
        return CheckResult.fail(
            f"batch_predictions should be a list of numbers; got a {type(value).__name__}.",
            hint='Take batch_response.json()["predictions"].',
        )
    if len(value) != len(rows):
        return CheckResult.fail(
            f"{len(rows)} rows were sent for scoring but {len(value)} predictions came back.",
            hint="Put every row in 'data', one list of values per row, in 'columns' order.",
        )
    expected = _expected(model_uri, rows)
    wrong = [i for i, (got, want) in enumerate(zip(value, expected))
             if not isinstance(got, numbers.Real) or not _close(float(got), want)]
    if wrong:
        return CheckResult.fail(
            f"{len(wrong)} of {len(rows)} predictions differ from the model's, first at row "
            f"{wrong[0]}.",
            hint="Keep the rows in order and the values under the right columns.",
        )
    return CheckResult.ok(f"all {len(rows)} predictions match the model")

"""Checkers of Lab 3.3, real-time scoring over HTTP (``real-time-lab``).

The checkers score the same rows in-process with ``mlflow.pyfunc`` and
compare. Exercises 2 and 3 take the learner's *response* object, so they can
read the request that produced it (``response.request.body``): how the rows
were sent is part of the answer, not only the numbers that came back.

An answer that is an error body of the endpoint (``{"error_code", "message"}``)
or a response with a 4xx/5xx status is reported as what it is: "the endpoint
answered 400: <message>".
"""
from __future__ import annotations

import functools
import json
import numbers
from typing import Any

from mlops_kit.labs import CheckResult, checker

#: status codes of the endpoint's error codes (an error body carries no status)
_STATUS = {"BAD_REQUEST": 400, "MALFORMED_REQUEST": 400, "MODEL_REJECTED_INPUT": 400,
           "UNAUTHENTICATED": 401, "REQUEST_TIMEOUT": 408, "PAYLOAD_TOO_LARGE": 413,
           "UNSUPPORTED_MEDIA_TYPE": 415, "INTERNAL_ERROR": 500}


@functools.lru_cache(maxsize=4)
def _model(model_uri: str):
    import mlflow

    return mlflow.pyfunc.load_model(model_uri)


def _expected(model_uri: str, rows: list[dict[str, Any]]) -> list[float]:
    import pandas as pd

    return [float(v) for v in _model(model_uri).predict(pd.DataFrame(rows))]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _is_response(value: Any) -> bool:
    return hasattr(value, "status_code") and hasattr(value, "request") and hasattr(value, "json")


def _error_body(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict) and "error_code" in value and "message" in value:
        return value
    return None


def _endpoint_error(value: Any) -> CheckResult | None:
    """A failed result when ``value`` is an error answer of the endpoint, else None."""
    status, body = None, _error_body(value)
    if _is_response(value) and value.status_code != 200:
        status = value.status_code
        try:
            body = value.json()
        except ValueError:
            body = {"message": value.text[:300]}
    if body is None and status is None:
        return None
    body = body if isinstance(body, dict) else {"message": str(body)}
    status = status or _STATUS.get(str(body.get("error_code")), 400)
    return CheckResult.fail(
        f"the endpoint answered {status}: {body.get('message', '(no message)')}",
        hint="The endpoint refused this request: its message says which part of the body is "
             "wrong. Fix the body and send it again.",
    )


def _request_body(response: Any) -> Any:
    body = response.request.content if hasattr(response.request, "content") else response.request.body
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body)


def _body_rows(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return [dict(zip(split.get("columns", []), row)) for row in split.get("data", [])]
    if "dataframe_records" in body:
        return list(body["dataframe_records"])
    return None


def _compare(value: list[Any], expected: list[float], what: str) -> CheckResult | None:
    wrong = [i for i, (got, want) in enumerate(zip(value, expected))
             if not isinstance(got, numbers.Real) or not _close(float(got), want)]
    if wrong:
        return CheckResult.fail(
            f"{len(wrong)} of {len(expected)} predictions differ from what the model gives for "
            f"{what}, first at row {wrong[0]}",
            hint="Keep the rows in their order and every value under its own column.",
        )
    return None


@checker("real-time-lab", "ex1", title="Score one row over HTTP", hints=[
    "The endpoint answers with JSON; look at response.status_code and response.json() "
    "before you take anything out of it.",
    "A 200 answer holds a list under one key, with one number per row you sent: you sent one.",
])
def check_ex1(value: Any, *, model_uri: str, rows: list[dict[str, Any]], **context: Any) -> CheckResult:
    failed = _endpoint_error(value)
    if failed:
        return failed
    if _is_response(value):
        return CheckResult.fail(
            "one_prediction is the whole HTTP response; the exercise asks for the predicted price",
            hint="Read the JSON of the response and take the one number out of it.",
        )
    if isinstance(value, (list, dict)) or not isinstance(value, numbers.Real) or isinstance(value, bool):
        return CheckResult.fail(
            f"one_prediction should be one number; got a {type(value).__name__}",
            hint="The answer holds a list of predictions, one per row sent: take the first.",
        )
    expected = _expected(model_uri, rows[:1])[0]
    if not _close(float(value), expected):
        return CheckResult.fail(
            f"the model predicts {expected:.2f} for the first row; you got {float(value):.2f}",
            hint="Send exactly the first row, rows[:1], unchanged.",
        )
    return CheckResult.ok(f"the endpoint and the model agree: {expected:.2f}")


@checker("real-time-lab", "ex2", title="Score a batch in one request", hints=[
    "The split format names the columns once and sends each row as a plain list of values.",
    "Build one body {'dataframe_split': {'columns': [...], 'data': [[...], ...]}} holding every "
    "row, post it once, and pass that response to the check.",
])
def check_ex2(value: Any, *, model_uri: str, rows: list[dict[str, Any]], **context: Any) -> CheckResult:
    failed = _endpoint_error(value)
    if failed:
        return failed
    if not _is_response(value):
        return CheckResult.fail(
            f"batch_response should be the response of your request; got a {type(value).__name__}",
            hint="Pass what requests.post returned: the check reads the request it answered.",
        )
    body = _request_body(value)
    if not isinstance(body, dict) or "dataframe_split" not in body:
        sent = ", ".join(body) if isinstance(body, dict) else type(body).__name__
        return CheckResult.fail(
            f"this request sent the rows as {sent}; the exercise asks for the split format",
            hint="Records repeat every column name in every row; the split format names them once.",
        )
    sent_rows = _body_rows(body)
    if len(sent_rows) != len(rows):
        return CheckResult.fail(
            f"this request carried {len(sent_rows)} of the {len(rows)} rows; all of them go in one "
            f"request",
            hint="One request per row costs a round trip each: put every row in the data list.",
        )
    predictions = value.json().get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(rows):
        return CheckResult.fail("the response holds no list of predictions, one per row",
                                hint="Look at response.json().")
    return _compare(predictions, _expected(model_uri, rows), "these rows") or CheckResult.ok(
        f"{len(rows)} rows, one request, all predictions match the model")


def _column_mismatch(sent: list[dict[str, Any]], truth: list[dict[str, Any]]) -> str | None:
    for column in truth[0]:
        for got, want in zip(sent, truth):
            g, w = got.get(column), want[column]
            if isinstance(w, numbers.Real) and isinstance(g, numbers.Real):
                if abs(float(g) - float(w)) > 1e-6 * max(1.0, abs(float(w))):
                    return column
            elif g != w:
                return column
    return None


def _sent_rows(value: Any, n: int, name: str) -> tuple[list[dict[str, Any]] | None, CheckResult | None]:
    failed = _endpoint_error(value)
    if failed:
        return None, failed
    if not _is_response(value):
        return None, CheckResult.fail(
            f"{name} should be the response of your request; got a {type(value).__name__}",
            hint="Pass what requests.post returned.")
    sent = _body_rows(_request_body(value)) or []
    if len(sent) != n:
        return None, CheckResult.fail(
            f"this request carried {len(sent)} rows; the app sent {n}",
            hint="Repair the app's rows (app_rows), all of them, and send those in one request.")
    return sent, None


@checker("real-time-lab", "ex3", title="Make the endpoint accept the app's rows", hints=[
    "Send app_rows as they are and read the whole message of the answer, not only its status.",
    "The endpoint lists what it expected and what it got: change the rows in code so they have "
    "what it expects, and nothing else.",
])
def check_ex3(value: Any, *, model_uri: str, app_rows: list[dict[str, Any]], seed: int,
              **context: Any) -> CheckResult:
    from mlops_kit.labs.scenarios import accepted_app_rows, repair_app_rows

    sent, failed = _sent_rows(value, len(app_rows), "accepted_response")
    if failed:
        return failed
    columns = list(_model(model_uri).metadata.get_input_schema().input_names())
    accepted = accepted_app_rows(columns, len(app_rows), seed=seed)
    if _column_mismatch(sent, accepted) is None or \
            _column_mismatch(sent, repair_app_rows(columns, len(app_rows), seed=seed)) is None:
        return CheckResult.ok("the endpoint accepts the app's rows now: 200")
    column = _column_mismatch(sent, accepted)
    return CheckResult.fail(
        f"the endpoint accepted the rows, but your request changed the app's values under {column!r}",
        hint="Fix only what the endpoint complained about; keep the app's values as they are.")


@checker("real-time-lab", "ex4", title="Find what the endpoint could not tell you", hints=[
    "An answer of 200 does not mean the model saw what it was trained on: compare the values too.",
    "Compare each column of your accepted rows with the same column of rows (ranges, which value "
    "sits where), e.g. with pandas' describe().",
])
def check_ex4(value: Any, *, model_uri: str, app_rows: list[dict[str, Any]], seed: int,
              **context: Any) -> CheckResult:
    from mlops_kit.labs.scenarios import repair_app_rows

    sent, failed = _sent_rows(value, len(app_rows), "fixed_response")
    if failed:
        return failed
    columns = list(_model(model_uri).metadata.get_input_schema().input_names())
    truth = repair_app_rows(columns, len(app_rows), seed=seed)
    column = _column_mismatch(sent, truth)
    if column is not None:
        return CheckResult.fail(
            f"the endpoint answered, but the values under {column!r} are not the listings the "
            f"app describes, so the predictions are wrong",
            hint="Compare that column in your request with the same column of rows: a scale or a "
                 "position can differ.")
    predictions = value.json().get("predictions", [])
    return _compare(predictions, _expected(model_uri, truth), "the app's listings") or \
        CheckResult.ok(f"all {len(truth)} app requests repaired and scored")

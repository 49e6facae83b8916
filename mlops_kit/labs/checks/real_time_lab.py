"""Checkers of Lab 3.3, real-time scoring over HTTP (``real-time-lab``).

A client app sends listings the champion cannot score as they are; what is
wrong differs per learner (:mod:`mlops_kit.labs.scenarios`). The checkers
score the same rows in-process with ``mlflow.pyfunc`` and compare:

- ex1 and ex2 take the learner's *response* object and read the request that
  produced it (``response.request.body``): which rows were sent, and how, is
  part of the answer, not only the numbers that came back;
- ex3 takes the learner's own registered model, serves it on a real endpoint
  and sends it fresh raw app rows (in one request, then one row alone).

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


def _app_answer(value: Any, *, model_uri: str, app_rows: list[dict[str, Any]],
                name: str) -> tuple[list[dict[str, Any]], list[str], CheckResult | None]:
    """The rows ``value``'s request sent and the model's input columns, or a failed result.

    Shared by exercises 1 and 2: both take the response of one request carrying
    every app row.
    """
    failed = _endpoint_error(value)
    if failed:
        return [], [], failed
    if not _is_response(value):
        return [], [], CheckResult.fail(
            f"{name} should be the response of your request; got a {type(value).__name__}",
            hint="Pass what requests.post returned: the check reads the request it answered.")
    sent = _body_rows(_request_body(value)) or []
    if len(sent) != len(app_rows):
        return [], [], CheckResult.fail(
            f"this request carried {len(sent)} rows; the app sent {len(app_rows)}",
            hint="Repair the app's rows (app_rows), all of them, and send those in one request.")
    return sent, _input_columns(model_uri), None


def _input_columns(model_uri: str) -> list[str]:
    return list(_model(model_uri).metadata.get_input_schema().input_names())


@checker("real-time-lab", "ex1", title="Make the endpoint accept the app's rows", hints=[
    "Send app_rows as they are and read the whole message of the answer, not only its status.",
    "The endpoint lists what it expected and what it got: change the rows in code so they have "
    "what it expects, and nothing else.",
])
def check_ex1(value: Any, *, model_uri: str, app_rows: list[dict[str, Any]], seed: int,
              **context: Any) -> CheckResult:
    from mlops_kit.labs.scenarios import accepted_app_rows, repair_app_rows

    sent, columns, failed = _app_answer(value, model_uri=model_uri, app_rows=app_rows,
                                        name="accepted_response")
    if failed:
        return failed
    accepted = accepted_app_rows(columns, len(app_rows), seed=seed)
    if _column_mismatch(sent, accepted) is None or \
            _column_mismatch(sent, repair_app_rows(columns, len(app_rows), seed=seed)) is None:
        return CheckResult.ok("the endpoint accepts the app's rows now: 200")
    column = _column_mismatch(sent, accepted)
    return CheckResult.fail(
        f"the endpoint accepted the rows, but your request changed the app's values under {column!r}",
        hint="Fix only what the endpoint complained about; keep the app's values as they are.")


@checker("real-time-lab", "ex2", title="Find what the endpoint could not tell you", hints=[
    "An answer of 200 does not mean the model saw what it was trained on: compare the values too.",
    "Compare each column of your accepted rows with the same column of rows (ranges, which value "
    "sits where), e.g. with pandas' describe().",
])
def check_ex2(value: Any, *, model_uri: str, app_rows: list[dict[str, Any]], seed: int,
              **context: Any) -> CheckResult:
    from mlops_kit.labs.scenarios import repair_app_rows

    sent, columns, failed = _app_answer(value, model_uri=model_uri, app_rows=app_rows,
                                        name="fixed_response")
    if failed:
        return failed
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


#: how many fresh raw app rows the exercise 3 check sends to the learner's model
CHECK_ROWS = 12


def _serve_and_send(value: str, raw: list[dict[str, Any]]) -> tuple[list[Any], CheckResult | None]:
    """Serve model ``value`` on its own endpoint; send ``raw`` in one request, then row 0 alone.

    Returns the predictions of the batch request, or a failed result saying
    what the endpoint did (refused to start, or answered an error).
    """
    import requests

    from mlops_kit.exceptions import MlopsKitError
    from mlops_kit.serving import Endpoint

    endpoint = Endpoint(value, log_table=None, startup_timeout=90.0)
    try:
        endpoint.start()
    except MlopsKitError as err:
        first = str(err).splitlines()[0][:300]
        return [], CheckResult.fail(
            f"the endpoint could not serve {value!r}: {first}",
            hint="Register your model (registered_model_name=...) and pass its models:/ URI "
                 "with the version the registry gave it.")
    try:
        batch = requests.post(endpoint.invocations_url, json={"dataframe_records": raw}, timeout=60)
        single = requests.post(endpoint.invocations_url, json={"dataframe_records": raw[:1]},
                               timeout=60)
    finally:
        endpoint.stop()
    for response, what in ((batch, f"{len(raw)} raw app rows"), (single, "one raw app row")):
        failed = _endpoint_error(response)
        if failed:
            return [], CheckResult.fail(
                f"your model's endpoint answered {response.status_code} to {what}, sent as the "
                f"app sends them: {_message(response)}",
                hint="The app keeps sending its own column names: the signature you log is what "
                     "the endpoint checks each request against.")
    predictions = batch.json().get("predictions")
    one = single.json().get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(raw) or not isinstance(one, list):
        return [], CheckResult.fail(
            f"your model answered {len(predictions) if isinstance(predictions, list) else 'no'} "
            f"predictions for {len(raw)} rows",
            hint="predict must return one price per row it was given.")
    if predictions and one and not (isinstance(one[0], numbers.Real) and
                                    isinstance(predictions[0], numbers.Real) and
                                    _close(float(one[0]), float(predictions[0]))):
        return [], CheckResult.fail(
            "your model prices the first listing differently when it comes alone than in a batch",
            hint="The app sends one listing per request too: decide each repair from the row "
                 "itself, not from statistics of the whole request.")
    return predictions, None


def _message(response: Any) -> str:
    try:
        return str(response.json().get("message", "(no message)"))[:300]
    except ValueError:
        return response.text[:300]


@checker("real-time-lab", "ex3", title="Serve a model that scores the app's raw requests", hints=[
    "A pyfunc model's predict receives the request as a DataFrame before any other model sees "
    "it: that is a place where the app's rows can become the rows the champion was trained on.",
    "Subclass mlflow.pyfunc.PythonModel, load the champion in load_context from an artifact, "
    "turn your exercise 1 and 2 repairs into rules that hold for any rows (one or many), and log "
    "a signature with the columns the app sends, not the champion's.",
])
def check_ex3(value: Any, *, model_uri: str, seed: int, **context: Any) -> CheckResult:
    """``value``: the learner's registered model URI. The check serves it and sends fresh raw rows."""
    from mlops_kit.labs.scenarios import accepted_app_rows, app_requests, repair_app_rows

    if not isinstance(value, str) or not value:
        return CheckResult.fail(
            f"app_model_uri should be the models:/ URI of your registered model; got a "
            f"{type(value).__name__}",
            hint="Keep the version the registry gave your model: models:/<name>/<version>.")
    if value.rstrip("/") == model_uri.rstrip("/"):
        return CheckResult.fail(
            "that is the champion itself: the app's raw rows are what it cannot score",
            hint="Wrap the champion in a model of your own that repairs the rows first.")
    columns = _input_columns(model_uri)
    raw = app_requests(columns, CHECK_ROWS, seed=seed)
    predictions, failed = _serve_and_send(value, raw)
    if failed:
        return failed
    truth = repair_app_rows(columns, CHECK_ROWS, seed=seed)
    expected = _expected(model_uri, truth)
    wrong = [i for i, (got, want) in enumerate(zip(predictions, expected))
             if not isinstance(got, numbers.Real) or not _close(float(got), want)]
    if not wrong:
        return CheckResult.ok(f"your model scores {CHECK_ROWS} raw app rows it never saw, one "
                              f"request or one row at a time, as the champion scores the listings "
                              f"they describe")
    as_accepted = _expected(model_uri, accepted_app_rows(columns, CHECK_ROWS, seed=seed))
    if all(isinstance(g, numbers.Real) and _close(float(g), w) for g, w in zip(predictions, as_accepted)):
        return CheckResult.fail(
            "your model answers the raw rows, but prices them as the endpoint accepted them in "
            "exercise 1: one column still does not mean what it meant in training",
            hint="Bring your exercise 2 repair into predict as well, as a rule on each row.")
    return CheckResult.fail(
        f"{len(wrong)} of {CHECK_ROWS} prices from your model differ from the champion's for the "
        f"listings the app describes (fresh rows, not the ones above), first at row {wrong[0]}",
        hint="Write each repair as a rule on what a row holds (a column name, a range, a sign), "
             "not on positions or values you saw: the check sends rows you have not seen.")

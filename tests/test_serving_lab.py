"""Checkers of the real-time lab: the right answer passes, plausible wrong ones fail.

No server: responses are built as ``requests`` (and ``httpx``) would return
them, with the request that produced them, so each test states exactly what
the learner sent.
"""
from __future__ import annotations

import json

import httpx
import mlflow
import pandas as pd
import pytest
import requests

from mlops_kit.labs.registry import get, run_check
from mlops_kit.labs.scenarios import (
    accepted_app_rows, app_defects, app_requests, learner_seed, repair_app_rows,
)

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("real-time-lab", "ex1"), ("real-time-lab", "ex2"), ("real-time-lab", "ex3"),
                    ("real-time-lab", "ex4")]

URL = "http://127.0.0.1:9/invocations"
MISSING = {"error_code": "BAD_REQUEST", "message": "Missing column 'accommodates'."}


def response(body: dict, answer: dict, status: int = 200) -> requests.Response:
    """What ``requests.post(URL, json=body)`` returns when the server answers ``answer``."""
    out = requests.Response()
    out.status_code = status
    out._content = json.dumps(answer).encode()
    out.request = requests.Request("POST", URL, json=body).prepare()
    return out


def split(rows: list[dict]) -> dict:
    return {"dataframe_split": {"columns": list(rows[0]),
                                "data": [list(r.values()) for r in rows]}}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The price model saved to a folder: its path is a model URI in any workspace."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from mlops_kit.models import FEATURES, listings_frame, train_price_model, trusted_types

    frame = listings_frame(200, seed=5)
    fitted = train_price_model(frame)
    X = frame[FEATURES]
    path = tmp_path_factory.mktemp("model") / "price"
    mlflow.sklearn.save_model(fitted, str(path), signature=infer_signature(X, fitted.predict(X)),
                              skops_trusted_types=trusted_types(fitted))
    return str(path), FEATURES


@pytest.fixture
def lab_context(model, workspace):
    from mlops_kit.datasets.listings import listings

    model_uri, features = model
    rows = json.loads(listings(4, seed=11)[features].to_json(orient="records"))
    return {"model_uri": model_uri, "rows": rows}, predict(model_uri, rows)


def predict(model_uri: str, rows: list[dict]) -> list[float]:
    return mlflow.pyfunc.load_model(model_uri).predict(pd.DataFrame(rows)).tolist()


def check(exercise: str, value, **context):
    return run_check(get("real-time-lab", exercise), value, **context)


# ----------------------------------------------------------------- exercise 1
def test_ex1_accepts_the_predicted_price(lab_context):
    context, right = lab_context
    assert check("ex1", right[0], **context).passed


@pytest.mark.parametrize(("wrong", "says"), [
    (lambda right: right[:1], "one number; got a list"),
    (lambda right: right[0] + 1.0, "the model predicts"),
    (lambda right: {"predictions": right[:1]}, "one number; got a dict"),
    (lambda right: True, "one number; got a bool"),
], ids=["list", "other-row-or-changed-value", "whole-json", "bool"])
def test_ex1_rejects_wrong_answers_with_a_pointer(lab_context, wrong, says):
    context, right = lab_context
    result = check("ex1", wrong(right), **context)
    assert not result.passed and says in result.message
    assert f"{right[0]:.2f}" not in (result.hint or "")


def test_ex1_an_error_body_is_reported_as_the_endpoint_answer_not_as_a_dict(lab_context):
    """Before: 'got a dict', and a hint that sent the learner into KeyError: 'predictions'."""
    context, _ = lab_context
    result = check("ex1", MISSING, **context)
    assert not result.passed
    assert result.message == "the endpoint answered 400: Missing column 'accommodates'."
    assert "predictions" not in result.hint


def test_ex1_a_refused_response_says_status_and_message(lab_context):
    context, _ = lab_context
    refused = response({"dataframe_records": [{"x": 1}]}, MISSING, status=400)
    result = check("ex1", refused, **context)
    assert "the endpoint answered 400: Missing column" in result.message
    ok = response({"dataframe_records": context["rows"][:1]}, {"predictions": [1.0]})
    assert "whole HTTP response" in check("ex1", ok, **context).message


# ----------------------------------------------------------------- exercise 2
def test_ex2_accepts_one_split_request_with_every_row(lab_context):
    context, right = lab_context
    assert check("ex2", response(split(context["rows"]), {"predictions": right}), **context).passed


def test_ex2_accepts_an_httpx_response_too(lab_context):
    context, right = lab_context
    sent = httpx.Request("POST", URL, json=split(context["rows"]))
    assert check("ex2", httpx.Response(200, json={"predictions": right}, request=sent),
                 **context).passed


def test_ex2_rejects_the_rows_sent_as_records(lab_context):
    """Before: the checker saw only the predictions, which records give as well."""
    context, right = lab_context
    records = response({"dataframe_records": context["rows"]}, {"predictions": right})
    result = check("ex2", records, **context)
    assert not result.passed and "sent the rows as dataframe_records" in result.message


def test_ex2_rejects_one_request_per_row(lab_context):
    """Before: a list of per-row predictions passed."""
    context, right = lab_context
    last = response(split(context["rows"][-1:]), {"predictions": right[-1:]})
    result = check("ex2", last, **context)
    assert not result.passed and "carried 1 of the 4 rows" in result.message
    per_row = check("ex2", right, **context)
    assert not per_row.passed and "response of your request" in per_row.message


def test_ex2_rejects_reordered_predictions_and_refusals(lab_context):
    context, right = lab_context
    shuffled = check("ex2", response(split(context["rows"]), {"predictions": right[::-1]}), **context)
    assert "differ" in shuffled.message
    refused = check("ex2", response(split(context["rows"]), MISSING, status=400), **context)
    assert refused.message.startswith("the endpoint answered 400")


# ------------------------------------------------------------ exercises 3 and 4
@pytest.fixture
def app(model, lab_context):
    model_uri, features = model
    seed = learner_seed("real-time-lab", "tester")
    app_rows = app_requests(features, seed=seed)
    truth = repair_app_rows(features, len(app_rows), seed=seed)
    accepted = accepted_app_rows(features, len(app_rows), seed=seed)
    context = {"model_uri": model_uri, "app_rows": app_rows, "seed": seed}
    return context, app_rows, truth, accepted


def answered(model_uri, rows):
    return response({"dataframe_records": rows}, {"predictions": predict(model_uri, rows)})


def test_the_app_defects_differ_between_learners():
    seeds = [learner_seed("real-time-lab", user) for user in ("ada", "bob", "cyd", "dan", "eve")]
    assert len({tuple(app_defects(seed)) for seed in seeds}) > 1


def test_ex3_accepts_the_rows_the_endpoint_accepts(model, app):
    context, _, truth, accepted = app
    assert check("ex3", answered(context["model_uri"], accepted), **context).passed
    assert check("ex3", answered(context["model_uri"], truth), **context).passed  # went further


def test_ex3_rejects_the_app_rows_as_they_are(app):
    context, app_rows, _, _ = app
    refused = check("ex3", response({"dataframe_records": app_rows}, MISSING, status=400), **context)
    assert not refused.passed and refused.message.startswith("the endpoint answered 400")


def test_ex3_rejects_a_dropped_column_and_invented_values(model, app):
    context, _, _, accepted = app
    loud = app_defects(context["seed"])[0][1].split(":")[0]
    zeros = [{**row, loud: 0} for row in accepted]
    result = check("ex3", answered(context["model_uri"], zeros), **context)
    assert not result.passed and f"changed the app's values under {loud!r}" in result.message
    assert not check("ex3", [1.0] * 6, **context).passed


def test_ex4_accepts_the_repaired_rows(model, app):
    context, _, truth, _ = app
    assert check("ex4", answered(context["model_uri"], truth), **context).passed


def test_ex4_rejects_the_accepted_rows_left_as_they_are(model, app):
    """The renamed column fixed, the silent defect left: 200, but wrong values."""
    context, _, _, accepted = app
    result = check("ex4", answered(context["model_uri"], accepted), **context)
    silent_column = app_defects(context["seed"])[1][1].split(":")[0]
    assert not result.passed and repr(silent_column) in result.message
    assert "20" not in result.hint and "swap" not in result.hint


def test_ex4_rejects_the_exercise_2_rows_and_a_zeroed_column(model, app, lab_context):
    context, _, truth, _ = app
    other = lab_context[0]["rows"]
    result = check("ex4", response({"dataframe_records": other}, {"predictions": [1.0] * 4}), **context)
    assert not result.passed and "the app sent 6" in result.message
    zeroed = [{**row, "review_scores_rating": 0} for row in truth]
    result = check("ex4", answered(context["model_uri"], zeroed), **context)
    assert not result.passed and "'review_scores_rating'" in result.message
    refused = check("ex4", response({"dataframe_records": truth}, MISSING, status=400), **context)
    assert refused.message.startswith("the endpoint answered 400")

"""Checkers of the real-time lab: the right answer passes, plausible wrong ones fail.

Exercises 1 and 2 need no server: responses are built as ``requests`` (and
``httpx``) would return them, with the request that produced them, so each
test states exactly what the learner sent. Exercise 3 serves the learner's
registered model on a real endpoint, so its tests register real models.
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
COVERS_EXERCISES = [("real-time-lab", "ex1"), ("real-time-lab", "ex2"), ("real-time-lab", "ex3")]

URL = "http://127.0.0.1:9/invocations"
MISSING = {"error_code": "BAD_REQUEST", "message": "Missing column 'accommodates'."}


def response(body: dict, answer: dict, status: int = 200) -> requests.Response:
    """What ``requests.post(URL, json=body)`` returns when the server answers ``answer``."""
    out = requests.Response()
    out.status_code = status
    out._content = json.dumps(answer).encode()
    out.request = requests.Request("POST", URL, json=body).prepare()
    return out


def save_price_model(path) -> tuple[str, list[str]]:
    """The price model saved to the folder ``path``: a model URI in any workspace."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from mlops_kit.models import FEATURES, listings_frame, train_price_model, trusted_types

    frame = listings_frame(200, seed=5)
    fitted = train_price_model(frame)
    X = frame[FEATURES]
    mlflow.sklearn.save_model(fitted, str(path), signature=infer_signature(X, fitted.predict(X)),
                              skops_trusted_types=trusted_types(fitted))
    return str(path), FEATURES


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The price model saved to a folder: its path is a model URI in any workspace."""
    return save_price_model(tmp_path_factory.mktemp("model") / "price")


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


# ------------------------------------------------------------ exercises 1 and 2
def app_case(model_uri: str, features: list[str], seed: int | None = None):
    """(context, app rows, the rows the app meant, the rows the endpoint accepts) for ``seed``."""
    seed = learner_seed("real-time-lab", "tester") if seed is None else seed
    app_rows = app_requests(features, seed=seed)
    truth = repair_app_rows(features, len(app_rows), seed=seed)
    accepted = accepted_app_rows(features, len(app_rows), seed=seed)
    context = {"model_uri": model_uri, "app_rows": app_rows, "seed": seed}
    return context, app_rows, truth, accepted


@pytest.fixture
def app(model, lab_context):
    return app_case(*model)


def answered(model_uri, rows):
    return response({"dataframe_records": rows}, {"predictions": predict(model_uri, rows)})


def test_the_app_defects_differ_between_learners():
    seeds = [learner_seed("real-time-lab", user) for user in ("ada", "bob", "cyd", "dan", "eve")]
    assert len({tuple(app_defects(seed)) for seed in seeds}) > 1


def test_ex1_accepts_the_rows_the_endpoint_accepts(model, app):
    context, _, truth, accepted = app
    assert check("ex1", answered(context["model_uri"], accepted), **context).passed
    assert check("ex1", answered(context["model_uri"], truth), **context).passed  # went further


def test_ex1_rejects_the_app_rows_as_they_are(app):
    context, app_rows, _, _ = app
    refused = check("ex1", response({"dataframe_records": app_rows}, MISSING, status=400), **context)
    assert not refused.passed and refused.message.startswith("the endpoint answered 400")


def test_ex1_rejects_a_dropped_column_and_invented_values(model, app):
    context, _, _, accepted = app
    loud = app_defects(context["seed"])[0][1].split(":")[0]
    zeros = [{**row, loud: 0} for row in accepted]
    result = check("ex1", answered(context["model_uri"], zeros), **context)
    assert not result.passed and f"changed the app's values under {loud!r}" in result.message
    predictions = check("ex1", [1.0] * 6, **context)
    assert not predictions.passed and "response of your request" in predictions.message


def test_ex1_accepts_an_httpx_response_and_reads_split_bodies(model, app):
    context, _, _, accepted = app
    body = {"dataframe_split": {"columns": list(accepted[0]),
                                "data": [list(r.values()) for r in accepted]}}
    sent = httpx.Request("POST", URL, json=body)
    answer = {"predictions": predict(context["model_uri"], accepted)}
    assert check("ex1", httpx.Response(200, json=answer, request=sent), **context).passed


def test_ex1_an_error_body_is_reported_as_the_endpoint_answer(app):
    context, _, _, _ = app
    result = check("ex1", MISSING, **context)
    assert not result.passed
    assert result.message == "the endpoint answered 400: Missing column 'accommodates'."
    assert "predictions" not in result.hint


def test_ex1_rejects_one_request_per_row(model, app):
    context, _, _, accepted = app
    last = check("ex1", answered(context["model_uri"], accepted[-1:]), **context)
    assert not last.passed and "carried 1 rows; the app sent 6" in last.message


def test_ex2_accepts_the_repaired_rows(model, app):
    context, _, truth, _ = app
    assert check("ex2", answered(context["model_uri"], truth), **context).passed


def test_ex2_rejects_the_accepted_rows_left_as_they_are(model, app):
    """The renamed column fixed, the silent defect left: 200, but wrong values."""
    context, _, _, accepted = app
    result = check("ex2", answered(context["model_uri"], accepted), **context)
    silent_column = app_defects(context["seed"])[1][1].split(":")[0]
    assert not result.passed and repr(silent_column) in result.message
    assert "20" not in result.hint and "swap" not in result.hint


def test_ex2_rejects_training_rows_and_a_zeroed_column(model, app, lab_context):
    context, _, truth, _ = app
    other = lab_context[0]["rows"]
    result = check("ex2", response({"dataframe_records": other}, {"predictions": [1.0] * 4}), **context)
    assert not result.passed and "the app sent 6" in result.message
    zeroed = [{**row, "review_scores_rating": 0} for row in truth]
    result = check("ex2", answered(context["model_uri"], zeroed), **context)
    assert not result.passed and "'review_scores_rating'" in result.message
    refused = check("ex2", response({"dataframe_records": truth}, MISSING, status=400), **context)
    assert refused.message.startswith("the endpoint answered 400")


# ----------------------------------------------------------------- exercise 3
def _wrapper(fix_silent: bool):
    """A PythonModel class, defined locally so cloudpickle ships it by value."""
    import mlflow.pyfunc

    class AppModel(mlflow.pyfunc.PythonModel):
        def __init__(self, renamed, inputs):
            self.renamed, self.inputs = renamed, inputs

        def load_context(self, context):
            import mlflow.pyfunc as pyfunc

            self.champion = pyfunc.load_model(context.artifacts["champion"])

        def predict(self, context, model_input, params=None):
            x = model_input.rename(columns=self.renamed)
            if fix_silent:
                big = x["review_scores_rating"] > 5
                x.loc[big, "review_scores_rating"] = x.loc[big, "review_scores_rating"] / 20
                swapped = x["latitude"] < 0
                x.loc[swapped, ["latitude", "longitude"]] = \
                    x.loc[swapped, ["longitude", "latitude"]].to_numpy()
            return self.champion.predict(x[self.inputs])

    return AppModel


def register_app_models(root):
    """A workspace at ``root`` with a champion and three app models: right, rename-only,
    champion-signed. Returns (workspace, the ex3 context, their URIs)."""
    from mlflow.models import infer_signature

    from mlops_kit.training import ensure_champion
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env(root=root, user="tester").activate()
    champion = ensure_champion("price", rows=300, workspace=ws)
    inputs = list(mlflow.models.get_model_info(champion).signature.inputs.input_names())
    seed = learner_seed("real-time-lab", "tester")
    raw = pd.DataFrame(app_requests(inputs, seed=seed))
    loud_old, loud_new = app_defects(seed)[0][1].split(":")
    name = ws.model_name("price_app")
    uris = {}
    for key, fix_silent, signed_by in [("right", True, raw), ("rename-only", False, raw),
                                       ("champion-signature", True,
                                        pd.DataFrame(repair_app_rows(inputs, 6, seed=seed)))]:
        with mlflow.start_run(run_name=key):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=_wrapper(fix_silent)({loud_new: loud_old}, inputs),
                artifacts={"champion": champion}, signature=infer_signature(signed_by),
                pip_requirements=["mlflow"], registered_model_name=name)
        uris[key] = f"models:/{name}/{info.registered_model_version}"
    return ws, {"model_uri": champion, "seed": seed}, uris


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A workspace with a champion and three app models: right, rename-only, champion-signed."""
    return register_app_models(tmp_path_factory.mktemp("kit"))


def _check3(registered, key_or_uri):
    ws, context, uris = registered
    ws.activate()  # the autouse fixture cleared MLflow's settings between tests
    return check("ex3", uris.get(key_or_uri, key_or_uri), **context)


def test_ex3_accepts_a_model_that_repairs_raw_rows_before_the_champion(registered):
    result = _check3(registered, "right")
    assert result.passed, result.message


def test_ex3_rejects_a_model_that_leaves_the_silent_defect(registered):
    result = _check3(registered, "rename-only")
    assert not result.passed and "prices them as the endpoint accepted them" in result.message
    assert "20" not in result.hint and "swap" not in result.hint


def test_ex3_rejects_a_model_signed_with_the_champions_columns(registered):
    """The repair is in predict, but the signature makes the endpoint refuse the raw rows."""
    result = _check3(registered, "champion-signature")
    assert not result.passed and "answered 400" in result.message
    assert "signature" in result.hint


def test_ex3_rejects_the_champion_itself_and_a_version_that_does_not_exist(registered):
    _, context, uris = registered
    champion = _check3(registered, context["model_uri"])
    assert not champion.passed and "the champion itself" in champion.message
    missing = _check3(registered, uris["right"].rsplit("/", 1)[0] + "/99")
    assert not missing.passed and "could not serve" in missing.message
    assert not _check3(registered, 3).passed

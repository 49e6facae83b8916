"""Checkers of the real-time lab against the right answer and wrong ones (no server needed)."""
from __future__ import annotations

import json

import mlflow
import pytest

from mlops_kit.labs.registry import get, run_check

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('real-time-lab', 'ex1'), ('real-time-lab', 'ex2')]



@pytest.fixture
def lab_context(workspace):
    from mlops_kit.datasets.listings import listings
    from mlops_kit.models import FEATURES, listings_frame, log_price_model, train_price_model

    frame = listings_frame(200, seed=5)
    workspace.set_experiment("real_time_lab")
    with mlflow.start_run():
        info = log_price_model(train_price_model(frame), frame)
    rows = json.loads(listings(4, seed=11)[FEATURES].to_json(orient="records"))
    import pandas as pd

    right = mlflow.pyfunc.load_model(info.model_uri).predict(pd.DataFrame(rows)).tolist()
    return {"model_uri": info.model_uri, "rows": rows}, right


def test_ex1_accepts_the_endpoint_answer_and_refuses_wrong_ones(lab_context):
    context, right = lab_context
    check = get("real-time-lab", "ex1")
    assert run_check(check, right[0], **context).passed
    assert "one number" in run_check(check, right[:1], **context).message
    assert not run_check(check, right[0] + 1.0, **context).passed


def test_ex2_accepts_all_predictions_in_order_only(lab_context):
    context, right = lab_context
    check = get("real-time-lab", "ex2")
    assert run_check(check, right, **context).passed
    assert "4 rows were sent" in run_check(check, right[:2], **context).message
    assert "differ" in run_check(check, right[::-1], **context).message
    assert not run_check(check, {"predictions": right}, **context).passed

"""The MLflow models lab checker: the solution passes, a wrong boundary fails."""
from __future__ import annotations

import mlflow.pyfunc

from mlops_kit.labs.checks.mlflow_models_lab import check_ex1, check_ex3


class Right(mlflow.pyfunc.PythonModel):
    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input, params=None):
        return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(model_input)]


class InclusiveBoundary(Right):
    def predict(self, context, model_input, params=None):
        return ["Expensive" if p >= 100 else "Not Expensive" for p in self.model.predict(model_input)]


def test_ex1_accepts_the_solution():
    assert check_ex1(Right).passed


def test_ex1_catches_the_boundary_mistake():
    result = check_ex1(InclusiveBoundary)
    assert not result.passed and "100.0 -> 'Expensive'" in result.message


def test_ex1_and_ex3_refuse_the_wrong_kind_of_answer():
    assert "subclass of mlflow.pyfunc.PythonModel" in check_ex1(object).message
    assert "models:/" in check_ex3("/tmp/model").message


def _log(python_model, *, signature=True, example=True):
    import mlflow
    from mlflow.models import infer_signature

    from mlops_kit.models import FEATURES, listings_frame

    X = listings_frame(20, seed=1)[FEATURES]
    labels = ["Expensive"] * len(X)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        signature=infer_signature(X, labels) if signature else None,
        input_example=X.head(3) if example else None,
    )


def test_ex2_and_ex3_accept_a_logged_model_and_refuse_incomplete_ones(workspace):
    """ex2 needs signature + example + the right labels; ex3 loads it in a new process."""
    import mlflow

    from mlops_kit.labs.checks.mlflow_models_lab import check_ex2
    from mlops_kit.models import FEATURES, listings_frame, train_price_model

    import sys

    import cloudpickle

    # the model classes live in this test module, which a fresh process cannot
    # import: pickle them by value, as classes defined in a notebook are
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    regressor = train_price_model(listings_frame(200, seed=2))
    workspace.set_experiment("models_lab_checks")
    with mlflow.start_run():
        good = _log(Right(regressor))
        boundary = _log(InclusiveBoundary(regressor))
        # without an input example too: MLflow infers a signature from the example
        no_signature = _log(Right(regressor), signature=False, example=False)
    assert check_ex2(good).passed
    assert not check_ex2(boundary).passed
    assert "without a signature" in check_ex2(no_signature).message
    assert "ModelInfo" in check_ex2("runs:/x/model").message
    assert check_ex3(f"runs:/{good.run_id}/model").passed
    from mlops_kit.labs import Lab

    lab = Lab("mlflow-models-lab")
    lab.check("ex3", "models:/no-such-model/1")
    assert not lab.results_["ex3"].passed


#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [("mlflow-models-lab", "ex1"), ("mlflow-models-lab", "ex2"), ("mlflow-models-lab", "ex3")]

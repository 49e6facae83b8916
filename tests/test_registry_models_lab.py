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

"""Checks of the MLflow models lab (``solutions/02-model-management/01L-mlflow-models-lab.ipynb``).

The lab wraps a price regressor in a custom pyfunc that answers
``"Expensive"`` for a predicted price above 100 and ``"Not Expensive"``
otherwise (100 itself is not expensive). The checkers never trust the
learner's own regressor to land near the threshold: they swap it for a stub
that returns prices chosen around 100, so the boundary is always tested.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

THRESHOLD = 100.0
#: stub prices and the labels they must get (100 exactly is "Not Expensive")
PROBES: list[tuple[float, str]] = [
    (20.0, "Not Expensive"), (99.99, "Not Expensive"), (100.0, "Not Expensive"),
    (100.01, "Expensive"), (750.0, "Expensive"),
]
LABELS = {"Expensive", "Not Expensive"}


class _StubRegressor:
    """Returns the probe prices, whatever the rows: the checker decides the price."""

    def predict(self, frame: Any):
        import numpy as np

        prices = [price for price, _ in PROBES]
        return np.array([prices[i % len(prices)] for i in range(len(frame))])


def _as_list(predictions: Any) -> list:
    if hasattr(predictions, "tolist"):
        predictions = predictions.tolist()
    if predictions and isinstance(predictions[0], list):  # one column frame
        predictions = [row[0] for row in predictions]
    return list(predictions)


def _probe_frame(n: int):
    from mlops_kit.models import FEATURES, listings_frame

    return listings_frame(max(n, 5), seed=3)[FEATURES].head(n)


def _labels_verdict(labels: list) -> CheckResult:
    expected = [label for _, label in PROBES]
    if labels == expected:
        return CheckResult.ok(
            "prices 20, 99.99, 100, 100.01, 750 got the right labels (100 is Not Expensive)"
        )
    wrong = [f"{price} -> {got!r} (expected {want!r})"
             for (price, want), got in zip(PROBES, labels) if got != want]
    return CheckResult.fail(
        "wrong labels: " + "; ".join(wrong or [f"got {labels!r}"]),
        hint="return 'Expensive' when the predicted price is > 100, else 'Not Expensive', "
             "one label per input row",
    )


def _swap_regressor(python_model: Any) -> str | None:
    """Replace the attribute holding the regressor by the stub; return its name."""
    for name, value in vars(python_model).items():
        if hasattr(value, "predict") and not isinstance(value, type):
            setattr(python_model, name, _StubRegressor())
            return name
    return None


@checker("mlflow-models-lab", "ex1", title="A pyfunc that labels prices")
def check_ex1(value: Any, **context: Any) -> CheckResult:
    """``value`` is the PythonModel class; built with a stub regressor, it labels the probes."""
    import mlflow.pyfunc

    if not (isinstance(value, type) and issubclass(value, mlflow.pyfunc.PythonModel)):
        return CheckResult.fail(
            f"expected a subclass of mlflow.pyfunc.PythonModel, got {value!r}",
            hint="class PriceLabelModel(mlflow.pyfunc.PythonModel): ...",
        )
    try:
        instance = value(_StubRegressor())
    except TypeError as err:
        return CheckResult.fail(f"the class could not be built with a model: {err}",
                                hint="give __init__ one argument: the fitted regressor")
    labels = _as_list(instance.predict(None, _probe_frame(len(PROBES))))
    return _labels_verdict(labels)


@checker("mlflow-models-lab", "ex2", title="Log it with a signature and an input example")
def check_ex2(value: Any, **context: Any) -> CheckResult:
    """``value`` is the ModelInfo of the logged model."""
    import mlflow

    uri = getattr(value, "model_uri", None)
    if uri is None:
        return CheckResult.fail(f"expected the ModelInfo that log_model returns, got {value!r}",
                                hint="model_info = mlflow.pyfunc.log_model(...)")
    info = mlflow.models.get_model_info(uri)
    if info.signature is None:
        return CheckResult.fail("the model was logged without a signature",
                                hint="signature=infer_signature(X, labels)")
    if info.saved_input_example_info is None:
        return CheckResult.fail("the model was logged without an input example",
                                hint="input_example=X.head(3)")
    loaded = mlflow.pyfunc.load_model(uri)
    real = _as_list(loaded.predict(_probe_frame(20)))
    if not set(real) <= LABELS:
        return CheckResult.fail(f"predictions must be labels, got {sorted(set(map(str, real)))}",
                                hint="return a list of 'Expensive'/'Not Expensive'")
    if _swap_regressor(loaded.unwrap_python_model()) is None:
        return CheckResult.fail("the logged model keeps no regressor as an attribute",
                                hint="store the fitted model in __init__: self.model = model")
    verdict = _labels_verdict(_as_list(loaded.predict(_probe_frame(len(PROBES)))))
    if not verdict.passed:
        return verdict
    return CheckResult.ok("signature and input example logged; loaded back, it labels the "
                          "boundary right (100 -> Not Expensive)")


@checker("mlflow-models-lab", "ex3", title="Load it by URI from a fresh process")
def check_ex3(value: Any, **context: Any) -> CheckResult:
    """``value`` is a ``models:/`` or ``runs:/`` URI; a new process loads it and predicts."""
    from mlops_kit.models import predict_in_fresh_process

    if not isinstance(value, str) or not value.startswith(("models:/", "runs:/")):
        return CheckResult.fail(
            f"expected a 'models:/...' or 'runs:/...' URI string, got {value!r}",
            hint="f'models:/{model_name}/{version}' or f'models:/{model_name}@champion'",
        )
    labels = predict_in_fresh_process(value, _probe_frame(10))
    if len(labels) != 10 or not set(labels) <= LABELS:
        return CheckResult.fail(f"a fresh process predicted {labels!r}",
                                hint="the model must return one label per row")
    return CheckResult.ok(f"a new Python process loaded {value} and labelled 10 rows")

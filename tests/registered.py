"""Register a fitted scikit-learn model as a champion, the way the serving tests need it."""
from __future__ import annotations

from typing import Any


def register_champion(model: Any, X: Any, name: str) -> str:
    """Log ``model`` (fitted on ``X``) with a signature, register it as ``name``, alias it
    ``champion``; return the ``models:/name@champion`` URI."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlops_kit._price_model import pip_requirements, trusted_types

    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, input_example=X.head(2),
            signature=mlflow.models.infer_signature(X, model.predict(X)),
            skops_trusted_types=trusted_types(model), pip_requirements=pip_requirements())
    MlflowClient().set_registered_model_alias(name, "champion", info.registered_model_version)
    return f"models:/{name}@champion"

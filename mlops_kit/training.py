"""Train, log and register the course's price model in one call.

Several lessons and jobs need "a registered price model" (batch and streaming
scoring, monitoring, rollout, the training job of the deploy-code pattern).
They all get it from :func:`train_price_model`, so the model they serve is
trained the same way everywhere: a scikit-learn pipeline on the listings,
logged with metrics, signature, input example and the data version it saw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_kit._price_model import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    TARGET,
    declared_signature,
    fit_on_holdout,
    pip_requirements,
    price_pipeline,
    require_columns,
    trusted_types,
)
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["NUMERIC_FEATURES", "CATEGORICAL_FEATURES", "TARGET", "price_pipeline",
           "train_price_model", "TrainedModel"]

#: the served model's input columns
_FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
#: share of the rows held out to score the model on
_TEST_SIZE = 0.25


@dataclass(frozen=True)
class TrainedModel:
    """What :func:`train_price_model` produced."""

    run_id: str
    model_uri: str
    name: str | None
    version: str | None
    metrics: dict[str, float]

    @property
    def registered_uri(self) -> str:
        """``models:/<name>/<version>`` (or the run's model URI if not registered)."""
        return f"models:/{self.name}/{self.version}" if self.name else self.model_uri


def train_price_model(
    data: "pd.DataFrame",
    *,
    kind: str = "ridge",
    model_name: str | None = "price",
    experiment: str = "price_training",
    data_source: str | None = None,
    data_version: int | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    workspace: Workspace | None = None,
) -> TrainedModel:
    """Fit the price pipeline, log it to MLflow and register it.

    Parameters
    ----------
    data : pandas.DataFrame
        Listings with the feature columns and ``price``.
    kind : {"ridge", "forest"}
        Which regressor (see :func:`price_pipeline`).
    model_name : str or None
        Short name registered as ``<env>.<user>.<model_name>``; ``None`` logs
        without registering.
    data_source, data_version : optional
        The Delta table and version the data came from, logged as params and
        tags so the exact training set can be rebuilt.
    params : dict, optional
        Extra hyperparameters set on the pipeline (``{"model__alpha": 3.0}``).

    Returns
    -------
    TrainedModel
        Run id, model URI, registered name and version, holdout metrics.
    """
    import mlflow
    import pandas as pd


    ws = workspace or get_workspace()
    require_columns(data, _FEATURES + [TARGET])
    pipeline = price_pipeline(kind, seed=seed)
    if params:
        pipeline.set_params(**params)
    fitted = fit_on_holdout(pipeline, data[_FEATURES], data[TARGET], test_size=_TEST_SIZE, seed=seed)
    metrics = fitted.metrics
    registered = ws.model_name(model_name) if model_name else None
    ws.set_experiment(experiment)
    with mlflow.start_run(run_name=f"{kind}-price") as run:
        mlflow.log_params({"kind": kind, "rows": len(data), "seed": seed, **(params or {})})
        if data_source is not None:
            mlflow.log_params({"data_source": data_source, "data_version": str(data_version)})
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=declared_signature(
                fitted.X_train, pd.Series(pipeline.predict(fitted.X_test), name=TARGET)
            ),
            input_example=fitted.X_train.head(3),
            registered_model_name=registered,
            skops_trusted_types=trusted_types(pipeline),
            pip_requirements=pip_requirements(),
        )
    version = None
    if registered:
        version = str(info.registered_model_version)
        mlflow.MlflowClient().update_model_version(
            registered, version,
            description=f"{kind} price model trained on {len(data)} listings; holdout RMSE {metrics['rmse']:.1f}.",
        )
    return TrainedModel(run.info.run_id, info.model_uri, registered, version, metrics)


def ensure_champion(
    model_name: str = "price",
    *,
    kind: str = "ridge",
    rows: int = 2000,
    workspace: Workspace | None = None,
) -> str:
    """Return ``models:/<name>@champion``, training and promoting a first model if none.

    Lessons that *use* a model (scoring, serving, monitoring) call this so each
    runs top to bottom on its own, whether or not earlier lessons ran.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops_kit.datasets import listings
    from mlops_kit.registry.promotion import promote

    ws = workspace or get_workspace()
    name = ws.model_name(model_name)
    try:
        MlflowClient().get_model_version_by_alias(name, "champion")
    except MlflowException:
        trained = train_price_model(listings(rows), kind=kind, model_name=model_name, workspace=ws)
        promote(name, trained.version, "champion", reason="first model, trained so the lesson has one")
    return f"models:/{name}@champion"

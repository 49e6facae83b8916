"""The building blocks every lesson's listing-price model is made of.

Three lessons train a price model, each exposing what it teaches:

- :func:`mlops_kit.training.train_price_model`, the model the deployment and
  production lessons serve: numbers and categories, logged and registered;
- :func:`mlops_kit.models.train_price_model`, the MLflow-models lesson's
  numeric Ridge pipeline that skops loads safely;
- :func:`mlops_kit.tracking.fit_price_model`, the experiment-tracking
  lesson's seeded model on one-hot features, which a run must reproduce
  exactly from its logged params.

This is the runtime half of the price model: the columns, the numeric
preparation, the regressors, the served pipeline (:func:`price_pipeline`), the
holdout split, the metrics, the declared signature and the types skops must
trust to load it back (:func:`trusted_types`) are defined here once, so "the
price model" means the same thing in every lesson and job. The runtime
(:mod:`mlops_kit.training`, the jobs, the registry's validation) imports it;
the lesson modules (:mod:`mlops_kit.models`, :mod:`mlops_kit.tracking`) build
their own lesson pipelines from it, and nothing here imports them.
Nothing heavy is imported until a function is called.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_kit.exceptions import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
    "TARGET",
    "REGRESSORS",
    "require_columns",
    "numeric_steps",
    "regressor",
    "regression_metrics",
    "FittedModel",
    "fit_on_holdout",
    "declared_signature",
    "price_pipeline",
    "trusted_types",
    "MODEL_PACKAGES",
    "pip_requirements",
]

#: numeric listing columns the price models are trained on
NUMERIC_FEATURES: list[str] = [
    "accommodates", "bedrooms", "bathrooms", "beds", "minimum_nights",
    "number_of_reviews", "review_scores_rating", "latitude", "longitude",
]
#: categorical listing columns (one-hot encoded by the models that use them)
CATEGORICAL_FEATURES: list[str] = ["neighbourhood", "room_type"]
TARGET = "price"
#: the kinds :func:`regressor` builds
REGRESSORS = ("ridge", "forest")


def require_columns(frame: "pd.DataFrame", columns: list[str], *, what: str = "training data",
                    hint: str = "") -> None:
    """Raise :class:`DataError` naming the ``columns`` that ``frame`` lacks.

    Checked up front: scikit-learn's own error for a missing column names
    neither the frame's columns nor how to build a complete one.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"The {what} lacks the columns {missing}: it needs {columns} and has "
            f"{list(frame.columns)}.{' ' + hint if hint else ''}"
        )


def numeric_steps() -> list[Any]:
    """Median imputation, then standard scaling: how numeric features are prepared.

    A list rather than a pipeline, so a model can end it with its regressor
    in one flat pipeline (whose step names are its parameter names, like
    ``ridge__alpha``) or wrap it as a branch of a column transformer.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    return [SimpleImputer(strategy="median"), StandardScaler()]


def regressor(kind: str = "ridge", *, alpha: float = 1.0, n_estimators: int = 50,
              max_depth: int | None = None, seed: int = 0) -> Any:
    """An unfitted regressor: ``ridge`` (linear, fast, small) or ``forest`` (random forest).

    ``alpha`` applies to ridge; ``n_estimators``, ``max_depth`` and ``seed``
    to the forest, which uses one core: the course machines have two, and
    lessons train while Spark or a server runs beside them.
    """
    if kind == "ridge":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=alpha)
    if kind == "forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=n_estimators, max_depth=max_depth,
                                     random_state=seed, n_jobs=1)
    raise ConfigError(f"kind must be one of {REGRESSORS}. Got {kind!r} instead.")


def regression_metrics(actual: Any, predicted: Any) -> dict[str, float]:
    """``rmse``, ``mae`` and ``r2`` of ``predicted`` against ``actual``, as plain floats.

    Plain floats, so they log to MLflow and compare across runs as they are.
    """
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "mae": float(mean_absolute_error(actual, predicted)),
        "r2": float(r2_score(actual, predicted)),
    }


@dataclass
class FittedModel:
    """A fitted price model, its test metrics and the data it was scored on."""

    model: Any
    metrics: dict[str, float]
    X_train: "pd.DataFrame" = field(repr=False)
    X_test: "pd.DataFrame" = field(repr=False)
    y_test: "pd.Series" = field(repr=False)


def fit_on_holdout(estimator: Any, X: "pd.DataFrame", y: "pd.Series", *, test_size: float,
                   seed: int) -> FittedModel:
    """Split ``X``/``y`` (seeded), fit ``estimator`` on the training part, score the rest.

    The split depends only on ``seed``, ``test_size`` and the row order, so
    the same params on the same data give the same metrics: what lets a run
    be reproduced and two models be compared on the same rows.
    """
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size,
                                                        random_state=seed)
    model = estimator.fit(X_train, y_train)
    metrics = regression_metrics(y_test, model.predict(X_test))
    return FittedModel(model, metrics, X_train, X_test, y_test)


def declared_signature(X: "pd.DataFrame", y: Any):
    """The model signature of ``X`` -> ``y``, with integer columns declared, not guessed.

    ``mlflow.models.infer_signature`` flags every integer column with a
    warning: it cannot tell whether the column may be missing at inference
    time (a missing value turns an integer column into floats, which the
    schema then rejects). For the listings that is a decision, made here:
    the integer columns (``accommodates``, ``number_of_reviews``, ...) are
    counts every listing has, so they are declared ``long`` and required;
    a request without one is rejected at the door instead of imputed. Columns
    that may be missing are floats in the data, and stay ``double``.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"accommodates": [2, 4], "beds": [1.0, None]})
    >>> print(declared_signature(X, pd.Series([90.0, 150.0])).inputs)
    ['accommodates': long (required), 'beds': double (optional)]
    """
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    integers = {c: "integer" if X[c].dtype.itemsize <= 4 else "long"
                for c in X.columns if pd.api.types.is_integer_dtype(X[c].dtype)
                and not pd.api.types.is_bool_dtype(X[c].dtype)}
    # infer the rest from a copy whose integer columns are floats: nothing left to guess
    inferred = infer_signature(X.astype({c: "float64" for c in integers}), y)
    inputs = Schema([
        ColSpec(integers[spec.name], spec.name, required=spec.required) if spec.name in integers
        else spec
        for spec in inferred.inputs.inputs
    ])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs, params=inferred.params)


def price_pipeline(kind: str = "ridge", *, seed: int = 0):
    """An unfitted pipeline: impute + scale numbers, one-hot categories, then a regressor.

    ``ridge`` is small and fast (the default for serving lessons); ``forest``
    is a random forest, the tree ensemble of the benchmarks.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    model = regressor(kind, alpha=1.0, n_estimators=50, max_depth=12, seed=seed)
    prepare = ColumnTransformer(
        [
            ("num", make_pipeline(*numeric_steps()), NUMERIC_FEATURES),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
        ]
    )
    return Pipeline([("prepare", prepare), ("model", model)])


def trusted_types(model: Any) -> list[str]:
    """Types skops must trust to load ``model`` (pass as ``skops_trusted_types``).

    ``mlflow.sklearn.log_model`` saves with skops, which refuses to load types
    it does not know (``numpy.dtype`` in an imputer, tree internals) unless
    the model was logged with them listed; list exactly what this model holds.
    """
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


#: what a logged price model needs to load and predict: a scikit-learn pipeline saved
#: with skops, or a custom pyfunc (cloudpickle) wrapping one; MLflow adds itself
MODEL_PACKAGES: tuple[str, ...] = (
    "cloudpickle", "numpy", "pandas", "scikit-learn", "scipy", "skops",
)


def pip_requirements(*extra: str) -> list[str]:
    """What a logged price model needs, pinned to this environment (for ``pip_requirements``).

    Declared, not inferred. Without it, ``log_model`` finds a model's
    requirements by loading the model in a new Python process and listing
    what that process imported: 5-10 s per logged model on a small machine
    (most of a training job's time), and in a notebook it also lists packages
    the model never uses (pytest, rich). The kit's models are loaded where
    they were logged, so exact pins are what MLflow would write anyway.
    ``extra`` adds requirements, e.g. ``"lightgbm==4.5.0"`` for another library.

    Examples
    --------
    >>> [r.split("==")[0] for r in pip_requirements()]
    ['cloudpickle', 'numpy', 'pandas', 'scikit-learn', 'scipy', 'skops']
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_PACKAGES] + list(extra)

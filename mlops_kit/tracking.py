"""Experiment tracking beyond params and metrics: data lineage, explanations, reruns.

A run that logs only its params and metrics cannot answer the questions asked
of a production model: *which data* was it trained on, *why* does it predict
what it predicts, and *can we get the same model again*? This module adds the
three answers to any MLflow run:

- :func:`log_training_data` records the Delta table and the exact table
  version a run trained on (``mlflow.data``), and :func:`rebuild_training_data`
  reads that version back with time travel, even after the table moved on;
- :func:`log_explanations` logs SHAP values, a summary plot and the mean
  absolute SHAP value per feature as artifacts of the run;
- :func:`reproduce_run` retrains from the run's logged params on the rebuilt
  data and compares the metric.

:func:`price_features` and :func:`fit_price_model` are the small, seeded
price model the lessons train on listings; :func:`reproduce_run` uses it unless
given another training function.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mlops_kit._price_model import CATEGORICAL_FEATURES, TARGET, FittedModel, fit_on_holdout, regressor
from mlops_kit.exceptions import ConfigError, DataError, EnvironmentProblem, NotFoundError
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "DataVersion",
    "FittedModel",
    "Reproduction",
    "price_features",
    "holdout_split",
    "fit_price_model",
    "log_training_data",
    "training_data_version",
    "rebuild_training_data",
    "log_explanations",
    "reproduce_run",
    "artifact_names",
]

#: columns that describe a listing but are not features of its price
_NOT_FEATURES = ("id", TARGET, "latitude", "longitude")


# --------------------------------------------------------------- the model
def price_features(listings: "pd.DataFrame", *, target: str = TARGET) -> tuple["pd.DataFrame", "pd.Series"]:
    """Turn listings into a numeric feature matrix ``X`` and the target ``y``.

    Rows are sorted by ``id`` first: a table's row order is not part of its
    contract (Spark may read files in another order), so a reproducible split
    must not depend on it. Categoricals are one-hot encoded, booleans become
    0/1, and missing review scores (listings without reviews) become 0.
    """
    import pandas as pd

    if target not in listings.columns:
        raise DataError(
            f"The listings have no {target!r} column to predict. "
            f"Got columns {sorted(listings.columns)}."
        )
    frame = listings.sort_values("id") if "id" in listings.columns else listings
    frame = frame.reset_index(drop=True)
    X = frame.drop(columns=[c for c in _NOT_FEATURES if c in frame.columns])
    X = pd.get_dummies(X, columns=[c for c in CATEGORICAL_FEATURES if c in X.columns], dtype=float)
    X = X.astype(float).fillna(0.0)
    X.columns = [str(c).replace(" ", "_").replace("/", "_") for c in X.columns]
    return X, frame[target].astype(float)


def _build_estimator(params: Mapping[str, Any]) -> Any:
    """The unfitted model ``params`` describe (values may be strings, as MLflow logs them)."""
    kind = str(params.get("model", "random_forest"))
    if kind == "random_forest":
        depth = params.get("max_depth")
        return regressor(
            "forest",
            n_estimators=int(params.get("n_estimators", 50)),
            max_depth=None if depth in (None, "None") else int(depth),
            seed=int(params.get("seed", 42)),
        )
    if kind == "ridge":  # counts and 0/1 columns on one scale, so the penalty treats them alike
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        alpha = float(params.get("alpha", 1.0))
        return make_pipeline(StandardScaler(), regressor("ridge", alpha=alpha))
    raise ConfigError(
        f"The price model must be 'random_forest' or 'ridge'. Got model={kind!r} instead."
    )


def holdout_split(listings: "pd.DataFrame", *, test_size: float = 0.2,
                  seed: int = 42) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """Set test rows aside before any model is chosen: ``(development, test)`` listings.

    Rows are sorted by ``id`` first (as :func:`price_features` does), then
    split with ``seed``: the same listings give the same test rows on any
    machine. A search compares candidates on a validation split carved from
    the development rows (:func:`fit_price_model` does that), and only the
    chosen candidate is scored on the test rows, once.
    """
    from sklearn.model_selection import train_test_split

    frame = listings.sort_values("id") if "id" in listings.columns else listings
    development, test = train_test_split(frame.reset_index(drop=True), test_size=test_size,
                                         random_state=seed)
    return development.reset_index(drop=True), test.reset_index(drop=True)


def fit_price_model(listings: "pd.DataFrame", params: Mapping[str, Any] | None = None, *,
                    test: "pd.DataFrame | None" = None) -> FittedModel:
    """Fit the lessons' price model on ``listings`` and score it on rows it was not fitted on.

    Parameters
    ----------
    listings : pandas.DataFrame
        Listings with a ``price`` column (see :func:`mlops_kit.datasets.listings`).
    params : mapping, optional
        ``model`` (``"random_forest"`` or ``"ridge"``), ``n_estimators``,
        ``max_depth``, ``alpha``, ``test_size`` (0.2) and ``seed`` (42). Values
        may be strings, as MLflow returns logged params.
    test : pandas.DataFrame, optional
        Listings set aside before (see :func:`holdout_split`). Given, the model
        is fitted on *all* of ``listings`` and scored on ``test``; otherwise a
        seeded ``test_size`` share of ``listings`` is held out and scored.

    Returns
    -------
    FittedModel
        ``metrics`` holds ``rmse``, ``mae`` and ``r2`` on the held-out rows.
    """
    params = dict(params or {})
    X, y = price_features(listings)
    if test is None:
        return fit_on_holdout(_build_estimator(params), X, y,
                              test_size=float(params.get("test_size", 0.2)),
                              seed=int(params.get("seed", 42)))
    from mlops_kit._price_model import regression_metrics

    X_test, y_test = price_features(test)
    X_test = X_test.reindex(columns=X.columns, fill_value=0.0)  # a category absent from the test rows
    model = _build_estimator(params).fit(X, y)
    return FittedModel(model, regression_metrics(y_test, model.predict(X_test)), X, X_test, y_test)


# ----------------------------------------------------------- data lineage
@dataclass(frozen=True)
class DataVersion:
    """Where a run's training data came from: a Delta table at one version."""

    path: str
    version: int
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.name or self.path} @ version {self.version}"


def _active_run_id() -> str:
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise ConfigError(
            "Logging training data needs an active MLflow run. "
            "Call it inside `with mlflow.start_run():`."
        )
    return run.info.run_id


#: Spark column types and the MLflow column types they are, one for one
_SPARK_TO_MLFLOW = {
    "IntegerType": "integer", "ShortType": "integer", "ByteType": "integer", "LongType": "long",
    "FloatType": "float", "DoubleType": "double", "StringType": "string",
    "BooleanType": "boolean", "BinaryType": "binary", "DateType": "datetime",
    "TimestampType": "datetime", "TimestampNTZType": "datetime",
}


def _table_schema(df: "DataFrame") -> Any:
    """The MLflow schema of a Spark DataFrame, read from its declared column types.

    A Delta table's types are declared, so nothing needs inferring: MLflow's
    inference would also flag every integer column with a hint meant for
    model inputs (integers cannot hold missing values), which a record of
    training data does not need. ``None`` when a column has a type outside
    the simple ones above (MLflow then infers the schema itself).
    """
    from mlflow.types import ColSpec, Schema

    specs = []
    for field in df.schema.fields:
        kind = _SPARK_TO_MLFLOW.get(type(field.dataType).__name__)
        if kind is None:
            return None
        specs.append(ColSpec(kind, field.name))
    return Schema(specs)


def log_training_data(
    df: "DataFrame",
    table_name: str,
    version: int,
    *,
    context: str = "training",
    workspace: Workspace | None = None,
) -> Any:
    """Log the Delta table and version ``df`` was read from as the run's input.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The training data as read from the table (its schema and a digest are logged).
    table_name : str
        The workspace table (``workspace.table_path(table_name)``).
    version : int
        The Delta version that was read. Passed to MLflow as a string: MLflow
        drops an integer ``0`` and records the *latest* version instead.
    context : str
        The input's role in the run (``training``, ``evaluation``).

    Returns
    -------
    mlflow.data.spark_dataset.SparkDataset
    """
    import mlflow

    _active_run_id()
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigError(
            f"The Delta version must be a whole number >= 0. Got {version!r} instead."
        )
    from mlops_kit.tables.delta_rs import DeltaRsTables

    tables = DeltaRsTables(workspace or get_workspace())
    path = tables.path(table_name)
    if not tables.exists(path):
        raise NotFoundError(
            f"No Delta table {table_name!r} at {path}. Write the table before logging it "
            "as training data."
        )
    latest = tables.version(path)
    if version > latest:
        raise NotFoundError(
            f"The Delta table {table_name!r} has versions 0 to {latest}; version {version} "
            "does not exist. Log the version the training data was read from."
        )
    dataset = mlflow.data.from_spark(
        df, path=path, version=str(version), name=f"{table_name}@v{version}"
    )
    schema = _table_schema(df)
    if schema is not None:
        # the dataset's schema is a cached property: set it to the table's declared types
        # before log_input reads it, instead of letting MLflow guess them from the data
        dataset.__dict__["schema"] = schema
    _count_rows_for_profile(dataset)
    mlflow.log_input(dataset, context=context)
    mlflow.set_tags({"training_data.table": table_name, "training_data.version": str(version)})
    return dataset


def _count_rows_for_profile(dataset: Any) -> None:
    """Give the dataset an exact row count as its profile, on either Spark engine.

    MLflow estimates the count through the RDD API (``df.rdd``), which a Spark
    Connect session does not have: it would log a warning into the lesson and
    record no count. One ``count()`` is cheap on the tables the kit logs.
    """
    from mlflow.data.spark_dataset import SparkDataset

    class CountedSparkDataset(SparkDataset):
        @property
        def profile(self) -> dict[str, Any]:
            return {"approx_count": rows}

    rows = int(dataset.df.count())
    dataset.__class__ = CountedSparkDataset


def training_data_version(run_id: str, *, context: str = "training") -> DataVersion:
    """The Delta table and version the run ``run_id`` logged as its ``context`` input."""
    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    run = mlflow.get_run(run_id)
    for dataset_input in run.inputs.dataset_inputs:
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        if tags.get("mlflow.data.context") != context:
            continue
        source = mlflow.data.get_source(dataset_input)
        if isinstance(source, DeltaDatasetSource) and source.delta_table_version is not None:
            return DataVersion(
                path=source.path,
                version=int(source.delta_table_version),
                name=dataset_input.dataset.name,
            )
    raise NotFoundError(
        f"Run {run_id} logged no Delta table version as its {context!r} input. "
        "Log it with mlops_kit.tracking.log_training_data(df, table_name, version)."
    )


def rebuild_training_data(
    run_id: str, *, context: str = "training", spark: "SparkSession | None" = None
) -> "DataFrame":
    """Read back exactly the rows run ``run_id`` trained on (Delta time travel).

    Works after the table was appended to or overwritten, as long as the old
    version's files were not removed by ``VACUUM``.
    """
    from mlops_kit.tables.spark_side import SparkTables

    data = training_data_version(run_id, context=context)
    return SparkTables(spark=spark).read(data.path, data.version)


# ----------------------------------------------------------- explanations
def _explain(model: Any, X: "pd.DataFrame", background: "pd.DataFrame") -> Any:
    try:
        import shap
    except ImportError as err:  # pragma: no cover - shap is a dependency
        raise EnvironmentProblem(
            "Logging explanations needs shap. Install it: pip install shap"
        ) from err
    # Tree ensembles: exact path-dependent SHAP from the trees' own statistics
    # (with a background sample the additivity check fails on deep forests).
    # Linear models: their exact explainer. Anything else (pipelines): the
    # model-agnostic explainer of the predict function, slower.
    factories = (
        lambda: shap.TreeExplainer(model),
        lambda: shap.Explainer(model, background),
        lambda: shap.Explainer(model.predict, background),
    )
    for make in factories[:-1]:
        try:
            explainer = make()
            break
        except Exception:  # shap signals "not my kind of model" with various errors
            continue
    else:
        explainer = factories[-1]()
    if isinstance(explainer, (shap.explainers.Permutation, shap.explainers.Exact)):
        return explainer(X, silent=True)  # no progress bar in the notebook
    return explainer(X)


def log_explanations(
    model: Any,
    X: "pd.DataFrame",
    *,
    max_rows: int = 200,
    seed: int = 0,
    artifact_path: str = "explanations",
) -> "pd.Series":
    """Explain ``model`` on a sample of ``X`` with SHAP and log it to the active run.

    Logs ``shap_values.csv`` (one row per explained sample), ``shap_summary.png``
    (the beeswarm summary plot) and ``feature_importance.csv`` (mean absolute
    SHAP value per feature) under ``artifact_path``.

    Parameters
    ----------
    model : estimator
        A fitted model with ``predict``: tree ensembles use SHAP's tree
        explainer, other models the model-agnostic one (slower).
    X : pandas.DataFrame
        Feature rows to explain, e.g. the test split.
    max_rows : int
        Explain at most this many rows (seeded sample), to keep runs quick.

    Returns
    -------
    pandas.Series
        Mean absolute SHAP value per feature, largest first.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import mlflow
    import pandas as pd
    import shap

    _active_run_id()
    if len(X) == 0:
        raise DataError("There are no rows to explain: X is empty.")
    sample = X.sample(n=min(max_rows, len(X)), random_state=seed)
    explanation = _explain(model, sample, sample.iloc[: min(100, len(sample))])
    values = pd.DataFrame(explanation.values, columns=sample.columns, index=sample.index)
    importance = values.abs().mean().sort_values(ascending=False).rename("mean_abs_shap")
    mlflow.log_text(values.to_csv(index=False), f"{artifact_path}/shap_values.csv")
    mlflow.log_text(importance.to_csv(), f"{artifact_path}/feature_importance.csv")
    plt.figure()
    shap.summary_plot(explanation, sample, show=False, max_display=12)
    figure = plt.gcf()  # summary_plot may resize or replace the current figure
    mlflow.log_figure(figure, f"{artifact_path}/shap_summary.png")
    plt.close(figure)
    return importance


# ------------------------------------------------------------ reproduction
def _parse_param(value: str) -> Any:
    """MLflow stores params as strings; give back numbers, None and booleans."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


@dataclass(frozen=True)
class Reproduction:
    """The outcome of retraining a run from what it logged."""

    run_id: str
    metric: str
    original: float
    reproduced: float
    data: DataVersion
    tolerance: float = 1e-9

    @property
    def matches(self) -> bool:
        """True if the reproduced metric equals the logged one (within ``tolerance``)."""
        return math.isclose(self.original, self.reproduced, rel_tol=self.tolerance, abs_tol=self.tolerance)

    def __str__(self) -> str:
        verdict = "reproduced" if self.matches else "NOT reproduced"
        return (
            f"{verdict}: {self.metric} logged {self.original:.6g}, retrained "
            f"{self.reproduced:.6g} on {self.data}"
        )


def reproduce_run(
    run_id: str,
    train: Callable[["pd.DataFrame", dict[str, Any]], Mapping[str, float]] | None = None,
    *,
    metric: str = "rmse",
    tolerance: float = 1e-9,
    context: str = "training",
) -> Reproduction:
    """Retrain run ``run_id`` from its logged params and data version; compare ``metric``.

    Parameters
    ----------
    run_id : str
        A run that logged its params, ``metric`` and its training data with
        :func:`log_training_data`.
    train : callable, optional
        ``train(listings_pdf, params) -> {metric: value}``. Default: the
        lessons' :func:`fit_price_model`.
    metric : str
        The metric to compare.

    Returns
    -------
    Reproduction
        ``.matches`` tells whether the same params and data gave the same metric.
    """
    import mlflow

    run = mlflow.get_run(run_id)
    if metric not in run.data.metrics:
        raise NotFoundError(
            f"Run {run_id} logged no metric {metric!r}. It logged: "
            f"{', '.join(sorted(run.data.metrics)) or 'no metrics'}."
        )
    params = {key: _parse_param(value) for key, value in run.data.params.items()}
    data = training_data_version(run_id, context=context)
    pdf = rebuild_training_data(run_id, context=context).toPandas()
    if train is None:
        metrics = fit_price_model(pdf, params).metrics
    else:
        metrics = train(pdf, params)
    if metric not in metrics:
        raise DataError(
            f"The training function returned no {metric!r} metric; it returned "
            f"{sorted(metrics)}. Make it return the metric the run logged."
        )
    return Reproduction(
        run_id, metric, float(run.data.metrics[metric]), float(metrics[metric]), data, tolerance
    )


def artifact_names(run_id: str, path: str = "") -> list[str]:
    """Relative paths of the artifacts run ``run_id`` logged under ``path`` (recursive)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    names: list[str] = []
    pending = [path]
    while pending:
        for info in client.list_artifacts(run_id, pending.pop() or None):
            if info.is_dir:
                pending.append(info.path)
            else:
                names.append(info.path)
    return sorted(names)


"""Models that carry their feature spec: log once, score with keys only.

:func:`log_model` logs a model through an MLflow flavor and stores, in the
model's own ``MLmodel`` metadata (``feature_spec``), the lookups it was
trained with and the order of its input columns. Whatever copies the model
(registration, ``copy_model_version`` to another env) copies the spec too.

:func:`score_batch` reads that spec back (the model's metadata is read once
per version, :func:`mlops_kit.registry.info.model_info`), looks the features
up (point in time when the rows carry timestamps) and scores with the batch
deployment's UDF (:func:`mlops_kit.deployment.batch.prediction_udf`). Columns
the caller already provides win over looked-up ones, so a feature can be
overridden at scoring time.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlops_kit.deployment.batch import prediction_udf
from mlops_kit.exceptions import ConfigError, DataError
from mlops_kit.features.lookup import join_lookups
from mlops_kit.features.types import FeatureLookup, FeatureSource, TrainingSet
from mlops_kit.registry import info as registry_info

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["log_model", "score_batch", "read_feature_spec", "SPEC_KEY"]

#: the key of the spec in the model's MLmodel metadata
SPEC_KEY = "feature_spec"
_SAMPLE_ROWS = 5


def _flavor_module(flavor: Any):
    if isinstance(flavor, str):
        name = flavor if flavor.startswith("mlflow.") else f"mlflow.{flavor}"
        try:
            return importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"No MLflow flavor {name!r}; pass e.g. mlflow.sklearn.") from None
    if not hasattr(flavor, "log_model"):
        raise ConfigError(
            f"flavor must be an MLflow flavor module such as mlflow.sklearn. Got {flavor!r} instead."
        )
    return flavor


def _input_columns(model: Any, sample_columns: list[str]) -> list[str]:
    """What the model reads: its fitted feature names if it knows them, else every column."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
        missing = [n for n in names if n not in sample_columns]
        if missing:
            raise DataError(
                f"The model was fitted on column(s) {missing} that the training set does not "
                f"produce. The training set has {sample_columns}."
            )
        return names
    return sample_columns


def log_model(
    client: FeatureSource,
    model: Any,
    artifact_path: str,
    flavor: Any,
    training_set: TrainingSet,
    registered_model_name: str | None = None,
    **kwargs: Any,
):
    """Log ``model`` with the feature spec of ``training_set``; record lineage.

    Parameters
    ----------
    model : object
        A fitted model of ``flavor``.
    artifact_path : str
        Name of the model in the run.
    flavor : module or str
        ``mlflow.sklearn`` (or ``"sklearn"``), ``mlflow.pyfunc``, ...
    training_set : TrainingSet
        What the model was trained on; its lookups become the spec.
    registered_model_name : str, optional
        Also register the model under this name.
    **kwargs
        Passed to ``flavor.log_model`` (``signature``, ``input_example``,
        ``metadata`` ... are filled in when not given).

    Returns
    -------
    mlflow.models.model.ModelInfo
        With ``model_uri``, ``run_id`` and ``registered_model_version``.
    """
    import mlflow
    from mlflow.models import infer_signature

    module = _flavor_module(flavor)
    sample = training_set.load_df().drop(*training_set.labels).limit(_SAMPLE_ROWS).toPandas()
    columns = _input_columns(model, list(sample.columns))
    sample = sample[columns]
    # A looked-up feature is null for a key with no feature row, and pandas
    # turns an integer column with nulls into floats: declare them as doubles
    # so scoring such rows passes MLflow's schema check.
    looked_up = [c for c in columns if c in training_set.feature_columns and sample[c].dtype.kind in "iu"]
    sample = sample.astype({c: "float64" for c in looked_up})
    if "signature" not in kwargs and hasattr(model, "predict"):
        try:
            kwargs["signature"] = infer_signature(sample, model.predict(sample))
        except Exception:  # noqa: BLE001 - a signature is a courtesy, not a requirement
            kwargs["signature"] = infer_signature(sample)
    kwargs.setdefault("input_example", sample.head(3))
    if module.__name__ == "mlflow.sklearn":
        from mlops_kit._price_model import pip_requirements, trusted_types

        if "skops_trusted_types" not in kwargs:
            kwargs["skops_trusted_types"] = trusted_types(model)
        if not {"pip_requirements", "extra_pip_requirements", "conda_env"} & kwargs.keys():
            kwargs["pip_requirements"] = pip_requirements()  # declared: inferring costs seconds
    spec = {
        "version": 1,
        "lookups": [lookup.to_dict() for lookup in training_set.feature_lookups],
        "input_columns": columns,
        "feature_columns": training_set.feature_columns,
        "label": training_set.label,
        "table_versions": training_set.table_versions,
    }
    kwargs["metadata"] = {**(kwargs.get("metadata") or {}), SPEC_KEY: spec}

    started = mlflow.active_run() is None
    run = mlflow.start_run() if started else mlflow.active_run()
    try:
        for table, version in training_set.table_versions.items():
            mlflow.set_tag(f"feature_table.{table}.version", str(version))
        info = module.log_model(
            model, name=artifact_path, registered_model_name=registered_model_name, **kwargs
        )
    finally:
        if started:
            mlflow.end_run()
    for table, version in training_set.table_versions.items():
        client.record_lineage(table, {
            "run_id": run.info.run_id,
            "model_uri": info.model_uri,
            "registered_model_name": registered_model_name,
            "model_version": getattr(info, "registered_model_version", None),
            "table_version": version,
        })
    return info


def read_feature_spec(model_uri: str, *, model_info: Any = None) -> dict[str, Any]:
    """The feature spec stored with a model by :func:`log_model`.

    ``model_info``: the model's ``ModelInfo`` when already read; otherwise it
    comes from the per-version cache (:func:`mlops_kit.registry.info.model_info`).
    """
    metadata = (model_info or registry_info.model_info(model_uri)).metadata or {}
    if SPEC_KEY not in metadata:
        raise DataError(
            f"The model {model_uri!r} has no feature spec: it was not logged with "
            "FeatureStoreClient.log_model. Score it with mlflow.pyfunc.spark_udf on a "
            "DataFrame that already has every feature."
        )
    return metadata[SPEC_KEY]


def score_batch(
    client: FeatureSource,
    model_uri: str,
    df: "DataFrame",
    result_type: str = "double",
    *,
    prediction_col: str = "prediction",
) -> "DataFrame":
    """Look up the model's features for the rows of ``df`` and score them.

    ``df`` needs the lookup keys (and the timestamp columns of point-in-time
    lookups); features it already has are used as given. Returns ``df``'s
    columns, the looked-up features, and ``prediction_col``.
    """
    from pyspark.sql import functions as F

    info = registry_info.model_info(model_uri)
    spec = read_feature_spec(model_uri, model_info=info)
    lookups = [FeatureLookup.from_dict(item) for item in spec["lookups"]]
    joined = join_lookups(client, df, lookups, skip_present=True)
    columns = spec["input_columns"]
    missing = [c for c in columns if c not in joined.columns]
    if missing:
        raise DataError(
            f"The model {model_uri!r} reads column(s) {missing} that neither the DataFrame "
            f"nor its feature lookups provide. The DataFrame has {df.columns}."
        )
    if prediction_col in joined.columns:
        raise DataError(f"The DataFrame already has a {prediction_col!r} column; pass prediction_col=... .")
    predict = prediction_udf(model_uri, result_type=result_type, spark=client.spark)
    doubles = set()
    if info.signature is not None and info.signature.inputs is not None:
        doubles = {
            spec_col.name for spec_col in info.signature.inputs.inputs
            if str(getattr(spec_col, "type", "")).lower().endswith(("double", "float"))
        }
    inputs = [F.col(c).cast("double") if c in doubles else F.col(c) for c in columns]
    return joined.withColumn(prediction_col, predict(*inputs))

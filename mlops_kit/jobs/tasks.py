"""What the pipeline's job notebooks do, as plain functions.

The job notebooks (``notebooks/jobs/etl``, ``featurize``, ``train``,
``monitor``) are thin: a ``parameters`` cell, then one call here per step, so
the same logic is unit-tested, reused by lessons and readable in a notebook.
Every function takes the workspace of one env (``dev``, ``staging``,
``prod``): tables, experiments and registered model names come from it, so a
job run with ``--env prod`` never touches dev's data or models.

The ETL, training and monitoring steps read and write Delta through the
delta-rs side of :mod:`mlops_kit.tables` (no JVM): a job that only trains or
monitors starts in a couple of seconds instead of paying Spark's start-up.
Featurization reads through the Spark side and writes feature tables through
the feature store (a MERGE on Spark).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_kit.exceptions import ConfigError, DataError, NotFoundError
from mlops_kit.jobs.runner import run_notebook
from mlops_kit.serving.inference_log import read_inference_log
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["land_listings", "ensure_listings", "read_table_version", "build_listing_features", "TrainOutcome",
           "train_and_validate", "champion_reference", "read_inference_log", "retrain_parameters",
           "champion_performance", "launch_retraining", "send_requests"]

#: the listing feature table the featurize job maintains
LISTING_FEATURES = "listing_features"


# ----------------------------------------------------------------------- ETL
def land_listings(frame: "pd.DataFrame", *, table: str = "listings", mode: str = "overwrite",
                  workspace: Workspace | None = None) -> int:
    """Write listings to the env's Delta table with delta-rs; returns the new version.

    ``overwrite`` replaces the rows with a new version (the old one stays
    readable by time travel), ``append`` adds them.
    """
    from mlops_kit.tables.delta_rs import DeltaRsTables

    tables = DeltaRsTables(workspace or get_workspace())
    if mode == "overwrite":
        return tables.overwrite(table, frame, overwrite_schema=True)
    if mode == "append":
        return tables.append(table, frame)
    raise ConfigError(f"mode must be 'overwrite' or 'append'. Got {mode!r} instead.")


def ensure_listings(table: str = "listings", *, rows: int = 2000, seed: int = 42,
                    workspace: Workspace | None = None) -> int:
    """The table's version; in an env without it, land the ETL job's default listings first.

    Lets the training and featurize jobs run on a fresh env (a learner's
    first run, a test); a scheduled prod job passes ``create_missing=False``
    to its notebook and fails loudly instead.
    """
    from mlops_kit.datasets import listings
    from mlops_kit.tables.delta_rs import DeltaRsTables

    ws = workspace or get_workspace()
    tables = DeltaRsTables(ws)
    if tables.exists(table):
        return tables.version(table)
    return land_listings(listings(rows, seed=seed), table=table, workspace=ws)


def read_table_version(table: str, *, version: int | None = None,
                       workspace: Workspace | None = None) -> tuple["pd.DataFrame", int, str]:
    """Rows, version and path of an env's Delta table (latest version by default).

    Raises
    ------
    NotFoundError
        The table does not exist in this env: run the ETL job first.
    """
    from mlops_kit.tables.delta_rs import DeltaRsTables

    ws = workspace or get_workspace()
    tables = DeltaRsTables(ws)
    path = tables.path(table)
    if not tables.exists(path):
        raise NotFoundError(
            f"No Delta table {table!r} in env {ws.env!r} (looked at {path}). "
            f"Run the ETL job first: mlops-kit pipeline run etl --env {ws.env}"
        )
    frame, read_version = tables.snapshot(path, version)
    return frame, read_version, path


# --------------------------------------------------------------- featurize
def build_listing_features(*, table: str = "listings", feature_table: str = LISTING_FEATURES,
                           workspace: Workspace | None = None):
    """Derive per-listing features and upsert them into the env's feature store.

    Features: capacity ratios and a review flag, keyed by ``id``. The first
    run creates the table; later runs MERGE, so re-running is idempotent.
    Returns the :class:`~mlops_kit.features.FeatureTable`.
    """
    from pyspark.sql import functions as F

    from mlops_kit.features import FeatureStoreClient
    from mlops_kit.spark import get_spark
    from mlops_kit.tables.spark_side import SparkTables

    ws = workspace or get_workspace()
    spark = get_spark()
    listings = SparkTables(ws, spark=spark).read(table)
    features = listings.select(
        "id",
        (F.col("accommodates") / F.greatest(F.col("bedrooms"), F.lit(1))).alias("guests_per_bedroom"),
        (F.col("beds") / F.col("accommodates")).alias("beds_per_guest"),
        (F.col("number_of_reviews") > 0).alias("has_reviews"),
        F.coalesce(F.col("review_scores_rating"), F.lit(0.0)).alias("rating_or_zero"),
    )
    fs = FeatureStoreClient(ws, spark=spark)
    if fs.metadata.exists(feature_table):
        return fs.write_table(feature_table, features, mode="merge")
    return fs.create_table(feature_table, "id", features,
                           description="Per-listing capacity and review features (featurize job)")


# ------------------------------------------------------------------ training
@dataclass
class TrainOutcome:
    """What :func:`train_and_validate` did: the version, its data, the verdict."""

    model_name: str
    version: str
    data_source: str
    data_version: int
    metrics: dict[str, float]
    validation: Any
    aliases: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.validation.passed)

    def summary(self) -> dict[str, Any]:
        """One flat dict: what a job prints last and a test asserts on."""
        return {"model": self.model_name, "version": self.version,
                "data": f"{self.data_source}@v{self.data_version}",
                "rmse": round(self.metrics["rmse"], 2), "validation": self.validation.status,
                "aliases": ",".join(self.aliases)}


def train_and_validate(
    *,
    table: str = "listings",
    model: str = "price",
    kind: str = "ridge",
    holdout_fraction: float = 0.2,
    seed: int = 0,
    thresholds: Any = None,
    bootstrap_champion: bool = True,
    trigger: str = "manual",
    workspace: Workspace | None = None,
) -> TrainOutcome:
    """Train on the env's table, register, validate, and set ``challenger`` if valid.

    Parameters
    ----------
    table : str
        The env's listings table; its Delta version is logged with the run.
    model : str
        Short model name, registered as ``<env>.<user>.<model>``.
    holdout_fraction : float
        Share of the table kept out of training to validate on: it comes
        from the same (current) data, so after drift the champion is judged
        on the data it now faces.
    thresholds : Thresholds, optional
        Validation limits (:class:`~mlops_kit.registry.validation.Thresholds`).
    bootstrap_champion : bool
        When the env has no champion yet, promote a valid first version to
        ``champion`` too (with an audit entry), so scoring can start.
    trigger : str
        Why this run happened (``manual``, ``schedule``, ``drift: ...``),
        tagged on the new version.
    """
    from mlflow import MlflowClient

    from mlops_kit.registry.promotion import current_alias_version, promote
    from mlops_kit.registry.validation import record_validation, validate_model_version
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET, train_price_model

    ws = workspace or get_workspace()
    data, version, path = read_table_version(table, workspace=ws)
    if len(data) < 50:
        raise DataError(f"The table {table!r} has {len(data)} rows; training needs at least 50.")
    holdout = data.sample(frac=holdout_fraction, random_state=seed)
    train = data.drop(holdout.index)
    trained = train_price_model(train, kind=kind, model_name=model, data_source=path,
                                data_version=version, seed=seed, workspace=ws)
    MlflowClient().set_model_version_tag(trained.name, trained.version, "trigger", trigger)
    columns = NUMERIC_FEATURES + CATEGORICAL_FEATURES + [TARGET]
    ws.set_experiment("model_validation")
    import mlflow

    with mlflow.start_run(run_name=f"validate {trained.name} v{trained.version}"):
        report = validate_model_version(trained.name, trained.version, holdout[columns],
                                        thresholds=thresholds)
    record_validation(report)
    if report.passed and bootstrap_champion and current_alias_version(trained.name, "champion") is None:
        promote(trained.name, trained.version, "champion",
                reason=f"first validated model in {ws.env}: nothing to compare with")
    aliases = MlflowClient().get_model_version(trained.name, trained.version).aliases
    return TrainOutcome(trained.name, trained.version, path, version, trained.metrics, report,
                        sorted(aliases))


# ---------------------------------------------------------------- monitoring
def champion_reference(model: str = "price", *, alias: str = "champion",
                       workspace: Workspace | None = None) -> tuple["pd.DataFrame", dict[str, str]]:
    """The exact rows the served model was trained on, from its run's lineage.

    The training run logged ``data_source`` and ``data_version``; Delta time
    travel gives back that version, whatever was written since.

    Returns
    -------
    (pandas.DataFrame, dict)
        The reference rows, and ``{"model", "version", "data_source", "data_version"}``.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops_kit.tables.delta_rs import DeltaRsTables

    ws = workspace or get_workspace()
    name = ws.model_name(model)
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        raise NotFoundError(
            f"{name} has no {alias!r} version in env {ws.env!r}. "
            f"Train one first: mlops-kit pipeline run training --env {ws.env}"
        ) from err
    params = client.get_run(version.run_id).data.params
    if "data_source" not in params:
        raise DataError(
            f"{name} v{version.version} was logged without data_source/data_version, so its "
            "training data cannot be found. Retrain it with the train job."
        )
    source, data_version = params["data_source"], int(params["data_version"])
    frame, _ = DeltaRsTables(ws).snapshot(source, data_version)
    return frame, {"model": name, "version": str(version.version), "data_source": source,
                   "data_version": str(data_version)}


def champion_performance(model: str, labelled: "pd.DataFrame", *, alias: str = "champion",
                         tolerance: float = 0.25, workspace: Workspace | None = None):
    """The served model's RMSE on labels that arrived since it was trained, against its own.

    The reference is the RMSE the training run logged on its holdout; the
    current value is the RMSE of the ``alias`` version on ``labelled`` (the
    features and the ``price`` that came in later). ``tolerance`` is the
    relative growth tolerated: listings prices are noisy, so a model is
    judged worse only when its error grew by more than a quarter.

    Returns
    -------
    PerformanceDrift
        :func:`mlops_kit.monitoring.performance_drift`'s verdict.
    """
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit.monitoring import performance_drift
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET

    ws = workspace or get_workspace()
    name = ws.model_name(model)
    client = MlflowClient()
    version = client.get_model_version_by_alias(name, alias)
    logged = client.get_run(version.run_id).data.metrics
    if "rmse" not in logged:
        raise DataError(f"{name} v{version.version} logged no rmse to compare with; retrain it "
                        "with the train job.")
    served = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    rows = labelled.dropna(subset=[TARGET])
    predicted = served.predict(rows[NUMERIC_FEATURES + CATEGORICAL_FEATURES])
    return performance_drift(logged["rmse"], rows[TARGET].to_numpy(), predicted,
                             metric="rmse", tolerance=tolerance)


def send_requests(url: str, frame: "pd.DataFrame", *, batch_size: int = 50,
                  headers: dict[str, str] | None = None, timeout: float = 30.0) -> int:
    """POST ``frame`` to a scoring endpoint in ``dataframe_split`` batches; returns rows scored.

    Traffic for the closed loop: every answered row lands in the endpoint's
    inference table. Missing values go as JSON ``null``.
    """
    import httpx

    scored = 0
    with httpx.Client(timeout=timeout, headers=headers or {}) as client:
        for start in range(0, len(frame), batch_size):
            chunk = frame.iloc[start:start + batch_size]
            body = '{"dataframe_split": ' + chunk.to_json(orient="split", index=False) + "}"
            response = client.post(url, content=body,
                                   headers={"Content-Type": "application/json"})
            if response.status_code != 200:
                raise DataError(f"The endpoint answered {response.status_code} to rows "
                                f"{start}-{start + len(chunk) - 1}: {response.text[:300]}")
            scored += len(chunk)
    return scored


#: the job notebook the monitoring job starts on drift
RETRAIN_JOB = "jobs/train"


def retrain_parameters(reason: str = "drift", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The training job's parameters for a retraining: its ``trigger`` and any ``extra``."""
    return {"trigger": reason, **(extra or {})}


def launch_retraining(env: str, *, reason: str = "drift", extra: dict[str, Any] | None = None,
                      timeout: float = 900) -> str:
    """Run the training job in ``env`` through the job runner, as a scheduler would.

    The job runs in its own kernel (:func:`mlops_kit.jobs.runner.run_notebook`)
    with ``trigger=reason``; returns one line naming the executed copy.

    Raises
    ------
    JobFailedError
        The training job failed: the failing cell, its error and the executed copy.
    """
    from mlops_kit.spark_server import shared_server

    with shared_server():  # a Spark server it starts is stopped after; a running one stays
        result = run_notebook(RETRAIN_JOB, retrain_parameters(reason, extra), env=env,
                              timeout=timeout)
    return f"{RETRAIN_JOB} ran in {env} in {result.seconds:.0f} s ({reason}): {result.path}"

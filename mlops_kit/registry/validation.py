"""The checks of the model-validation job: each one can fail, and says why.

A new model version is not trusted because it was registered. The validation
job (``notebooks/jobs/validate_model.ipynb``, run by the webhook receiver on
``model_version.created``) calls :func:`validate_model_version`, which runs

==============  ==============================================================
``signature``   the model has a signature whose inputs are the training columns
``input_example`` the logged input example loads and the model predicts on it
``description`` the version (or its model) has a description
``metrics``     holdout metrics (``mlflow.models.evaluate``) meet the thresholds
``champion``    on the same holdout it is not worse than the ``champion`` alias
``latency``     single-row prediction p50 is under the budget
==============  ==============================================================

and :func:`record_validation` writes one tag per check on the version
(``validation.<check>`` = ``passed`` or ``failed: <reason>``), an overall
``validation.status``, and moves the ``challenger`` alias to the version only
when every check passed. A check that raises is a failed check with the error
as reason: a broken model gets a full report, not a traceback.

Unlike the original course's test job, which compared ``list.sort()`` results
(``None == None``) and could never fail, every check here has a test that makes
it fail.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from mlops_kit.exceptions import ConfigError, DataError
from mlops_kit.registry.info import model_info
from mlops_kit.registry.loading import load_pyfunc

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from mlflow import MlflowClient

__all__ = [
    "CHECKS",
    "CheckOutcome",
    "ValidationReport",
    "Thresholds",
    "validate_model_version",
    "record_validation",
]

CHECKS: tuple[str, ...] = (
    "signature", "input_example", "description", "metrics", "champion", "latency",
)
#: longest reason kept in a tag (MLflow tag values are limited, reports are not)
_MAX_REASON = 480


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict."""

    name: str
    passed: bool
    reason: str

    @property
    def tag_value(self) -> str:
        """``passed`` or ``failed: <reason>``, as written to the model version."""
        if self.passed:
            return "passed"
        reason = " ".join(self.reason.split())
        if len(reason) > _MAX_REASON:
            reason = reason[: _MAX_REASON - 3] + "..."
        return f"failed: {reason}"


@dataclass
class ValidationReport:
    """All checks of one model version, plus the metrics they measured."""

    name: str
    version: str
    checks: list[CheckOutcome] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    def tags(self) -> dict[str, str]:
        """The tags :func:`record_validation` writes."""
        tags = {f"validation.{c.name}": c.tag_value for c in self.checks}
        tags["validation.status"] = self.status
        return tags

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(
            [(c.name, "passed" if c.passed else "failed", c.reason) for c in self.checks],
            columns=["check", "result", "reason"],
        )


@dataclass(frozen=True)
class Thresholds:
    """What a version must reach to become ``challenger``.

    Parameters
    ----------
    max_rmse : float
        Holdout root-mean-squared error must be at most this.
    min_r2 : float
        Holdout R² must be at least this.
    champion_tolerance : float
        Relative slack against the champion's RMSE (0.05: up to 5 % worse passes).
    latency_budget_ms : float
        Single-row prediction p50, in milliseconds.
    """

    max_rmse: float = 150.0
    min_r2: float = 0.3
    champion_tolerance: float = 0.0
    latency_budget_ms: float = 50.0

    def __post_init__(self) -> None:
        for name in ("max_rmse", "latency_budget_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"The {name!r} threshold must be a positive number. "
                    f"Got {getattr(self, name)!r} instead."
                )
        if self.champion_tolerance < 0:
            raise ConfigError(
                "The 'champion_tolerance' threshold must be >= 0 (0.05 = 5 % slack). "
                f"Got {self.champion_tolerance!r} instead."
            )


# ------------------------------------------------------------------ checks
def check_signature(model_info: Any, feature_columns: list[str]) -> CheckOutcome:
    """The signature exists and its inputs are exactly the training columns."""
    signature = model_info.signature
    if signature is None or signature.inputs is None:
        return CheckOutcome("signature", False, "the model was logged without a signature")
    names = signature.inputs.input_names()
    missing = [c for c in feature_columns if c not in names]
    extra = [c for c in names if c not in feature_columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks training columns {missing}")
        if extra:
            parts.append(f"has columns the training data does not {extra}")
        return CheckOutcome("signature", False, "the signature " + " and ".join(parts))
    return CheckOutcome("signature", True, f"{len(names)} input columns match the training schema")


def check_input_example(model: Any) -> CheckOutcome:
    """The logged input example loads and the model predicts on it."""
    example = model.input_example
    if example is None:
        return CheckOutcome("input_example", False, "the model was logged without an input example")
    predictions = model.predict(example)
    count = len(predictions)
    if count != len(example):
        return CheckOutcome(
            "input_example", False,
            f"{len(example)} example rows gave {count} predictions",
        )
    return CheckOutcome("input_example", True, f"predicted {count} example row(s)")


def check_description(version: Any, registered_model: Any) -> CheckOutcome:
    """Someone wrote down what this version is (version or model description)."""
    text = (version.description or "").strip() or (registered_model.description or "").strip()
    if len(text) < 10:
        return CheckOutcome(
            "description", False,
            "the version has no description (at least 10 characters saying what changed)",
        )
    return CheckOutcome("description", True, f"{len(text)} characters")


def _evaluate(model: Any, holdout: "pd.DataFrame", target: str) -> Any:
    """``mlflow.models.evaluate`` of a loaded pyfunc (loading it again would cost a second load)."""
    import mlflow

    from mlops_kit._price_model import declared_signature

    data = mlflow.data.from_pandas(holdout, targets=target)
    # The holdout is logged as the run's input with its column types. They are
    # declared from the frame's dtypes (integer columns as integers) before
    # MLflow would infer them and flag every integer column as a possible gap.
    data.__dict__["schema"] = declared_signature(holdout, None).inputs
    return mlflow.models.evaluate(
        model,
        data,
        model_type="regressor",
        evaluator_config={"log_model_explainability": False},
    )


def _evaluate_champion(model_uri: str, version: str, holdout: "pd.DataFrame",
                       target: str) -> Any:
    """The champion's metrics on the same holdout rows, given the inputs *it* declares.

    A new version may take other inputs than the champion it is compared with
    (a feature was added); each model is scored on its own columns of the same
    rows. A champion needing a column the holdout lacks cannot be compared.
    """
    signature = model_info(model_uri).signature  # metadata only: load it once it can be compared
    columns = list(signature.inputs.input_names()) if signature is not None else None
    if columns:
        missing = [c for c in columns if c not in holdout.columns]
        if missing:
            raise DataError(
                f"champion v{version} needs the columns {missing}, which this table lacks: "
                "the two versions cannot be compared on the same rows"
            )
        holdout = holdout[[*columns, target]]
    return _evaluate(load_pyfunc(model_uri), holdout, target)


def check_metrics(result: Any, thresholds: Thresholds) -> CheckOutcome:
    """Holdout RMSE and R² meet the absolute thresholds (``MetricThreshold``)."""
    import mlflow
    from mlflow.models import MetricThreshold

    gates = {
        "root_mean_squared_error": MetricThreshold(
            threshold=thresholds.max_rmse, greater_is_better=False
        ),
        "r2_score": MetricThreshold(threshold=thresholds.min_r2, greater_is_better=True),
    }
    found = (f"rmse={result.metrics['root_mean_squared_error']:.2f}, "
             f"r2={result.metrics['r2_score']:.3f}")
    try:
        mlflow.validate_evaluation_results(gates, result)
    except mlflow.models.evaluation.validation.ModelValidationFailedException as err:
        return CheckOutcome("metrics", False, f"{found}: {err}")
    return CheckOutcome(
        "metrics", True,
        f"{found} (limits rmse<={thresholds.max_rmse}, r2>={thresholds.min_r2})",
    )


def check_champion(result: Any, champion_result: Any | None, champion_version: str | None,
                   thresholds: Thresholds) -> CheckOutcome:
    """Not worse than the champion on the same holdout (RMSE, with tolerance)."""
    import mlflow
    from mlflow.models import MetricThreshold

    if champion_result is None:
        return CheckOutcome("champion", True, "no champion yet: nothing to compare with")
    rmse = "root_mean_squared_error"
    limit = champion_result.metrics[rmse] * (1 + thresholds.champion_tolerance)
    gates = {rmse: MetricThreshold(threshold=limit, greater_is_better=False)}
    summary = (f"rmse {result.metrics[rmse]:.2f} vs champion v{champion_version} "
               f"{champion_result.metrics[rmse]:.2f}")
    try:
        mlflow.validate_evaluation_results(gates, result)
    except mlflow.models.evaluation.validation.ModelValidationFailedException:
        return CheckOutcome("champion", False, f"worse than the champion: {summary}")
    return CheckOutcome("champion", True, summary)


def check_latency(model: Any, row: "pd.DataFrame", budget_ms: float,
                  repeats: int = 30) -> CheckOutcome:
    """Single-row ``predict`` p50 (after one warm-up call) is under the budget."""
    model.predict(row)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(row)
        timings.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(timings)
    verdict = p50 <= budget_ms
    return CheckOutcome(
        "latency", verdict,
        f"single-row p50 {p50:.1f} ms {'<=' if verdict else '>'} budget {budget_ms:g} ms",
    )


def _failure(name: str, err: Exception) -> CheckOutcome:
    text = str(err).strip()
    if "Error:" in text:  # MLflow schema errors print the whole frame before the reason
        text = text.rsplit("Error:", 1)[1].strip()
    message = text.splitlines()[0] if text else type(err).__name__
    return CheckOutcome(name, False, f"{type(err).__name__}: {message}")


def _guarded(name: str, func: Callable[[], CheckOutcome]) -> CheckOutcome:
    try:
        return func()
    except Exception as err:  # a broken model fails the check, with the reason
        return _failure(name, err)


# ------------------------------------------------------------------ the job
def _champion_version(client: "MlflowClient", name: str, version: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None
    return None if str(champion.version) == str(version) else str(champion.version)


def validate_model_version(
    name: str,
    version: str | int,
    holdout: "pd.DataFrame",
    *,
    target: str = "price",
    thresholds: Thresholds | None = None,
    client: "MlflowClient | None" = None,
) -> ValidationReport:
    """Run every check of :data:`CHECKS` on ``models:/<name>/<version>``.

    Parameters
    ----------
    name, version : str
        The registered model version to validate.
    holdout : pandas.DataFrame
        Rows the model never saw, with the training columns and ``target``.
    target : str
        The label column of ``holdout``.
    thresholds : Thresholds, optional
        Limits; :class:`Thresholds` defaults when omitted.
    client : MlflowClient, optional
        Registry client (default: the current tracking/registry URI).

    Returns
    -------
    ValidationReport
        Checks in :data:`CHECKS` order; nothing is written (see :func:`record_validation`).
    """
    from mlflow import MlflowClient

    if target not in holdout.columns:
        raise ConfigError(
            f"The holdout frame has no target column {target!r}. "
            f"Got columns {list(holdout.columns)}. Pass target=<label column>."
        )
    thresholds = thresholds or Thresholds()
    client = client or MlflowClient()
    version = str(version)
    uri = f"models:/{name}/{version}"
    model_version = client.get_model_version(name, version)
    registered = client.get_registered_model(name)
    features = [c for c in holdout.columns if c != target]
    report = ValidationReport(name, version)

    model = load_pyfunc(uri)
    report.checks.append(_guarded("signature", lambda: check_signature(model.metadata, features)))
    report.checks.append(_guarded("input_example", lambda: check_input_example(model)))
    report.checks.append(_guarded("description",
                                  lambda: check_description(model_version, registered)))

    result = champion_result = None
    try:
        result = _evaluate(model, holdout, target)
        report.metrics = {k: float(v) for k, v in result.metrics.items()
                          if isinstance(v, (int, float))}
    except Exception as err:
        report.checks.append(_failure("metrics", err))
        report.checks.append(CheckOutcome(
            "champion", False, "not compared: the model could not be evaluated on the holdout"
        ))
    if result is not None:
        report.checks.append(_guarded("metrics", lambda: check_metrics(result, thresholds)))
        champion = _champion_version(client, name, version)
        try:
            if champion is not None:
                champion_result = _evaluate_champion(
                    f"models:/{name}/{champion}", champion, holdout, target)
        except Exception as err:  # the comparison fails, with the reason; the job goes on
            report.checks.append(_failure("champion", err))
        else:
            report.checks.append(_guarded(
                "champion", lambda: check_champion(result, champion_result, champion, thresholds)
            ))
    row = holdout[features].head(1)
    report.checks.append(_guarded(
        "latency", lambda: check_latency(model, row, thresholds.latency_budget_ms)
    ))
    return report


def record_validation(
    report: ValidationReport, *, client: "MlflowClient | None" = None, alias: str = "challenger"
) -> dict[str, str]:
    """Write the report as version tags; point ``alias`` at it only if all passed.

    Returns the tags written.
    """
    from mlflow import MlflowClient

    client = client or MlflowClient()
    tags = report.tags()
    for key, value in tags.items():
        client.set_model_version_tag(report.name, report.version, key, value)
    if report.passed:
        client.set_registered_model_alias(report.name, alias, report.version)
    return tags

"""Traffic for rollout lessons: users hitting a routed endpoint, and a model that breaks.

- :func:`send_traffic` posts rows to an endpoint (optionally as given users,
  ``X-User-Id``) and returns one row per request: user, deployment, status,
  round-trip milliseconds;
- :func:`simulate_outcomes` turns those assignments into conversions with a
  known true lift for the challenger, so an A/B analysis can be checked
  against the truth;
- :func:`register_faulty_model` registers a pyfunc that fails on some inputs,
  the canary that must be rolled back.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["send_traffic", "simulate_outcomes", "register_faulty_model", "FaultyModel"]


def send_traffic(endpoint: Any, rows: "pd.DataFrame", n: int, *,
                 users: Sequence[Any] | None = None, seed: int = 0) -> "pd.DataFrame":
    """Post ``n`` single-row requests (row ``i % len(rows)``); never raises on 4xx/5xx."""
    import httpx
    import numpy as np
    import pandas as pd

    records = rows.replace({np.nan: None}).to_dict(orient="records")
    rng = np.random.default_rng(seed)
    out = []
    with httpx.Client(base_url=endpoint.url, headers=endpoint.headers, timeout=30) as client:
        for i in range(n):
            user = None if users is None else str(users[i % len(users)])
            headers = {"x-user-id": user} if user is not None else {}
            t0 = time.perf_counter()
            response = client.post("/invocations", headers=headers,
                                   json={"dataframe_records": [records[rng.integers(len(records))]]})
            out.append({"user_id": user, "deployment": response.headers.get("x-deployment"),
                        "status": response.status_code,
                        "ms": (time.perf_counter() - t0) * 1000})
    return pd.DataFrame(out)


def simulate_outcomes(assignments: "pd.DataFrame", *, treatment: str = "challenger",
                      baseline_rate: float = 0.10, lift: float = 0.10,
                      seed: int = 0) -> "pd.DataFrame":
    """One row per user with ``variant`` (its deployment) and ``converted`` (0/1).

    Users of ``treatment`` convert at ``baseline_rate * (1 + lift)``, others at
    ``baseline_rate``: the true relative lift is ``lift``.
    """
    import numpy as np

    users = assignments.dropna(subset=["user_id"]).drop_duplicates("user_id")
    rate = np.where(users["deployment"] == treatment, baseline_rate * (1 + lift), baseline_rate)
    rng = np.random.default_rng(seed)
    return users.assign(variant=users["deployment"],
                        converted=(rng.random(len(users)) < rate).astype(int))[
        ["user_id", "variant", "converted"]].reset_index(drop=True)


def _faulty_base():
    import mlflow
    import pandas as pd

    class FaultyModel(mlflow.pyfunc.PythonModel):
        """Answers 100.0, but raises on listings with ``accommodates >= threshold``."""

        def __init__(self, threshold: int = 4) -> None:
            self.threshold = threshold

        def predict(self, context, model_input, params=None):
            if (model_input["accommodates"] >= self.threshold).any():
                raise RuntimeError(f"cannot price listings for {self.threshold}+ guests")
            return [100.0] * len(model_input)

        # MLflow reads predict's input type hint when the class is made; a string
        # annotation (this module's __future__ import) would not resolve in here
        predict.__annotations__["model_input"] = pd.DataFrame

    return FaultyModel


def FaultyModel(threshold: int = 4):  # noqa: N802 - reads as a class at the call site
    """A pyfunc model that fails on big listings (built lazily: mlflow is heavy)."""
    return _faulty_base()(threshold)


def register_faulty_model(name: str, data: "pd.DataFrame", *, threshold: int = 4,
                          alias: str | None = None) -> str:
    """Register :func:`FaultyModel` under ``name`` (same signature as ``data``); return its version."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlops_kit.workspace import get_workspace

    get_workspace().set_experiment("rollout")
    from mlops_kit._price_model import declared_signature, pip_requirements

    signature = declared_signature(data, [1.0] * len(data))
    answered = data[data["accommodates"] < threshold] if "accommodates" in data else data
    example = (answered if len(answered) else data).head(3)  # rows it prices, if any
    with mlflow.start_run(run_name="faulty-model"):
        info = mlflow.pyfunc.log_model(name="model", python_model=FaultyModel(threshold),
                                       registered_model_name=name, signature=signature,
                                       input_example=example, pip_requirements=pip_requirements())
    version = str(info.registered_model_version)
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, version)
    return version

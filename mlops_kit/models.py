"""Helpers for the MLflow models lesson: a price model, a custom pyfunc that
carries its own preprocessing, and honest measurements of what that costs.

Two ways to ship preprocessing:

* **before training** (in the feature pipeline): the model sees clean,
  derived columns; every caller (batch job, endpoint, app) must repeat the
  exact transformation, and a change to it means recomputing the features;
* **inside the model** (:class:`PreprocessedPriceModel`, a custom
  ``mlflow.pyfunc.PythonModel``): callers send raw rows and the model
  transforms them with the configuration it was logged with (a JSON artifact),
  at the price of a little latency per call.

:func:`predict_in_fresh_process` proves a logged model needs nothing from the
notebook that trained it: it loads and predicts in a new Python process.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow.pyfunc  # noqa: F401  (PythonModel base class; this module is lesson-only)
import pandas as pd  # loaded by mlflow.pyfunc already; predict's type hint names it
from mlflow.pyfunc import PythonModel

from mlops_kit._price_model import (
    NUMERIC_FEATURES, TARGET, declared_signature, numeric_steps, pip_requirements, regressor,
    require_columns, trusted_types,
)
from mlops_kit.exceptions import DataError

__all__ = [
    "FEATURES",
    "TARGET",
    "listings_frame",
    "train_price_model",
    "trusted_types",
    "pip_requirements",
    "declared_signature",
    "log_price_model",
    "preprocess",
    "default_preprocessing_config",
    "PreprocessedPriceModel",
    "predict_latency_ms",
    "directory_size_kb",
    "folder_files_kb",
    "skops_contents_kb",
    "predict_in_fresh_process",
]

#: raw listing columns the price models are trained on (the numeric ones:
#: :class:`PreprocessedPriceModel` does arithmetic on every column)
FEATURES: list[str] = list(NUMERIC_FEATURES)


def listings_frame(n: int = 2000, seed: int = 42) -> "pd.DataFrame":
    """Listings from :mod:`mlops_kit.datasets` (pandas), features and price only."""
    from mlops_kit.datasets import listings

    make = getattr(listings, "listings", listings)  # module or function
    return make(n, seed)[FEATURES + [TARGET]]


def train_price_model(frame: "pd.DataFrame", *, alpha: float = 1.0, features: list[str] | None = None):
    """Impute, scale, Ridge on ``features`` (a linear pipeline: skops loads it safely).

    Fitted on every row: this lesson is about logging and loading models, and
    the registry lessons that use it score it on data of their own.
    """
    from sklearn.pipeline import make_pipeline

    columns = features or FEATURES
    require_columns(frame, columns + [TARGET], what="training frame",
                    hint="Build it with listings_frame().")
    pipeline = make_pipeline(*numeric_steps(), regressor("ridge", alpha=alpha))
    return pipeline.fit(frame[columns], frame[TARGET])


def log_price_model(
    model: Any,
    frame: "pd.DataFrame",
    *,
    registered_model_name: str | None = None,
    features: list[str] | None = None,
    name: str = "model",
):
    """Log a sklearn price model with signature, input example and trusted types.

    Call inside ``mlflow.start_run()``; returns MLflow's ``ModelInfo``.
    """
    import mlflow.sklearn

    X = frame[features or FEATURES]
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=declared_signature(X, model.predict(X)),
        input_example=X.head(3),
        registered_model_name=registered_model_name,
        skops_trusted_types=trusted_types(model),
        pip_requirements=pip_requirements(),
    )


# ------------------------------------------------------------ preprocessing
def default_preprocessing_config(frame: "pd.DataFrame") -> dict[str, Any]:
    """Fill values and clip bounds learned from training rows (saved as a JSON artifact)."""
    return {
        "features": FEATURES,
        "fill_values": {c: float(frame[c].median()) for c in FEATURES},
        "clip": {"minimum_nights": [1, 30], "accommodates": [1, 16]},
        "log1p": ["number_of_reviews", "minimum_nights"],
        "derived": {"beds_per_guest": ["beds", "accommodates"]},
    }


def preprocess(frame: "pd.DataFrame", config: dict[str, Any]) -> "pd.DataFrame":
    """Impute, clip, log-transform and derive columns as ``config`` says."""
    import numpy as np

    out = frame[config["features"]].astype("float64").fillna(config["fill_values"])
    for column, (low, high) in config["clip"].items():
        out[column] = out[column].clip(low, high)
    for column in config["log1p"]:
        out[column] = np.log1p(out[column])
    for name, (numerator, denominator) in config["derived"].items():
        out[name] = out[numerator] / out[denominator].where(out[denominator] > 0, 1.0)
    return out


class PreprocessedPriceModel(PythonModel):
    """A pyfunc that takes raw listing rows and does its own preprocessing.

    The fitted estimator is pickled with the model; the preprocessing
    configuration is a separate ``preprocessing`` JSON artifact, read in
    :meth:`load_context`, so a reader of the model directory can see it.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.config: dict[str, Any] | None = None

    def load_context(self, context) -> None:
        self.config = json.loads(Path(context.artifacts["preprocessing"]).read_text())

    # The type hint tells MLflow the input is a DataFrame; the columns and
    # their types come from the signature given to log_model, as for any model.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.estimator.predict(preprocess(model_input, self.config))


# ------------------------------------------------------------ measurements
def predict_latency_ms(predict, row: "pd.DataFrame", repeats: int = 50) -> dict[str, float]:
    """p50 and p95 of ``predict(row)`` in milliseconds, after one warm-up call."""
    predict(row)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(row)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2),
    }


def directory_size_kb(path: str | Path) -> float:
    """Total size of the files under ``path`` (a downloaded model directory)."""
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1024, 1)


def folder_files_kb(folders: dict[str, str | Path]) -> "pd.DataFrame":
    """The files of each model folder and their sizes in KB, side by side, with a total.

    ``folders`` maps a column name to a downloaded model directory; a file one
    folder lacks shows an empty cell.
    """
    sizes = {
        label: {str(p.relative_to(root)): p.stat().st_size / 1024
                for p in sorted(Path(root).rglob("*")) if p.is_file()}
        for label, root in folders.items()
    }
    table = pd.DataFrame(sizes)
    table = table.loc[table.max(axis=1).sort_values(ascending=False).index]
    table.loc["total"] = table.sum()
    table = table.round(1)
    return table.astype(object).where(table.notna(), "")


def skops_contents_kb(path: str | Path) -> dict[str, float]:
    """What a ``.skops`` file is made of, in KB: ``schema.json`` and the fitted arrays.

    A skops file is a zip archive: every fitted array as a ``.npy`` member,
    plus ``schema.json``, which describes each object and attribute so that
    skops can check the types against a trusted list before building anything.
    """
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    schema = sum(m.file_size for m in members if m.filename == "schema.json")
    arrays = sum(m.file_size for m in members if m.filename.endswith(".npy"))
    return {"schema.json": round(schema / 1024, 1), "arrays": round(arrays / 1024, 1),
            "file": round(Path(path).stat().st_size / 1024, 1)}


_FRESH = """
import json, sys
import mlflow, pandas as pd
spec = json.load(sys.stdin)
mlflow.set_tracking_uri(spec["tracking_uri"])
model = mlflow.pyfunc.load_model(spec["model_uri"])
frame = pd.DataFrame(spec["rows"])
print(json.dumps([p.item() if hasattr(p, "item") else p for p in list(model.predict(frame))]))
"""


def predict_in_fresh_process(model_uri: str, frame: "pd.DataFrame", *, timeout: float = 120) -> list:
    """Load ``model_uri`` in a new Python process and predict ``frame`` there.

    Nothing of the current session (imports, classes defined in a notebook,
    fitted objects) is available to that process: if this works, the model
    directory is self-contained.
    """
    spec = {
        "tracking_uri": mlflow.get_tracking_uri(),
        "model_uri": model_uri,
        "rows": json.loads(frame.to_json(orient="records")),
    }
    done = subprocess.run(
        [sys.executable, "-c", _FRESH], input=json.dumps(spec), capture_output=True,
        text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise DataError(
            f"Loading {model_uri} in a fresh process failed:\n{done.stderr.strip()[-1500:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])

"""Imports a course or job kernel is about to need, done before its first cell.

A kernel's first MLflow, scikit-learn, skops and SciPy imports cost several
seconds on a small machine, in every lesson and every job a lesson starts.
:mod:`mlops_kit.jobs._execute` runs :func:`import_common` in a kernel while
the notebook before it still runs, so those seconds overlap that notebook
instead of adding to the course. Only imports: no names are bound in the
learner's namespace, nothing is printed, no Spark session or MLflow run is
opened.
"""
from __future__ import annotations

import importlib

__all__ = ["COMMON_MODULES", "import_common"]

#: modules most lessons and jobs import, heaviest first-import cost first
COMMON_MODULES = (
    "mlops_kit.workspace",  # the kit's settings (first, so MLflow's telemetry stays off)
    "mlflow",  # what ``%load_ext mlops_kit`` spends most of its time on
    "mlflow.store.tracking.sqlalchemy_store",  # the first MLflow client on a SQLite store
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "skops.io",  # MLflow saves scikit-learn models with skops: 2 s of its own at first import
    "scipy.stats",  # MLflow's model validation and the kit's drift tests
    "pyspark.sql",
    "pyspark.sql.connect.session",
    "matplotlib.figure",
    "httpx",
)


def import_common(modules: tuple[str, ...] = COMMON_MODULES) -> list[str]:
    """Import ``modules``; return those that could not be imported (never raises).

    A module missing from a slim environment only loses its head start: the
    notebook that needs it raises its own, clearer error when it imports it.
    """
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # an optional part not installed, or broken: the notebook will say
            missing.append(name)
    return missing

"""mlops-kit: Machine Learning in Production, on one laptop.

Import is cheap: heavy parts (Spark, MLflow, FastAPI) load inside the
functions that need them.
"""
import os

# MLflow sends usage telemetry to its servers from every process that imports it,
# unless told not to before that import. The kit runs offline on a learner's machine,
# so it is off unless the user chose otherwise (MLFLOW_DISABLE_TELEMETRY=false). Set
# here, on the package, because `%load_ext mlops_kit` and the CLI import it before
# MLflow; kernels, jobs and servers the kit starts inherit it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlops_kit.exceptions import MlopsKitError  # noqa: E402 - after the setting above
from mlops_kit.workspace import Workspace, get_workspace  # noqa: E402

__version__ = "0.1.0"


def get_spark(*args, **kwargs):  # noqa: D103 - documented in mlops_kit.spark
    from mlops_kit.spark import get_spark as _get_spark

    return _get_spark(*args, **kwargs)


get_spark.__doc__ = "Return the process's SparkSession with Delta (see :func:`mlops_kit.spark.get_spark`)."


def load_ipython_extension(ipython):  # pragma: no cover - exercised via notebooks
    """``%load_ext mlops_kit``: prepare the lesson (see :mod:`mlops_kit.extension`)."""
    from mlops_kit.extension import load_ipython_extension as _load

    _load(ipython)


__all__ = ["MlopsKitError", "Workspace", "get_workspace", "get_spark", "__version__"]

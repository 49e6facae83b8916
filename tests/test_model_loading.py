"""Loading a model checks its requirements cheaply, and still says when they are not met."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from mlops_kit.registry.loading import load_pyfunc, requirement_mismatches

NUMPY = metadata.version("numpy")


def test_requirements_this_environment_meets_give_no_mismatch():
    assert requirement_mismatches([
        f"numpy=={NUMPY}", "pandas>=1", "  # a comment", "", "-r other.txt",
        "mlflow[extras]>=2", 'missing-package==1.0 ; python_version < "3.0"',
        "./a/local/path.whl",
    ]) == []


@pytest.mark.parametrize("line, expected", [
    ("numpy==0.0.1", f"numpy (installed: {NUMPY}, required: numpy==0.0.1)"),
    ("numpy<1", f"numpy (installed: {NUMPY}, required: numpy<1)"),
    ("no-such-package-anywhere==1.0",
     "no-such-package-anywhere (not installed, required: no-such-package-anywhere==1.0)"),
])
def test_each_unmet_requirement_is_named_with_what_is_installed(line, expected):
    assert requirement_mismatches(["pandas>=1", line]) == [expected]


def _log_model(pip_requirements: list[str]) -> str:
    import mlflow

    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    model = LinearRegression().fit(X, [2.0, 4.0, 6.0])
    mlflow.set_experiment("model_loading")  # not an experiment id an earlier test's store had
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X.head(1),
            serialization_format="cloudpickle", pip_requirements=pip_requirements)
    return info.model_uri


def test_a_model_pinned_to_another_version_loads_and_warns_once(workspace, caplog):
    uri = _log_model(["numpy==0.0.1", "scikit-learn"])
    caplog.clear()  # logging the model said its own things
    with caplog.at_level(logging.WARNING):
        model = load_pyfunc(uri)
    assert model.predict(pd.DataFrame({"x": [4.0]}))[0] == pytest.approx(8.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"numpy (installed: {NUMPY}, required: numpy==0.0.1)" in warnings[0]
    assert uri in warnings[0]


def test_a_model_this_environment_satisfies_loads_without_a_warning(workspace, caplog):
    uri = _log_model([f"numpy=={NUMPY}", "scikit-learn"])
    caplog.clear()  # logging the model said its own things
    with caplog.at_level(logging.WARNING):
        model = load_pyfunc(uri)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert model.metadata.get_input_schema().input_names() == ["x"]


def test_loading_never_builds_mlflows_map_of_every_installed_package(workspace):
    """The map that makes MLflow's own check slow is never built (checked in a fresh
    process, where nothing else could have built it; MLflow's own load then builds it)."""
    uri = _log_model([f"numpy=={NUMPY}", "scikit-learn"])
    probe = (
        "import json, sys\n"
        "import mlflow\n"
        "from mlops_kit.registry.loading import load_pyfunc\n"
        "import mlflow.utils.requirements_utils as ru\n"
        f"model = load_pyfunc({uri!r})\n"
        "ours = ru._MODULES_TO_PACKAGES is not None\n"
        f"mlflow.pyfunc.load_model({uri!r})\n"
        "print(json.dumps({'map_built': ours, 'by_mlflow': ru._MODULES_TO_PACKAGES is not None,\n"
        "                  'flavors': sorted(model.metadata.flavors)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=dict(os.environ), check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        "map_built": False, "by_mlflow": True, "flavors": ["python_function", "sklearn"]}


def _register_slope(workspace, name: str, slope: float) -> str:
    """Register y = slope * x as a new version of ``name``; return the version."""
    import mlflow

    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    model = LinearRegression().fit(X, [slope * x for x in X["x"]])
    mlflow.set_experiment("pinning")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(1),
                                        registered_model_name=name)
    return str(info.registered_model_version)


def test_a_pinned_uri_keeps_naming_the_version_the_alias_named_when_it_was_pinned(workspace):
    import mlflow

    from mlops_kit.registry.info import pinned_uri

    name = workspace.model_name("pinned")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "champion", _register_slope(workspace, name, 2.0))
    first = pinned_uri(f"models:/{name}@champion")
    client.set_registered_model_alias(name, "champion", _register_slope(workspace, name, 5.0))
    second = pinned_uri(f"models:/{name}@champion")

    x = pd.DataFrame({"x": [10.0]})
    assert first != second and Path(first).is_dir()  # a version's own folder
    assert mlflow.models.get_model_info(first).signature is not None  # what the lessons read
    assert mlflow.pyfunc.load_model(first).predict(x)[0] == pytest.approx(20.0)  # still v1
    assert mlflow.pyfunc.load_model(second).predict(x)[0] == pytest.approx(50.0)
    assert pinned_uri(f"models:/{name}/1") == first


def test_uris_that_already_name_one_model_come_back_unchanged_and_a_missing_alias_is_named(workspace):
    from mlops_kit.exceptions import NotFoundError
    from mlops_kit.registry.info import pinned_uri

    for uri in ("runs:/0123abcd/model", "models:/m-0123abcd", "/tmp/some/model"):
        assert pinned_uri(uri) == uri
    with pytest.raises(NotFoundError, match="champion"):
        pinned_uri(f"models:/{workspace.model_name('never_registered')}@champion")

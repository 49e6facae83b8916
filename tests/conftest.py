"""Shared fixtures: an isolated workspace per test, one Spark session per worker."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_kit.workspace import Workspace, use_workspace

REPO = Path(__file__).resolve().parents[1]
_PREFIXES = ("MLFLOW_", "MLOPS_KIT_")


# Settings that choose a workspace, a store or a run: a test never inherits them.
_WORKSPACE_SETTINGS = {
    "MLOPS_KIT_HOME", "MLOPS_KIT_USER", "MLOPS_KIT_ENV", "MLOPS_KIT_TRACKING_URI",
    "MLOPS_KIT_REGISTRY_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID",
}
# The engine of Spark code that runs inside the test process: a JVM of its own
# (``local``), shared by the process's tests through the ``spark`` fixture. A
# Spark Connect server per test workspace would cost a server start per test.
# test_spark_server.py runs the kit's Spark paths over a real Connect server, and
# test_notebooks.py a subset of lessons through one (tests/notebook_runner.py).
# Set before any fixture runs: the session-scoped ``spark`` fixture starts first.
TEST_SPARK_ENGINE = os.environ.setdefault("MLOPS_KIT_SPARK", "local")

# The other kit/MLflow settings this test process started with (e.g. a Spark master).
_PRISTINE = {k: v for k, v in os.environ.items()
             if k.startswith(_PREFIXES) and k not in _WORKSPACE_SETTINGS}


def _restore_pristine_settings() -> None:
    for key in [k for k in os.environ if k.startswith(_PREFIXES)]:
        del os.environ[key]
    os.environ.update(_PRISTINE)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path) -> None:
    """Clear kit/MLflow settings and point the workspace at ``tmp_path``.

    Nothing a test does can reach the user's real workspace or another test's.
    Afterwards the environment is restored, and the kit/MLflow settings go back to
    those the process *started* with, not those seen when the test began: a
    module-scoped fixture activates its workspace before the test, and restoring
    that snapshot would hand its ``MLFLOW_TRACKING_URI`` to the next module's
    fixture (which then registers into the wrong store). (``monkeypatch`` is not
    used for this: its undo would put that snapshot back.)
    """
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(_PREFIXES)]:
        del os.environ[key]
    os.environ["MLOPS_KIT_HOME"] = str(tmp_path / "kit")
    os.environ["MLOPS_KIT_USER"] = "tester"
    os.environ["MLOPS_KIT_SPARK"] = TEST_SPARK_ENGINE
    use_workspace(None)
    yield
    use_workspace(None)
    os.environ.clear()
    os.environ.update(saved)
    _restore_pristine_settings()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An activated workspace in ``tmp_path`` (MLflow pointed at its SQLite file)."""
    return Workspace.from_env(root=tmp_path / "kit", user="tester").activate()


@pytest.fixture(scope="session")
def spark():
    """The one Spark session of this test process (starting one costs ~7 s)."""
    from mlops_kit.spark import get_spark, stop_spark

    session = get_spark(Workspace.from_env(root=REPO / ".test-artifacts" / "spark"))
    yield session
    stop_spark()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stop the Spark Connect server this process started for notebook tests, if any
    (an xdist worker may exit without running ``atexit``, leaving its JVM behind)."""
    import sys

    runner = sys.modules.get("notebook_runner")
    if runner is not None:
        runner.stop_shared_spark()

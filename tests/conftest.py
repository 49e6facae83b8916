"""Shared fixtures: an isolated workspace per test, one Spark session per worker."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_kit.workspace import Workspace, use_workspace

REPO = Path(__file__).resolve().parents[1]
_PREFIXES = ("MLFLOW_", "MLOPS_KIT_")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear kit/MLflow settings and point the workspace at ``tmp_path``.

    Nothing a test does can reach the user's real workspace or another test's:
    the environment is restored whole afterwards, so what ``Workspace.activate()``
    exported (``MLOPS_KIT_ENV``, ``MLFLOW_TRACKING_URI``, ...) cannot leak into the
    next test or into a module-scoped fixture built between two tests.
    """
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLOPS_KIT_HOME", str(tmp_path / "kit"))
    monkeypatch.setenv("MLOPS_KIT_USER", "tester")
    use_workspace(None)
    yield
    use_workspace(None)
    os.environ.clear()
    os.environ.update(saved)


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

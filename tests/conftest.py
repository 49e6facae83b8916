"""Shared fixtures: an isolated workspace per test, one Spark session per worker."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_kit.labs.fill_in import set_active_lab
from mlops_kit.workspace import MLFLOW_TEMPLATE_SETTING, Workspace, make_mlflow_template, use_workspace

REPO = Path(__file__).resolve().parents[1]
_PREFIXES = ("MLFLOW_", "MLOPS_KIT_")


# Settings that choose a workspace, a store or a run: a test never inherits them.
_WORKSPACE_SETTINGS = {
    "MLOPS_KIT_HOME", "MLOPS_KIT_USER", "MLOPS_KIT_ENV", "MLOPS_KIT_TRACKING_URI",
    "MLOPS_KIT_REGISTRY_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID",
}
# The engine of the suite's Spark tests (those marked ``spark`` or ``slow``):
# ``connect`` (the default, as in the course) sends them, the notebook kernels and
# the jobs they start to one Spark Connect server per test process
# (tests/notebook_runner.py); ``local`` gives each of those processes a JVM of its
# own. ./run.sh test runs the tests marked ``both_engines`` a second time with
# MLOPS_KIT_TEST_SPARK=local, so both engines stay green. Every other test gets
# MLOPS_KIT_SPARK=local: one that starts Spark by accident never starts a server in
# its temporary workspace.
TEST_SPARK_ENGINE = os.environ.get("MLOPS_KIT_TEST_SPARK", "connect")
if TEST_SPARK_ENGINE not in ("connect", "local"):
    raise pytest.UsageError(
        f"MLOPS_KIT_TEST_SPARK must be 'connect' or 'local', not {TEST_SPARK_ENGINE!r}")
# The process's own default, for what runs before a test's environment is set
# (session-scoped fixtures are set up before the per-test one below).
os.environ.setdefault("MLOPS_KIT_SPARK", "local")
# PySpark marks its process as a Spark Connect client in these variables when the
# first Connect session starts; they must outlive the test that started it.
_CONNECT_MODE = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")


def _mlflow_template() -> str:
    """An empty, migrated MLflow store, made once per MLflow version (not per test).

    Every workspace a test, a notebook kernel or a job activates starts from a copy
    of it (``MLOPS_KIT_MLFLOW_TEMPLATE``, :meth:`Workspace.activate`) instead of
    creating and migrating its own SQLite store, about 2 s each.
    """
    from importlib.metadata import version

    path = REPO / ".test-artifacts" / f"mlflow-store-{version('mlflow')}.db"
    return str(make_mlflow_template(path))


try:
    os.environ[MLFLOW_TEMPLATE_SETTING] = _mlflow_template()
except ImportError:  # an MLflow without the migration helper: each store is made by MLflow
    pass

# The other kit/MLflow settings this test process started with (e.g. a Spark master).
_PRISTINE = {k: v for k, v in os.environ.items()
             if k.startswith(_PREFIXES) and k not in _WORKSPACE_SETTINGS}


def _restore_pristine_settings() -> None:
    for key in [k for k in os.environ if k.startswith(_PREFIXES)]:
        del os.environ[key]
    os.environ.update(_PRISTINE)


@pytest.fixture(autouse=True)
def isolated_environment(request: pytest.FixtureRequest, tmp_path: Path) -> None:
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
    os.environ.update(_spark_settings(request.node))
    use_workspace(None)
    yield
    use_workspace(None)
    set_active_lab(None)  # a Lab made by one test must not number another test's FILL_IN
    connect_mode = {k: os.environ[k] for k in _CONNECT_MODE if k in os.environ}
    os.environ.clear()
    os.environ.update(saved)
    os.environ.update(connect_mode)
    _restore_pristine_settings()


def _spark_settings(test: pytest.Item) -> dict[str, str]:
    """Where a test's Spark goes: the process's Connect server, or a JVM of its own."""
    if TEST_SPARK_ENGINE == "connect" and _uses_the_shared_server(test):
        from notebook_runner import shared_spark_master

        return {"MLOPS_KIT_SPARK_MASTER": shared_spark_master()}
    return {"MLOPS_KIT_SPARK": "local"}


def _uses_the_shared_server(test: pytest.Item) -> bool:
    runs_spark = test.get_closest_marker("spark") or test.get_closest_marker("slow")
    return bool(runs_spark) and test.get_closest_marker("own_spark") is None


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An activated workspace in ``tmp_path`` (MLflow pointed at its SQLite file)."""
    return Workspace.from_env(root=tmp_path / "kit", user="tester").activate()


@pytest.fixture(scope="session")
def spark():
    """The one Spark session of this test process (starting one costs ~7 s)."""
    from mlops_kit.spark import get_spark, stop_spark

    root = REPO / ".test-artifacts" / "spark"
    if TEST_SPARK_ENGINE == "connect":
        from notebook_runner import shared_spark_master

        session = get_spark(Workspace(root=root, user="tester", spark_master=shared_spark_master()))
    else:
        session = get_spark(Workspace.from_env(root=root))
    yield session
    stop_spark()


def pytest_collection_modifyitems(config, items) -> None:
    """In the ``both_engines`` pass, leave out the tests the engine cannot change.

    A test gets the suite's engine only through the ``spark`` fixture or when it is
    marked ``spark`` or ``slow`` (:func:`_spark_settings`); any other test already
    ran with ``MLOPS_KIT_SPARK=local`` in the main pass, so running it again under
    ``MLOPS_KIT_TEST_SPARK=local`` would repeat the same run. A module marked
    ``both_engines`` as a whole thus re-runs only its tests that use Spark. (Only
    in the pass that selects ``-m both_engines``: a focused run keeps what it asked for.)
    """
    if TEST_SPARK_ENGINE != "local" or "both_engines" not in (config.option.markexpr or ""):
        return
    same = {id(item) for item in items
            if item.get_closest_marker("both_engines") and not _depends_on_the_engine(item)}
    if same:
        config.hook.pytest_deselected(items=[item for item in items if id(item) in same])
        items[:] = [item for item in items if id(item) not in same]


def _depends_on_the_engine(test: pytest.Item) -> bool:
    return _uses_the_shared_server(test) or "spark" in getattr(test, "fixturenames", ())


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stop the Spark Connect server this process started for notebook tests, if any
    (an xdist worker may exit without running ``atexit``, leaving its JVM behind)."""
    import sys

    runner = sys.modules.get("notebook_runner")
    if runner is not None:
        runner.stop_shared_spark()

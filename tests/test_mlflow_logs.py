"""MLflow's INFO records, its advice on the course's choices and its registry notices stay
out of lesson output; every other MLflow message still shows."""
from __future__ import annotations

import logging

import pytest
from mlflow.utils import logging_utils

from mlops_kit._mlflow_logs import quiet_mlflow


@pytest.fixture
def quiet(monkeypatch):
    """quiet_mlflow() applied, and undone after the test."""
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    logger = logging.getLogger("mlflow")
    level, filters = logger.level, [list(h.filters) for h in logger.handlers]
    stream = logging_utils.MLFLOW_LOGGING_STREAM
    quiet_mlflow()
    quiet_mlflow()  # idempotent: no second wrapper, no second filter
    yield logger
    logger.setLevel(level)
    for handler, kept in zip(logger.handlers, filters):
        handler.filters[:] = kept
    logging_utils.MLFLOW_LOGGING_STREAM = stream


@pytest.mark.parametrize("notice", [
    "Successfully registered model 'dev.ada.price'.",
    "Registered model 'staging.ada.price' already exists. Creating a new version of this model...",
    "Created version '3' of model 'dev.ada.price'.",
    "Copied version '2' of model 'dev.ada.price' to version '1' of model 'staging.ada.price'.",
])
def test_registry_notices_are_dropped(quiet, capsys, notice):
    logging_utils.eprint(notice)
    logging_utils.eprint("Running the mlflow server failed. Please see the logs above for details.")
    assert capsys.readouterr().err == (
        "Running the mlflow server failed. Please see the logs above for details.\n")


def test_info_records_and_the_courses_choices_are_dropped_other_warnings_show(quiet, capsys):
    pyfunc = logging.getLogger("mlflow.pyfunc")
    logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
    pyfunc.warning('Calling `spark_udf()` with `env_manager="local"` does not recreate the same '
                   "environment that was used during training")
    pyfunc.warning("Passing a Python object as `python_model` causes it to be serialized using "
                   "CloudPickle, it requires exercising caution")
    pyfunc.warning("Detected one or more mismatches between the model's dependencies")
    err = capsys.readouterr().err
    assert "database tables" not in err and "env_manager" not in err and "CloudPickle" not in err
    assert "WARNING mlflow.pyfunc: Detected one or more mismatches" in err


def test_an_explicit_mlflow_logging_level_is_kept(monkeypatch):
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "DEBUG")
    logger = logging.getLogger("mlflow")
    level, stream = logger.level, logging_utils.MLFLOW_LOGGING_STREAM
    logger.setLevel(logging.DEBUG)
    try:
        quiet_mlflow()
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(level)
        for handler in logger.handlers:
            handler.filters[:] = [f for f in handler.filters if type(f).__name__ != "_DropAdvice"]
        logging_utils.MLFLOW_LOGGING_STREAM = stream


def test_disabling_mlflow_logging_still_silences_everything(quiet, capsys):
    logging_utils.disable_logging()
    try:
        logging_utils.eprint("anything")
        logging.getLogger("mlflow.pyfunc").warning("a warning")
    finally:
        logging_utils.enable_logging()
    assert capsys.readouterr().err == ""

"""Keep MLflow's routine notices out of lesson output.

MLflow talks on stderr in two ways, and in a lesson both read like problems:

- log records of its ``mlflow.*`` loggers, at INFO by default ("Creating
  initial MLflow database tables...", "Validating input example against model
  signature", "Model validation passed!"), and at WARNING some advice about
  choices the course makes on purpose;
- plain prints of registry notices ("Successfully registered model 'x'.",
  "Created version '3' of model 'x'.", "Copied version ..."), which no log
  level turns off. The cells that register a model show the version anyway.

:func:`quiet_mlflow`, called by ``%load_ext mlops_kit``, is the one place the
kit sets this for notebooks:

1. the ``mlflow`` logger goes to WARNING, unless ``MLFLOW_LOGGING_LEVEL`` asks
   for another level;
2. two pieces of advice are dropped, because the course follows the other
   branch deliberately: ``spark_udf(env_manager="local")`` (the Spark workers
   run the driver's own environment, so there is nothing to recreate) and a
   custom pyfunc passed as a Python object (serialized with CloudPickle; the
   lessons define their models in the notebook);
3. the registry notices are dropped.

Every other MLflow warning and message still shows.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any

__all__ = ["ADVICE", "NOTICES", "quiet_mlflow"]

#: MLflow log records about choices the course made on purpose
ADVICE = (
    re.compile(r"Calling `spark_udf\(\)` with `env_manager=\"local\"`"),
    re.compile(r"Passing a Python object as `python_model` causes it to be serialized "
               r"using CloudPickle"),
)

#: what MLflow prints (not logs) when it registers or copies a model version
NOTICES = re.compile(
    r"^(Successfully registered model '.*'\.|Registered model '.*' already exists\. Creating a new "
    r"version of this model\.\.\.|Created version '.*' of model '.*'\.?|Copied version '.*' of "
    r"model '.*' to version '.*' of model '.*'\.?)\s*$"
)


class _DropAdvice(logging.Filter):
    """Drops the log records named in :data:`ADVICE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(pattern.search(message) for pattern in ADVICE)


class _QuietStream:
    """MLflow's print stream without the registry notices.

    ``print(text, file=stream)`` writes ``text`` and then the line end in two
    calls: a dropped notice takes its line end with it. Anything else, and the
    ``enabled`` switch of MLflow's own stream, passes through.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._dropped = False

    def write(self, text: str) -> int:
        if self._dropped and text in ("\n", "\r\n"):
            self._dropped = False
            return len(text)
        self._dropped = bool(NOTICES.match(text))
        if self._dropped:
            return len(text)
        return self._stream.write(text) or len(text)

    def flush(self) -> None:
        self._stream.flush()

    @property
    def enabled(self) -> bool:
        return self._stream.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._stream.enabled = value


def quiet_mlflow() -> None:
    """Hide MLflow's INFO records, its advice on the course's choices and its registry notices.

    Idempotent: a second call changes nothing.
    """
    from mlflow.utils import logging_utils

    logger = logging.getLogger("mlflow")
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logger.setLevel(logging.WARNING)
    for handler in logger.handlers:
        if not any(isinstance(f, _DropAdvice) for f in handler.filters):
            handler.addFilter(_DropAdvice())
    if not isinstance(logging_utils.MLFLOW_LOGGING_STREAM, _QuietStream):
        # eprint() looks the stream up at each call; the log handler keeps the original
        logging_utils.MLFLOW_LOGGING_STREAM = _QuietStream(logging_utils.MLFLOW_LOGGING_STREAM)

"""Errors raised by mlops-kit.

Every error the kit raises on purpose derives from :class:`MlopsKitError`, is
defined here, and where it refines a builtin it inherits that too, so
``except ValueError`` keeps working for callers who do not know the kit::

    MlopsKitError
    ├── ConfigError (ValueError)              bad setting, name, model reference, parameter
    │   ├── ParameterError                    a job parameter the notebook does not take
    │   └── EndlessWaitError                  awaitTermination() on a query that never ends
    ├── EnvironmentProblem (RuntimeError)     Java, jars, a service that is missing
    │   ├── EndpointStopped (ConnectionError) the URL of an endpoint that is not running
    │   ├── ServerNotReadyError               a child server that exited or never answered
    │   └── StreamWaitTimeout (TimeoutError)  a streaming query still busy at its deadline
    ├── DataError (ValueError)                data that does not fit a table or schema
    │   ├── SchemaMismatchError               an append whose columns do not match
    │   ├── WriteConflictError                a write that kept losing to concurrent writers
    │   └── InvalidRequestError               a request a server rejects (4xx + JSON)
    ├── NotFoundError (LookupError)           table, notebook, model, exercise unknown
    ├── JobFailedError (RuntimeError)         a notebook job whose cell raised
    │   └── PipelineFailedError               a pipeline step that failed (which step)
    ├── NotCompilableError (ValueError)       a model with no Spark SQL form (spark_udf scores it)
    ├── ExerciseError (AssertionError)        a lab exercise that is not filled in
    │   └── CheckFailedError                  a checked answer is wrong (strict labs)
    ├── ClaimNotHeldError (AssertionError)    a lesson's sentence that this run contradicts
    └── SignatureError (PermissionError)      a webhook delivery that is not authentic

Messages say what was wrong, what was expected, what came, and the fix.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "MlopsKitError",
    "ConfigError",
    "EndlessWaitError",
    "ParameterError",
    "EnvironmentProblem",
    "EndpointStopped",
    "ServerNotReadyError",
    "StreamWaitTimeout",
    "DataError",
    "SchemaMismatchError",
    "WriteConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "JobFailedError",
    "PipelineFailedError",
    "NotCompilableError",
    "ExerciseError",
    "CheckFailedError",
    "ClaimNotHeldError",
    "SignatureError",
]


class MlopsKitError(Exception):
    """Root of every error the kit raises on purpose."""

    #: process exit code the CLI uses for this kind of error
    exit_code: int = 1


class ConfigError(MlopsKitError, ValueError):
    """A setting, name or parameter is not valid."""

    exit_code = 2


class ParameterError(ConfigError):
    """A job parameter the notebook does not declare, of the wrong type, or an unknown env.

    Raised inside a job notebook (see :mod:`mlops_kit.jobs.job_params`), where
    papermill and Jupyter show it as its one line, without a traceback.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class EnvironmentProblem(MlopsKitError, RuntimeError):
    """Something the kit needs on this machine is missing (Java, jars, a server)."""

    exit_code = 3


class EndpointStopped(EnvironmentProblem, ConnectionError):
    """The endpoint is not running, so its URL leads nowhere.

    Also a :class:`ConnectionError`, as a refused connection would have been.
    In Jupyter it shows as its one-line message, without a traceback.
    """

    def _render_traceback_(self) -> list[str]:  # IPython: show the message only
        return [f"{type(self).__name__}: {self}"]


class StreamWaitTimeout(EnvironmentProblem, TimeoutError):
    """A streaming query did not finish (or catch up) within the time it was given.

    The query keeps running; the message names it and says how to stop it. In
    Jupyter it shows as its one line.
    """

    def _render_traceback_(self) -> list[str]:  # IPython: show the message only
        return [f"{type(self).__name__}: {self}"]


class EndlessWaitError(ConfigError):
    """``awaitTermination()`` without a timeout on a query that only ends when stopped.

    In Jupyter it shows as its one line (a hung cell is what it prevents).
    """

    def _render_traceback_(self) -> list[str]:  # IPython: show the message only
        return [f"{type(self).__name__}: {self}"]


class ServerNotReadyError(EnvironmentProblem):
    """A server child process exited, or did not answer, before it was ready.

    Carries what the message says: ``name`` (how the server is called),
    ``target`` (the URL or ``host:port`` waited for), ``returncode`` (None
    when it still ran at the timeout), ``log_path`` and ``log_tail`` (the
    last lines it wrote, where start-up errors land).
    """

    def __init__(self, message: str, *, name: str, target: str, returncode: int | None,
                 log_path: Any = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.name = name
        self.target = target
        self.returncode = returncode
        self.log_path = log_path
        self.log_tail = log_tail


class DataError(MlopsKitError, ValueError):
    """Data does not fit the table or schema it was meant for."""


class SchemaMismatchError(DataError):
    """An append or merge whose schema does not match the table's."""


class WriteConflictError(DataError):
    """A table write that kept conflicting with concurrent writers; nothing was committed."""


class InvalidRequestError(DataError):
    """A request a server refuses: carries its HTTP status and JSON body.

    Parameters
    ----------
    message : str
        What was wrong, what was expected, what came, and the fix.
    status_code : int
        The 4xx status to answer with (400 by default).
    error_code : str
        A stable machine-readable code, e.g. ``BAD_REQUEST``.
    """

    def __init__(
        self, message: str, *, status_code: int = 400, error_code: str = "BAD_REQUEST"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code

    def to_dict(self) -> dict[str, str]:
        """The JSON body, shaped as MLflow's scoring server answers errors."""
        return {"error_code": self.error_code, "message": self.message}


class NotFoundError(MlopsKitError, LookupError):
    """A table, notebook, model or exercise that does not exist."""

    exit_code = 4


class NotCompilableError(MlopsKitError, ValueError):
    """A model that cannot be written as one Spark SQL expression; says which step and why.

    Batch scoring catches it and scores with ``spark_udf`` instead; it reaches
    the caller only when the SQL engine was asked for by name.
    """


class JobFailedError(MlopsKitError, RuntimeError):
    """A notebook job failed; carries where and why.

    Parameters
    ----------
    notebook : str
        The notebook that was run.
    output_path : str
        Where the executed copy (with the failing cell) was saved.
    cell_index : int or None
        Index of the failing cell, when known.
    ename, evalue : str
        Exception name and value raised in the kernel.
    """

    exit_code = 5

    def __init__(
        self,
        notebook: str,
        output_path: str,
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
        source: str = "",
        execution_count: int | None = None,
    ) -> None:
        self.notebook = notebook
        self.output_path = output_path
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.source = source
        self.execution_count = execution_count
        where = self.where
        super().__init__(
            f"{notebook} failed in {where}: {ename}: {evalue}. "
            f"The executed notebook is at {output_path}."
        )


    @property
    def where(self) -> str:
        """The failing cell as papermill and Jupyter show it: ``In [4]`` (else its index)."""
        if self.execution_count is not None:
            return f"In [{self.execution_count}]"
        return f"cell {self.cell_index}" if self.cell_index is not None else "a cell"


class PipelineFailedError(JobFailedError):
    """A step of a pipeline failed; says which step, and what the job said.

    Carries the step's :class:`JobFailedError` fields plus ``pipeline``,
    ``step_index`` (1-based), ``steps`` (how many the pipeline has) and
    ``results`` (the :class:`~mlops_kit.jobs.runner.JobResult` of the steps
    that ran, the failed one last).
    """

    def __init__(self, pipeline: str, step_index: int, steps: int, error: JobFailedError,
                 results: list[Any]) -> None:
        super().__init__(error.notebook, error.output_path, error.cell_index, error.ename,
                         error.evalue, error.source, error.execution_count)
        self.pipeline = pipeline
        self.step_index = step_index
        self.steps = steps
        self.results = results

    def __str__(self) -> str:
        return (f"pipeline {self.pipeline!r} stopped at step {self.step_index}/{self.steps} "
                f"({self.notebook}): {super().__str__()}")


class ExerciseError(MlopsKitError, AssertionError):
    """A lab exercise still holds its FILL_IN placeholder."""


class CheckFailedError(ExerciseError):
    """A lab check failed in strict mode (``MLOPS_KIT_LABS_STRICT=1``, as in CI)."""


class ClaimNotHeldError(MlopsKitError, AssertionError):
    """A lesson's quantitative sentence that the run's own measurements contradict.

    Carries ``claim_id`` and ``statements`` (the qualitative parts that were
    false); see :mod:`mlops_kit.claims`.
    """

    def __init__(self, claim_id: str, message: str, statements: list[str]) -> None:
        super().__init__(message)
        self.claim_id = claim_id
        self.statements = statements

    def _render_traceback_(self) -> list[str]:  # IPython: the message, not library frames
        return [f"{type(self).__name__}: {self}"]


class SignatureError(MlopsKitError, PermissionError):
    """A webhook delivery whose signature is missing, forged or stale.

    ``status_code`` is what the receiver answers (401).
    """

    exit_code = 6
    status_code = 401

"""Named pipelines: ordered job notebooks run one after the other.

A pipeline is what a scheduler starts: ``mlops-kit pipeline run training
--env prod`` from cron, CI or by hand. Each step is a job notebook with fixed
parameters; the steps run in order through :func:`~mlops_kit.jobs.run_notebook`
(papermill, one kernel per step), all in the same env, and the first failing
step stops the pipeline: later steps need its output, and a half-finished
pipeline must not look green. The next step's kernel starts, and imports what
jobs use, while the current step runs (:func:`~mlops_kit.jobs.prepare_notebook`);
it is stopped unused when a step fails.

================  =============================================================
pipeline          steps
================  =============================================================
``etl``           ``jobs/etl``: datasets -> the env's Delta tables
``featurization`` ``jobs/featurize``: listings -> feature table (MERGE)
``training``      ``jobs/train``: train, register, validate, ``challenger``
``scoring``       ``jobs/score_batch``: champion -> predictions table
``monitoring``    ``jobs/monitor``: inference log vs training data; triage, then fix or retrain
``all``           every step above, in that order
================  =============================================================

Parameters given on the command line (``-p rows 500``) go to every step whose
notebook declares that name; a name no step declares is an error, so a typo
fails at once instead of running with defaults.

A run gets the workspace's Spark Connect server as a job does
(:func:`~mlops_kit.spark_server.shared_server`): a step that needs Spark starts
it, and a server the run started is stopped when the run ends; one that was
running before stays warm.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mlops_kit._registry import Registry
from mlops_kit.exceptions import ConfigError, JobFailedError, PipelineFailedError
from mlops_kit.jobs.params import declared_parameters
from mlops_kit.jobs.runner import JobResult, PreparedJob, prepare_notebook, resolve_notebook
from mlops_kit.spark_server import shared_server
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["Step", "Pipeline", "PipelineFailedError", "PIPELINES", "register_pipeline",
           "get_pipeline", "run_pipeline", "PlannedStep", "plan_steps", "StepRunner", "StepFailed"]


@dataclass(frozen=True)
class Step:
    """One job notebook of a pipeline, with the parameters it always gets."""

    notebook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = " ".join(f"-p {k} {v}" for k, v in self.parameters.items())
        return f"{self.notebook} {shown}".strip()


@dataclass(frozen=True)
class Pipeline:
    """A named, ordered list of :class:`Step`."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""


PIPELINES: Registry[Pipeline] = Registry(
    "pipeline", sort=False, hint="Run `mlops-kit pipeline list` to see their steps.")


def register_pipeline(name: str, steps: list[Step | str], description: str = "") -> Pipeline:
    """Add (or replace) a named pipeline; a step may be given as a notebook name."""
    if not steps:
        raise ConfigError(f"The pipeline {name!r} needs at least one step.")
    pipeline = Pipeline(name, tuple(s if isinstance(s, Step) else Step(s) for s in steps),
                        description)
    return PIPELINES.register(name, pipeline)


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called ``name``.

    Raises
    ------
    NotFoundError
        No such pipeline; the message lists the known ones.
    """
    return PIPELINES.lookup(name)


def _route(pipeline: Pipeline, given: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per step: its fixed parameters plus the given ones its notebook declares."""
    routed, used = [], set()
    for step in pipeline.steps:
        declared = declared_parameters(resolve_notebook(step.notebook))
        mine = {k: v for k, v in given.items() if k in declared and k != "env"}
        used.update(mine)
        routed.append({**step.parameters, **mine})
    unknown = sorted(set(given) - used - {"env"})
    if unknown:
        raise ConfigError(
            f"No step of the pipeline {pipeline.name!r} has the parameter(s) "
            f"{', '.join(map(repr, unknown))}. Steps: {', '.join(s.notebook for s in pipeline.steps)}; "
            "see `mlops-kit job list` for each notebook's parameters."
        )
    return routed


def run_pipeline(
    pipeline: str | Pipeline,
    parameters: Mapping[str, Any] | None = None,
    *,
    env: str | None = None,
    workspace: Workspace | None = None,
    progress: Callable[[int, Step, JobResult | None], None] | None = None,
    **run_options: Any,
) -> list[JobResult]:
    """Run the steps of ``pipeline`` in order, in one env; stop at the first failure.

    Parameters
    ----------
    pipeline : str or Pipeline
        A name from :data:`PIPELINES` or a :class:`Pipeline`.
    parameters : mapping, optional
        Given to every step whose notebook declares the name.
    env : {"dev", "staging", "prod"}, optional
        Default: the workspace's env.
    progress : callable, optional
        ``progress(i, step, None)`` before step ``i`` (1-based) and
        ``progress(i, step, result)`` after it succeeded.
    **run_options
        Passed to :func:`~mlops_kit.jobs.run_notebook` (``timeout``, ``cell_timeout``, ...).

    Returns
    -------
    list of JobResult
        One per step.

    Raises
    ------
    NotFoundError
        Unknown pipeline or notebook.
    ConfigError
        A bad env, or a parameter no step declares.
    PipelineFailedError
        A step failed: which one, the failing cell, and the executed copy.
    """
    pipe = pipeline if isinstance(pipeline, Pipeline) else get_pipeline(pipeline)
    ws = workspace or get_workspace()
    if env is not None:
        ws = ws.with_env(env)  # validates the env name before any step runs
    plan = plan_steps(pipe, parameters, ws)
    results: list[JobResult] = []
    with shared_server(ws), StepRunner(plan, **run_options) as runner:
        for index, step in enumerate(pipe.steps, start=1):
            if progress:
                progress(index, step, None)
            try:
                result = runner.run(index - 1)
            except StepFailed as failed:
                raise PipelineFailedError(pipe.name, index, len(pipe.steps), failed.error,
                                          results + [failed.result]) from None
            results.append(result)
            if progress:
                progress(index, step, result)
    return results


@dataclass(frozen=True)
class PlannedStep:
    """A step bound to its parameters and the workspace (env) it runs in."""

    notebook: str
    parameters: dict[str, Any]
    workspace: Workspace


def plan_steps(pipeline: Pipeline, parameters: Mapping[str, Any] | None,
               workspace: Workspace) -> list[PlannedStep]:
    """The steps of ``pipeline`` with the given parameters routed to them.

    Raises
    ------
    ConfigError
        A parameter no step declares.
    """
    routed = _route(pipeline, dict(parameters or {}))
    return [PlannedStep(step.notebook, values, workspace)
            for step, values in zip(pipeline.steps, routed)]


class StepFailed(Exception):
    """A planned step failed: the job's error and its :class:`JobResult`."""

    def __init__(self, error: JobFailedError, result: JobResult) -> None:
        super().__init__(str(error))
        self.error = error
        self.result = result


class StepRunner:
    """Runs planned job notebooks in order, each next one's kernel starting ahead.

    Why: a job's kernel takes seconds to start and import what jobs use; while
    step ``i`` runs (mostly waiting on Spark or MLflow) step ``i + 1``'s kernel
    starts (:func:`~mlops_kit.jobs.prepare_notebook`), and the kernels of steps
    that ran shut down in the background. A plan may span several envs (a
    release), so the next env's first step starts ahead too. Leaving the
    ``with`` block stops a prepared step that will not run and waits for every
    kernel's exit: nothing of the plan runs once it is left.
    """

    def __init__(self, plan: list[PlannedStep], **run_options: Any) -> None:
        self._plan = plan
        self._options = run_options
        self._upcoming: tuple[int, PreparedJob] | None = None
        self._closing: list[PreparedJob] = []

    def run(self, index: int) -> JobResult:
        """Run ``plan[index]``; start ``plan[index + 1]``'s kernel meanwhile.

        Raises
        ------
        StepFailed
            The step failed; the next step's kernel is stopped unused.
        """
        if self._upcoming is not None and self._upcoming[0] == index:
            current = self._upcoming[1]
        else:
            self.cancel_upcoming()
            current = self._prepare(index, warm_up=False)
        self._upcoming = None
        if index + 1 < len(self._plan):
            self._upcoming = (index + 1, self._prepare(index + 1))
        self._closing.append(current)
        started = time.perf_counter()
        try:
            return current.run(wait_for_shutdown=False)
        except JobFailedError as err:
            self.cancel_upcoming()
            step = self._plan[index]
            failed = JobResult(resolve_notebook(step.notebook), err.output_path,
                               time.perf_counter() - started, step.parameters, status="failed",
                               error=err)
            raise StepFailed(err, failed) from None

    def cancel_upcoming(self) -> None:
        """Stop the kernel prepared for the next step, which will not run."""
        if self._upcoming is not None:
            upcoming, self._upcoming = self._upcoming[1], None
            upcoming.cancel()

    def _prepare(self, index: int, **options: Any) -> PreparedJob:
        step = self._plan[index]
        return prepare_notebook(step.notebook, step.parameters, workspace=step.workspace,
                                **options, **self._options)

    def __enter__(self) -> "StepRunner":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel_upcoming()
        for job in self._closing:
            job.wait_closed()


_ETL = Step("jobs/etl")
_FEATURIZE = Step("jobs/featurize")
_TRAIN = Step("jobs/train")
_SCORE = Step("jobs/score_batch")
_MONITOR = Step("jobs/monitor")
register_pipeline("etl", [_ETL], "datasets -> the env's Delta tables")
register_pipeline("featurization", [_FEATURIZE], "listings -> listing_features (MERGE)")
register_pipeline("training", [_TRAIN], "train, register, validate, set challenger")
register_pipeline("scoring", [_SCORE], "champion -> price_predictions (batch)")
register_pipeline("monitoring", [_MONITOR],
                  "inference log vs training data; a pipeline bug opens an incident, "
                  "drift that hurts retrains")
register_pipeline("all", [_ETL, _FEATURIZE, _TRAIN, _SCORE, _MONITOR], "the whole loop, in order")

"""A release: the same pipeline run env after env, each run behind its gate.

In the deploy-code pattern nothing is copied from dev to prod: the *code* is
promoted. :func:`run_release` runs one pipeline (by default :data:`RELEASE`:
land the env's data, then train with ``fail_on_reject=True``) in dev, then
staging, then prod. The validation inside the training job is the gate: a
candidate that fails it fails the step, the pipeline stops, and no later env
runs, so a bad model never reaches prod. It is what CI or a scheduler runs::

    mlops-kit pipeline run etl --env dev && mlops-kit job run jobs/train --env dev -p fail_on_reject True
    # ... then the same for staging and prod, each only if the previous one passed
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import pandas as pd

from mlops_kit.jobs.pipelines import Pipeline, Step, StepFailed, StepRunner, plan_steps
from mlops_kit.spark_server import shared_server
from mlops_kit.workspace import ENVS, get_workspace

__all__ = ["RELEASE", "run_release"]

#: land the env's own data, then train and validate; a rejected candidate fails the step
RELEASE = Pipeline("release", (Step("jobs/etl"), Step("jobs/train", {"fail_on_reject": True})),
                   "etl, then train behind the validation gate")


def run_release(parameters: Mapping[str, Any] | None = None, *, envs: Sequence[str] = ENVS,
                pipeline: Pipeline = RELEASE, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                **run_options: Any) -> pd.DataFrame:
    """Run ``pipeline`` in each env of ``envs`` in order; stop at the first failed step.

    Parameters
    ----------
    parameters : mapping, optional
        Given to every env's run (routed to the steps that declare them).
    envs : sequence of str
        The promotion order, dev -> staging -> prod by default.
    overrides : mapping, optional
        ``{env: {name: value}}``: parameters of one env only (e.g. a stricter gate in prod).
    **run_options
        Passed to :func:`~mlops_kit.jobs.run_notebook` (``timeout``, ``cell_timeout``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per env: ``status`` (``passed``, ``stopped`` or ``not run``),
        ``seconds`` and ``detail`` (the steps run, or why the gate stopped it).
        Never raises for a failed gate: the table is the release report.
    """
    ws = get_workspace()
    plans = {env: plan_steps(pipeline, {**dict(parameters or {}), **dict((overrides or {}).get(env, {}))},
                             ws.with_env(env))  # every env's parameters checked before anything runs
             for env in envs}
    plan = [step for env in envs for step in plans[env]]
    rows: list[dict[str, Any]] = []
    # a Spark server the release starts is stopped at its end (one running before stays);
    # each env's first step starts ahead too
    with shared_server(ws), StepRunner(plan, **run_options) as runner:
        offset = 0
        for env in envs:
            started, ran = time.perf_counter(), []
            try:
                for index in range(offset, offset + len(plans[env])):
                    ran.append(runner.run(index).notebook.stem)
            except StepFailed as failed:
                rows.append({"env": env, "status": "stopped",
                             "seconds": time.perf_counter() - started,
                             "detail": f"step {len(ran) + 1} ({failed.result.notebook.stem}): "
                                       f"{failed.error.ename}: {failed.error.evalue}"})
                break
            rows.append({"env": env, "status": "passed", "seconds": time.perf_counter() - started,
                         "detail": " -> ".join(ran)})
            offset += len(plans[env])
    rows += [{"env": env, "status": "not run", "seconds": 0.0,
              "detail": "an earlier env failed its gate"} for env in envs[len(rows):]]
    return pd.DataFrame(rows).set_index("env").round({"seconds": 1})

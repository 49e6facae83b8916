"""The validation job as an action: what a new model version sets off.

The registry's webhook receiver (:class:`mlops_kit.registry.webhooks.WebhookReceiver`)
verifies and records deliveries but does nothing by itself; it runs the
handler it is given. :func:`validation_job_handler` is the course's handler:
on ``model_version.created`` it runs the job notebook ``jobs/validate_model``
for that version, in the env the model's name belongs to, through the job
runner. Jobs sit above the registry, so the registry never imports them.

Examples
--------
>>> from mlops_kit.registry.webhooks import WebhookReceiver
>>> receiver = WebhookReceiver("0123456789abcdef", handler=validation_job_handler())
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from mlops_kit.jobs.runner import run_notebook
from mlops_kit.spark_server import shared_server
from mlops_kit.workspace import ENVS, Workspace

__all__ = ["VALIDATION_JOB", "run_validation_job", "validation_job_handler"]

#: the job notebook that validates one model version
VALIDATION_JOB = "jobs/validate_model"


def run_validation_job(name: str, version: str, *, env: str | None = None,
                       parameters: Mapping[str, Any] | None = None,
                       workspace: Workspace | None = None) -> Path:
    """Run ``jobs/validate_model`` for one model version; return the executed notebook.

    A Spark Connect server the job starts is stopped after it; one that was
    running before (the notebook that registered the version) stays.
    """
    params = {"model_name": name, "version": str(version), **(parameters or {})}
    # the report is in the registry once the job's cells are done; its kernel's
    # shutdown need not hold up the receiver's next delivery
    with shared_server(workspace):
        result = run_notebook(VALIDATION_JOB, params, env=env, workspace=workspace,
                              wait_for_shutdown=False)
    return result.path


def validation_job_handler(parameters: Mapping[str, Any] | None = None,
                           workspace: Workspace | None = None) -> Callable[[str, dict, str], str]:
    """A webhook handler that validates each newly created model version.

    The env comes from the model name (``staging.ada.price`` -> ``staging``).
    """

    def handle(event: str, data: dict, delivery_id: str) -> str:
        name, version = data["name"], str(data["version"])
        prefix = name.split(".", 1)[0]
        env = prefix if prefix in ENVS else None
        path = run_validation_job(name, version, env=env, parameters=parameters,
                                  workspace=workspace)
        return f"validated {name} v{version}: {path}"

    return handle

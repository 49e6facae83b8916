"""The deploy-code pattern, made visible: the test pyramid and the envs side by side.

In the deploy-code pattern the *training code* is promoted (dev -> staging ->
prod) and each env trains its own model on its own data. Two questions a
learner (or a reviewer) asks, answered from the real project and workspace:

- :func:`count_test_layers`: how many checks of each layer guard that code (unit
  tests, papermill integration tests, nbval-checked notebook cells)?
- :func:`env_overview`: are dev, staging and prod really separate (tables,
  experiments, registered models)?
- :func:`ci_technologies`: the CI/CD technologies by role, as the field names
  them, next to what this repository actually runs for each role (with the
  installed version or the file that proves it).
"""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_kit.workspace import ENVS, Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["INTEGRATION_MARKERS", "TECHNOLOGIES", "count_test_layers", "ci_technologies",
           "env_overview"]

#: a test that calls one of these runs real notebooks (papermill) or the CLI around them
INTEGRATION_MARKERS = ("run_notebook", "run_pipeline", "run_course", "execute_notebook",
                       "run_job", "papermill", '"job", "run"', '"pipeline", "run"')


def _test_functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    text = path.read_text()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
            yield node.name, ast.get_source_segment(text, node) or ""


def _nbval_cells(notebooks: Path) -> tuple[int, int]:
    files = cells = 0
    for path in notebooks.rglob("*.ipynb"):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text())
        files += 1
        cells += sum("nbval-check-output" in c.get("metadata", {}).get("tags", [])
                     for c in nb.get("cells", []))
    return files, cells


def count_test_layers(root: str | Path | None = None) -> "pd.DataFrame":
    """Count the project's checks per layer of the test pyramid.

    ``unit``: test functions that call no notebook; ``papermill integration``:
    test functions that run notebooks or pipelines (:data:`INTEGRATION_MARKERS`);
    ``nbval``: the notebooks CI executes and the cells whose outputs it compares.
    """
    import pandas as pd

    from mlops_kit.jobs.runner import REPO_ROOT

    root = Path(root) if root else REPO_ROOT
    unit = integration = 0
    for path in sorted((root / "tests").glob("test_*.py")):
        for _, source in _test_functions(path):
            if any(marker in source for marker in INTEGRATION_MARKERS):
                integration += 1
            else:
                unit += 1
    notebooks, cells = _nbval_cells(root / "notebooks")
    return pd.DataFrame(
        [("unit", "pytest", unit, "functions, classes, CLI, servers; seconds each"),
         ("papermill integration", "pytest + papermill", integration,
          "job notebooks and pipelines run end to end"),
         ("nbval", "pytest --nbval-lax", notebooks,
          f"notebooks executed; {cells} cells compare their outputs")],
        columns=["layer", "runner", "count", "what it proves"],
    ).set_index("layer")


#: role -> (what the field uses, what this repository runs, the evidence: packages or files)
TECHNOLOGIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "version control": ("Git (GitHub, GitLab)", "Git: code, notebooks, job notebooks",
                        ("file:.git",)),
    "CI server and triggers": ("GitHub Actions, GitLab CI, Jenkins, Travis CI; registry webhooks",
                               "a push or pull request runs ./run.sh test (the workflow, "
                               "or .ci/run); MLflow registry webhooks start validation",
                               ("file:.ci/run", "file:.github/workflows/ci.yml")),
    "orchestration": ("Airflow, Jenkins, Databricks Jobs, cloud pipelines",
                      "the kit's job runner and pipelines (mlops-kit job / pipeline), "
                      "from cron or CI", ("pkg:papermill",)),
    "testing": ("pytest, Sonar", "pytest (unit), papermill (notebooks run end to end), "
                                 "nbval (outputs compared)", ("pkg:pytest", "pkg:nbval")),
    "artifact and model registry": ("PyPI, Maven, Nexus; the MLflow Model Registry",
                                    "the MLflow registry with aliases champion / challenger",
                                    ("pkg:mlflow",)),
    "environment management": ("conda, pip, pyenv, Docker, Kubernetes, container registries",
                               "a virtual environment from pyproject.toml (./run.sh), "
                               "dev / staging / prod workspaces", ("file:pyproject.toml",)),
    "monitoring and alerting": ("CloudWatch, Azure Monitor, PagerDuty, Slack",
                                "the Monitor (drift to Delta and MLflow), its alert hook, "
                                "triage before retraining",
                                ("file:mlops_kit/monitoring/monitor.py", "file:mlops_kit/jobs/triage.py")),
}


def _evidence(root: Path, item: str) -> str:
    from importlib import metadata

    kind, _, name = item.partition(":")
    if kind == "pkg":
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} missing"
    return name if (root / name).exists() else f"{name} missing"


def ci_technologies(root: str | Path | None = None) -> "pd.DataFrame":
    """The CI/CD technologies by role: the field's usual choices and this repository's.

    The ``here, checked`` column is computed: the installed version of each
    package, or the path of each file, so the table cannot claim a tool the
    project does not run.
    """
    import pandas as pd

    from mlops_kit.jobs.runner import REPO_ROOT

    base = Path(root) if root else REPO_ROOT
    return pd.DataFrame(
        [{"role": role, "in the field": field_tools, "in this repository": ours,
          "here, checked": ", ".join(_evidence(base, item) for item in evidence)}
         for role, (field_tools, ours, evidence) in TECHNOLOGIES.items()]).set_index("role")


def env_overview(model: str = "price", *, table: str = "listings",
                 experiment: str = "price_training",
                 workspace: Workspace | None = None) -> "pd.DataFrame":
    """One row per env: its table (path, version), experiment and registered model.

    Shows that the deploy-code pattern keeps envs apart: nothing in one row
    points into another env.
    """
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops_kit.delta import table_exists, table_version

    ws = workspace or get_workspace()
    client = MlflowClient()
    rows = []
    for env in ENVS:
        env_ws = ws.with_env(env)
        path = env_ws.table_path(table)
        name = env_ws.model_name(model)
        found = mlflow.get_experiment_by_name(env_ws.experiment_name(experiment))
        try:
            registered = client.get_registered_model(name)
            versions = len(client.search_model_versions(f"name = '{name}'"))
            aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(registered.aliases.items()))
        except MlflowException:
            versions, aliases = 0, ""
        rows.append({
            "env": env,
            "table": str(path.relative_to(ws.root)),
            "table_version": table_version(path) if table_exists(path) else None,
            "experiment": env_ws.experiment_name(experiment),
            "runs": (len(client.search_runs([found.experiment_id])) if found else 0),
            "model": name,
            "versions": versions,
            "aliases": aliases,
        })
    return pd.DataFrame(rows).set_index("env")

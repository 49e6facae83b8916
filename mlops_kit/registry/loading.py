"""Load a logged model with pyfunc, checking its requirements without MLflow's package scan.

Why: before loading, ``mlflow.pyfunc.load_model`` compares the model's
``requirements.txt`` with the environment, and to do so it first maps every
installed package to the modules it provides (``packages_distributions()``,
which reads the metadata of every distribution in the environment). That map
costs 0.7-1.5 s on this machine, once per process, and every serving process,
validation job and scoring job loads a model in a fresh process. The check
itself is worth keeping (a model pinned to another scikit-learn can predict
differently), so this module keeps it with one metadata lookup per requirement
and tells MLflow to skip its own (``suppress_warnings=True``).
"""
from __future__ import annotations

import logging
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.pyfunc import PyFuncModel

__all__ = ["load_pyfunc", "requirement_mismatches"]

_log = logging.getLogger(__name__)


def requirement_mismatches(requirements: list[str]) -> list[str]:
    """The lines of a ``requirements.txt`` this environment does not satisfy, explained.

    Lines that are not a plain ``name[extras] specifier ; marker`` (options such
    as ``-r file``, URLs, paths) are skipped, as MLflow skips them; a marker
    that does not apply here skips its line.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    for line in requirements:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} (not installed, required: {line})")
            continue
        if requirement.specifier and not requirement.specifier.contains(
                installed, prereleases=True):
            problems.append(f"{requirement.name} (installed: {installed}, required: {line})")
    return problems


def _python_mismatch(model_dir: Path) -> str | None:
    """The model's Python version when its major.minor differs from this one's."""
    import yaml

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
    logged = str(mlmodel.get("flavors", {}).get("python_function", {}).get("python_version", ""))
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if logged and logged.split(".")[:2] != here.split("."):
        return f"the model was logged with Python {logged}; this is Python {here}"
    return None


def load_pyfunc(model_uri: str) -> "PyFuncModel":
    """``mlflow.pyfunc.load_model(model_uri)``, with the cheap requirement check.

    Downloads the model's artifacts once, logs a warning (as MLflow does) for
    every requirement the environment does not meet and for another Python
    minor version, then loads from the downloaded folder without MLflow's own,
    slower check.
    """
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    requirements_file = local / "requirements.txt"
    if requirements_file.is_file():
        problems = requirement_mismatches(requirements_file.read_text().splitlines())
        if problems:
            _log.warning(
                "The environment does not match what model %s was logged with: %s. "
                "Its predictions may differ from the logged run's.",
                model_uri, "; ".join(problems),
            )
    python = _python_mismatch(local) if (local / "MLmodel").is_file() else None
    if python:
        _log.warning("Model %s: %s.", model_uri, python)
    return mlflow.pyfunc.load_model(str(local), suppress_warnings=True)

"""Routing configs: which deployments the routed endpoint serves, and their weights.

A routing config is a small JSON file in the workspace::

    {"salt": "price-exp-1",
     "deployments": {
        "champion":   {"model": "models:/dev.ada.price@champion",   "weight": 95},
        "challenger": {"model": "models:/dev.ada.price@challenger", "weight": 5},
        "mirror":     {"model": "models:/dev.ada.price@challenger", "shadow": true}}}

:func:`write_config` writes one atomically and :func:`set_weights` changes
weights in place; the routed endpoint (:mod:`mlops_kit.serving.routed`) sees
the change within a second, without a restart, and :func:`wait_until_served`
returns as soon as it does (instead of sleeping a guessed second). The file's format, its check
(:func:`read_config`) and sticky assignment (:func:`assign`) belong to the
endpoint's router (:mod:`mlops_kit.serving.router`) and are re-exported here.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mlops_kit.exceptions import ConfigError, EnvironmentProblem
from mlops_kit.serving.router import assign, read_config

__all__ = ["read_config", "write_config", "assign", "set_weights", "wait_until_served"]


def write_config(path: str | Path, deployments: dict[str, dict[str, Any]], *,
                 salt: str = "default") -> Path:
    """Write a routing config atomically (temp file + rename): a reader never sees half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"salt": salt, "deployments": deployments}
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(config, indent=2))
    read_config(tmp)
    os.replace(tmp, path)
    return path


def set_weights(path: str | Path, **weights: float) -> dict[str, Any]:
    """Change some deployments' weights in the config file (atomically)."""
    config = read_config(path)
    for name, weight in weights.items():
        if name not in config["deployments"]:
            raise ConfigError(f"No deployment named {name!r} in {path}. "
                              f"It has {sorted(config['deployments'])}.")
        config["deployments"][name]["weight"] = weight
    write_config(path, config["deployments"], salt=config.get("salt", "default"))
    return config


def _expected(config: dict[str, Any]) -> dict[str, tuple[float, bool, str]]:
    """Deployment -> (weight, shadow, version) the config asks for, aliases resolved now."""
    from mlflow import MlflowClient

    from mlops_kit.registry.reference import ModelReference

    expected = {}
    for name, spec in config["deployments"].items():
        ref = ModelReference.parse(spec["model"])
        version = ref.version
        if ref.alias is not None:
            version = MlflowClient().get_model_version_by_alias(ref.name, ref.alias).version
        expected[name] = (float(spec.get("weight", 0)), bool(spec.get("shadow")), str(version))
    return expected


def wait_until_served(endpoint: Any, routing: str | Path, *, timeout: float = 15.0,
                      poll: float = 0.05) -> dict[str, Any]:
    """Block until ``endpoint`` serves what ``routing`` says now; return its ``/rollout`` state.

    The routed endpoint reloads its table (a new ``generation``) when the file
    or an alias changes. This waits for the table whose deployments, weights,
    shadows and versions (aliases resolved in the registry now) match the
    config, so a lesson or a test never sleeps a guessed interval. The state
    returned has ``waited_s``: how long that took.

    Raises
    ------
    EnvironmentProblem
        The endpoint still serves something else after ``timeout`` seconds
        (the state's ``last_error`` says why a reload failed, if one did).
    """
    started = time.monotonic()
    expected = _expected(read_config(routing))
    while True:
        state = endpoint.rollout()
        served = {name: (float(d["weight"]), bool(d["shadow"]), str(d["version"]))
                  for name, d in state["deployments"].items()}
        if served == expected:
            return {**state, "waited_s": time.monotonic() - started}
        if time.monotonic() - started > timeout:
            raise EnvironmentProblem(
                f"The endpoint still serves {served} after {timeout:g} s; the config {routing} asks "
                f"for {expected} (generation {state.get('generation')}, last reload error: "
                f"{state.get('last_error')}). Check the endpoint's log.")
        time.sleep(poll)

"""Routing configs: which deployments the routed endpoint serves, and their weights.

A routing config is a small JSON file in the workspace::

    {"salt": "price-exp-1",
     "deployments": {
        "champion":   {"model": "models:/dev.ada.price@champion",   "weight": 95},
        "challenger": {"model": "models:/dev.ada.price@challenger", "weight": 5},
        "mirror":     {"model": "models:/dev.ada.price@challenger", "shadow": true}}}

:func:`write_config` writes one atomically and :func:`set_weights` changes
weights in place; the routed endpoint (:mod:`mlops_kit.serving.routed`) sees
the change within a second, without a restart. The file's format, its check
(:func:`read_config`) and sticky assignment (:func:`assign`) belong to the
endpoint's router (:mod:`mlops_kit.serving.router`) and are re-exported here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlops_kit.exceptions import ConfigError
from mlops_kit.serving.router import assign, read_config

__all__ = ["read_config", "write_config", "assign", "set_weights"]


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

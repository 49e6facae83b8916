"""The request router of the routed endpoint: a live routing table and its stats.

A routing config is a small JSON file (written by
:func:`mlops_kit.rollout.routing.write_config`)::

    {"salt": "price-exp-1",
     "deployments": {
        "champion":   {"model": "models:/dev.ada.price@champion",   "weight": 95},
        "challenger": {"model": "models:/dev.ada.price@challenger", "weight": 5},
        "mirror":     {"model": "models:/dev.ada.price@challenger", "shadow": true}}}

- ``weight``: share of live traffic (normalised over the non-shadow
  deployments; weight 0 keeps the model loaded but unused, which makes a
  blue-green switch instant);
- ``shadow``: gets a copy of every request off the request path; its answers
  are logged, never returned;
- ``salt``: the experiment salt of sticky assignment. A request carrying
  ``X-User-Id`` always lands on the same deployment for the same salt and
  weights (hash of salt and user id); without it the choice is random.

:func:`read_config` checks the file; :func:`assign` is the sticky choice.
:class:`Router` polls the file's mtime and the registry aliases every
``poll_seconds`` in a background thread; when either changed it loads what is
new (models already loaded are reused) and swaps the :class:`RoutingTable` in
one assignment, so requests in flight finish on the table they started with
and the process never restarts. Each :class:`Deployment` counts its requests,
errors and latencies (:class:`DeploymentStats`), which ``GET /rollout``
reports and the rollout policies judge.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_kit.exceptions import ConfigError

__all__ = ["Deployment", "DeploymentStats", "RoutingTable", "Router", "read_config", "assign"]

_log = logging.getLogger("mlops_kit.serving")


# --------------------------------------------------------------------- config
def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check a routing config; raise ConfigError naming what is wrong."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"No routing config at {path}. Write one with write_config().") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"The routing config {path} is not valid JSON: {err}.") from None
    deployments = config.get("deployments") if isinstance(config, dict) else None
    if not isinstance(deployments, dict) or not deployments:
        raise ConfigError(
            f"The routing config {path} needs a non-empty 'deployments' object, e.g. "
            '{"deployments": {"blue": {"model": "models:/NAME@champion", "weight": 1}}}.')
    for name, spec in deployments.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
            raise ConfigError(f"Deployment {name!r} in {path} needs a 'model' URI string. Got {spec!r}.")
        weight = spec.get("weight", 0)
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(f"Deployment {name!r}: weight must be a number >= 0. Got {weight!r}.")
    if not any(s.get("weight", 0) > 0 for s in deployments.values() if not s.get("shadow")):
        raise ConfigError(f"The routing config {path} gives no live deployment a weight > 0: "
                          "nothing could answer. Give at least one a positive weight.")
    return config


def assign(user_id: str, salt: str, weights: dict[str, float]) -> str:
    """Sticky variant of a user: hash of ``salt:user_id`` mapped onto the weights.

    Examples
    --------
    >>> assign("u1", "exp", {"a": 1, "b": 1}) == assign("u1", "exp", {"a": 1, "b": 1})
    True
    """
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return _pick(int.from_bytes(digest[:8], "big") / 2**64, weights)


def _pick(u: float, weights: dict[str, float]) -> str:
    total = sum(weights.values())
    acc = 0.0
    last = None
    for name, weight in weights.items():
        if weight <= 0:
            continue
        acc += weight / total
        last = name
        if u < acc:
            return name
    return last


# --------------------------------------------------------------------- table
class DeploymentStats:
    """Requests, server errors and recent latencies of one deployment."""

    def __init__(self, window: int = 2000) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def observe(self, ms: float, ok: bool) -> None:
        with self._lock:
            self.requests += 1
            self.errors += 0 if ok else 1
            self.latencies.append(ms)

    def summary(self) -> dict[str, Any]:
        import numpy as np

        with self._lock:
            lat = np.array(self.latencies) if self.latencies else None
            return {
                "requests": self.requests, "errors": self.errors,
                "error_rate": self.errors / self.requests if self.requests else 0.0,
                "p50_ms": float(np.percentile(lat, 50)) if lat is not None else None,
                "p99_ms": float(np.percentile(lat, 99)) if lat is not None else None,
            }


@dataclass
class Deployment:
    """One named deployment: its config, the model it serves, its live stats."""

    name: str
    model_uri: str
    weight: float
    shadow: bool
    served: Any = field(repr=False)
    stats: DeploymentStats = field(default_factory=DeploymentStats, repr=False)

    @property
    def version(self) -> str:
        return self.served.version

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_uri, "version": self.version, "weight": self.weight,
                "shadow": self.shadow, **self.stats.summary()}


@dataclass
class RoutingTable:
    """An immutable snapshot: deployments plus the weights of the live ones."""

    deployments: dict[str, Deployment]
    salt: str
    generation: int

    @property
    def weights(self) -> dict[str, float]:
        return {n: d.weight for n, d in self.deployments.items() if not d.shadow}

    @property
    def shadows(self) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.shadow]

    def choose(self, user_id: str | None, rng: random.Random) -> Deployment:
        """Sticky by user id when given, random by weight otherwise."""
        name = (assign(user_id, self.salt, self.weights) if user_id
                else _pick(rng.random(), self.weights))
        return self.deployments[name]

    @property
    def schema(self):
        """The request schema: the first live deployment's (all must share it)."""
        return next(d for d in self.deployments.values() if not d.shadow).served.schema


# -------------------------------------------------------------------- router
class Router:
    """Keep a :class:`RoutingTable` in sync with a config file and the registry.

    Parameters
    ----------
    config_path : path-like
        The routing config (see the module docstring).
    poll_seconds : float
        How often the file mtime and the aliases are checked.
    seed : int, optional
        Seed of the random choice for requests without a user id.
    """

    def __init__(self, config_path: str | Path, *, poll_seconds: float = 1.0,
                 seed: int | None = None) -> None:
        self.config_path = Path(config_path)
        self.poll_seconds = poll_seconds
        self.rng = random.Random(seed)
        self.table: RoutingTable | None = None
        self.last_error: str | None = None
        self.reloads = 0
        self._loaded: dict[str, Any] = {}   # "name/version" -> ServedModel
        self._signature: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------- resolution
    @staticmethod
    def _resolve(uri: str) -> tuple[str, str, str | None]:
        from mlflow.tracking import MlflowClient

        from mlops_kit.registry.reference import ModelReference

        ref = ModelReference.parse(uri)
        version = ref.version
        if ref.alias is not None:
            version = str(MlflowClient().get_model_version_by_alias(ref.name, ref.alias).version)
        return ref.name, str(version), ref.alias

    def _state(self) -> tuple[Any, dict[str, Any], dict[str, tuple]]:
        config = read_config(self.config_path)
        resolved = {n: self._resolve(s["model"]) for n, s in config["deployments"].items()}
        signature = (json.dumps(config, sort_keys=True), sorted(resolved.items()))
        return signature, config, resolved

    def _build(self, config: dict[str, Any], resolved: dict[str, tuple]) -> RoutingTable:
        from mlops_kit.serving.model_loader import load_served_model

        old = self.table.deployments if self.table else {}
        deployments = {}
        for name, spec in config["deployments"].items():
            model_name, version, alias = resolved[name]
            key = f"{model_name}/{version}"
            if key not in self._loaded:
                self._loaded[key] = load_served_model(f"models:/{key}")
            served = self._loaded[key]
            previous = old.get(name)
            keep_stats = previous is not None and previous.version == version
            deployments[name] = Deployment(
                name, spec["model"], float(spec.get("weight", 0)), bool(spec.get("shadow")),
                served, previous.stats if keep_stats else DeploymentStats())
        generation = self.table.generation + 1 if self.table else 1
        return RoutingTable(deployments, str(config.get("salt", "default")), generation)

    # ------------------------------------------------------------ lifecycle
    def load(self) -> RoutingTable:
        """Load the config now (raises on a bad config: fail at start-up)."""
        signature, config, resolved = self._state()
        self.table = self._build(config, resolved)
        self._signature = signature
        return self.table

    def poll_once(self) -> bool:
        """Check file and aliases once; swap the table if they changed. True if swapped."""
        try:
            signature, config, resolved = self._state()
            if signature == self._signature:
                return False
            table = self._build(config, resolved)
        except Exception as err:  # noqa: BLE001 - keep serving the last good table
            message = f"{type(err).__name__}: {err}"
            if message != self.last_error:
                _log.warning("routing reload failed, keeping the current table: %s", message)
            self.last_error = message
            return False
        self.table = table            # one assignment: the atomic swap
        self._signature = signature
        self.last_error = None
        self.reloads += 1
        return True

    def start(self) -> "Router":
        if self.table is None:
            self.load()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="routing-reload", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def describe(self) -> dict[str, Any]:
        """What ``GET /rollout`` answers."""
        table = self.table
        return {
            "pid": os.getpid(), "generation": table.generation, "reloads": self.reloads,
            "salt": table.salt, "last_error": self.last_error, "at": time.time(),
            "deployments": {n: d.describe() for n, d in table.deployments.items()},
        }

    def reset_stats(self) -> None:
        for deployment in self.table.deployments.values():
            deployment.stats = DeploymentStats()

"""Rollout policies: canary with automatic rollback, blue-green switch, audit trail.

A policy reads the live stats of the routed endpoint (``GET /rollout``) and
moves weights in the routing config; the endpoint picks the change up within
a second, without a restart.

- :class:`CanaryPolicy` steps the challenger through ``5% -> 25% -> 100%``
  while its error rate and p99 latency stay within budget, promotes it (the
  ``champion`` alias moves, with a reason in the registry audit trail), or
  rolls back (weight 0 and an audit entry) the moment it breaks the budget.
- :func:`switch` is blue-green: all traffic to one deployment in one atomic
  file write; switching back is the instant rollback.

Policies share the plugin shape: :func:`register_policy` / :func:`get_policy`.
"""
from __future__ import annotations

import abc
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlops_kit._html import CardMixin
from mlops_kit._registry import Registry
from mlops_kit.exceptions import ConfigError
from mlops_kit.rollout.routing import read_config, set_weights, write_config

__all__ = ["Decision", "RolloutPolicy", "CanaryPolicy", "run_canary", "switch",
           "record_audit", "read_audit", "register_policy", "get_policy"]


@dataclass(frozen=True)
class Decision(CardMixin):
    """What a policy decided at one look: ``action`` and why, with the stats it saw."""

    action: str            # "wait", "step", "promote", "rollback"
    weight: float          # challenger weight (percent) after the decision
    reason: str
    stats: dict[str, Any] = field(default_factory=dict)

    _repr_pretty_ = CardMixin._repr_pretty_  # before the dataclass __repr__ in IPython

    def _card(self):
        rows = [("challenger weight after (%)", float(self.weight))]
        for key, label in (("weight", "weight during the look (%)"), ("requests", "requests"),
                           ("errors", "errors"), ("error_rate", "error rate"),
                           ("p99_ms", "p99 (ms)")):
            if self.stats.get(key) is not None:
                rows.append((label, self.stats[key]))
        good = {"rollback": False, "promote": True}.get(self.action)
        return f"Canary decision: {self.action}", rows, self.reason, good


class RolloutPolicy(abc.ABC):
    """A rollout policy: look at stats, decide."""

    @abc.abstractmethod
    def decide(self, weight: float, stats: dict[str, Any]) -> Decision:
        """Given the challenger's current weight (percent) and its stats since the
        last step (``requests``, ``errors``, ``error_rate``, ``p99_ms``), return
        the next :class:`Decision`. Must not touch the endpoint itself."""


@dataclass
class CanaryPolicy(RolloutPolicy):
    """Grow the challenger's share step by step while it stays within budget.

    Parameters
    ----------
    steps : tuple of float
        Challenger weights in percent; the last is 100 (full rollout).
    max_error_rate : float
        Share of 5xx answers the challenger may give.
    max_p99_ms : float
        Budget for the challenger's p99 server latency.
    min_requests : int
        Requests the challenger must have answered before a step is judged.
    """

    steps: tuple[float, ...] = (5.0, 25.0, 100.0)
    max_error_rate: float = 0.01
    max_p99_ms: float = 250.0
    min_requests: int = 30

    def decide(self, weight: float, stats: dict[str, Any]) -> Decision:
        requests = stats.get("requests", 0)
        if requests and stats.get("error_rate", 0.0) > self.max_error_rate:
            return Decision("rollback", 0.0, f"error rate {stats['error_rate']:.3f} > budget "
                            f"{self.max_error_rate} after {requests} requests", stats)
        p99 = stats.get("p99_ms")
        if requests >= self.min_requests and p99 is not None and p99 > self.max_p99_ms:
            return Decision("rollback", 0.0, f"p99 {p99:.1f} ms > budget {self.max_p99_ms} ms", stats)
        if requests < self.min_requests:
            return Decision("wait", weight, f"{requests}/{self.min_requests} requests so far", stats)
        later = [s for s in self.steps if s > weight]
        if not later:
            return Decision("promote", 100.0, f"within budget at {weight:g}% "
                            f"(error rate {stats['error_rate']:.3f}, p99 {p99:.1f} ms)", stats)
        return Decision("step", later[0], f"within budget at {weight:g}%: step to {later[0]:g}%", stats)


_POLICIES: Registry[type[RolloutPolicy]] = Registry(
    "rollout policy", plural="policies",
    hint="Register yours with mlops_kit.rollout.policies.register_policy(name, cls).")
_POLICIES.register("canary", CanaryPolicy)


def register_policy(name: str, policy: type[RolloutPolicy]) -> None:
    """Make ``policy`` available by name (the plug-in shape of the kit)."""
    _POLICIES.register(name, policy)


def get_policy(name: str, **options: Any) -> RolloutPolicy:
    """A policy instance by name; NotFoundError lists the known ones."""
    return _POLICIES.lookup(name)(**options)


# ---------------------------------------------------------------------- audit
def _audit_path(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    from mlops_kit.workspace import get_workspace

    return get_workspace().artifacts_dir / "rollout_audit.jsonl"


def record_audit(action: str, reason: str, *, path: str | Path | None = None,
                 **details: Any) -> dict[str, Any]:
    """Append one event (``at``, ``action``, ``reason``, details) to the rollout audit."""
    event = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "action": action,
             "reason": reason, **details}
    target = _audit_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as out:
        out.write(json.dumps(event, default=str) + "\n")
    return event


def read_audit(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every rollout audit event, oldest first."""
    target = _audit_path(path)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------- operations
def switch(routing: str | Path, to: str, *, reason: str = "blue-green switch",
           audit: str | Path | None = None) -> dict[str, Any]:
    """Blue-green: send all live traffic to deployment ``to`` (others weight 0), atomically."""
    config = read_config(routing)
    deployments = config["deployments"]
    if to not in deployments or deployments[to].get("shadow"):
        raise ConfigError(f"Cannot switch to {to!r}: live deployments in {routing} are "
                          f"{sorted(n for n, d in deployments.items() if not d.get('shadow'))}.")
    for name, spec in deployments.items():
        if not spec.get("shadow"):
            spec["weight"] = 100 if name == to else 0
    write_config(routing, deployments, salt=config.get("salt", "default"))
    return record_audit("switch", reason, path=audit, to=to)


def run_canary(endpoint: Any, routing: str | Path, policy: RolloutPolicy, *,
               traffic: Callable[[], Any], champion: str = "champion",
               challenger: str = "challenger", promote_alias: str | None = "champion",
               settle_seconds: float = 1.5, max_looks: int = 50,
               audit: str | Path | None = None) -> list[Decision]:
    """Drive a canary to promotion or rollback.

    Parameters
    ----------
    endpoint : RoutedEndpoint
        The running endpoint (its ``rollout()`` / ``reset_stats()`` are used).
    routing : path-like
        Its routing config; ``champion`` and ``challenger`` are deployment names.
    traffic : callable
        Sends a burst of requests (the demo's users); called before each look.
    promote_alias : str or None
        On promotion, move this registry alias to the challenger's version
        (with a reason) and give the champion deployment all the traffic again;
        None leaves the challenger at 100%.

    Returns
    -------
    list of Decision
        Every look, the last being ``promote`` or ``rollback``.
    """
    weight = policy.steps[0]
    set_weights(routing, **{champion: 100 - weight, challenger: weight})
    _wait_for_weight(endpoint, challenger, weight, settle_seconds)
    endpoint.reset_stats()
    decisions: list[Decision] = []
    for _ in range(max_looks):
        traffic()
        stats = endpoint.rollout()["deployments"][challenger]
        decision = policy.decide(weight, stats)
        decisions.append(decision)
        if decision.action == "wait":
            continue
        version = stats.get("version")
        if decision.action == "rollback":
            set_weights(routing, **{champion: 100, challenger: 0})
            record_audit("rollback", decision.reason, path=audit, deployment=challenger,
                         version=version, stats=stats)
            return decisions
        if decision.action == "promote":
            _promote(endpoint, routing, decision, version, champion, challenger, promote_alias, audit)
            return decisions
        weight = decision.weight
        set_weights(routing, **{champion: 100 - weight, challenger: weight})
        record_audit("step", decision.reason, path=audit, deployment=challenger, weight=weight)
        _wait_for_weight(endpoint, challenger, weight, settle_seconds)
        endpoint.reset_stats()
    return decisions


def _promote(endpoint, routing, decision, version, champion, challenger, alias, audit) -> None:
    record_audit("promote", decision.reason, path=audit, deployment=challenger,
                 version=version, stats=decision.stats)
    if alias is None:
        return
    from mlops_kit.registry.promotion import promote
    from mlops_kit.registry.reference import ModelReference

    name = ModelReference.parse(read_config(routing)["deployments"][challenger]["model"]).name
    promote(name, version, alias, reason=f"canary passed: {decision.reason}")
    set_weights(routing, **{champion: 100, challenger: 0})


def _wait_for_weight(endpoint: Any, deployment: str, weight: float, timeout: float,
                     ) -> None:
    """Until the endpoint serves the new weight (it polls the file about once a second)."""
    deadline = time.monotonic() + max(timeout, 5.0)
    while time.monotonic() < deadline:
        if endpoint.rollout()["deployments"][deployment]["weight"] == weight:
            return
        time.sleep(0.1)

"""Rollout plots: a canary's steps, an A/B estimate with its interval, sequential looks.

- :func:`plot_canary`: per look of a canary, the challenger's traffic share,
  its error rate and its p99 latency against the policy's budgets; a rollback
  is marked where it happened.
- :func:`plot_ab`: the estimated lift of one or more A/B analyses with their
  confidence intervals, beside zero and (when known) the true lift.
- :func:`interim_z` and :func:`plot_sequential`: the z-statistic at each
  planned look of a group-sequential design, drawn against its boundaries.
- :func:`plot_traffic_shares`: the live traffic share of the new version over
  time under each rollout strategy (a sketch computed from the strategy, not a
  measurement).
- :func:`plot_rolling_update`: per step of a rolling update, how many
  instances serve the old and the new version, and the requests answered and
  failed meanwhile.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mlops_kit.exceptions import ConfigError, DataError

__all__ = ["canary_frame", "plot_canary", "plot_ab", "interim_z", "plot_sequential",
           "traffic_shares", "plot_traffic_shares", "plot_rolling_update"]


def canary_frame(decisions: Sequence[Any], *, first_weight: float | None = None) -> pd.DataFrame:
    """One row per look: ``look``, ``weight`` (challenger share during the look),
    ``requests``, ``error_rate``, ``p99_ms``, ``action`` and ``reason``."""
    if not decisions:
        raise DataError("canary_frame needs at least one decision (run_canary returns them).")
    rows, weight = [], first_weight
    for look, d in enumerate(decisions, start=1):
        stats = dict(d.stats or {})
        during = stats.get("weight", weight)
        rows.append({"look": look, "weight": float(during) if during is not None else math.nan,
                     "requests": stats.get("requests", 0),
                     "error_rate": float(stats.get("error_rate") or 0.0),
                     "p99_ms": float(stats["p99_ms"]) if stats.get("p99_ms") is not None else math.nan,
                     "action": d.action, "reason": d.reason})
        weight = d.weight
    return pd.DataFrame(rows)


def plot_canary(decisions: Sequence[Any], policy: Any = None, *, title: str = "Canary",
                dpi: int = 90):
    """Three panels over the looks: traffic share (%), error rate, p99 (ms).

    ``policy`` (a :class:`~mlops_kit.rollout.policies.CanaryPolicy`) adds its
    budgets as dashed lines. The look that rolled back is marked with a red X
    in every panel, a promotion with a green star. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    frame = canary_frame(decisions, first_weight=policy.steps[0] if policy is not None else None)
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.0), dpi=dpi)
    x = frame["look"].to_numpy()
    panels = (("weight", "challenger traffic (%)", None),
              ("error_rate", "error rate", getattr(policy, "max_error_rate", None)),
              ("p99_ms", "p99 latency (ms)", getattr(policy, "max_p99_ms", None)))
    for ax, (column, label, budget) in zip(axes, panels):
        y = frame[column].to_numpy(dtype=float)
        ax.step(x, y, where="mid", marker="o", color="tab:blue") if column == "weight" \
            else ax.plot(x, y, marker="o", color="tab:blue")
        if budget is not None:
            ax.axhline(budget, color="black", linestyle="--", linewidth=1, label=f"budget {budget:g}")
            ax.legend(fontsize=7)
        for action, marker, color in (("rollback", "X", "firebrick"), ("promote", "*", "green")):
            hit = (frame["action"] == action).to_numpy()
            if hit.any():
                ax.scatter(x[hit], y[hit], marker=marker, s=160, color=color, zorder=3, label=action)
        ax.set_xlabel("look")
        ax.set_ylabel(label)
        ax.set_xticks(x)
    final = frame["action"].iloc[-1]
    fig.suptitle(f"{title}: {final} at look {len(frame)}", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_ab(results: Any | Mapping[str, Any], *, truth: float | None = None, dpi: int = 90):
    """The absolute lift of each A/B analysis with its confidence interval.

    ``results`` is one :class:`~mlops_kit.rollout.abtest.ABResult` or a mapping
    ``{label: ABResult}``. An interval that crosses zero cannot tell the
    variants apart. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    items = dict(results) if isinstance(results, Mapping) else {"A/B test": results}
    if not items:
        raise DataError("plot_ab needs at least one ABResult.")
    fig, ax = plt.subplots(figsize=(6.0, 0.8 + 0.7 * len(items)), dpi=dpi)
    y = np.arange(len(items))[::-1]
    for yi, (label, r) in zip(y, items.items()):
        color = "green" if r.significant else "gray"
        ax.errorbar(r.lift_abs, yi, xerr=[[r.lift_abs - r.ci_low], [r.ci_high - r.lift_abs]],
                    fmt="o", color=color, capsize=5)
    ax.axvline(0, color="black", linewidth=1, label="no difference")
    if truth is not None:
        ax.axvline(truth, color="tab:orange", linestyle="--", label=f"true lift {truth:g}")
    ax.set_yticks(y, list(items))
    level = f"{1 - next(iter(items.values())).alpha:.0%}"
    ax.set_xlabel(f"lift (treatment - control), {level} interval")
    ax.set_title("A/B estimate: green = significant")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def interim_z(frame: pd.DataFrame, looks: int, *, metric: str = "converted",
              variant_col: str = "variant", time_col: str = "timestamp",
              control: str = "control", treatment: str = "treatment") -> list[float]:
    """The two-proportion z-statistic on the data seen by each of ``looks`` equally spaced looks.

    Users are taken in ``time_col`` order; look ``k`` sees the first ``k/looks``
    of them, as a daily report would.
    """
    from mlops_kit.rollout.abtest import two_proportion_ztest

    if looks < 1:
        raise ConfigError(f"looks must be >= 1. Got {looks}.")
    ordered = frame.sort_values(time_col) if time_col in frame.columns else frame
    is_b = (ordered[variant_col] == treatment).to_numpy()
    is_a = (ordered[variant_col] == control).to_numpy()
    y = ordered[metric].to_numpy()
    out = []
    for k in range(1, looks + 1):
        n = int(round(len(ordered) * k / looks))
        a, b = is_a[:n], is_b[:n]
        if not a.any() or not b.any():
            raise DataError(f"Look {k} sees no {control!r} or no {treatment!r} users; use fewer looks.")
        r = two_proportion_ztest(int(y[:n][a].sum()), int(a.sum()), int(y[:n][b].sum()), int(b.sum()))
        out.append(r.statistic)
    return out


def plot_sequential(design: Any, z_values: Sequence[float], *, dpi: int = 90):
    """Boundaries ``±b_k`` of a group-sequential design and the observed z at each look.

    The test stops at the first look whose |z| reaches its boundary (marked);
    the fixed-sample ±1.96 is drawn for comparison. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from scipy import stats

    t = np.asarray(design.times)
    bounds = np.asarray(design.boundaries)
    z = np.asarray(list(z_values), dtype=float)
    if z.size > t.size:
        raise ConfigError(f"{z.size} z values for a design of {t.size} looks.")
    fig, ax = plt.subplots(figsize=(6.0, 3.4), dpi=dpi)
    ax.plot(t, bounds, "k-", marker="s", label="stop boundary")
    ax.plot(t, -bounds, "k-", marker="s")
    fixed = stats.norm.isf(design.alpha / 2)
    ax.axhline(fixed, color="gray", linestyle=":", label=f"fixed-sample ±{fixed:.2f}")
    ax.axhline(-fixed, color="gray", linestyle=":")
    ax.plot(t[:z.size], z, color="tab:blue", marker="o", label="observed z")
    stop = design.first_crossing(z)
    if stop is not None:
        ax.scatter([t[stop - 1]], [z[stop - 1]], s=200, facecolors="none", edgecolors="firebrick",
                   zorder=3, label=f"stop at look {stop}")
    ax.set_xlabel("information fraction (share of planned users)")
    ax.set_ylabel("z statistic")
    ax.set_title("Group-sequential test: " + (f"stopped at look {stop}" if stop else "no stop"))
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    plt.close(fig)
    return fig


# the new version's share of live traffic as a function of release time t in [0, 1]
def _share(strategy: str, t: np.ndarray) -> np.ndarray:
    if strategy == "shadow":
        return np.zeros_like(t)   # it sees copies of every request, answers none
    if strategy == "canary":
        return np.select([t < 0.25, t < 0.5, t < 0.75], [0.0, 5.0, 25.0], 100.0)
    if strategy == "blue-green":
        return np.where(t < 0.5, 0.0, 100.0)
    if strategy == "rolling":
        return np.floor(np.clip((t - 0.2) / 0.6, 0, 1) * 4) / 4 * 100   # 4 instances, one at a time
    if strategy == "A/B":
        return np.where(t < 0.2, 0.0, 50.0)
    raise ConfigError(f"Unknown strategy {strategy!r}. Known: shadow, canary, blue-green, rolling, A/B.")


STRATEGIES = ("shadow", "canary", "blue-green", "rolling", "A/B")


def traffic_shares(points: int = 101) -> pd.DataFrame:
    """The new version's share of live answers (%) over a release, per strategy (index: time 0..1)."""
    t = np.linspace(0, 1, points)
    return pd.DataFrame({s: _share(s, t) for s in STRATEGIES}, index=pd.Index(t, name="time"))


def plot_traffic_shares(shares: pd.DataFrame | None = None, *, dpi: int = 90):
    """One small panel per strategy: the new version's share of live traffic over the release."""
    import matplotlib.pyplot as plt

    shares = traffic_shares() if shares is None else shares
    fig, axes = plt.subplots(1, len(shares.columns), figsize=(2.2 * len(shares.columns), 2.4),
                             dpi=dpi, sharey=True)
    for ax, name in zip(np.atleast_1d(axes), shares.columns):
        ax.fill_between(shares.index, shares[name], step="post", alpha=0.5)
        ax.plot(shares.index, shares[name], drawstyle="steps-post")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("release time")
        ax.set_ylim(0, 105)
    np.atleast_1d(axes)[0].set_ylabel("new version's live share (%)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_rolling_update(steps: pd.DataFrame, *, dpi: int = 90):
    """Two panels over the steps of a rolling update (what ``Fleet.rolling_update`` returns).

    Left: instances on the old and on the new version, stacked (the fleet's
    size never changes). Right: requests answered and failed during each step.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    missing = {"on_new", "versions", "requests", "errors"} - set(steps.columns)
    if missing:
        raise DataError(f"plot_rolling_update needs the columns on_new, versions, requests and "
                        f"errors (Fleet.rolling_update returns them). Missing: {sorted(missing)}.")
    x = steps.index.to_numpy()
    size = steps["versions"].map(len).to_numpy()
    new = steps["on_new"].to_numpy(dtype=float)
    errors = steps["errors"].to_numpy(dtype=float)
    answered = steps["requests"].to_numpy(dtype=float) - errors
    fig, (fleet_ax, traffic_ax) = plt.subplots(1, 2, figsize=(9.0, 3.0), dpi=dpi)
    fleet_ax.bar(x, size - new, color="tab:gray", label="old version")
    fleet_ax.bar(x, new, bottom=size - new, color="tab:green", label="new version")
    fleet_ax.set_ylabel("instances")
    fleet_ax.set_yticks(range(int(size.max()) + 1))
    fleet_ax.set_ylim(0, size.max() * 1.35)            # room for the legend above the bars
    traffic_ax.bar(x, answered, color="tab:blue", label="answered (200)")
    traffic_ax.bar(x, errors, bottom=answered, color="firebrick", label="failed")
    traffic_ax.set_ylabel("requests during the step")
    traffic_ax.set_ylim(0, max(1.0, float((answered + errors).max())) * 1.35)
    for ax in (fleet_ax, traffic_ax):
        ax.set_xlabel("step (instances replaced)")
        ax.set_xticks(x)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle(f"Rolling update of {int(size.max())} instances: {int(errors.sum())} of "
                 f"{int(steps['requests'].sum())} requests failed", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig

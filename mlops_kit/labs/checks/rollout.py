"""Checkers of the rollout lab (``rollout``).

ex1 reads the canary's metrics from the endpoint itself (``GET /rollout``) and
checks the learner's promote/rollback decision against the budget; the
learner's own traffic must have reached the challenger (a decision typed in
without running the canary is no decision), and whether the challenger is
good or faulty differs between learners. ex2 recomputes the A/B test with
scipy from the raw data; ex3 recomputes the sample size from the learner's
baseline and minimum effect.
"""
from __future__ import annotations

import math
from typing import Any

from mlops_kit.labs import CheckResult, checker


@checker("rollout", "ex1", title="Promote or roll back the canary", hints=[
    "The decision comes from what the challenger did with real traffic, not from its name.",
    "Send the traffic after the new weights are live and the stats reset, then compare each of "
    "the challenger's metrics with its budget.",
])
def check_ex1(value: Any, *, endpoint_url: str, max_error_rate: float, max_p99_ms: float,
              deployment: str = "challenger", traffic: Any = None, **context: Any) -> CheckResult:
    import httpx
    import pandas as pd

    if value not in ("promote", "rollback"):
        return CheckResult.fail(f"decision should be 'promote' or 'rollback'; got {value!r}.",
                                hint="Compare the challenger's error_rate and p99_ms with the budget.")
    if not isinstance(traffic, pd.DataFrame) or "deployment" not in traffic:
        return CheckResult.fail("the check needs the canary traffic you sent: pass traffic=sent, the "
                                "frame send_traffic returned",
                                hint="A decision needs evidence: run the canary first.")
    reached = int((traffic["deployment"] == deployment).sum())
    if not reached:
        return CheckResult.fail(f"none of your {len(traffic)} requests reached the {deployment}, so "
                                f"your traffic says nothing about it",
                                hint="Give it a weight > 0 and wait until the endpoint has reloaded "
                                     "the routing before sending traffic.")
    stats = httpx.get(f"{endpoint_url}/rollout", timeout=10).json()["deployments"][deployment]
    if not stats["requests"]:
        return CheckResult.fail("The challenger has answered no request since the stats were reset.",
                                hint="Give it a weight > 0, wait a second, then send traffic.")
    broke = stats["error_rate"] > max_error_rate or (stats["p99_ms"] or 0) > max_p99_ms
    expected = "rollback" if broke else "promote"
    seen = (f"error rate {stats['error_rate']:.3f} (budget {max_error_rate}), "
            f"p99 {stats['p99_ms']:.1f} ms (budget {max_p99_ms})")
    if value != expected:
        return CheckResult.fail(f"{value!r} does not follow from the recorded metrics: {seen}.",
                                hint="Compare each metric with its own budget: what does one metric "
                                     "over budget mean for the whole canary?")
    return CheckResult.ok(f"{expected}: {seen}")


def _ztest(frame) -> tuple[float, float]:
    from scipy import stats

    a = frame.loc[frame["variant"] == "control", "converted"]
    b = frame.loc[frame["variant"] == "treatment", "converted"]
    pa, pb = a.mean(), b.mean()
    pooled = (a.sum() + b.sum()) / (len(a) + len(b))
    z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    return float(2 * stats.norm.sf(abs(z))), float((pb - pa) / pa)


@checker("rollout", "ex2", title="Analyse the A/B test", hints=[
    "Two conversion rates, one test of whether they differ (in either direction).",
    "The lift is relative to the control's rate; the p-value is two-sided.",
])
def check_ex2(value: Any, *, frame: Any, **context: Any) -> CheckResult:
    if not isinstance(value, dict) or not {"p_value", "lift"} <= set(value):
        return CheckResult.fail("Pass a dict with 'p_value' and 'lift'.",
                                hint="One dict, two keys: the exercise names them.")
    p_value, lift = _ztest(frame)
    if not math.isclose(float(value["lift"]), lift, rel_tol=1e-6, abs_tol=1e-9):
        return CheckResult.fail(f"The relative lift is {lift:.4f}; you have {value['lift']}.",
                                hint="Relative lift: (treatment rate - control rate) / control rate.")
    if not math.isclose(float(value["p_value"]), p_value, rel_tol=1e-4, abs_tol=1e-12):
        return CheckResult.fail(f"The two-sided two-proportion z-test gives p = {p_value:.4g}; "
                                f"you have {value['p_value']}.",
                                hint="A two-sided test counts extremes on both sides; compare control "
                                     "with treatment, not the other way round.")
    return CheckResult.ok(f"lift {lift:+.1%}, p = {p_value:.3g}")


@checker("rollout", "ex3", title="Size the A/B test", hints=[
    "The smaller the effect you must detect, the more users you need: the size comes from the "
    "baseline rate, the minimum effect, alpha and power.",
    "Is your minimum effect absolute (percentage points) or relative to the baseline? And is "
    "your number per arm or for both arms?",
])
def check_ex3(value: Any, *, baseline_rate: float, min_effect: float, alpha: float = 0.05,
              power: float = 0.8, **context: Any) -> CheckResult:
    """``min_effect`` is relative: the treatment must convert at ``baseline * (1 + min_effect)``."""
    from mlops_kit.rollout import sample_size

    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return CheckResult.fail(f"users_per_arm should be a number of users; got {value!r}",
                                hint="The kit's rollout module computes sample sizes.")
    expected = sample_size(baseline_rate, min_effect, alpha, power, relative=True)
    if abs(value - expected) <= max(1, 0.01 * expected):
        return CheckResult.ok(f"{expected} users per arm ({2 * expected} in all) detect a "
                              f"{min_effect:.0%} relative lift {power:.0%} of the time")
    if abs(value - 2 * expected) <= max(2, 0.01 * expected):
        return CheckResult.fail("that is about the size of both arms together",
                                hint="The exercise asks for users in each arm.")
    ratio = value / expected
    return CheckResult.fail(
        f"{value:g} users per arm is {'more' if ratio > 1 else 'fewer'} than this test needs",
        hint="Check how you passed the effect (absolute or relative), alpha (two-sided) and power.",
    )

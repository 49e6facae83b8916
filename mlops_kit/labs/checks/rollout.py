"""Checkers of the rollout lab (``rollout``).

ex1 reads the canary's metrics from the endpoint itself (``GET /rollout``) and
checks the learner's promote/rollback decision against the budget. ex2
recomputes the A/B test with scipy from the raw data.
"""
from __future__ import annotations

import math
from typing import Any

from mlops_kit.labs import CheckResult, checker


@checker("rollout", "ex1", title="Promote or roll back the canary")
def check_ex1(value: Any, *, endpoint_url: str, max_error_rate: float, max_p99_ms: float,
              deployment: str = "challenger", **context: Any) -> CheckResult:
    import httpx

    if value not in ("promote", "rollback"):
        return CheckResult.fail(f"decision should be 'promote' or 'rollback'; got {value!r}.",
                                hint="Compare the challenger's error_rate and p99_ms with the budget.")
    stats = httpx.get(f"{endpoint_url}/rollout", timeout=10).json()["deployments"][deployment]
    if not stats["requests"]:
        return CheckResult.fail("The challenger has answered no request since the stats were reset.",
                                hint="Give it a weight > 0, wait a second, then send traffic.")
    broke = stats["error_rate"] > max_error_rate or (stats["p99_ms"] or 0) > max_p99_ms
    expected = "rollback" if broke else "promote"
    seen = (f"error rate {stats['error_rate']:.3f} (budget {max_error_rate}), "
            f"p99 {stats['p99_ms']:.1f} ms (budget {max_p99_ms})")
    if value != expected:
        return CheckResult.fail(f"The recorded metrics say {expected}: {seen}.",
                                hint="Any metric over its budget means rollback.")
    return CheckResult.ok(f"{expected}: {seen}")


def _ztest(frame) -> tuple[float, float]:
    from scipy import stats

    a = frame.loc[frame["variant"] == "control", "converted"]
    b = frame.loc[frame["variant"] == "treatment", "converted"]
    pa, pb = a.mean(), b.mean()
    pooled = (a.sum() + b.sum()) / (len(a) + len(b))
    z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    return float(2 * stats.norm.sf(abs(z))), float((pb - pa) / pa)


@checker("rollout", "ex2", title="Analyse the A/B test")
def check_ex2(value: Any, *, frame: Any, **context: Any) -> CheckResult:
    if not isinstance(value, dict) or not {"p_value", "lift"} <= set(value):
        return CheckResult.fail("Pass a dict with 'p_value' and 'lift'.",
                                hint='{"p_value": result.p_value, "lift": result.lift_rel}')
    p_value, lift = _ztest(frame)
    if not math.isclose(float(value["lift"]), lift, rel_tol=1e-6, abs_tol=1e-9):
        return CheckResult.fail(f"The relative lift is {lift:.4f}; you have {value['lift']}.",
                                hint="Relative lift: (treatment rate - control rate) / control rate.")
    if not math.isclose(float(value["p_value"]), p_value, rel_tol=1e-4, abs_tol=1e-12):
        return CheckResult.fail(f"The two-sided two-proportion z-test gives p = {p_value:.4g}; "
                                f"you have {value['p_value']}.",
                                hint="Use analyze_ab(frame) (pooled z-test, two-sided).")
    return CheckResult.ok(f"lift {lift:+.1%}, p = {p_value:.3g}")

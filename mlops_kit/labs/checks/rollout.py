"""Checkers of the rollout lab (``rollout``).

ex1 reads the canary's metrics from the endpoint itself (``GET /rollout``) and
checks the learner's promote/rollback decision against the budget; the
learner's own traffic must have reached the challenger (a decision typed in
without running the canary is no decision), and whether the challenger is
good or faulty differs between learners.

ex2 runs the learner's ship / extend / stop rule on their own A/B experiment
(:func:`mlops_kit.labs.scenarios.ab_experiment`: a clear win, a peek long before
the planned size, a win whose guardrail got worse, or no effect) and on
experiments built at the edges of their plan and of a plan of the checker's
own: one user short of the planned size, a lift just significant or just not,
a guardrail worse or better. ex3 builds the learner's ramp policy from a plan
and replays it on their own canary looks (:func:`mlops_kit.labs.scenarios.
ramp_looks`) and on looks at the budgets' edges.
"""
from __future__ import annotations

import functools
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


# --------------------------------------------------------------------------- ex2: ship, extend or stop
DECISIONS = ("ship", "extend", "stop")


def planned_users(plan: dict[str, Any]) -> int:
    """Users per arm the plan needs (two-sided alpha, power, relative minimum effect)."""
    from mlops_kit.rollout import sample_size

    return sample_size(plan["baseline_rate"], plan["min_effect"], plan["alpha"], plan["power"],
                       relative=True)


def ab_decision(experiment: Any, plan: dict[str, Any]) -> str:
    """The decision an experiment supports: ``stop`` on a guardrail that got significantly worse
    (at any look), ``extend`` before each arm has the planned users, then ``ship`` on a
    significant gain and ``stop`` otherwise."""
    from mlops_kit.rollout import analyze_ab

    guard = analyze_ab(experiment, metric=plan["guardrail"], alpha=plan["alpha"])
    if guard.p_value < plan["alpha"] and guard.lift_abs > 0:
        return "stop"
    if experiment["variant"].value_counts().reindex(["control", "treatment"]).fillna(0).min() \
            < planned_users(plan):
        return "extend"
    primary = analyze_ab(experiment, metric="converted", alpha=plan["alpha"])
    return "ship" if primary.p_value < plan["alpha"] and primary.lift_abs > 0 else "stop"


def counts_frame(plan: dict[str, Any], n: tuple[int, int], converted: tuple[int, int],
                 guarded: tuple[int, int]):
    """An experiment with exact counts: (control, treatment) users, conversions, guardrail hits."""
    import numpy as np
    import pandas as pd

    parts = []
    for variant, users, conv, guard in zip(("control", "treatment"), n, converted, guarded):
        parts.append(pd.DataFrame({"variant": variant,
                                   "converted": (np.arange(users) < conv).astype(np.int64),
                                   plan["guardrail"]: (np.arange(users)[::-1] < guard).astype(np.int64)}))
    frame = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame.insert(0, "user_id", np.arange(len(frame)))
    return frame


def _first_significant(base: int, n: int, alpha: float, step: int) -> int:
    """The count nearest ``base`` (moving by ``step``) whose two-sided test against it is significant
    (the pooled two-proportion z of :func:`mlops_kit.rollout.two_proportion_ztest`)."""
    import math

    from scipy import stats

    critical = float(stats.norm.isf(alpha / 2))
    k = base
    while True:
        pooled = (base + k) / (2 * n)
        se = math.sqrt(pooled * (1 - pooled) * 2 / n)
        if se > 0 and abs(k - base) / n / se > critical:
            return k
        k += step


#: a plan of the checker's own, so a rule with the learner's numbers typed in fails
OTHER_PLAN = {"baseline_rate": 0.2, "min_effect": 0.1, "alpha": 0.1, "power": 0.9,
              "guardrail": "returned"}


def ab_cases(experiment: Any, plan: dict[str, Any]) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(kind, description, experiment, plan): the learner's own and those at the plan's edges."""
    return [("own", "your own experiment", experiment, plan), *_edge_cases(tuple(plan.items()))]


@functools.lru_cache(maxsize=8)
def _edge_cases(items: tuple) -> list[tuple[str, str, Any, dict[str, Any]]]:
    plan = dict(items)
    cases = []
    for which, p in (("your", plan), ("another", OTHER_PLAN)):
        n = planned_users(p)
        base, guard = round(n * p["baseline_rate"]), round(n * 0.03)
        win = _first_significant(base, n, p["alpha"], +1)
        loss = _first_significant(base, n, p["alpha"], -1)
        harm = _first_significant(guard, n, p["alpha"], +1)
        good = _first_significant(guard, n, p["alpha"], -1)
        far = base + 3 * (win - base)
        at = f"{which} plan's {n} users per arm"
        cases += [
            ("peek", f"{which} plan one user per arm short of its size, the treatment far ahead",
             counts_frame(p, (n - 1, n - 1), (base, far), (guard, guard)), p),
            ("full", f"{at}, the treatment just significantly ahead",
             counts_frame(p, (n, n), (base, win), (guard, guard)), p),
        ]
        if which == "another":
            continue
        half = n // 2
        cases += [
            ("full", f"{at}, the treatment ahead but just short of significance",
             counts_frame(p, (n, n), (base, win - 1), (guard, guard)), p),
            ("full", f"{at}, the treatment significantly behind",
             counts_frame(p, (n, n), (base, loss), (guard, guard)), p),
            ("guardrail", f"{at}, the treatment ahead and its {p['guardrail']} rate significantly higher",
             counts_frame(p, (n, n), (base, far), (guard, harm)), p),
            ("guardrail", f"{at}, the treatment ahead and its {p['guardrail']} rate significantly lower",
             counts_frame(p, (n, n), (base, far), (guard, good)), p),
            ("guardrail", f"half of {which} plan's users, the {p['guardrail']} rate already "
                          f"significantly higher",
             counts_frame(p, (half, half), (half * base // n, half * base // n),
                          (half * guard // n, _first_significant(half * guard // n, half, p["alpha"], +1) + 2)), p),
            ("peek", f"{at} in control, one fewer in the treatment, the treatment far ahead",
             counts_frame(p, (n, n - 1), (base, far), (guard, guard)), p),
        ]
    return cases


_AB_HINTS = {
    "own": "Work through your plan in order: is anyone harmed, is the test as big as the plan "
           "says, and only then did the treatment win?",
    "peek": "A p-value below alpha at a look before the planned size is the peeking trap: how many "
            "users does each arm need, from the plan's own numbers?",
    "full": "At the planned size, ship only a gain that is significant at the plan's alpha, in the "
            "treatment's favour.",
    "guardrail": "A guardrail stops a test when it gets significantly worse, whatever the primary "
                 "metric says, and at any look; a guardrail that got better is no reason to stop.",
}


def _call_rule(rule: Any, experiment: Any, plan: dict[str, Any]) -> Any:
    return rule(experiment.copy(), dict(plan))


@checker("rollout", "ex2", title="Ship, extend or stop the A/B test", hints=[
    "Three questions, in order: did a guardrail get worse, does each arm have the users your plan "
    "needs to see the minimum effect, and did the treatment win significantly?",
    "The plan says how many users each arm needs (power and minimum effect); a significant p-value "
    "on fewer users than that is a peek, not a result.",
])
def check_ex2(value: Any, *, experiment: Any = None, plan: dict[str, Any] | None = None,
              **context: Any) -> CheckResult:
    if not callable(value):
        return CheckResult.fail(f"decide should be a function of (experiment, plan); got "
                                f"{type(value).__name__}",
                                hint="def decide(experiment, plan): ... return 'ship', 'extend' or 'stop'")
    if experiment is None or plan is None:
        return CheckResult.fail("the check needs your experiment: pass experiment=experiment, plan=plan",
                                hint="Call lab.check as the cell shows.")
    cases = ab_cases(experiment, plan)
    for kind, description, frame, p in cases:
        try:
            got = _call_rule(value, frame, p)
        except Exception as err:  # noqa: BLE001 - the learner's rule
            return CheckResult.fail(f"your rule raised {type(err).__name__}: {err} on {description}",
                                    hint="Read the plan's keys (baseline_rate, min_effect, alpha, power, "
                                         "guardrail) rather than typing numbers in.")
        if got not in DECISIONS:
            return CheckResult.fail(f"your rule returned {got!r} on {description}; it should return "
                                    f"one of {list(DECISIONS)}", hint=_AB_HINTS[kind])
        if got != ab_decision(frame, p):
            return CheckResult.fail(f"your rule says {got!r} on {description}, which the data there "
                                    "does not support", hint=_AB_HINTS[kind])
    return CheckResult.ok(f"{ab_decision(experiment, plan)!r} for your experiment, and the right call "
                          f"on {len(cases) - 1} experiments at the edges of the plans")


# --------------------------------------------------------------------------- ex3: the ramp policy
def _read(decision: Any) -> tuple[Any, Any]:
    if isinstance(decision, tuple) and len(decision) >= 2:
        return decision[0], decision[1]
    return getattr(decision, "action", None), getattr(decision, "weight", None)


def replay_ramp(policy: Any, looks: dict[float, list[dict[str, Any]]],
                max_decisions: int = 40) -> list[tuple[float, str, Any]]:
    """Run ``policy`` through a ramp's looks: ``(weight, action, weight after)`` per decision.

    The ramp starts at the first weight of ``looks``; ``wait`` reads the next
    look at the same weight, ``step`` moves to the weight the decision names,
    ``promote`` and ``rollback`` end the ramp (so does a weight with no looks
    left, or a decision that is none of these).
    """
    decide = policy.decide if hasattr(policy, "decide") else policy
    weight, seen, path = next(iter(looks)), 0, []
    for _ in range(max_decisions):
        if weight not in looks or seen >= len(looks[weight]):
            path.append((weight, "no look left", None))
            break
        action, after = _read(decide(weight, dict(looks[weight][seen])))
        path.append((weight, action, after))
        if action == "wait":
            seen += 1
        elif action == "step":
            weight, seen = after, 0
        else:
            break
    return path


class ReferenceRamp:
    """The ramp the plan describes (the checker's truth)."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan

    def decide(self, weight: float, stats: dict[str, Any]) -> tuple[str, float]:
        plan = self.plan
        if stats["requests"] < plan["min_requests"]:
            return "wait", weight
        if stats["error_rate"] > plan["max_error_rate"] or stats[plan["guardrail"]] > plan["guardrail_max"]:
            return "rollback", 0.0
        later = [s for s in plan["steps"] if s > weight]
        return ("step", later[0]) if later else ("promote", 100.0)


def _look(plan: dict[str, Any], requests: int, rate: float, errors: int = 0) -> dict[str, Any]:
    return {"requests": requests, "errors": errors, "error_rate": round(errors / requests, 6),
            "p99_ms": 120.0, plan["guardrail"]: rate}


#: a ramp plan of the checker's own (another guardrail, steps, budgets)
OTHER_RAMP = {"steps": (1.0, 10.0, 50.0, 100.0), "min_requests": 100, "guardrail": "return_rate",
              "guardrail_max": 0.02, "max_error_rate": 0.005}


def ramp_cases(plan: dict[str, Any], own: dict[float, list[dict[str, Any]]]):
    """(description, plan, looks): the learner's canary and looks at the edges of the budgets."""
    cases = [("your own canary", plan, own)]
    for which, p in (("your", plan), ("another", OTHER_RAMP)):
        steps, n, cap = p["steps"], p["min_requests"], p["guardrail_max"]

        def ramp(rates, *, few=None, errors=None, p=p, n=n, cap=cap):
            looks = {}
            for i, weight in enumerate(p["steps"]):
                first = _look(p, n // 2, few if few is not None and i == 0 else cap / 2)
                looks[weight] = [first, _look(p, n, rates[i], errors if errors and i == 0 else 0)]
            return looks

        ok = [cap / 2] * len(steps)
        second = list(ok)
        second[1] = round(cap + 0.001, 6)
        last = list(ok)
        last[-1] = round(cap * 1.01, 6)
        cases += [
            (f"{which} plan, every look within budget", p, ramp(ok)),
            (f"{which} plan, the {p['guardrail']} exactly at its budget at every step", p,
             ramp([cap] * len(steps))),
            (f"{which} plan, the {p['guardrail']} just over its budget at the second step", p, ramp(second)),
            (f"{which} plan, the {p['guardrail']} just over its budget at the last step", p, ramp(last)),
        ]
        if which == "another":
            continue
        breach_early = ramp(ok)
        breach_early[steps[0]] = [_look(p, n - 1, cap * 2), _look(p, n, cap * 2)]
        cases += [
            (f"{which} plan, a look over the guardrail's budget with too few requests, then the "
             f"same with enough", p, breach_early),
            (f"{which} plan, a noisy first look with few requests, then within budget", p,
             ramp(ok, few=cap * 3)),
            (f"{which} plan, an error rate over budget at the first step", p,
             ramp(ok, errors=max(1, int(n * p["max_error_rate"]) + 1))),
        ]
    return cases


def _describe(path: list[tuple[float, str, Any]]) -> str:
    return " -> ".join(f"{w:g}%: {a}" for w, a, _ in path)


@checker("rollout", "ex3", title="Build the guardrail ramp", hints=[
    "A look is judged only once it has the plan's minimum of requests; then any rate over its "
    "budget rolls back, and a look within every budget moves to the next step of the plan.",
    "Read every number from the plan the policy is built with (steps, minimum of requests, the "
    "guardrail's name and budget, the error budget): 'over budget' means strictly more.",
])
def check_ex3(value: Any, *, plan: dict[str, Any] | None = None,
              looks: dict[float, list[dict[str, Any]]] | None = None, **context: Any) -> CheckResult:
    if not callable(value):
        return CheckResult.fail(f"GuardrailRamp should be a class (or function) that takes a plan; "
                                f"got {type(value).__name__}",
                                hint="class GuardrailRamp(RolloutPolicy): def __init__(self, plan): ...")
    if plan is None or looks is None:
        return CheckResult.fail("the check needs your ramp: pass plan=plan, looks=looks",
                                hint="Call lab.check as the cell shows.")
    for description, p, case in ramp_cases(plan, looks):
        try:
            got = replay_ramp(value(dict(p)), case)
        except Exception as err:  # noqa: BLE001 - the learner's policy
            return CheckResult.fail(f"your policy raised {type(err).__name__}: {err} on {description}",
                                    hint="decide(weight, stats) gets the stats of one look; the plan "
                                         "names the guardrail's key in them.")
        right = replay_ramp(ReferenceRamp(p), case)
        if [(w, a, float(x) if isinstance(x, (int, float)) else x) for w, a, x in got] != right:
            return CheckResult.fail(f"on {description}, your policy went {_describe(got)}, which "
                                    "the plan does not allow",
                                    hint="Compare each look with the plan: enough requests? every rate "
                                         "within its budget? then the next step, not a later one.")
    outcome = replay_ramp(ReferenceRamp(plan), looks)[-1]
    return CheckResult.ok(f"your canary ends in {outcome[1]} at {outcome[0]:g}%, and the policy "
                          f"follows the plan at the edges of its budgets")

"""Checkers of the rollout lab: the right decisions pass, plausible wrong ones fail with a pointer.

The endpoint's ``GET /rollout`` is replaced by a stub, so ex1 runs without a server.
"""
from __future__ import annotations

import pandas as pd
import pytest

from mlops_kit.labs.checks.rollout import (DECISIONS, ReferenceRamp, ab_cases, ab_decision, check_ex1,
                                           check_ex2, check_ex3, planned_users, replay_ramp)
from mlops_kit.labs.registry import get
from mlops_kit.labs.scenarios import (AB_SITUATIONS, ab_experiment, ab_plan, ab_situation,
                                      challenger_is_faulty, learner_seed, ramp_looks, ramp_plan)
from mlops_kit.rollout import CanaryPolicy, analyze_ab, sample_size
from mlops_kit.rollout.policies import Decision, RolloutPolicy

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("rollout", "ex1"), ("rollout", "ex2"), ("rollout", "ex3")]

BUDGET = {"endpoint_url": "http://127.0.0.1:9", "max_error_rate": 0.01, "max_p99_ms": 1000.0}
FAULTY = {"requests": 26, "error_rate": 0.42, "p99_ms": 30.0}
GOOD = {"requests": 24, "error_rate": 0.0, "p99_ms": 25.0}
SLOW = {"requests": 25, "error_rate": 0.0, "p99_ms": 1800.0}


class _Answer:
    def __init__(self, stats):
        self._stats = stats

    def json(self):
        return {"deployments": {"challenger": self._stats}}


@pytest.fixture
def endpoint_stats(monkeypatch):
    import httpx

    def serve(stats):
        monkeypatch.setattr(httpx, "get", lambda url, timeout=None: _Answer(stats))
    return serve


def traffic(challenger: int = 25, champion: int = 75) -> pd.DataFrame:
    return pd.DataFrame({"deployment": ["challenger"] * challenger + ["champion"] * champion,
                         "status": 200})


def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3"):
        assert len(get("rollout", exercise).hints) >= 2


def test_the_challenger_is_good_for_some_learners_and_faulty_for_others():
    kinds = {challenger_is_faulty(learner_seed("rollout", u)) for u in ("ada", "bob", "cyd", "dan")}
    assert kinds == {True, False}


@pytest.mark.parametrize(("stats", "right"), [(FAULTY, "rollback"), (SLOW, "rollback"),
                                              (GOOD, "promote")], ids=["faulty", "slow", "good"])
def test_ex1_accepts_the_decision_the_metrics_support(endpoint_stats, stats, right):
    endpoint_stats(stats)
    assert check_ex1(right, traffic=traffic(), **BUDGET).passed


def test_ex1_rejects_rollback_typed_in_without_running_the_canary(endpoint_stats):
    """Before: 'rollback' passed whenever the (visibly faulty) challenger had failed requests."""
    endpoint_stats(FAULTY)
    no_evidence = check_ex1("rollback", **BUDGET)
    assert not no_evidence.passed and "traffic=sent" in no_evidence.message
    champion_only = check_ex1("rollback", traffic=traffic(challenger=0), **BUDGET)
    assert not champion_only.passed and "none of your 75 requests" in champion_only.message


@pytest.mark.parametrize(("stats", "wrong"), [(GOOD, "rollback"), (FAULTY, "promote"),
                                              (SLOW, "promote")], ids=["good", "faulty", "slow"])
def test_ex1_rejects_the_other_decision_without_naming_the_right_one(endpoint_stats, stats, wrong):
    endpoint_stats(stats)
    result = check_ex1(wrong, traffic=traffic(), **BUDGET)
    right = {"rollback": "promote", "promote": "rollback"}[wrong]
    assert not result.passed and "does not follow" in result.message
    assert right not in result.message and right not in result.hint


def test_ex1_rejects_answers_that_are_not_a_decision(endpoint_stats):
    endpoint_stats(FAULTY)
    for wrong in ("maybe", "Rollback", True):
        assert not check_ex1(wrong, traffic=traffic(), **BUDGET).passed


# ------------------------------------------------------------------ ex2: ship, extend or stop
def right_decide(experiment, plan):
    """The solution's rule."""
    guard = analyze_ab(experiment, metric=plan["guardrail"], alpha=plan["alpha"])
    if guard.p_value < plan["alpha"] and guard.lift_abs > 0:
        return "stop"
    needed = sample_size(plan["baseline_rate"], plan["min_effect"], plan["alpha"], plan["power"],
                         relative=True)
    if experiment["variant"].value_counts().min() < needed:
        return "extend"
    primary = analyze_ab(experiment, alpha=plan["alpha"])
    return "ship" if primary.p_value < plan["alpha"] and primary.lift_abs > 0 else "stop"


def decide_with(*, guardrail="worse", size="per-arm", sign=True, alpha=None, power=None,
                needed=None, order="guardrail-first", strict=True):
    """A rule like the solution's with one mechanism changed (the wrong rules learners write)."""
    def decide(experiment, plan):
        a = plan["alpha"] if alpha is None else alpha
        g = analyze_ab(experiment, metric=plan["guardrail"], alpha=a)
        harmed = {"worse": g.p_value < a and g.lift_abs > 0, "any": g.p_value < a,
                  None: False}[guardrail]
        n = needed or sample_size(plan["baseline_rate"], plan["min_effect"], a,
                                  plan["power"] if power is None else power, relative=True)
        users = {"per-arm": experiment["variant"].value_counts().min(), "both": len(experiment),
                 "larger": experiment["variant"].value_counts().max(), None: n}[size]
        short = users < n if strict else users <= n
        if order == "size-first" and short:
            return "extend"
        if harmed:
            return "stop"
        if short:
            return "extend"
        r = analyze_ab(experiment, alpha=a)
        wins = r.p_value < a and (r.lift_abs > 0 or not sign)
        return "ship" if wins else "stop"
    return decide


def demo_decide(experiment, plan):
    """The demo's analysis as a rule: ship on a significant p-value."""
    return "ship" if analyze_ab(experiment).significant else "stop"


LEARNERS = {situation: next(n for n in range(0, 400, 27) if ab_situation(n) == situation)
            for situation in AB_SITUATIONS}


@pytest.fixture(scope="module")
def experiments():
    return {situation: (ab_experiment(n), ab_plan(n)) for situation, n in LEARNERS.items()}


def test_learners_get_different_situations_plans_and_guardrails():
    learners = [learner_seed("rollout", u) for u in ("ada", "bob", "cyd", "dan", "eve", "fay", "gus")]
    assert len({ab_situation(n) for n in learners}) >= 3
    assert len({(p["baseline_rate"], p["min_effect"]) for p in map(ab_plan, learners)}) >= 3
    assert len({ab_plan(n)["guardrail"] for n in range(0, 81, 9)}) == 3


@pytest.mark.parametrize("situation, decision", [("ship", "ship"), ("peeked", "extend"),
                                                 ("guardrail", "stop"), ("no_effect", "stop")])
def test_each_situation_supports_its_decision(experiments, situation, decision):
    experiment, plan = experiments[situation]
    assert ab_decision(experiment, plan) == right_decide(experiment, plan) == decision
    if situation == "peeked":  # the trap: the peek looks like a win
        assert analyze_ab(experiment).significant and analyze_ab(experiment).lift_abs > 0


@pytest.mark.parametrize("situation", AB_SITUATIONS)
def test_ex2_accepts_the_rule_on_every_situation(experiments, situation):
    experiment, plan = experiments[situation]
    result = check_ex2(right_decide, experiment=experiment, plan=plan)
    assert result.passed, result.message


#: wrong rules: (rule, situation of the learner, words of the message)
WRONG_RULES = {
    "the demo's analysis (ship on p < alpha)": (demo_decide, "peeked", "your own experiment"),
    "no size check (the peeking trap)": (decide_with(size=None), "peeked", "your own experiment"),
    "guardrail ignored": (decide_with(guardrail=None), "guardrail", "your own experiment"),
    "any guardrail difference stops": (decide_with(guardrail="any"), "ship", "significantly lower"),
    "the lift's sign ignored": (decide_with(sign=False), "ship", "significantly behind"),
    "both arms counted together": (decide_with(size="both"), "ship", "far ahead"),
    "the larger arm counted": (decide_with(size="larger"), "ship", "one fewer in the treatment"),
    "size checked before the guardrail": (decide_with(order="size-first"), "ship", "already"),
    "one more user than planned needed": (decide_with(strict=False), "ship", "your own experiment"),
    "alpha 0.05 typed in": (decide_with(alpha=0.05), "ship", "another plan"),
    "power 0.8 typed in": (decide_with(power=0.8), "ship", "another plan"),
}


@pytest.mark.parametrize("name", list(WRONG_RULES))
def test_ex2_rejects_rules_that_decide_wrongly_somewhere(experiments, name):
    rule, situation, says = WRONG_RULES[name]
    experiment, plan = experiments[situation]
    result = check_ex2(rule, experiment=experiment, plan=plan)
    assert not result.passed and says in result.message, result.message
    assert result.hint and not any(repr(d) in result.hint for d in DECISIONS)  # no answer given
    assert sum(repr(d) in result.message for d in DECISIONS) == 1   # only what the rule said


def test_ex2_rejects_a_rule_with_the_learners_planned_size_typed_in(experiments):
    experiment, plan = experiments["ship"]
    typed = decide_with(needed=planned_users(plan))
    assert check_ex2(typed, experiment=experiment, plan=plan).message.count("another plan") == 1


def test_ex2_rejects_a_neighbours_constant_answer_and_non_rules(experiments):
    experiment, plan = experiments["peeked"]
    for constant in DECISIONS:
        assert not check_ex2(lambda e, p, c=constant: c, experiment=experiment, plan=plan).passed
    assert "should be a function" in check_ex2("extend", experiment=experiment, plan=plan).message
    assert "pass experiment=" in check_ex2(right_decide).message
    returned = check_ex2(lambda e, p: right_decide(e, p).upper(), experiment=experiment, plan=plan)
    assert not returned.passed and "one of" in returned.message


def test_ex2_cases_sit_at_the_edges_of_the_plan(experiments):
    _, plan = experiments["ship"]
    n = planned_users(plan)
    cases = {d: ab_decision(f, p) for _, d, f, p in ab_cases(*experiments["ship"])}
    assert cases["your plan one user per arm short of its size, the treatment far ahead"] == "extend"
    assert cases[f"your plan's {n} users per arm, the treatment just significantly ahead"] == "ship"
    assert cases[f"your plan's {n} users per arm, the treatment ahead but just short of "
                 "significance"] == "stop"
    assert sorted(set(cases.values())) == ["extend", "ship", "stop"]


# ------------------------------------------------------------------ ex3: the guardrail ramp
class GuardrailRamp(RolloutPolicy):
    """The solution's ramp policy."""

    def __init__(self, plan):
        self.plan = plan

    def decide(self, weight, stats):
        plan = self.plan
        if stats["requests"] < plan["min_requests"]:
            return Decision("wait", weight, "too few requests", stats)
        if stats["error_rate"] > plan["max_error_rate"] or stats[plan["guardrail"]] > plan["guardrail_max"]:
            return Decision("rollback", 0.0, "over budget", stats)
        later = [s for s in plan["steps"] if s > weight]
        if not later:
            return Decision("promote", 100.0, "within budget at the last step", stats)
        return Decision("step", later[0], "within budget", stats)


def ramp_with(*, guardrail=True, errors=True, inclusive=False, wait=True, skip=False,
              steps=None, budget=None, min_requests=None, few_rollback=False):
    """A ramp like the solution's with one mechanism changed."""
    class Ramp(GuardrailRamp):
        def decide(self, weight, stats):
            plan = dict(self.plan)
            plan["steps"] = steps or plan["steps"]
            plan["guardrail_max"] = budget if budget is not None else plan["guardrail_max"]
            plan["min_requests"] = min_requests if min_requests is not None else plan["min_requests"]
            over = (lambda v, cap: v >= cap) if inclusive else (lambda v, cap: v > cap)
            broke = ((guardrail and over(stats[plan["guardrail"]], plan["guardrail_max"]))
                     or (errors and over(stats["error_rate"], plan["max_error_rate"])))
            if few_rollback and broke:
                return Decision("rollback", 0.0, "over budget", stats)
            if wait and stats["requests"] < plan["min_requests"]:
                return Decision("wait", weight, "too few requests", stats)
            if broke:
                return Decision("rollback", 0.0, "over budget", stats)
            later = [s for s in plan["steps"] if s > weight]
            if not later:
                return Decision("promote", 100.0, "done", stats)
            return Decision("step", later[-1] if skip else later[0], "within budget", stats)
    return Ramp


RAMP_LEARNERS = {"breach": next(n for n in range(1, 99, 2) if ramp_plan(n)["steps"][0] == 5.0),
                 "good": next(n for n in range(0, 99, 2) if ramp_plan(n)["min_requests"] == 50)}


@pytest.mark.parametrize("kind", list(RAMP_LEARNERS))
def test_ex3_accepts_the_ramp_that_follows_the_plan(kind):
    learner = RAMP_LEARNERS[kind]
    plan, looks = ramp_plan(learner), ramp_looks(learner)
    path = replay_ramp(GuardrailRamp(plan), looks)
    assert path[-1][1] == ("rollback" if kind == "breach" else "promote")
    assert check_ex3(GuardrailRamp, plan=plan, looks=looks).passed


def test_learners_get_different_ramps():
    plans = [ramp_plan(learner_seed("rollout", u)) for u in ("ada", "bob", "cyd", "dan", "eve", "fay")]
    assert len({(p["steps"], p["min_requests"], p["guardrail_max"]) for p in plans}) >= 3
    ends = {replay_ramp(ReferenceRamp(ramp_plan(n)), ramp_looks(n))[-1][1] for n in range(6)}
    assert ends == {"promote", "rollback"}


_OWN = ramp_plan(RAMP_LEARNERS["good"])
#: wrong ramps: (ramp, learner kind, words of the message)
WRONG_RAMPS = {
    "the demo's CanaryPolicy (guardrail ignored)": (
        lambda plan: CanaryPolicy(steps=(5, 25, 100), max_error_rate=0.01, max_p99_ms=1000, min_requests=10),
        "breach", "your own canary"),
    "guardrail ignored": (ramp_with(guardrail=False), "breach", "your own canary"),
    "error rate ignored": (ramp_with(errors=False), "good", "error rate over budget"),
    "at the budget is a breach": (ramp_with(inclusive=True), "good", "exactly at its budget"),
    "judged before the minimum of requests": (ramp_with(wait=False), "good", "your own canary"),
    "rolls back on a noisy look": (ramp_with(few_rollback=True), "good", "too few requests"),
    "jumps to the last step": (ramp_with(skip=True), "good", "your own canary"),
    "the demo's steps typed in": (ramp_with(steps=(5.0, 25.0, 100.0)), "breach", "every look within budget"),
    "the learner's budget typed in": (ramp_with(budget=_OWN["guardrail_max"]), "good", "another plan"),
    "the learner's minimum typed in": (ramp_with(min_requests=_OWN["min_requests"]), "good", "another plan"),
}


@pytest.mark.parametrize("name", list(WRONG_RAMPS))
def test_ex3_rejects_ramps_that_break_the_plan(name):
    ramp, kind, says = WRONG_RAMPS[name]
    learner = RAMP_LEARNERS[kind]
    result = check_ex3(ramp, plan=ramp_plan(learner), looks=ramp_looks(learner))
    assert not result.passed and says in result.message, result.message
    assert result.hint


def test_ex3_rejects_answers_that_are_not_a_policy_builder():
    learner = RAMP_LEARNERS["good"]
    plan, looks = ramp_plan(learner), ramp_looks(learner)
    assert "should be a class" in check_ex3("promote", plan=plan, looks=looks).message
    assert "pass plan=plan" in check_ex3(GuardrailRamp).message
    raised = check_ex3(lambda p: GuardrailRamp({**p, "guardrail": "refund"}), plan=plan, looks=looks)
    assert not raised.passed and "raised KeyError" in raised.message


def test_one_learner_seed_for_every_lab():
    """scenarios reuses seeds' learner_seed (one definition, the same numbers as before)."""
    from mlops_kit.labs import scenarios, seeds

    assert scenarios.learner_seed is seeds.learner_seed
    assert seeds.learner_seed("rollout", "ada") == seeds.learner_seed("rollout", user="ada") == 789684793

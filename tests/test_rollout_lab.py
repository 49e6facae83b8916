"""Checkers of the rollout lab: the right decisions pass, plausible wrong ones fail with a pointer.

The endpoint's ``GET /rollout`` is replaced by a stub, so ex1 runs without a server.
"""
from __future__ import annotations

import pandas as pd
import pytest

from mlops_kit.labs.checks.rollout import check_ex1, check_ex2, check_ex3
from mlops_kit.labs.registry import get
from mlops_kit.labs.scenarios import challenger_is_faulty, learner_seed
from mlops_kit.rollout import analyze_ab, sample_size, simulate_ab

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


@pytest.fixture(scope="module")
def frame():
    return simulate_ab(n_per_arm=2000, baseline_rate=0.1, lift=0.2, seed=4)


def test_ex2_ab_analysis(frame):
    result = analyze_ab(frame)
    assert check_ex2({"p_value": result.p_value, "lift": result.lift_rel}, frame=frame).passed
    wrong = [
        {"p_value": result.p_value, "lift": result.lift_abs},          # absolute lift
        {"p_value": result.p_value / 2, "lift": result.lift_rel},      # one-sided p-value
        {"p_value": result.p_value, "lift": result.lift_rel + 1},      # ratio, not lift
        (result.p_value, result.lift_rel),                             # not a dict
    ]
    for answer in wrong:
        failed = check_ex2(answer, frame=frame)
        assert not failed.passed and "analyze_ab" not in (failed.hint or "")


def test_ex3_sample_size():
    context = {"baseline_rate": 0.08, "min_effect": 0.10}
    right = sample_size(0.08, 0.10, relative=True)
    assert check_ex3(right, **context).passed
    both_arms = check_ex3(2 * right, **context)
    assert not both_arms.passed and "both arms" in both_arms.message
    absolute = sample_size(0.08, 0.10 * 0.08 * 10, relative=False)   # 10 points, not 10 %
    one_sided = sample_size(0.08, 0.10, alpha=0.10, relative=True)
    weak = sample_size(0.08, 0.10, power=0.5, relative=True)
    for wrong in (absolute, one_sided, weak, "lots"):
        failed = check_ex3(wrong, **context)
        assert not failed.passed and str(right) not in failed.message + failed.hint


def test_one_learner_seed_for_every_lab():
    """scenarios reuses seeds' learner_seed (one definition, the same numbers as before)."""
    from mlops_kit.labs import scenarios, seeds

    assert scenarios.learner_seed is seeds.learner_seed
    assert seeds.learner_seed("rollout", "ada") == seeds.learner_seed("rollout", user="ada") == 789684793

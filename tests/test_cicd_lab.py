"""Checkers of the CI/CD lab: right answers pass, plausible wrong ones fail without the answer."""
from __future__ import annotations

import math

import pytest

from mlops_kit.labs.checks.cicd_lab import (
    STAGES, check_ex1, check_ex2, check_ex3, judge_ex3, reference_gate, release_history, replay,
)

try:  # the champion every learner's history starts from
    from mlops_kit.labs.checks.cicd_lab import FIRST_CHAMPION
except ImportError:  # older checkers named it in the notebook only
    FIRST_CHAMPION = {"version": 1, "rmse": 40.0, "p99_ms": 30.0, "signature_ok": True}
from mlops_kit.labs.registry import get

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("cicd-lab", "ex1"), ("cicd-lab", "ex2"), ("cicd-lab", "ex3")]

RIGHT_ORDER = list(STAGES)


def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3"):
        assert len(get("cicd-lab", exercise).hints) >= 2


def test_ex1_accepts_a_safe_order():
    assert check_ex1(RIGHT_ORDER).passed


@pytest.mark.parametrize(("wrong", "says"), [
    (RIGHT_ORDER[:-2] + [RIGHT_ORDER[-1], RIGHT_ORDER[-2]], "before anything compared it"),
    ([RIGHT_ORDER[0], RIGHT_ORDER[2], RIGHT_ORDER[1]] + RIGHT_ORDER[3:], "not the merged code"),
    ([RIGHT_ORDER[0], RIGHT_ORDER[1], RIGHT_ORDER[3], RIGHT_ORDER[2]] + RIGHT_ORDER[4:],
     "no integration test has run"),
    (RIGHT_ORDER[:-1], "1 stage(s) missing"),
    (RIGHT_ORDER + ["deploy"], "unknown stage 'deploy'"),
    ("unit tests, merge", "should be a list"),
], ids=["promote-before-validate", "integration-before-merge", "deploy-before-integration",
        "missing", "unknown", "string"])
def test_ex1_rejects_unsafe_orders_without_giving_the_order(wrong, says):
    result = check_ex1(wrong)
    assert not result.passed and says in result.message


def right_gate(candidate, champion):
    rmse, p99 = candidate.get("rmse"), candidate.get("p99_ms")
    if not candidate.get("signature_ok") or rmse is None or p99 is None:
        return False
    if math.isnan(rmse) or math.isnan(p99) or p99 > 50:
        return False
    return champion is None or rmse <= champion["rmse"] * 1.02


def test_ex2_accepts_a_gate_that_follows_every_rule():
    assert check_ex2(right_gate).passed
    assert check_ex2(reference_gate).passed


@pytest.mark.parametrize(("wrong", "says"), [
    (lambda c, ch: c["signature_ok"] and c["p99_ms"] <= 50 and c["rmse"] <= ch["rmse"] * 1.02,
     "raised TypeError for the first model"),
    (lambda c, ch: c["signature_ok"] and c["p99_ms"] <= 50 and (ch is None or c["rmse"] <= ch["rmse"]),
     "blocks a model 1 % worse"),
    (lambda c, ch: c["signature_ok"] and c["p99_ms"] < 50 and (ch is None or c["rmse"] <= ch["rmse"] * 1.02),
     "blocks a model at exactly the latency budget"),
    (lambda c, ch: c["signature_ok"] and c["p99_ms"] <= 50 and (ch is None or not c["rmse"] > ch["rmse"] * 1.02),
     "promotes a model whose RMSE is NaN"),
    (lambda c, ch: ch is None or c["rmse"] <= ch["rmse"] * 1.02, "promotes a better model that is too slow"),
    ("gate", "should be a function"),
], ids=["no-champion", "no-tolerance", "strict-latency", "nan", "metrics-only", "string"])
def test_ex2_rejects_gates_that_miss_a_rule(wrong, says):
    result = check_ex2(wrong)
    assert not result.passed and says in result.message


CHAMPION = {"version": 1, "rmse": 40.0, "p99_ms": 30.0, "signature_ok": True}
HISTORY = [
    {"version": 2, "rmse": 38.0, "p99_ms": 20.0, "signature_ok": True},   # promoted
    {"version": 3, "rmse": 39.5, "p99_ms": 20.0, "signature_ok": True},   # within 2 % of 40, not of 38
    {"version": 4, "rmse": 35.0, "p99_ms": 70.0, "signature_ok": True},   # best, but too slow
    {"version": 5, "rmse": 36.0, "p99_ms": 20.0, "signature_ok": False},  # better, broken signature
]


def test_ex3_replays_against_the_champion_of_each_moment():
    assert replay(HISTORY, dict(CHAMPION)) == 2
    assert judge_ex3(2, history=HISTORY, champion=CHAMPION).passed


@pytest.mark.parametrize(("wrong", "says"), [
    (3, "not the champion"),    # compared with the first champion every time
    (4, "not the champion"),    # the best RMSE, latency ignored
    (5, "not the champion"),    # signature ignored
    (12, "no version 12"),
    ("2", "should be a version number"),
], ids=["stale-champion", "best-rmse", "signature-ignored", "unknown", "string"])
def test_ex3_rejects_plausible_replays(wrong, says):
    result = judge_ex3(wrong, history=HISTORY, champion=CHAMPION)
    assert not result.passed and says in result.message and "2" not in result.hint


def test_release_histories_differ_between_learners():
    assert release_history(1) != release_history(2)
    assert release_history(7) == release_history(7)


def tolerant_gate(tolerance):
    def gate(candidate, champion):
        return right_gate(candidate, None) and (champion is None or candidate["rmse"] <= champion["rmse"] * tolerance)
    return gate


@pytest.mark.parametrize("tolerance", [1.04, 1.03, 1.025, 1.015, 1.01], ids=lambda t: f"{t - 1:.1%}")
def test_ex2_rejects_a_tolerance_other_than_the_rules_2_percent(tolerance):
    assert check_ex2(tolerant_gate(1.02)).passed
    result = check_ex2(tolerant_gate(tolerance))
    assert not result.passed and "worse" in result.message


def stale_replay(history, champion):
    """The mistake ex3 is about: every candidate against the first champion."""
    final = champion
    for candidate in history:
        if right_gate(candidate, champion):
            final = candidate
    return final["version"]


LEARNERS = range(200)


def test_ex3_comparing_with_the_first_champion_fails_for_every_learner():
    passed = []
    for seed in LEARNERS:
        history = release_history(seed)
        if judge_ex3(stale_replay(history, dict(FIRST_CHAMPION)), history=history,
                     champion=FIRST_CHAMPION).passed:
            passed.append(seed)
    assert passed == []


def test_ex3_a_looser_gate_or_a_forgotten_rule_fails_for_every_learner():
    ignore = lambda **kw: lambda c, ch: right_gate({**c, **kw}, ch)  # noqa: E731
    for seed in LEARNERS:
        history = release_history(seed)
        assert judge_ex3(replay(history, dict(FIRST_CHAMPION), right_gate), history=history,
                         champion=FIRST_CHAMPION).passed
        for gate in (tolerant_gate(1.04), ignore(p99_ms=0.0), ignore(signature_ok=True)):
            final = replay(history, dict(FIRST_CHAMPION), gate)
            assert not judge_ex3(final, history=history, champion=FIRST_CHAMPION).passed, seed


def test_ex3_is_judged_on_the_learners_own_history_not_a_forged_one(workspace):
    """Passing history=[] (or any history but the lab's) cannot make the first champion right."""
    from mlops_kit.labs.seeds import learner_seed

    own = release_history(learner_seed("cicd-lab"))
    right = replay(own, dict(FIRST_CHAMPION))
    assert check_ex3(right, history=own, champion=dict(FIRST_CHAMPION)).passed
    assert check_ex3(right).passed  # the checker needs nothing but the answer
    forged = check_ex3(FIRST_CHAMPION["version"], history=[], champion=dict(FIRST_CHAMPION))
    assert not forged.passed and "not your lab's" in forged.message
    assert not check_ex3(FIRST_CHAMPION["version"]).passed

"""Checkers of the webhooks lab: right answers pass, plausible wrong ones fail without the answer."""
from __future__ import annotations

import json
import math

import pytest

from mlops_kit.labs.checks.webhooks_lab import (
    SERVING_COLUMNS, challenger, check_ex1, check_ex2, check_ex3, deliveries, reference_valid,
    to_act_on, version_cards,
)
from mlops_kit.labs.registry import get

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("webhooks-lab", "ex1"), ("webhooks-lab", "ex2"), ("webhooks-lab", "ex3")]

SEED = 1


def ids(items):
    return [item["headers"].get("X-MLflow-Delivery-Id") for item in items]


def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3"):
        assert len(get("webhooks-lab", exercise).hints) >= 2


def test_learners_get_different_histories():
    assert challenger(1) != challenger(2) or to_act_on(deliveries(1)) != to_act_on(deliveries(2))


def test_ex1_accepts_the_authentic_first_deliveries():
    assert check_ex1(to_act_on(deliveries(SEED)), seed=SEED).passed


def test_ex1_rejects_receivers_that_trust_too_much():
    items = deliveries(SEED)
    every = list(dict.fromkeys(ids(items)))                      # no signature check at all
    signed = [i for i in dict.fromkeys(ids(items))               # a signature header is "enough"
              if any("X-MLflow-Signature" in it["headers"] for it in items
                     if it["headers"]["X-MLflow-Delivery-Id"] == i)]
    retried = ids([it for it in items if it["headers"]["X-MLflow-Delivery-Id"] in to_act_on(items)])
    for wrong, says in ((every, "should not be acted on"), (signed, "should not be acted on"),
                        (retried, "twice"), (to_act_on(items)[:-1], "missing"),
                        (to_act_on(items)[::-1], "order"), ("d-1", "list of delivery ids")):
        result = check_ex1(wrong, seed=SEED)
        assert not result.passed and says in result.message, (wrong, result)
        assert "d-" not in result.message + result.hint


def right_validate(card):
    missing = sorted(set(SERVING_COLUMNS) - set(card["columns"]))
    if missing:
        return False, f"does not accept {missing}"
    if not card["description"].strip():
        return False, "no description"
    if card["rmse"] is None or math.isnan(card["rmse"]):
        return False, "no RMSE"
    if card["rmse"] > card["champion_rmse"] * 1.05:
        return False, "RMSE too high"
    return True, ""


def test_ex2_accepts_a_check_that_follows_every_rule():
    assert check_ex2(right_validate, seed=SEED).passed


@pytest.mark.parametrize(("wrong", "says"), [
    (lambda card: (card["rmse"] <= card["champion_rmse"] * 1.05, "rmse"), "passes version"),
    (lambda card: (not card["rmse"] > card["champion_rmse"] * 1.05 and bool(card["description"]),
                   "bad") if set(SERVING_COLUMNS) <= set(card["columns"]) else (False, "columns"),
     "passes version"),  # NaN slips through `not >`
    (lambda card: (reference_valid(card), ""), "without a reason"),
    (lambda card: reference_valid(card), "(passed, reason)"),
    (lambda card: (True, ""), "passes version"),
    (lambda card: (card["description"].upper() and card["rmse"] < card["champion_rmse"], "x"),
     "your check fails "),
], ids=["metrics-only", "nan", "no-reason", "bool-only", "always-pass", "stricter-than-rules"])
def test_ex2_rejects_checks_that_miss_a_rule(wrong, says):
    result = check_ex2(wrong, seed=SEED)
    assert not result.passed and says in result.message


def test_ex3_accepts_the_last_valid_acted_on_version():
    assert check_ex3(challenger(SEED), seed=SEED).passed


def test_ex3_rejects_plausible_wrong_versions():
    items = deliveries(SEED)
    cards = {c["version"]: c for c in version_cards(SEED)}
    every_version = [int(json.loads(it["body"])["data"]["version"]) for it in items]
    last_valid_any = [v for v in every_version if v in cards and reference_valid(cards[v])][-1:]   # forged ones too
    highest_valid = max(v for v, c in cards.items() if reference_valid(c))          # no delivery needed
    last_acted = int(json.loads({it["headers"]["X-MLflow-Delivery-Id"]: it for it in items}[
        to_act_on(items)[-1]]["body"])["data"]["version"])                          # not validated
    right = challenger(SEED)
    wrongs = {v for v in (*last_valid_any, highest_valid, last_acted) if v != right}
    assert wrongs, "the seed should make these mistakes differ from the answer"
    for wrong in wrongs | {"6"}:
        result = check_ex3(wrong, seed=SEED)
        assert not result.passed and str(right) not in result.hint


LEARNERS = range(200)


def counts_columns(card, champion_rmse=32.0):
    """The measured hole: count the columns, type in the champion's RMSE of one learner."""
    if len(card["columns"]) < 6:
        return False, "missing column"
    if not card["description"].strip():
        return False, "no description"
    if card["rmse"] is None or math.isnan(card["rmse"]):
        return False, "no RMSE"
    if card["rmse"] > champion_rmse * 1.05:
        return False, "RMSE too high"
    return True, ""


def test_ex2_rejects_a_rule_that_counts_columns_and_types_in_the_champion_for_every_learner():
    passed = [seed for seed in LEARNERS if check_ex2(counts_columns, seed=seed).passed]
    assert passed == []


def test_ex2_rejects_each_shortcut_even_with_the_learners_own_champion():
    for seed in range(20):
        own = version_cards(seed)[0]["champion_rmse"]
        by_count = lambda card: counts_columns(card, card["champion_rmse"])  # noqa: E731
        typed_in = lambda card: right_validate({**card, "champion_rmse": own})  # noqa: E731
        loose = lambda card: right_validate({**card, "champion_rmse": card["champion_rmse"] * 1.04 / 1.05})  # noqa: E731
        for wrong in (by_count, typed_in, loose):
            assert not check_ex2(wrong, seed=seed).passed
        assert check_ex2(right_validate, seed=seed).passed


def walk(seed, *, stop_at_first=False):
    items = deliveries(seed)
    cards = {c["version"]: c for c in version_cards(seed)}
    by_id = {it["headers"]["X-MLflow-Delivery-Id"]: it for it in items}
    found = None
    for delivery_id in to_act_on(items):
        version = int(json.loads(by_id[delivery_id]["body"])["data"]["version"])
        if reference_valid(cards[version]):
            found = version
            if stop_at_first:
                break
    return found


def test_ex3_needs_the_whole_walk_for_every_learner():
    first_pass = [seed for seed in LEARNERS if check_ex3(walk(seed, stop_at_first=True), seed=seed).passed]
    assert first_pass == []
    assert all(check_ex3(walk(seed), seed=seed).passed for seed in LEARNERS)


def test_ex3_none_is_never_the_answer():
    assert [seed for seed in LEARNERS if check_ex3(None, seed=seed).passed] == []


def test_delivery_ids_do_not_tell_the_authentic_ones():
    firsts = {tuple(sorted(to_act_on(deliveries(seed)))) for seed in range(20)}
    assert len(firsts) == 20

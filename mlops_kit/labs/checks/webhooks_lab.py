"""Checkers of Lab 2.3, registry webhooks and validation (``webhooks-lab``).

The deliveries and model-version cards are built here from the learner's seed
(:func:`deliveries`, :func:`version_cards`), so the checkers recompute each
learner's truth: which deliveries are authentic and new, which versions a
validation check must fail, and which version ends up ``challenger``.
Everything is plain Python: no tracking server is needed to judge a handler.
"""
from __future__ import annotations

import json
import math
from typing import Any

from mlops_kit.labs import CheckResult, checker

SECRET = "lab-webhook-secret"
#: the feature columns the serving app sends: a version must accept all of them
SERVING_COLUMNS = ["accommodates", "bedrooms", "bathrooms", "beds", "latitude", "longitude"]
#: a version may be at most this much worse than the champion
MAX_RMSE_RATIO = 1.05
NOW = 1_750_000_000


def _delivery(delivery_id: str, version: int, *, secret: str = SECRET, age: int = 10,
              tamper: bool = False, drop: str | None = None) -> dict[str, Any]:
    from mlops_kit.registry.webhooks import sign

    body = json.dumps({"event": "model_version.created",
                       "data": {"name": "dev.lab.price", "version": str(version)}})
    timestamp = str(NOW - age)
    headers = {"X-MLflow-Delivery-Id": delivery_id, "X-MLflow-Timestamp": timestamp,
               "X-MLflow-Signature": sign(secret, delivery_id, timestamp, body)}
    if tamper:
        body = body.replace(f'"{version}"', f'"{version + 10}"')
    if drop:
        headers.pop(drop)
    return {"headers": headers, "body": body}


def deliveries(seed: int) -> list[dict[str, Any]]:
    """Eight deliveries: authentic ones, a replay, a forged, a stale, a tampered, an unsigned one."""
    import random

    rng = random.Random(seed)
    versions = rng.sample(range(2, 9), 5)
    items = [
        _delivery("d-1", versions[0]),
        _delivery("d-2", versions[1]),
        _delivery("d-3", versions[2]),
        _delivery("d-4", versions[3], secret="not-the-secret"),
        _delivery("d-5", versions[4], age=3600),
        _delivery("d-6", versions[3], tamper=True),
        _delivery("d-7", versions[4], drop="X-MLflow-Signature"),
    ]
    items.append(dict(items[rng.randrange(3)]))  # a retry: the same delivery again
    rng.shuffle(items)
    return items


def reference_authentic(headers: dict[str, str], body: str, now: float) -> bool:
    from mlops_kit.exceptions import SignatureError
    from mlops_kit.registry.webhooks import verify_signature

    try:
        verify_signature(SECRET, headers, body.encode(), now=now)
    except SignatureError:
        return False
    return True


def to_act_on(items: list[dict[str, Any]]) -> list[str]:
    """Delivery ids an idempotent, verifying receiver acts on, in arrival order."""
    seen: list[str] = []
    for item in items:
        delivery_id = item["headers"].get("X-MLflow-Delivery-Id")
        if reference_authentic(item["headers"], item["body"], NOW) and delivery_id not in seen:
            seen.append(delivery_id)
    return seen


def version_cards(seed: int) -> list[dict[str, Any]]:
    """What a validation job knows about each version (one learner's registry)."""
    import random

    rng = random.Random(seed)
    cards = []
    for version in range(2, 9):
        columns = list(SERVING_COLUMNS)
        card = {"version": version, "columns": columns, "rmse": round(rng.uniform(30, 34), 2),
                "champion_rmse": 32.0, "description": f"ridge, retrained on week {version}"}
        cards.append(card)
    faults = rng.sample(range(len(cards)), 4)
    cards[faults[0]]["columns"] = [c for c in SERVING_COLUMNS if c != "bathrooms"]
    cards[faults[1]]["rmse"] = round(32.0 * rng.uniform(1.08, 1.3), 2)
    cards[faults[2]]["description"] = ""
    cards[faults[3]]["rmse"] = float("nan")
    return cards


def reference_valid(card: dict[str, Any]) -> bool:
    rmse = card.get("rmse")
    return (set(SERVING_COLUMNS) <= set(card.get("columns") or [])
            and bool((card.get("description") or "").strip())
            and rmse is not None and not math.isnan(rmse)
            and rmse <= card["champion_rmse"] * MAX_RMSE_RATIO)


def _version_of(item: dict[str, Any]) -> int:
    return int(json.loads(item["body"])["data"]["version"])


def challenger(seed: int) -> int | None:
    """The version that ends up ``challenger``: the last valid one among acted-on deliveries."""
    items = deliveries(seed)
    cards = {c["version"]: c for c in version_cards(seed)}
    by_id = {item["headers"].get("X-MLflow-Delivery-Id"): item for item in items}
    valid = [_version_of(by_id[d]) for d in to_act_on(items) if reference_valid(cards[_version_of(by_id[d])])]
    return valid[-1] if valid else None


@checker("webhooks-lab", "ex1", title="Act only on authentic, new deliveries", hints=[
    "Anyone can POST to a receiver: a delivery counts only if its signature proves it came from "
    "the registry, recently, with this very body. And a retry is not a new event.",
    "Verify each delivery with the secret at time `now` (the kit's webhooks module can), and keep "
    "a delivery id only the first time you see it.",
])
def check_ex1(value: Any, *, seed: int, **context: Any) -> CheckResult:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return CheckResult.fail(f"act_on should be a list of delivery ids; got a {type(value).__name__}",
                                hint="The ids are in each delivery's X-MLflow-Delivery-Id header.")
    expected = to_act_on(deliveries(seed))
    if len(value) != len(set(value)):
        return CheckResult.fail("a delivery id is in your list twice: the retry would run the job twice",
                                hint="A retried delivery carries the id of the first one.")
    extra = [v for v in value if v not in expected]
    if extra:
        return CheckResult.fail(f"{len(extra)} of your deliveries should not be acted on",
                                hint="Look at each one's signature, timestamp and headers, not only its body.")
    if list(value) != expected:
        return CheckResult.fail(f"{len(expected) - len(value)} authentic deliveries are missing, or "
                                f"the order changed" if len(value) < len(expected)
                                else "the deliveries are not in the order they arrived",
                                hint="Keep every authentic delivery, in arrival order.")
    return CheckResult.ok(f"{len(expected)} of {len(deliveries(seed))} deliveries acted on")


@checker("webhooks-lab", "ex2", title="A validation check that fails bad versions", hints=[
    "Write one condition per rule, and give a reason when one fails: the reason is what the "
    "model's owner reads in the version's tag.",
    "Think of the values a rule does not mention: an empty string, a NaN from a failed evaluation.",
])
def check_ex2(value: Any, *, seed: int, **context: Any) -> CheckResult:
    if not callable(value):
        return CheckResult.fail(f"validate should be a function of a version card; got a "
                                f"{type(value).__name__}",
                                hint="def validate(card): ... return passed, reason")
    for card in version_cards(seed):
        want = reference_valid(card)
        try:
            answer = value(dict(card))
        except Exception as err:  # noqa: BLE001 - the learner's code
            return CheckResult.fail(f"your check raised {type(err).__name__} on version "
                                    f"{card['version']}: {err}",
                                    hint="A bad version must fail with a reason, not crash the job.")
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return CheckResult.fail("validate should return (passed, reason)",
                                    hint="A bool and a string: the reason is empty when it passed.")
        passed, reason = answer
        if bool(passed) is not want:
            return CheckResult.fail(f"your check {'passes' if passed else 'fails'} version "
                                    f"{card['version']}",
                                    hint="Compare that version's card with each rule, boundaries included.")
        if not passed and not str(reason).strip():
            return CheckResult.fail(f"version {card['version']} fails without a reason",
                                    hint="Say which rule failed, so the owner knows what to fix.")
    return CheckResult.ok("your check passes the good versions and fails each bad one with a reason")


@checker("webhooks-lab", "ex3", title="Which version becomes challenger?", hints=[
    "Only deliveries you act on start a validation; only a version that passes it gets the alias.",
    "The alias moves each time a later acted-on delivery's version passes: the last one wins.",
])
def check_ex3(value: Any, *, seed: int, **context: Any) -> CheckResult:
    expected = challenger(seed)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        return CheckResult.fail(f"challenger_version should be a version number (or None); got {value!r}",
                                hint="The version is in the body of each delivery.")
    if value == expected:
        return CheckResult.ok(f"version {expected} is challenger")
    return CheckResult.fail(f"version {value} does not end up challenger",
                            hint="Walk the deliveries you act on in order, validate each version, "
                                 "keep the last that passes.")

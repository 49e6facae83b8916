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


def _draw_deliveries(rng) -> list[dict[str, Any]]:
    """Nine deliveries: four authentic ones, a replay, a forged, a stale, a tampered, an unsigned one."""
    versions = rng.sample(range(2, 11), 6)
    ids = [f"d-{n:04x}" for n in rng.sample(range(16**4), 8)]  # ids say nothing of authenticity
    items = [
        _delivery(ids[0], versions[0]),
        _delivery(ids[1], versions[1]),
        _delivery(ids[2], versions[2]),
        _delivery(ids[3], versions[3]),
        _delivery(ids[4], versions[4], secret="not-the-secret"),
        _delivery(ids[5], versions[5], age=3600),
        _delivery(ids[6], versions[4], tamper=True),
        _delivery(ids[7], versions[5], drop="X-MLflow-Signature"),
    ]
    items.append(dict(items[rng.randrange(4)]))  # a retry: the same delivery again
    rng.shuffle(items)
    return items


def _draw_cards(rng) -> list[dict[str, Any]]:
    champion = round(rng.uniform(24.0, 44.0), 1)
    cards = []
    for version in range(2, 11):
        cards.append({"version": version, "columns": list(SERVING_COLUMNS),
                      "rmse": round(champion * rng.uniform(0.93, 1.04), 2),
                      "champion_rmse": champion, "description": f"ridge, retrained on week {version}"})
    faults = rng.sample(range(len(cards)), 6)
    dropped = rng.choice(SERVING_COLUMNS)
    cards[faults[0]]["columns"] = [c for c in SERVING_COLUMNS if c != dropped]
    renamed = rng.choice(SERVING_COLUMNS)  # as many columns as the app sends, one of them renamed
    cards[faults[1]]["columns"] = [f"{c}_count" if c == renamed else c for c in SERVING_COLUMNS]
    cards[faults[2]]["rmse"] = round(champion * rng.uniform(1.08, 1.3), 2)
    cards[faults[3]]["description"] = rng.choice(["", "   "])
    cards[faults[4]]["rmse"] = float("nan")
    extra = list(SERVING_COLUMNS) + ["room_type"]  # a valid version that accepts one more column
    rng.shuffle(extra)
    cards[faults[5]]["columns"] = extra
    return cards


def _challenger_of(items: list[dict[str, Any]], cards: list[dict[str, Any]]) -> int | None:
    by_version = {c["version"]: c for c in cards}
    by_id = {item["headers"].get("X-MLflow-Delivery-Id"): item for item in items}
    valid = [_version_of(by_id[d]) for d in to_act_on(items)
             if reference_valid(by_version[_version_of(by_id[d])])]
    return valid[-1] if valid else None


def _needs_the_whole_walk(items: list[dict[str, Any]], cards: list[dict[str, Any]]) -> bool:
    """Every shortcut of ex3 gives another version than the walk itself (and None is never right)."""
    by_version = {c["version"]: c for c in cards}
    by_id = {item["headers"].get("X-MLflow-Delivery-Id"): item for item in items}
    acted = [_version_of(by_id[d]) for d in to_act_on(items)]
    valid = [v for v in acted if reference_valid(by_version[v])]
    if len(set(valid)) < 2:
        return False
    answer = valid[-1]
    arrived = [_version_of(item) for item in items]
    valid_arrived = [v for v in arrived if v in by_version and reference_valid(by_version[v])]
    shortcuts = {
        valid[0],                                                        # stops at the first pass
        acted[-1],                                                       # no validation
        max(v for v, c in by_version.items() if reference_valid(c)),     # no delivery needed
        valid_arrived[-1],                                               # forged ones acted on too
    }
    return answer not in shortcuts


def _scenario(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One learner's deliveries and version cards, drawn until ex3 needs the whole walk."""
    import random

    for attempt in range(1_000):
        rng = random.Random(f"webhooks-lab:{seed}:{attempt}")
        items, cards = _draw_deliveries(rng), _draw_cards(rng)
        if _needs_the_whole_walk(items, cards):
            return items, cards
    raise AssertionError(f"no scenario for seed {seed}")  # pragma: no cover - never seen


def deliveries(seed: int) -> list[dict[str, Any]]:
    """The learner's deliveries, in arrival order (see :func:`_draw_deliveries`)."""
    return _scenario(seed)[0]


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
    return _scenario(seed)[1]


def probe_cards(seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Cards the ex2 checker adds to the learner's own: boundaries and look-alikes, described.

    Their champion's RMSE differs from the learner's (a rule with the champion's
    RMSE typed in fails), one RMSE lies just inside and one just outside the
    5 % margin, and one card keeps the number of columns but renames one.
    """
    import random

    rng = random.Random(f"webhooks-lab-probes:{seed}")
    champion = round(rng.uniform(24.0, 44.0), 1)
    while abs(champion - version_cards(seed)[0]["champion_rmse"]) < 3:
        champion = round(rng.uniform(24.0, 44.0), 1)
    base = {"columns": list(SERVING_COLUMNS), "champion_rmse": champion,
            "description": "ridge, retrained on a holiday week"}
    renamed = rng.choice(SERVING_COLUMNS)
    shuffled = list(SERVING_COLUMNS) + ["host_is_superhost"]
    rng.shuffle(shuffled)
    probes = [
        ("an RMSE 4.9 % above the champion's", {"rmse": champion * 1.049}),
        ("an RMSE 5.1 % above the champion's", {"rmse": champion * 1.051}),
        ("an RMSE 10 % below the champion's", {"rmse": champion * 0.9}),
        (f"the app's {len(SERVING_COLUMNS)} columns but one of them renamed",
         {"rmse": champion * 0.98,
          "columns": [f"{c}_v2" if c == renamed else c for c in SERVING_COLUMNS]}),
        ("the app's columns in another order, and one more",
         {"rmse": champion * 0.98, "columns": shuffled}),
        ("a description of blanks only", {"rmse": champion * 0.98, "description": "  "}),
        ("no RMSE at all (None)", {"rmse": None}),
    ]
    return [(what, {**base, "version": 100 + i, **fields}) for i, (what, fields) in enumerate(probes)]


def reference_valid(card: dict[str, Any]) -> bool:
    rmse = card.get("rmse")
    return (set(SERVING_COLUMNS) <= set(card.get("columns") or [])
            and bool((card.get("description") or "").strip())
            and rmse is not None and not math.isnan(rmse)
            and rmse <= card["champion_rmse"] * MAX_RMSE_RATIO)


def _version_of(item: dict[str, Any]) -> int:
    return int(json.loads(item["body"])["data"]["version"])


def challenger(seed: int) -> int:
    """The version that ends up ``challenger``: the last valid one among acted-on deliveries."""
    items, cards = _scenario(seed)
    return _challenger_of(items, cards)


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
    cases = [(f"version {card['version']}", card) for card in version_cards(seed)]
    cases += [(f"a version with {what}", card) for what, card in probe_cards(seed)]
    for name, card in cases:
        want = reference_valid(card)
        try:
            answer = value(dict(card))
        except Exception as err:  # noqa: BLE001 - the learner's code
            return CheckResult.fail(f"your check raised {type(err).__name__} on {name}: {err}",
                                    hint="A bad version must fail with a reason, not crash the job.")
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return CheckResult.fail("validate should return (passed, reason)",
                                    hint="A bool and a string: the reason is empty when it passed.")
        passed, reason = answer
        if bool(passed) is not want:
            return CheckResult.fail(f"your check {'passes' if passed else 'fails'} {name}",
                                    hint="Compare that version's card with each rule, boundaries included.")
        if not passed and not str(reason).strip():
            return CheckResult.fail(f"{name} fails without a reason",
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
    if value is None:
        return CheckResult.fail("in your history some acted-on version passes validation, so the "
                                "alias does move",
                                hint="Walk the deliveries you act on in order and validate each version.")
    return CheckResult.fail(f"version {value} does not end up challenger",
                            hint="Walk the deliveries you act on in order, validate each version, "
                                 "keep the last that passes.")

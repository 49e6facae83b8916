"""Checkers of Lab 4.3, a CI/CD pipeline that gates promotion (``cicd-lab``).

ex1 checks the order of the learner's pipeline against the precedences that
make it safe (never the one listed order: several orders are right). ex2 runs
the learner's promotion gate on cases built here, edge cases included. ex3
replays the learner's own release history (drawn per learner) with the rules
and compares which version ends up champion.
"""
from __future__ import annotations

import math
from typing import Any

from mlops_kit.labs import CheckResult, checker

#: the stages a learner orders, each with the stages that must come before it
STAGES: dict[str, tuple[str, ...]] = {
    "unit tests": (),
    "merge to main": ("unit tests",),
    "integration tests on staging data": ("merge to main",),
    "deploy training code to prod": ("integration tests on staging data",),
    "train in prod": ("deploy training code to prod",),
    "validate against the champion": ("train in prod",),
    "promote to champion": ("validate against the champion",),
}
#: the gate's rules (the exercise states them)
RMSE_TOLERANCE = 1.02
MAX_P99_MS = 50.0
#: the champion before the first candidate of ex3 arrives
FIRST_CHAMPION: dict[str, Any] = {"version": 1, "rmse": 40.0, "p99_ms": 30.0, "signature_ok": True}

#: why a precedence matters, said without naming the order
_WHY = {
    "merge to main": "code reaches main without its fast checks",
    "integration tests on staging data": "the pipeline is tested on code that is not the merged code",
    "deploy training code to prod": "prod runs code that no integration test has run",
    "train in prod": "a model is trained by code that is not deployed",
    "validate against the champion": "there is no new model to validate yet",
    "promote to champion": "a model reaches users before anything compared it with the champion",
}


def reference_gate(candidate: dict[str, Any], champion: dict[str, Any] | None) -> bool:
    """The rules of ex2: signature, latency, and RMSE within 2 % of the champion's."""
    rmse, p99 = candidate.get("rmse"), candidate.get("p99_ms")
    if not candidate.get("signature_ok") or rmse is None or p99 is None:
        return False
    if math.isnan(rmse) or math.isnan(p99) or p99 > MAX_P99_MS:
        return False
    return champion is None or rmse <= champion["rmse"] * RMSE_TOLERANCE


def _draw_history(rng, n: int) -> list[dict[str, Any]]:
    """``n - 3`` candidates drawn freely, then three that only the right replay sees through.

    After the free ones comes a candidate within 2 % of the *first* champion but
    more than 2 % above the champion of its moment (promoted only by a replay
    that keeps comparing with the first champion, or by a looser gate), then a
    better but too slow one and a better one whose signature does not match,
    in either order.
    """
    champion = FIRST_CHAMPION
    out: list[dict[str, Any]] = []
    for version in range(2, n - 1):
        out.append({"version": version, "rmse": round(float(40.0 * rng.uniform(0.9, 1.06)), 2),
                    "p99_ms": round(float(rng.choice([18.0, 25.0, 38.0, 47.0, 50.0, 62.0, 80.0])), 1),
                    "signature_ok": bool(rng.random() > 0.15)})
    for candidate in out:
        if reference_gate(candidate, champion):
            champion = candidate
    current = champion["rmse"]
    low, high = current * 1.022, min(current * 1.038, 40.0 * 1.019)
    trap = round(float(rng.uniform(low, max(low, high))), 2)  # low > high: rejected by the caller
    ok_p99 = lambda: round(float(rng.choice([18.0, 25.0, 38.0, 47.0])), 1)  # noqa: E731
    tail = [{"rmse": round(float(current * rng.uniform(0.85, 0.95)), 2),
             "p99_ms": round(float(rng.choice([55.0, 62.0, 80.0])), 1), "signature_ok": True},
            {"rmse": round(float(current * rng.uniform(0.85, 0.95)), 2), "p99_ms": ok_p99(),
             "signature_ok": False}]
    rng.shuffle(tail)
    for version, fields in zip(range(n - 1, n + 2),
                               [{"rmse": trap, "p99_ms": ok_p99(), "signature_ok": True}, *tail]):
        out.append({"version": version, **fields})
    return out


def shortcut_replays(history: list[dict[str, Any]], champion: dict[str, Any]) -> dict[str, int]:
    """The final champion each plausible mistake of ex3 (and of ex2's gate) arrives at.

    Every learner's history (:func:`release_history`) makes each of them end
    at another version than the right replay.
    """
    def last_passing(gate):
        final = champion
        for candidate in history:
            if gate(candidate, champion):  # always the first champion: the mistake of ex3
                final = candidate
        return final["version"]

    def loose(tolerance):
        return lambda c, ch: reference_gate(c, None) and (ch is None or c["rmse"] <= ch["rmse"] * tolerance)

    fields = lambda **kw: lambda c, ch: reference_gate({**c, **kw}, ch)  # noqa: E731
    return {
        "compared with the first champion": last_passing(reference_gate),
        "4 % tolerance": replay(history, champion, loose(1.04)),
        "latency ignored": replay(history, champion, fields(p99_ms=0.0)),
        "signature ignored": replay(history, champion, fields(signature_ok=True)),
    }


def release_history(seed: int, n: int = 8) -> list[dict[str, Any]]:
    """Candidate versions arriving in order (one learner's history).

    Drawn until each shortcut of :func:`shortcut_replays` ends at another
    version than the replay with the champion of each moment: for every
    learner, the mistake the exercise is about changes the outcome.
    """
    import numpy as np

    champion = dict(FIRST_CHAMPION)
    for attempt in range(2_000):
        rng = np.random.default_rng([seed, attempt])
        history = _draw_history(rng, n)
        right = replay(history, dict(champion))
        if right not in shortcut_replays(history, dict(champion)).values():
            return history
    raise AssertionError(f"no history for seed {seed}")  # pragma: no cover - never seen


def replay(history: list[dict[str, Any]], champion: dict[str, Any], gate=reference_gate) -> int:
    """The version that is champion after each candidate met the gate, in order."""
    for candidate in history:
        if gate(candidate, champion):
            champion = candidate
    return champion["version"]


@checker("cicd-lab", "ex1", title="Order the pipeline", hints=[
    "Each stage trusts what the stages before it checked: ask of every stage what it needs to be "
    "safe.",
    "Code is tested before it is merged and deployed; a model is trained by deployed code, then "
    "judged, then given to users.",
])
def check_ex1(value: Any, **context: Any) -> CheckResult:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return CheckResult.fail(f"pipeline should be a list of stage names; got a {type(value).__name__}",
                                hint="Use the names in `stages`, each once.")
    missing = sorted(set(STAGES) - set(value))
    unknown = [v for v in value if v not in STAGES]
    if missing or unknown or len(value) != len(STAGES):
        what = f"unknown stage {unknown[0]!r}" if unknown else (
            f"{len(missing)} stage(s) missing" if missing else "a stage listed twice")
        return CheckResult.fail(f"the pipeline has {what}",
                                hint="Every stage of `stages` exactly once, no others.")
    position = {stage: i for i, stage in enumerate(value)}
    for stage, before in STAGES.items():
        for earlier in before:
            if position[earlier] > position[stage]:
                return CheckResult.fail(f"as ordered, {_WHY[stage]} (look at {stage!r})",
                                        hint="Ask what that stage needs to be safe, and where that comes from.")
    return CheckResult.ok("every stage runs after what it relies on")


_GATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("a better model", {"rmse": 30.0, "p99_ms": 20.0, "signature_ok": True}, {"rmse": 32.0}),
    ("a model 1 % worse (inside the tolerance)", {"rmse": 32.32, "p99_ms": 20.0, "signature_ok": True},
     {"rmse": 32.0}),
    ("a model 1.9 % worse", {"rmse": 32.0 * 1.019, "p99_ms": 20.0, "signature_ok": True},
     {"rmse": 32.0}),
    ("a model 1.99 % worse", {"rmse": 50.0 * 1.0199, "p99_ms": 20.0, "signature_ok": True},
     {"rmse": 50.0}),
    ("a model 2.1 % worse", {"rmse": 32.0 * 1.021, "p99_ms": 20.0, "signature_ok": True},
     {"rmse": 32.0}),
    ("a model 3 % worse", {"rmse": 41.2, "p99_ms": 20.0, "signature_ok": True}, {"rmse": 40.0}),
    ("a model 5 % worse", {"rmse": 33.6, "p99_ms": 20.0, "signature_ok": True}, {"rmse": 32.0}),
    ("a better model that is too slow", {"rmse": 30.0, "p99_ms": 75.0, "signature_ok": True},
     {"rmse": 32.0}),
    ("a model at exactly the latency budget", {"rmse": 30.0, "p99_ms": 50.0, "signature_ok": True},
     {"rmse": 32.0}),
    ("a better model whose signature does not match", {"rmse": 30.0, "p99_ms": 20.0,
                                                        "signature_ok": False}, {"rmse": 32.0}),
    ("the first model (no champion yet)", {"rmse": 45.0, "p99_ms": 20.0, "signature_ok": True}, None),
    ("a first model that is too slow", {"rmse": 30.0, "p99_ms": 90.0, "signature_ok": True}, None),
    ("a model whose RMSE is NaN (evaluation failed)", {"rmse": float("nan"), "p99_ms": 20.0,
                                                        "signature_ok": True}, {"rmse": 32.0}),
    ("a model 1 ms over the latency budget", {"rmse": 30.0, "p99_ms": 51.0, "signature_ok": True},
     {"rmse": 32.0}),
    ("a model whose p99 is NaN", {"rmse": 30.0, "p99_ms": float("nan"), "signature_ok": True},
     {"rmse": 32.0}),
    ("a model without an RMSE (None)", {"rmse": None, "p99_ms": 20.0, "signature_ok": True},
     {"rmse": 32.0}),
]


@checker("cicd-lab", "ex2", title="Write the promotion gate", hints=[
    "Write each rule as its own condition; the candidate passes only if all hold. Then think of "
    "the cases the rules do not mention.",
    "What if there is no champion yet? What does a comparison with NaN return in Python?",
])
def check_ex2(value: Any, **context: Any) -> CheckResult:
    if not callable(value):
        return CheckResult.fail(f"gate should be a function of (candidate, champion); got a "
                                f"{type(value).__name__}",
                                hint="def gate(candidate, champion): ... return True or False")
    for name, candidate, champion in _GATE_CASES:
        want = reference_gate(candidate, champion)
        try:
            got = value(dict(candidate), None if champion is None else dict(champion))
        except Exception as err:  # noqa: BLE001 - the learner's code
            return CheckResult.fail(f"your gate raised {type(err).__name__} for {name}: {err}",
                                    hint="The champion may be None.")
        if bool(got) is not want:
            return CheckResult.fail(f"your gate {'promotes' if got else 'blocks'} {name}",
                                    hint="Read the rule that case is about once more, boundary included.")
    return CheckResult.ok(f"your gate decides all {len(_GATE_CASES)} cases as the rules say")


@checker("cicd-lab", "ex3", title="Replay the release history", hints=[
    "Candidates arrive one after the other; each is compared with the champion of that moment.",
    "When a candidate is promoted, the next one is compared with it, not with the first champion.",
])
def check_ex3(value: Any, *, history: Any = None, champion: Any = None,
              **context: Any) -> CheckResult:
    """Judged on the learner's own history, recomputed here from their seed.

    The ``history`` and ``champion`` a notebook passes are only compared with
    it: an answer checked against a history of the learner's own making
    (``history=[]``) would otherwise pass with the first champion's version.
    """
    from mlops_kit.labs.seeds import learner_seed

    own = release_history(learner_seed("cicd-lab"))
    if history is not None and history != own or champion is not None and champion != FIRST_CHAMPION:
        return CheckResult.fail("the history or champion you passed is not your lab's",
                                hint="Pass the history=release_history(learner) and the champion "
                                     "the lab's cells gave you, unchanged.")
    return judge_ex3(value, history=own, champion=dict(FIRST_CHAMPION))


def judge_ex3(value: Any, *, history: list[dict[str, Any]], champion: dict[str, Any]) -> CheckResult:
    """:func:`check_ex3`'s judgement of ``value`` on a given history (tests try many)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return CheckResult.fail(f"final_champion should be a version number; got {value!r}",
                                hint="The version field of the candidate that is champion at the end.")
    expected = replay(history, dict(champion))
    if value == expected:
        return CheckResult.ok(f"version {expected} is champion after {len(history)} releases")
    versions = {c["version"] for c in history} | {champion["version"]}
    if value not in versions:
        return CheckResult.fail(f"there is no version {value} in your history",
                                hint="Versions are in history (and the first champion's).")
    return CheckResult.fail(f"version {value} is not the champion at the end of your history",
                            hint="Compare each candidate with the champion of its moment, and apply "
                                 "every rule, latency and signature included.")

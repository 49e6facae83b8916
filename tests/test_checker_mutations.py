"""Checkers proven by mutation: each exercise's checker rejects the wrong answers learners write.

For every exercise listed here, the worked solution's answer is computed on
prepared inputs (as the per-lab tests do, reusing their functions), the checker
must accept it, and then it is mutated:

- ``listed`` mutants are the wrong answers a learner would write (the mistake
  the exercise is about, the measured holes of the labs); the checker must
  reject every one of them;
- ``generic`` mutants are mechanical: an off-by-one constant, a neighbouring
  threshold, swapped arguments, a dropped rule, filter or column, the demo's
  value, the other alias, a looser tolerance; the checker must reject at least
  90 % of them (some generic mutants can be right answers by chance).

No notebook runs: each mutant is one call of the checker. Run alone with
``pytest -q -p no:randomly tests/test_checker_mutations.py -s`` to print the
table that docs/LABS_MUTATIONS.md copies.

To add a lab, register a function per exercise with :func:`mutations`: it
returns ``(answer, context, [Mutant(name, kind, make), ...])``, where ``make``
turns the right answer into the wrong one, or returns ``(value, context)``
when the mistake changes the context too (``Mutant(..., with_context=True)``).
"""
from __future__ import annotations

import functools
import importlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from mutation_harness import (GENERIC, GENERIC_FLOOR, LISTED, REGISTRY, Mutant, Outcome,
                              exercise_cleanup, mutations, run_exercise)


# --------------------------------------------------------------------------- webhooks lab
def _webhooks():
    from test_webhooks_lab import SEED

    return SEED


@mutations("webhooks-lab", "ex1")
def _webhooks_ex1():
    from mlops_kit.labs.checks.webhooks_lab import deliveries, to_act_on

    seed = _webhooks()
    items = deliveries(seed)
    ids = [it["headers"].get("X-MLflow-Delivery-Id") for it in items]
    answer = to_act_on(items)
    signed = [i for i in dict.fromkeys(ids)
              if any("X-MLflow-Signature" in it["headers"] for it in items
                     if it["headers"]["X-MLflow-Delivery-Id"] == i)]
    other = [i for i in dict.fromkeys(ids) if i not in answer]
    return answer, {"seed": seed}, [
        Mutant("no signature check", LISTED, lambda a: list(dict.fromkeys(ids))),
        Mutant("a signature header is enough", LISTED, lambda a: signed),
        Mutant("the retry acted on twice", LISTED,
               lambda a: [i for i in ids if i in a]),
        Mutant("the demo's ids (d-1, d-2, d-3)", LISTED, lambda a: ["d-1", "d-2", "d-3"]),
        Mutant("the other learner's deliveries", LISTED,
               lambda a: to_act_on(deliveries(seed + 1))),
        Mutant("one authentic delivery dropped", GENERIC, lambda a: a[:-1]),
        Mutant("the first one dropped", GENERIC, lambda a: a[1:]),
        Mutant("reversed", GENERIC, lambda a: a[::-1]),
        Mutant("one forged one added", GENERIC, lambda a: a + other[:1]),
        Mutant("sorted by id", GENERIC, lambda a: sorted(a) if sorted(a) != a else a[::-1]),
        Mutant("a string, not a list", GENERIC, lambda a: ",".join(a)),
        Mutant("empty", GENERIC, lambda a: []),
    ]


def _validate_with(*, columns="set", tolerance=1.05, champion=None, description=True, nan=True,
                   strict=False, reason=True):
    """A validation rule like the solution's, one mechanism changed."""
    from mlops_kit.labs.checks.webhooks_lab import SERVING_COLUMNS

    def validate(card):
        if columns == "set" and set(SERVING_COLUMNS) - set(card["columns"]):
            return False, "columns"
        if columns == "count" and len(card["columns"]) < len(SERVING_COLUMNS):
            return False, "columns"
        if description and not (card["description"] or "").strip():
            return False, "description"
        rmse = card["rmse"]
        if nan and (rmse is None or math.isnan(rmse)):
            return False, "no rmse"
        best = card["champion_rmse"] if champion is None else champion
        if (rmse >= best * tolerance) if strict else (rmse > best * tolerance):
            return False, "rmse"
        return True, "" if reason else None

    return validate


@mutations("webhooks-lab", "ex2")
def _webhooks_ex2():
    from test_webhooks_lab import right_validate

    from mlops_kit.labs.checks.webhooks_lab import version_cards

    seed = _webhooks()
    own = version_cards(seed)[0]["champion_rmse"]
    return right_validate, {"seed": seed}, [
        Mutant("counts the columns, champion 32.0 typed in", LISTED,
               lambda a: _validate_with(columns="count", champion=32.0)),
        Mutant("counts the columns", LISTED, lambda a: _validate_with(columns="count")),
        Mutant("the learner's champion RMSE typed in", LISTED, lambda a: _validate_with(champion=own)),
        Mutant("NaN slips through", LISTED, lambda a: _validate_with(nan=False)),
        Mutant("description not checked", LISTED, lambda a: _validate_with(description=False)),
        Mutant("columns not checked", LISTED, lambda a: _validate_with(columns=None)),
        Mutant("tolerance 1.04", GENERIC, lambda a: _validate_with(tolerance=1.04)),
        Mutant("tolerance 1.06", GENERIC, lambda a: _validate_with(tolerance=1.06)),
        Mutant("tolerance 1.10", GENERIC, lambda a: _validate_with(tolerance=1.10)),
        Mutant("tolerance 1.0 (no margin)", GENERIC, lambda a: _validate_with(tolerance=1.0)),
        Mutant("tolerance 0.05 (a share read as a ratio)", GENERIC, lambda a: _validate_with(tolerance=0.05)),
        Mutant("swapped: champion over candidate", GENERIC,
               lambda a: lambda card: a({**card, "rmse": card["champion_rmse"],
                                          "champion_rmse": card["rmse"]})),
        Mutant("no reason on failure", GENERIC,
               lambda a: lambda card: (a(card)[0], "")),
        Mutant("a bool, not (passed, reason)", GENERIC, lambda a: lambda card: a(card)[0]),
        Mutant("always passes", GENERIC, lambda a: lambda card: (True, "")),
        Mutant("always fails", GENERIC, lambda a: lambda card: (False, "no")),
    ]


def _walk(seed, *, validate=True, first=False, acted=True):
    from mlops_kit.labs.checks.webhooks_lab import deliveries, reference_valid, to_act_on, version_cards

    items = deliveries(seed)
    cards = {c["version"]: c for c in version_cards(seed)}
    by_id = {it["headers"]["X-MLflow-Delivery-Id"]: it for it in items}
    order = to_act_on(items) if acted else list(by_id)
    found = None
    for delivery_id in order:
        version = int(json.loads(by_id[delivery_id]["body"])["data"]["version"])
        if version in cards and (not validate or reference_valid(cards[version])):
            found = version
            if first:
                break
    return found


@mutations("webhooks-lab", "ex3")
def _webhooks_ex3():
    from mlops_kit.labs.checks.webhooks_lab import challenger, reference_valid, version_cards

    seed = _webhooks()
    highest = max(c["version"] for c in version_cards(seed) if reference_valid(c))
    return challenger(seed), {"seed": seed}, [
        Mutant("stops at the first passing delivery", LISTED, lambda a: _walk(seed, first=True)),
        Mutant("None (guessing no version passes)", LISTED, lambda a: None),
        Mutant("the last acted-on version, not validated", LISTED, lambda a: _walk(seed, validate=False)),
        Mutant("forged deliveries acted on too", LISTED, lambda a: _walk(seed, acted=False)),
        Mutant("the highest valid version", LISTED, lambda a: highest),
        Mutant("off by one up", GENERIC, lambda a: a + 1),
        Mutant("off by one down", GENERIC, lambda a: a - 1),
        Mutant("as a string", GENERIC, lambda a: str(a)),
        Mutant("the other learner's answer", GENERIC,
               lambda a: next(challenger(s) for s in range(seed + 1, seed + 50) if challenger(s) != a)),
    ]


# --------------------------------------------------------------------------- CI/CD lab
@mutations("cicd-lab", "ex1")
def _cicd_ex1():
    from test_cicd_lab import RIGHT_ORDER

    def swap(i, j):
        return lambda a: [a[j] if k == i else a[i] if k == j else s for k, s in enumerate(a)]

    return list(RIGHT_ORDER), {}, [
        Mutant("promote before validate", LISTED, swap(5, 6)),
        Mutant("integration tests before the merge", LISTED, swap(1, 2)),
        Mutant("deploy before the integration tests", LISTED, swap(2, 3)),
        Mutant("train before the code is deployed", LISTED, swap(3, 4)),
        *[Mutant(f"neighbours {i} and {i + 1} swapped", GENERIC, swap(i, i + 1)) for i in range(6)],
        Mutant("reversed", GENERIC, lambda a: a[::-1]),
        Mutant("a stage dropped", GENERIC, lambda a: a[:-1]),
        Mutant("a stage twice", GENERIC, lambda a: a + a[-1:]),
        Mutant("the shuffled list as given", GENERIC,
               lambda a: __import__("random").Random(3).sample(a, len(a))),
    ]


def _gate_with(*, tolerance=1.02, budget=50.0, strict_latency=False, no_champion=True, nan=True,
               signature=True, latency=True):
    def gate(candidate, champion):
        rmse, p99 = candidate.get("rmse"), candidate.get("p99_ms")
        if signature and not candidate.get("signature_ok"):
            return False
        if nan and (rmse is None or p99 is None or math.isnan(rmse) or math.isnan(p99)):
            return False
        if latency and ((p99 >= budget) if strict_latency else (p99 > budget)):
            return False
        if champion is None:
            return no_champion
        return rmse <= champion["rmse"] * tolerance

    return gate


@mutations("cicd-lab", "ex2")
def _cicd_ex2():
    from test_cicd_lab import right_gate

    return right_gate, {}, [
        Mutant("4 % tolerance where the rule says 2 %", LISTED, lambda a: _gate_with(tolerance=1.04)),
        Mutant("no tolerance", LISTED, lambda a: _gate_with(tolerance=1.0)),
        Mutant("NaN not handled", LISTED, lambda a: _gate_with(nan=False)),
        Mutant("no champion crashes", LISTED,
               lambda a: lambda c, ch: _gate_with()(c, ch) and c["rmse"] <= ch["rmse"] * 1.02),
        Mutant("latency ignored", LISTED, lambda a: _gate_with(latency=False)),
        Mutant("signature ignored", LISTED, lambda a: _gate_with(signature=False)),
        Mutant("tolerance 1.021", GENERIC, lambda a: _gate_with(tolerance=1.021)),
        Mutant("tolerance 1.019", GENERIC, lambda a: _gate_with(tolerance=1.019)),
        Mutant("tolerance 1.03", GENERIC, lambda a: _gate_with(tolerance=1.03)),
        Mutant("tolerance 1.01", GENERIC, lambda a: _gate_with(tolerance=1.01)),
        Mutant("tolerance 0.02 (a share read as a ratio)", GENERIC, lambda a: _gate_with(tolerance=0.02)),
        Mutant("latency budget 49 ms", GENERIC, lambda a: _gate_with(budget=49.0)),
        Mutant("latency budget 51 ms", GENERIC, lambda a: _gate_with(budget=51.0)),
        Mutant("latency budget strict (<)", GENERIC, lambda a: _gate_with(strict_latency=True)),
        Mutant("swapped arguments", GENERIC,
               lambda a: lambda c, ch: a(ch, c) if ch is not None else a(c, ch)),
        Mutant("no first champion: blocked", GENERIC, lambda a: _gate_with(no_champion=False)),
        Mutant("always promotes", GENERIC, lambda a: lambda c, ch: True),
        Mutant("never promotes", GENERIC, lambda a: lambda c, ch: False),
    ]


def _replay_with(history, champion, gate, *, stale=False):
    current = champion
    final = champion
    for candidate in history:
        if gate(candidate, champion if stale else current):
            current = final = candidate
    return final["version"]


@mutations("cicd-lab", "ex3")
def _cicd_ex3():
    from test_cicd_lab import FIRST_CHAMPION, right_gate

    from mlops_kit.labs.checks.cicd_lab import release_history, replay
    from mlops_kit.labs.seeds import learner_seed

    history = release_history(learner_seed("cicd-lab"))  # the checker judges the learner's own
    champion = dict(FIRST_CHAMPION)
    context = {"history": history, "champion": champion}
    best = min(history, key=lambda c: c["rmse"])["version"]
    return replay(history, dict(champion), right_gate), context, [
        Mutant("every candidate against the first champion", LISTED,
               lambda a: _replay_with(history, champion, right_gate, stale=True)),
        Mutant("a 4 % gate", LISTED, lambda a: _replay_with(history, champion, _gate_with(tolerance=1.04))),
        Mutant("latency ignored", LISTED, lambda a: _replay_with(history, champion, _gate_with(latency=False))),
        Mutant("signature ignored", LISTED,
               lambda a: _replay_with(history, champion, _gate_with(signature=False))),
        Mutant("the best RMSE", LISTED, lambda a: best if best != a else history[-1]["version"]),
        Mutant("the last candidate", GENERIC, lambda a: history[-1]["version"]),
        Mutant("the first champion kept", GENERIC, lambda a: champion["version"]),
        Mutant("off by one up", GENERIC, lambda a: a + 1),
        Mutant("off by one down", GENERIC, lambda a: a - 1),
        Mutant("as a string", GENERIC, lambda a: str(a)),
        Mutant("the champion dict, not its version", GENERIC,
               lambda a: next(c for c in history if c["version"] == a) if a != 1 else champion),
    ]


# --------------------------------------------------------------------------- rollout lab
def _stub_rollout(stats):
    import httpx

    class _Answer:
        def json(self):
            return {"deployments": {"challenger": stats}}

    httpx.get = lambda url, timeout=None: _Answer()


@mutations("rollout", "ex1")
def _rollout_ex1():
    import httpx
    from test_rollout_lab import BUDGET, FAULTY, traffic

    real = httpx.get
    exercise_cleanup.append(lambda: setattr(httpx, "get", real))
    _stub_rollout(FAULTY)
    context = {"traffic": traffic(), **BUDGET}

    return "rollback", context, [
        Mutant("promote a faulty challenger", LISTED, lambda a: "promote"),
        Mutant("no traffic sent (decision typed in)", LISTED,
               lambda a, ctx: (a, {k: v for k, v in ctx.items() if k != "traffic"}), with_context=True),
        Mutant("traffic that never reached the challenger", LISTED,
               lambda a, ctx: (a, {**ctx, "traffic": traffic(challenger=0)}), with_context=True),
        Mutant("capitalised", GENERIC, lambda a: "Rollback"),
        Mutant("a bool", GENERIC, lambda a: True),
        Mutant("'roll back' spelled out", GENERIC, lambda a: "roll back"),
    ]


#: undo monkeypatching done by a builder (run after its exercise)


@mutations("rollout", "ex2")
def _rollout_ex2():
    from test_rollout_lab import LEARNERS, WRONG_RULES, right_decide

    from mlops_kit.labs.scenarios import ab_experiment, ab_plan

    learner = LEARNERS["peeked"]
    context = {"experiment": ab_experiment(learner), "plan": ab_plan(learner)}

    def on(change_plan=None, change_frame=None, change_answer=None):
        def rule(experiment, plan):
            frame = change_frame(experiment) if change_frame else experiment
            answer = right_decide(frame, change_plan(plan) if change_plan else plan)
            return change_answer(answer) if change_answer else answer
        return lambda a: rule

    flip = {"control": "treatment", "treatment": "control"}
    return right_decide, context, [
        *[Mutant(name, LISTED, lambda a, rule=rule: rule) for name, (rule, _, _) in WRONG_RULES.items()],
        Mutant("the minimum effect read as absolute", GENERIC,
               on(lambda p: {**p, "min_effect": p["min_effect"] / p["baseline_rate"]})),
        Mutant("a minimum effect 5 points larger", GENERIC, on(lambda p: {**p, "min_effect": p["min_effect"] + 0.05})),
        Mutant("a baseline one point higher", GENERIC, on(lambda p: {**p, "baseline_rate": p["baseline_rate"] + 0.01})),
        Mutant("power 0.5", GENERIC, on(lambda p: {**p, "power": 0.5})),
        Mutant("alpha doubled", GENERIC, on(lambda p: {**p, "alpha": 2 * p["alpha"]})),
        Mutant("control and treatment swapped", GENERIC,
               on(change_frame=lambda e: e.assign(variant=e["variant"].map(flip)))),
        Mutant("always 'extend'", GENERIC, lambda a: lambda e, p: "extend"),
        Mutant("always 'ship'", GENERIC, lambda a: lambda e, p: "ship"),
        Mutant("always 'stop'", GENERIC, lambda a: lambda e, p: "stop"),
        Mutant("capitalised", GENERIC, on(change_answer=str.capitalize)),
        Mutant("a bool (ship or not)", GENERIC, on(change_answer=lambda d: d == "ship")),
        Mutant("the own decision as a string", GENERIC, lambda a: a(**context)),
    ]


@mutations("rollout", "ex3")
def _rollout_ex3():
    from test_rollout_lab import RAMP_LEARNERS, WRONG_RAMPS, GuardrailRamp

    from mlops_kit.labs.scenarios import ramp_looks, ramp_plan
    from mlops_kit.rollout import CanaryPolicy

    learner = RAMP_LEARNERS["breach"]
    context = {"plan": ramp_plan(learner), "looks": ramp_looks(learner)}

    def built(change):
        return lambda a: lambda plan: GuardrailRamp(change(dict(plan)))

    return GuardrailRamp, context, [
        *[Mutant(name, LISTED, lambda a, ramp=ramp: ramp) for name, (ramp, _, _) in WRONG_RAMPS.items()],
        Mutant("guardrail budget 10 % higher", GENERIC, built(lambda p: {**p, "guardrail_max": p["guardrail_max"] * 1.1})),
        Mutant("guardrail budget 10 % lower", GENERIC, built(lambda p: {**p, "guardrail_max": p["guardrail_max"] * 0.9})),
        Mutant("one request fewer", GENERIC, built(lambda p: {**p, "min_requests": p["min_requests"] - 1})),
        Mutant("one request more", GENERIC, built(lambda p: {**p, "min_requests": p["min_requests"] + 1})),
        Mutant("error budget doubled", GENERIC, built(lambda p: {**p, "max_error_rate": 2 * p["max_error_rate"]})),
        Mutant("a step left out", GENERIC, built(lambda p: {**p, "steps": tuple(p["steps"][:-2]) + tuple(p["steps"][-1:])})),
        Mutant("the error rate read as the guardrail", GENERIC, built(lambda p: {**p, "guardrail": "error_rate"})),
        Mutant("an instance, not the class", GENERIC, lambda a: a(context["plan"])),
        Mutant("the kit's CanaryPolicy with the plan's steps", GENERIC,
               lambda a: lambda plan: CanaryPolicy(steps=tuple(plan["steps"]), min_requests=plan["min_requests"],
                                                   max_error_rate=plan["max_error_rate"])),
    ]


# --------------------------------------------------------------------------- setup lab
@mutations("setup", "ex1", needs=("workspace",))
def _setup_ex1():
    import getpass

    from mlops_kit.workspace import get_workspace

    ws = get_workspace()
    return ws.user, {}, [
        Mutant("the login name", LISTED, lambda a: getpass.getuser() if getpass.getuser() != a else "root"),
        Mutant("the env's name", LISTED, lambda a: ws.env),
        Mutant("the workspace object", LISTED, lambda a: ws),
        Mutant("capitalised", GENERIC, lambda a: a.capitalize()),
        Mutant("with a trailing newline", GENERIC, lambda a: a + "\n"),
        Mutant("the demo's user", GENERIC, lambda a: "ada" if a != "ada" else "bob"),
    ]


@mutations("setup", "ex5", needs=("workspace",))
def _setup_ex5():
    from mlops_kit.labs.checks.setup import MODEL, job_env
    from mlops_kit.workspace import ENVS, get_workspace

    ws = get_workspace()
    env = job_env()
    others = [e for e in ENVS if e != env]
    return f"{env}.{ws.user}.{MODEL}", {}, [
        *[Mutant(f"the {e} env", LISTED, lambda a, e=e: f"{e}.{ws.user}.{MODEL}") for e in others],
        Mutant("the workspace's own model name", LISTED,
               lambda a: ws.model_name(MODEL) if ws.model_name(MODEL) != a else f"{others[0]}.{ws.user}.{MODEL}"),
        Mutant("the short name", GENERIC, lambda a: MODEL),
        Mutant("someone else's model", GENERIC, lambda a: f"{env}.ada.{MODEL}" if ws.user != "ada" else f"{env}.bob.{MODEL}"),
        Mutant("another model", GENERIC, lambda a: f"{env}.{ws.user}.price_labels"),
        Mutant("parts swapped", GENERIC, lambda a: f"{ws.user}.{env}.{MODEL}"),
        Mutant("a list", GENERIC, lambda a: a.split(".")),
    ]


@mutations("setup", "ex6", needs=("workspace",))
def _setup_ex6():
    from mlops_kit.labs.checks.setup import TEAM_SPARK_CONNECT, TEAM_TRACKING_URI

    uri = TEAM_TRACKING_URI
    return {"MLOPS_KIT_TRACKING_URI": uri}, {}, [
        Mutant("the registry only", LISTED, lambda a: {"MLOPS_KIT_REGISTRY_URI": uri}),
        Mutant("the workspace root moved", LISTED, lambda a: {"MLOPS_KIT_HOME": uri}),
        Mutant("the Spark master moved too", LISTED, lambda a: {**a, "MLOPS_KIT_SPARK_MASTER": TEAM_SPARK_CONNECT}),
        Mutant("the registry kept local", LISTED, lambda a: {**a, "MLOPS_KIT_REGISTRY_URI": "sqlite:///models.db"}),
        Mutant("a name the kit does not read", GENERIC, lambda a: {"TRACKING_URI": uri}),
        Mutant("a string", GENERIC, lambda a: uri),
        Mutant("another port", GENERIC, lambda a: {"MLOPS_KIT_TRACKING_URI": uri.replace("5000", "5001")}),
        Mutant("the env moved too", GENERIC, lambda a: {**a, "MLOPS_KIT_ENV": "prod"}),
        Mutant("the user moved too", GENERIC, lambda a: {**a, "MLOPS_KIT_USER": "team"}),
    ]


# --------------------------------------------------------------------------- MLflow models lab
@mutations("mlflow-models-lab", "ex1", needs=("workspace",))
def _mlflow_models_ex1():
    import test_registry_models_lab as t

    from mlops_kit.models import FEATURES

    def label(threshold, strict=True):
        class Variant(t.Right):
            def predict(self, context, model_input, params=None):
                features = model_input[FEATURES].apply(pd.to_numeric, errors="coerce")
                prices = self.model.predict(features)
                return ["Expensive" if (p > threshold if strict else p >= threshold) else "Not Expensive"
                        for p in prices]
        return Variant

    class FillsMissingWithZero(t.Right):
        def predict(self, context, model_input, params=None):
            features = model_input[FEATURES].apply(pd.to_numeric, errors="coerce").fillna(0)
            return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(features)]

    class DropsAFeature(t.Right):
        def predict(self, context, model_input, params=None):
            features = model_input[FEATURES[:-1]].apply(pd.to_numeric, errors="coerce")
            return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(features)]

    class SortedColumns(t.Right):
        def predict(self, context, model_input, params=None):
            features = model_input[sorted(FEATURES)].apply(pd.to_numeric, errors="coerce")
            return ["Expensive" if p > 100 else "Not Expensive" for p in self.model.predict(features)]

    class Prices(t.Right):
        def predict(self, context, model_input, params=None):
            return list(self.model.predict(model_input[FEATURES].apply(pd.to_numeric, errors="coerce")))

    return t.Right, {}, [
        Mutant("columns relabelled by position", LISTED, lambda a: t.RelabelsByPosition),
        Mutant("no preprocessing", LISTED, lambda a: t.NoPreprocessing),
        Mutant("features as text", LISTED, lambda a: t.ColumnsButText),
        Mutant("extra fields dropped, order kept", LISTED, lambda a: t.DropsExtrasKeepsOrder),
        Mutant("100 is expensive", LISTED, lambda a: t.InclusiveBoundary),
        Mutant("threshold 99", GENERIC, lambda a: label(99.0)),
        Mutant("threshold 101", GENERIC, lambda a: label(101.0)),
        Mutant("threshold 100.02", GENERIC, lambda a: label(100.02)),
        Mutant("missing values filled with 0", GENERIC, lambda a: FillsMissingWithZero),
        Mutant("a feature dropped", GENERIC, lambda a: DropsAFeature),
        Mutant("features in sorted order", GENERIC, lambda a: SortedColumns),
        Mutant("prices, not labels", GENERIC, lambda a: Prices),
        Mutant("an instance, not the class", GENERIC, lambda a: a(None)),
    ]


# --------------------------------------------------------------------------- streaming lab
@mutations("streaming-lab", "ex3", needs=("spark",))
def _streaming_ex3():
    from test_streaming_lab import right

    def ids(frame):
        return frame.select("id")

    return right, {}, [
        Mutant("equal counts", LISTED, lambda a: lambda source, sink: source.count() == sink.count()),
        Mutant("distinct count plus equal count, ids never compared", LISTED,
               lambda a: lambda source, sink: (ids(sink).distinct().count() == sink.count()
                                               == source.count())),
        Mutant("missing rows only", LISTED,
               lambda a: lambda source, sink: ids(source).subtract(ids(sink)).count() == 0),
        Mutant("doubled rows only", LISTED,
               lambda a: lambda source, sink: sink.groupBy("id").count().where("count > 1").count() == 0),
        Mutant("distinct rows counted", LISTED,
               lambda a: lambda source, sink: sink.distinct().count() == source.count()),
        Mutant("source and sink swapped", GENERIC, lambda a: lambda source, sink: a(sink, source)),
        Mutant("one doubled id allowed", GENERIC,
               lambda a: lambda source, sink: (sink.groupBy("id").count().where("count > 2").count() == 0
                                               and ids(source).subtract(ids(sink)).count() == 0)),
        Mutant("one missing id allowed", GENERIC,
               lambda a: lambda source, sink: (sink.groupBy("id").count().where("count > 1").count() == 0
                                               and ids(source).subtract(ids(sink)).count() <= 1)),
        Mutant("always True", GENERIC, lambda a: lambda source, sink: True),
        Mutant("the counts, not a bool", GENERIC, lambda a: lambda source, sink: sink.count()),
    ]


# --------------------------------------------------------------------------- the harness
def _import_lab_modules() -> None:
    """Register the exercises of ``tests/mutants_<lab>.py`` (one module per lab)."""
    for path in sorted(Path(__file__).parent.glob("mutants_*.py")):
        importlib.import_module(path.stem)


_import_lab_modules()
CASES = sorted(REGISTRY)


@functools.lru_cache(maxsize=None)
def outcome(key: tuple[str, str]) -> Outcome:
    try:
        return run_exercise(REGISTRY[key])
    finally:
        while exercise_cleanup:
            exercise_cleanup.pop()()


def _run(key, request):
    if REGISTRY[key].needs:  # a fresh workspace per test: build again in it
        for name in REGISTRY[key].needs:
            request.getfixturevalue(name)
        outcome.cache_clear()
    return outcome(key)


@pytest.mark.parametrize("key", CASES, ids=[f"{lab}:{ex}" for lab, ex in CASES])
def test_checker_accepts_the_solution_and_rejects_its_mutants(key, request):
    result = _run(key, request)
    assert result.accepted_right, f"{key}: the checker rejects the worked solution"
    assert not result.survived[LISTED], f"{key}: listed wrong answers pass: {result.survived[LISTED]}"
    caught, total = result.share(GENERIC)
    assert total and caught / total >= GENERIC_FLOOR, (
        f"{key}: only {caught}/{total} generic mutants rejected; passing: {result.survived[GENERIC]}")
    _REPORT[key] = result


_REPORT: dict[tuple[str, str], Outcome] = {}


def report_table(results: dict[tuple[str, str], Outcome]) -> str:
    lines = ["| lab | exercise | listed rejected | generic rejected | generic let through |",
             "|---|---|---|---|---|"]
    for (lab, exercise), result in sorted(results.items()):
        listed, generic = result.share(LISTED), result.share(GENERIC)
        lines.append(f"| {lab} | {exercise} | {listed[0]}/{listed[1]} | {generic[0]}/{generic[1]} | "
                     f"{', '.join(result.survived[GENERIC]) or '-'} |")
    return "\n".join(lines)


def test_zz_report(capsys):
    """Print the table of the exercises that ran (run the module with -s, -p no:randomly)."""
    assert set(_REPORT) <= set(REGISTRY)
    with capsys.disabled():
        print("\n" + report_table(_REPORT))

"""Per-learner lab data: what broke differs from one learner to the next.

A lab whose answer is the same for everyone can be passed by typing in what
the demo showed. These helpers derive a seed from the workspace user, so the
checkers recompute each learner's truth from that learner's data:

- :func:`learner_seed`: a stable number per user (and lab), from :mod:`.seeds`;
- :func:`app_requests`: listings as a client app sends them, with one loud
  defect (the endpoint refuses them) and one silent one (it answers, wrongly);
- :func:`repair_app_rows`: the truth the real-time checker compares against;
- :func:`monitoring_windows`: ice-cream windows whose unit change is the learner's own;
- :func:`register_lab_challenger`: a good or a faulty canary, depending on the learner.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs.seeds import learner_seed

__all__ = ["learner_seed", "APP_DEFECTS", "app_requests", "app_defects", "repair_app_rows",
           "accepted_app_rows",
           "UNIT_CHANGES", "unit_change", "monitoring_windows", "challenger_is_faulty",
           "register_lab_challenger", "partner_feed"]


#: loud defects (a renamed column: the endpoint answers 400) and silent ones (wrong values)
APP_DEFECTS: dict[str, list[tuple[str, str]]] = {
    "loud": [("rename", "accommodates:guests"), ("rename", "bedrooms:rooms"),
             ("rename", "beds:bed_count")],
    "silent": [("scale", "review_scores_rating:20"), ("swap", "latitude:longitude")],
}


def app_defects(seed: int) -> list[tuple[str, str]]:
    """The loud and the silent defect of the app for ``seed``."""
    loud = APP_DEFECTS["loud"][seed % len(APP_DEFECTS["loud"])]
    silent = APP_DEFECTS["silent"][(seed // 7) % len(APP_DEFECTS["silent"])]
    return [loud, silent]


def _apply(row: dict[str, Any], defect: tuple[str, str]) -> dict[str, Any]:
    kind, spec = defect
    out = dict(row)
    if kind == "rename":
        old, new = spec.split(":")
        out = {(new if key == old else key): value for key, value in out.items()}
    elif kind == "scale":
        col, factor = spec.split(":")
        if out[col] is not None:  # a missing value stays missing
            out[col] = round(out[col] * float(factor), 4)
    elif kind == "swap":
        a, b = spec.split(":")
        out[a], out[b] = out[b], out[a]
    return out


def _truth(columns: list[str], n: int, seed: int) -> list[dict[str, Any]]:
    import json

    from mlops_kit.datasets import listings

    frame = listings(n, seed=seed)[columns]
    return json.loads(frame.to_json(orient="records"))


def app_requests(columns: list[str], n: int = 6, *, seed: int) -> list[dict[str, Any]]:
    """``n`` listings (model input ``columns``) as the app sends them, both defects applied."""
    rows = _truth(columns, n, seed)
    for defect in app_defects(seed):
        rows = [_apply(row, defect) for row in rows]
    return rows


def repair_app_rows(columns: list[str], n: int, *, seed: int) -> list[dict[str, Any]]:
    """The listings the app meant: what the model must score (the checker's truth)."""
    return _truth(columns, n, seed)


def accepted_app_rows(columns: list[str], n: int, *, seed: int) -> list[dict[str, Any]]:
    """The app's rows with only the loud defect repaired: what the endpoint accepts, wrongly."""
    rows = _truth(columns, n, seed)
    return [_apply(row, app_defects(seed)[1]) for row in rows]


#: the columns whose units a monitoring-lab learner's pipeline may change, and how
UNIT_CHANGES: list[tuple[str, str | float]] = [
    ("temperature", "C->F"), ("price_per_cone", 100.0), ("humidity", 0.01),
]


def unit_change(seed: int) -> tuple[str, str | float]:
    """The column (and conversion) whose units changed in the monitoring lab for ``seed``."""
    return UNIT_CHANGES[seed % len(UNIT_CHANGES)]


def monitoring_windows(n: int, seed: int, *, learner: int):
    """The monitoring lab's reference and current windows for one learner.

    The current window has a new flavour mix (the world changed), 15 % missing
    humidity readings (a broken sensor) and one column in other units, which
    column depending on ``learner`` (see :func:`unit_change`).
    """
    from mlops_kit.datasets import ice_cream_windows
    from mlops_kit.datasets.drift import change_units

    reference, current = ice_cream_windows(n, seed=seed, drift=["flavour_mix", "nulls"])
    column, conversion = unit_change(learner)
    return reference, change_units(current, column, conversion)


def challenger_is_faulty(learner: int) -> bool:
    """Whether the rollout lab's challenger of ``learner`` fails on some listings."""
    return learner % 2 == 0


def register_lab_challenger(short_name: str, data, requests, *, learner: int,
                            seed: int = 0) -> str:
    """Register the rollout lab's challenger under ``short_name``; return its version.

    For half of the learners it is a retrained price model (a good candidate),
    for the other half a model that fails on big listings: which one this
    learner got is for the canary to show, not for the setup cell.
    """
    from mlflow import MlflowClient

    from mlops_kit.rollout.traffic import register_faulty_model
    from mlops_kit.training import train_price_model

    if challenger_is_faulty(learner):
        from mlops_kit.workspace import get_workspace

        full = get_workspace().model_name(short_name)
        return register_faulty_model(full, requests, threshold=3 + learner % 3, alias="challenger")
    trained = train_price_model(data, model_name=short_name, seed=seed + 1)
    MlflowClient().set_registered_model_alias(trained.name, "challenger", trained.version)
    return str(trained.version)


def partner_feed(spark, columns: list[str], n: int = 200, *, seed: int):
    """The batch lab's partner feed: ``listing_id`` plus ``columns``, with the app's defects."""
    import pandas as pd

    frame = pd.DataFrame(app_requests(columns, n, seed=seed))
    frame.insert(0, "listing_id", range(n))
    return spark.createDataFrame(frame)


# --------------------------------------------------------------------------- batch lab (03.1L)
#: the batch lab's workspace tables: last night's predictions and tonight's listings
NIGHTLY_TABLE, TONIGHT_TABLE = "lab_nightly_predictions", "lab_tonight_listings"


def nightly_plan(seed: int) -> tuple[int, int, int]:
    """(versions registered, version of the night's first run, version of its re-run) for ``seed``.

    The newest version is today's champion; the night was scored by two older
    ones: a first run, then a re-run after a rollback that replaced its rows.
    """
    versions = 3 + seed % 2
    older = list(range(1, versions))
    first = older[(seed // 2) % len(older)]
    rerun = [v for v in older if v != first][(seed // 7) % (len(older) - 1)]
    return versions, first, rerun


def prepare_nightly(spark, short_name: str, *, seed: int, rows: int = 300,
                    night_rows: int = 120) -> dict[str, Any]:
    """Register the batch lab's price versions and write last night's predictions table.

    Trains the versions :func:`nightly_plan` names (once: a second call reuses
    them), points ``champion`` at the newest, and writes ``NIGHTLY_TABLE``
    twice: scored by the first run's version, then overwritten by the re-run's.
    Each commit's ``userMetadata`` names the MLflow run of the model that
    scored it. Returns the registered name and the table's path.
    """
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit.datasets import listings
    from mlops_kit.training import train_price_model
    from mlops_kit.workspace import get_workspace

    ws = get_workspace()
    name = ws.model_name(short_name)
    count, first, rerun = nightly_plan(seed)
    client = MlflowClient()
    have = {int(v.version): v for v in client.search_model_versions(f"name='{name}'")}
    for version in range(len(have) + 1, count + 1):
        trained = train_price_model(listings(rows, seed=seed % 997 + 31 * version),
                                    model_name=short_name, seed=version)
        have[int(trained.version)] = client.get_model_version(name, trained.version)
    client.set_registered_model_alias(name, "champion", str(count))
    night = listings(night_rows, seed=seed % 991 + 5)
    path = str(ws.table_path(NIGHTLY_TABLE))
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    for version, note in ((first, "nightly scoring"), (rerun, "nightly scoring, re-run after a rollback")):
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        inputs = model.metadata.get_input_schema().input_names()
        scored = night[["id", *inputs]].assign(prediction=model.predict(night[inputs]))
        (spark.createDataFrame(scored).write.format("delta").mode("overwrite")
         .option("userMetadata", f"{note}: model of run {have[version].run_id}").save(path))
    return {"model_name": name, "nightly_path": path}


def tonight_listings(n: int, *, seed: int):
    """Tonight's listings table of the batch lab (pandas): every change is a new record.

    A listing can appear several times: a correction adds a later record with
    other values, a withdrawal adds a later record with ``status`` 'withdrawn',
    and a listing withdrawn and then listed again has a live record after its
    withdrawn one. Older records come first, so keeping "the first row of each
    id" keeps a stale one. Which listings, and how many, depend on ``seed``.
    """
    import random

    import pandas as pd

    from mlops_kit.datasets import listings

    rng = random.Random(seed)
    base = listings(n, seed=seed % 983 + 17).reset_index(drop=True)
    start = pd.Timestamp("2026-03-02 18:00")
    base["updated_at"] = [start + pd.Timedelta(minutes=rng.randrange(0, 600)) for _ in range(n)]
    base["status"] = "live"
    ids = rng.sample(range(n), 4 + seed % 5 + 3 + seed % 4 + 2 + seed % 3)
    corrected = ids[:4 + seed % 5]
    withdrawn = ids[len(corrected):len(corrected) + 3 + seed % 4]
    relisted = ids[len(corrected) + len(withdrawn):]
    early, late = [], []
    for i in corrected:  # the first record was wrong: a later one corrects it
        stale = base.loc[i].copy()
        stale["accommodates"] = int(stale["accommodates"]) + 2 + rng.randrange(3)
        stale["bedrooms"] = int(stale["bedrooms"]) + 1
        stale["updated_at"] -= pd.Timedelta(hours=6)
        early.append(stale)
    for i in withdrawn:
        gone = base.loc[i].copy()
        gone["status"], gone["updated_at"] = "withdrawn", gone["updated_at"] + pd.Timedelta(hours=3)
        late.append(gone)
    for i in relisted:  # withdrawn, then listed again with more room
        gone = base.loc[i].copy()
        gone["status"], gone["updated_at"] = "withdrawn", gone["updated_at"] + pd.Timedelta(hours=1)
        again = base.loc[i].copy()
        again["accommodates"] = int(again["accommodates"]) + 1 + rng.randrange(3)
        again["beds"] = int(again["beds"]) + 1
        again["updated_at"] += pd.Timedelta(hours=2)
        late.extend([gone, again])
    frame = pd.concat([pd.DataFrame(early), base, pd.DataFrame(late)], ignore_index=True)
    frame = frame.astype(base.dtypes.to_dict())
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: object for c in text})  # plain strings: Spark reads them as they are


def tonight_truth(frame):
    """The listings to score tonight: each id's latest record, if that record is live."""
    latest = frame.sort_values("updated_at").groupby("id", sort=False).tail(1)
    return latest[latest["status"] == "live"].sort_values("id").reset_index(drop=True)


# --------------------------------------------------------------------------- streaming lab (03.2L)
#: columns the readers of a streaming lab sink may need next to ``id`` and the prediction
STREAM_COLUMNS = ("room_type", "neighbourhood", "accommodates", "bedrooms", "price")
#: the names last year's schema gave them (the broken job still uses one)
STREAM_OLD_NAMES = {"room_type": "roomType", "neighbourhood": "neighborhood",
                    "accommodates": "guests", "bedrooms": "rooms", "price": "list_price"}
#: the job that wrote to another sink from the same source before (its checkpoint is its sink's name)
STREAM_OLD_SINK = "lab_scored_v1"


def stream_keep_columns(seed: int) -> list[str]:
    """The columns the streaming lab's sink keeps next to the prediction, for ``seed``."""
    first = STREAM_COLUMNS[seed % len(STREAM_COLUMNS)]
    rest = [c for c in STREAM_COLUMNS if c != first]
    return ["id", first, rest[(seed // 5) % len(rest)]]


def broken_stream_job(seed: int) -> dict[str, Any]:
    """The streaming lab's broken job: ``start_scoring_stream`` arguments, two things wrong.

    Always: the checkpoint of the job that writes ``STREAM_OLD_SINK`` (copied
    with the rest of its configuration). Then, depending on ``seed``, a kept
    column under last year's name, or a trigger that never stops.
    """
    keep = stream_keep_columns(seed)
    job = {"source_table": "lab_updates", "sink_table": "lab_scored", "checkpoint": STREAM_OLD_SINK,
           "trigger": "availableNow", "keep_columns": list(keep)}
    if seed % 3:
        position = 1 + (seed // 3) % 2
        job["keep_columns"][position] = STREAM_OLD_NAMES[keep[position]]
    else:
        job.update(trigger="processingTime", interval="5 seconds")
    return job


def prepare_stream_lab(model_uri: str, chunks, *, seed: int) -> dict[str, Any]:
    """Reset the streaming lab's tables, run the old job on the first chunk(s), let the rest arrive.

    Returns the broken job of :func:`broken_stream_job`.
    """
    from mlops_kit.deployment import append_rows, reset_stream, start_scoring_stream
    from mlops_kit.spark import get_spark

    for running in get_spark().streams.active:  # a broken job of an earlier try, still running
        running.stop()
    job = broken_stream_job(seed)
    reset_stream(job["source_table"], job["sink_table"])
    reset_stream(job["source_table"], STREAM_OLD_SINK)
    before = 1 + seed % 2
    for chunk in chunks[:before]:
        append_rows(job["source_table"], chunk)
    start_scoring_stream(model_uri, job["source_table"], STREAM_OLD_SINK,
                         keep_columns=["id"]).awaitTermination()
    for chunk in chunks[before:]:
        append_rows(job["source_table"], chunk)
    return job


#: the rollout lab's guardrail per learner: a 0/1 column of the A/B data, and the rate a ramp watches
AB_GUARDRAILS: list[tuple[str, str]] = [
    ("refunded", "refund_rate"), ("complained", "complaint_rate"), ("cancelled", "cancel_rate"),
]
#: what the rollout lab's A/B experiment shows, per learner (see :func:`ab_experiment`)
AB_SITUATIONS = ("ship", "peeked", "guardrail", "no_effect")


def ab_plan(learner: int) -> dict[str, Any]:
    """The rollout lab's A/B plan for ``learner``: baseline, relative minimum effect, guardrail."""
    return {"baseline_rate": (0.08, 0.10, 0.12)[learner % 3],
            "min_effect": (0.15, 0.20, 0.25)[(learner // 3) % 3],
            "alpha": 0.05, "power": 0.8,
            "guardrail": AB_GUARDRAILS[(learner // 9) % len(AB_GUARDRAILS)][0]}


def ab_situation(learner: int) -> str:
    """Which of :data:`AB_SITUATIONS` the rollout lab's experiment of ``learner`` shows."""
    return AB_SITUATIONS[(learner // 27) % len(AB_SITUATIONS)]


def ab_frame(plan: dict[str, Any], n_control: int, n_treatment: int, rate_control: float,
             rate_treatment: float, guard_control: float, guard_treatment: float, *, seed: int):
    """Users of an A/B test: ``variant``, ``converted`` and the plan's guardrail column (0/1)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    variant = np.repeat(np.array(["control", "treatment"]), [n_control, n_treatment])
    treated = variant == "treatment"
    converted = rng.random(variant.size) < np.where(treated, rate_treatment, rate_control)
    guard = rng.random(variant.size) < np.where(treated, guard_treatment, guard_control)
    order = rng.permutation(variant.size)
    return pd.DataFrame({"user_id": np.arange(variant.size), "variant": variant[order],
                         "converted": converted[order].astype(np.int64),
                         plan["guardrail"]: guard[order].astype(np.int64)})


def ab_experiment(learner: int):
    """The rollout lab's A/B experiment for ``learner``, as far as it has run.

    Depending on :func:`ab_situation` the treatment converts clearly better on
    the planned number of users; or clearly better at a look taken long before
    the plan's size (a peek that looks significant); or better but with its
    guardrail significantly worse; or no better, on the planned number of users.
    """
    from mlops_kit.rollout import analyze_ab, sample_size

    plan = ab_plan(learner)
    situation = ab_situation(learner)
    needed = sample_size(plan["baseline_rate"], plan["min_effect"], plan["alpha"], plan["power"],
                         relative=True)
    base, guard = plan["baseline_rate"], 0.03
    size = int(needed * (0.35 + 0.1 * (learner % 3) / 2)) if situation == "peeked" else needed + learner % 50
    lift = {"ship": 1.3, "peeked": 2.0, "guardrail": 1.3, "no_effect": 0.0}[situation] * plan["min_effect"]
    guard_t = guard * (1.6 if situation == "guardrail" else 1.0)
    for attempt in range(200):  # the first draw whose numbers show this learner's situation
        frame = ab_frame(plan, size, size, base, base * (1 + lift), guard, guard_t,
                         seed=learner % 100_000 + 7919 * attempt)
        primary = analyze_ab(frame, alpha=plan["alpha"])
        guarded = analyze_ab(frame, metric=plan["guardrail"], alpha=plan["alpha"])
        harm = guarded.p_value < plan["alpha"] and guarded.lift_abs > 0
        wins = primary.p_value < plan["alpha"] and primary.lift_abs > 0
        if {"ship": wins and not harm, "peeked": wins and not harm, "guardrail": wins and harm,
                "no_effect": not wins and not harm}[situation]:
            return frame
    raise RuntimeError(f"no A/B experiment shows {situation!r} for learner {learner}")


def ramp_plan(learner: int) -> dict[str, Any]:
    """The rollout lab's ramp for ``learner``: steps, requests per look, guardrail and budgets."""
    return {"steps": [(5.0, 25.0, 50.0, 100.0), (10.0, 30.0, 100.0), (5.0, 20.0, 50.0, 100.0)][learner % 3],
            "min_requests": (40, 50, 60)[(learner // 3) % 3],
            "guardrail": AB_GUARDRAILS[(learner // 9) % len(AB_GUARDRAILS)][1],
            "guardrail_max": (0.04, 0.05, 0.06)[(learner // 5) % 3],
            "max_error_rate": 0.01}


def ramp_looks(learner: int) -> dict[float, list[dict[str, Any]]]:
    """What the endpoint reports at each weight of the ramp of ``learner``, look after look.

    At every weight the first look comes before the plan's minimum of requests;
    the challenger of half of the learners breaks the guardrail at one step
    (which one differs), the other half stays within every budget.
    """
    import random

    plan = ramp_plan(learner)
    rng = random.Random(learner)
    steps, budget = plan["steps"], plan["guardrail_max"]
    breach = rng.randrange(len(steps)) if learner % 2 else None
    looks: dict[float, list[dict[str, Any]]] = {}
    for i, weight in enumerate(steps):
        snapshots = []
        for requests in (plan["min_requests"] // 2, plan["min_requests"] + rng.randrange(5, 40)):
            rate = budget * (rng.uniform(1.3, 2.0) if i == breach else rng.uniform(0.3, 0.9))
            errors = 0 if rng.random() < 0.7 else 1 if requests >= 100 else 0
            snapshots.append({"requests": requests, "errors": errors,
                              "error_rate": round(errors / requests, 4),
                              "p99_ms": round(rng.uniform(40, 400), 1),
                              plan["guardrail"]: round(rate, 4)})
        looks[weight] = snapshots
    return looks

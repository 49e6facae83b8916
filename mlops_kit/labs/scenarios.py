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

"""Checker mutants of the real-time lab (03.3L): ex1-ex3.

ex1 and ex2 take responses built as ``requests`` returns them (no server), with
the functions of ``tests/test_real_time_lab.py``; ex3 serves registered models on
real endpoints (the right one, one that leaves the silent defect, one signed
with the champion's columns), made once per process.
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


@functools.lru_cache(maxsize=None)
def _model():
    import tempfile
    from pathlib import Path

    from test_real_time_lab import save_price_model

    return save_price_model(Path(tempfile.mkdtemp(prefix="real-time-model-")) / "price")


def _neighbour_seed(seed: int) -> int:
    from mlops_kit.labs.scenarios import app_defects, learner_seed

    return next(s for s in (learner_seed("real-time-lab", u) for u in ("ada", "bob", "cyd", "dan", "eve"))
                if app_defects(s) != app_defects(seed))


def _other_repair(rows, seed):
    """The silent repair that is not this learner's, applied to ``rows``."""
    from mlops_kit.labs.scenarios import app_defects

    silent = app_defects(seed)[1][1]
    out = []
    for row in rows:
        row = dict(row)
        if silent.startswith("review_scores_rating"):
            row["latitude"], row["longitude"] = row["longitude"], row["latitude"]
        elif row["review_scores_rating"] is not None:
            row["review_scores_rating"] = row["review_scores_rating"] / 20
        out.append(row)
    return out


@mutations("real-time-lab", "ex1")
def _real_time_ex1():
    from test_real_time_lab import MISSING, answered, app_case, predict, response

    from mlops_kit.labs.scenarios import accepted_app_rows, app_defects

    model_uri, features = _model()
    context, app_rows, truth, accepted = app_case(model_uri, features)
    loud = app_defects(context["seed"])[0][1].split(":")[0]
    neighbour = accepted_app_rows(features, len(app_rows), seed=_neighbour_seed(context["seed"]))
    return answered(model_uri, accepted), context, [
        Mutant("the app's rows as they are (the endpoint refused them)", LISTED,
               lambda a: response({"dataframe_records": app_rows}, MISSING, status=400)),
        Mutant("the renamed column filled with zeros", LISTED,
               lambda a: answered(model_uri, [{**row, loud: 0} for row in accepted])),
        Mutant("one request per row (the last response kept)", LISTED,
               lambda a: answered(model_uri, accepted[-1:])),
        Mutant("the predictions, not the response", LISTED, lambda a: predict(model_uri, accepted)),
        Mutant("the neighbour's rows", LISTED, lambda a: answered(model_uri, neighbour)),
        Mutant("rows in reverse order", GENERIC, lambda a: answered(model_uri, accepted[::-1])),
        Mutant("a row dropped", GENERIC, lambda a: answered(model_uri, accepted[:-1])),
        Mutant("a row twice", GENERIC, lambda a: answered(model_uri, accepted + accepted[:1])),
        Mutant("the error body", GENERIC, lambda a: MISSING),
        Mutant("the response's status", GENERIC, lambda a: 200),
    ]


@mutations("real-time-lab", "ex2")
def _real_time_ex2():
    import json

    from test_real_time_lab import MISSING, answered, app_case, predict, response

    from mlops_kit.datasets.listings import listings
    from mlops_kit.labs.scenarios import app_defects

    model_uri, features = _model()
    context, app_rows, truth, accepted = app_case(model_uri, features)
    silent = app_defects(context["seed"])[1][1]
    column = silent.split(":")[0]
    training = json.loads(listings(len(app_rows), seed=11)[features].to_json(orient="records"))

    def scaled(factor):
        return [{**row, "review_scores_rating": (None if row["review_scores_rating"] is None
                                                 else row["review_scores_rating"] * factor)}
                for row in truth]

    wrong_predictions = response({"dataframe_records": truth},
                                 {"predictions": [p + 1 for p in predict(model_uri, truth)]})
    return answered(model_uri, truth), context, [
        Mutant("the accepted rows, silent defect left", LISTED, lambda a: answered(model_uri, accepted)),
        Mutant("the neighbour's repair", LISTED,
               lambda a: answered(model_uri, _other_repair(accepted, context["seed"]))),
        Mutant("the odd column zeroed", LISTED,
               lambda a: answered(model_uri, [{**row, column: 0} for row in truth])),
        Mutant("training rows sent instead", LISTED, lambda a: answered(model_uri, training)),
        Mutant("the app's rows as they are", LISTED,
               lambda a: response({"dataframe_records": app_rows}, MISSING, status=400)),
        Mutant("a rating off by 10 %", GENERIC, lambda a: answered(model_uri, scaled(1.1))),
        Mutant("rows in reverse order", GENERIC, lambda a: answered(model_uri, truth[::-1])),
        Mutant("a row dropped", GENERIC, lambda a: answered(model_uri, truth[:-1])),
        Mutant("predictions + 1", GENERIC, lambda a: wrong_predictions),
        Mutant("the predictions, not the response", GENERIC, lambda a: predict(model_uri, truth)),
    ]


@functools.lru_cache(maxsize=None)
def _registered():
    import tempfile
    from pathlib import Path

    from test_real_time_lab import register_app_models

    return register_app_models(Path(tempfile.mkdtemp(prefix="real-time-kit-")) / "kit")


@mutations("real-time-lab", "ex3")
def _real_time_ex3():
    ws, context, uris = _registered()
    ws.activate()  # the autouse fixture cleared MLflow's settings between tests
    name = uris["right"].rsplit("/", 1)[0]
    return uris["right"], context, [
        Mutant("the silent defect left in predict", LISTED, lambda a: uris["rename-only"]),
        Mutant("signed with the champion's columns", LISTED, lambda a: uris["champion-signature"]),
        Mutant("the champion itself", LISTED, lambda a: context["model_uri"]),
        Mutant("a version that does not exist", GENERIC, lambda a: f"{name}/99"),
        Mutant("the version number", GENERIC, lambda a: int(a.rsplit("/", 1)[1])),
        Mutant("the name without a version", GENERIC, lambda a: name.replace("models:/", "")),
        Mutant("the latest version (the last one registered)", GENERIC, lambda a: f"{name}/latest"),
    ]

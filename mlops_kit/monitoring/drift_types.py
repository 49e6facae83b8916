"""The four kinds of drift, planted one at a time, and what the monitor sees of each.

:func:`drift_type_table` trains a small model on a reference month of
ice-cream sales, then builds a fresh month in five versions (nothing changed,
and one version per kind of drift) with the injectors of
:mod:`mlops_kit.datasets.drift`. For each it reports which feature tests fired,
whether the label and the prediction columns drifted, and how the model's
error moved once the labels are known:

==================  ========================================================
no drift            a fresh month from the same world
feature drift       the flavour mix changes (a feature the model ignores)
feature + prediction  temperature arrives in Fahrenheit: the model's inputs
                    and so its predictions move; the real sales do not
label drift         a promotion campaign: half the sales are on promotion,
                    so more cones are sold by the same relation; the inputs
                    the monitor tests (temperature, humidity, price, flavour)
                    keep their distribution, the label and the predictions
                    move, the error does not
concept drift       the same inputs, 40 % fewer cones on hot days
==================  ========================================================

Which test sees what: the input tests see only inputs, so they miss concept
drift (and label drift whose cause is not monitored); a label test sees any
move of the outcome's distribution, concept drift included, once labels
arrive; only the model's error tells a relation that changed (concept drift)
from one that holds (label drift).

With ``P(y | x)`` unchanged, the label can only move if some input moved:
label drift always has a cause among the inputs, monitored or not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_kit.datasets import change_category_mix, change_units, ice_cream_sales, shift_label
from mlops_kit.datasets.ice_cream import DRIFT_SCENARIOS
from mlops_kit.monitoring.monitor import Monitor
from mlops_kit.monitoring.performance import performance_drift

__all__ = ["MODEL_FEATURES", "MONITORED_FEATURES", "ACTIONS", "SCENARIO_ALIASES", "drift_scenarios",
           "drift_type_table", "scenario_name"]

#: the inputs of the lesson's model (flavour is deliberately left out)
MODEL_FEATURES = ["temperature", "humidity", "is_weekend", "promotion", "price_per_cone"]

#: the inputs the table's monitor tests (the promotion flag is left out on purpose)
MONITORED_FEATURES = {"numeric": ["temperature", "humidity", "price_per_cone"], "categorical": ["flavour"]}

LABEL_DRIFT = "label drift (promotion campaign)"
#: old scenario names that still resolve (:func:`scenario_name`)
SCENARIO_ALIASES = {"label drift (more hot days)": LABEL_DRIFT}


def scenario_name(name: str) -> str:
    """The current name of a scenario (old names of :data:`SCENARIO_ALIASES` resolve)."""
    return SCENARIO_ALIASES.get(name, name)


#: what to do about each kind of drift
ACTIONS = pd.DataFrame(
    {"how it shows": ["feature tests fire", "label tests fire once labels arrive",
                      "prediction tests fire",
                      "the error grows once labels arrive (input tests stay quiet)"],
     "first action": ["check how the feature is produced (units, joins, sensors)",
                      "find the cause: an input that moved (monitored or not) or a change in "
                      "how labels are produced and joined",
                      "check the model and the features behind the move; size the business impact",
                      "look for new features or another approach"],
     "then": ["retrain on new data if the change is real",
              "if the error holds, the model follows the change: keep it and watch the error",
              "roll back or retrain", "retrain or tune on new data"]},
    index=pd.Index(["feature", "label", "prediction", "concept"], name="drift"))


def drift_scenarios(fresh: pd.DataFrame, *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The fresh month in five versions: unchanged and one per kind of drift."""
    return {
        "no drift": fresh,
        "feature drift (flavour mix)": change_category_mix(
            fresh, "flavour", {"Chocolate": 0.5, "Mint Chip": 0.4, "Vanilla": 0.1}, seed=seed),
        "feature + prediction drift (°F bug)": change_units(fresh, "temperature", "C->F"),
        LABEL_DRIFT: DRIFT_SCENARIOS["promotion"](fresh, seed),
        "concept drift (fewer cones when hot)": shift_label(
            fresh, "cones_sold", factor=0.6, where=lambda d: d["temperature"] > d["temperature"].median()),
    }


def drift_type_table(n: int = 1000, seed: int = 0, *, tolerance: float = 0.25) -> pd.DataFrame:
    """Plant each kind of drift in fresh data and report what the monitor and the error say.

    One month of ``3 * n`` rows is split at random in three: the model is
    trained on the first third, the second (with the model's predictions) is
    the monitor's reference and gives the held-out error, the third is the
    fresh data each scenario changes.

    Returns one row per scenario: ``features drifted``, ``label drifted``,
    ``prediction drifted``, ``rmse`` and ``rmse change`` (relative to the
    model's held-out error on the reference month) and ``error drifted``
    (worse by more than ``tolerance``: counts are noisier when they are larger, so
    a little more error on busier days is not yet concept drift).
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    month = ice_cream_sales(3 * n, seed).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    train, holdout, fresh = (month.iloc[i * n:(i + 1) * n].reset_index(drop=True) for i in range(3))
    model = HistGradientBoostingRegressor(max_iter=60, random_state=seed)
    model.fit(train[MODEL_FEATURES].astype(float), train["cones_sold"])
    holdout_pred = model.predict(holdout[MODEL_FEATURES].astype(float))
    valid_rmse = float(np.sqrt(np.mean((holdout["cones_sold"] - holdout_pred) ** 2)))
    monitor = Monitor(holdout.assign(prediction=holdout_pred),
                      numeric=MONITORED_FEATURES["numeric"],
                      categorical=MONITORED_FEATURES["categorical"], label="cones_sold", prediction="prediction",
                      tests=["ks", "chi2", "js", "nulls"])
    rows = []
    for name, frame in drift_scenarios(fresh, seed=seed).items():
        pred = model.predict(frame[MODEL_FEATURES].astype(float))
        report = monitor.run(frame.assign(prediction=pred))
        hits = report.results[report.results["drifted"].astype(bool)]
        perf = performance_drift(valid_rmse, frame["cones_sold"].to_numpy(), pred, metric="rmse",
                                 tolerance=tolerance)
        rows.append({"scenario": name,
                     "features drifted": ", ".join(dict.fromkeys(hits.loc[hits["kind"] == "feature", "feature"])) or "-",
                     "label drifted": bool((hits["kind"] == "label").any()),
                     "prediction drifted": bool((hits["kind"] == "prediction").any()),
                     "rmse": round(perf.current, 2),
                     "rmse change": f"{perf.relative_change:+.0%}",
                     "error drifted": perf.drifted})
    return pd.DataFrame(rows).set_index("scenario")

"""Checks of the experiment tracking lab (``solutions/01-experimentation/03L-...``).

The lab runs a grid search over a random forest on the listings, one nested
child run per candidate under one parent run, picks the best candidate and
logs its model. Every check reads MLflow, not the notebook's variables, so an
answer only passes if the runs really are in the tracking store:

- ex1: the parent run has at least :data:`MIN_CHILDREN` children (tag
  ``mlflow.parentRunId``), each with the grid's params and the metric, and no
  two children tried the same candidate; the learner's data and seed are
  their own (:func:`learner_split`, from :func:`mlops_kit.labs.seeds.learner_seed`),
  so the best candidate and its scores differ from the demo's and from a
  neighbour's; each child's ``rmse`` is recomputed on that split (refit with
  its params) and must be the held-out RMSE, not the training RMSE, the MSE
  or another error;
- ex2: the chosen run is one of those children and has the best held-out
  metric (a pick by ``train_rmse`` gets a hint about why that misleads);
- ex3: a model logged in the parent or the best run reloads, predicts one
  value per test row, and scores what the best child logged.
"""
from __future__ import annotations

import math
from typing import Any

from mlops_kit.labs import CheckResult, checker

__all__ = ["LAB_ID", "METRIC", "TRAIN_METRIC", "PARAMS", "MIN_CHILDREN", "child_runs", "refit_rmse",
           "learner_split"]

LAB_ID = "experiment-tracking-lab"
#: the metric every child logs; lower is better
METRIC = "rmse"
#: the training-split RMSE every child logs too (the tempting wrong ranking)
TRAIN_METRIC = "train_rmse"
#: the params every child logs
PARAMS = ("n_estimators", "max_depth")
MIN_CHILDREN = 4
#: relative tolerance between the reloaded model's score and the logged metric
TOLERANCE = 1e-6


def _run(run_id: Any) -> tuple[Any, CheckResult | None]:
    """The run ``run_id``, or a failed check saying why there is none."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if not isinstance(run_id, str) or not run_id:
        return None, CheckResult.fail(
            f"expected a run id (str), got {type(run_id).__name__}",
            hint="use run.info.run_id of the run you opened with mlflow.start_run()",
        )
    try:
        return MlflowClient().get_run(run_id), None
    except MlflowException:
        return None, CheckResult.fail(
            f"there is no run with id {run_id!r} in the tracking store",
            hint="use run.info.run_id of a run you logged in this workspace",
        )


def child_runs(parent_run_id: str) -> list[Any]:
    """The runs nested under ``parent_run_id`` (tag ``mlflow.parentRunId``)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=1000,
    )


def learner_split(n_rows: int, *, user: str | None = None) -> tuple[int, tuple]:
    """The learner's seed and ``(X_train, X_test, y_train, y_test)`` of ``n_rows`` listings.

    The same recipe as the lab's setup cells: listings generated with the
    learner's seed, 20% held out with the same seed.
    """
    from sklearn.model_selection import train_test_split

    from mlops_kit.datasets import listings
    from mlops_kit.labs.seeds import learner_seed
    from mlops_kit.tracking import price_features

    seed = learner_seed(LAB_ID, user=user)
    X, y = price_features(listings(n_rows, seed=seed))
    return seed, tuple(train_test_split(X, y, test_size=0.2, random_state=seed))


def _same_split(split: tuple, own: tuple) -> bool:
    import numpy as np

    return all(len(part) == len(mine) and np.allclose(np.asarray(part, dtype=float),
                                                      np.asarray(mine, dtype=float), equal_nan=True)
               for part, mine in zip(split[2:], own[2:])) and \
        all(len(part) == len(mine) for part, mine in zip(split[:2], own[:2]))


def _name(run: Any) -> str:
    return run.data.tags.get("mlflow.runName") or run.info.run_id


def refit_rmse(params: dict, X_train: Any, y_train: Any, X_eval: Any, y_eval: Any,
               *, seed: int) -> float:
    """RMSE on ``(X_eval, y_eval)`` of a forest with ``params`` fitted on the training split."""
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(**params, random_state=seed, n_jobs=1).fit(X_train, y_train)
    errors = np.asarray(forest.predict(X_eval)) - np.asarray(y_eval, dtype=float)
    return float(np.sqrt(np.mean(errors ** 2)))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4)


def _metric_problem(child: Any, split: tuple, seed: int) -> CheckResult | None:
    """Why this child's ``rmse`` is not its held-out RMSE, or None when it is."""
    X_train, X_test, y_train, y_test = split
    params = {p: int(float(child.data.params[p])) for p in PARAMS}
    logged = child.data.metrics[METRIC]
    held_out = refit_rmse(params, X_train, y_train, X_test, y_test, seed=seed)
    if _close(logged, held_out):
        return None
    training = refit_rmse(params, X_train, y_train, X_train, y_train, seed=seed)
    if _close(logged, training):
        what = "the error on the rows the forest was fitted on"
    elif _close(logged, held_out ** 2):
        what = "a squared error, not a root"
    else:
        what = "not the RMSE of this candidate on the test split"
    return CheckResult.fail(
        f"child run {_name(child)!r} logged {METRIC} = {logged:.4g}: that is {what}",
        hint="the metric that ranks candidates must be measured on rows the forest never saw, "
             "in the unit of the price",
    )


@checker(LAB_ID, "ex1", title="A grid search as nested runs",
         hints=["one parent run holds the search; each candidate is a child run inside it, "
                "with its settings and its scores",
                "open each trial with mlflow.start_run(nested=True) inside the parent's `with` "
                "block; log the RMSE on the test split as 'rmse' and on the training split as "
                "'train_rmse'"])
def check_ex1(value: Any, *, X_train: Any = None, X_test: Any = None, y_train: Any = None,
              y_test: Any = None, seed: int | None = None, **context: Any) -> CheckResult:
    """``value``: the parent run's id; context: the split and seed to recompute each metric."""
    parent, problem = _run(value)
    if problem:
        return problem
    if "mlflow.parentRunId" in parent.data.tags:
        return CheckResult.fail(
            "this run is itself a child run; give the id of the parent that holds the search",
            hint="open the parent with mlflow.start_run() and keep its run.info.run_id",
        )
    children = child_runs(value)
    if len(children) < MIN_CHILDREN:
        return CheckResult.fail(
            f"the parent run has {len(children)} child run(s); expected at least "
            f"{MIN_CHILDREN}, one per grid candidate",
            hint="inside the parent's `with` block, open each trial with "
            "mlflow.start_run(nested=True)",
        )
    for child in children:
        missing = [p for p in PARAMS if p not in child.data.params]
        if missing:
            return CheckResult.fail(
                f"child run {_name(child)!r} did not log the param(s) {', '.join(missing)}",
                hint=f"log the candidate's settings: mlflow.log_params({{...}}) with {', '.join(PARAMS)}",
            )
        if METRIC not in child.data.metrics:
            return CheckResult.fail(
                f"child run {_name(child)!r} logged no {METRIC!r} metric",
                hint=f"mlflow.log_metric({METRIC!r}, ...) with the test RMSE of the candidate",
            )
    candidates = {tuple(child.data.params[p] for p in PARAMS) for child in children}
    if len(candidates) < MIN_CHILDREN:
        return CheckResult.fail(
            f"the {len(children)} child runs tried only {len(candidates)} different "
            f"combination(s) of {', '.join(PARAMS)}",
            hint="loop over every candidate of the grid, one child run each",
        )
    split = (X_train, X_test, y_train, y_test)
    if any(part is None for part in split) or seed is None:
        return CheckResult.fail(
            "the check needs your split and seed to recompute each candidate's score",
            hint='lab.check("ex1", parent_run_id, X_train=X_train, X_test=X_test, '
                 "y_train=y_train, y_test=y_test, seed=seed)",
        )
    own_seed, own = learner_split(len(X_train) + len(X_test))
    if seed != own_seed or not _same_split(split, own):
        what = "seed" if seed != own_seed else "split"
        return CheckResult.fail(
            f"the {what} you passed is not your own: this lab's data and seed are yours "
            f"(learner_seed), not the demo's or a neighbour's",
            hint="run the setup cells as given and search on X_train/X_test from them, "
                 "passing the seed they set",
        )
    for child in children:
        problem = _metric_problem(child, own, own_seed)
        if problem:
            return problem
    return CheckResult.ok(
        f"{len(children)} nested child runs, each with {', '.join(PARAMS)} and its held-out {METRIC}"
    )


@checker(LAB_ID, "ex2", title="Pick the best candidate",
         hints=["which of the scores you logged tells how a candidate will do on listings it "
                "has never seen?",
                "rank the children by the held-out metric; for an error, smaller is better"])
def check_ex2(value: Any, *, parent_run_id: str | None = None, **context: Any) -> CheckResult:
    """``value``: the best child's run id; ``parent_run_id``: the search's parent."""
    best, problem = _run(value)
    if problem:
        return problem
    if parent_run_id is None:
        return CheckResult.fail(
            "the check needs the search's parent run",
            hint='call lab.check("ex2", best_run_id, parent_run_id=parent_run_id)',
        )
    if best.data.tags.get("mlflow.parentRunId") != parent_run_id:
        return CheckResult.fail(
            f"run {_name(best)!r} is not a child of the search's parent run",
            hint="pick among the runs whose tag mlflow.parentRunId is the parent's id",
        )
    scored = [c for c in child_runs(parent_run_id) if METRIC in c.data.metrics]
    winner = min(scored, key=lambda run: run.data.metrics[METRIC])
    chosen = best.data.metrics.get(METRIC, math.inf)
    if chosen > winner.data.metrics[METRIC]:
        trained = [c for c in scored if TRAIN_METRIC in c.data.metrics]
        if trained and best.info.run_id == min(trained, key=lambda r: r.data.metrics[TRAIN_METRIC]).info.run_id:
            return CheckResult.fail(
                f"run {_name(best)!r} fits the training rows best, but another candidate does "
                "better on the test split",
                hint="a score on the rows a model was fitted on rewards memorising them: "
                     "rank by the score on rows it never saw",
            )
        return CheckResult.fail(
            f"run {_name(best)!r} has {METRIC} {chosen:.4g}, but {_name(winner)!r} has a "
            f"lower {METRIC} of {winner.data.metrics[METRIC]:.4g}",
            hint=f"{METRIC} is an error: check which end of your ordering is the best",
        )
    return CheckResult.ok(f"{_name(best)!r} has the lowest {METRIC} ({chosen:.4g})")


def _score(model: Any, X_test: Any, y_test: Any) -> tuple[int, float]:
    import numpy as np

    predicted = np.asarray(model.predict(X_test)).reshape(-1)
    truth = np.asarray(y_test, dtype=float).reshape(-1)
    if len(predicted) != len(truth):
        return len(predicted), math.nan
    return len(predicted), float(np.sqrt(np.mean((predicted - truth) ** 2)))


@checker(LAB_ID, "ex3", title="Log the best model and reload it",
         hints=["the model you log must be the candidate the search chose, fitted the same way",
                "refit with the best run's params (as ints), random_state=seed and n_jobs=1 on the "
                "training split, and log it while the parent run is active"])
def check_ex3(
    value: Any,
    *,
    parent_run_id: str | None = None,
    best_run_id: str | None = None,
    X_test: Any = None,
    y_test: Any = None,
    **context: Any,
) -> CheckResult:
    """``value``: the logged model's URI; context: both run ids and the test split."""
    import mlflow

    if None in (parent_run_id, best_run_id) or X_test is None or y_test is None:
        return CheckResult.fail(
            "the check needs the run ids and the test split",
            hint='lab.check("ex3", model_uri, parent_run_id=..., best_run_id=..., '
            "X_test=X_test, y_test=y_test)",
        )
    if not isinstance(value, str):
        return CheckResult.fail(
            f"expected a model URI (a string), got {type(value).__name__}",
            hint="use model_info.model_uri of mlflow.sklearn.log_model(...)",
        )
    try:
        info = mlflow.models.get_model_info(value)
        model = mlflow.pyfunc.load_model(value)
    except Exception as err:  # any failure to resolve or load is the learner's to fix
        return CheckResult.fail(
            f"the model at {value!r} could not be loaded ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160]})",
            hint="log it with mlflow.sklearn.log_model(..., skops_trusted_types="
            "trusted_types(model)) and pass model_info.model_uri",
        )
    if info.run_id not in (parent_run_id, best_run_id):
        return CheckResult.fail(
            "the model was logged in another run than the search's parent or best child",
            hint="log the model while the parent run (or the best child run) is active",
        )
    rows, rmse = _score(model, X_test, y_test)
    if rows != len(X_test):
        return CheckResult.fail(
            f"the reloaded model returned {rows} predictions for {len(X_test)} test rows",
            hint="the model should predict one price per row",
        )
    logged = _run(best_run_id)[0].data.metrics.get(METRIC)
    if logged is None or not math.isclose(rmse, logged, rel_tol=TOLERANCE):
        return CheckResult.fail(
            f"the reloaded model scores {METRIC} {rmse:.4g} on the test set, but the best "
            f"run logged {logged if logged is None else f'{logged:.4g}'}",
            hint="refit the best candidate with exactly its params (and the same seed) "
            "on the training split before logging it",
        )
    return CheckResult.ok(
        f"the model reloads, predicts {rows} prices and reproduces {METRIC} {rmse:.4g}"
    )


def param_effects(parent_run_id: str, metric: str = METRIC) -> dict[str, float]:
    """Each param's effect on ``metric``: the spread of the metric's mean per value of the param.

    Averaging over the other params' values first keeps one lucky run from
    standing in for a whole setting.
    """
    import pandas as pd

    rows = [{**run.data.params, metric: run.data.metrics[metric]}
            for run in child_runs(parent_run_id) if metric in run.data.metrics]
    frame = pd.DataFrame(rows)
    params = [c for c in frame.columns if c != metric]
    means = {p: frame.groupby(p)[metric].mean() for p in params}
    return {p: float(m.max() - m.min()) for p, m in means.items()}


@checker(LAB_ID, "ex4", title="Which setting matters?", hints=[
    "A setting matters when changing it moves the held-out error, whatever the other settings are.",
    "For each param, average the children's held-out rmse per value of that param (over the "
    "other param), and take the spread of those averages.",
])
def check_ex4(value: Any, *, effects: Any = None, parent_run_id: str | None = None,
              **context: Any) -> CheckResult:
    """``value``: the param that matters most; ``effects``: param -> spread of mean rmse."""
    if parent_run_id is None:
        return CheckResult.fail("the check needs the search's parent run",
                                hint='call lab.check as the cell shows, with parent_run_id=parent_run_id')
    try:
        given = {str(k): float(v) for k, v in dict(effects).items()}
    except (TypeError, ValueError):
        return CheckResult.fail(f"expected effects as a mapping of param -> number, got "
                                f"{type(effects).__name__}",
                                hint="a pandas Series indexed by param name, or a dict")
    truth = param_effects(parent_run_id)
    if set(given) != set(truth):
        return CheckResult.fail(f"effects covers {sorted(given)}, but the search varied "
                                f"{sorted(truth)}", hint="one effect per param of the grid")
    off = sorted(p for p in truth if not _close(given[p], truth[p]))
    if off:
        on_training = param_effects(parent_run_id, TRAIN_METRIC)
        if all(_close(given[p], on_training[p]) for p in truth):
            return CheckResult.fail("these effects were measured on the training rows",
                                    hint="the question is which setting changes the error on "
                                         "listings the forest has never seen")
        return CheckResult.fail(f"the effect of {off} does not match your runs' {METRIC}",
                                hint="average per value first, then take the spread of the "
                                     "averages (not of single runs)")
    if not isinstance(value, str) or value not in truth:
        return CheckResult.fail(f"expected the name of one param of the grid, got {value!r}",
                                hint=f"one of {sorted(truth)}")
    if truth[value] < max(truth.values()):
        return CheckResult.fail(f"{value!r} moves the held-out error less than another setting "
                                "in your search", hint="compare the effects you computed")
    return CheckResult.ok(f"{value} moves the held-out rmse by {truth[value]:.3g}, "
                          f"more than any other setting of your grid")

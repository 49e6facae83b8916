"""Checks of the experiment tracking lab (``solutions/01-experimentation/03L-...``).

The lab runs a grid search over a random forest on the listings, one nested
child run per candidate under one parent run, picks the best candidate on a
**validation** split and measures the chosen model **once** on a test split
that played no part in the choice. Every check reads MLflow, not the
notebook's variables, so an answer only passes if the runs really are in the
tracking store. The learner's data and seed are their own
(:func:`learner_split`, from :func:`mlops_kit.labs.seeds.learner_seed`): a
training, a validation and a test split, so the best candidate and its
scores differ from the demo's and from a neighbour's.

- ex1: the parent run has one child per candidate of :data:`GRID` (a search
  that leaves candidates out, e.g. the deepest forests, is refused), each
  with the params and ``val_rmse``, recomputed on the learner's split (refit
  on the training split): it must be the RMSE on the validation split, not
  on the training rows, not a squared error, and not the test split's (no
  child may log a test-split error at all: the test rows judge the chosen
  model only);
- ex2: the chosen run is one of those children with the lowest
  ``val_rmse`` (a pick by ``train_rmse`` or by the test error gets a hint
  about why that misleads);
- ex3: a model logged in the parent or the best run reloads, predicts one
  value per test row, is the chosen candidate (refit on the training split,
  or on training + validation), and its test RMSE is what the parent run
  logged as ``test_rmse``, logged once.
"""
from __future__ import annotations

import math
from typing import Any

from mlops_kit.labs import CheckResult, checker

__all__ = ["LAB_ID", "METRIC", "TRAIN_METRIC", "TEST_METRIC", "PARAMS", "GRID", "child_runs",
           "refit_rmse", "learner_split", "param_effects"]

LAB_ID = "experiment-tracking-lab"
#: the metric every child logs and the search ranks by: RMSE on the validation split
METRIC = "val_rmse"
#: the training-split RMSE every child logs too (the tempting wrong ranking)
TRAIN_METRIC = "train_rmse"
#: the chosen model's RMSE on the test split, logged once in the parent run
TEST_METRIC = "test_rmse"
#: the params every child logs
PARAMS = ("n_estimators", "max_depth")
#: the candidates of the lab's search: every one must be tried
GRID: list[dict[str, int]] = [{"n_estimators": n, "max_depth": d}
                              for n in (20, 50) for d in (4, 8, 16)]
#: the share of rows held out as the test split, then the share of the rest held out for validation
TEST_SIZE, VALIDATION_SIZE = 0.2, 0.25
#: relative tolerance between the reloaded model's score and the logged metric
TOLERANCE = 1e-6
_SPLIT = ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test")


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


def split_rows(X: Any, y: Any, seed: int) -> tuple:
    """``(X_train, X_val, X_test, y_train, y_val, y_test)``: the lab's three splits of ``X``/``y``.

    A fifth of the rows is the test split; a quarter of the rest (another
    fifth of all rows) is the validation split; all seeded by ``seed``.
    """
    from sklearn.model_selection import train_test_split

    X_dev, X_test, y_dev, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_dev, y_dev, test_size=VALIDATION_SIZE,
                                                      random_state=seed)
    return X_train, X_val, X_test, y_train, y_val, y_test


def learner_split(n_rows: int, *, user: str | None = None) -> tuple[int, tuple]:
    """The learner's seed and :func:`split_rows` of ``n_rows`` listings generated with it.

    The same recipe as the lab's setup cells.
    """
    from mlops_kit.datasets import listings
    from mlops_kit.labs.seeds import learner_seed
    from mlops_kit.tracking import price_features

    seed = learner_seed(LAB_ID, user=user)
    X, y = price_features(listings(n_rows, seed=seed))
    return seed, split_rows(X, y, seed)


def _same_split(split: tuple, own: tuple) -> bool:
    import numpy as np

    xs, ys = split[:3], split[3:]
    return all(len(part) == len(mine) for part, mine in zip(xs, own[:3])) and \
        all(len(part) == len(mine) and np.allclose(np.asarray(part, dtype=float),
                                                   np.asarray(mine, dtype=float), equal_nan=True)
            for part, mine in zip(ys, own[3:]))


def _name(run: Any) -> str:
    return run.data.tags.get("mlflow.runName") or run.info.run_id


def _fit(params: dict, X_train: Any, y_train: Any, *, seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**params, random_state=seed, n_jobs=1).fit(X_train, y_train)


def _rmse(model: Any, X_eval: Any, y_eval: Any) -> float:
    import numpy as np

    errors = np.asarray(model.predict(X_eval)).reshape(-1) - np.asarray(y_eval, dtype=float)
    return float(np.sqrt(np.mean(errors ** 2)))


def refit_rmse(params: dict, X_train: Any, y_train: Any, X_eval: Any, y_eval: Any,
               *, seed: int) -> float:
    """RMSE on ``(X_eval, y_eval)`` of a forest with ``params`` fitted on the training split."""
    return _rmse(_fit(params, X_train, y_train, seed=seed), X_eval, y_eval)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4)


def _params(run: Any) -> dict[str, int]:
    return {p: int(float(run.data.params[p])) for p in PARAMS}


def _data(context: dict) -> tuple[tuple | None, int | None, CheckResult | None]:
    """The learner's own split and seed, from the check's context, or why not."""
    split = tuple(context.get(name) for name in _SPLIT)
    seed = context.get("seed")
    if any(part is None for part in split) or seed is None:
        return None, None, CheckResult.fail(
            "the check needs your splits and seed to recompute the scores",
            hint="pass them as the cell shows: lab.check(..., **data)",
        )
    own_seed, own = learner_split(sum(len(part) for part in split[:3]))
    if seed != own_seed or not _same_split(split, own):
        what = "seed" if seed != own_seed else "split"
        return None, None, CheckResult.fail(
            f"the {what} you passed is not your own: this lab's data and seed are yours "
            f"(learner_seed), not the demo's or a neighbour's",
            hint="run the setup cells as given and search on the splits they make, "
                 "passing the `data` they build",
        )
    return own, own_seed, None


def _scores(params: dict, split: tuple, seed: int) -> dict[str, float]:
    X_train, X_val, X_test, y_train, y_val, y_test = split
    model = _fit(params, X_train, y_train, seed=seed)
    return {"train": _rmse(model, X_train, y_train), "val": _rmse(model, X_val, y_val),
            "test": _rmse(model, X_test, y_test)}


def _metric_problem(child: Any, split: tuple, seed: int) -> CheckResult | None:
    """Why this child's metrics are not what the search needs, or None when they are."""
    scores = _scores(_params(child), split, seed)
    for key, value in sorted(child.data.metrics.items()):
        if _close(value, scores["test"]) or _close(value, scores["test"] ** 2):
            return CheckResult.fail(
                f"child run {_name(child)!r} logged {key} = {value:.4g}: that is its error on "
                "the test split, which then no longer measures unseen data once it helped "
                "choose",
                hint="keep the test split out of the search: compare candidates on the "
                     "validation split, and measure only the chosen model on the test split",
            )
    logged = child.data.metrics[METRIC]
    if _close(logged, scores["val"]):
        return None
    if _close(logged, scores["train"]):
        what = "the error on the rows the forest was fitted on"
    elif _close(logged, scores["val"] ** 2):
        what = "a squared error, not a root"
    else:
        what = "not the RMSE of this candidate on the validation split"
    return CheckResult.fail(
        f"child run {_name(child)!r} logged {METRIC} = {logged:.4g}: that is {what}",
        hint="the metric that ranks candidates must be measured on rows the forest was not "
             "fitted on, in the unit of the price",
    )


def _key(candidate: dict) -> tuple[int, ...]:
    return tuple(int(float(candidate[p])) for p in PARAMS)


@checker(LAB_ID, "ex1", title="A grid search as nested runs",
         hints=["one parent run holds the search; each candidate of the grid is a child run "
                "inside it, with its settings and its scores",
                "open each trial with mlflow.start_run(nested=True) inside the parent's `with` "
                "block; fit on the training split and log the RMSE on the validation split as "
                "'val_rmse' and on the training split as 'train_rmse'"])
def check_ex1(value: Any, **context: Any) -> CheckResult:
    """``value``: the parent run's id; context: the splits and seed to recompute each metric."""
    parent, problem = _run(value)
    if problem:
        return problem
    if "mlflow.parentRunId" in parent.data.tags:
        return CheckResult.fail(
            "this run is itself a child run; give the id of the parent that holds the search",
            hint="open the parent with mlflow.start_run() and keep its run.info.run_id",
        )
    children = child_runs(value)
    if not children:
        return CheckResult.fail(
            f"the parent run has 0 child run(s); expected one per candidate of the grid "
            f"({len(GRID)})",
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
                hint=f"mlflow.log_metric({METRIC!r}, ...) with the candidate's RMSE on the "
                     "validation split",
            )
    tried = {_key(child.data.params) for child in children}
    left_out = [c for c in GRID if _key(c) not in tried]
    if left_out:
        shown = ", ".join(" ".join(f"{p}={c[p]}" for p in PARAMS) for c in left_out)
        return CheckResult.fail(
            f"the search tried {len(GRID) - len(left_out)} of the grid's {len(GRID)} "
            f"candidates; it left out {shown}",
            hint="a search can only pick among the candidates it tried: loop over every "
                 "candidate of `grid`, one child run each",
        )
    if len(children) > len(tried):
        return CheckResult.fail(
            f"the {len(children)} child runs tried only {len(tried)} different "
            f"combination(s) of {', '.join(PARAMS)}",
            hint="one child run per candidate: rerun the search in a new parent run",
        )
    split, seed, problem = _data(context)
    if problem:
        return problem
    for child in children:
        problem = _metric_problem(child, split, seed)
        if problem:
            return problem
    return CheckResult.ok(
        f"{len(children)} nested child runs, one per candidate, each with {', '.join(PARAMS)} "
        f"and its {METRIC}"
    )


@checker(LAB_ID, "ex2", title="Pick the best candidate",
         hints=["which of the scores you logged tells how a candidate does on listings it was "
                "not fitted on, without using the rows kept for the final verdict?",
                "rank the children by the validation metric; for an error, smaller is better"])
def check_ex2(value: Any, *, parent_run_id: str | None = None, **context: Any) -> CheckResult:
    """``value``: the best child's run id; ``parent_run_id``: the search's parent."""
    best, problem = _run(value)
    if problem:
        return problem
    if parent_run_id is None:
        return CheckResult.fail(
            "the check needs the search's parent run",
            hint='call lab.check("ex2", best_run_id, parent_run_id=parent_run_id, **data)',
        )
    if best.data.tags.get("mlflow.parentRunId") != parent_run_id:
        return CheckResult.fail(
            f"run {_name(best)!r} is not a child of the search's parent run",
            hint="pick among the runs whose tag mlflow.parentRunId is the parent's id",
        )
    scored = [c for c in child_runs(parent_run_id) if METRIC in c.data.metrics]
    winner = min(scored, key=lambda run: run.data.metrics[METRIC])
    chosen = best.data.metrics.get(METRIC, math.inf)
    if chosen <= winner.data.metrics[METRIC]:
        return CheckResult.ok(f"{_name(best)!r} has the lowest {METRIC} ({chosen:.4g})")
    trained = [c for c in scored if TRAIN_METRIC in c.data.metrics]
    if trained and best.info.run_id == min(trained, key=lambda r: r.data.metrics[TRAIN_METRIC]).info.run_id:
        return CheckResult.fail(
            f"run {_name(best)!r} fits the training rows best, but another candidate does "
            "better on the validation split",
            hint="a score on the rows a model was fitted on rewards memorising them: "
                 "rank by the score on rows it was not fitted on",
        )
    split, seed, _ = _data(context)
    if split is not None:
        on_test = min(scored, key=lambda run: _scores(_params(run), split, seed)["test"])
        if on_test.info.run_id == best.info.run_id:
            return CheckResult.fail(
                f"run {_name(best)!r} scores best on the test split, but another candidate has "
                f"a lower {METRIC}: choosing by the test split spends it",
                hint="choose on the validation split; the test split only measures the "
                     "chosen model, afterwards",
            )
    return CheckResult.fail(
        f"run {_name(best)!r} has {METRIC} {chosen:.4g}, but {_name(winner)!r} has a "
        f"lower {METRIC} of {winner.data.metrics[METRIC]:.4g}",
        hint=f"{METRIC} is an error: check which end of your ordering is the best",
    )


def _test_metric_problem(parent_run_id: str, rmse: float) -> CheckResult | None:
    """Why the parent's logged test error is not the chosen model's, measured once."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient().get_metric_history(parent_run_id, TEST_METRIC)
    if not history:
        return CheckResult.fail(
            f"the parent run logged no {TEST_METRIC!r}",
            hint="measure the chosen model on the test split and log it in the parent run",
        )
    if len(history) > 1:
        return CheckResult.fail(
            f"the parent run logged {TEST_METRIC} {len(history)} times: the test split "
            "measured several models, so the smallest of them is no longer an unbiased estimate",
            hint="measure only the chosen model on the test split, once",
        )
    logged = history[0].value
    if not math.isclose(rmse, logged, rel_tol=TOLERANCE):
        return CheckResult.fail(
            f"the reloaded model scores RMSE {rmse:.4g} on the test split, but the parent run "
            f"logged {TEST_METRIC} {logged:.4g}",
            hint="log the test RMSE of the model you log, computed on the test split",
        )
    return None


@checker(LAB_ID, "ex3", title="Test the chosen model once, log it and reload it",
         hints=["the model you log must be the candidate the search chose, fitted the same way, "
                "and its test error is measured after the choice, on rows the search never used",
                "refit with the best run's params (as ints), random_state=seed and n_jobs=1 on the "
                "training split; in the parent run, log its test RMSE as 'test_rmse' and the model"])
def check_ex3(value: Any, *, parent_run_id: str | None = None, best_run_id: str | None = None,
              **context: Any) -> CheckResult:
    """``value``: the logged model's URI; context: both run ids, the splits and the seed."""
    import mlflow
    import pandas as pd

    if None in (parent_run_id, best_run_id):
        return CheckResult.fail(
            "the check needs the run ids",
            hint='lab.check("ex3", model_uri, parent_run_id=..., best_run_id=..., **data)',
        )
    split, seed, problem = _data(context)
    if problem:
        return problem
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
    X_train, X_val, X_test, y_train, y_val, y_test = split
    predicted = len(model.predict(X_test))
    if predicted != len(X_test):
        return CheckResult.fail(
            f"the reloaded model returned {predicted} predictions for {len(X_test)} test rows",
            hint="the model should predict one price per row",
        )
    rmse = _rmse(model, X_test, y_test)
    params = _params(_run(best_run_id)[0])
    refits = (_fit(params, X_train, y_train, seed=seed),
              _fit(params, pd.concat([X_train, X_val]), pd.concat([y_train, y_val]), seed=seed))
    if not any(math.isclose(rmse, _rmse(m, X_test, y_test), rel_tol=TOLERANCE) for m in refits):
        return CheckResult.fail(
            f"the reloaded model is not the chosen candidate ({', '.join(f'{k}={v}' for k, v in params.items())}) "
            "fitted on your training split",
            hint="refit the best candidate with exactly its params (and the same seed) "
                 "on the training split before logging it",
        )
    problem = _test_metric_problem(parent_run_id, rmse)
    if problem:
        return problem
    return CheckResult.ok(
        f"the chosen model reloads, predicts {predicted} prices, and its test RMSE "
        f"({rmse:.4g}) was measured once, after the choice"
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
    "A setting matters when changing it moves the validation error, whatever the other settings are.",
    "For each param, average the children's val_rmse per value of that param (over the "
    "other param), and take the spread of those averages.",
])
def check_ex4(value: Any, *, effects: Any = None, parent_run_id: str | None = None,
              **context: Any) -> CheckResult:
    """``value``: the param that matters most; ``effects``: param -> spread of mean val_rmse."""
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
                                         "listings the forest was not fitted on")
        return CheckResult.fail(f"the effect of {off} does not match your runs' {METRIC}",
                                hint="average per value first, then take the spread of the "
                                     "averages (not of single runs)")
    if not isinstance(value, str) or value not in truth:
        return CheckResult.fail(f"expected the name of one param of the grid, got {value!r}",
                                hint=f"one of {sorted(truth)}")
    if truth[value] < max(truth.values()):
        return CheckResult.fail(f"{value!r} moves the validation error less than another setting "
                                "in your search", hint="compare the effects you computed")
    return CheckResult.ok(f"{value} moves the {METRIC} by {truth[value]:.3g}, "
                          f"more than any other setting of your grid")

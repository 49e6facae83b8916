"""Checkers of the experiment tracking lab, against real MLflow runs: right and wrong answers.

The search is judged on the learner's own splits: candidates compared on the
validation split, every candidate of the grid tried, and the test split used
once, for the chosen model only.
"""
from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import root_mean_squared_error

from mlops_kit._price_model import pip_requirements
from mlops_kit.datasets import listings
from mlops_kit.labs.checks.experiment_tracking_lab import (
    GRID, LAB_ID, check_ex1, check_ex2, check_ex3, check_ex4, learner_split, split_rows,
)
from mlops_kit.labs.seeds import learner_seed
from mlops_kit.models import trusted_types
from mlops_kit.tracking import price_features

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('experiment-tracking-lab', 'ex1'), ('experiment-tracking-lab', 'ex2'),
                    ('experiment-tracking-lab', 'ex3'), ('experiment-tracking-lab', 'ex4')]

#: the seed of the test workspace's learner (user 'tester'), as the lab's setup cell computes it
SEED = learner_seed(LAB_ID, user="tester")
N_ROWS = 300


@pytest.fixture(scope="module")
def split():
    return learner_split(N_ROWS, user="tester")[1]


def _data(split, seed=SEED) -> dict:
    names = ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test")
    return {**dict(zip(names, split)), "seed": seed}


def _fit(split, params, *, with_val=False):
    X_train, X_val, _, y_train, y_val, _ = split
    if with_val:
        X_train, y_train = pd.concat([X_train, X_val]), pd.concat([y_train, y_val])
    return RandomForestRegressor(**params, random_state=SEED, n_jobs=1).fit(X_train, y_train)


#: what a child logs as "val_rmse": the right metric and plausible wrong ones
def _metric(split, model, metric: str) -> float:
    X_train, X_val, X_test, y_train, y_val, y_test = split
    return {
        "val_rmse": lambda: root_mean_squared_error(y_val, model.predict(X_val)),
        "train_rmse": lambda: root_mean_squared_error(y_train, model.predict(X_train)),
        "test_rmse": lambda: root_mean_squared_error(y_test, model.predict(X_test)),
        "mse": lambda: root_mean_squared_error(y_val, model.predict(X_val)) ** 2,
        "mae": lambda: float(abs(y_val - model.predict(X_val)).mean()),
    }[metric]()


def _search(split, *, nested=True, grid=GRID, log_metric=True, metric="val_rmse",
            also_test=False) -> str:
    """Log a grid search (children nested under the parent, or not); return the parent's id."""
    def trial(candidate, nested):
        with mlflow.start_run(nested=nested):
            mlflow.log_params(candidate)
            if log_metric:
                model = _fit(split, candidate)
                mlflow.log_metric("val_rmse", _metric(split, model, metric))
                mlflow.log_metric("train_rmse", _metric(split, model, "train_rmse"))
                if also_test:
                    mlflow.log_metric("test_rmse", _metric(split, model, "test_rmse"))

    with mlflow.start_run(run_name="grid-search") as parent:
        for candidate in grid if nested else []:
            trial(candidate, True)
    for candidate in [] if nested else grid:  # the wrong way: top-level runs
        trial(candidate, False)
    return parent.info.run_id


def _ranked(parent_run_id: str, metric: str = "val_rmse") -> list[str]:
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              order_by=[f"metrics.{metric} ASC"], search_all_experiments=True)
    return list(runs["run_id"])


def _params(run_id: str) -> dict:
    return {k: int(v) for k, v in mlflow.get_run(run_id).data.params.items()}


def _log_model(split, run_id: str, params, *, test_rmse=True, with_val=False) -> str:
    model = _fit(split, params, with_val=with_val)
    with mlflow.start_run(run_id=run_id):
        if test_rmse:
            mlflow.log_metric("test_rmse", _metric(split, model, "test_rmse"))
        info = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=trusted_types(model),
                                        pip_requirements=pip_requirements())
    return info.model_uri


def _by_test(parent: str, split) -> str:
    """The child that scores best on the test split (the pick the lab must not make)."""
    return min(_ranked(parent), key=lambda r: _metric(split, _fit(split, _params(r)), "test_rmse"))


def test_a_correct_answer_passes_every_check(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    best, *_ = _ranked(parent)
    result = check_ex1(parent, **_data(split))
    assert result.passed, result.message
    assert check_ex2(best, parent_run_id=parent, **_data(split)).passed
    result = check_ex3(_log_model(split, parent, _params(best)), parent_run_id=parent,
                       best_run_id=best, **_data(split))
    assert result.passed, result.message


def test_ex3_accepts_the_chosen_model_refit_on_training_and_validation(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    best = _ranked(parent)[0]
    uri = _log_model(split, parent, _params(best), with_val=True)
    assert check_ex3(uri, parent_run_id=parent, best_run_id=best, **_data(split)).passed


def test_the_three_splits_are_disjoint_and_seeded():
    X, y = price_features(listings(100, seed=SEED))
    parts = split_rows(X, y, SEED)
    indexes = [set(p.index) for p in parts[:3]]
    assert sum(map(len, indexes)) == 100 and not (indexes[0] & indexes[1] or indexes[1] & indexes[2])
    assert [len(p) for p in parts[:3]] == [60, 20, 20]
    assert all(a.equals(b) for a, b in zip(parts, split_rows(X, y, SEED)))


@pytest.mark.parametrize("metric, says", [
    ("train_rmse", "fitted on"),
    ("mse", "squared error"),
    ("mae", "not the RMSE of this candidate on the validation split"),
    ("test_rmse", "its error on the test split"),
])
def test_ex1_rejects_a_metric_that_is_not_the_validation_rmse(workspace, split, metric, says):
    """Training RMSE, MSE, MAE or the test RMSE logged as 'val_rmse' fail at ex1."""
    workspace.set_experiment("lab")
    result = check_ex1(_search(split, metric=metric), **_data(split))
    assert not result.passed and says in result.message, result.message
    assert "root_mean_squared_error" not in result.hint


def test_ex1_rejects_children_that_also_log_their_test_error(workspace, split):
    """Ranking the grid by the test split starts with logging it per candidate: refused."""
    workspace.set_experiment("lab")
    result = check_ex1(_search(split, also_test=True), **_data(split))
    assert not result.passed and "logged test_rmse" in result.message
    assert "validation split" in result.hint


def test_ex1_rejects_a_grid_without_the_deepest_candidates(workspace, split):
    """Leaving out max_depth=16 (4 of 6 candidates tried) would pick a worse model: refused."""
    workspace.set_experiment("lab")
    deepest = max(c["max_depth"] for c in GRID)
    shallow = [c for c in GRID if c["max_depth"] != deepest]
    assert len(shallow) == 4
    result = check_ex1(_search(split, grid=shallow), **_data(split))
    assert not result.passed and "tried 4 of the grid's 6 candidates" in result.message
    assert f"max_depth={deepest}" in result.message


def test_ex1_needs_the_split_to_recompute(workspace, split):
    workspace.set_experiment("lab")
    result = check_ex1(_search(split))
    assert not result.passed and "needs your splits" in result.message


def test_ex1_rejects_a_search_on_the_demos_data_or_with_another_seed(workspace, split):
    """The demo's seed (42) gives other listings and another best candidate: not this learner's."""
    workspace.set_experiment("lab")
    X, y = price_features(listings(N_ROWS, seed=42))
    demo = split_rows(X, y, 42)
    result = check_ex1(_search(demo), **_data(demo, seed=42))
    assert not result.passed and "the seed you passed is not your own" in result.message
    result = check_ex1(_search(demo), **_data(demo))  # the learner's seed, the demo's rows
    assert not result.passed and "the split you passed is not your own" in result.message
    shuffled = split_rows(*price_features(listings(N_ROWS, seed=SEED)), 1)
    result = check_ex1(_search(split), **_data(shuffled))  # own rows, another split
    assert not result.passed and "the split you passed" in result.message
    assert "42" not in result.hint


def test_the_learners_seed_gives_each_learner_other_data():
    seeds = {learner_split(50, user=user)[0] for user in ("ada", "bob", "tester")}
    assert len(seeds) == 3 and SEED in seeds


def test_ex1_rejects_runs_that_are_not_nested(workspace, split):
    workspace.set_experiment("lab")
    result = check_ex1(_search(split, nested=False))
    assert not result.passed
    assert "0 child run(s)" in result.message and "nested=True" in result.hint


def test_ex1_rejects_children_without_the_metric_or_with_repeats(workspace, split):
    workspace.set_experiment("lab")
    no_metric = check_ex1(_search(split, log_metric=False))
    assert not no_metric.passed and "logged no 'val_rmse' metric" in no_metric.message
    repeated = check_ex1(_search(split, grid=GRID + [GRID[0]]), **_data(split))
    assert not repeated.passed and "tried only 6 different combination" in repeated.message


def test_ex1_rejects_a_child_id_and_unknown_ids(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    assert "itself a child run" in check_ex1(_ranked(parent)[0]).message
    assert "no run with id" in check_ex1("0" * 32).message
    assert "expected a run id (str), got int" in check_ex1(42).message
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert "expected a run id (str), got Series" in check_ex2(runs.loc[0], parent_run_id=parent).message


def test_ex2_rejects_the_worst_candidate_and_runs_outside_the_search(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    ranked = _ranked(parent)
    by_train = _ranked(parent, "train_rmse")[0]
    plain = [r for r in ranked[1:] if r not in (by_train, _by_test(parent, split))][-1]
    worst = check_ex2(plain, parent_run_id=parent, **_data(split))
    assert not worst.passed and "lower val_rmse" in worst.message
    assert "lower val_rmse" not in worst.hint and ranked[0] not in worst.hint
    assert by_train != ranked[0], "the test grid must overfit: train and validation rank differently"
    overfit = check_ex2(by_train, parent_run_id=parent, **_data(split))
    assert not overfit.passed and "fits the training rows best" in overfit.message
    assert "rmse" not in overfit.hint
    outsider = check_ex2(parent, parent_run_id=parent)
    assert not outsider.passed and "not a child" in outsider.message
    assert "needs the search's parent" in check_ex2(ranked[0]).message


def test_ex2_rejects_a_pick_by_the_test_split(workspace, split):
    """Selecting the candidate that scores best on the test split is not selecting on validation."""
    workspace.set_experiment("lab")
    parent = _search(split)
    on_test = _by_test(parent, split)
    assert on_test != _ranked(parent)[0], "the learner's data must rank validation and test differently"
    result = check_ex2(on_test, parent_run_id=parent, **_data(split))
    assert not result.passed and "scores best on the test split" in result.message
    assert "validation split" in result.hint


def test_ex3_rejects_a_model_that_is_not_the_chosen_one_or_a_test_error_not_its_own(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    ranked = _ranked(parent)
    context = {"parent_run_id": parent, "best_run_id": ranked[0], **_data(split)}
    wrong = check_ex3(_log_model(split, parent, _params(ranked[-1])), **context)
    assert not wrong.passed and "not the chosen candidate" in wrong.message

    with mlflow.start_run() as elsewhere:
        pass
    misplaced = check_ex3(_log_model(split, elsewhere.info.run_id, _params(ranked[0])), **context)
    assert not misplaced.passed and "another run" in misplaced.message
    missing = check_ex3(f"runs:/{parent}/no-such-model", **context)
    assert not missing.passed and "could not be loaded" in missing.message

    untested = _search(split)
    best = _ranked(untested)[0]
    result = check_ex3(_log_model(split, untested, _params(best), test_rmse=False),
                       parent_run_id=untested, best_run_id=best, **_data(split))
    assert not result.passed and "logged no 'test_rmse'" in result.message


def test_ex3_rejects_a_test_error_measured_for_many_models(workspace, split):
    """Testing every candidate and reporting the best test score is selection on the test split."""
    workspace.set_experiment("lab")
    parent = _search(split)
    best = _ranked(parent)[0]
    with mlflow.start_run(run_id=parent):
        for run_id in _ranked(parent)[1:]:
            mlflow.log_metric("test_rmse", _metric(split, _fit(split, _params(run_id)), "test_rmse"))
    result = check_ex3(_log_model(split, parent, _params(best)), parent_run_id=parent,
                       best_run_id=best, **_data(split))
    assert not result.passed and "logged test_rmse 6 times" in result.message

    other = _search(split)
    best = _ranked(other)[0]
    uri = _log_model(split, other, _params(best), test_rmse=False)
    with mlflow.start_run(run_id=other):  # the validation error reported as the test error
        mlflow.log_metric("test_rmse", mlflow.get_run(best).data.metrics["val_rmse"])
    result = check_ex3(uri, parent_run_id=other, best_run_id=best, **_data(split))
    assert not result.passed and "but the parent run logged test_rmse" in result.message


def _effects(parent: str, metric: str = "val_rmse", *, of_means: bool = True) -> dict:
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent}'",
                              search_all_experiments=True)
    out = {}
    for param in ("n_estimators", "max_depth"):
        values = runs.groupby(f"params.{param}")[f"metrics.{metric}"]
        values = values.mean() if of_means else values.agg(lambda v: v.max() - v.min())
        out[param] = float(values.max() - values.min())
    return out


def test_ex4_names_the_setting_that_moves_the_validation_error(workspace, split):
    workspace.set_experiment("lab_ex4")
    parent = _search(split)
    effects = _effects(parent)
    best = max(effects, key=effects.get)
    other = min(effects, key=effects.get)
    assert effects[best] > effects[other]
    result = check_ex4(best, effects=effects, parent_run_id=parent)
    assert result.passed, result.message

    wrong = [
        (other, effects, "moves the validation error less"),
        (best, _effects(parent, "train_rmse"), "training rows"),
        (best, _effects(parent, of_means=False), "average per value first"),
        (best, {best: effects[best]}, "the search varied"),
        ("random_state", effects, "one param of the grid"),
        (best, None, "mapping of param -> number"),
    ]
    for answer, given, says in wrong:
        outcome = check_ex4(answer, effects=given, parent_run_id=parent)
        assert not outcome.passed and says in outcome.message + (outcome.hint or ""), (says, outcome)
        assert f"{effects[best]:.3g}" not in outcome.message  # the answer is never printed

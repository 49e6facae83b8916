"""Checkers of the experiment tracking lab, against real MLflow runs: right and wrong answers."""
from __future__ import annotations

import mlflow
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split

from mlops_kit._price_model import pip_requirements
from mlops_kit.datasets import listings
from mlops_kit.labs.checks.experiment_tracking_lab import LAB_ID, check_ex1, check_ex2, check_ex3, check_ex4
from mlops_kit.labs.seeds import learner_seed
from mlops_kit.models import trusted_types
from mlops_kit.tracking import price_features

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('experiment-tracking-lab', 'ex1'), ('experiment-tracking-lab', 'ex2'), ('experiment-tracking-lab', 'ex3'),
                    ('experiment-tracking-lab', 'ex4')]


GRID = [{"n_estimators": n, "max_depth": d} for n in (3, 6) for d in (4, 30)]
#: the seed of the test workspace's learner (user 'tester'), as the lab's setup cell computes it
SEED = learner_seed(LAB_ID, user="tester")


@pytest.fixture(scope="module")
def split():
    X, y = price_features(listings(300, seed=SEED))
    return train_test_split(X, y, test_size=0.2, random_state=SEED)


def _fit(split, params):
    X_train, X_test, y_train, y_test = split
    model = RandomForestRegressor(**params, random_state=SEED, n_jobs=1).fit(X_train, y_train)
    return model, root_mean_squared_error(y_test, model.predict(X_test))


#: what a child logs as "rmse": the right metric and plausible wrong ones
METRICS = {
    "test_rmse": lambda y, p: root_mean_squared_error(y, p),
    "mse": lambda y, p: root_mean_squared_error(y, p) ** 2,
    "mae": lambda y, p: float(abs(y - p).mean()),
}


def _trial(split, candidate, *, nested: bool, log_metric: bool, metric: str = "test_rmse") -> None:
    X_train, X_test, y_train, y_test = split
    with mlflow.start_run(nested=nested):
        mlflow.log_params(candidate)
        if log_metric:
            model, _ = _fit(split, candidate)
            if metric == "train_rmse":
                rmse = root_mean_squared_error(y_train, model.predict(X_train))
            else:
                rmse = METRICS[metric](y_test, model.predict(X_test))
            mlflow.log_metric("rmse", rmse)
            mlflow.log_metric("train_rmse", root_mean_squared_error(y_train, model.predict(X_train)))


def _search(split, *, nested=True, grid=GRID, log_metric=True, metric="test_rmse") -> str:
    """Log a grid search (children nested under the parent, or not); return the parent's id."""
    with mlflow.start_run(run_name="grid-search") as parent:
        for candidate in grid if nested else []:
            _trial(split, candidate, nested=True, log_metric=log_metric, metric=metric)
    for candidate in [] if nested else grid:  # the wrong way: top-level runs
        _trial(split, candidate, nested=False, log_metric=log_metric)
    return parent.info.run_id


def _data(split) -> dict:
    X_train, X_test, y_train, y_test = split
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test, "seed": SEED}


def _ranked(parent_run_id: str) -> list[str]:
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              order_by=["metrics.rmse ASC"], search_all_experiments=True)
    return list(runs["run_id"])


def _log_model(split, run_id: str, params) -> str:
    model, _ = _fit(split, params)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=trusted_types(model),
                                        pip_requirements=pip_requirements())
    return info.model_uri


def _params(run_id: str) -> dict:
    return {k: int(v) for k, v in mlflow.get_run(run_id).data.params.items()}


def test_a_correct_answer_passes_every_check(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    best, *_ = _ranked(parent)
    model_uri = _log_model(split, parent, _params(best))
    context = {"parent_run_id": parent, "best_run_id": best, "X_test": split[1], "y_test": split[3]}

    assert check_ex1(parent, **_data(split)).passed, check_ex1(parent, **_data(split)).message
    assert check_ex2(best, parent_run_id=parent).passed
    result = check_ex3(model_uri, **context)
    assert result.passed, result.message


@pytest.mark.parametrize("metric, says", [
    ("train_rmse", "fitted on"),
    ("mse", "squared error"),
    ("mae", "not the RMSE of this candidate"),
])
def test_ex1_rejects_a_metric_that_is_not_the_held_out_rmse(workspace, split, metric, says):
    """Training RMSE, MSE or MAE logged as 'rmse' fail at ex1, not later at ex3."""
    workspace.set_experiment("lab")
    result = check_ex1(_search(split, metric=metric), **_data(split))
    assert not result.passed and says in result.message
    assert "test split" not in result.hint and "root_mean_squared_error" not in result.hint


def test_ex1_needs_the_split_to_recompute(workspace, split):
    workspace.set_experiment("lab")
    result = check_ex1(_search(split))
    assert not result.passed and "needs your split" in result.message


def test_ex1_rejects_a_search_on_the_demos_data_or_with_another_seed(workspace, split):
    """The demo's seed (42) gives other listings and another best candidate: not this learner's."""
    workspace.set_experiment("lab")
    X, y = price_features(listings(300, seed=42))
    demo = train_test_split(X, y, test_size=0.2, random_state=42)
    result = check_ex1(_search(demo), **{**_data(demo), "seed": 42})
    assert not result.passed and "the seed you passed is not your own" in result.message
    result = check_ex1(_search(demo), **_data(demo))  # the learner's seed, the demo's rows
    assert not result.passed and "the split you passed is not your own" in result.message
    shuffled = train_test_split(*price_features(listings(300, seed=SEED)), test_size=0.2,
                                random_state=1)
    result = check_ex1(_search(split), **_data(shuffled))  # own rows, another split
    assert not result.passed and "the split you passed" in result.message
    assert "42" not in result.hint


def test_the_learners_seed_gives_each_learner_other_data():
    from mlops_kit.labs.checks.experiment_tracking_lab import learner_split

    seeds = {learner_split(50, user=user)[0] for user in ("ada", "bob", "tester")}
    assert len(seeds) == 3 and SEED in seeds


def test_ex1_rejects_runs_that_are_not_nested(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split, nested=False)
    result = check_ex1(parent)
    assert not result.passed
    assert "0 child run(s)" in result.message and "nested=True" in result.hint


def test_ex1_rejects_children_without_the_metric_or_with_repeats(workspace, split):
    workspace.set_experiment("lab")
    no_metric = check_ex1(_search(split, log_metric=False))
    assert not no_metric.passed and "logged no 'rmse' metric" in no_metric.message
    repeated = check_ex1(_search(split, grid=[GRID[0]] * 4))
    assert not repeated.passed and "only 1 different combination" in repeated.message


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
    worst = check_ex2(ranked[-1], parent_run_id=parent)
    assert not worst.passed and "lower rmse" in worst.message
    assert "lower rmse" not in worst.hint and ranked[0] not in worst.hint
    by_train = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent}'",
                                  order_by=["metrics.train_rmse ASC"])["run_id"][0]
    assert by_train != ranked[0], "the test grid must overfit: train and test rank differently"
    overfit = check_ex2(by_train, parent_run_id=parent)
    assert not overfit.passed and "fits the training rows best" in overfit.message
    assert "rmse" not in overfit.hint
    outsider = check_ex2(parent, parent_run_id=parent)
    assert not outsider.passed and "not a child" in outsider.message
    assert "needs the search's parent" in check_ex2(ranked[0]).message


def test_ex3_rejects_a_model_that_is_not_the_best_one(workspace, split):
    workspace.set_experiment("lab")
    parent = _search(split)
    ranked = _ranked(parent)
    context = {"parent_run_id": parent, "best_run_id": ranked[0], "X_test": split[1], "y_test": split[3]}
    wrong = check_ex3(_log_model(split, parent, _params(ranked[-1])), **context)
    assert not wrong.passed and "the best run logged" in wrong.message

    with mlflow.start_run() as elsewhere:
        pass
    misplaced = check_ex3(_log_model(split, elsewhere.info.run_id, _params(ranked[0])), **context)
    assert not misplaced.passed and "another run" in misplaced.message
    missing = check_ex3(f"runs:/{parent}/no-such-model", **context)
    assert not missing.passed and "could not be loaded" in missing.message


def _effects(parent: str, metric: str = "rmse", *, of_means: bool = True) -> dict:
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent}'",
                              search_all_experiments=True)
    out = {}
    for param in ("n_estimators", "max_depth"):
        values = runs.groupby(f"params.{param}")[f"metrics.{metric}"]
        values = values.mean() if of_means else values.agg(lambda v: v.max() - v.min())
        out[param] = float(values.max() - values.min())
    return out


def test_ex4_names_the_setting_that_moves_the_held_out_error(workspace, split):
    workspace.set_experiment("lab_ex4")
    parent = _search(split)
    effects = _effects(parent)
    best = max(effects, key=effects.get)
    other = min(effects, key=effects.get)
    assert effects[best] > effects[other]
    result = check_ex4(best, effects=effects, parent_run_id=parent)
    assert result.passed, result.message

    wrong = [
        (other, effects, "moves the held-out error less"),
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

"""Checker mutations of the experiment tracking lab (ex1-ex4).

Every search is a real grid of MLflow runs on the test user's splits, logged
with the functions of ``tests/test_experiment_tracking_lab.py`` (each wrong
search is one of its options: another metric, a grid without the deepest
candidates, runs that are not nested, the demo's data).
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


@functools.lru_cache(maxsize=1)
def _split():
    from test_experiment_tracking_lab import N_ROWS

    from mlops_kit.labs.checks.experiment_tracking_lab import learner_split

    return learner_split(N_ROWS, user="tester")[1]


def _start(experiment: str = "lab_mutants"):
    from mlops_kit.workspace import get_workspace

    get_workspace().set_experiment(experiment)
    return _split()


@mutations("experiment-tracking-lab", "ex1", needs=("workspace",))
def _tracking_ex1():
    from test_experiment_tracking_lab import N_ROWS, SEED, _data, _ranked, _search

    from mlops_kit.datasets import listings
    from mlops_kit.labs.checks.experiment_tracking_lab import GRID, split_rows
    from mlops_kit.tracking import price_features

    split = _start()
    deepest = max(c["max_depth"] for c in GRID)
    shallow = [c for c in GRID if c["max_depth"] != deepest]
    demo = split_rows(*price_features(listings(N_ROWS, seed=42)), 42)
    shuffled = split_rows(*price_features(listings(N_ROWS, seed=SEED)), 1)
    parent = _search(split)

    def search(**options):
        return lambda a: _search(split, **options)

    def with_data(data, **options):
        return lambda a, c: (_search(data, **options), {**c, **_data(data, seed=c["seed"])})

    return parent, _data(split), [
        Mutant("training RMSE logged as val_rmse", LISTED, search(metric="train_rmse")),
        Mutant("MSE logged as val_rmse", LISTED, search(metric="mse")),
        Mutant("MAE logged as val_rmse", LISTED, search(metric="mae")),
        Mutant("test RMSE logged as val_rmse", LISTED, search(metric="test_rmse")),
        Mutant("every candidate's test error logged too", LISTED, search(also_test=True)),
        Mutant("the deepest candidates left out", LISTED, search(grid=shallow)),
        Mutant("runs not nested", LISTED, search(nested=False)),
        Mutant("the demo's data and seed", LISTED,
               lambda a, c: (_search(demo), {**c, **_data(demo, seed=42)}), with_context=True),
        Mutant("the demo's rows with the learner's seed", LISTED, with_data(demo), with_context=True),
        Mutant("no metric logged", GENERIC, search(log_metric=False)),
        Mutant("a candidate twice", GENERIC, search(grid=GRID + [GRID[0]])),
        Mutant("one candidate left out", GENERIC, search(grid=GRID[1:])),
        Mutant("another split of the learner's rows", GENERIC, with_data(shuffled), with_context=True),
        Mutant("a child's id", GENERIC, lambda a: _ranked(a)[0]),
        Mutant("an unknown id", GENERIC, lambda a: "0" * 32),
        Mutant("a number", GENERIC, lambda a: 42),
        Mutant("no splits given", GENERIC, lambda a, c: (a, {}), with_context=True),
    ]


@mutations("experiment-tracking-lab", "ex2", needs=("workspace",))
def _tracking_ex2():
    import mlflow
    from test_experiment_tracking_lab import _by_test, _data, _ranked, _search

    split = _start()
    parent = _search(split)
    ranked = _ranked(parent)
    by_train = _ranked(parent, "train_rmse")[0]
    on_test = _by_test(parent, split)
    other = _search(split)
    context = {"parent_run_id": parent, **_data(split)}
    return ranked[0], context, [
        Mutant("the best on the training rows", LISTED, lambda a: by_train),
        Mutant("the best on the test split", LISTED, lambda a: on_test),
        Mutant("the worst candidate (wrong end of the ordering)", LISTED, lambda a: ranked[-1]),
        Mutant("the parent run", LISTED, lambda a: parent),
        Mutant("the second best", GENERIC, lambda a: ranked[1]),
        Mutant("the best of another search", GENERIC, lambda a: _ranked(other)[0]),
        Mutant("no parent given", GENERIC, lambda a, c: (a, {k: v for k, v in c.items() if k != "parent_run_id"}),
               with_context=True),
        Mutant("the run's row, not its id", GENERIC,
               lambda a: mlflow.search_runs(filter_string=f"attributes.run_id = '{a}'",
                                            search_all_experiments=True).loc[0]),
        Mutant("an unknown id", GENERIC, lambda a: "f" * 32),
    ]


@mutations("experiment-tracking-lab", "ex3", needs=("workspace",))
def _tracking_ex3():
    import mlflow
    from test_experiment_tracking_lab import _data, _fit, _log_model, _metric, _params, _ranked, _search

    split = _start()
    parent = _search(split)
    ranked = _ranked(parent)
    best = ranked[0]
    context = {"parent_run_id": parent, "best_run_id": best, **_data(split)}
    uri = _log_model(split, parent, _params(best))

    def fresh(log):
        """A mistake that needs a search of its own (the parent's test metric is written once)."""
        def make(a, c):
            other = _search(split)
            chosen = _ranked(other)[0]
            return log(other, chosen), {**c, "parent_run_id": other, "best_run_id": chosen}
        return make

    def untested(other, chosen):
        return _log_model(split, other, _params(chosen), test_rmse=False)

    def every_candidate_tested(other, chosen):
        with mlflow.start_run(run_id=other):
            for run_id in _ranked(other)[1:]:
                mlflow.log_metric("test_rmse", _metric(split, _fit(split, _params(run_id)), "test_rmse"))
        return _log_model(split, other, _params(chosen))

    def validation_as_test(other, chosen):
        logged = _log_model(split, other, _params(chosen), test_rmse=False)
        with mlflow.start_run(run_id=other):
            mlflow.log_metric("test_rmse", mlflow.get_run(chosen).data.metrics["val_rmse"])
        return logged

    def elsewhere(a):
        with mlflow.start_run() as run:
            pass
        return _log_model(split, run.info.run_id, _params(best), test_rmse=False)

    def deeper(other, chosen):
        params = _params(chosen)
        return _log_model(split, other, {**params, "max_depth": params["max_depth"] + 1})

    return uri, context, [
        Mutant("the worst candidate logged", LISTED, fresh(lambda other, chosen: _log_model(
            split, other, _params(_ranked(other)[-1]))), with_context=True),
        Mutant("logged in another run", LISTED, elsewhere),
        Mutant("no test error logged", LISTED, fresh(untested), with_context=True),
        Mutant("every candidate measured on the test split", LISTED, fresh(every_candidate_tested),
               with_context=True),
        Mutant("the validation error logged as the test error", LISTED, fresh(validation_as_test),
               with_context=True),
        Mutant("a deeper forest than the chosen one", GENERIC, fresh(deeper), with_context=True),
        Mutant("a model that is not there", GENERIC, lambda a: f"runs:/{parent}/no-such-model"),
        Mutant("no run ids", GENERIC, lambda a, c: (a, {k: v for k, v in c.items()
                                                        if k not in ("parent_run_id", "best_run_id")}),
               with_context=True),
        Mutant("the model object, not its URI", GENERIC, lambda a: mlflow.pyfunc.load_model(a)),
    ]


@mutations("experiment-tracking-lab", "ex4", needs=("workspace",))
def _tracking_ex4():
    from test_experiment_tracking_lab import _effects, _search

    split = _start("lab_ex4_mutants")
    parent = _search(split)
    effects = _effects(parent)
    best, other = max(effects, key=effects.get), min(effects, key=effects.get)
    on_training = _effects(parent, "train_rmse")
    spreads = _effects(parent, of_means=False)

    def given(value, table):
        return lambda a, c: (value, {**c, "effects": table})

    return best, {"effects": effects, "parent_run_id": parent}, [
        Mutant("the setting that moves the error less", LISTED, lambda a: other),
        Mutant("effects on the training rows", LISTED, given(best, on_training), with_context=True),
        Mutant("spread of single runs, not of averages", LISTED, given(best, spreads), with_context=True),
        Mutant("one param left out", LISTED, given(best, {best: effects[best]}), with_context=True),
        Mutant("a param the grid did not vary", GENERIC, lambda a: "random_state"),
        Mutant("no effects", GENERIC, given(best, None), with_context=True),
        Mutant("effects 10 % off", GENERIC, given(best, {k: v * 1.1 for k, v in effects.items()}),
               with_context=True),
        Mutant("the effects swapped", GENERIC, given(best, {best: effects[other], other: effects[best]}),
               with_context=True),
        Mutant("no parent given", GENERIC, lambda a, c: (a, {"effects": effects}), with_context=True),
        Mutant("the name in capitals", GENERIC, lambda a: a.upper()),
    ]

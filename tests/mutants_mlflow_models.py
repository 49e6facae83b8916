"""Checker mutations of the MLflow models lab's logging and registry exercises (ex2-ex3).

The models are the classes of ``tests/test_registry_models_lab.py``, logged
once per exercise in the test workspace (ex1's mutants are registered in
``tests/test_checker_mutations.py``).
"""
from __future__ import annotations

import sys

from mutation_harness import GENERIC, LISTED, Mutant, exercise_cleanup, mutations


def _regressor():
    import cloudpickle

    import test_registry_models_lab as t
    from mlops_kit.models import listings_frame, train_price_model

    cloudpickle.register_pickle_by_value(t)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return train_price_model(listings_frame(200, seed=2))


def _threshold(base, threshold):
    """``base`` with another price threshold (a neighbouring constant)."""
    import pandas as pd

    from mlops_kit.models import FEATURES

    class Variant(base):
        def predict(self, context, model_input, params=None):
            features = model_input[FEATURES].apply(pd.to_numeric, errors="coerce")
            return ["Expensive" if p > threshold else "Not Expensive" for p in self.model.predict(features)]

    return Variant


@mutations("mlflow-models-lab", "ex2", needs=("workspace",))
def _mlflow_models_ex2():
    import mlflow
    import pandas as pd

    import test_registry_models_lab as t
    from mlops_kit.models import FEATURES, listings_frame
    from mlops_kit.workspace import get_workspace

    regressor = _regressor()
    get_workspace().set_experiment("models_lab_mutants")
    X = listings_frame(20, seed=1)[FEATURES]
    with mlflow.start_run():
        logged = {
            "good": t._log(t.Right(regressor)),
            "boundary": t._log(t.InclusiveBoundary(regressor)),
            "float_output": t._log(t.Right(regressor), outputs=regressor.predict(X)),
            "features_input": t._log(t.Right(regressor), inputs=X),
            "no_example": t._log(t.Right(regressor), example=False),
            "no_signature": t._log(t.Right(regressor), signature=False, example=False),
            "by_position": t._log(t.RelabelsByPosition(regressor)),
            "no_preprocessing": t._log(t.NoPreprocessing(regressor)),
            "text": t._log(t.ColumnsButText(regressor)),
            "threshold_101": t._log(_threshold(t.Right, 101.0)(regressor)),
        }
    return logged["good"], {}, [
        Mutant("the regressor's prices as the output", LISTED, lambda a: logged["float_output"]),
        Mutant("the regressor's features as the input", LISTED, lambda a: logged["features_input"]),
        Mutant("no input example", LISTED, lambda a: logged["no_example"]),
        Mutant("no signature", LISTED, lambda a: logged["no_signature"]),
        Mutant("100 is expensive", LISTED, lambda a: logged["boundary"]),
        Mutant("columns relabelled by position", LISTED, lambda a: logged["by_position"]),
        Mutant("no preprocessing", GENERIC, lambda a: logged["no_preprocessing"]),
        Mutant("features as text", GENERIC, lambda a: logged["text"]),
        Mutant("threshold 101", GENERIC, lambda a: logged["threshold_101"]),
        Mutant("the model's URI, not its ModelInfo", GENERIC, lambda a: a.model_uri),
        Mutant("the signature alone", GENERIC, lambda a: a.signature),
        Mutant("a frame", GENERIC, lambda a: pd.Series([1])),
    ]


@mutations("mlflow-models-lab", "ex3", needs=("workspace",))
def _mlflow_models_ex3():
    import mlflow

    import test_registry_models_lab as t
    from mlops_kit.labs.checks.mlflow_models_lab import MODEL, TEAM_ALIAS, prepare_team, team_versions
    from mlops_kit.workspace import get_workspace

    regressor = _regressor()
    workspace = get_workspace()
    workspace.set_experiment("models_lab_mutants")
    with mlflow.start_run():
        good = t._log(t.Right(regressor))
        by_position = t._log(t.RelabelsByPosition(regressor))
    prepare_team()
    name = workspace.model_name(MODEL)
    mine = t.register_mine(workspace, good)
    count = team_versions()[0]
    neighbour = next(team_versions(f"learner{i}")[0] for i in range(100)
                     if team_versions(f"learner{i}")[0] != count) + 1
    client = mlflow.MlflowClient()
    exercise_cleanup.append(lambda: t.put_team_alias_back(workspace))

    def registered(info, model_name=name):
        version = mlflow.register_model(info.model_uri, model_name)
        return f"models:/{version.name}/{version.version}"

    def moved_champion(uri):
        client.set_registered_model_alias(name, TEAM_ALIAS, mine.version)
        return uri

    def own_alias_on(version):
        client.set_registered_model_alias(name, "mine", str(version))
        return f"models:/{name}@mine"

    return f"models:/{name}/{mine.version}", {"model_info": good}, [
        Mutant("the run's artifact", LISTED, lambda a: f"runs:/{good.run_id}/model"),
        Mutant("the logged model's URI", LISTED, lambda a: good.model_uri),
        Mutant("the team's alias, where the team put it", LISTED,
               lambda a: f"models:/{name}@{TEAM_ALIAS}"),
        Mutant("latest", LISTED, lambda a: f"models:/{name}/latest"),
        Mutant("version 1 typed in", LISTED, lambda a: f"models:/{name}/1"),
        Mutant("the neighbour's version number", LISTED, lambda a: f"models:/{name}/{neighbour}"),
        Mutant("registered under the short name", LISTED, lambda a: registered(good, MODEL)),
        Mutant("a model that prices from the wrong fields", LISTED, lambda a: registered(by_position)),
        Mutant("a version that does not exist", GENERIC, lambda a: f"models:/{name}/99"),
        Mutant("the version before", GENERIC, lambda a: f"models:/{name}/{int(mine.version) - 1}"),
        Mutant("no models:/ prefix", GENERIC, lambda a: a.removeprefix("models:/")),
        Mutant("no version", GENERIC, lambda a: f"models:/{name}"),
        Mutant("the version number alone", GENERIC, lambda a: int(mine.version)),
        Mutant("an own alias on a teammate's version", GENERIC, lambda a: own_alias_on(count)),
        # these two move the team's alias: they run last, the cleanup puts it back
        Mutant("the team's alias moved to the learner's version", LISTED,
               lambda a: moved_champion(f"models:/{name}@{TEAM_ALIAS}")),
        Mutant("pinned by number, with the team's alias moved too", LISTED, lambda a: moved_champion(a)),
    ]

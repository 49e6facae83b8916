"""Checker mutants of the batch lab (03.1L): ex1-ex4 on the test user's prepared data.

Each exercise's right answer is computed as ``tests/test_labs_batch.py`` computes
it (its functions are reused), then mutated: the wrong answers a learner writes
(``LISTED``) and mechanical changes (``GENERIC``). Registered for
``tests/test_checker_mutations.py``.
"""
from __future__ import annotations

import functools

from mutation_harness import GENERIC, LISTED, Mutant, mutations


def _night():
    from test_labs_batch import prepared_night

    from mlops_kit.spark import get_spark

    return prepared_night(get_spark())


def _uri(night, version) -> str:
    return f"models:/{night['model_name']}/{version}"


@mutations("batch", "ex1", needs=("spark",))
def _batch_ex1():
    from test_labs_batch import pinned_from_history

    from mlops_kit.labs.scenarios import nightly_plan
    from mlops_kit.labs.seeds import learner_seed
    from mlops_kit.registry.info import pinned_uri
    from mlops_kit.spark import get_spark

    night = _night()
    name, path = night["model_name"], night["nightly_path"]
    count, first, rerun = nightly_plan(night["seed"])
    neighbour = next(nightly_plan(s)[2] for s in (learner_seed("batch-night", user=u)
                                                  for u in ("ada", "bob", "cyd", "dan", "eve"))
                     if nightly_plan(s)[2] != rerun)
    answer = pinned_from_history(get_spark(), path, name)
    return answer, {"nightly_path": path}, [
        Mutant("the champion alias", LISTED, lambda a: f"models:/{name}@champion"),
        Mutant("today's champion, pinned (03.1's line)", LISTED,
               lambda a: pinned_uri(f"models:/{name}@champion")),
        Mutant("the champion's version number", LISTED, lambda a: _uri(night, count)),
        Mutant("the night's first run (the oldest commit)", LISTED,
               lambda a: pinned_from_history(get_spark(), path, name, newest=False)),
        Mutant("the neighbour's version", LISTED, lambda a: _uri(night, neighbour)),
        Mutant("version + 1", GENERIC, lambda a: _uri(night, rerun + 1)),
        Mutant("version - 1", GENERIC, lambda a: _uri(night, rerun - 1)),
        Mutant("the latest version", GENERIC, lambda a: f"models:/{name}/latest"),
        Mutant("the short name", GENERIC, lambda a: f"models:/batch_price/{rerun}"),
        Mutant("the version as a number", GENERIC, lambda a: rerun),
        Mutant("the challenger alias", GENERIC, lambda a: f"models:/{name}@challenger"),
    ]


@functools.lru_cache(maxsize=None)
def _tonight_frames():
    from test_labs_batch import WRONG_TONIGHT, right_tonight, tonight_records

    records = tonight_records()
    return records, right_tonight(records), {k: f(records) for k, f in WRONG_TONIGHT.items()}


@mutations("batch", "ex2", needs=("spark",))
def _batch_ex2():
    from pyspark.sql import functions as F
    from test_labs_batch import _context2, right_tonight, tonight_answer, tonight_records

    from mlops_kit.labs.scenarios import nightly_plan
    from mlops_kit.labs.seeds import learner_seed
    from mlops_kit.spark import get_spark

    spark, night = get_spark(), _night()
    count, first, rerun = nightly_plan(night["seed"])
    _, truth, wrong = _tonight_frames()
    answer = tonight_answer(spark, _uri(night, rerun), truth)
    pinned = lambda frame: tonight_answer(spark, _uri(night, rerun), frame)  # noqa: E731
    return answer, _context2(night), [
        *[Mutant(name, LISTED, lambda a, frame=frame: pinned(frame)) for name, frame in wrong.items()],
        Mutant("scored by today's champion", LISTED,
               lambda a: tonight_answer(spark, _uri(night, count), truth)),
        Mutant("scored by the night's first run", LISTED,
               lambda a: tonight_answer(spark, _uri(night, first), truth)),
        Mutant("the neighbour's listings", LISTED,
               lambda a: pinned(right_tonight(tonight_records(learner_seed("batch-night", user="ada"))))),
        Mutant("id and prediction only", LISTED,
               lambda a: tonight_answer(spark, _uri(night, rerun), truth, keep=["id", "prediction"])),
        Mutant("prediction + 1", GENERIC, lambda a: a.withColumn("prediction", F.col("prediction") + 1)),
        Mutant("prediction rounded", GENERIC, lambda a: a.withColumn("prediction", F.round("prediction"))),
        Mutant("one listing dropped", GENERIC, lambda a: a.where(F.col("id") != int(truth["id"].iloc[0]))),
        Mutant("one listing twice", GENERIC, lambda a: a.unionByName(a.limit(1))),
        Mutant("column renamed", GENERIC, lambda a: a.withColumnRenamed("prediction", "pred")),
        Mutant("a pandas frame", GENERIC, lambda a: a.toPandas()),
    ]


@mutations("batch", "ex3", needs=("spark",))
def _batch_ex3():
    import tempfile

    from pyspark.sql import functions as F
    from test_labs_batch import tonight_answer

    from mlops_kit.labs.scenarios import nightly_plan
    from mlops_kit.labs.seeds import READER_COLUMNS, learner_seed, reader_column
    from mlops_kit.spark import get_spark

    spark, night = get_spark(), _night()
    count, _, rerun = nightly_plan(night["seed"])
    _, truth, _ = _tonight_frames()
    scored = tonight_answer(spark, _uri(night, rerun), truth)
    column = reader_column(learner_seed("batch-readers"))
    other = next(c for c in READER_COLUMNS if c != column)
    root = tempfile.mkdtemp(prefix="batch-ex3-")

    def written(name, frame=None, partitions=(column,), mode="overwrite", twice=False):
        path = f"{root}/{name}"
        writer = (scored if frame is None else frame).write.format("delta").mode(mode)
        writer = writer.partitionBy(*partitions) if partitions else writer
        writer.save(path)
        if twice:
            (scored if frame is None else frame).write.format("delta").mode("append").save(path)
        return path

    answer = written("right")
    return answer, {"model_uri": _uri(night, rerun), "listings_df": scored}, [
        Mutant("not partitioned", LISTED, lambda a: written("flat", partitions=())),
        Mutant("partitioned by a column only some queries ask for", LISTED,
               lambda a: written("other", partitions=(other,))),
        Mutant("partitioned by prediction", LISTED, lambda a: written("pred", partitions=("prediction",))),
        Mutant("partitioned by the readers' column and another", LISTED,
               lambda a: written("both", partitions=(column, other))),
        Mutant("the champion's predictions", LISTED,
               lambda a: written("champion", tonight_answer(spark, _uri(night, count), truth))),
        Mutant("partitioned by id", GENERIC, lambda a: written("by_id", partitions=("id",))),
        Mutant("appended to an earlier run", GENERIC, lambda a: written("twice", twice=True)),
        Mutant("rows left out", GENERIC, lambda a: written("some", scored.limit(10))),
        Mutant("no table there", GENERIC, lambda a: f"{root}/nothing"),
        Mutant("no prediction column", GENERIC,
               lambda a: written("nopred", scored.withColumnRenamed("prediction", "p"))),
        Mutant("predictions + 1", GENERIC,
               lambda a: written("plus", scored.withColumn("prediction", F.col("prediction") + 1))),
    ]


def _score(frame, model_uri):
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    inputs = model.metadata.get_input_schema().input_names()
    return frame.assign(prediction=model.predict(frame[inputs]))


@mutations("batch", "ex4", needs=("spark",))
def _batch_ex4():
    import mlflow
    import pandas as pd
    from pyspark.sql import functions as F

    from mlops_kit.labs.scenarios import (accepted_app_rows, app_defects, learner_seed,
                                          nightly_plan, repair_app_rows)
    from mlops_kit.spark import get_spark

    spark, night = get_spark(), _night()
    uri = _uri(night, nightly_plan(night["seed"])[2])
    inputs = mlflow.models.get_model_info(uri).signature.inputs.input_names()
    size, seed = 40, learner_seed("batch", "tester")
    (_, loud), (_, silent) = app_defects(seed)
    old, new = loud.split(":")

    def frame(rows):
        out = pd.DataFrame(rows)
        out.insert(0, "listing_id", range(len(out)))
        return out

    truth = frame(repair_app_rows(inputs, size, seed=seed))
    accepted = frame(accepted_app_rows(inputs, size, seed=seed))
    right = _score(truth, uri)

    def other_repair(rows):  # the neighbour's silent repair applied to this feed
        fixed = rows.copy()
        if silent.startswith("review_scores_rating"):
            fixed[["latitude", "longitude"]] = fixed[["longitude", "latitude"]].to_numpy()
        else:
            fixed["review_scores_rating"] = fixed["review_scores_rating"] / 20
        return fixed

    spark_of = spark.createDataFrame  # noqa: E731
    answer = spark_of(right)
    return answer, {"model_uri": uri, "feed_seed": seed, "feed_size": size}, [
        Mutant("only the renamed column repaired", LISTED, lambda a: spark_of(_score(accepted, uri))),
        Mutant("the neighbour's repair", LISTED, lambda a: spark_of(_score(other_repair(accepted), uri))),
        Mutant("the renamed column filled with 0", LISTED,
               lambda a: spark_of(_score(truth.assign(**{old: 0}), uri))),
        Mutant("rows that look odd dropped, not repaired", LISTED,
               lambda a: spark_of(_score(truth.iloc[: size - 5], uri))),
        Mutant("the silent defect repaired, the renamed column left", LISTED,
               lambda a: spark_of(_score(truth, uri).rename(columns={old: new}))),
        Mutant("prediction + 1", GENERIC, lambda a: a.withColumn("prediction", F.col("prediction") + 1)),
        Mutant("one row dropped", GENERIC, lambda a: a.where(F.col("listing_id") != 0)),
        Mutant("listing_id dropped", GENERIC, lambda a: a.drop("listing_id")),
        Mutant("listing ids shifted", GENERIC,
               lambda a: a.withColumn("listing_id", (F.col("listing_id") + 1) % size)),
        Mutant("the model input dropped", GENERIC, lambda a: a.drop(old)),
        Mutant("a pandas frame", GENERIC, lambda a: right),
    ]

"""The batch lab's checkers accept the solution and reject plausible wrong answers."""
from __future__ import annotations

import pytest

from mlops_kit.labs import Lab

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('batch', 'ex1'), ('batch', 'ex2'), ('batch', 'ex3'), ('batch', 'ex4')]


pytestmark = pytest.mark.spark


@pytest.fixture
def lab_env(spark, workspace):
    import mlflow

    from mlops_kit.datasets import listings
    from mlops_kit.registry.info import pinned_uri
    from mlops_kit.training import ensure_champion

    model_uri = pinned_uri(ensure_champion("price", rows=400))  # as the lab's set-up does
    frame = spark.createDataFrame(listings(120, seed=3))
    inputs = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
    return {"model_uri": model_uri, "listings_df": frame, "inputs": inputs}


def _verdict(exercise: str, value, env, **context) -> tuple[bool, str]:
    lab = Lab("batch")
    context = context or {"listings_df": env["listings_df"]}
    lab.check(exercise, value, model_uri=env["model_uri"], **context)
    result = lab.results_[exercise]
    assert result.passed or "spark_udf" not in (result.hint or "")  # a hint never gives the call
    return result.passed, result.message


def test_batch_lab_accepts_the_solution_and_rejects_wrong_answers(spark, workspace, lab_env, tmp_path):
    import mlflow
    from pyspark.sql import functions as F

    env = lab_env
    good_udf = mlflow.pyfunc.spark_udf(spark, env["model_uri"], result_type="double", env_manager="local")
    assert _verdict("ex1", good_udf, env)[0]
    passed, message = _verdict("ex1", env["model_uri"], env)  # a string, not a UDF
    assert not passed and "expected a Spark UDF" in message
    passed, message = _verdict("ex1", lambda row: 1.0, env)  # a Python function
    assert not passed and "expected a Spark UDF" in message
    constant = F.udf(lambda row: 100.0, "double")  # a UDF that is not the model
    passed, message = _verdict("ex1", constant, env)
    assert not passed and "differ" in message

    scored = env["listings_df"].withColumn("prediction", good_udf(F.struct(*env["inputs"])))
    assert _verdict("ex2", scored, env)[0]
    wrong_column = env["listings_df"].withColumn("prediction", F.col("price"))
    passed, message = _verdict("ex2", wrong_column, env)
    assert not passed and "differ" in message
    passed, message = _verdict("ex2", scored.limit(10), env)
    assert not passed and "rows scored" in message
    passed, message = _verdict("ex2", scored.withColumnRenamed("prediction", "pred"), env)
    assert not passed and "no column 'prediction'" in message

    from mlops_kit.labs.seeds import READER_COLUMNS, learner_seed, reader_column, reader_queries

    column = reader_column(learner_seed("batch-readers", user="tester"))
    assert all(f"{column} =" in query for query in reader_queries(learner_seed("batch-readers", user="tester")))
    other = next(c for c in READER_COLUMNS if c != column)
    good_path = str(tmp_path / "good")
    scored.write.format("delta").partitionBy(column).save(good_path)
    passed, message = _verdict("ex3", good_path, env)
    assert passed, message
    unpartitioned = str(tmp_path / "flat")
    scored.write.format("delta").save(unpartitioned)
    passed, message = _verdict("ex3", unpartitioned, env)
    assert not passed and "partitioned by []" in message and column not in message
    passed, message = _verdict("ex3", str(tmp_path / "nothing"), env)
    assert not passed and "no Delta table" in message
    by_other = str(tmp_path / "by_other")  # a column only some of the queries filter on
    scored.write.format("delta").partitionBy(other).save(by_other)
    passed, message = _verdict("ex3", by_other, env)
    assert not passed and f"do not filter on {other!r}" in message and repr(column) not in message
    by_prediction = str(tmp_path / "by_prediction")  # every query has a range on it
    scored.write.format("delta").partitionBy("prediction").save(by_prediction)
    passed, message = _verdict("ex3", by_prediction, env)
    assert not passed and "tiny partitions" in message
    too_fine = str(tmp_path / "too_fine")
    scored.write.format("delta").partitionBy(column, other).save(too_fine)
    passed, message = _verdict("ex3", too_fine, env)
    assert not passed and "spread over many small partitions" in message


def test_reader_queries_differ_between_learners_and_all_ask_for_their_column():
    from mlops_kit.labs.seeds import learner_seed, reader_column, reader_queries

    seeds = [learner_seed("batch-readers", user=u) for u in ("ada", "bob", "cyd", "dan", "eve", "fay")]
    assert len({reader_column(seed) for seed in seeds}) > 1
    for seed in seeds:
        assert all(f"{reader_column(seed)} =" in query for query in reader_queries(seed))

def test_batch_lab_ex4_wants_the_feed_repaired_not_only_scored(spark, workspace, lab_env):
    import mlflow
    from pyspark.sql import functions as F

    from mlops_kit.labs.scenarios import app_defects, learner_seed, partner_feed, repair_app_rows

    env, size = lab_env, 40
    seed = learner_seed("batch", "tester")
    context = {"feed_seed": seed, "feed_size": size}
    inputs = env["inputs"]
    udf = mlflow.pyfunc.spark_udf(spark, env["model_uri"], result_type="double", env_manager="local")
    truth = spark.createDataFrame(
        [{"listing_id": i, **row} for i, row in enumerate(repair_app_rows(inputs, size, seed=seed))])
    right = truth.withColumn("prediction", udf(F.struct(*inputs)))
    assert _verdict("ex4", right, env, **context)[0]

    feed = partner_feed(spark, inputs, size, seed=seed)
    (_, loud), (_, silent) = app_defects(seed)
    old, new = loud.split(":")
    renamed_only = feed.withColumnRenamed(new, old).withColumn("prediction", udf(F.struct(*inputs)))
    passed, message = _verdict("ex4", renamed_only, env, **context)
    assert not passed and repr(silent.split(":")[0]) in message
    passed, message = _verdict("ex4", right.limit(size - 5), env, **context)
    assert not passed and "rows scored" in message
    passed, message = _verdict("ex4", right.drop(old), env, **context)
    assert not passed and f"lacks the model input {old!r}" in message
    passed, message = _verdict("ex4", right.drop("prediction"), env, **context)
    assert not passed and "no column 'prediction'" in message

"""The batch lab's checkers accept the solution and reject plausible wrong answers."""
from __future__ import annotations

import pytest

from mlops_kit.labs import Lab

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('batch', 'ex1'), ('batch', 'ex2'), ('batch', 'ex3')]


pytestmark = pytest.mark.spark


@pytest.fixture
def lab_env(spark, workspace):
    import mlflow

    from mlops_kit.datasets import listings
    from mlops_kit.training import ensure_champion

    model_uri = ensure_champion("price", rows=400)
    frame = spark.createDataFrame(listings(120, seed=3))
    inputs = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
    return {"model_uri": model_uri, "listings_df": frame, "inputs": inputs}


def _verdict(exercise: str, value, env) -> tuple[bool, str]:
    lab = Lab("batch")
    lab.check(exercise, value, model_uri=env["model_uri"], listings_df=env["listings_df"])
    result = lab.results_[exercise]
    return result.passed, result.message


def test_batch_lab_accepts_the_solution_and_rejects_wrong_answers(spark, workspace, lab_env, tmp_path):
    import mlflow
    from pyspark.sql import functions as F

    env = lab_env
    good_udf = mlflow.pyfunc.spark_udf(spark, env["model_uri"], result_type="double", env_manager="local")
    assert _verdict("ex1", good_udf, env)[0]
    passed, message = _verdict("ex1", env["model_uri"], env)  # a string, not a UDF
    assert not passed and "expected a Spark UDF" in message

    scored = env["listings_df"].withColumn("prediction", good_udf(F.struct(*env["inputs"])))
    assert _verdict("ex2", scored, env)[0]
    wrong_column = env["listings_df"].withColumn("prediction", F.col("price"))
    passed, message = _verdict("ex2", wrong_column, env)
    assert not passed and "differ" in message
    passed, message = _verdict("ex2", scored.limit(10), env)
    assert not passed and "rows scored" in message

    good_path = str(tmp_path / "good")
    scored.write.format("delta").partitionBy("room_type").save(good_path)
    assert _verdict("ex3", good_path, env)[0]
    unpartitioned = str(tmp_path / "flat")
    scored.write.format("delta").save(unpartitioned)
    passed, message = _verdict("ex3", unpartitioned, env)
    assert not passed and "partitioned by []" in message
    passed, message = _verdict("ex3", str(tmp_path / "nothing"), env)
    assert not passed and "no Delta table" in message

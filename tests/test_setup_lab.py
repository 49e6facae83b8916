"""The setup lab's checkers: the right answer passes, three plausible wrong ones per exercise
fail with a hint that points at the mistake without giving the answer."""
from __future__ import annotations

import pytest

from mlops_kit.labs import registry
from mlops_kit.workspace import Workspace

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("setup", "ex1"), ("setup", "ex2"), ("setup", "ex3"), ("setup", "ex4")]


def check(exercise, value, **context):
    return registry.run_check(registry.get("setup", exercise), value, **context)


def test_ex1_accepts_the_workspace_user(workspace):
    assert check("ex1", workspace.user).passed


@pytest.mark.parametrize("wrong, says", [
    ("root", "is not the workspace user"),
    ("dev", "is not the workspace user"),
    (None, "expected a user name (str), got NoneType"),
])
def test_ex1_rejects_other_names(workspace, wrong, says):
    result = check("ex1", wrong)
    assert not result.passed and says in result.message
    assert "tester" not in result.hint


def test_ex1_rejects_the_workspace_object(workspace):
    result = check("ex1", workspace)
    assert not result.passed and "got Workspace" in result.message


@pytest.fixture(scope="module")
def table(spark, tmp_path_factory):
    from mlops_kit.labs.checks.setup import prepare_listings

    workspace = Workspace.from_env(root=tmp_path_factory.mktemp("setup-lab"), user="tester").activate()
    return workspace, spark, prepare_listings(n=60)


@pytest.fixture
def env(table):
    workspace, spark, path = table
    workspace.activate()
    return spark, path


def _read(env, version=None):
    spark, path = env
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def _avg(env, how="avg"):
    from pyspark.sql import functions as F

    return _read(env).groupBy("room_type").agg(getattr(F, how)("price").alias("avg_price"))


@pytest.mark.spark
def test_ex2_to_ex4_accept_the_right_answers(env):
    path = env[1]
    assert check("ex2", _read(env), path=path).passed
    assert check("ex3", _avg(env).toPandas(), path=path).passed
    assert check("ex4", _read(env, version=0), path=path).passed


@pytest.mark.spark
@pytest.mark.parametrize("exercise, wrong, says", [
    ("ex2", lambda env: _read(env).limit(10), "rows, but the table has"),
    ("ex2", lambda env: _read(env).select("price"), "are missing"),
    ("ex2", lambda env: _read(env, version=0), "not the table's current prices"),
    ("ex2", lambda env: _read(env).toPandas(), "got a pandas DataFrame"),
    ("ex3", lambda env: _avg(env, "sum").toPandas(), "off by"),
    ("ex3", lambda env: _avg(env, "max").toPandas(), "off by"),
    ("ex3", lambda env: _avg(env), "got a pyspark DataFrame"),
    ("ex3", lambda env: _avg(env).filter("room_type != 'Entire home/apt'").toPandas(), "room types"),
    ("ex4", lambda env: _read(env), "the current version"),
    ("ex4", lambda env: _read(env, version=0).toPandas(), "got a pandas DataFrame"),
    ("ex4", lambda env: _read(env, version=0).select("room_type"), "no price column"),
])
def test_ex2_to_ex4_reject_plausible_mistakes(env, exercise, wrong, says):
    result = check(exercise, wrong(env), path=env[1])
    assert not result.passed and says in result.message, result
    for answer in ('format("delta")', "versionAsOf\", 0", "toPandas", "F.avg", "avg("):
        assert answer not in result.hint

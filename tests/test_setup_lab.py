"""The setup lab's checkers: the right answer passes, three plausible wrong ones per exercise
fail with a hint that points at the mistake without giving the answer."""
from __future__ import annotations

import pytest

from mlops_kit.labs import registry
from mlops_kit.workspace import Workspace

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("setup", "ex1"), ("setup", "ex2"), ("setup", "ex3"), ("setup", "ex4"),
                    ("setup", "ex5"), ("setup", "ex6")]


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


def test_ex5_jobs_differ_between_learners_and_cover_every_env():
    from mlops_kit.labs.checks.setup import JOBS, job_env

    envs = {job_env(f"learner{i}") for i in range(30)}
    assert envs == set(JOBS) == {"dev", "staging", "prod"}


@pytest.mark.parametrize("user", ["ada", "cy", "learner1", "tester"])  # dev, staging, prod, staging
def test_ex5_accepts_the_model_name_in_the_jobs_env(tmp_path, user):
    from mlops_kit.labs.checks.setup import job_brief, job_env

    ws = Workspace.from_env(root=tmp_path, user=user).activate()
    result = check("ex5", ws.with_env(job_env()).model_name("price"))
    assert result.passed, result
    assert job_brief().startswith("The job: ") and "'price'" in job_brief()


def _wrong_env(workspace):
    from mlops_kit.labs.checks.setup import job_env

    return [env for env in ("dev", "staging", "prod") if env != job_env()]


def test_ex5_rejects_either_wrong_env_without_naming_the_right_one(workspace):
    from mlops_kit.labs.checks.setup import job_env

    for env in _wrong_env(workspace):
        result = check("ex5", workspace.with_env(env).model_name("price"))
        assert not result.passed and f"{env!r} is the wrong env for this job" in result.message
        assert job_env() not in result.hint


@pytest.mark.parametrize("wrong, says", [
    (lambda ws, env: ws.model_name("price").replace(ws.user, "ada"), "'ada' is not your workspace user"),
    (lambda ws, env: f"{env}.price", "is not a full registered model name"),
    (lambda ws, env: ws.with_env(env).model_name("prices"), "loads the model 'price', not 'prices'"),
    (lambda ws, env: f"production.{ws.user}.price", "'production' is not an env"),
    (lambda ws, env: ws.with_env(env), "expected a registered model name (str), got Workspace"),
])
def test_ex5_rejects_names_that_are_not_the_learners_model(workspace, wrong, says):
    from mlops_kit.labs.checks.setup import job_env

    result = check("ex5", wrong(workspace, job_env()))
    assert not result.passed and says in result.message, result


@pytest.fixture
def team():
    from mlops_kit.labs.checks import setup

    return setup.TEAM_TRACKING_URI, setup.TEAM_SPARK_CONNECT


@pytest.mark.parametrize("name", ["MLOPS_KIT_TRACKING_URI", "MLFLOW_TRACKING_URI"])
def test_ex6_accepts_moving_only_the_tracking_uri(workspace, team, name):
    result = check("ex6", {name: team[0]})
    assert result.passed, result
    assert str(workspace.root) in result.message


@pytest.mark.parametrize("wrong, says", [
    (lambda uri, sc: {"MLOPS_KIT_REGISTRY_URI": uri}, "runs would still be tracked at sqlite:///"),
    (lambda uri, sc: {"MLOPS_KIT_HOME": uri}, "the workspace root (your tables) would move"),
    (lambda uri, sc: {"MLOPS_KIT_SPARK_MASTER": sc}, "runs would still be tracked"),
    (lambda uri, sc: {"MLOPS_KIT_TRACKING_URI": uri, "MLOPS_KIT_SPARK_MASTER": sc},
     "but the Spark master would move too"),
    (lambda uri, sc: {"MLOPS_KIT_TRACKING_URI": uri, "MLOPS_KIT_REGISTRY_URI": "sqlite:///models.db"},
     "models would be registered at sqlite:///models.db"),
    (lambda uri, sc: {"MLOPS_KIT_TRACKING_URI": uri, "MLOPS_KIT_ENV": "shared"}, "refuses to start"),
    (lambda uri, sc: {"TRACKING_URI": uri}, "the kit does not read ['TRACKING_URI']"),
    (lambda uri, sc: uri, "expected the settings as a dict"),
])
def test_ex6_rejects_settings_that_miss_the_server_or_move_too_much(workspace, team, wrong, says):
    result = check("ex6", wrong(*team))
    assert not result.passed and says in result.message, result
    assert result.hint and "MLOPS_KIT_TRACKING_URI" not in result.hint


def test_ex6_judges_against_the_learners_own_workspace(tmp_path, team, monkeypatch):
    """A learner whose env is prod keeps prod: the settings are applied on top of it."""
    ws = Workspace.from_env("prod", root=tmp_path, user="ada").activate()
    assert check("ex6", {"MLOPS_KIT_TRACKING_URI": team[0]}).passed
    result = check("ex6", {"MLOPS_KIT_TRACKING_URI": team[0], "MLOPS_KIT_ENV": "dev"})
    assert not result.passed and "the env would move too" in result.message
    assert ws.env == "prod"


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


def _parquet(env):
    """The colleague's read of exercise 2: every file in the table's folder."""
    spark, path = env
    return spark.read.parquet(path)


def right_ex2(env):
    """The worked answer of exercise 2: the current version and the rows only the folder holds."""
    current = _read(env)
    return current, _parquet(env).count() - current.count()


def right_ex4(env):
    """The worked answer of exercise 4: the version last week's report was computed from."""
    from mlops_kit.labs.checks.setup import report_version

    return _read(env, version=report_version())


def _avg(env, how="avg"):
    from pyspark.sql import functions as F

    return _read(env).groupBy("room_type").agg(getattr(F, how)("price").alias("avg_price"))


def test_table_histories_and_report_versions_differ_between_learners():
    """Each learner's table has its own history; the report is never the first or latest version."""
    from mlops_kit.labs.checks.setup import report_version, table_plan

    plans = {str(table_plan(f"learner{i}")) for i in range(20)}
    versions = {report_version(f"learner{i}") for i in range(40)}
    assert len(plans) >= 10 and versions >= {1, 2}
    for i in range(40):
        assert 0 < report_version(f"learner{i}") < len(table_plan(f"learner{i}"))


def test_last_week_report_is_the_report_versions_numbers():
    from mlops_kit.labs.checks.setup import last_week_report, report_version, table_versions

    frame = table_versions(60, "ada")[report_version("ada")]
    report = last_week_report(60, "ada").set_index("room_type")
    assert report["listings"].sum() == len(frame)
    assert abs(report["mean_price"] - frame.groupby("room_type")["price"].mean()).max() < 0.006
    assert not last_week_report(60, "ada").equals(last_week_report(60, "cy"))


@pytest.mark.spark
def test_ex2_to_ex4_accept_the_right_answers(env):
    path = env[1]
    assert check("ex2", right_ex2(env), path=path).passed
    assert check("ex3", _avg(env).toPandas(), path=path).passed
    assert check("ex4", right_ex4(env), path=path).passed


def _stale(env):
    return right_ex2(env)[1]


@pytest.mark.spark
@pytest.mark.parametrize("exercise, wrong, says", [
    ("ex2", lambda env: (_parquet(env), 0), "as many as the colleague's read"),
    ("ex2", lambda env: (_parquet(env), _stale(env)), "as many as the colleague's read"),
    ("ex2", lambda env: (_read(env).limit(10), _stale(env)), "rows, but the table's current version has"),
    ("ex2", lambda env: (_read(env).select("price"), _stale(env)), "are missing"),
    ("ex2", lambda env: (_read(env, version=0), _stale(env)), "rows, but the table's current version has"),
    ("ex2", lambda env: (_read(env).toPandas(), _stale(env)), "got a pandas DataFrame"),
    ("ex2", lambda env: (_read(env), _parquet(env).count()), "is not how many"),
    ("ex2", lambda env: (_read(env), 0), "is not how many"),
    ("ex2", lambda env: (_read(env), _parquet(env).count() - _read(env, version=0).count()), "is not how many"),
    ("ex2", lambda env: (_read(env), float(_stale(env))), "got float"),
    ("ex2", lambda env: _read(env), "expected a pair"),
    ("ex3", lambda env: _avg(env, "sum").toPandas(), "off by"),
    ("ex3", lambda env: _avg(env, "max").toPandas(), "off by"),
    ("ex3", lambda env: _avg(env), "got a pyspark DataFrame"),
    ("ex3", lambda env: _avg(env).filter("room_type != 'Entire home/apt'").toPandas(), "room types"),
    ("ex4", lambda env: _read(env), "the latest version"),
    ("ex4", lambda env: _read(env, version=0), "version 0"),
    ("ex4", lambda env: right_ex4(env).toPandas(), "got a pandas DataFrame"),
    ("ex4", lambda env: right_ex4(env).select("room_type"), "are missing"),
    ("ex4", lambda env: right_ex4(env).limit(20), "no version of the table"),
])
def test_ex2_to_ex4_reject_plausible_mistakes(env, exercise, wrong, says):
    result = check(exercise, wrong(env), path=env[1])
    assert not result.passed and says in result.message, result
    for answer in ('format("delta")', "versionAsOf\", 0", "toPandas", "F.avg", "avg(", "report_version"):
        assert answer not in result.hint


@pytest.mark.spark
def test_ex4_rejects_every_version_but_the_reports(env):
    """The versions next to the report's (one more commit, one fewer) are refused too."""
    from mlops_kit.labs.checks.setup import report_version, table_plan

    target = report_version()
    for version in range(len(table_plan()) + 1):
        result = check("ex4", _read(env, version=version), path=env[1])
        assert result.passed == (version == target), (version, result)

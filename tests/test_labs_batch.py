"""The batch lab's checkers accept the solution and reject plausible wrong answers.

The functions here (``night``, ``pinned_from_history``, ``tonight_answer`` and
the wrong answers) are the prepared inputs of ``tests/mutants_batch.py`` too.
"""
from __future__ import annotations

import pytest

from mlops_kit.labs import Lab

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [("batch", "ex1"), ("batch", "ex2"), ("batch", "ex3"), ("batch", "ex4")]


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


def test_batch_lab_ex3_accepts_the_solution_and_rejects_wrong_answers(spark, workspace, lab_env, tmp_path):
    import mlflow
    from pyspark.sql import functions as F

    env = lab_env
    good_udf = mlflow.pyfunc.spark_udf(spark, env["model_uri"], result_type="double", env_manager="local")
    scored = env["listings_df"].withColumn("prediction", good_udf(F.struct(*env["inputs"])))

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


# ----------------------------------------------------------------- exercises 1 and 2
def batch_seed() -> int:
    from mlops_kit.labs.seeds import learner_seed

    return learner_seed("batch-night", user="tester")


_NIGHT: dict = {}


def prepared_night(spark) -> dict:
    """The test user's registry and last night's table, made once per process (training four
    versions takes a while); its workspace is activated again on every call."""
    import tempfile
    from pathlib import Path

    from mlops_kit.labs.scenarios import prepare_nightly
    from mlops_kit.workspace import Workspace

    if not _NIGHT:
        ws = Workspace.from_env(root=Path(tempfile.mkdtemp(prefix="batch-lab-")) / "kit",
                                user="tester").activate()
        made = prepare_nightly(spark, "batch_price", seed=batch_seed(), rows=200, night_rows=40)
        _NIGHT.update(ws=ws, night={**made, "seed": batch_seed()})
    _NIGHT["ws"].activate()
    return _NIGHT["night"]


@pytest.fixture
def night(spark):
    """The test user's registry and last night's table, as the lab's set-up makes them."""
    return prepared_night(spark)


def pinned_from_history(spark, nightly_path: str, model_name: str, *, newest: bool = True) -> str:
    """The solution of ex1: the run named by the table's newest (or first) commit, as its version."""
    from mlflow import MlflowClient

    commits = spark.sql(f"DESCRIBE HISTORY delta.`{nightly_path}`").toPandas().sort_values("version")
    note = commits["userMetadata"].iloc[-1 if newest else 0]
    run_id = note.rsplit(" ", 1)[-1]
    found = MlflowClient().search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    return f"models:/{model_name}/{found[0].version}"


#: tonight's table in the tests (the lab uses the notebook's n_listings)
TONIGHT_SIZE = 40


def tonight_answer(spark, model_uri: str, frame, *, keep=None):
    """``frame`` (pandas records of tonight's table) scored in-process by ``model_uri``, as Spark."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    inputs = model.metadata.get_input_schema().input_names()
    scored = frame.assign(prediction=model.predict(frame[inputs]))
    if keep is not None:
        scored = scored[keep]
    return spark.createDataFrame(scored.reset_index(drop=True))


def tonight_records(seed: int | None = None):
    from mlops_kit.labs.scenarios import tonight_listings

    return tonight_listings(TONIGHT_SIZE, seed=batch_seed() if seed is None else seed)


def newest_first(frame):
    return frame.sort_values("updated_at", ascending=False, kind="stable")


#: tonight's records as the wrong answers pick them (pandas -> pandas)
WRONG_TONIGHT = {
    "every record scored": lambda f: f,
    "the first record of each listing": lambda f: f.drop_duplicates("id", keep="first"),
    "the oldest record of each live listing": lambda f: f.drop_duplicates("id", keep="first")
    .pipe(lambda first: first[first["id"].isin(right_tonight(f)["id"])]),
    "the newest record, withdrawn ones too": lambda f: newest_first(f).drop_duplicates("id"),
    "withdrawn records dropped, then the newest": lambda f: newest_first(f[f["status"] == "live"])
    .drop_duplicates("id"),
    "every listing ever withdrawn dropped": lambda f: newest_first(
        f[~f["id"].isin(f.loc[f["status"] == "withdrawn", "id"])]).drop_duplicates("id"),
}


def right_tonight(frame):
    from mlops_kit.labs.scenarios import tonight_truth

    return tonight_truth(frame)


def _context2(night):
    return {"seed": night["seed"], "model_name": night["model_name"], "tonight_size": TONIGHT_SIZE}


def _check(exercise, value, **context):
    from mlops_kit.labs.registry import get, run_check

    return run_check(get("batch", exercise), value, **context)


def test_batch_scenarios_differ_between_learners():
    from mlops_kit.labs.scenarios import nightly_plan, tonight_listings, tonight_truth
    from mlops_kit.labs.seeds import learner_seed

    seeds = [learner_seed("batch-night", user=u) for u in ("ada", "bob", "cyd", "dan", "eve", "fay")]
    assert len({nightly_plan(s) for s in seeds}) > 1
    for s in seeds:
        count, first, rerun = nightly_plan(s)
        assert first != rerun and count not in (first, rerun)  # neither is today's champion
        frame = tonight_listings(30, seed=s)
        truth = tonight_truth(frame)
        assert frame["id"].duplicated().any() and (frame["status"] == "withdrawn").any()
        # a listing withdrawn and then listed again is live: dropping "ever withdrawn" ids is wrong
        ever = set(frame.loc[frame["status"] == "withdrawn", "id"])
        assert ever & set(truth["id"])


def test_ex1_accepts_the_version_of_the_newest_commit(spark, night):
    right = pinned_from_history(spark, night["nightly_path"], night["model_name"])
    result = _check("ex1", right, nightly_path=night["nightly_path"])
    assert result.passed, result.message


def test_ex1_rejects_an_alias_the_champion_and_the_first_run(spark, night):
    from mlops_kit.labs.scenarios import nightly_plan
    from mlops_kit.registry.info import pinned_uri

    name, path = night["model_name"], night["nightly_path"]
    count, first, rerun = nightly_plan(night["seed"])
    alias = _check("ex1", f"models:/{name}@champion", nightly_path=path)
    assert not alias.passed and "names an alias" in alias.message
    champion = _check("ex1", f"models:/{name}/{count}", nightly_path=path)  # moved this morning
    assert not champion.passed and "differently from last night's table" in champion.message
    demo = _check("ex1", pinned_uri(f"models:/{name}@champion"), nightly_path=path)  # 03.1's line
    assert not demo.passed and "differently from last night's table" in demo.message
    first_run = _check("ex1", pinned_from_history(spark, path, name, newest=False), nightly_path=path)
    assert not first_run.passed and "a later commit replaced those rows" in first_run.message
    assert str(first) not in first_run.hint and str(rerun) not in first_run.hint


def test_ex1_rejects_a_neighbours_version_a_missing_one_and_a_number(spark, night):
    from mlops_kit.labs.scenarios import nightly_plan
    from mlops_kit.labs.seeds import learner_seed

    name, path = night["model_name"], night["nightly_path"]
    rerun = nightly_plan(night["seed"])[2]
    neighbour = next(nightly_plan(s)[2] for s in (learner_seed("batch-night", user=u)
                                                  for u in ("ada", "bob", "cyd", "dan", "eve"))
                     if nightly_plan(s)[2] != rerun)
    other = _check("ex1", f"models:/{name}/{neighbour}", nightly_path=path)
    assert not other.passed and "last night" in other.message
    missing = _check("ex1", f"models:/{name}/99", nightly_path=path)
    assert not missing.passed and "no model could be loaded" in missing.message
    number = _check("ex1", rerun, nightly_path=path)
    assert not number.passed and "expected a model URI" in number.message


def test_ex2_accepts_the_newest_live_record_of_each_listing(spark, night):
    from mlops_kit.labs.scenarios import nightly_plan

    uri = f"models:/{night['model_name']}/{nightly_plan(night['seed'])[2]}"
    right = tonight_answer(spark, uri, right_tonight(tonight_records()))
    result = _check("ex2", right, **_context2(night))
    assert result.passed, result.message


@pytest.mark.parametrize(("wrong", "says"), [
    ("every record scored", "scored more than once"),
    ("the first record of each listing", "not live tonight"),
    ("the oldest record of each live listing", "come from a record that a later one replaced"),
    ("the newest record, withdrawn ones too", "not live tonight"),
    ("withdrawn records dropped, then the newest", "not live tonight"),
    ("every listing ever withdrawn dropped", "live listing(s) were not scored"),
])
def test_ex2_rejects_records_picked_the_wrong_way(spark, night, wrong, says):
    from mlops_kit.labs.scenarios import nightly_plan

    uri = f"models:/{night['model_name']}/{nightly_plan(night['seed'])[2]}"
    answer = tonight_answer(spark, uri, WRONG_TONIGHT[wrong](tonight_records()))
    result = _check("ex2", answer, **_context2(night))
    assert not result.passed and says in result.message, result.message
    assert "updated_at" not in result.message and "status" not in result.message


def test_ex2_rejects_the_champion_a_neighbours_table_and_bare_predictions(spark, night):
    from mlops_kit.labs.scenarios import nightly_plan
    from mlops_kit.labs.seeds import learner_seed

    count, _, rerun = nightly_plan(night["seed"])
    name = night["model_name"]
    truth = right_tonight(tonight_records())
    champion = _check("ex2", tonight_answer(spark, f"models:/{name}/{count}", truth), **_context2(night))
    assert not champion.passed and "not the prices of the version you pinned" in champion.message
    neighbour = right_tonight(tonight_records(learner_seed("batch-night", user="ada")))
    other = _check("ex2", tonight_answer(spark, f"models:/{name}/{rerun}", neighbour), **_context2(night))
    assert not other.passed
    bare = tonight_answer(spark, f"models:/{name}/{rerun}", truth, keep=["id", "prediction"])
    result = _check("ex2", bare, **_context2(night))
    assert not result.passed and "no column" in result.message

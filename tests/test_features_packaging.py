"""log_model with a feature spec, score_batch with keys only, lineage on the tables."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from mlops_kit._price_model import pip_requirements
from mlops_kit.exceptions import DataError
from mlops_kit.features import FeatureLookup, FeatureStoreClient
from mlops_kit.features.packaging import read_feature_spec

pytestmark = [pytest.mark.spark, pytest.mark.slow]

T0 = dt.datetime(2024, 1, 1)


@pytest.fixture
def trained(workspace, spark):
    """Two feature tables (one time-series), a training set, a logged tree model."""
    import mlflow
    from sklearn.ensemble import RandomForestRegressor

    fs = FeatureStoreClient(workspace, spark=spark)
    rng = np.random.default_rng(0)
    static = [(k, float(rng.uniform(1, 5)), int(rng.integers(1, 4))) for k in range(20)]
    fs.create_table("homes", "home_id", df=spark.createDataFrame(static, "home_id long, rooms double, beds long"))
    events = [(k, T0 + dt.timedelta(days=d), float(rng.uniform(1, 5))) for k in range(20) for d in (0, 3, 6)]
    fs.create_table("ratings", "home_id", df=spark.createDataFrame(events, "home_id long, ts timestamp, avg_rating double"),
                    timeseries_column="ts")
    labels = spark.createDataFrame(
        [(k, T0 + dt.timedelta(days=int(d)), float(100 + 10 * k + d)) for k in range(20) for d in (1, 4, 7)],
        "home_id long, ts timestamp, price double",
    )
    training = fs.create_training_set(labels, [
        FeatureLookup("homes", "home_id"),
        FeatureLookup("ratings", "home_id", timestamp_lookup_key="ts", default_values={"avg_rating": 3.0}),
    ], label="price", exclude_columns=["ts"])
    pdf = training.load_df().toPandas()
    X, y = pdf.drop(columns=["price", "home_id"]), pdf["price"]
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    workspace.set_experiment("fs_test")
    with mlflow.start_run() as run:
        info = fs.log_model(model, "model", mlflow.sklearn, training,
                            registered_model_name=workspace.model_name("homes_price"))
    yield fs, model, info, run.info.run_id
    fs.close()


def test_score_batch_equals_manual_join_and_predict(trained, spark):
    """Keys (+ timestamps) in, point-in-time features and the model's predictions out."""
    fs, model, info, _ = trained
    keys = spark.createDataFrame([(3, T0 + dt.timedelta(days=5)), (7, T0 - dt.timedelta(days=1)), (99, T0)],
                                 "home_id long, ts timestamp")
    scored = {r["home_id"]: r for r in fs.score_batch(info.model_uri, keys).collect()}
    manual = fs.create_training_set(keys, [
        FeatureLookup("homes", "home_id"),
        FeatureLookup("ratings", "home_id", timestamp_lookup_key="ts", default_values={"avg_rating": 3.0}),
    ], label=None).load_df().toPandas().sort_values("home_id")
    expected = model.predict(manual[["rooms", "beds", "avg_rating"]])
    assert [scored[k]["prediction"] for k in manual["home_id"]] == pytest.approx(list(expected))
    assert scored[7]["avg_rating"] == 3.0  # before any rating: the default, not a future value

    # columns given at scoring time win over looked-up ones
    keys = spark.createDataFrame([(3, T0, 4.9)], "home_id long, ts timestamp, avg_rating double")
    row = fs.score_batch(info.model_uri, keys).first()
    features = fs.read_table("homes").filter("home_id = 3").first()
    expected = model.predict(__import__("pandas").DataFrame(
        {"rooms": [features["rooms"]], "beds": [features["beds"]], "avg_rating": [4.9]}))
    assert row["avg_rating"] == 4.9 and row["prediction"] == pytest.approx(expected[0])


def test_registered_model_keeps_the_spec_and_tables_record_lineage(trained, spark, workspace):
    fs, _, info, run_id = trained
    uri = f"models:/{workspace.model_name('homes_price')}/1"
    spec = read_feature_spec(uri)
    assert spec["input_columns"] == ["rooms", "beds", "avg_rating"]
    assert [lk["table_name"] for lk in spec["lookups"]] == ["homes", "ratings"]
    assert fs.score_batch(uri, spark.createDataFrame([(1, T0)], "home_id long, ts timestamp")).count() == 1
    for name in ("homes", "ratings"):
        table = fs.get_table(name)
        assert table.runs == [run_id]
        assert table.models == [fs.workspace.model_name("homes_price")]
        assert table.lineage[0]["model_uri"] == info.model_uri and table.lineage[0]["table_version"] == 0


def test_score_batch_uses_the_cached_metadata_and_the_batch_udf(trained, spark, workspace,
                                                                monkeypatch):
    """Metadata through registry.info's per-version cache, scoring through deployment.batch."""
    from mlops_kit.features import packaging

    seen = {"info": [], "udf": []}
    real_info, real_udf = packaging.registry_info.model_info, packaging.prediction_udf
    monkeypatch.setattr(packaging.registry_info, "model_info",
                        lambda uri: seen["info"].append(uri) or real_info(uri))
    monkeypatch.setattr(packaging, "prediction_udf",
                        lambda uri, **kw: seen["udf"].append(uri) or real_udf(uri, **kw))
    uri = f"models:/{workspace.model_name('homes_price')}/1"
    keys = spark.createDataFrame([(1, T0)], "home_id long, ts timestamp")
    assert trained[0].score_batch(uri, keys).count() == 1
    assert seen == {"info": [uri], "udf": [uri]}


def test_missing_keys_and_unknown_models_fail_clearly(trained, spark):
    fs, _, info, _ = trained
    with pytest.raises(DataError, match="the DataFrame does not have"):
        fs.score_batch(info.model_uri, spark.createDataFrame([(1,)], "other long"))
    import mlflow
    from sklearn.linear_model import LinearRegression

    plain = mlflow.sklearn.log_model(LinearRegression().fit([[1.0]], [1.0]), name="plain",
                                     pip_requirements=pip_requirements())
    with pytest.raises(DataError, match="has no feature spec"):
        fs.score_batch(plain.model_uri, spark.createDataFrame([(1,)], "home_id long"))

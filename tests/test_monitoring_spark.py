"""The Spark path computes the same drift results as the pandas path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit.datasets import change_category_mix, change_units, ice_cream_sales, inject_nulls
from mlops_kit.monitoring import Monitor

pytestmark = [pytest.mark.spark, pytest.mark.both_engines]
FEATURES = dict(numeric=["temperature", "humidity", "price_per_cone"], categorical=["flavour", "store"],
                label="cones_sold")


@pytest.fixture(scope="module")
def frames():
    reference = ice_cream_sales(3000, seed=1)
    current = inject_nulls(change_category_mix(change_units(ice_cream_sales(3000, seed=2), "temperature", "C->F"),
                                               "flavour", {"Chocolate": 1, "Vanilla": 1}, seed=1),
                           "humidity", 0.1, seed=2)
    return reference, current


def _key(frame):
    return frame.set_index(["feature", "test"]).sort_index()


def test_exact_path_equals_pandas(spark, frames):
    """Few distinct values per column: Spark's value counts give scipy-equal results."""
    reference, current = frames
    pandas = Monitor(reference, **FEATURES).run(current)
    on_spark = Monitor(spark.createDataFrame(reference), **FEATURES).run(spark.createDataFrame(current))
    a, b = _key(pandas.results), _key(on_spark.results)
    assert (a["drifted"] == b["drifted"]).all()
    np.testing.assert_allclose(b["statistic"], a["statistic"], rtol=1e-9)
    np.testing.assert_allclose(b["p_value"], a["p_value"], rtol=1e-6, atol=1e-300)
    assert on_spark.drifted_features == pandas.drifted_features
    stats = on_spark.summary_stats.set_index(["feature", "stat"])
    assert stats.loc[("humidity", "null_count"), "current"] == current["humidity"].isna().sum()


def test_binned_path_is_close_to_pandas(spark):
    """Continuous columns forced through quantile bins: KS within one bin's mass."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=4000), "y": rng.gamma(2.0, size=4000)})
    current = pd.DataFrame({"x": rng.normal(0.15, 1.1, size=3000), "y": rng.gamma(2.0, size=3000)})
    pandas = _key(Monitor(reference).run(current).results)
    options = {"exact_max_distinct": 0, "bins": 500}
    binned = _key(Monitor(spark.createDataFrame(reference), spark_options=options)
                  .run(spark.createDataFrame(current)).results)
    assert abs(binned.loc[("x", "ks"), "statistic"] - pandas.loc[("x", "ks"), "statistic"]) <= 2 / 500 + 1e-3
    for test, tol in [("js", 0.02), ("psi", 0.02), ("wasserstein", 0.02)]:
        assert binned.loc[("x", test), "distance"] == pytest.approx(pandas.loc[("x", test), "distance"], abs=tol)
    assert binned.loc[("x", "levene"), "statistic"] == pytest.approx(pandas.loc[("x", "levene"), "statistic"], rel=0.1)
    assert (binned["drifted"] == pandas["drifted"]).all()


def test_spark_report_writes_delta_with_spark(spark, frames, workspace):
    reference, current = frames
    report = Monitor(reference, **FEATURES).run(spark.createDataFrame(current))
    path = report.to_delta("drift_spark", spark=spark)
    stored = spark.read.format("delta").load(path)
    assert stored.count() == len(report.results)
    assert stored.where("drifted").select("feature").distinct().count() == len(report.drifted_features)

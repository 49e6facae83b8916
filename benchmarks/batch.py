"""Batch scoring throughput: spark_udf on Spark vs in-process pandas predict.

Same registered model, same rows, same run. For each model (a Ridge pipeline
and a random forest) it prints rows/s for:

- pandas: ``pyfunc.load_model(uri).predict(frame)`` in this process (baseline);
- spark cold: the first spark_udf pass (Python workers start, model loads);
- spark warm: a second pass (workers and model reused).

The last lines are the warm ratios spark/pandas. Goals on a 2-core machine:
>= 1.0x for the tree ensemble, >= 0.25x for the linear pipeline.

Usage: python benchmarks/batch.py [--rows 1000000] [--trees 50]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd


def _data(rows: int, features: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, features)), columns=[f"f{i}" for i in range(features)])
    return frame


def _register(name: str, estimator, train: pd.DataFrame) -> str:
    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    y = train["f0"] * 2 - train["f1"] + np.sin(train["f2"])
    estimator.fit(train, y)
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(train.head(), y.head()),
            registered_model_name=name,
            skops_trusted_types=trusted,
        )
    return f"models:/{name}/{info.registered_model_version}"


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=50)
    args = parser.parse_args()

    import mlflow.pyfunc
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_kit.deployment.batch import score_dataframe
    from mlops_kit.spark import get_spark
    from mlops_kit.workspace import Workspace

    # a throughput run: let the JVM's optimising compiler work (lessons start C1-only)
    os.environ.setdefault("MLOPS_KIT_SPARK_FULL_JIT", "1")
    ws = Workspace.from_env(root=tempfile.mkdtemp(prefix="bench-batch-"), user="bench").activate()
    ws.set_experiment("batch_benchmark")
    frame = _data(args.rows)
    train = _data(5_000, seed=1)
    models = {
        "ridge_pipeline": make_pipeline(StandardScaler(), Ridge()),
        f"random_forest_{args.trees}": RandomForestRegressor(
            n_estimators=args.trees, max_depth=10, n_jobs=1, random_state=0
        ),
    }
    spark = get_spark(ws)
    sdf = spark.createDataFrame(frame).repartition(spark.sparkContext.defaultParallelism).cache()
    sdf.count()
    ratios = {}
    print(f"rows={args.rows:,} cores={spark.sparkContext.defaultParallelism}")
    for label, estimator in models.items():
        uri = _register(ws.model_name(label), estimator, train)
        model = mlflow.pyfunc.load_model(uri)
        start = time.perf_counter()
        model.predict(frame)
        pandas_rate = _rate(args.rows, time.perf_counter() - start)
        timings = []
        for _ in range(2):  # cold, then warm
            start = time.perf_counter()
            score_dataframe(sdf, uri).write.format("noop").mode("overwrite").save()
            timings.append(time.perf_counter() - start)
        cold, warm = (_rate(args.rows, t) for t in timings)
        ratios[label] = warm / pandas_rate
        print(
            f"{label:>20}: pandas {pandas_rate:>12,.0f} rows/s | spark cold {cold:>12,.0f} rows/s"
            f" | spark warm {warm:>12,.0f} rows/s"
        )
    for label, ratio in ratios.items():
        print(f"ratio warm spark_udf / pandas predict [{label}]: {ratio:.2f}x")


if __name__ == "__main__":
    main()

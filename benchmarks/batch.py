"""Batch scoring throughput: Spark vs in-process pandas predict.

Same registered model, same rows, same run. For each model (a Ridge pipeline
and a random forest) it prints rows/s for:

- pandas: ``pyfunc.load_model(uri).predict(frame)`` in this process (baseline),
  cold (first call) and warm (best of the next ``--repeats``);
- udf: ``score_dataframe(engine="udf")``, i.e. spark_udf over the cached rows,
  cold (first pass: Python workers start, model loads) and warm (best of the
  next ``--repeats``: workers and model reused);
- kit: ``score_dataframe`` as jobs call it (``engine="auto"``): the linear
  pipeline compiled into one Spark SQL expression, the forest through spark_udf.

The last lines are the warm/warm ratios against pandas. Goals on a 2-core
machine: >= 1.0x for the tree ensemble, >= 0.25x for the linear pipeline.

Usage: python benchmarks/batch.py [--rows 1000000] [--trees 50] [--repeats 20]
"""
from __future__ import annotations

import argparse
import gc
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

    from mlops_kit._price_model import pip_requirements

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
            pip_requirements=pip_requirements(),
        )
    return f"models:/{name}/{info.registered_model_version}"


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20, help="warm runs; the best one counts")
    args = parser.parse_args()

    import mlflow.pyfunc
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_kit.deployment.batch import score_dataframe, scoring_engine
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

        def spark_pass(engine: str):
            return lambda: score_dataframe(sdf, uri, engine=engine).write.format("noop").mode("overwrite").save()

        # each path runs as a batch job would, back to back, from a collected heap
        # (no leftovers of the path before); its first run is cold, its best later run warm
        runs = {"pandas": lambda: model.predict(frame), "auto": spark_pass("auto"), "udf": spark_pass("udf")}
        times: dict[str, list[float]] = {}
        for name, run in runs.items():
            gc.collect()
            spark.sparkContext._jvm.System.gc()
            times[name] = [_timed(run) for _ in range(1 + args.repeats)]
        cold = {name: _rate(args.rows, t[0]) for name, t in times.items()}
        warm = {name: _rate(args.rows, min(t[1:])) for name, t in times.items()}
        print(f"{label:>20}: " + " | ".join(
            f"{name} cold {cold[name]:>12,.0f} warm {warm[name]:>12,.0f}" for name in runs) + " rows/s")
        used = scoring_engine(sdf, uri)[0]
        ratios[f"spark_udf / warm pandas predict [{label}]"] = warm["udf"] / warm["pandas"]
        ratios[f"score_dataframe ({used}) / warm pandas predict [{label}]"] = warm["auto"] / warm["pandas"]
    for label, ratio in ratios.items():
        print(f"ratio warm {label}: {ratio:.2f}x")

if __name__ == "__main__":
    main()

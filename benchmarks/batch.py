"""Batch scoring throughput: Spark vs in-process pandas predict, on either engine.

Same registered model, same rows, same run. For each model (a Ridge pipeline
and a random forest) it prints rows/s for:

- pandas: ``pyfunc.load_model(uri).predict(frame)`` in this process (baseline),
  cold (first call) and warm (best of the next ``--repeats``);
- udf: ``score_dataframe(engine="udf")``, i.e. spark_udf over the cached rows,
  cold (first pass: Python workers start, model loads) and warm;
- kit: ``score_dataframe`` as jobs call it (``engine="auto"``): the linear
  pipeline compiled into one Spark SQL expression, the forest through spark_udf.

What each side includes, so the comparison is fair: every path starts from the
same rows already in memory (a pandas frame here; the same values cached in
Spark, read back from a Parquet copy so the query plan does not carry the data)
and ends with one prediction per row: pandas returns them as an array, a Spark
pass computes the prediction column of every row into Spark's ``noop`` sink
(nothing else is written or sent back). A Spark pass is timed whole, as a job
calls it: model lookup, compiling, planning and the run. Making the data (and
caching it) is outside every timing. The warm runs go in rounds, one run of each
path per round, so that every path sees the same load on a shared machine.

Runs on both engines: the default (the workspace's Spark Connect server, or
``MLOPS_KIT_SPARK_MASTER``) and ``MLOPS_KIT_SPARK=local`` (a JVM in this
process). Only SQL and DataFrame calls, no ``sparkContext``.

The last lines are the warm/warm ratios against pandas. Goal: >= 1.0x for both
models on both engines (1M rows, warm, 5 repeats).

Usage: python benchmarks/batch.py [--rows 1000000] [--trees 50] [--repeats 5]
                                  [--models ridge,forest] [--paths pandas,auto,udf]
"""
from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time

import numpy as np
import pandas as pd

MODELS = ("ridge", "forest")
PATHS = ("pandas", "auto", "udf")


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


def spark_cores(spark) -> int:
    """Spark's default parallelism, asked in SQL (``sparkContext`` is JVM-only).

    ``range`` without a partition count splits into the default parallelism.
    """
    return int(spark.sql(
        "SELECT count(DISTINCT part) FROM (SELECT spark_partition_id() AS part FROM range(65536))"
    ).first()[0])


def collect_jvm_heap(spark) -> bool:
    """A full GC of a JVM this process owns, through SQL; False (and none) on a server.

    A Spark Connect server is shared: forcing its collection would pause every
    other client's queries, so there each path starts from the heap it finds.
    """
    from mlops_kit.spark import is_connect

    if is_connect(spark):
        return False
    spark.sql("SELECT reflect('java.lang.System', 'gc')").collect()
    return True


def cached_rows(spark, frame: pd.DataFrame, folder: str, partitions: int):
    """``frame`` as a DataFrame cached in Spark, planned as a scan of a Parquet copy.

    ``spark.createDataFrame(frame)`` keeps the rows inside the query plan:
    over Spark Connect every later query would ship the frame to the server
    again (a 1M x 8 frame took seconds a query). Written once and read back,
    the plan names files; the cache holds the rows.
    """
    path = os.path.join(folder, "rows.parquet")
    spark.createDataFrame(frame).write.mode("overwrite").parquet(path)
    sdf = spark.read.parquet(path).repartition(partitions).cache()
    assert sdf.count() == len(frame)
    return sdf


def _load_average() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - not on this platform
        return "unknown"


def _choice(text: str, allowed: tuple[str, ...]) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        raise SystemExit(f"choose from {', '.join(allowed)}; got {text!r}")
    return chosen


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5, help="warm runs; the best one counts")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: ridge, forest")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated: pandas, auto, udf")
    args = parser.parse_args(argv)
    chosen_models, chosen_paths = _choice(args.models, MODELS), _choice(args.paths, PATHS)

    import mlflow.pyfunc
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_kit.deployment.batch import score_dataframe, scoring_engine
    from mlops_kit.spark import get_spark, is_connect
    from mlops_kit.workspace import Workspace

    # a throughput run: let a local JVM's optimising compiler work (lessons start C1-only)
    os.environ.setdefault("MLOPS_KIT_SPARK_FULL_JIT", "1")
    root = tempfile.mkdtemp(prefix="bench-batch-")
    ws = Workspace.from_env(root=root, user="bench").activate()
    ws.set_experiment("batch_benchmark")
    frame = _data(args.rows)
    train = _data(5_000, seed=1)
    models = {
        "ridge": ("ridge_pipeline", make_pipeline(StandardScaler(), Ridge())),
        "forest": (f"random_forest_{args.trees}", RandomForestRegressor(
            n_estimators=args.trees, max_depth=10, n_jobs=1, random_state=0)),
    }
    spark = get_spark(ws)
    cores = spark_cores(spark)
    sdf = cached_rows(spark, frame, root, cores)
    engine = "Spark Connect server" if is_connect(spark) else "local JVM in this process"
    print(f"rows={args.rows:,} cores={cores} engine={engine} load average={_load_average()}",
          flush=True)
    ratios: dict[str, float] = {}
    for key in chosen_models:
        label, estimator = models[key]
        uri = _register(ws.model_name(label), estimator, train)
        model = mlflow.pyfunc.load_model(uri)

        def spark_pass(engine: str):
            return lambda: (score_dataframe(sdf, uri, engine=engine).select("prediction")
                            .write.format("noop").mode("overwrite").save())

        every = {"pandas": lambda: model.predict(frame), "auto": spark_pass("auto"),
                 "udf": spark_pass("udf")}
        runs = {name: every[name] for name in chosen_paths}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for name, run in runs.items():  # cold: each path's first run, from a collected heap
            gc.collect()
            collect_jvm_heap(spark)
            times[name].append(_timed(run))
        for _ in range(args.repeats):  # warm: rounds, so every path sees the same load
            for name, run in runs.items():
                times[name].append(_timed(run))
        cold = {name: _rate(args.rows, t[0]) for name, t in times.items()}
        warm = {name: _rate(args.rows, min(t[1:] or t)) for name, t in times.items()}
        print(f"{label:>20}: " + " | ".join(
            f"{name} cold {cold[name]:>12,.0f} warm {warm[name]:>12,.0f}" for name in runs)
            + " rows/s", flush=True)
        if "pandas" not in runs:
            continue
        if "udf" in runs:
            ratios[f"spark_udf / warm pandas predict [{label}]"] = warm["udf"] / warm["pandas"]
        if "auto" in runs:
            used = scoring_engine(sdf, uri)[0]
            ratios[f"score_dataframe ({used}) / warm pandas predict [{label}]"] = (
                warm["auto"] / warm["pandas"])
    for label, ratio in ratios.items():
        print(f"ratio warm {label}: {ratio:.2f}x")
    print(f"load average at the end: {_load_average()}")
    sdf.unpersist()
    return ratios


if __name__ == "__main__":
    main()

"""Pipelines to Spark SQL: the kit's ``compiled.py`` vs ``orbital``, coverage and speed.

``orbital`` (PyPI) turns a fitted scikit-learn pipeline into SQL through ONNX
(skl2onnx) and ibis, trees included. The kit compiles linear pipelines itself
(:mod:`mlops_kit.deployment.compiled`). This compares the two on the kit's own
pipelines (the shapes ``tests/test_deployment_compiled.py`` checks, the
course's price model, ridge and forest, and the batch benchmark's models):

- coverage: for each pipeline, does each compiler give SQL whose predictions,
  run by Spark on rows with gaps and unseen categories where the pipeline
  imputes, equal scikit-learn's ``predict`` to 1e-9 (relative, as the kit's
  tests ask)? Printed: exact, the largest relative error, or why it failed;
- speed: the batch benchmark's Ridge pipeline and a small forest (the
  50-tree forest too with ``--forests``) over ``--rows`` cached rows: best of ``--repeats`` warm passes
  of each SQL into Spark's ``noop`` sink, same rows, prediction column only.

orbital is not a dependency of the kit (see docs/PERFORMANCE.md, batch
section); install it beside the kit to run this, e.g.
``pip install --target /tmp/orbital orbital`` and ``PYTHONPATH=/tmp/orbital``.
Runs on both engines (the default Connect server, or ``MLOPS_KIT_SPARK=local``).

Run: ``.venv/bin/python benchmarks/orbital_sql.py [--rows 200000] [--repeats 5]``
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FOREST = "batch benchmark forest (50 trees, depth 10)"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def orbital_sql(estimator, frame: pd.DataFrame, view: str) -> str:
    """orbital's SQL for ``estimator`` over the view ``view`` (Spark dialect)."""
    import ibis
    import orbital
    import orbital.types
    from ibis.backends.pyspark import Backend
    from ibis.backends.sql.compilers import pyspark as compiler
    from orbital.translate import translate

    Backend.register_options()  # the Spark compiler reads ibis.options.pyspark
    parsed = orbital.parse_pipeline(estimator, features=orbital.types.guess_datatypes(frame))
    table = ibis.table(schema={k: v._to_ibistype() for k, v in parsed.features.items()}, name=view)
    return compiler.compiler.to_sqlglot(translate(table, parsed)).sql(dialect="spark")


def _cases(forests: bool):
    """(label, unfitted estimator, train frame, test frame, input columns) of the kit's pipelines."""
    import test_deployment_compiled as shapes
    from batch import _data
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_kit._price_model import CATEGORICAL_FEATURES, NUMERIC_FEATURES, price_pipeline
    from mlops_kit.datasets.listings import listings

    for label, (estimator, columns) in shapes._pipelines().items():
        inputs = columns or ["size", "rooms", "rating", "kind"]
        test = shapes._with_gaps(shapes._frame(300, seed=1)) if columns is None else shapes._frame(300, seed=1)
        yield label, estimator, shapes._frame()[inputs + ["price"]], test[inputs], inputs
    inputs = NUMERIC_FEATURES + CATEGORICAL_FEATURES
    train, test = listings(600, seed=1), listings(300, seed=2)[inputs]
    test.loc[::8, NUMERIC_FEATURES[0]] = np.nan
    test.loc[3, CATEGORICAL_FEATURES[0]] = "nowhere the model has seen"
    yield "course price model (ridge)", price_pipeline("ridge"), train, test, inputs
    if forests:
        yield "course price model (forest)", price_pipeline("forest"), train, test, inputs
    bench_train = _data(5_000, seed=1)
    bench_train["price"] = bench_train["f0"] * 2 - bench_train["f1"] + np.sin(bench_train["f2"])
    features = [f"f{i}" for i in range(8)]
    yield ("batch benchmark ridge pipeline", make_pipeline(StandardScaler(), Ridge()),
           bench_train, _data(300, seed=2), features)
    yield ("small forest (5 trees, depth 4)",
           RandomForestRegressor(n_estimators=5, max_depth=4, n_jobs=1, random_state=0),
           bench_train, _data(300, seed=2), features)
    if forests:
        yield (FOREST, RandomForestRegressor(n_estimators=50, max_depth=10, n_jobs=1, random_state=0),
               bench_train, _data(300, seed=2), features)


def _verdict(spark, sql_of, estimator, test: pd.DataFrame, inputs, view: str):
    """('exact' | 'off by X' | 'fails: why', seconds to compile)."""
    started = time.perf_counter()
    try:
        sdf = spark.createDataFrame(test)
        sdf.createOrReplaceTempView(view)
        query = sql_of(estimator, sdf, test, view)
        seconds = time.perf_counter() - started
        got = spark.sql(query).toPandas().iloc[:, 0].to_numpy(dtype=float)
    except Exception as err:  # noqa: BLE001 - the reason is the result
        return f"fails: {type(err).__name__}: {str(err).splitlines()[0][:90]}", None
    expected = estimator.predict(test[inputs])
    error = float(np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-300)))
    return ("exact" if error <= 1e-9 else f"off by {error:.1e} (relative)"), seconds


def _kit_sql(estimator, sdf, test, view):
    from mlops_kit.deployment.compiled import compile_estimator

    return f"SELECT {compile_estimator(estimator, sdf.schema, list(test.columns))} AS prediction FROM {view}"


def _orbital_sql(estimator, sdf, test, view):
    return orbital_sql(estimator, test, view)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--forests", action="store_true",
                        help="also the 50-tree forests (orbital's SQL for one kept Spark's "
                             "analyser busy for minutes here)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("orbital") is None:
        sys.exit("orbital is not installed here: see this script's docstring")
    from importlib.metadata import version

    from batch import _data, cached_rows, spark_cores

    from mlops_kit.spark import get_spark, is_connect
    from mlops_kit.workspace import Workspace

    root = tempfile.mkdtemp(prefix="bench-orbital-")
    ws = Workspace.from_env(root=root, user="bench").activate()
    spark = get_spark(ws)
    print(f"orbital {version('orbital')}, engine: "
          f"{'Spark Connect server' if is_connect(spark) else 'local JVM'}")
    print(f"{'pipeline':48s} {'compiled.py':28s} orbital")
    fitted = {}
    for number, (label, estimator, train, test, inputs) in enumerate(_cases(args.forests)):
        estimator.fit(train[inputs], train["price"])
        fitted[label] = estimator
        kit, _ = _verdict(spark, _kit_sql, estimator, test, inputs, f"kit_{number}")
        theirs, seconds = _verdict(spark, _orbital_sql, estimator, test, inputs, f"orb_{number}")
        took = f" (SQL in {seconds:.1f} s)" if seconds is not None else ""
        print(f"{label:48s} {kit[:28]:28s} {theirs}{took}", flush=True)

    frame = _data(args.rows)
    sdf = cached_rows(spark, frame, root, spark_cores(spark))
    sdf.createOrReplaceTempView("rows")
    print(f"\nspeed over {args.rows:,} cached rows, best of {args.repeats} warm noop passes:")
    for label in ("batch benchmark ridge pipeline", "small forest (5 trees, depth 4)", FOREST):
        estimator = fitted.get(label)
        if estimator is None:
            continue
        for name, sql_of in (("compiled.py", _kit_sql), ("orbital", _orbital_sql)):
            try:
                query = sql_of(estimator, sdf, frame, "rows")
            except Exception as err:  # noqa: BLE001
                print(f"  {label} / {name}: no SQL ({type(err).__name__})")
                continue
            run = spark.sql(query)
            times = []
            for _ in range(1 + args.repeats):  # the first is cold: not counted
                started = time.perf_counter()
                run.write.format("noop").mode("overwrite").save()
                times.append(time.perf_counter() - started)
            best = min(times[1:])
            print(f"  {label} / {name}: cold {times[0]:.2f} s, warm best {best:.3f} s "
                  f"({args.rows / best:,.0f} rows/s)", flush=True)
    sdf.unpersist()


if __name__ == "__main__":
    main()

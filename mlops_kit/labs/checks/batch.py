"""Checks of the batch scoring lab (``solutions/03-deployment/01L-batch-lab.ipynb``).

Every check recomputes the truth from the learner's own data and compares
what the answer does: ex1 loads the pinned URI and scores last night's rows
with it (the table's newest commit is the truth, its history tells an
earlier run apart); ex2 rebuilds tonight's listings from the learner's seed
(:mod:`mlops_kit.labs.scenarios`) and compares, listing by listing, which are
scored and at what price; ex3 and ex4 score in-process with ``pyfunc.predict``
on the same rows. An answer is right because its predictions are, not
because it has the right shape.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

#: rows compared against in-process predictions
SAMPLE_ROWS = 50


def _expected(model_uri: str, rows):
    """In-process predictions of the model for the pandas frame ``rows``."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    inputs = model.metadata.get_input_schema().input_names()
    return model.predict(rows[inputs]), inputs


def _compare(actual, expected, what: str) -> CheckResult:
    import numpy as np

    actual = np.asarray(actual, dtype=float).ravel()
    expected = np.asarray(expected, dtype=float).ravel()
    if actual.shape != expected.shape:
        return CheckResult.fail(f"{what}: {actual.size} predictions for {expected.size} rows")
    if not np.allclose(actual, expected, rtol=1e-6, atol=1e-6):
        worst = float(np.max(np.abs(actual - expected)))
        return CheckResult.fail(
            f"{what}: predictions differ from the model's by up to {worst:.3g}",
            hint="Feed the model exactly its signature's input columns, in one struct, unchanged.",
        )
    return CheckResult.ok(f"{what}: {actual.size} predictions equal the model's")


def _load(model_uri: str):
    import mlflow

    return mlflow.pyfunc.load_model(model_uri)


def _night(nightly_path: str, version: int | None = None):
    """Last night's predictions table (pandas, by id); ``version``: an earlier commit."""
    from mlops_kit.spark import get_spark

    reader = get_spark().read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(nightly_path).toPandas().sort_values("id").reset_index(drop=True)


def _reproduces(model, night) -> tuple[bool, float]:
    import numpy as np

    inputs = model.metadata.get_input_schema().input_names()
    got = np.asarray(model.predict(night[inputs]), dtype=float)
    want = night["prediction"].to_numpy(dtype=float)
    worst = float(np.max(np.abs(got - want))) if len(want) else 0.0
    return bool(np.allclose(got, want, rtol=1e-6, atol=1e-6)), worst


@checker("batch", "ex1", title="Pin the version that scored last night", hints=[
    "A Delta table remembers more than its rows: read its history, newest commit first, and "
    "what each commit says about how it was written.",
    "Every registered version records the MLflow run it came from, and the registry can be "
    "searched by that run.",
])
def check_pinned(value: Any, *, nightly_path: str, **_: Any) -> CheckResult:
    """``value`` is a URI naming one fixed model that reproduces last night's predictions table.

    The check loads the URI and scores last night's rows with it: the answer is
    right when its prices are the table's, commit for commit the latest one.
    """
    if not isinstance(value, str) or not value.strip():
        return CheckResult.fail(f"expected a model URI (a string), got a {type(value).__name__}",
                                hint="Keep the URI of the version you decided on, as a string.")
    if "@" in value.rsplit("/", 1)[-1]:
        return CheckResult.fail(
            f"{value!r} names an alias: it means whichever version the alias points to when the "
            f"job reads it, so a rerun tonight could score with another model",
            hint="Pin one version: by its number, or by where it is stored.")
    try:
        model = _load(value)
    except Exception as err:  # noqa: BLE001 - the learner's URI
        return CheckResult.fail(f"no model could be loaded from {value!r}: "
                                f"{str(err).splitlines()[0][:200]}",
                                hint="Use a URI of your own registry: models:/<full name>/<version>.")
    night = _night(nightly_path)
    same, worst = _reproduces(model, night)
    if same:
        return CheckResult.ok(f"that version reproduces all {len(night)} of last night's predictions")
    if _reproduces(model, _night(nightly_path, version=0))[0]:
        return CheckResult.fail(
            "that version scored the night's first run, but a later commit replaced those rows: "
            "the table holds another model's predictions now",
            hint="Read the table's history to its newest commit.")
    return CheckResult.fail(
        f"that model prices last night's listings differently from last night's table (by up to "
        f"{worst:.3g}), so it is not the version that scored them",
        hint="Which model wrote the table's current rows is recorded with the commit that wrote them.")


@checker("batch", "ex2", title="Score tonight's listings, one row per live listing", hints=[
    "Look at tonight's table before you score it: how many rows does one id have, and what do "
    "updated_at and status say about them?",
    "Decide which record of a listing is the one that counts, and only then whether the listing "
    "is to be scored at all.",
])
def check_scored(value: Any, *, seed: int, model_name: str, tonight_size: int,
                 **_: Any) -> CheckResult:
    """``value``: tonight's listings scored by last night's version, one row per live listing.

    The truth is each id's latest record, kept if it is live
    (:func:`mlops_kit.labs.scenarios.tonight_truth`), priced by the version of
    :func:`mlops_kit.labs.scenarios.nightly_plan` that re-ran last night.
    """
    import numpy as np

    from mlops_kit.labs.scenarios import nightly_plan, tonight_listings, tonight_truth
    from mlops_kit.labs.seeds import READER_COLUMNS

    if not hasattr(value, "columns") or not hasattr(value, "toPandas"):
        return CheckResult.fail(f"expected a Spark DataFrame, got a {type(value).__name__}",
                                hint="Keep the scored listings as a DataFrame.")
    need = ["id", "prediction", *READER_COLUMNS]
    absent = [c for c in need if c not in value.columns]
    if absent:
        return CheckResult.fail(f"the scored listings have no column {absent[0]!r}",
                                hint="Keep the listing's columns and add one named prediction; "
                                     "its readers filter on them.")
    got = value.select("id", "prediction").toPandas()
    frame = tonight_listings(tonight_size, seed=seed)
    truth = tonight_truth(frame)
    twice = int(got["id"].duplicated().sum())
    if twice:
        return CheckResult.fail(f"{twice} listing(s) are scored more than once: one listing, one price",
                                hint="Several records of one listing are changes to it, not listings.")
    live, scored = set(truth["id"]), set(got["id"])
    gone = sorted(scored - live)
    if gone:
        return CheckResult.fail(
            f"{len(gone)} scored listing(s) are not live tonight: their newest record withdraws them",
            hint="Whether a listing counts is decided by its newest record, not by any record.")
    lost = sorted(live - scored)
    if lost:
        return CheckResult.fail(
            f"{len(lost)} live listing(s) were not scored: their newest record is live",
            hint="A listing withdrawn and then listed again is live.")
    _, _, version = nightly_plan(seed)
    model = _load(f"models:/{model_name}/{version}")
    inputs = model.metadata.get_input_schema().input_names()
    want = dict(zip(truth["id"], np.asarray(model.predict(truth[inputs]), dtype=float)))
    by_id = got.set_index("id")["prediction"].astype(float)
    wrong = [i for i in truth["id"] if not np.isclose(by_id[i], want[i], rtol=1e-6, atol=1e-6)]
    if wrong:
        stale = frame[frame["id"].isin(wrong)]
        stale_prices = np.asarray(model.predict(stale[inputs]), dtype=float)
        from_stale = any(np.isclose(by_id[i], p, rtol=1e-6, atol=1e-6)
                         for i, p in zip(stale["id"], stale_prices))
        why = ("some come from a record that a later one replaced" if from_stale
               else "they are not the prices of the version you pinned")
        return CheckResult.fail(
            f"{len(wrong)} of {len(truth)} predictions differ from the pinned version's for the "
            f"listing's newest record: {why}",
            hint="Score with the version of exercise 1, the record that counts for each listing.")
    return CheckResult.ok(f"{len(truth)} live listings scored once each, from their newest record")


#: a partition column with more values than this splits the table into tiny files
MAX_PARTITION_VALUES = 50


def _partitioning_problem(partitions: list[str], column: str, listings_df) -> str | None:
    """Why ``partitions`` do not serve readers who all filter on ``column``, or None."""
    if partitions == [column]:
        return None
    if not partitions:
        return "so every reader query reads every file"
    counts = {c: listings_df.select(c).distinct().count() for c in partitions
              if c in listings_df.columns}
    fine = [c for c in partitions if counts.get(c, MAX_PARTITION_VALUES + 1) > MAX_PARTITION_VALUES]
    if fine:
        return (f"and {fine[0]!r} alone has more than {MAX_PARTITION_VALUES} values, so the table "
                f"is split into many tiny partitions")
    if column in partitions:
        return "so one value of the column every query asks for is spread over many small partitions"
    return (f"but some of your readers' queries do not filter on {partitions[0]!r}, so they still "
            f"read every partition")


@checker("batch", "ex3", title="Predictions as a Delta table laid out for its readers", hints=[
    "Read the readers' queries: what does every one of them ask for, and how many distinct "
    "values can that have?",
    "Partition by a column that every query filters on with '=', that has few distinct values, "
    "and by nothing else; replace what an earlier run left there.",
])
def check_table(value: Any, *, model_uri: str, listings_df, **_: Any) -> CheckResult:
    """``value`` is the path of a Delta table with all predictions, partitioned for the readers.

    The readers' column is the learner's own (:func:`mlops_kit.labs.seeds.reader_column`).
    """
    from mlops_kit.delta import table_detail, table_exists
    from mlops_kit.labs.seeds import learner_seed, reader_column
    from mlops_kit.spark import get_spark

    path = str(value)
    if not table_exists(path):
        return CheckResult.fail(f"no Delta table at {path}",
                                hint="Write scored_df in the Delta format to output_path, then pass that path.")
    spark = get_spark()
    partitions = list(table_detail(path, spark=spark)["partitionColumns"])
    why = _partitioning_problem(partitions, reader_column(learner_seed("batch-readers")), listings_df)
    if why:
        return CheckResult.fail(
            f"the table is partitioned by {partitions}, {why}",
            hint="Partition by the one column all of reader_queries ask for with '=', if it has "
                 "few values.",
        )
    table = spark.read.format("delta").load(path)
    if table.count() != listings_df.count() or "prediction" not in table.columns:
        return CheckResult.fail(
            f"the table has {table.count()} rows and columns {table.columns}; expected "
            f"{listings_df.count()} rows with a 'prediction' column",
            hint="Overwrite the table with all the scored listings.",
        )
    rows = table.orderBy("id").limit(SAMPLE_ROWS).toPandas()
    expected, _ = _expected(model_uri, rows)
    return _compare(rows["prediction"], expected, "table")


@checker("batch", "ex4", title="Repair the partner feed", hints=[
    "Scoring is not the hard part: the feed must first look like what the model was trained on. "
    "Compare the feed's columns with inputs, then its values with tonight_df.",
    "Check names first (which input is missing, which column is unknown), then ranges and "
    "positions, column by column (describe() on both).",
])
def check_feed(value: Any, *, model_uri: str, feed_seed: int, feed_size: int, **_: Any) -> CheckResult:
    """``value`` is the repaired feed with ``listing_id`` and a ``prediction`` equal to the model's."""
    import pandas as pd

    from mlops_kit.labs.scenarios import repair_app_rows

    if not hasattr(value, "columns") or not hasattr(value, "toPandas"):
        return CheckResult.fail(f"expected a Spark DataFrame, got a {type(value).__name__}",
                                hint="Keep the scored, repaired feed as a DataFrame.")
    missing = [c for c in ("listing_id", "prediction") if c not in value.columns]
    if missing:
        return CheckResult.fail(f"the scored feed has no column {missing[0]!r}",
                                hint="Keep listing_id and add the prediction column, as in exercise 2.")
    rows = value.orderBy("listing_id").toPandas()
    if len(rows) != feed_size:
        return CheckResult.fail(f"{len(rows)} rows scored; the feed has {feed_size}",
                                hint="Repair values, do not drop rows.")
    model_inputs = _model_inputs(model_uri)
    truth = pd.DataFrame(repair_app_rows(model_inputs, feed_size, seed=feed_seed))
    absent = [c for c in model_inputs if c not in rows.columns]
    if absent:
        return CheckResult.fail(f"the scored feed lacks the model input {absent[0]!r}",
                                hint="Keep the input columns, under the names the model knows.")
    for column in model_inputs:
        if not _same_values(rows[column], truth[column]):
            return CheckResult.fail(
                f"the feed was scored, but its {column!r} values are not what the model was "
                f"trained on, so the predictions are wrong",
                hint="Compare that column of the feed with the same column of tonight_df: a "
                     "scale or a position can differ.")
    expected, _ = _expected(model_uri, truth)
    return _compare(rows["prediction"], expected, "repaired feed")


def _same_values(got, want) -> bool:
    """Equal columns, numbers within 1e-6 relative, missing values equal to missing values."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(want) and pd.api.types.is_numeric_dtype(got):
        return bool(np.isclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float),
                               rtol=1e-6, atol=1e-9, equal_nan=True).all())
    return bool((got.fillna("<null>").astype(str).to_numpy()
                 == want.fillna("<null>").astype(str).to_numpy()).all())


def _model_inputs(model_uri: str) -> list[str]:
    import mlflow

    return list(mlflow.pyfunc.load_model(model_uri).metadata.get_input_schema().input_names())

"""Checks of the feature store lab (``solutions/01-experimentation/02L-...``).

The learner builds a time-based feature table from the review events (the
mean rating of each listing over its last ``WINDOW_DAYS`` days, per review
day), stamps each row with the moment its value becomes known, builds a
point-in-time training set from it, and picks the window length of a rating
feature by its validation error. The lab's data comes from :func:`lab_data`
(seeded by the notebook's ``seed`` and the learner): review events whose
listings change in quality during the year, one listing whose reviews tell a
7-day window from a 6- or 8-day one on every seed, and two label sets. Each
check recomputes what it verifies from the learner's own objects and data:

- ex1: the FeatureTable the learner passes is ``listing_ratings`` with key
  ``listing_id`` and timeseries column ``known_at``; its rows are read from
  the Delta table that FeatureTable points at (its own path, not whatever the
  store now holds under that name); (key, date) is unique; EVERY row's rolling
  mean equals a recomputation in pandas (a 6- or 8-day window, a rows window
  or a mean of daily means fails), and each row is stamped the day after its
  review day: a row stamped on the review day itself would be visible to a
  label observed that morning, before that day's evening reviews were written;
- ex2: the training set keeps every label row, and each gets the latest
  value whose stamp is at or before the label's time (the point-in-time
  rule), so no rating from after the label leaks into training;
- ex3: the window the learner picks for a next-review forecast is the one
  with the lowest error on the validation rows, and the learner's error
  table matches a recomputation on held-out rows (not the rows the model was
  fitted on).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from mlops_kit.labs import CheckResult, checker

__all__ = ["LAB_ID", "TABLE", "WINDOW_DAYS", "STAMP", "CANDIDATES", "expected_rolling",
           "lab_data", "window_errors"]

LAB_ID = "feature-store-lab"
TABLE = "listing_ratings"
WINDOW_DAYS = 7
FEATURE = "avg_rating_7d"
#: the timeseries column: the day a row's value is first known (review day + 1)
STAMP = "known_at"
TOLERANCE = 1e-6
#: the window lengths (days) exercise 3 compares
CANDIDATES = (7, 30, 90, 365)
#: exercise 3's target: the stars of a listing's next review
TARGET = "next_rating"
START = "2024-01-01"
#: reviews of the probe listing: (day after START, stars); a 6-day, 8-day or rows window,
#: or a mean of daily means, gives another value than the 7-day range on day 127 or 128
PROBE_REVIEWS = ((120, 1), (121, 5), (122, 4), (122, 4), (127, 5), (128, 2))


# --------------------------------------------------------------------------- data
def lab_data(n_listings: int = 200, n_events: int = 3000, seed: int = 42, *,
             user: str | None = None):
    """The lab's listings, review events, price labels and next-review labels (pandas).

    Listings change in quality on a day of the year (ratings move after it),
    so a rating window that is too short is noisy and one that is too long
    lags. The first listing's reviews are replaced by :data:`PROBE_REVIEWS`.
    The data depends on ``seed`` and on the learner (``user``, default the
    workspace user).
    """
    import numpy as np
    import pandas as pd

    from mlops_kit import datasets
    from mlops_kit.labs.seeds import learner_seed

    mixed = seed + learner_seed(LAB_ID, user=user) % 10_000
    listings = datasets.listings(n_listings, seed=mixed)
    events = _drift(listings, datasets.review_events(listings, n_events, seed=mixed + 1), mixed)
    events = _with_probe(events, int(listings["id"].iloc[0]))
    rng = np.random.default_rng(mixed + 3)
    labels = pd.DataFrame({
        "listing_id": listings["id"], "price": listings["price"],
        "label_time": pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, 365 * 24, len(listings)), unit="h"),
    })
    return listings, events, labels, _next_review_labels(events, min(3 * n_listings, len(events)), rng)


def _drift(listings, events, seed: int):
    """Re-draw each rating around the listing's score, shifted after its change day."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed + 2)
    ids = listings["id"].to_numpy()
    change = pd.Series(pd.Timestamp(START) + pd.to_timedelta(rng.integers(30, 335, len(ids)), unit="D"), index=ids)
    shift = pd.Series(rng.normal(0, 0.8, len(ids)), index=ids)
    score = listings.set_index("id")["review_scores_rating"].fillna(4.6)
    listing = events["listing_id"]
    after = events["event_time"].to_numpy() >= change.reindex(listing).to_numpy()
    mean = score.reindex(listing).to_numpy() + after * shift.reindex(listing).to_numpy()
    stars = np.clip(np.round(mean + rng.normal(0, 0.6, len(events))), 1, 5).astype(np.int64)
    return events.assign(rating=stars)


def _with_probe(events, listing: int):
    import pandas as pd

    start = pd.Timestamp(START)
    probe = pd.DataFrame({
        "listing_id": listing,
        "event_time": [start + pd.Timedelta(days=day, hours=10 + 3 * i)
                       for i, (day, _) in enumerate(PROBE_REVIEWS)],
        "rating": [stars for _, stars in PROBE_REVIEWS],
        "stay_nights": 2, "guests": 2,
    })
    rest = events[events["listing_id"] != listing].drop(columns="review_id")
    frame = pd.concat([rest, probe.astype(rest.dtypes.to_dict())], ignore_index=True)
    frame = frame.sort_values(["event_time", "listing_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "review_id", range(1, len(frame) + 1))
    return frame.astype({"review_id": "int64"})


def _next_review_labels(events, n: int, rng):
    """Label rows a little before a review; the label is that review's stars."""
    import numpy as np
    import pandas as pd

    picked = events.iloc[np.sort(rng.choice(len(events), size=n, replace=False))]
    before = pd.to_timedelta(rng.integers(1, 3 * 86_400, n), unit="s")
    return pd.DataFrame({
        "listing_id": picked["listing_id"].to_numpy(),
        "label_time": (picked["event_time"] - before).to_numpy(),
        TARGET: picked["rating"].to_numpy().astype("float64"),
        "split": np.where(rng.random(n) < 0.3, "valid", "train"),
    })


# ------------------------------------------------------------------- recomputation
def _rolled(events, days: int):
    """Per listing and review day: the review day and the mean over (day - days, day]."""
    import pandas as pd

    frame = events.assign(day=pd.to_datetime(events["event_time"]).dt.normalize())
    daily = frame.groupby(["listing_id", "day"])["rating"].agg(["sum", "count"]).reset_index()
    rolled = (daily.set_index("day").groupby("listing_id")[["sum", "count"]]
              .rolling(f"{days}D").sum().reset_index())
    return rolled.assign(value=rolled["sum"] / rolled["count"])


def expected_rolling(events, listing_ids=None, days: int = WINDOW_DAYS) -> dict[tuple[int, dt.date], float]:
    """``(listing, review day) -> mean rating over the days (d - days, d]`` (pandas)."""
    frame = events if listing_ids is None else events[events["listing_id"].isin(list(listing_ids))]
    rolled = _rolled(frame, days)
    return {(int(r.listing_id), r.day.date()): float(r.value) for r in rolled.itertuples()}


def window_errors(events, labels, days: int) -> tuple[float, float]:
    """(validation MAE, training MAE) of a linear forecast of the next review from a
    ``days``-day mean rating, looked up point-in-time; rows with no rating yet dropped."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from mlops_kit.features.reviews import point_in_time

    rolled = _rolled(events, days)
    features = pd.DataFrame({"listing_id": rolled["listing_id"],
                             STAMP: rolled["day"] + pd.Timedelta(days=1), "value": rolled["value"]})
    rows = point_in_time(labels, features).dropna(subset=["value"])
    train, valid = rows[rows["split"] == "train"], rows[rows["split"] != "train"]
    model = LinearRegression().fit(train[["value"]], train[TARGET])

    def mae(part) -> float:
        return float((part[TARGET] - model.predict(part[["value"]])).abs().mean())

    return mae(valid), mae(train)


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _is_spark_df(value: Any) -> bool:
    return hasattr(value, "schema") and hasattr(value, "collect")


@checker(LAB_ID, "ex1", title="A time-based feature table, stamped when known",
         hints=["for one listing, list its review days and ratings by hand and compare with "
                "your rows: which reviews does each row average, and when are they all known?",
                "average the ratings of the review day and the days just before it (a window "
                "over days, not rows), and stamp each row with the first day on which every "
                "review it averages has been written"])
def check_ex1(value: Any, *, events=None, **context: Any) -> CheckResult:
    """``value``: the FeatureTable returned by create_table; ``events``: the review events."""
    import pandas as pd

    from mlops_kit.features.metadata import FeatureTable
    from mlops_kit.spark import get_spark

    if not isinstance(value, FeatureTable):
        return CheckResult.fail(
            f"expected the FeatureTable that fs.create_table returns, got {type(value).__name__}",
            hint="keep what create_table returns, not the DataFrame you gave it")
    if value.name != TABLE:
        return CheckResult.fail(f"this feature table is named {value.name!r}, not {TABLE!r}",
                                hint="create the table under the name the exercise gives")
    if value.primary_keys != ["listing_id"] or value.timeseries_column != STAMP:
        return CheckResult.fail(
            f"the table's keys are {value.primary_keys} with timeseries column {value.timeseries_column!r}",
            hint=f"the key is the listing; the timeseries column is {STAMP!r}, the day a row becomes known")
    if FEATURE not in value.features:
        return CheckResult.fail(f"the table has no feature {FEATURE!r} (it has {value.features})",
                                hint=f"name the rolling mean column {FEATURE!r}")
    if not isinstance(events, pd.DataFrame):
        return CheckResult.fail(f"the check needs the review events (a pandas DataFrame), got "
                                f"{type(events).__name__}",
                                hint='lab.check("ex1", ratings_table, events=events)')
    try:  # the rows of THIS FeatureTable, wherever it points, not the store's table by name
        rows = get_spark().read.format("delta").load(str(value.path)).toPandas()
    except Exception:  # noqa: BLE001 - a missing or unreadable folder reads the same to a learner
        return CheckResult.fail(f"the feature table {value.name!r} has no data at {value.path}",
                                hint="run the cell that creates it again")
    if rows.duplicated(["listing_id", STAMP]).any():
        return CheckResult.fail(f"(listing_id, {STAMP}) is not unique",
                                hint="one row per listing and review day")
    expected = expected_rolling(events)
    got = {(int(r.listing_id), pd.Timestamp(getattr(r, STAMP)).date()): r.avg for r in
           rows.rename(columns={FEATURE: "avg"}).itertuples()}
    if set(got) != {(k, d + dt.timedelta(days=1)) for (k, d) in expected}:
        if set(got) == set(expected):
            return CheckResult.fail(
                "each row is stamped with its review day: a label observed that morning would "
                "see ratings written later that day",
                hint="when is the LAST review a row averages known? stamp the row then")
        return CheckResult.fail(
            f"the table has {len(got)} rows, one per listing and review day would give {len(expected)}",
            hint="group by listing and review day (and keep only days that have reviews)")
    for (listing, day), want in expected.items():
        have = got[(listing, day + dt.timedelta(days=1))]
        if have is None or pd.isna(have) or abs(have - want) > TOLERANCE:
            return CheckResult.fail(
                f"listing {listing}, reviews up to {day}: {FEATURE} is {have}, a recomputation gives "
                f"a different mean",
                hint=f"average every rating of the {WINDOW_DAYS} days that end on the review day "
                     "(a range window over days, weighted by reviews, not the last rows)")
    return CheckResult.ok(f"unique keys; all {len(expected)} rows match a recomputation and are "
                          "stamped when their reviews are known")


@checker(LAB_ID, "ex2", title="A point-in-time training set",
         hints=["each label row may only see feature values that existed at its own time",
                "give the lookup the label's timestamp column, so it picks the latest row "
                "stamped at or before it"])
def check_ex2(value: Any, *, labels=None, **context: Any) -> CheckResult:
    """``value``: the DataFrame of training_set.load_df(); ``labels`` the label rows."""
    from pyspark.sql import functions as F

    from mlops_kit.features import FeatureStoreClient

    if not _is_spark_df(value):
        return CheckResult.fail(f"expected a Spark DataFrame, got {type(value).__name__}",
                                hint="keep the DataFrame that the training set loads")
    if FEATURE not in value.columns or "label_time" not in value.columns:
        return CheckResult.fail(f"the training set lacks {FEATURE!r} or 'label_time' (it has {value.columns})",
                                hint="look up the feature with timestamp_lookup_key='label_time'")
    if labels is not None and value.count() != labels.count():
        return CheckResult.fail(f"the training set has {value.count()} rows, the labels {labels.count()}",
                                hint="a point-in-time lookup keeps every label row, with nulls when nothing matches")
    features = FeatureStoreClient().read_table(TABLE).select(
        "listing_id", F.col(STAMP).cast("timestamp").alias("fdate"), F.col(FEATURE).alias("fvalue"))
    known = F.col("fdate") <= F.col("label_time")
    expected = (
        value.select("listing_id", "label_time", F.col(FEATURE).alias("got"))
        .join(features, "listing_id", "left")
        .groupBy("listing_id", "label_time", "got")
        .agg(F.max_by(F.when(known, F.col("fvalue")), F.when(known, F.col("fdate"))).alias("want"))
    )
    wrong = expected.filter(~F.col("got").eqNullSafe(F.col("want"))).count()
    if wrong:
        return CheckResult.fail(
            f"{wrong} label row(s) did not get the latest {FEATURE} known at their label_time "
            "(a value from the future leaks into training, or the wrong row was picked)",
            hint="a lookup without the label's time takes the newest value, whenever it was written")
    return CheckResult.ok("every label row kept; each feature value is the latest known at the label time")


def _as_errors(errors: Any) -> dict[int, float] | None:
    """The learner's error table as ``{days: error}``, or None if it is not one."""
    items = getattr(errors, "items", None)
    if items is None:
        return None
    try:
        return {int(days): float(error) for days, error in items()}
    except (TypeError, ValueError):
        return None


@checker(LAB_ID, "ex3", title="Pick the rating window by its validation error",
         hints=["a window that fits the rows the model learned from best is not the one that "
                "forecasts best: judge each window on rows the model never saw",
                "fit each window's model on the 'train' rows only, measure the mean absolute "
                "error on the 'valid' rows (drop rows with no rating known yet), then compare "
                "the windows in your table"])
def check_ex3(value: Any, *, errors: Any = None, events=None, labels=None, **context: Any) -> CheckResult:
    """``value``: the chosen window in days; ``errors``: ``{days: validation MAE}``;
    ``events``/``labels``: the review events and the next-review labels (pandas)."""
    import pandas as pd

    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return CheckResult.fail(f"expected the chosen window as a number of days (int), got "
                                f"{type(value).__name__}",
                                hint="answer with one of the candidate windows, e.g. a key of your table")
    table = _as_errors(errors)
    if table is None:
        return CheckResult.fail(f"expected errors={{days: validation error}} (a dict), got "
                                f"{type(errors).__name__}",
                                hint="pass your error table as errors=..., one entry per window")
    if not isinstance(events, pd.DataFrame) or not isinstance(labels, pd.DataFrame):
        return CheckResult.fail("the check needs the review events and the next-review labels "
                                "(pandas DataFrames)", hint="pass events=events, labels=next_labels")
    missing = sorted(set(CANDIDATES) - set(table))
    if missing:
        return CheckResult.fail(f"your table has no error for the window(s) {missing} (days)",
                                hint=f"evaluate every candidate window: {list(CANDIDATES)}")
    truth = {days: window_errors(events, labels, days) for days in CANDIDATES}
    for days in CANDIDATES:
        valid, train = truth[days]
        got = table[days]
        if math.isclose(got, valid, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            continue
        if math.isclose(got, train, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            return CheckResult.fail(
                f"the {days}-day error ({got:.4f}) is the error on the rows the model was fitted "
                "on, not on held-out rows", hint="score each model on rows it did not learn from")
        return CheckResult.fail(
            f"the {days}-day error ({got:.4f}) differs from a recomputation of the validation "
            "error", hint="one linear model per window, fitted on the 'train' rows, mean absolute "
                          "error on the 'valid' rows, rows with no rating known yet dropped")
    days = int(value)
    if days not in CANDIDATES:
        return CheckResult.fail(f"{days} days is not one of the windows you evaluated",
                                hint="choose from the windows in your table")
    best = min(valid for valid, _ in truth.values())
    if truth[days][0] > best + TOLERANCE:
        return CheckResult.fail(
            f"{days} days has a validation error of {truth[days][0]:.4f}, and another window in "
            "your table does better", hint="which window forecasts best on rows the model never saw?")
    longest, shortest = truth[max(CANDIDATES)][0], truth[min(CANDIDATES)][0]
    return CheckResult.ok(f"{days} days: the lowest validation error, {best:.4f} (shortest window "
                          f"{shortest:.4f}, longest {longest:.4f})")

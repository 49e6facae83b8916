"""Concept checks of module 01 (experimentation): ``Lab("concepts-01")``.

Asked in ``notebooks/01-experimentation/00-concepts.ipynb``, two or three at
the end of each section. ``q3`` and ``q5`` are numeric and are checked against
the learner's own table and measurement (context ``rows_now``; ``files_read``
and ``files_total``). ``q11`` is asked before the autologging cell runs: the
learner predicts what the run will hold. Helpers for the
notebook's live illustrations are at the bottom.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

LAB = "concepts-01"

__all__ = ["LAB", "feature_examples", "midnight_stamped", "FEATURE_STORE_ANSWERS"]

# ------------------------------------------------------------ 1. Delta Lake
multiple_choice(
    LAB, "q1", title="Why a failed write leaves nothing behind",
    prompt=("A Spark job appending to a Delta table dies after writing half of its Parquet "
            "files. Why do readers still see the table exactly as it was?"),
    options=[
        Option("a", "Delta deletes the half-written files before anyone reads",
               "the orphaned files stay on disk until VACUUM removes them; something else "
               "keeps readers away from them"),
        Option("b", "Readers take the files listed by committed log entries, and the dead "
                    "job committed none",
               "a version is the set of files its commits name; no commit, no new files "
               "visible: the write is atomic"),
        Option("c", "Parquet files cannot be read while they are being written",
               "plain Parquet folders show half-written jobs to readers; the guarantee does not "
               "come from the file format"),
        Option("d", "Spark retries the failed tasks until the write completes",
               "a retried task can fail again, and readers are protected even when the job "
               "never succeeds"),
        Option("e", "The table is copied before each write and the copy is swapped back on failure",
               "copying a whole table per write would cost as much as the table; Delta never "
               "copies the data to get atomicity"),
    ],
    answer="b",
    hints=["where does a reader learn which files make up a version?"],
)

choose_all(
    LAB, "q2", title="What Delta's features buy",
    prompt="Which pairs of a Delta feature and what it is for are right?",
    options=[
        Option("a", "time travel: train again on exactly last month's rows",
               "every version stays readable (within the retention window), so a run can "
               "point at the version it used"),
        Option("b", "DESCRIBE HISTORY: an audit trail of who changed what and when",
               "the log records each commit's operation, time and metrics: governance and "
               "compliance"),
        Option("c", "schema enforcement: a wrong column type is rejected at write time",
               "a mismatched append fails instead of silently corrupting the table"),
        Option("d", "Z-order: keeps every old version forever",
               "Z-order clusters rows so files can be skipped; keeping versions is time "
               "travel, and VACUUM ends it"),
        Option("e", "VACUUM: makes time travel to old versions cheaper",
               "VACUUM deletes the files old versions need, so it ends time travel beyond "
               "the retention window"),
        Option("f", "schema evolution (mergeSchema): an append may add a column when the "
                    "writer asks for it",
               "the new column is added on request and older rows read it as null"),
    ],
    answer={"a", "b", "c", "f"},
    hints=["check each pairing against the section's bullet list and the demo cells"],
)

numeric(
    LAB, "q3", title="What schema evolution does to old rows",
    prompt=("Predict: if the upstream team now appended 3 rows with an extra column "
            "`price_eur`, with `mergeSchema` on, how many rows of the table would have a "
            "null `price_eur` afterwards?"),
    answer=lambda rows_now: float(rows_now),
    rel_tol=0.0, abs_tol=0.5,
    too_low="the new column is added to the whole table, not only to the rows of the "
            "failed append or the last write",
    too_high="the 3 appended rows carry a value; and count the table as it is now, not all "
             "rows ever written",
    explanation="every row written before the column existed reads it as null; only the "
                "appended rows carry a value",
    hints=["which rows existed before the column did? The time-travel cell counts each "
           "version's rows"],
)

# ------------------------------------------------------------ 2. optimization
multiple_choice(
    LAB, "q4", title="Why Z-order reads fewer files",
    prompt="After OPTIMIZE ZORDER BY (price), the query on `price > 800` opens fewer files. Why?",
    options=[
        Option("a", "Each file now covers a narrow price range, so the log's min/max "
                    "statistics rule most files out",
               "data skipping compares the query with each file's min/max; clustered files "
               "have ranges that mostly miss the query"),
        Option("b", "There are fewer files, so any query opens fewer",
               "fewer files alone do not help a file that still spans every price: each one "
               "would still have to be read"),
        Option("c", "Z-order builds an index that Spark looks up row by row",
               "Delta keeps no row index; it skips whole files by their statistics"),
        Option("d", "Z-order deletes the rows that cannot match the query",
               "every row is still in the table; other queries read them as before"),
        Option("e", "Spark cached the files during the first query",
               "the scan counts files opened from storage in the Delta plan, cache or not, and "
               "the z-ordered files are new files"),
    ],
    answer="a",
    hints=["compare the width of the bars in the two panels of the plot, and where they sit "
           "against the dashed line"],
)

numeric(
    LAB, "q5", title="Files skipped after Z-order",
    prompt=("After Z-ordering, what share of the table's files did the query skip, from your "
            "measurement? (a fraction between 0 and 1)"),
    answer=lambda files_read, files_total: 1.0 - files_read / files_total,
    rel_tol=0.0, abs_tol=0.02,
    too_low="count the files skipped (in the table but not read), not the files read, and "
            "divide by the files in the z-ordered table",
    too_high="take the files of the z-ordered table, not the 20 small files before it",
    explanation="only the files whose price range reaches above the threshold were opened",
    hints=["the z-ordered panel's title gives both counts"],
)

# ------------------------------------------------------------ 3. features
choose_all(
    LAB, "q6", title="Kinds of features",
    prompt="Which pairings of a feature and its kind are right?",
    options=[
        Option("a", "a listing's mean rating over the last 90 days: pre-computed",
               "a window over history is computed ahead of time by a feature job and stored"),
        Option("b", "the day's temperature forecast for the listing's city: augmentation",
               "outside data joined to the record is augmentation"),
        Option("c", "the length of the description the host is typing right now: pre-computed",
               "the text does not exist before the request: it can only be computed from the "
               "request itself"),
        Option("d", "the neighbourhood's median price last quarter, from a city dataset: "
                    "real-time transformation",
               "that value is known long before any request and comes from outside data"),
        Option("e", "nights requested divided by the listing's minimum nights, in a booking "
                    "request: real-time transformation",
               "the requested nights arrive with the request: computed when it arrives"),
    ],
    answer={"a", "b", "e"},
    hints=["for each feature ask: does it need history, outside data, or only the request?"],
)

multiple_choice(
    LAB, "q7", title="What must run at request time",
    prompt="Which value can a feature job not store in a feature table ahead of time?",
    options=[
        Option("a", "Reviews of the listing over the last 30 days",
               "history is known before the request: a feature job pre-computes it"),
        Option("b", "Guests per bedroom of each listing as saved yesterday",
               "it comes from stored rows, so a job can compute it for every listing in advance"),
        Option("c", "The number of nights in the booking request being priced",
               "it exists only once the request arrives: a real-time transformation"),
        Option("d", "The neighbourhood's typical nightly price",
               "that is outside data joined ahead of time (augmentation)"),
        Option("e", "How many listings the host has",
               "the host's listings are in the table already; a job can count them"),
    ],
    answer="c",
    hints=["which value does not exist anywhere until someone sends the request?"],
)

# ------------------------------------------------------------ 4. the feature store
multiple_choice(
    LAB, "q8", title="Online/offline skew",
    prompt=("Training computed `reviews_30d` in a Spark job; the endpoint recomputes it in "
            "its own code, slightly differently. What does a feature store do about that?"),
    options=[
        Option("a", "It publishes the feature table to an online store, and serving reads the "
                    "values training used",
               "one definition, computed once, read offline for training and online for "
               "serving: no second implementation to drift"),
        Option("b", "It retrains the model more often", "retraining does not make two "
                                                        "implementations agree"),
        Option("c", "It stores the endpoint's code next to the model", "the second "
                                                                       "implementation still "
                                                                       "exists and can still "
                                                                       "differ"),
        Option("d", "It adds a unit test comparing both implementations on a few rows",
               "a test samples a few rows; two implementations remain, and they drift on "
               "the rows it never tried"),
        Option("e", "It logs both implementations' outputs as run metrics",
               "logging shows a difference after the fact; nothing makes serving use "
               "training's values"),
    ],
    answer="a",
    hints=["look at the table of the four challenges, in the row about skew"],
)

choose_all(
    LAB, "q9", title="Stamp an aggregate",
    prompt=("A point-in-time lookup gives a label at time t the latest row stamped at or "
            "before t. Which of these stamps can never leak the future?"),
    options=[
        Option("a", "mean rating over day D and the 6 days before, stamped at the midnight "
                    "that ends day D",
               "the value is final when the day ends, and that is its stamp"),
        Option("b", "review count for 14:00-15:00, stamped 14:00",
               "a label at 14:30 would get a count that includes reviews of 14:45"),
        Option("c", "review count for 14:00-15:00, stamped 15:00",
               "the count is complete at 15:00; a label before then gets the previous hour's"),
        Option("d", "March's revenue, stamped March 1",
               "a label in mid-March would get the whole month's revenue, most of it "
               "still in the future"),
        Option("e", "the rating of one review, stamped at the review's own time",
               "a single event's value is known the moment it happens"),
    ],
    answer={"a", "c", "e"},
    hints=["for each row ask: at its stamp, could its value already have been computed?"],
)

choose_all(
    LAB, "q10", title="What a feature registry gives",
    prompt=("Which of these come from registering feature tables in one place, the answer to "
            "data silos?"),
    options=[
        Option("a", "Others can find and reuse a feature instead of rebuilding it",
               "discoverability and reuse end the silo of features nobody else knows about"),
        Option("b", "Lineage: which models use a table, and where its data came from",
               "the store records upstream sources and downstream models"),
        Option("c", "A more accurate model", "a registry organizes features; it does not by "
                                             "itself improve a model's accuracy"),
        Option("d", "Lookups that never leak the future",
               "that depends on each row's stamp and the point-in-time join, and a registered "
               "table stamped wrong still leaks"),
        Option("e", "Callers that send only keys to the endpoint",
               "that comes from logging the model with its feature lookups (client "
               "configuration), not from the catalogue"),
    ],
    answer={"a", "b"},
    hints=["the table of the four challenges answers each one differently: which answers "
           "belong to the silos row?"],
)

# ------------------------------------------------------------ 5. tracking
choose_all(
    LAB, "q11", title="What autologging records",
    prompt=("Predict before running the next cell. With `mlflow.sklearn.autolog()` on, a "
            "Ridge model is fitted on `X_train`; then `metrics.r2_score(y_test, "
            "model.predict(X_test))` is computed (`from sklearn import metrics`), and, with "
            "numpy, the share of listings "
            "priced within 20 dollars. Which end up in the run without a single `log_` call?"),
    options=[
        Option("a", "The estimator's params (alpha, ...)",
               "autolog records the params of every estimator it sees fitted"),
        Option("b", "Metrics on the rows it was fitted on (training_r2_score, ...)",
               "autolog scores the model on its training rows at fit time"),
        Option("c", "r2_score on the test rows, as r2_score_X_test",
               "a sklearn.metrics call on predictions of an autologged model is logged as a "
               "post-training metric, named after the function and the rows' variable"),
        Option("d", "The share of listings priced within 20 dollars",
               "a metric computed outside sklearn.metrics never passes through anything "
               "autolog patched: log it yourself"),
        Option("e", "The Delta table version the rows were read from",
               "autolog sees arrays and frames, not where they came from: log the version "
               "yourself"),
        Option("f", "The fitted model",
               "autolog logs the model artifact by default"),
    ],
    answer={"a", "b", "c", "f"},
    hints=["autolog records what passes through scikit-learn: fit, predict and the functions "
           "of sklearn.metrics",
           "the markdown above says when post-training metrics are logged, and what autolog "
           "never sees"],
)

multiple_choice(
    LAB, "q12", title="Which error to report",
    prompt=("A grid of 12 forests is scored on one held-out split; the best of the 12 scores "
            "is reported as the model's error on new listings. What is wrong with that number?"),
    options=[
        Option("a", "Nothing: the split was held out from training",
               "it was held out from fitting, but not from choosing: the winner is partly the "
               "candidate that got lucky on those rows"),
        Option("b", "It is the minimum of 12 noisy scores on the rows that chose the winner, so "
                    "it is optimistic",
               "choosing is fitting too: select on a validation split, then measure the chosen "
               "model once on test rows the search never saw"),
        Option("c", "The held-out split should be larger than the training split",
               "a larger split reduces the noise of each score, but the best of 12 on the "
               "rows that chose it is still optimistic"),
        Option("d", "RMSE should have been replaced by R²",
               "any metric used to pick the best of 12 on the same rows flatters the winner"),
        Option("e", "The 12 trials should have been top-level runs, not nested ones",
               "how runs are grouped in MLflow does not change any score"),
    ],
    answer="b",
    hints=["the search in the tracking lesson (01.3) uses two kinds of held-out rows: why?"],
)


# ------------------------------------------------------------ notebook helpers
#: the four data challenges and how the feature store answers each
FEATURE_STORE_ANSWERS = pd.DataFrame(
    [
        ("data silos", "features rebuilt in every team, nobody knows what exists",
         "a registry: discoverable, reusable, versioned tables with lineage"),
        ("online/offline skew", "training and serving compute a feature differently",
         "one table, read offline for training and published to an online store for serving"),
        ("client configuration", "every caller must know which features a model needs",
         "the model is logged with its feature lookups: callers send keys only"),
        ("data freshness", "which value was known when? stale or future values",
         "timeseries tables and point-in-time lookups by when a value became known"),
    ],
    columns=["challenge", "what goes wrong", "feature store answer"],
).set_index("challenge")


def feature_examples(listings: pd.DataFrame, events: pd.DataFrame, listing_id: int,
                     at) -> pd.DataFrame:
    """One example of each feature type for one listing at time ``at``.

    Pre-computed windows (reviews in the last 7/14/30 days), augmentation (the
    neighbourhood's typical price, outside data), and a request-time
    transformation (guests per bedroom, from the listing's own row).
    """
    from mlops_kit.datasets import NEIGHBOURHOODS

    t = pd.Timestamp(at)
    row = listings.set_index("id").loc[listing_id]
    mine = events[(events["listing_id"] == listing_id) & (events["event_time"] <= t)]
    rows = [(f"reviews_{d}d", "pre-computed (window over history)",
             int((mine["event_time"] > t - pd.Timedelta(days=d)).sum())) for d in (7, 14, 30)]
    rows.append(("neighbourhood_typical_price", "augmentation (outside data)",
                 NEIGHBOURHOODS[row["neighbourhood"]][0]))
    rows.append(("guests_per_bedroom", "real-time transformation (the request itself)",
                 round(row["accommodates"] / max(row["bedrooms"], 1), 2)))
    return pd.DataFrame(rows, columns=["feature", "type", "value"], dtype=object).set_index("feature")


def midnight_stamped(events: "DataFrame", days: int = 7) -> "DataFrame":
    """The naive version of ``rating_features``: each day stamped with its own start.

    Kept to show the leak: a label later that day sees the whole day's reviews.
    """
    from pyspark.sql import functions as F

    from mlops_kit.features.reviews import STAMP, rating_features

    fixed = rating_features(events, days)
    return fixed.withColumn(STAMP, F.col(STAMP) - F.expr("INTERVAL 1 DAY"))

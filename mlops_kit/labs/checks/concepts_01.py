"""Concept checks of module 01 (experimentation): ``Lab("concepts-01")``.

Asked in ``notebooks/01-experimentation/00-concepts.ipynb``, two or three at
the end of each section. ``q5`` is numeric and is checked against the
learner's own measurement (context ``files_read``). Helpers for the
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
               "the orphaned files stay on disk until VACUUM; they are simply never referenced"),
        Option("b", "A write only exists once its commit is added to the transaction log, and "
                    "that never happened",
               "readers list the files named by the log's commits; no commit, no new files "
               "visible: the write is atomic"),
        Option("c", "Parquet files cannot be read while they are being written",
               "plain Parquet folders show half-written jobs to readers; the guarantee comes "
               "from the log, not the file format"),
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
    ],
    answer={"a", "b", "c"},
    hints=["check each pair against the section's list: one feature is paired with the wrong job"],
)

multiple_choice(
    LAB, "q3", title="Schema evolution is a decision",
    prompt=("An upstream team adds a column `price_eur` to the rows they append. What does "
            "Delta do by default, and why?"),
    options=[
        Option("a", "Adds the column, since new information is always welcome",
               "that is schema evolution, and Delta does it only when the writer opts in "
               "with mergeSchema"),
        Option("b", "Rejects the append until the writer opts in to schema evolution",
               "an unexpected column may be a bug; making evolution explicit keeps silent "
               "changes out of the table"),
        Option("c", "Drops the extra column and appends the rest",
               "silently dropping data would hide the change; Delta refuses instead"),
    ],
    answer="b",
    hints=["look at the printed error above"],
)

# ------------------------------------------------------------ 2. optimization
multiple_choice(
    LAB, "q4", title="Why Z-order reads fewer files",
    prompt="After OPTIMIZE ZORDER BY (price), a query on `price > 800` opens far fewer files. Why?",
    options=[
        Option("a", "Each file now covers a narrow price range, so the log's min/max "
                    "statistics rule most files out",
               "data skipping compares the query with each file's min/max; clustered files "
               "have ranges that mostly miss the query"),
        Option("b", "The files are compressed better, so there are fewer of them",
               "compaction alone made fewer files, yet almost all of them still had to be "
               "read: their ranges stayed wide"),
        Option("c", "Z-order builds an index that Spark looks up row by row",
               "Delta keeps no row index; it skips whole files by their statistics"),
    ],
    answer="a",
    hints=["compare the bars of the compacted and the z-ordered panels"],
)

numeric(
    LAB, "q5", title="Files read after Z-order",
    prompt="How many files did the selective query read after Z-ordering (your measurement)?",
    answer=lambda files_read: float(files_read),
    rel_tol=0.0, abs_tol=0.5,
    too_low="read the count measured after ZORDER from the printed scan, not a guess",
    too_high="that is the count before Z-order or the files in the table; take the "
             "files read after it",
    explanation="only the files whose price range reaches above the threshold were opened",
)

# ------------------------------------------------------------ 3. features
multiple_choice(
    LAB, "q6", title="Kinds of features",
    prompt="\"Number of purchases in the last 7, 14 and 21 days\" is which kind of feature?",
    options=[
        Option("a", "Feature augmentation", "augmentation joins outside data (weather, a "
                                             "neighbourhood's typical price) to the record"),
        Option("b", "A pre-computed feature", "windowed aggregates over history are computed "
                                               "ahead of time by a feature job and stored"),
        Option("c", "A transformation of real-time data", "request-time transformations (e.g. "
                                                           "encoding a category of the current "
                                                           "request) need only the request itself"),
    ],
    answer="b",
    hints=["does it need history, outside data, or only the current request?"],
)

multiple_choice(
    LAB, "q7", title="What must run at request time",
    prompt="Which feature can only be computed when the request arrives?",
    options=[
        Option("a", "Reviews of the listing over the last 30 days",
               "history is known before the request: a feature job pre-computes it"),
        Option("b", "Guests per bedroom of the listing the user is editing right now",
               "it comes from the request's own, just-typed values: a real-time "
               "transformation"),
        Option("c", "The neighbourhood's typical nightly price",
               "that is outside data joined ahead of time (augmentation)"),
    ],
    answer="b",
    hints=["which value does not exist before the request?"],
)

# ------------------------------------------------------------ 4. the feature store
multiple_choice(
    LAB, "q8", title="Online/offline skew",
    prompt=("Training computed `reviews_30d` in a Spark job; the endpoint recomputes it in "
            "its own code, slightly differently. What does a feature store do about that?"),
    options=[
        Option("a", "Publishes the same feature table to an online store, so serving reads "
                    "the values training used",
               "one definition, computed once, read offline for training and online for "
               "serving: no second implementation to drift"),
        Option("b", "Retrains the model more often", "retraining does not make two "
                                                     "implementations agree"),
        Option("c", "Stores the endpoint's code next to the model", "the second "
                                                                     "implementation still exists "
                                                                     "and can still differ"),
    ],
    answer="a",
    hints=["skew needs two implementations: which option leaves one?"],
)

multiple_choice(
    LAB, "q9", title="Stamp a daily aggregate",
    prompt=("A feature averages all reviews of day D (and the 6 days before). Which timestamp "
            "must its row carry so that a point-in-time lookup never leaks?"),
    options=[
        Option("a", "Midnight at the start of day D",
               "a label at 15:00 on day D would then get reviews posted that evening: the "
               "future, in training"),
        Option("b", "Midnight at the end of day D (when the value becomes known)",
               "the value exists only once the day is over; a lookup with stamp <= label time "
               "then sees only the past"),
        Option("c", "The time the feature job happened to run",
               "a late or re-run job would make the stamp say nothing about what the value "
               "contains; stamp the data's own cut-off"),
    ],
    answer="b",
    hints=["when could this value first have been computed?"],
)

choose_all(
    LAB, "q10", title="What a feature registry gives",
    prompt="Which come from registering feature tables in one place (answering data silos)?",
    options=[
        Option("a", "Others can find and reuse a feature instead of rebuilding it",
               "discoverability and reuse end the silo of features nobody else knows about"),
        Option("b", "Lineage: which models use a table, and where its data came from",
               "the store records upstream sources and downstream models"),
        Option("c", "Versioned feature data", "the tables are Delta tables: every write is a "
                                              "version"),
        Option("d", "A more accurate model", "a registry organizes features; it does not by "
                                             "itself improve a model's accuracy"),
    ],
    answer={"a", "b", "c"},
    hints=["one option promises what no catalogue can deliver"],
)

# ------------------------------------------------------------ 5. tracking
multiple_choice(
    LAB, "q11", title="What autologging cannot know",
    prompt="`mlflow.sklearn.autolog()` is on. What must you still log yourself?",
    options=[
        Option("a", "The estimator's params", "autologging records every param of the "
                                              "estimator it sees fitted"),
        Option("b", "The metric on your own held-out test set, and the data version",
               "autolog sees fit() and the training data; your split's test score and which "
               "table version the rows came from are yours to log"),
        Option("c", "The fitted model", "autologging logs the model artifact by default"),
    ],
    answer="b",
    hints=["look at what the autologged run above holds, and what it lacks"],
)

multiple_choice(
    LAB, "q12", title="A hyperparameter search in runs",
    prompt="How does the course record a grid search so its trials stay together and comparable?",
    options=[
        Option("a", "One run per trial, each in its own experiment",
               "scattering trials over experiments makes them hard to compare"),
        Option("b", "One parent run with a nested child run per trial",
               "the children carry their parent's id, so one search can be listed and ranked "
               "with search_runs"),
        Option("c", "One run, overwriting its params at each trial",
               "a run's params cannot be changed once logged, and only one trial would remain"),
    ],
    answer="b",
    hints=["what does nested=True do?"],
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

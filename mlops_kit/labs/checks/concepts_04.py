"""Concept checks of module 04 (production): ``Lab("concepts-04")``.

Asked in ``notebooks/04-production/00-concepts.ipynb``. ``q13`` is numeric:
users per arm for a planned A/B test, recomputed with
:func:`mlops_kit.rollout.sample_size`.
"""
from __future__ import annotations

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-04"

# ------------------------------------------------------------ 1. requirements and architecture
multiple_choice(
    LAB, "q1", title="A core production requirement",
    prompt=("An auditor asks you to rebuild, bit for bit, the model that priced a listing last "
            "March. Which requirement is that?"),
    options=[
        Option("a", "Reproducibility: code, data version and parameters of that run are recorded",
               "rebuilding a past model needs the exact code, data version and settings, which "
               "the tracking run and the Delta version hold"),
        Option("b", "Cost management", "cost is about spending, not about rebuilding a model"),
        Option("c", "A/B testing", "an A/B test compares two live variants; it cannot rebuild an old one"),
    ],
    answer="a",
    hints=["what would you need to train the very same model again?"],
)

choose_all(
    LAB, "q2", title="Where each piece lives",
    prompt="Which pairings of a piece of the architecture with where this course keeps it are right?",
    options=[
        Option("a", "Trained models and their aliases: the MLflow registry",
               "the registry holds versions and the champion/challenger aliases"),
        Option("b", "Served predictions and their inputs: the inference log, a Delta table",
               "every request the endpoint answers is appended there, for monitoring"),
        Option("c", "Drift test results: only in the notebook's output",
               "they are appended to a Delta table and logged to MLflow, so alerts and "
               "dashboards can read them later"),
    ],
    answer={"a", "b"},
    hints=["one of them would vanish when the notebook closes"],
)

# ------------------------------------------------------------ 2. CI/CD
multiple_choice(
    LAB, "q3", title="The test pyramid",
    prompt="Why does the pyramid put many unit tests at the bottom and few end-to-end tests at the top?",
    options=[
        Option("a", "Unit tests are fast and point at the broken function; end-to-end tests are "
                    "slow and only say that something broke",
               "cheap, precise tests can run on every commit; the slow broad ones check that "
               "the pieces fit"),
        Option("b", "End-to-end tests are less important",
               "they catch what unit tests cannot (the pieces not fitting); they are just costly"),
        Option("c", "Unit tests find more bugs per test",
               "the shape is about cost and precision per test, not bug counts"),
    ],
    answer="a",
    hints=["think about seconds per test and what a failure tells you"],
)

multiple_choice(
    LAB, "q4", title="Continuous integration or delivery",
    prompt="Which benefit comes from continuous DELIVERY rather than continuous integration?",
    options=[
        Option("a", "Regressions are caught by automated tests soon after the commit",
               "that is integration: tests on every change"),
        Option("b", "Releasing is a routine, automated step, so small changes ship often",
               "delivery automates the release itself, which shortens the feedback loop"),
        Option("c", "Merge conflicts are resolved early",
               "that is integration: merging small changes often"),
    ],
    answer="b",
    hints=["one option is about shipping, the others about merging and testing"],
)

multiple_choice(
    LAB, "q5", title="A pipeline's gate",
    prompt=("In this repo's release, staging runs the training job with fail_on_reject=True. "
            "What happens when the new version fails validation there?"),
    options=[
        Option("a", "The job exits non-zero, the pipeline stops, and prod never runs",
               "a failed gate is a failed step; the release halts before prod"),
        Option("b", "The version is registered in prod with a warning tag",
               "prod is a later stage: it never starts after a failed gate"),
        Option("c", "The previous champion is deleted",
               "a rejected candidate changes nothing that serves; the champion keeps its alias"),
    ],
    answer="a",
    hints=["what does a non-zero exit do to the steps after it?"],
)

# ------------------------------------------------------------ 3. drift
multiple_choice(
    LAB, "q6", title="Name the drift",
    prompt=("The inputs look exactly as in training, but customers now buy 30 % fewer cones at "
            "the same temperature and price. Which drift is this?"),
    options=[
        Option("a", "Feature drift", "the inputs did not move"),
        Option("b", "Concept drift",
               "the relation between inputs and outcome changed; only labels or the model's "
               "error reveal it"),
        Option("c", "Prediction drift",
               "the model sees the same inputs, so its predictions do not move at all"),
    ],
    answer="b",
    hints=["which of X, y and the mapping X -> y changed?"],
)

multiple_choice(
    LAB, "q7", title="The action for a drift",
    prompt="Monitoring shows feature drift: temperature arrives about 30 units higher overnight. What first?",
    options=[
        Option("a", "Retrain immediately on the new data",
               "retraining on a unit bug teaches the model the bug; check the pipeline first"),
        Option("b", "Investigate how the feature is produced (a unit change upstream?)",
               "an overnight jump is usually a pipeline change; fix it, then decide on retraining"),
        Option("c", "Nothing: the label has not drifted",
               "labels arrive late; the wrong inputs are already producing wrong predictions"),
    ],
    answer="b",
    hints=["a jump overnight is rarely the weather"],
)

choose_all(
    LAB, "q8", title="What each test can see",
    prompt="Which statements about the drift tests are right?",
    options=[
        Option("a", "With enough rows, KS flags even a negligible shift",
               "its p-value shrinks with the sample size, so pair it with a distance"),
        Option("b", "Concept drift can be detected from the inputs alone",
               "the inputs may not move at all; it needs labels (the model's error)"),
        Option("c", "Testing 20 features at alpha 0.05 each gives about one false alarm per run "
                    "on unchanged data, unless corrected (Bonferroni)",
               "20 x 0.05 = 1 expected false alarm; dividing alpha by 20 keeps the run's rate at 5 %"),
    ],
    answer={"a", "c"},
    hints=["one statement forgets that the inputs can stay the same"],
)

# ------------------------------------------------------------ 4. what to monitor
choose_all(
    LAB, "q9", title="Kinds of monitoring metrics",
    prompt="Which are OUTPUT metrics (as opposed to software or input metrics)?",
    options=[
        Option("a", "Mean and quantiles of the predictions", "the model's output distribution"),
        Option("b", "Revenue per user of the recommendations", "a business metric of the output"),
        Option("c", "p99 latency of the endpoint", "a software metric: the service, not the model's answers"),
        Option("d", "Share of missing values of a feature", "an input metric: it is about the features"),
    ],
    answer={"a", "b"},
    hints=["output metrics describe what the model answered and what that earned"],
)

multiple_choice(
    LAB, "q10", title="Acting on a metric",
    prompt="The endpoint's p99 latency doubled but no input or output metric moved. Who acts, and how?",
    options=[
        Option("a", "Retrain the model", "the model's answers did not change; retraining leaves the latency"),
        Option("b", "Treat it as a service problem: scale out or roll back the release",
               "a software metric points at the serving side: capacity or the last deployment"),
        Option("c", "Run an A/B test", "an experiment answers which variant is better, not why the service slowed"),
    ],
    answer="b",
    hints=["which layer does p99 latency measure?"],
)

# ------------------------------------------------------------ 5. rollout
multiple_choice(
    LAB, "q11", title="Pick a rollout",
    prompt=("You want the new model's predictions on real traffic without any user seeing them. "
            "Which strategy?"),
    options=[
        Option("a", "Canary", "a canary answers a small share of users for real"),
        Option("b", "Shadow", "it receives copies of the requests and only logs its answers"),
        Option("c", "Blue-green", "after the switch every user gets the new model's answers"),
    ],
    answer="b",
    hints=["which one never answers?"],
)

multiple_choice(
    LAB, "q12", title="Rollback speed",
    prompt="Which strategy rolls back fastest, and why?",
    options=[
        Option("a", "Rolling update: it replaces instances one by one",
               "undoing it replaces them one by one again"),
        Option("b", "Blue-green: the old version is still running, so rollback is one switch",
               "both sides stay loaded; flipping the weight back is instant"),
        Option("c", "A/B test: half the users already have the old model",
               "the other half still gets the new one until the experiment is reconfigured"),
    ],
    answer="b",
    hints=["which strategy keeps the old version fully loaded?"],
)

# ------------------------------------------------------------ 6. A/B testing
numeric(
    LAB, "q13", title="Users per arm",
    prompt=("A coupon converts 5 % of users. How many users per arm does a test need to detect "
            "an absolute lift of 1 point (5 % -> 6 %) at alpha 0.05 and power 0.8?"),
    answer=lambda **context: float(__import__("mlops_kit.rollout", fromlist=["sample_size"])
                                   .sample_size(0.05, 0.01)),
    rel_tol=0.02,
    too_low="a 1-point lift on a 5 % rate is small: smaller effects need many more users",
    too_high="did you count both arms, or use a smaller effect than 1 point?",
    explanation="about 8,200 per arm: small lifts on small rates need large samples",
    hints=["call sample_size(baseline_rate, min_detectable_effect) from mlops_kit.rollout"],
)

multiple_choice(
    LAB, "q14", title="ML metric or business metric",
    prompt="An A/B test of two churn models: which metric decides which model stays?",
    options=[
        Option("a", "Area under the ROC curve on last month's data",
               "an offline ML metric; it is how the candidate got into the test, not the verdict"),
        Option("b", "Customers retained per arm (a business metric)",
               "the test exists to measure the outcome the business cares about"),
        Option("c", "The model's training loss", "training loss says nothing about users"),
    ],
    answer="b",
    hints=["what does the business pay the model for?"],
)

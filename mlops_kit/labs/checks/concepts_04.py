"""Concept checks of module 04 (production): ``Lab("concepts-04")``.

Asked in ``notebooks/04-production/00-concepts.ipynb``. ``q6`` is asked before
the drift table is computed (a prediction). ``q13`` is numeric and checked
against the learner's own baseline (context ``baseline_rate``), recomputed
with :func:`mlops_kit.rollout.sample_size`.
"""
from __future__ import annotations

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-04"

# ------------------------------------------------------------ 1. requirements and architecture
choose_all(
    LAB, "q1", title="What a rebuild needs",
    prompt=("An auditor asks you to train last March's price model again and get the very same "
            "predictions. Which of these, recorded when that model was trained, do you need?"),
    options=[
        Option("a", "The Delta version of the table the training run read",
               "time travel gives back those exact rows, whatever was written since"),
        Option("b", "The parameters and the code version of the run",
               "the same rows with other settings or code give another model"),
        Option("c", "The inference log of the predictions the model served",
               "the log shows what the model answered in production; training never read it"),
        Option("d", "The history of the registry's champion alias",
               "it says which version served when, not how to train that version again"),
        Option("e", "The library versions the model was logged with",
               "another scikit-learn can fit the same data to slightly different numbers"),
    ],
    answer={"a", "b", "e"},
    hints=["Open any training run in the MLflow UI and ask what you would need to run it again.",
           "Three items are inputs of training; the others are records of serving."],
)

choose_all(
    LAB, "q2", title="Where each piece lives",
    prompt="Which pairings of a piece of the architecture with where this course keeps it are right?",
    options=[
        Option("a", "Trained models and their aliases: the MLflow registry",
               "the registry holds versions and the champion/challenger aliases"),
        Option("b", "Served predictions and their inputs: the inference log, a Delta table",
               "every request the endpoint answers is appended there, for monitoring"),
        Option("c", "Drift test results: only in the monitoring notebook's output",
               "a scheduled job's output is gone when it ends; the results are appended to a "
               "Delta table and logged to MLflow so alerts and dashboards can read them later"),
        Option("d", "A canary's traffic weights: a routing file the endpoint polls",
               "the policy rewrites the file and the endpoint picks it up without a restart"),
        Option("e", "Features for a live request: read from the Delta feature table by the "
                    "endpoint",
               "the endpoint never starts a JVM: online features come from the online store, "
               "published from the feature table"),
    ],
    answer={"a", "b", "d"},
    hints=["For each piece, ask which component needs it, and when: a request, a scheduled "
           "job, or an audit months later."],
)

# ------------------------------------------------------------ 2. CI/CD
multiple_choice(
    LAB, "q3", title="Which failure names the culprit",
    prompt=("A change to the percent-change function breaks the summary statistics of every drift "
            "report. Several tests fail. Which failure points most directly at what to fix?"),
    options=[
        Option("a", "The papermill run of the monitoring job",
               "it fails at the cell that uses the report, several calls away from the broken "
               "function, after a kernel start and a model load"),
        Option("b", "The unit test that calls the function with a known reference and current value",
               "it runs in milliseconds and its name and assertion say which function and which "
               "input broke: that precision is why the pyramid's base is wide"),
        Option("c", "The nbval comparison of the closed-loop notebook",
               "it says that an output differs from the stored one, not which code made it differ"),
        Option("d", "The course run's claims",
               "a claim fails only when its own sentence stops holding; it may not touch the "
               "statistic that broke"),
    ],
    answer="b",
    hints=["Compare what each failure message would name, and how long each test takes to run."],
)

multiple_choice(
    LAB, "q4", title="What the release carries",
    prompt=("Prod's data cannot be read from dev. A new feature computation must reach prod. "
            "In this course's release, what goes from dev to staging to prod, and what does prod "
            "end up serving?"),
    options=[
        Option("a", "The model trained in dev, copied into prod's registry",
               "a model fitted on dev's data was never validated on prod's, and prod's data "
               "could not even be read to do so"),
        Option("b", "The dev feature table, so that prod's model sees the same features",
               "data stays in its env; copying dev's rows to prod would also break the rule "
               "that prod's data is prod's"),
        Option("c", "The job notebooks that land data, train and validate; prod runs them on its "
                    "own data and serves the version its own gate accepted",
               "delivering the training pipeline is what CD means here: the model is an output "
               "of the delivered code"),
        Option("d", "A container image holding dev's model and its server",
               "an image of dev's model is still dev's model: same data, no validation in prod"),
    ],
    answer="c",
    hints=["Look at the steps of the release pipeline printed in this section, and at which env "
           "each one reads its data from."],
)

multiple_choice(
    LAB, "q5", title="A pipeline's gate",
    prompt=("In this repo's release, staging runs the training job with fail_on_reject=True. "
            "What happens when the new version fails validation there?"),
    options=[
        Option("a", "The version is registered in prod with a warning tag",
               "prod is a later stage of the same release; it does not start"),
        Option("b", "The previous champion is deleted",
               "a rejected candidate changes nothing that serves; the champion keeps its alias"),
        Option("c", "The job exits non-zero, the pipeline stops, and prod never runs",
               "a failed gate is a failed step; the release halts before prod"),
        Option("d", "Staging retrains with other hyperparameters until a version passes",
               "nothing in the release searches for a passing model; a gate only says yes or no"),
    ],
    answer="c",
    hints=["Think of the release as a script of steps run in order by a scheduler."],
)

# ------------------------------------------------------------ 3. drift
choose_all(
    LAB, "q6", title="Predict: which checks see concept drift",
    prompt=("Before you run the next cell: its concept-drift scenario is a fresh month in which "
            "customers buy fewer cones on hot days than the model learned. Which of these checks "
            "will flag it?"),
    options=[
        Option("a", "The KS and chi-square tests on the features",
               "the inputs are a fresh sample of the same world: their tests see what they see "
               "with no drift at all"),
        Option("b", "The prediction test",
               "the model is given the same kind of inputs, so it gives the same kind of answers"),
        Option("c", "The model's error, once the month's labels arrive",
               "the same inputs now lead to other outcomes, so the error on those outcomes grows"),
        Option("d", "The null-rate test on the features",
               "no value went missing; only the outcome for the same inputs changed"),
    ],
    answer={"c"},
    hints=["Write down which of X, y and the relation X -> y the scenario changes, then which "
           "check looks at which."],
)

multiple_choice(
    LAB, "q7", title="The action for a drift",
    prompt=("Overnight, the mean humidity in the inference log falls from 68 to 0.68 and its "
            "spread shrinks by the same factor; the error on the first labels is up. What first?"),
    options=[
        Option("a", "Retrain on the new rows, since the error grew",
               "the model would learn that 0.68 means humid, and be wrong again the day the "
               "column comes back as it was"),
        Option("b", "Roll back to the previous model version",
               "the previous version reads the same broken column"),
        Option("c", "Open an incident with the data team and keep the champion: a fraction "
                    "arrives where a percentage was",
               "a mean and a spread divided by the same factor overnight is a unit change: fix "
               "the pipeline and backfill, then measure the error again"),
        Option("d", "Wait for more labels before doing anything",
               "every prediction until the fix reads wrong inputs; the evidence is already there"),
        Option("e", "Raise the drift tests' thresholds",
               "the tests fired because the data changed; silencing them changes nothing upstream"),
    ],
    answer="c",
    hints=["Ask whether customers or a pipeline can change a column like this overnight.",
           "Look at the spread as well as the mean, as the triage in section 4 does."],
)

choose_all(
    LAB, "q8", title="What each test can see",
    prompt="Which statements about the drift tests are right?",
    options=[
        Option("a", "With enough rows, KS flags even a negligible shift",
               "its p-value shrinks with the sample size, so pair it with a distance"),
        Option("b", "Concept drift can be detected from the inputs alone",
               "the inputs may not move at all; it takes labels and the model's error"),
        Option("c", "On independent rows, testing 20 features at alpha 0.05 each gives about one "
                    "false alarm per run on unchanged data, unless corrected",
               "twenty chances at 0.05 add up to about one; Bonferroni divides alpha by the "
               "number of tests"),
        Option("d", "A Jensen-Shannon distance on 100 rows of an unchanged distribution stays "
                    "near 0",
               "binning noise alone makes it large on few rows; it needs a minimum sample size "
               "or a calibrated threshold"),
        Option("e", "A null-rate test can fire on a column whose KS test does not",
               "KS compares the values that are present; values dropped at random change the "
               "null rate, not the distribution of what is left"),
    ],
    answer={"a", "c", "e"},
    hints=["Ask of each statement what the test's p-value or distance depends on: the sample "
           "size, the rows' independence, the values that are present."],
)

# ------------------------------------------------------------ 4. what to monitor
choose_all(
    LAB, "q9", title="Kinds of monitoring metrics",
    prompt="Which are OUTPUT metrics (as opposed to software or input metrics)?",
    options=[
        Option("a", "Mean and quantiles of the predictions", "the model's output distribution"),
        Option("b", "Revenue per user of the recommendations", "a business metric of the output"),
        Option("c", "p99 latency of the endpoint",
               "it measures the service, whatever the model answered"),
        Option("d", "Share of missing values of a feature",
               "it is computed from the requests, before the model runs"),
        Option("e", "KS p-value of a feature against the training data",
               "it compares the inputs the model received"),
    ],
    answer={"a", "b"},
    hints=["Sort each metric by what it is computed from: the service, the requests, or the "
           "model's answers and what they earned."],
)

multiple_choice(
    LAB, "q10", title="Acting on a metric",
    prompt="The endpoint's p99 latency doubled but no input or output metric moved. Who acts, and how?",
    options=[
        Option("a", "Retrain the model", "the model's answers did not change; retraining leaves the latency"),
        Option("b", "Open an incident with the data pipeline's owners",
               "no input metric moved, so the data reaching the model looks as before"),
        Option("c", "Run an A/B test", "an experiment answers which variant is better, not why the service slowed"),
        Option("d", "Whoever runs the service: scale out, or roll back the last release",
               "a software metric points at the serving side: capacity or the last deployment"),
        Option("e", "Tighten the canary's latency budget",
               "the budget judges a new version on its way in; the slow service is already "
               "serving everyone"),
    ],
    answer="d",
    hints=["Look at which layers' metrics moved and which did not, and who owns each layer."],
)

# ------------------------------------------------------------ 5. rollout
multiple_choice(
    LAB, "q11", title="Pick a rollout",
    prompt=("For a week, the new model must score real requests so that its predictions can be "
            "compared offline with the champion's, and no user may ever receive one of its "
            "predictions. Which setup from this course does that?"),
    options=[
        Option("a", "A canary at its first step", "at any step above zero some users get its answers"),
        Option("b", "Blue-green with the new side at weight 0",
               "at weight 0 it receives no requests at all, so there is nothing to compare"),
        Option("c", "A deployment marked shadow next to the champion at full weight",
               "it gets a copy of every request after the champion answered, and its "
               "predictions only go to the inference log"),
        Option("d", "An A/B test with sticky users",
               "the users assigned to the new variant get its answers for the whole test"),
        Option("e", "A rolling update stopped after the first instance",
               "that instance answers every user the load balancer sends it"),
    ],
    answer="c",
    hints=["For each setup, ask who receives each request and who receives each answer."],
)

multiple_choice(
    LAB, "q12", title="Rollback speed",
    prompt=("A release reached every user and turns out broken. Which strategy gets every user "
            "back on the old model with one config change, without starting or loading anything?"),
    options=[
        Option("a", "Rolling update", "undoing it restarts every instance again, one by one"),
        Option("b", "An A/B test", "it only ever sent part of the users to the new variant, "
                                   "and ending it is a reconfiguration of the experiment"),
        Option("c", "A canary that already promoted",
               "after promotion the alias points at the new version; going back moves it and "
               "the endpoint loads the old version again"),
        Option("d", "Blue-green",
               "both sides stay loaded; writing the weight back to the old side is the rollback"),
    ],
    answer="d",
    hints=["For each, count what has to happen before every user is back on the old model."],
)

# ------------------------------------------------------------ 6. A/B testing
numeric(
    LAB, "q13", title="Users per arm",
    prompt=("From the users-per-arm table of this section, without calling anything: about how "
            "many users per arm would a test need to detect an absolute lift of half a point "
            "(0.005) at the same baseline?"),
    answer=lambda baseline_rate=0.10, **context: float(
        __import__("mlops_kit.rollout", fromlist=["sample_size"]).sample_size(baseline_rate, 0.005)),
    rel_tol=0.1,
    too_low="halving the effect more than doubles the users",
    too_high="check how the table's counts grew from one row to the next",
    explanation="the count grows with one over the square of the effect: half the effect, "
                "about four times the users",
    hints=["Look at how the count changed between the table's rows as the effect halved."],
)

multiple_choice(
    LAB, "q14", title="ML metric or business metric",
    prompt="An A/B test of two churn models: which metric decides which model stays?",
    options=[
        Option("a", "Area under the ROC curve on last month's data",
               "an offline ML metric; it is how the candidate got into the test, not the verdict"),
        Option("b", "Precision on the top decile of last week's customers",
               "still an offline ML metric: it scores predictions, not what they changed"),
        Option("c", "Customers retained per arm",
               "the test exists to measure the outcome the business cares about"),
        Option("d", "The model's training loss", "training loss says nothing about users"),
        Option("e", "Predictions served per second", "a software metric: it says nothing of "
                                                     "what the predictions achieved"),
    ],
    answer="c",
    hints=["Look at the two columns of the metrics table in this section."],
)

"""Concept checks of the course introduction: ``Lab("concepts-intro")``.

Asked in ``notebooks/00-setup/00-concepts.ipynb``, two at the end of each
section. ``q6`` and ``q10`` are numeric and are checked against the learner's
own measurements (context ``rmse_a`` and ``rmse_b``; ``events``). The notebook's small tables
(roles, MLflow components, how much of the kit is model code) come from the
helpers at the bottom, so cells stay short.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-intro"

__all__ = ["LAB", "kit_lines", "roles", "mlflow_components", "lifecycle", "plot_monthly_reviews"]

# ------------------------------------------------------------ 1. what MLOps is
choose_all(
    LAB, "q1", title="What each part of MLOps manages",
    prompt=("MLOps joins DevOps, DataOps and ModelOps. Which of these tasks belong to ModelOps, "
            "the part that plain DevOps and DataOps do not cover?"),
    options=[
        Option("a", "Versioning the tables the feature pipeline reads",
               "versioned, governed data pipelines are DataOps: they matter with or without a model"),
        Option("b", "Comparing a retrained model with the one in production before it replaces it",
               "comparing and promoting model versions exists only because there are models: "
               "ModelOps"),
        Option("c", "Running the serving code's unit tests on every commit",
               "testing and releasing code on each commit is DevOps, the same for any service"),
        Option("d", "Watching the live model's error once the true prices arrive",
               "monitoring a model's quality in production is ModelOps: a service can be up "
               "and fast while its predictions decay"),
        Option("e", "Recording which hyperparameters and data produced each candidate model",
               "experiment tracking is ModelOps: code history alone does not say which run "
               "made which model"),
        Option("f", "Rejecting an incoming data file whose columns changed",
               "validating data as it enters a pipeline is DataOps, with or without a model "
               "downstream"),
    ],
    answer={"b", "d", "e"},
    hints=["for each task, ask whether it would still exist in a system with no model at all",
           "the three practices are described in the markdown above the question: match each "
           "task's object (code, data, or a model) to one of them"],
)

choose_all(
    LAB, "q2", title="Why care about MLOps",
    prompt=("Which of these are risks or costs that MLOps (process and automation around code, "
            "data and models) reduces, rather than problems of the model itself?"),
    options=[
        Option("a", "A model that quietly gets worse in production",
               "technical risk: monitoring makes the decline visible"),
        Option("b", "A model trained on data it was not allowed to use",
               "compliance risk: governance and lineage make this visible and preventable"),
        Option("c", "A manual, hand-copied deployment that takes days",
               "slow manual steps are what automation removes, and where errors slip in"),
        Option("d", "A model class too simple to represent the price pattern",
               "choosing a model that can fit the pattern is modelling work; no process makes "
               "an underfitting model fit"),
        Option("e", "A feature computed one way in training and another way in serving",
               "skew between two implementations is a process risk: one shared definition "
               "removes it"),
        Option("f", "Too few labelled examples exist for the task",
               "collecting or labelling more data is a data-acquisition problem; automation "
               "cannot create labels that do not exist"),
    ],
    answer={"a", "b", "c", "e"},
    hints=["sort each item: does it come from how the work is done, or from what the model "
           "or the world can offer?",
           "the 'Why bother?' paragraph names two kinds of risk and one kind of cost"],
)

# ------------------------------------------------------------ 2. people and principles
multiple_choice(
    LAB, "q3", title="Who does what",
    prompt=("Three weeks after launch, the price endpoint's latency doubles after a library "
            "upgrade, and requests start timing out. Whose job is fixing it, typically?"),
    options=[
        Option("a", "The data scientist", "the data scientist frames the problem and trains and "
                                          "tunes the model; operating the live service is a "
                                          "later hand-off"),
        Option("b", "The ML engineer", "deploying and operating the model in production, with its "
                                       "latency and reliability targets, is the ML engineer's role"),
        Option("c", "The data governance officer", "governance decides who may use which data and "
                                                   "checks compliance; it does not run endpoints"),
        Option("d", "The business stakeholder", "the stakeholder owns the business value and the "
                                                "goal, not the serving infrastructure"),
        Option("e", "The data engineer", "the data engineer builds the data pipelines and the "
                                         "featurization platform; the endpoint serving the model "
                                         "is not among them"),
    ],
    answer="b",
    hints=["the roles table says what each role is responsible for: which column entry covers a "
           "running service?"],
)

multiple_choice(
    LAB, "q4", title="Process before automation",
    prompt=("A team automated promotion before anyone had agreed what a model must pass: the "
            "engineer who wrote the script picked 'lower RMSE than the champion on last week's "
            "data, by any margin'. Within a month, three promotions were rolled back by hand. "
            "Which guiding principle did they skip first?"),
    options=[
        Option("a", "Keep the business goal in view",
               "the RMSE does track the price the business cares about; what was missing came "
               "before the script: nobody had decided what promotion requires"),
        Option("b", "Be data-centric",
               "fresher data would not have fixed a promotion rule that nobody agreed on"),
        Option("c", "Build MLOps in modules",
               "the promotion step was already its own piece; the trouble was the rule it "
               "automated"),
        Option("d", "Let the process guide the automation",
               "the checks a model must pass are a decision of the process; automating before "
               "that decision bakes in whatever rule the script happened to use"),
    ],
    answer="d",
    hints=["what had not happened before the script was written?"],
)

# ------------------------------------------------------------ 3. reproducibility
choose_all(
    LAB, "q5", title="What must be reproducible",
    prompt=("A run logged its git commit, its params and its metrics, nothing else. Six months "
            "later, retraining from exactly those gives another RMSE. Which could explain it?"),
    options=[
        Option("a", "The training table was overwritten since, and the run did not log its version",
               "data: the same code on other rows gives another model"),
        Option("b", "scikit-learn was upgraded, and the run did not record its environment",
               "environment: a new library version may change defaults or numerics"),
        Option("c", "The split's random seed was set in an uncommitted notebook cell, edited since",
               "a setting outside the logged params and outside the commit is not reproducible"),
        Option("d", "The MLflow UI was upgraded in between",
               "the UI only displays runs; it takes no part in training"),
        Option("e", "The experiment was renamed in between",
               "an experiment's name groups runs; it does not feed into training"),
    ],
    answer={"a", "b", "c"},
    hints=["for each option, ask whether it changes an input of the training: rows, code, "
           "settings or libraries"],
)

numeric(
    LAB, "q6", title="How much one data seed moves a metric",
    prompt=("Same code, same params, only the data's seed changed: by how much did the test "
            "RMSE change (absolute difference, USD)?"),
    answer=lambda rmse_a, rmse_b: abs(rmse_a - rmse_b),
    rel_tol=0.02, abs_tol=0.05,
    too_low="compare the run on seed 42 with the run on the other seed, not two runs on the same seed",
    too_high="take the difference of the two RMSEs, not their sum or one RMSE alone",
    explanation="new rows alone changed the result: without the data version, the run "
                "cannot be reproduced",
)

# ------------------------------------------------------------ 4. MLflow components
choose_all(
    LAB, "q7", title="Which MLflow component",
    prompt="Which pairings of a question and the MLflow component that answers it are right?",
    options=[
        Option("a", "'Which params gave the lowest RMSE last month?': tracking",
               "runs record params and metrics and can be searched: tracking"),
        Option("b", "'Which version is the champion, and since when?': model registry",
               "versions, aliases and their history live in the registry"),
        Option("c", "'Can the batch job load the model the endpoint serves?': projects",
               "loading one model in many tools is the job of the model format (flavors, "
               "pyfunc); projects package code to run"),
        Option("d", "'Can a colleague rerun my training with other params?': models",
               "rerunning code with parameters is what projects are for; the model format "
               "packages a trained model"),
        Option("e", "'Which data version trained this model?': tracking",
               "the run logs its inputs, such as a Delta table and its version"),
    ],
    answer={"a", "b", "e"},
    hints=["read the 'what it does' column of the components table for each pairing"],
)

multiple_choice(
    LAB, "q8", title="Why a standard model format",
    prompt=("The same logged model is scored in a batch job, in a stream and behind a REST "
            "endpoint. What makes that possible without rewriting it three times?"),
    options=[
        Option("a", "Each consumer copies the training notebook's code",
               "copying training code to every consumer is the rewrite, three times over"),
        Option("b", "A flavor with a generic predict interface that each consumer loads the "
                    "same way",
               "one format with pyfunc's predict is what batch, streaming and serving tools "
               "all load"),
        Option("c", "The registry alias the three consumers share",
               "an alias says which version to use; it does not say how to load or call it"),
        Option("d", "The signature logged with the model",
               "a signature describes the inputs and outputs; it holds no way to load or run "
               "the model"),
        Option("e", "A pickle of the estimator in a shared folder",
               "a bare pickle carries no environment and no common interface: each consumer "
               "must know the library and its version"),
    ],
    answer="b",
    hints=["what do batch, streaming and the endpoint all call, and where does it come from?"],
)

# ------------------------------------------------------------ 5. the closed loop
multiple_choice(
    LAB, "q9", title="What closes the loop",
    prompt=("A price model deployed in January was never retrained; by July its error had "
            "grown, and nobody noticed for weeks. Which missing piece would have turned the "
            "one-way pipeline into a loop?"),
    options=[
        Option("a", "A registry alias for the champion",
                    "an alias names the version in use; it watches nothing"),
        Option("b", "A larger hyperparameter grid before the release",
               "a better first model is still a one-way trip if nothing watches it afterwards"),
        Option("c", "Monitoring production inputs and errors against training, which triggers "
                    "retraining",
               "what is seen in production flows back into new training: the loop closes"),
        Option("d", "A CI test of the training code",
               "CI runs when code changes; here the code never changed, the data did"),
        Option("e", "An input example logged with the model",
               "an input example checks that a served model answers; it says nothing about "
               "July's data"),
    ],
    answer="c",
    hints=["which of these runs after deployment, on production data?"],
)

numeric(
    LAB, "q10", title="Data is never static",
    prompt=("Read the monthly bars: the busiest month had how many times the review events of "
            "the quietest month? (a ratio, e.g. 1.5)"),
    answer=lambda events: float(_monthly(events).max() / _monthly(events).min()),
    rel_tol=0.05,
    too_low="divide the highest bar by the lowest one, not by a neighbouring month",
    too_high="divide the highest bar by the lowest one, not the sum of the months by one month",
    explanation="a model trained on the quiet months sees a busier world in summer: its "
                "inputs move while its code stays the same",
)


def _monthly(events: pd.DataFrame) -> pd.Series:
    """Review events per calendar month."""
    return events.groupby(pd.to_datetime(events["event_time"]).dt.month).size()


# ------------------------------------------------------------ notebook helpers
def kit_lines(package: str | Path | None = None) -> pd.Series:
    """Lines of Python per top-level part of the kit, largest first.

    ``_price_model`` (the model code every lesson shares) is one of them: the
    rest is the system around the model.
    """
    import mlops_kit

    root = Path(package or Path(mlops_kit.__file__).parent)
    counts: dict[str, int] = {}
    for path in root.rglob("*.py"):
        part = path.relative_to(root).parts[0].removesuffix(".py")
        counts[part] = counts.get(part, 0) + len(path.read_text(encoding="utf-8").splitlines())
    return pd.Series(counts, name="lines").sort_values(ascending=False)


def roles() -> pd.DataFrame:
    """The people of an ML project, what each is responsible for, and where this course meets them."""
    rows = [
        ("business stakeholder", "the business value of the solution; the goal and its metric",
         "04.2 A/B tests: a business metric decides"),
        ("data engineer", "data pipelines and the platform for featurization",
         "01.1 Delta Lake, 04.3 ETL and featurization jobs"),
        ("data scientist", "turns the business problem into a model; trains and tunes it",
         "01.2 feature store, 01.3 experiment tracking"),
        ("ML engineer", "deploys and operates models in production",
         "02 registry, 03 batch / streaming / real time, 04.3 CI/CD"),
        ("data governance officer", "data governance and compliance",
         "lineage: 01.3 data versions, feature-table lineage, registry audit trail"),
    ]
    return pd.DataFrame(rows, columns=["role", "responsible for", "in this course"]).set_index("role")


def mlflow_components() -> pd.DataFrame:
    """MLflow's four components, what each does, and the lesson that uses it."""
    rows = [
        ("tracking", "record and query runs: params, metrics, artifacts, data versions",
         "01.3 experiment tracking"),
        ("projects", "package code so a run can be repeated anywhere with parameters",
         "the kit's notebook jobs play this part: mlops-kit job run -p ... (04.3)"),
        ("models", "one format with flavors and a generic predict, loaded by many tools",
         "02.1 MLflow models; 03 batch, streaming and real-time scoring"),
        ("model registry", "versions, aliases, tags and their history in one place",
         "02.2 model registry, 02.3 webhooks, 04.2 rollout"),
    ]
    return pd.DataFrame(rows, columns=["component", "what it does", "used in"]).set_index("component")


def lifecycle() -> pd.DataFrame:
    """The stages of the closed loop, in order, with who acts and the module that teaches it."""
    rows = [
        ("data", "data engineer", "00 setup, 01.1 Delta Lake"),
        ("features", "data scientist, data engineer", "01.2 feature store"),
        ("train and track", "data scientist", "01.3 experiment tracking"),
        ("register and validate", "data scientist, ML engineer", "02 model management"),
        ("deploy and serve", "ML engineer", "03 deployment"),
        ("monitor", "ML engineer", "04.1 monitoring"),
        ("retrain (back to data)", "automation", "04.4 closed loop"),
    ]
    frame = pd.DataFrame(rows, columns=["stage", "who", "module"])
    frame.index = range(1, len(frame) + 1)
    return frame


def plot_monthly_reviews(events: pd.DataFrame):
    """Bar chart of review events per calendar month; returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    monthly = _monthly(events)
    fig, ax = plt.subplots(figsize=(5.5, 2.4), dpi=90)
    ax.bar(monthly.index, monthly.to_numpy(), color="tab:blue")
    ax.set_xticks(range(1, 13))
    ax.set_xlabel("month")
    ax.set_ylabel("reviews")
    ax.set_title("Review events per month: the data moves with the seasons", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig

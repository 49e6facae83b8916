"""Concept checks of the course introduction: ``Lab("concepts-intro")``.

Asked in ``notebooks/00-setup/00-concepts.ipynb``, two at the end of each
section. ``q6`` is numeric and is checked against the learner's own
measurement (context ``rmse_a`` and ``rmse_b``). The notebook's small tables
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
multiple_choice(
    LAB, "q1", title="What each part of MLOps manages",
    prompt=("MLOps joins DevOps, DataOps and ModelOps. A retrained model must be checked against "
            "the current champion before it replaces it. Which part is that?"),
    options=[
        Option("a", "DevOps", "DevOps builds, tests and releases code; comparing a new model's "
                              "quality with the one in production is about the model"),
        Option("b", "DataOps", "DataOps keeps the data pipelines reliable and versioned; the "
                               "decision here is about a model's quality, not the data's"),
        Option("c", "ModelOps", "comparing, promoting and monitoring model versions is the "
                                "model-specific part that plain DevOps lacks"),
    ],
    answer="c",
    hints=["ask which of the three exists only because there are models"],
)

choose_all(
    LAB, "q2", title="Why care about MLOps",
    prompt="Which of these are risks or costs that MLOps is meant to reduce?",
    options=[
        Option("a", "A model that quietly gets worse in production",
               "technical risk: without monitoring nobody notices the decline"),
        Option("b", "A model trained on data it was not allowed to use",
               "compliance risk: governance and lineage make this visible and preventable"),
        Option("c", "A manual, hand-copied deployment that takes days",
               "slow manual steps are what automation removes, and where errors slip in"),
        Option("d", "Needing a GPU to train deep networks",
               "hardware needs are a property of the model, not a process or automation "
               "problem MLOps solves"),
    ],
    answer={"a", "b", "c"},
    hints=["MLOps is about process and automation: which options are about those?"],
)

# ------------------------------------------------------------ 2. people and principles
multiple_choice(
    LAB, "q3", title="Who does what",
    prompt=("A trained model works in a notebook; now it must answer requests behind a REST "
            "endpoint with a latency target. Whose job is that, typically?"),
    options=[
        Option("a", "The data scientist", "the data scientist frames the problem and trains and "
                                          "tunes the model; serving it reliably is the next hand-off"),
        Option("b", "The ML engineer", "deploying and operating the model in production, with its "
                                       "latency and reliability targets, is the ML engineer's role"),
        Option("c", "The data governance officer", "governance decides who may use which data and "
                                                   "checks compliance; it does not run endpoints"),
        Option("d", "The business stakeholder", "the stakeholder owns the business value and the "
                                                "goal, not the serving infrastructure"),
    ],
    answer="b",
    hints=["look at the roles table: who moves a model into production?"],
)

multiple_choice(
    LAB, "q4", title="Process before automation",
    prompt=("A team wants to automate model promotion, but nobody agrees yet on what a model "
            "must pass to be promoted. Following the guiding principles, what comes first?"),
    options=[
        Option("a", "Write the automation now and refine the rules later",
               "automating an undefined process bakes in whichever rule the script happens to "
               "use; the principle is that process guides automation"),
        Option("b", "Agree on the promotion process and its checks, then automate it",
               "the process defines what the automation must do; automation then makes it "
               "repeatable"),
        Option("c", "Buy a platform that decides for them",
               "a platform runs a process, it does not choose the checks that fit the business "
               "goal"),
    ],
    answer="b",
    hints=["one principle says which of process and automation leads"],
)

# ------------------------------------------------------------ 3. reproducibility
choose_all(
    LAB, "q5", title="What must be reproducible",
    prompt="To rebuild last month's production model exactly, which must you be able to recover?",
    options=[
        Option("a", "The exact training data (a table version)",
               "data management: the same code on other rows gives another model"),
        Option("b", "The exact code (a commit)", "version control: the same data through other "
                                                 "code gives another model"),
        Option("c", "The model's params and environment", "model management: the run records "
                                                          "params, metrics and the environment"),
        Option("d", "The laptop it was trained on", "a recorded environment (packages, versions) "
                                                    "replaces the machine; the hardware itself "
                                                    "need not be kept"),
    ],
    answer={"a", "b", "c"},
    hints=["three kinds of reproducibility are named in the section"],
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
multiple_choice(
    LAB, "q7", title="Which MLflow component",
    prompt=("You need to know which model version serves production today, who moved it there "
            "and when. Which MLflow component answers that?"),
    options=[
        Option("a", "Tracking", "tracking records runs (params, metrics, artifacts); it does not "
                                "say which version is live"),
        Option("b", "Models", "the model format packages a model for many deployment tools; it "
                              "holds no lifecycle state"),
        Option("c", "Model registry", "the registry keeps versions, aliases such as champion, "
                                      "tags and their history: one place for the lifecycle"),
        Option("d", "Projects", "projects package code to run reproducibly; they do not track "
                                "deployed versions"),
    ],
    answer="c",
    hints=["which component has versions and aliases?"],
)

multiple_choice(
    LAB, "q8", title="Why a standard model format",
    prompt=("The same logged model is scored in a batch job, in a stream and behind a REST "
            "endpoint. What makes that possible without rewriting it three times?"),
    options=[
        Option("a", "The model format (flavors and pyfunc) that every tool loads the same way",
               "one format with a generic predict interface is what batch, streaming and "
               "serving tools all load"),
        Option("b", "Logging more metrics in the run",
               "metrics describe a model's quality; they do not make it loadable elsewhere"),
        Option("c", "Keeping the training notebook next to each deployment",
               "copying training code to every consumer is the rewrite the format avoids"),
    ],
    answer="a",
    hints=["what do batch, streaming and the endpoint all call?"],
)

# ------------------------------------------------------------ 5. the closed loop
multiple_choice(
    LAB, "q9", title="What closes the loop",
    prompt="In the full ML lifecycle, what turns a one-way pipeline into a closed loop?",
    options=[
        Option("a", "Monitoring production data and predictions, which triggers retraining",
               "what is seen in production flows back into new training: the loop closes"),
        Option("b", "Registering the model", "registering is a step on the way out; nothing "
                                             "flows back from it"),
        Option("c", "Tuning more hyperparameters before the first release",
               "a better first model is still a one-way trip if nothing watches it afterwards"),
    ],
    answer="a",
    hints=["the loop needs something that feeds production back into training"],
)

choose_all(
    LAB, "q10", title="Data is never static",
    prompt=("The review counts above change month by month. Which follow for a model trained "
            "once in January?"),
    options=[
        Option("a", "Its inputs in July can look unlike anything it was trained on",
               "seasonal data moves the inputs away from the training distribution"),
        Option("b", "Its accuracy must be watched after deployment, not only measured before",
               "a test score from January says nothing certain about July's data"),
        Option("c", "It stays correct as long as its code does not change",
               "the code can be unchanged while the data under it moves: that is the point of "
               "data-centric ML"),
    ],
    answer={"a", "b"},
    hints=["ask what changes when the code does not"],
)


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

    monthly = events.groupby(pd.to_datetime(events["event_time"]).dt.month).size()
    fig, ax = plt.subplots(figsize=(5.5, 2.4), dpi=90)
    ax.bar(monthly.index, monthly.to_numpy(), color="tab:blue")
    ax.set_xticks(range(1, 13))
    ax.set_xlabel("month")
    ax.set_ylabel("reviews")
    ax.set_title("Review events per month: the data moves with the seasons", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig

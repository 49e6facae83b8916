"""Concept checks of module 02 (model management): ``Lab("concepts-02")``.

Asked in ``notebooks/02-model-management/00-concepts.ipynb``, two to four at
the end of each section. ``q2`` is numeric and is checked against the
learner's own measurement (context ``inside_ms`` and ``bare_ms``).
"""
from __future__ import annotations

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-02"

# ------------------------------------------------------------ 1. where the transform lives
multiple_choice(
    LAB, "q1", title="Where skew cannot happen",
    prompt=("Training used log(price_per_night) and clipped outliers; the app that calls the "
            "endpoint re-implemented those steps in JavaScript. Which design removes the risk "
            "that the two implementations drift apart?"),
    options=[
        Option("a", "Precompute the transform once in the feature pipeline and ask every caller "
                    "to apply it to live requests",
               "live requests still need their own copy of the transform, so two "
               "implementations remain and can disagree"),
        Option("b", "Put the transform inside the model (a custom pyfunc) so the same code runs "
                    "at training and at serving",
               "one definition of the transform travels with the model: whatever scores the "
               "model runs exactly the training steps"),
        Option("c", "Document the transform in the model's description",
               "a description is read by people, not executed: nothing stops the two "
               "implementations from diverging"),
    ],
    answer="b",
    hints=["ask which option leaves exactly one implementation of the transform"],
)

numeric(
    LAB, "q2", title="What the transform costs per call",
    prompt=("From the latency table: how many milliseconds per single-row call does carrying "
            "the transform inside the model add to the bare model's p50?"),
    answer=lambda inside_ms, bare_ms: inside_ms - bare_ms,
    rel_tol=0.05, abs_tol=0.05,
    too_low="subtract the bare model's p50 from the inside-the-model p50, not the other way",
    too_high="compare the two p50 columns, not a p50 with a p95 or with the logging time",
    explanation="that is the price of the transform on every request, paid inside the model",
)

choose_all(
    LAB, "q3", title="Reasons to transform before training",
    prompt="Which are real advantages of computing the transform before the model is trained?",
    options=[
        Option("a", "It is computed once and reused by every model and every scoring run",
               "a precomputed feature table is paid for once and read many times"),
        Option("b", "It can use statistics of the full dataset (e.g. a global median or a "
                    "vocabulary), computed at scale",
               "a pipeline job sees all of the data, a request sees one row"),
        Option("c", "Serving needs less infrastructure",
               "the opposite: the precomputed features must be stored and served (a feature "
               "table, an online store), which grows the production footprint"),
        Option("d", "Changing the transform means re-logging just one model",
               "that is the strength of the inside-the-model design; before training, a change "
               "means recomputing tables and updating every consumer"),
    ],
    answer={"a", "b"},
    hints=["two of the four are true; one describes the other design, one is backwards"],
)

# ------------------------------------------------------------ 2. registries and environments
multiple_choice(
    LAB, "q4", title="Which topology is this kit's default",
    prompt=("This kit registers `dev.ada.price`, `staging.ada.price` and `prod.ada.price` in one "
            "MLflow registry. Which topology is that, and what is its main risk?"),
    options=[
        Option("a", "A central registry; its risk is clutter and coarse permissions, since "
                    "every environment lives in one store",
               "one store holds all environments, told apart by the name prefix: good "
               "visibility, but access control per team and per env gets complicated"),
        Option("b", "Per-workspace registries; its risk is limited observability",
               "per-workspace registries are separate stores (here: a separate "
               "MLOPS_KIT_REGISTRY_URI per env), not prefixes in one store"),
        Option("c", "No registry at all: the names are just run tags",
               "registered models with versions and aliases are registry entries, not run tags"),
    ],
    answer="a",
    hints=["count the registries the three names live in"],
)

multiple_choice(
    LAB, "q5", title="What per-environment registries buy",
    prompt="Why would a company accept the extra CI/CD work of one registry per environment?",
    options=[
        Option("a", "It makes every model's state visible from one place",
               "that is the central registry's strength; per-env registries make you visit "
               "each one"),
        Option("b", "Only a service account needs credentials for the prod registry, so prod "
                    "access is narrow",
               "people work in dev; promotion to staging and prod is done by automation "
               "holding the only prod credentials"),
        Option("c", "Models no longer need to be copied between environments",
               "they still move, only now by a CI/CD step that copies (or retrains) them"),
    ],
    answer="b",
    hints=["think about who may write to prod in each design"],
)

# ------------------------------------------------------------ 3. lifecycle transitions
multiple_choice(
    LAB, "q6", title="Stages versus aliases",
    prompt=("In the stage workflow a version moved None -> Staging -> Production -> Archived. "
            "What replaces 'transition version 7 to Production' in this kit?"),
    options=[
        Option("a", "Setting the tag stage=Production on version 7",
               "a tag documents; it does not make `models:/name@champion` resolve to version 7"),
        Option("b", "Moving the alias `champion` to version 7 (with `promote`, which also "
                    "records who, when and why)",
               "the alias is the pointer serving code resolves; the audit tags keep the "
               "approval trail stages used to give"),
        Option("c", "Registering version 7 again under a new name",
               "a new name breaks every consumer that asks for the old one"),
    ],
    answer="b",
    hints=["what does deployment code ask the registry for?"],
)

choose_all(
    LAB, "q7", title="What a stage request gave, and how it is kept",
    prompt=("Stage transitions could require an approval request. Which of these keep that "
            "control when aliases replace stages?"),
    options=[
        Option("a", "Only a CI/CD job (with its own credentials) may move the prod alias",
               "the approval becomes a gated pipeline step: the merge or the job's approval "
               "is the request"),
        Option("b", "Each promotion writes who, when, from which version and why as tags",
               "that is the audit trail an approval workflow left behind"),
        Option("c", "Aliases need no control because they cannot be moved back",
               "aliases move freely, which is exactly why their moves must be controlled "
               "and recorded"),
    ],
    answer={"a", "b"},
    hints=["one option is false about aliases"],
)

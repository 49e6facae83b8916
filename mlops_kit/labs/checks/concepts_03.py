"""Concept checks of module 03 (deployment): ``Lab("concepts-03")``.

Asked in ``notebooks/03-deployment/00-concepts.ipynb``. ``q6`` is numeric and
is checked against the learner's own latency measurements (context
``streaming_p50_ms`` and ``rest_p50_ms``).
"""
from __future__ import annotations

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-03"

# ------------------------------------------------------------ 1. DevOps, ModelOps, closed loop
multiple_choice(
    LAB, "q1", title="What ModelOps adds to DevOps",
    prompt=("A service's code did not change for three months, yet its predictions got worse. "
            "Which practice, absent from classic DevOps, would have caught it?"),
    options=[
        Option("a", "Continuous integration of every commit",
               "CI runs on code changes; here nothing in the code changed"),
        Option("b", "Monitoring model quality and input data in production, feeding retraining",
               "a model decays when the world moves, so ModelOps watches data and predictions "
               "and closes the loop back to training"),
        Option("c", "Rolling back to the previous release",
               "the previous release runs the same model on the same drifting data"),
    ],
    answer="b",
    hints=["what changed, if not the code?"],
)

# ------------------------------------------------------------ 2. environments and lifecycles
choose_all(
    LAB, "q2", title="How each asset is told apart",
    prompt="Which pairings of an asset with how it is separated between dev, staging and prod are right?",
    options=[
        Option("a", "Code: branches of the Git repository",
               "code is labelled by its development phase, i.e. the branch it lives on"),
        Option("b", "Models: registry names or permissions (here the `dev.`/`staging.`/`prod.` "
                    "prefix)",
               "a model is labelled by its lifecycle phase in the registry"),
        Option("c", "Data: the Git branch of the code that produced it",
               "data is labelled by the environment it came from and guarded by table or "
               "storage permissions, not by Git"),
        Option("d", "Execution environments: access control on the workspace or account",
               "where code runs is separated by who may use that environment"),
    ],
    answer={"a", "b", "d"},
    hints=["one pairing puts data under version control it does not live in"],
)

multiple_choice(
    LAB, "q3", title="Asynchronous lifecycles",
    prompt="A fraud model is retrained every week on new data while its code is untouched. What does that show?",
    options=[
        Option("a", "Model and code lifecycles move independently, so each needs its own "
                    "promotion path",
               "a new model version can appear with no commit, and a commit with no new model"),
        Option("b", "The team forgot to commit its changes",
               "retraining on new data produces a new model without any code change"),
        Option("c", "Models should only change when code changes",
               "that would leave the model stale while the data moves every week"),
    ],
    answer="a",
    hints=["what changed between two weekly models?"],
)

# ------------------------------------------------------------ 3. deployment patterns
multiple_choice(
    LAB, "q4", title="What moves to production",
    prompt="In the deploy-code pattern, what is promoted from staging to prod?",
    options=[
        Option("a", "The model file trained in dev",
               "that is the deploy-models pattern"),
        Option("b", "The training (and ancillary) code, which then retrains the model on prod data",
               "code is promoted and the model is rebuilt where the production data lives"),
        Option("c", "The model retrained in staging",
               "that is the hybrid pattern: code to staging, model from staging to prod"),
    ],
    answer="b",
    hints=["the name of the pattern says what moves"],
)

choose_all(
    LAB, "q5", title="Why deploy code is recommended",
    prompt="Which are real reasons deploy-code is the recommended pattern?",
    options=[
        Option("a", "Only the prod environment needs read access to prod training data",
               "people in dev never touch prod data; the retraining job does"),
        Option("b", "Retraining can be automated inside the locked-down prod environment",
               "the code that trains is already there, so a schedule or a trigger can run it"),
        Option("c", "It is the cheapest pattern in compute",
               "it trains more than once (staging and prod), so it costs more compute"),
        Option("d", "It needs no CI/CD infrastructure",
               "it depends on CI/CD to test and promote code, even for one-off models"),
    ],
    answer={"a", "b"},
    hints=["two options are costs of the pattern, not benefits"],
)

# ------------------------------------------------------------ 4. paradigms and latency
numeric(
    LAB, "q6", title="How much slower is streaming",
    prompt=("From your measurements: how many times larger is the streaming p50 (arrival to "
            "prediction) than the REST p50 (one request)? Round as you like."),
    answer=lambda streaming_p50_ms, rest_p50_ms: streaming_p50_ms / rest_p50_ms,
    rel_tol=0.1,
    too_low="divide the streaming p50 by the REST p50 (both in ms)",
    too_high="make sure both numbers are in milliseconds before you divide",
    explanation="each micro-batch pays planning, a Delta commit and a checkpoint: seconds, "
                "where a warm endpoint answers in milliseconds",
)

multiple_choice(
    LAB, "q7", title="Pick the paradigm",
    prompt=("Recommendations for every customer are needed by 7 a.m. and read from a table "
            "by the web app. Which paradigm fits best?"),
    options=[
        Option("a", "Batch",
               "the answers are needed hours ahead, for a known population: score them all "
               "overnight and serve stored predictions"),
        Option("b", "Real-time REST",
               "paying an always-on endpoint for answers that can be computed hours before "
               "they are read costs more and adds failure points"),
        Option("c", "On-device",
               "nothing here needs to run offline or on the user's hardware"),
    ],
    answer="a",
    hints=["when is each answer needed, and is the population known in advance?"],
)

# ------------------------------------------------------------ 5. feature serving, input examples
multiple_choice(
    LAB, "q8", title="What a feature-store model's caller sends",
    prompt="A model logged with its feature spec is served. What must a request carry?",
    options=[
        Option("a", "Every feature the model was trained on",
               "the endpoint fills the looked-up features from the online store; "
               "sending them only overrides them"),
        Option("b", "Only the lookup keys (features may be sent to override the stored values)",
               "the spec says which table and key each feature comes from, so keys suffice"),
        Option("c", "The Spark DataFrame of the training set",
               "an endpoint has no Spark: it reads one row per key from the online store"),
    ],
    answer="b",
    hints=["what did the request in the feature-serving demo hold?"],
)

multiple_choice(
    LAB, "q9", title="Why log an input example",
    prompt="Why does the kit log an input example with every model?",
    options=[
        Option("a", "It makes predictions faster",
               "the example is not used when scoring real requests"),
        Option("b", "So a new endpoint can be validated with a request known to be valid, "
                    "before traffic reaches it",
               "sending the logged example proves the served model loads, parses its own "
               "inputs and answers"),
        Option("c", "MLflow needs it to store the weights",
               "the weights are stored whether or not an example is logged"),
    ],
    answer="b",
    hints=["think about the first request a new endpoint should receive"],
)

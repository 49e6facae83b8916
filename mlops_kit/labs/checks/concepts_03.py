"""Concept checks of module 03 (deployment): ``Lab("concepts-03")``.

Asked in ``notebooks/03-deployment/00-concepts.ipynb``, in the order of the
notebook. Most describe a situation the sections did not, so the learner has to
apply an idea rather than find a sentence; ``q7`` and ``q11`` are asked before
the cell that measures their answer (predict, then run); ``q8`` is numeric and
is checked against the learner's own batch job time (context ``job_p50_ms``).
"""
from __future__ import annotations

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-03"

# ------------------------------------------------------------ 1. DevOps, ModelOps, closed loop
multiple_choice(
    LAB, "q1", title="What would have caught it",
    prompt=("A demand-forecast service has green CI on every commit and can roll back any release "
            "in minutes. Over one quarter, with no release at all, its forecast error doubled. "
            "Which signal would have shown the problem first?"),
    options=[
        Option("a", "A unit test that fails in CI",
               "CI runs when code changes; nothing was committed, so no test ran, and the code "
               "still does what its tests say"),
        Option("b", "The distribution of the inputs the service receives, compared with the "
                    "training data, and its error once outcomes arrive",
               "the world moved while the code stood still; only watching the data and the "
               "predictions in production sees that, and it is what closes the loop back to "
               "retraining"),
        Option("c", "The endpoint's p99 latency",
               "a model that is wrong answers just as fast as one that is right"),
        Option("d", "The rate of rolled-back releases",
               "there were no releases to roll back, and the previous release runs the same "
               "model on the same moving data"),
        Option("e", "Test coverage of the training code",
               "coverage measures which lines tests run; the lines did not change"),
    ],
    answer="b",
    hints=["what changed during that quarter, if not the code?"],
)

# ------------------------------------------------------------ 2. environments and lifecycles
choose_all(
    LAB, "q2", title="What a dev-only account may do",
    prompt=("A new hire has access to the dev environment only. Under the separation of section 2 "
            "(and this kit's env prefixes), which of these can they still do?"),
    options=[
        Option("a", "Push a feature branch with changed training code",
               "code is separated by branch, and branches are where development happens; "
               "merging to the release branch is what CI and review guard"),
        Option("b", "Read the prod listings table to debug a feature",
               "data is separated by table or storage permissions: prod data is read by prod's "
               "jobs, not by people in dev"),
        Option("c", "Register a model named dev.<user>.price",
               "the dev registry space is theirs; models carry the env in their name (or in "
               "registry permissions)"),
        Option("d", "Move the champion alias of prod.<user>.price",
               "a prod model's lifecycle phase is guarded by registry permissions that dev "
               "accounts do not hold; promotion to prod is automated or reviewed"),
        Option("e", "Run a notebook inside the prod workspace",
               "execution environments are separated by access control on the workspace or "
               "account itself"),
    ],
    answer={"a", "c"},
    hints=["for each action, find its asset in the section 2 table and ask who may touch that "
           "asset in prod"],
)

multiple_choice(
    LAB, "q3", title="A model version with no commit",
    prompt=("The registry shows price v7, registered last night. The training code's last commit "
            "is three weeks old. In a healthy deploy-code setup, what is the likeliest explanation?"),
    options=[
        Option("a", "Someone trained it by hand and bypassed CI",
               "possible, but nothing points to it, and in a healthy setup nobody registers "
               "models by hand"),
        Option("b", "A scheduled training job ran the same code on newer data",
               "models and code have separate lifecycles: the data moves every day, so the same "
               "code keeps producing new versions"),
        Option("c", "The registry is out of sync with Git and v7 must be rolled back",
               "a version without a matching commit is not a fault in itself, and nothing says "
               "v7 is worse than v6"),
        Option("d", "v7 has the same weights as v6, since the code is the same",
               "the same code does not make the same weights: a fit depends on more than the "
               "code"),
    ],
    answer="b",
    hints=["what else, besides code, goes into a trained model?"],
)

# ------------------------------------------------------------ 3. deployment patterns
multiple_choice(
    LAB, "q4", title="Pick the pattern for a locked-down prod",
    prompt=("A bank's rule: only the prod environment may read customer transactions, and the "
            "fraud model must retrain every month on them, without a person in the loop. Which "
            "pattern fits?"),
    options=[
        Option("a", "Deploy models",
               "the model is trained in dev, so dev would have to read the transactions"),
        Option("b", "Deploy code",
               "the training code is promoted, and prod runs it on its own data, on a schedule; "
               "nobody outside prod reads the transactions"),
        Option("c", "Hybrid",
               "the model is trained in staging, which would have to read the transactions too"),
        Option("d", "None: a model cannot be trained without someone reading its data",
               "a job can read data that no person may read"),
    ],
    answer="b",
    hints=["for each pattern, in which environment does training read its data?"],
)

multiple_choice(
    LAB, "q5", title="Where training code first meets data",
    prompt=("In the recommended deploy-code flow, where does the training code first run end to "
            "end, and on what?"),
    options=[
        Option("a", "In prod, on the full data, right after the merge",
               "then a broken training step would first fail where a failure costs the most"),
        Option("b", "In dev, on a copy of the prod data",
               "dev never reads prod data in this pattern: that is one of its reasons to exist"),
        Option("c", "In staging, on a small subset of data, as an integration test",
               "a subset runs every step (read, featurize, fit, log) in seconds; it proves the "
               "code works, and prod later trains the model that is served"),
        Option("d", "In staging, on the full data, producing the model prod will serve",
               "that describes the hybrid pattern, where staging's model is promoted"),
        Option("e", "Nowhere before prod: code is promoted after its unit tests pass",
               "unit tests check functions one by one; they do not prove the steps work "
               "together on real data"),
    ],
    answer="c",
    hints=["reread the steps of the deploy-code flow and the cell that tested the training code"],
)

choose_all(
    LAB, "q6", title="What ships with a new feature",
    prompt=("The next price model uses a new input, days_since_last_review. In a deploy-code "
            "release, which must reach prod in the same release as the training code?"),
    options=[
        Option("a", "The code that computes days_since_last_review",
               "prod must compute the new input for training and scoring, with the same code"),
        Option("b", "The monitoring job's settings, so it watches the new input's drift",
               "ancillary code ships with the model: a model in prod without the checks that "
               "watch it is flying blind on its newest input"),
        Option("c", "The model file the data scientist trained in dev",
               "in deploy code, prod trains its own model from the promoted code; dev's model "
               "stays in dev"),
        Option("d", "The exploratory notebook the feature was found in",
               "exploration is not production code; what ships is the tested code it led to"),
        Option("e", "The batch scoring job, updated to pass the new column to the model",
               "the scoring job is the model's caller; without the column it cannot score the "
               "new model"),
    ],
    answer={"a", "b", "e"},
    hints=["ask, for each item, whether prod can train, score and watch the new model without it"],
)

# ------------------------------------------------------------ 4. paradigms and latency
multiple_choice(
    LAB, "q7", title="Predict: the batch job or one streaming arrival",
    prompt=("Predict before you run the next cells: which takes longer on this machine, the "
            "batch job scoring the whole listings table, or one streaming arrival (a few dozen "
            "new rows) from its append until its predictions are in the sink?"),
    options=[
        Option("a", "The batch job: it scores many times more rows",
               "scoring a few thousand rows is a small part of either path; the costs that are "
               "paid once per run decide, and they are not equal"),
        Option("b", "One streaming arrival",
               "the arrival pays a Delta commit of its rows, the wait for the next trigger, the "
               "micro-batch's planning, a commit to the sink and a checkpoint write, while the "
               "timed batch job only scores and writes nothing"),
        Option("c", "They take about the same, since the model and the engine are the same",
               "the model is the same, but the two paths do different work around it"),
        Option("d", "The batch job, because it also waits for its schedule",
               "the question times the job's run only; the schedule's wait comes later in the "
               "section"),
    ],
    answer="b",
    hints=["list what each path does besides applying the model"],
)

numeric(
    LAB, "q8", title="Batch latency on a faster schedule",
    prompt=("Suppose the batch job ran every 15 minutes instead. With your measured job time "
            "(p50), what would be the median time, in seconds, from a row's arrival to its "
            "stored prediction?"),
    answer=lambda job_p50_ms: 15 * 60 / 2 + job_p50_ms / 1000,
    rel_tol=0.02,
    too_low=("a row that arrives at a random moment waits for the next run to start, and then "
             "for the run itself"),
    too_high="at the median, a row does not wait a whole interval for the next run",
    explanation=("half the interval (450 s) plus the run: a faster schedule shrinks the wait, "
                 "which is nearly all of batch latency"),
    hints=["use the model of the cell that built the batch latencies: wait, then run"],
)

multiple_choice(
    LAB, "q9", title="Pick the paradigm",
    prompt=("A ride-hailing app prices a trip the moment the rider types the destination; the "
            "price depends on that destination and on how many drivers are near right now. "
            "Which paradigm fits?"),
    options=[
        Option("a", "Batch, scored every night",
               "the destination is not known the night before, so there is nothing to score "
               "in advance"),
        Option("b", "Streaming, scoring trips as they land in a table",
               "the rider waits on the answer; a micro-batch costs seconds, as you measured"),
        Option("c", "Real-time: a REST endpoint scoring each request",
               "the input exists only at request time and the rider waits on the answer: a "
               "request that takes milliseconds is the only fit"),
        Option("d", "Embedded in the app on the phone",
               "the live count of nearby drivers lives on the server, not on the phone"),
    ],
    answer="c",
    hints=["when does the input exist, and who waits for the answer?"],
)

# ------------------------------------------------------------ 5. MLflow deployment options
multiple_choice(
    LAB, "q10", title="A forest in a stream",
    prompt=("The champion is replaced by a random forest. A Structured Streaming query scores "
            "its micro-batches with the kit's engine=\"auto\". What scores them now?"),
    options=[
        Option("a", "The model compiled to one Spark SQL expression",
               "only a linear pipeline has a Spark SQL form here; a forest has none, and the "
               "compiler refuses it"),
        Option("b", "mlflow.pyfunc.spark_udf, on Spark's Python workers",
               "the fallback for any MLflow model: it loads the model once per worker and "
               "scores Arrow batches, in batch jobs and streams alike"),
        Option("c", "A REST request per row to `mlflow models serve`",
               "a network round trip per row would be far slower, and the query never calls "
               "an endpoint"),
        Option("d", "The container image from generate-dockerfile",
               "that image serves REST requests; a streaming query does not call it"),
        Option("e", "mlflow.pyfunc.load_model on the driver, row by row",
               "that would score on one process and ship every row to it; Spark scores on its "
               "workers"),
    ],
    answer="b",
    hints=["look at the table of MLflow options, then at what engine=\"auto\" falls back to"],
)

# ------------------------------------------------------------ 6. feature serving, input examples
multiple_choice(
    LAB, "q11", title="Predict: an online lookup or a REST request",
    prompt=("Predict before you run the next cells: one lookup of one key in the SQLite online "
            "store, compared with the REST round trip you measured in section 4. Which is true?"),
    options=[
        Option("a", "The lookup takes about as long as the REST round trip",
               "the request also pays HTTP, JSON parsing, validation and the model, none of "
               "which a lookup does"),
        Option("b", "The lookup is slower: it reads from disk",
               "an indexed read of a small SQLite file is served from the operating system's "
               "page cache, not from the disk"),
        Option("c", "The lookup is a small fraction of the REST round trip",
               "an indexed read in the same process costs microseconds; the round trip pays "
               "the network stack, parsing and the model"),
        Option("d", "The lookup is slower than a streaming arrival",
               "a streaming arrival pays commits and a checkpoint: seconds; a lookup does none "
               "of that"),
    ],
    answer="c",
    hints=["list what a REST request does that a lookup does not"],
)

multiple_choice(
    LAB, "q12", title="How fresh is a served feature",
    prompt=("At 10:00 the feature table learns that listing 17 now has 3 bedrooms (it had 2). "
            "publish_table last ran at 08:00 and runs again at 12:00. A keys-only request for "
            "listing 17 arrives at 11:00. Which bedrooms value does the model use?"),
    options=[
        Option("a", "3, the feature table's newest value",
               "the endpoint has no Spark and never opens the feature table's Delta files"),
        Option("b", "2, the value in the online store",
               "the online store holds what was last published; until 12:00 that is the "
               "08:00 value"),
        Option("c", "The value listing 17 had in the training set",
               "the model stores the lookup (table and key), not feature values"),
        Option("d", "None: the request fails until the store is republished",
               "the store has a row for the key, just an older one; the request is answered"),
    ],
    answer="b",
    hints=["which store does the endpoint read, and when was it last written?"],
)

multiple_choice(
    LAB, "q13", title="The input example fails",
    prompt=("A new endpoint answers /ping, but the request made of the model's own logged input "
            "example gets 400 \"column bedrooms must hold a double\". What do you learn?"),
    options=[
        Option("a", "Nothing alarming: /ping answered, so the endpoint is healthy",
               "/ping only says the process is up, not that the model can score"),
        Option("b", "The caller built a bad request",
               "the example was logged with the model from its training data; it is valid by "
               "construction"),
        Option("c", "The served model cannot parse inputs shaped like its own training data: "
                    "fix the schema or the loading before any traffic",
               "that is what sending the input example first is for: a request known to be "
               "valid that fails points at the endpoint or the model, found before a customer "
               "finds it"),
        Option("d", "The model is too slow and timed out",
               "a timeout is not a 400 naming a column"),
    ],
    answer="c",
    hints=["where did the request's body come from?"],
)

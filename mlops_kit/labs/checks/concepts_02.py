"""Concept checks of module 02 (model management): ``Lab("concepts-02")``.

Asked in ``notebooks/02-model-management/00-concepts.ipynb``, at the end of
each section. Two are numeric and checked against the learner's own
measurements: ``q1`` against the skew table (context ``skew``, the frame whose
two columns are the model's and the caller's prices) and ``q2`` against the
latency measurement (context ``inside_ms`` and ``bare_ms``).
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric

LAB = "concepts-02"


def _largest_gap(skew: Any) -> float:
    """The largest absolute difference between the two price columns of the skew table."""
    model, caller = skew.columns[:2]
    return float((skew[model] - skew[caller]).abs().max())


# ------------------------------------------------------------ 1. where the transform lives
numeric(
    LAB, "q1", title="What the forgotten clip costs",
    prompt=("In the skew table, for the listing where the two columns disagree the most: by how "
            "many dollars does the caller's copy (without the clip) differ from the model that "
            "carries the transform? Give the size of the difference."),
    answer=lambda skew: _largest_gap(skew),
    rel_tol=0.02, abs_tol=0.15,
    too_low="that is not the row with the largest disagreement, or one column was misread: "
            "compare the two columns row by row and keep the largest difference",
    too_high="subtract one column from the other within the same row; do not add the two "
             "prices or compare different rows",
    explanation=("no error was raised anywhere: the caller's copy fed the model inputs outside "
                 "anything it was trained on (minimum nights beyond the clip bound), and the "
                 "price silently moved by that much"),
    hints=["look at the skew table's rows one at a time"],
)

numeric(
    LAB, "q2", title="What the transform costs per call",
    prompt=("From the latency measurement: how many milliseconds per single-row call does "
            "carrying the transform inside the model add to the bare model's p50?"),
    answer=lambda inside_ms, bare_ms: inside_ms - bare_ms,
    rel_tol=0.05, abs_tol=0.05,
    too_low="subtract the bare model's p50 from the inside-the-model p50, not the other way",
    too_high="compare the two p50 values of the latency cell, nothing else",
    explanation="that is the price of the transform on every request, paid inside the model",
)

choose_all(
    LAB, "q3", title="What a request cannot see",
    prompt=("Which of these features can only be computed by a pipeline that sees many rows "
            "(before training and before scoring), not inside the model from the row of a "
            "request alone?"),
    options=[
        Option("a", "How many listings the same host has in the whole dataset",
               "it counts rows other than the one being scored: a request of one listing "
               "cannot know how many others its host has"),
        Option("b", "Beds per guest (beds divided by accommodates)",
               "both columns are in the row itself, so the model can compute it on any request"),
        Option("c", "The log of the listing's minimum nights",
               "a function of one value of the row: computable inside the model on every call"),
        Option("d", "The number of reviews the listing received in the last 30 days, from the "
                    "review events",
               "it aggregates another table's history over time, which a request does not "
               "carry: a pipeline computes it and stores it for lookup"),
        Option("e", "Clipping accommodates to at most 16",
               "the bound is a constant shipped with the model; the row is all it needs"),
    ],
    answer={"a", "d"},
    hints=["for each feature, ask which rows (or tables) it must read besides the request's own row"],
)

# ------------------------------------------------------------ 3. registries and environments
multiple_choice(
    LAB, "q4", title="Crossing into a prod registry",
    prompt=("A company runs its prod jobs with MLOPS_KIT_REGISTRY_URI pointing at a prod-only "
            "MLflow server; dev and staging keep the default store you saw above. A dev version "
            "passed validation. What must happen before `models:/prod.ada.price@champion` "
            "serves it?"),
    options=[
        Option("a", "Move the alias `champion` of `dev.ada.price` to that version",
               "that alias lives in the dev store; the prod jobs resolve names in their own "
               "store and never see it"),
        Option("b", "Nothing: the name already carries `prod.`, so prod finds it",
               "a name is only looked up in the store a process is pointed at; the prod "
               "server has no record of anything registered elsewhere"),
        Option("c", "A pipeline step that holds the prod credentials copies the version into "
                    "the prod store and sets the alias there",
               "two stores share nothing: the model's artifacts and a new version must be "
               "created in prod, by the only identity allowed to write there"),
        Option("d", "Register the dev run's model again under `prod.ada.price` from a dev "
                    "notebook",
               "the dev notebook is pointed at the dev store, so the new name lands there, "
               "where the prod jobs never look"),
    ],
    answer="c",
    hints=["ask which store each process reads, and who may write to the prod one"],
)

multiple_choice(
    LAB, "q5", title="Prevent, not just notice",
    prompt=("A notebook in dev moved `champion` on the wrong model and production served it for "
            "an hour. Which setup would have made that move impossible, rather than only "
            "visible afterwards?"),
    options=[
        Option("a", "One central registry where every promotion writes who, when and why",
               "an audit trail tells you afterwards who did it; it does not stop the move"),
        Option("b", "A tag env=prod on every version that production may serve",
               "tags are written by anyone who can write the store; a tag documents, it does "
               "not restrict"),
        Option("c", "Names of the form <env>.<user>.<name>",
               "a prefix is a label: whoever may write the store may write any name in it"),
        Option("d", "A registry per environment, where only the deployment pipeline's "
                    "service account can write to prod",
               "the dev notebook holds no credentials for the prod store, so its mistake "
               "cannot reach production"),
    ],
    answer="d",
    hints=["for each setup, ask whether the dev notebook could still write what production reads"],
)

# ------------------------------------------------------------ 4. lifecycle transitions
multiple_choice(
    LAB, "q6", title="After the archive",
    prompt=("Right after the walk-through's `archive(...)` step, a serving process asks for "
            "`models:/<its name>@champion` (before the clean-up cell deletes the model). What "
            "does it get?"),
    options=[
        Option("a", "An error: no version carries the alias any more",
               "archive removed both aliases (see the audit trail's last row), and an alias "
               "never moves on its own, so there is nothing to resolve"),
        Option("b", "Version 1, because archived versions stay loadable",
               "loadable by number is not the same as reachable by alias: look at what the "
               "archive step did to the aliases"),
        Option("c", "The newest version that is not archived",
               "aliases do not fall back to anything: they point where someone put them, or "
               "nowhere"),
        Option("d", "Version 1, with a warning that it is archived",
               "the archived tag is information for people; it does not change how an alias "
               "resolves"),
    ],
    answer="a",
    hints=["read the alias column of the audit trail's last row"],
)

multiple_choice(
    LAB, "q7", title="Moving an alias by hand",
    prompt=("A colleague moves `champion` with `MlflowClient().set_registered_model_alias(...)` "
            "instead of the kit's `promote(...)`. What is lost?"),
    options=[
        Option("a", "The move itself: serving keeps loading the previous version",
               "the alias moves either way; every consumer that resolves @champion gets the "
               "new version"),
        Option("b", "The new version's signature and input example",
               "those are files of the model version; an alias move does not touch them"),
        Option("c", "The record of who moved it, from which version and why",
               "the bare call only moves the pointer; the tags an approval review reads (who, "
               "when, from, why) are what promote adds"),
        Option("d", "The previous version's artifacts",
               "moving an alias deletes nothing: the previous version stays loadable by "
               "number"),
    ],
    answer="c",
    hints=["compare what each call writes to the registry"],
)

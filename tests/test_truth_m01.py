"""Modules 00 and 01 tell the truth: each test pins one mistake a reader found in the course.

Each check is a function of the files it reads (a notebook, a checks module), so it
can be pointed at an older version of them to see it fail:

- autologging: MLflow's scikit-learn autolog does log a test split's score when
  ``sklearn.metrics`` scores the autologged model's predictions (post-training
  metrics); the lessons and concept question 01 q11 must not teach otherwise;
- selection: the tracking lesson (01.3) and its lab rank a grid on a validation
  split and measure the chosen model once on the test split;
- concept question 01 q4's hints name only panels the concepts plot draws;
- the Delta lab's guard lets the good commits of its story (price corrections,
  deletes of delisted rows) through, so ``delta.appendOnly`` is not the answer.
"""
from __future__ import annotations

import re
import runpy
from pathlib import Path
from unittest import mock

import matplotlib
import nbformat
import pytest

from mlops_kit.labs import quiz
from notebook_runner import REPO

matplotlib.use("Agg")

CONCEPTS_01 = REPO / "notebooks/01-experimentation/00-concepts.ipynb"
TRACKING = REPO / "notebooks/01-experimentation/03-experiment-tracking.ipynb"
TRACKING_LAB = REPO / "solutions/01-experimentation/03L-experiment-tracking-lab.ipynb"
DELTA_LAB = REPO / "solutions/01-experimentation/01L-delta-lab.ipynb"
QUESTIONS_01 = REPO / "mlops_kit/labs/checks/concepts_01.py"
DELTA_CHECKS = REPO / "mlops_kit/labs/checks/delta_lab.py"
#: every panel label a course notebook gives plot_file_ranges
PANEL_WORDS = ("small files", "compacted", "z-ordered")


def questions(path: Path) -> dict[str, dict]:
    """The concept questions a checks module declares, read without registering them."""
    found: dict[str, dict] = {}

    def record(kind):
        def declare(lab_id, question_id, **spec):
            found[question_id] = {"kind": kind, **spec}
        return declare

    with mock.patch.multiple(quiz, multiple_choice=record("choice"), choose_all=record("all"),
                             numeric=record("number")):
        runpy.run_path(str(path))
    return found


def markdown(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def code(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


# ------------------------------------------------------------------ autologging
def test_autolog_logs_a_test_splits_sklearn_metric(workspace) -> None:
    """The fact the lessons teach: r2_score on the autologged model's predictions is logged."""
    import mlflow
    from sklearn import metrics
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score as imported_before_autolog
    from sklearn.model_selection import train_test_split

    from mlops_kit.datasets import listings
    from mlops_kit.tracking import price_features

    X_train, X_test, y_train, y_test = train_test_split(*price_features(listings(200, seed=1)),
                                                        test_size=0.2, random_state=1)
    workspace.set_experiment("autolog_fact")
    mlflow.sklearn.autolog(silent=True, log_models=False)
    try:
        with mlflow.start_run() as run:
            model = Ridge().fit(X_train, y_train)
            score = metrics.r2_score(y_test, model.predict(X_test))
            imported_before_autolog(y_train, model.predict(X_train))
    finally:
        mlflow.sklearn.autolog(disable=True)
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["r2_score_X_test"] == pytest.approx(score)
    assert any(key.startswith("training_") for key in logged)
    assert "r2_score_X_train" not in logged, "a function imported before autolog is not patched"


def autolog_mistakes(notebooks: list[Path], questions_path: Path) -> list[str]:
    """Sentences or answers that say autolog cannot record a test split's score."""
    wrong = re.compile(r"cannot know[^.]*\btest\b|autologging cannot know \(test metrics", re.I)
    found = [f"{p.name}: {m.group(0)!r}" for p in notebooks for text in markdown(p)
             for m in [wrong.search(text)] if m]
    q11 = questions(questions_path)["q11"]
    right = q11["answer"] if isinstance(q11["answer"], (set, frozenset)) else {q11["answer"]}
    explained = " ".join(o.why for o in q11["options"] if o.key in right)
    if "post-training" not in explained:
        found.append("q11's explanation does not teach post-training metrics")
    for option in q11["options"]:
        if re.search(r"test[^.]*(yours to log|must .* log)", option.why, re.I):
            found.append(f"q11 option {option.key}: {option.why!r}")
    return found


def test_lessons_and_q11_teach_what_autolog_logs() -> None:
    assert autolog_mistakes([CONCEPTS_01, TRACKING], QUESTIONS_01) == []


def test_q11_is_asked_before_the_autolog_cell_runs() -> None:
    """A prediction, not a reading of the output above it."""
    sources = code(CONCEPTS_01)
    asked = next(i for i, s in enumerate(sources) if s.startswith('lab.ask("q11")'))
    autolog = next(i for i, s in enumerate(sources) if "mlflow.sklearn.autolog(" in s)
    assert asked < autolog


# ------------------------------------------------------------------ selection
def selection_mistakes(path: Path) -> list[str]:
    """Places where a notebook ranks candidates by a non-validation metric."""
    found = []
    for source in code(path):
        for order in re.findall(r"order_by=\[([^\]]*)\]", source):
            for metric in re.findall(r"metrics\.(\w+)", order):
                if not metric.startswith("val_"):
                    found.append(f"{path.name}: ranks by metrics.{metric}")
    return found


def test_the_tracking_lesson_and_lab_rank_on_validation() -> None:
    assert selection_mistakes(TRACKING) == []
    assert selection_mistakes(TRACKING_LAB) == []


def logs_test_error_once(path: Path) -> bool:
    """A test error is logged after the search ranks its runs, outside any child run."""
    sources = code(path)
    ranked = [i for i, s in enumerate(sources) if "search_runs(" in s and "order_by" in s]
    tested = [i for i, s in enumerate(sources)
              if re.search(r"log_metric\(\s*\"test_rmse\"", s) and "nested=True" not in s]
    return bool(ranked and tested) and min(tested) > min(ranked)


def test_the_chosen_model_is_tested_once_after_the_search() -> None:
    assert logs_test_error_once(TRACKING) and logs_test_error_once(TRACKING_LAB)


# ------------------------------------------------------------------ q4's hint
def drawn_panels(path: Path) -> list[str]:
    """The panel titles of the file-ranges plot the notebook draws (labels read from its code)."""
    import pandas as pd

    from mlops_kit.delta_plots import plot_file_ranges

    labels = []
    for source in code(path):
        labels += re.findall(r'ranges\["([^"]+)"\]\s*=', source)
        labels += re.findall(r'\{"([^"]+)":\s*file_ranges\(', source)
    frame = pd.DataFrame({"min": [1.0], "max": [2.0]})
    figure = plot_file_ranges({label: frame for label in dict.fromkeys(labels)}, above=1.5)
    return [ax.get_title() for ax in figure.axes]


def panels_named_but_not_drawn(questions_path: Path, notebook: Path) -> list[str]:
    titles = " ".join(drawn_panels(notebook))
    q4 = questions(questions_path)["q4"]
    named = [w for hint in q4["hints"] for w in PANEL_WORDS if w in hint]
    return [w for w in named if w not in titles]


def test_q4_hints_name_only_panels_the_plot_draws() -> None:
    assert len(drawn_panels(CONCEPTS_01)) >= 2
    assert panels_named_but_not_drawn(QUESTIONS_01, CONCEPTS_01) == []


# ------------------------------------------------------------------ the Delta lab's guard
def guard_mistakes(solution: Path, checks: Path) -> list[str]:
    """Why the lab's accepted guard would stop its own story's good commits."""
    found = []
    for source in code(solution):
        if "### BEGIN SOLUTION" in source and re.search(r"delta\.appendOnly'\s*=\s*'true'", source):
            found.append("the solution's guard is delta.appendOnly, which refuses every "
                         "UPDATE and DELETE")
    text = checks.read_text()
    for statement in ("UPDATE", "DELETE"):
        if not re.search(rf'f"{statement} (FROM )?delta\.`{{copy}}`', text):
            found.append(f"the checker never tries a good {statement} on the learner's table")
    return found


def test_the_delta_labs_guard_lets_corrections_and_deletes_through() -> None:
    assert guard_mistakes(DELTA_LAB, DELTA_CHECKS) == []


def test_every_bad_write_of_the_delta_lab_breaks_a_rule_on_prices() -> None:
    """A CHECK constraint can stop each bad write: each one leaves prices no good job writes."""
    from mlops_kit.labs.checks import delta_lab

    for kind in delta_lab.BAD_KINDS:
        if kind == "missing_prices":
            continue  # an UPDATE to NULL: any CHECK on price rejects a NULL
        rows = delta_lab._bad_rows(kind, seed=3)
        assert ((rows["price"] <= 0) | (rows["price"] >= 2000)).any(), kind
    assert set(delta_lab.BAD_KINDS) >= {"missing_prices"}

"""Concept checks of the introduction and module 01: numeric questions against the
learner's own numbers, the notebooks' helpers, and that the notebooks ship unanswered."""
from __future__ import annotations

import json

import matplotlib
import pandas as pd
import pytest

from mlops_kit import datasets
from mlops_kit.labs import registry
from mlops_kit.labs.checks import concepts_01 as c01
from mlops_kit.labs.checks import concepts_intro as intro
from notebook_runner import REPO

matplotlib.use("Agg")

COVERS_EXERCISES = [("concepts-intro", "q6"), ("concepts-intro", "q10"), ("concepts-01", "q3"),
                    ("concepts-01", "q5")]


def _check(lab_id, question, value, **context):
    return registry.run_check(registry.get(lab_id, question), value, **context)


@pytest.mark.parametrize("value, passed, words", [
    (3.0, True, "cannot be reproduced"),
    (3.04, True, ""),
    (0.0, False, "too low"),
    (-3.0, False, "not two runs on the same seed"),
    (95.0, False, "too high"),
    ("3", False, "expected a number"),
])
def test_intro_q6_is_the_learners_own_rmse_difference(value, passed, words) -> None:
    result = _check("concepts-intro", "q6", value, rmse_a=52.0, rmse_b=49.0)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


def test_intro_q6_follows_the_measurement_not_a_constant() -> None:
    assert _check("concepts-intro", "q6", 1.5, rmse_a=40.0, rmse_b=41.5).passed
    assert not _check("concepts-intro", "q6", 1.5, rmse_a=52.0, rmse_b=49.0).passed


@pytest.mark.parametrize("value, passed, words", [
    (0.75, True, "only the files"),
    (0.76, True, ""),
    (0.25, False, "too low"),        # the share read, not skipped
    (0.9, False, "too high"),        # counted against the 20 small files
    (True, False, "expected a number"),
])
def test_01_q5_is_the_share_of_files_the_learners_query_skipped(value, passed, words) -> None:
    result = _check("concepts-01", "q5", value, files_read=2, files_total=8)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


@pytest.mark.parametrize("value, passed, words", [
    (200, True, "reads it as null"),
    (203, False, "too high"),        # the appended rows carry a value
    (3, False, "too low"),           # only the new rows
    (450, False, "too high"),        # every row ever written
])
def test_01_q3_counts_the_rows_that_existed_before_the_column(value, passed, words) -> None:
    result = _check("concepts-01", "q3", value, rows_now=200)
    assert result.passed is passed
    assert words in result.message + (result.hint or "")


def test_intro_q10_is_the_ratio_of_the_learners_busiest_to_quietest_month() -> None:
    times = ["2024-07-01"] * 6 + ["2024-01-02"] * 2 + ["2024-03-03"] * 4
    events = pd.DataFrame({"event_time": pd.to_datetime(times)})
    assert _check("concepts-intro", "q10", 3.0, events=events).passed
    assert not _check("concepts-intro", "q10", 1.5, events=events).passed   # July / March
    assert "too high" in _check("concepts-intro", "q10", 6.0, events=events).message


def test_kit_lines_counts_every_python_line(tmp_path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "pkg" / "b.py").write_text("z = 3\n")
    (tmp_path / "_model.py").write_text("m = 1\n")
    lines = intro.kit_lines(tmp_path)
    assert lines.to_dict() == {"pkg": 3, "_model": 1}
    assert "_price_model" in intro.kit_lines().index


def test_intro_tables_cover_the_roles_components_and_the_loop() -> None:
    assert list(intro.roles().index) == ["business stakeholder", "data engineer", "data scientist",
                                         "ML engineer", "data governance officer"]
    assert list(intro.mlflow_components().index) == ["tracking", "projects", "models", "model registry"]
    stages = intro.lifecycle()["stage"].tolist()
    assert stages[0] == "data" and stages[-1].startswith("retrain"), "a loop back to the data"


def test_plot_monthly_reviews_has_one_bar_per_month_with_the_counts() -> None:
    events = pd.DataFrame({"event_time": pd.to_datetime(["2024-01-05", "2024-01-09", "2024-03-01"])})
    ax = intro.plot_monthly_reviews(events).axes[0]
    assert [p.get_height() for p in ax.patches] == [2, 1]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("month", "reviews")


def test_feature_examples_computes_each_kind_for_the_listing() -> None:
    listings = datasets.listings(50, seed=1)
    events = datasets.review_events(listings, 400, seed=2, days=60)
    listing = int(events["listing_id"].iloc[-1])
    at = events["event_time"].iloc[-1]
    got = c01.feature_examples(listings, events, listing, at)
    mine = events[(events["listing_id"] == listing) & (events["event_time"] <= at)]
    assert got.loc["reviews_30d", "value"] == (mine["event_time"] > at - pd.Timedelta(days=30)).sum()
    assert got.loc["reviews_7d", "value"] <= got.loc["reviews_14d", "value"] <= got.loc["reviews_30d", "value"]
    row = listings.set_index("id").loc[listing]
    assert got.loc["neighbourhood_typical_price", "value"] == datasets.NEIGHBOURHOODS[row["neighbourhood"]][0]
    assert set(got["type"].str.split(" ").str[0]) == {"pre-computed", "augmentation", "real-time"}


def test_feature_store_answers_name_the_four_challenges() -> None:
    assert list(c01.FEATURE_STORE_ANSWERS.index) == [
        "data silos", "online/offline skew", "client configuration", "data freshness"]


@pytest.mark.parametrize("path, lab_id", [
    ("notebooks/00-setup/00-concepts.ipynb", "concepts-intro"),
    ("notebooks/01-experimentation/00-concepts.ipynb", "concepts-01"),
])
def test_concepts_notebook_asks_every_question_and_answers_none(path, lab_id) -> None:
    sources = ["".join(c["source"]) for c in json.loads((REPO / path).read_text())["cells"]
               if c["cell_type"] == "code"]
    checks = [s for s in sources if s.startswith("lab.check(")]
    asked = {e.exercise_id for e in registry.exercises(lab_id)}
    assert {s.split('"')[1] for s in checks} == asked
    assert all(s.startswith(f'lab.check("{s.split(chr(34))[1]}", None') for s in checks), \
        "a shipped concepts notebook never answers its own questions"

"""Checkers of the testing lab: they run the learner's suites, so vacuous, wrong-headed or
too-strict suites and leaky gates fail, each with a message that does not give the answer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from mlops_kit.exceptions import ExerciseError
from mlops_kit.labs import FILL_IN
from mlops_kit.labs.checks.testing_lab import (
    CAPACITY, FEED_SCALES, FeatureCode, accepts, broken_batches, capacity_feature, check_ex1,
    check_ex2, check_ex3, check_ex4, clean_batches, feed_scale, partner_feed, release,
    release_history, run_tests, train_model, training_table,
)
from mlops_kit.labs.registry import get

#: exercises whose checker these tests feed a right and wrong answers
COVERS_EXERCISES = [("testing-lab", "ex1"), ("testing-lab", "ex2"), ("testing-lab", "ex3"),
                    ("testing-lab", "ex4")]

#: learners 0, 4 and 8 get the three feed scales and the three capacity columns between them
LEARNERS = [0, 4, 8]
R = "review_scores_rating"


def test_every_exercise_registers_two_hints_or_more():
    for exercise in ("ex1", "ex2", "ex3", "ex4"):
        assert len(get("testing-lab", exercise).hints) >= 2


def test_learners_get_different_scales_capacities_and_histories():
    assert {feed_scale(n) for n in LEARNERS} == set(FEED_SCALES)
    assert {capacity_feature(n) for n in LEARNERS} == set(CAPACITY)
    assert [c.message for c in release_history(1)] != [c.message for c in release_history(2)]


def test_the_training_table_is_the_feed_in_stars():
    for learner in LEARNERS:
        table, feed = training_table(learner), partner_feed(learner)
        assert table[R].dropna().between(1, 5).all() and table[R].isna().any()
        assert np.allclose(feed[R].dropna() * 5 / feed_scale(learner), table[R].dropna())


# ------------------------------------------------------------------ the solution's answers
def unit_suite(scale):
    """The solution's unit tests for a feed on ``scale``."""
    def test_scores_become_stars(prepare):
        feed = pd.DataFrame({R: [0.0, scale / 5, scale / 2, scale]})
        assert prepare(feed)[R].tolist() == pytest.approx([0.0, 1.0, 2.5, 5.0])

    def test_a_listing_without_reviews_keeps_no_score(prepare):
        feed = pd.DataFrame({R: [np.nan, scale]})
        assert prepare(feed)[R].isna().tolist() == [True, False]

    def test_other_columns_pass_through(prepare):
        feed = pd.DataFrame({R: [scale], "price": [120.0], "bedrooms": [2]})
        assert prepare(feed)[["price", "bedrooms"]].equals(feed[["price", "bedrooms"]])

    return [test_scores_become_stars, test_a_listing_without_reviews_keeps_no_score,
            test_other_columns_pass_through]


ROOM_TYPES = ["Entire home/apt", "Private room", "Shared room", "Hotel room"]


def solution_schema(rating=pa.Column(float, pa.Check.in_range(1, 5), nullable=True), **replace):
    columns = {
        "id": pa.Column(int, unique=True),
        "neighbourhood": pa.Column(str),
        "room_type": pa.Column(str, pa.Check.isin(ROOM_TYPES)),
        "accommodates": pa.Column(int, pa.Check.in_range(1, 16)),
        "bedrooms": pa.Column(int, pa.Check.in_range(0, 10)),
        "bathrooms": pa.Column(float, pa.Check.in_range(0, 10)),
        "beds": pa.Column(int, pa.Check.in_range(0, 20)),
        R: rating,
        "latitude": pa.Column(float, pa.Check.in_range(37.6, 37.9)),
        "longitude": pa.Column(float, pa.Check.in_range(-122.6, -122.3)),
        "price": pa.Column(float, pa.Check.in_range(10, 5000)),
    }
    columns.update(replace)
    return pa.DataFrameSchema({k: v for k, v in columns.items() if v is not None})


def behaviour_suite(capacity, *, id_shift=None, tolerance=0.5):
    def test_the_id_does_not_move_the_price(model, listings):
        if id_shift is None:
            new_ids = listings["id"].sample(frac=1, random_state=0).to_numpy() + 10**6
        else:
            new_ids = listings["id"] + id_shift
        np.testing.assert_allclose(model.predict(listings.assign(id=new_ids)),
                                   model.predict(listings), atol=0.01)

    def test_more_capacity_does_not_lower_the_price(model, listings):
        bigger = listings.assign(**{capacity: listings[capacity] + 1})
        assert (model.predict(bigger) >= model.predict(listings) - tolerance).all()

    return [test_the_id_does_not_move_the_price, test_more_capacity_does_not_lower_the_price]


def solution_gate(learner, *, skip=(), train_first=False, own_prepare=None, fixed_model=None,
                  truthy=False):
    """The solution's gate; the keywords turn it into the wrong gates a learner writes."""
    unit, schema = unit_suite(feed_scale(learner)), solution_schema()
    behaviour = behaviour_suite(capacity_feature(learner))

    def gate(change):
        if "unit" not in skip:
            run = run_tests(unit, prepare=own_prepare or change.prepare)
            if truthy:
                if not run:
                    return False
            elif not run.passed:
                return False
        table = change.table()
        model = change.train(table) if train_first else None
        if "data" not in skip and not accepts(schema, table)[0]:
            return False
        model = fixed_model or model or change.train(table)
        if "behaviour" in skip:
            return True
        run = run_tests(behaviour, model=model, listings=table.head(200))
        return run if truthy else run.passed

    return gate


# ------------------------------------------------------------------------------ ex1
@pytest.mark.parametrize("learner", LEARNERS)
def test_ex1_accepts_tests_of_the_whole_contract(learner):
    result = check_ex1(unit_suite(feed_scale(learner)), learner=learner)
    assert result.passed, result.message


def wrong_tests():
    """Tests a learner writes that miss a bug or fail on right code (not collected here)."""
    def test_vacuous():
        assert True

    def check_stars(prepare):
        assert prepare(pd.DataFrame({R: [100.0]}))[R].tolist() == [5.0]

    def test_range_only(prepare):
        assert prepare(pd.DataFrame({R: [20.0, 100.0]}))[R].between(0, 5).all()

    def test_neighbours_scale(prepare):  # written for a 0-100 feed
        assert prepare(pd.DataFrame({R: [50.0]}))[R].tolist() == pytest.approx([2.5])

    def test_unknown_fixture(feature_code):
        assert feature_code is not None

    pinned = float(train_model(training_table(0)).predict(training_table(0).head(1))[0])

    def test_price_is_pinned(model, listings):
        assert model.predict(listings.head(1))[0] == pytest.approx(pinned, abs=0.01)

    return {f.__name__: f for f in (test_vacuous, check_stars, test_range_only, test_neighbours_scale,
                                    test_unknown_fixture, test_price_is_pinned)}


WRONG = wrong_tests()


def conversion_only(scale):
    return unit_suite(scale)[:1]


@pytest.mark.parametrize(("learner", "wrong", "says"), [
    (0, [WRONG["test_vacuous"]], "leaves the score on the partner's scale"),
    (0, [WRONG["test_range_only"]], "caps the score at 5"),
    (0, conversion_only(100.0), "turns a missing score"),
    (8, unit_suite(1.0)[:2], "drops every other column"),
    (4, [WRONG["test_neighbours_scale"]], "failed on the right feature code"),
    (0, [WRONG["test_unknown_fixture"]], "unknown fixture 'feature_code'"),
    (0, [WRONG["check_stars"]], "only collects functions named test_"),
    (0, "def test_x(prepare): ...", "should be a list of test functions"),
    (0, [], "should be a list of test functions"),
], ids=["vacuous", "range-only", "no-missing-score", "no-pass-through", "neighbours-scale", "unknown-fixture",
        "not-collected", "string", "empty"])
def test_ex1_rejects_suites_that_miss_a_bug_or_fail_right_code(learner, wrong, says):
    result = check_ex1(wrong, learner=learner)
    assert not result.passed and says in result.message, result.message
    assert result.hint


def test_run_tests_gives_each_test_fresh_fixtures_and_reports_the_failing_line():
    seen = []

    def test_mutates(frame):
        frame["x"] = 0
        seen.append(frame["x"].sum())

    def test_sees_the_original(frame):
        assert frame["x"].sum() == 6, "changed by another test"

    def test_wrong(frame):
        assert frame["x"].sum() == 7

    run = run_tests([test_mutates, test_sees_the_original, test_wrong], frame=pd.DataFrame({"x": [1, 2, 3]}))
    assert run.to_frame()["outcome"].tolist() == ["passed", "passed", "failed"]
    assert "frame[\"x\"].sum() == 7" in run.rows[2][2]
    assert not run.passed and run.failed == ["test_wrong"]
    assert not run_tests([]).passed  # no test is no evidence


# ------------------------------------------------------------------------------ ex2
@pytest.mark.parametrize("learner", LEARNERS)
def test_ex2_accepts_a_schema_of_what_the_columns_mean(learner):
    result = check_ex2(solution_schema(), learner=learner)
    assert result.passed, result.message


def _typed_only():
    return pa.DataFrameSchema({
        "room_type": pa.Column(str, pa.Check.isin(ROOM_TYPES)),
        **{c: pa.Column(int) for c in ("accommodates", "bedrooms", "beds")},
        **{c: pa.Column(float) for c in ("bathrooms", "latitude", "longitude", "price")},
        R: pa.Column(float, nullable=True),
    })


def _from_min_max(learner):
    table = training_table(learner)
    numeric = table.select_dtypes("number").columns
    return pa.DataFrameSchema({c: pa.Column(checks=pa.Check.in_range(table[c].min(), table[c].max()),
                                            nullable=bool(table[c].isna().any())) for c in numeric})


@pytest.mark.parametrize(("learner", "wrong", "says"), [
    (0, _typed_only(), "accepts the batch with the review score still on the partner's scale"),
    (0, _from_min_max(0), "rejects"),
    (4, solution_schema(rating=pa.Column(float, pa.Check.in_range(1, 5))), "rejects your training table"),
    (8, solution_schema(rating=pa.Column(float, pa.Check.in_range(0, 5), nullable=True)),
     "accepts the batch with the review score still on the partner's scale"),
    (0, solution_schema(room_type=pa.Column(str)), "accepts the batch with a room type renamed"),
    (4, solution_schema(price=pa.Column(float, pa.Check.gt(0))), "accepts the batch with prices in cents"),
    (4, solution_schema(accommodates=pa.Column(checks=pa.Check.in_range(1, 16), nullable=True)),
     "accepts the batch with capacity missing"),
    (0, solution_schema(latitude=pa.Column(float), longitude=pa.Column(float)),
     "accepts the batch with latitude and longitude swapped"),
    (0, {"price": "float"}, "should be a pandera DataFrameSchema"),
], ids=["no-ranges", "training-min-max", "rating-not-nullable", "zero-to-five-for-a-fraction-feed",
        "no-room-type-set", "price-only-positive", "capacity-nullable", "no-coordinates", "dict"])
def test_ex2_rejects_schemas_that_let_a_broken_batch_through_or_refuse_a_clean_one(learner, wrong, says):
    result = check_ex2(wrong, learner=learner)
    assert not result.passed and says in result.message, result.message


def test_every_broken_batch_is_refused_and_every_clean_one_accepted_by_the_solution():
    for learner in LEARNERS:
        assert all(accepts(solution_schema(), b)[0] for b in clean_batches(learner).values())
        assert not any(accepts(solution_schema(), b)[0] for b in broken_batches(learner).values())


# ------------------------------------------------------------------------------ ex3
@pytest.mark.parametrize("learner", LEARNERS)
def test_ex3_accepts_an_invariance_and_a_directional_test(learner):
    result = check_ex3(behaviour_suite(capacity_feature(learner)), learner=learner)
    assert result.passed, result.message


@pytest.mark.parametrize(("learner", "wrong", "says"), [
    (0, [WRONG["test_vacuous"]], "only its id changes"),
    (0, behaviour_suite("accommodates")[1:], "only its id changes"),
    (0, behaviour_suite("accommodates")[:1], "lowers the price when a listing gets more accommodates"),
    (0, behaviour_suite("accommodates", id_shift=1), "only its id changes"),
    (4, behaviour_suite("bedrooms", tolerance=200.0), "more bedrooms"),
    (8, behaviour_suite("accommodates"), "more bathrooms"),
    (0, [WRONG["test_price_is_pinned"]], "on the right model retrained on another sample"),
], ids=["vacuous", "no-invariance", "no-direction", "id-plus-one", "loose-tolerance",
        "neighbours-column", "pinned-price"])
def test_ex3_rejects_behaviour_suites_that_miss_a_broken_model(learner, wrong, says):
    result = check_ex3(wrong, learner=learner)
    assert not result.passed and says in result.message, result.message


# ------------------------------------------------------------------------------ ex4
@pytest.mark.parametrize("learner", LEARNERS)
def test_ex4_accepts_a_gate_that_runs_every_suite_in_order(learner):
    result = check_ex4(solution_gate(learner), learner=learner)
    assert result.passed, result.message


@pytest.mark.parametrize(("make", "says"), [
    (lambda n: (lambda change: True), "promotes a change where"),
    (lambda n: (lambda change: False), "stops a change with nothing wrong"),
    (lambda n: solution_gate(n, skip=("unit",)), "feature code turns a missing score into 0 stars"),
    (lambda n: solution_gate(n, skip=("data",)), "its batch lacks the capacity"),
    (lambda n: solution_gate(n, skip=("behaviour",)), "its model reads the listing's id"),
    (lambda n: solution_gate(n, truthy=True), "promotes a change where"),
    (lambda n: solution_gate(n, own_prepare=FeatureCode(feed_scale(n))), "feature code"),
    (lambda n: solution_gate(n, fixed_model=train_model(training_table(n))), "its model reads"),
    (lambda n: solution_gate(n, train_first=True), "trained a model for a change where its batch"),
    (lambda n: "gate", "should be a function of a change"),
], ids=["always", "never", "no-unit-gate", "no-data-gate", "no-behaviour-gate", "truthy-run",
        "notebook-feature-code", "champion-model", "train-before-data", "string"])
def test_ex4_rejects_gates_that_let_a_bad_change_through(make, says):
    result = check_ex4(make(0), learner=0)
    assert not result.passed and says in result.message, result.message


def test_release_replays_the_history_and_a_raising_gate_stops_a_change():
    history = release_history(5)
    report = release(history, solution_gate(5))
    assert report["status"].value_counts().to_dict() == {"stopped": 4, "promoted": 2}
    assert report["champion"].iloc[-1] == report.index[report["status"] == "promoted"][-1]

    def raising(change):
        raise ValueError("schema failed")

    stopped = release(history[:2], raising)
    assert (stopped["status"] == "stopped").all() and stopped["champion"].tolist() == [1, 1]
    assert "ValueError" in stopped["detail"].iloc[0]


def test_unfilled_answers_stop_at_the_kits_message():
    with pytest.raises(ExerciseError, match="FILL_IN"):
        run_tests(FILL_IN, prepare=FeatureCode(100.0))
    with pytest.raises(ExerciseError, match="FILL_IN"):
        accepts(FILL_IN, training_table(0))
    with pytest.raises(ExerciseError, match="FILL_IN"):
        release(release_history(0)[:1], FILL_IN)

"""Checker mutants of the testing lab (``testing-lab`` ex1-ex4).

The right answers and most wrong ones are those of ``tests/test_testing_lab.py``
(its suites, schemas and gates); each exercise uses the learner whose data makes
the listed mistakes matter (a 0-100 feed for ex1 and ex4, a 0-1 feed for ex2, the
bathrooms learner for ex3).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mutation_harness import GENERIC, LISTED, Mutant, mutations

LAB = "testing-lab"
R = "review_scores_rating"


def _renamed(test, name):
    test.__name__ = name
    return test


@mutations(LAB, "ex1")
def _ex1():
    from test_testing_lab import WRONG, conversion_only, unit_suite

    from mlops_kit.labs.checks.testing_lab import feed_scale

    learner = 0
    scale = feed_scale(learner)

    def zero_only(prepare):  # the conversion tried on a zero score, which every bug keeps
        assert prepare(pd.DataFrame({R: [0.0]}))[R].tolist() == [0.0]

    def top_only(prepare):  # only the top of the scale, where a cap at 5 looks right
        assert prepare(pd.DataFrame({R: [scale]}))[R].tolist() == pytest.approx([5.0])

    def inverse(prepare):  # stars -> partner scale, the conversion read backwards
        feed = pd.DataFrame({R: [5.0]})
        assert prepare(feed)[R].tolist() == pytest.approx([scale])

    def reads_a_global(prepare):  # tests the notebook's own function, not the one it is given
        from mlops_kit.labs.checks.testing_lab import FeatureCode

        feed = pd.DataFrame({R: [np.nan, scale / 2]})
        out = FeatureCode(scale)(feed)[R]
        assert out.isna().tolist() == [True, False] and out.iloc[1] == pytest.approx(2.5)

    suite = unit_suite(scale)
    return suite, {"learner": learner}, [
        Mutant("a vacuous test", LISTED, lambda a: [WRONG["test_vacuous"]]),
        Mutant("a range check only", LISTED, lambda a: [WRONG["test_range_only"]]),
        Mutant("no test of a missing score", LISTED, lambda a: conversion_only(scale)),
        Mutant("written for another feed's scale", LISTED, lambda a: unit_suite(10.0)),
        Mutant("a fixture pytest does not know", LISTED, lambda a: [WRONG["test_unknown_fixture"]]),
        Mutant("a function pytest does not collect", LISTED, lambda a: [WRONG["check_stars"]]),
        Mutant("the suite as text", LISTED, lambda a: "def test_x(prepare): ..."),
        Mutant("the conversion test dropped", GENERIC, lambda a: a[1:]),
        Mutant("the missing-score test dropped", GENERIC, lambda a: [a[0], a[2]]),
        Mutant("the pass-through test dropped", GENERIC, lambda a: a[:2]),
        Mutant("only the top of the scale", GENERIC,
               lambda a: [_renamed(top_only, "test_top"), *a[1:]]),
        Mutant("the conversion tried on zero only", GENERIC,
               lambda a: [_renamed(zero_only, "test_zero"), *a[1:]]),
        Mutant("the conversion read backwards", GENERIC,
               lambda a: [_renamed(inverse, "test_inverse"), *a[1:]]),
        Mutant("the notebook's function tested, not the given one", GENERIC,
               lambda a: [_renamed(reads_a_global, "test_global")]),
        Mutant("an empty list", GENERIC, lambda a: []),
        Mutant("one function, not a list", GENERIC, lambda a: a[0]),
    ]


@mutations(LAB, "ex2")
def _ex2():
    import pandera.pandas as pa
    from test_testing_lab import _from_min_max, _typed_only, solution_schema

    from mlops_kit.labs.checks.testing_lab import training_table

    learner = 8  # a 0-1 feed: a 0-5 range lets the unconverted score through
    rating = pa.Column(float, pa.Check.in_range(1, 5), nullable=True)
    return solution_schema(), {"learner": learner}, [
        Mutant("types only, no ranges", LISTED, lambda a: _typed_only()),
        Mutant("ranges from the training table's min and max", LISTED, lambda a: _from_min_max(learner)),
        Mutant("a missing rating refused", LISTED,
               lambda a: solution_schema(rating=pa.Column(float, pa.Check.in_range(1, 5)))),
        Mutant("ratings from 0 to 5", LISTED,
               lambda a: solution_schema(rating=pa.Column(float, pa.Check.in_range(0, 5), nullable=True))),
        Mutant("room types not checked", LISTED, lambda a: solution_schema(room_type=pa.Column(str))),
        Mutant("prices only positive", LISTED,
               lambda a: solution_schema(price=pa.Column(float, pa.Check.gt(0)))),
        Mutant("capacity may be missing", LISTED,
               lambda a: solution_schema(accommodates=pa.Column(checks=pa.Check.in_range(1, 16),
                                                                nullable=True))),
        Mutant("coordinates not checked", LISTED,
               lambda a: solution_schema(latitude=pa.Column(float), longitude=pa.Column(float))),
        Mutant("a dict of types", LISTED, lambda a: {"price": "float"}),
        Mutant("price unchecked", GENERIC, lambda a: solution_schema(price=pa.Column(float))),
        Mutant("rating unchecked", GENERIC, lambda a: solution_schema(rating=pa.Column(float, nullable=True))),
        Mutant("bedrooms optional", GENERIC,
               lambda a: solution_schema(bedrooms=pa.Column(int, pa.Check.in_range(0, 10), required=False))),
        Mutant("bedrooms left out", GENERIC, lambda a: solution_schema(bedrooms=None)),
        Mutant("ratings up to 100", GENERIC,
               lambda a: solution_schema(rating=pa.Column(float, pa.Check.in_range(0, 100), nullable=True))),
        Mutant("price bounds from the training table", GENERIC,
               lambda a: solution_schema(price=pa.Column(float, pa.Check.in_range(
                   *training_table(learner)["price"].agg(["min", "max"]))))),
        Mutant("a room type list without hotels", GENERIC,
               lambda a: solution_schema(room_type=pa.Column(str, pa.Check.isin(
                   ["Entire home/apt", "Private room", "Shared room"])))),
        Mutant("an empty schema", GENERIC, lambda a: pa.DataFrameSchema({})),
        Mutant("the rating column only", GENERIC, lambda a: pa.DataFrameSchema({R: rating})),
    ]


@mutations(LAB, "ex3")
def _ex3():
    from test_testing_lab import WRONG, behaviour_suite

    from mlops_kit.labs.checks.testing_lab import capacity_feature

    learner = 8
    capacity = capacity_feature(learner)
    suite = behaviour_suite(capacity)

    def smaller(model, listings):  # the direction reversed: fewer rooms must not raise the price
        fewer = listings.assign(**{capacity: listings[capacity] - 1})
        assert (model.predict(fewer) >= model.predict(listings) - 0.5).all()

    def same_ids(model, listings):  # the invariance test changes nothing
        np.testing.assert_allclose(model.predict(listings.assign(id=listings["id"])),
                                   model.predict(listings), atol=0.01)

    return suite, {"learner": learner}, [
        Mutant("a vacuous test", LISTED, lambda a: [WRONG["test_vacuous"]]),
        Mutant("no invariance test", LISTED, lambda a: a[1:]),
        Mutant("no directional test", LISTED, lambda a: a[:1]),
        Mutant("ids moved by one", LISTED, lambda a: behaviour_suite(capacity, id_shift=1)),
        Mutant("a tolerance of 200 in the direction", LISTED,
               lambda a: behaviour_suite(capacity, tolerance=200.0)),
        Mutant("another learner's capacity column", LISTED,
               lambda a: behaviour_suite("accommodates" if capacity != "accommodates" else "bedrooms")),
        Mutant("a price pinned to one model", LISTED, lambda a: [WRONG["test_price_is_pinned"]]),
        Mutant("the direction reversed", GENERIC, lambda a: [a[0], _renamed(smaller, "test_smaller")]),
        Mutant("an invariance test that changes nothing", GENERIC,
               lambda a: [_renamed(same_ids, "test_same"), a[1]]),
        Mutant("ids moved by ten", GENERIC, lambda a: behaviour_suite(capacity, id_shift=10)),
        Mutant("a tolerance of 1000 in the direction", GENERIC,
               lambda a: behaviour_suite(capacity, tolerance=1000.0)),
        Mutant("one function, not a list", GENERIC, lambda a: a[1]),
        Mutant("an empty list", GENERIC, lambda a: []),
    ]


@mutations(LAB, "ex4")
def _ex4():
    from test_testing_lab import solution_gate

    from mlops_kit.labs.checks.testing_lab import FeatureCode, feed_scale, train_model, training_table

    learner = 0
    right = solution_gate(learner)

    def data_on_the_feed(change):  # the data suite run on the raw feed, not the change's table
        from test_testing_lab import solution_schema

        from mlops_kit.labs.checks.testing_lab import accepts

        return accepts(solution_schema(), change.feed)[0] and right(change)

    return right, {"learner": learner}, [
        Mutant("promotes everything", LISTED, lambda a: lambda change: True),
        Mutant("stops everything", LISTED, lambda a: lambda change: False),
        Mutant("no unit-test gate", LISTED, lambda a: solution_gate(learner, skip=("unit",))),
        Mutant("no data gate", LISTED, lambda a: solution_gate(learner, skip=("data",))),
        Mutant("no behaviour gate", LISTED, lambda a: solution_gate(learner, skip=("behaviour",))),
        Mutant("a test run taken as its verdict", LISTED, lambda a: solution_gate(learner, truthy=True)),
        Mutant("the notebook's feature code tested", LISTED,
               lambda a: solution_gate(learner, own_prepare=FeatureCode(feed_scale(learner)))),
        Mutant("the champion's model tested", LISTED,
               lambda a: solution_gate(learner, fixed_model=train_model(training_table(learner)))),
        Mutant("trains before the data suite", LISTED, lambda a: solution_gate(learner, train_first=True)),
        Mutant("the gate as text", LISTED, lambda a: "gate"),
        Mutant("unit and data gates skipped", GENERIC, lambda a: solution_gate(learner, skip=("unit", "data"))),
        Mutant("only the unit gate", GENERIC, lambda a: solution_gate(learner, skip=("data", "behaviour"))),
        Mutant("only the data gate", GENERIC, lambda a: solution_gate(learner, skip=("unit", "behaviour"))),
        Mutant("the verdict inverted", GENERIC, lambda a: lambda change: not a(change)),
        Mutant("a word, not True or False", GENERIC, lambda a: lambda change: "promote" if a(change) else "stop"),
        Mutant("the data suite on the raw feed", GENERIC, lambda a: data_on_the_feed),
        Mutant("another learner's suites", GENERIC, lambda a: solution_gate(4)),
    ]

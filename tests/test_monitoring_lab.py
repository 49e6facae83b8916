"""Checkers of the monitoring lab: the solution passes, typical mistakes fail with a hint."""
from __future__ import annotations

import pandas as pd
import pytest

from mlops_kit.datasets import ice_cream_windows
from mlops_kit.labs.checks.monitoring_lab import check_ex1, check_ex2, check_ex3, check_ex4
from mlops_kit.monitoring import Monitor

#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [('monitoring-lab', 'ex1'), ('monitoring-lab', 'ex2'), ('monitoring-lab', 'ex3'), ('monitoring-lab', 'ex4')]


NUMERIC = ["temperature", "humidity", "price_per_cone"]


@pytest.fixture(scope="module")
def windows():
    return ice_cream_windows(1500, seed=7)


@pytest.fixture(scope="module")
def report(windows):
    reference, current = windows
    return Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour"]).run(current)


def test_ex1_null_counts(windows):
    reference, current = windows
    assert check_ex1(current.isna().sum(), current=current).passed
    assert not check_ex1(reference.isna().sum(), current=current).passed     # wrong window
    assert not check_ex1(current.isna().mean(), current=current).passed      # rates, not counts
    assert not check_ex1([0, 1], current=current).passed


def test_ex2_monitor_report(windows, report):
    reference, current = windows
    assert check_ex2(report).passed
    same = Monitor(reference, numeric=NUMERIC, categorical=["store", "flavour"]).run(reference)
    assert not check_ex2(same).passed                                          # compared reference to itself
    only_numeric = Monitor(reference, numeric=NUMERIC, categorical=[]).run(current)
    failed = check_ex2(only_numeric)
    assert not failed.passed and "flavour" in failed.message
    assert not check_ex2(report.results).passed


def test_ex3_unit_change():
    assert check_ex3("temperature").passed
    assert not check_ex3("humidity").passed


def test_ex4_bonferroni_threshold(report):
    assert check_ex4(0.05 / 3, report=report).passed
    assert not check_ex4(0.05, report=report).passed
    assert not check_ex4("alpha", report=report).passed

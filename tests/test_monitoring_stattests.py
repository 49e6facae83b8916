"""Each drift test's statistic and p-value equal scipy's on the same data."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops_kit.exceptions import DataError
from mlops_kit.monitoring import stattests as T


def _pairs():
    rng = np.random.default_rng(7)
    return {
        "tiny": (rng.normal(size=5), rng.normal(0.5, size=6)),
        "small": (rng.normal(size=300), rng.normal(0.2, 1.3, size=250)),
        "ties": (np.round(rng.normal(size=400), 1), np.round(rng.normal(0.1, size=500), 1)),
        "integers": (rng.integers(0, 6, 800).astype(float), rng.integers(0, 7, 900).astype(float)),
        "asymptotic": (rng.normal(size=12_000), rng.normal(0.03, size=15_000)),
        "float32": (rng.normal(size=20_000).astype(np.float32), rng.normal(size=11_000).astype(np.float32)),
    }


PAIRS = _pairs()
SCIPY = {
    "ks": lambda x, y: stats.ks_2samp(x, y),
    "mannwhitney": lambda x, y: stats.mannwhitneyu(x, y),
    "levene": lambda x, y: stats.levene(x, y),
}


@pytest.mark.parametrize("case", sorted(PAIRS))
@pytest.mark.parametrize("test", sorted(SCIPY))
def test_p_value_tests_equal_scipy(case, test):
    x, y = PAIRS[case]
    ours = getattr(T.NumericComparison(x, y), test)()
    ref = SCIPY[test](x, y)
    # scipy does some arithmetic in float32 for float32 input (Levene, MWU rank sums); ours in float64
    rel = 1e-4 if case == "float32" else 1e-9
    assert ours.statistic == pytest.approx(float(ref.statistic), rel=rel, abs=1e-12)
    assert ours.p_value == pytest.approx(float(ref.pvalue), rel=max(rel, 1e-7), abs=1e-300)


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_wasserstein_equals_scipy_and_is_normalised_by_reference_std(case):
    x, y = PAIRS[case]
    res = T.wasserstein_test(x, y)
    raw = stats.wasserstein_distance(x, y)
    assert res.statistic == pytest.approx(raw, rel=1e-9)
    assert res.distance == pytest.approx(raw / np.std(x.astype(np.float64)), rel=1e-9)


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_js_equals_scipy_on_np_histogram(case):
    x, y = PAIRS[case]
    lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    hx, _ = np.histogram(x, bins=20, range=(lo, hi))
    hy, _ = np.histogram(y, bins=20, range=(lo, hi))
    assert T.js_distance(x, y).distance == pytest.approx(jensenshannon(hx, hy, base=2), rel=1e-9)


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_psi_matches_the_decile_formula(case):
    x, y = PAIRS[case]
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    edges = np.unique(np.quantile(x64, np.arange(1, 10) / 10))
    r = np.bincount(np.searchsorted(edges, x64, side="right"), minlength=edges.size + 1) / x.size
    c = np.bincount(np.searchsorted(edges, y64, side="right"), minlength=edges.size + 1) / y.size
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    assert T.psi_test(x, y).distance == pytest.approx(np.sum((c - r) * np.log(c / r)), rel=1e-9)


def test_categorical_tests_equal_scipy_on_the_union_of_categories():
    rng = np.random.default_rng(3)
    ref = rng.choice(["a", "b", "c"], 500, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c", "d"], 400, p=[0.4, 0.3, 0.2, 0.1])
    table = np.array([[np.sum(ref == k) for k in "abcd"], [np.sum(cur == k) for k in "abcd"]])
    expected = stats.chi2_contingency(table)
    res = T.chi_square_test(ref, cur)
    assert (res.statistic, res.p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)
    assert T.js_categorical(ref, cur).distance == pytest.approx(jensenshannon(table[0], table[1], base=2))


def test_nan_is_dropped_and_counted_as_null():
    x = np.array([1.0, 2.0, np.nan, 3.0, 4.0] * 10)
    y = np.array([1.5, 2.5, 3.5] * 10)
    assert T.ks_test(x, y).statistic == pytest.approx(stats.ks_2samp(x[~np.isnan(x)], y).statistic)
    null = T.null_test(10, 100, 40, 100)
    assert null.statistic == pytest.approx(0.3) and null.drifted


def test_empty_sample_is_a_clear_error():
    with pytest.raises(DataError, match="at least one non-null value"):
        T.ks_test([np.nan, np.nan], [1.0, 2.0])


def test_distance_results_carry_threshold_and_verdict():
    rng = np.random.default_rng(0)
    moved = T.js_distance(rng.normal(size=2000), rng.normal(3, size=2000))
    assert moved.drifted and moved.threshold == 0.2 and np.isnan(moved.p_value)
    same = T.psi_test(rng.normal(size=2000), rng.normal(size=2000))
    assert not same.drifted and same.distance < 0.05

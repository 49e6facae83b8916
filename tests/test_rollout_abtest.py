"""A/B statistics equal statsmodels/scipy; sample sizes match the textbook; sequential
stopping keeps the false-positive rate at alpha where naive peeking does not."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlops_kit.exceptions import ConfigError, DataError
from mlops_kit.rollout import (
    GroupSequentialDesign, analyze_ab, sample_size, simulate_ab, two_proportion_ztest, welch_ttest,
)


@pytest.mark.parametrize("counts", [(100, 1000, 130, 1000), (37, 420, 30, 515), (5000, 50000, 5150, 49000)])
def test_two_proportion_ztest_equals_statsmodels(counts):
    sm = pytest.importorskip("statsmodels.stats.proportion")
    ca, na, cb, nb = counts
    res = two_proportion_ztest(ca, na, cb, nb)
    z, p = sm.proportions_ztest([cb, ca], [nb, na])
    low, high = sm.confint_proportions_2indep(cb, nb, ca, na, method="wald", compare="diff")
    assert (res.statistic, res.p_value) == pytest.approx((z, p), rel=1e-10)
    assert (res.ci_low, res.ci_high) == pytest.approx((low, high), rel=1e-10)
    assert res.lift_abs == pytest.approx(cb / nb - ca / na)
    assert res.lift_rel == pytest.approx((cb / nb) / (ca / na) - 1)


@pytest.mark.parametrize("alternative, sm_alt", [("larger", "larger"), ("smaller", "smaller")])
def test_one_sided_proportion_tests(alternative, sm_alt):
    sm = pytest.importorskip("statsmodels.stats.proportion")
    res = two_proportion_ztest(100, 1000, 125, 1000, alternative=alternative)
    assert res.p_value == pytest.approx(sm.proportions_ztest([125, 100], [1000, 1000], alternative=sm_alt)[1])


def test_welch_ttest_equals_scipy_with_its_interval():
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, 10.0, 800), rng.gamma(2.0, 11.0, 650)
    res = welch_ttest(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (res.statistic, res.p_value, res.df) == pytest.approx((ref.statistic, ref.pvalue, ref.df), rel=1e-10)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_sample_size_matches_textbook_formula():
    z = stats.norm.ppf
    p1, p2 = 0.05, 0.06
    p = (p1 + p2) / 2
    textbook = ((z(0.975) * math.sqrt(2 * p * (1 - p)) + z(0.9) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
                / (p2 - p1) ** 2)
    assert sample_size(0.05, 0.01, alpha=0.05, power=0.9) == math.ceil(textbook)
    assert sample_size(0.10, 0.02) == 3841
    assert sample_size(0.10, 0.2, relative=True) == 3841           # 20 % of 10 %
    assert sample_size(None, 0.5, std=1.0) == 63                   # 2 (1.96 + 0.84)^2 / 0.25
    with pytest.raises(ConfigError, match="lie in"):
        sample_size(0.99, 0.05)


def test_sample_size_delivers_the_stated_power():
    """Simulated tests at the computed n reject in about 80 % of trials."""
    rng = np.random.default_rng(0)
    n = sample_size(0.10, 0.03)
    trials = 400
    hits = sum(two_proportion_ztest(rng.binomial(n, 0.10), n, rng.binomial(n, 0.13), n).significant
               for _ in range(trials))
    assert 0.72 <= hits / trials <= 0.88


def test_obrien_fleming_boundaries_match_published_values():
    """Lan-DeMets O'Brien-Fleming, 5 equal looks, two-sided 0.05 (ldbounds / gsDesign)."""
    design = GroupSequentialDesign(5)
    assert design.boundaries == pytest.approx([4.8769, 3.3569, 2.6803, 2.2898, 2.0310], abs=2e-3)
    assert design.to_frame()["alpha_spent"].iloc[-1] == pytest.approx(0.05)
    assert GroupSequentialDesign(1).boundaries == pytest.approx([stats.norm.ppf(0.975)])


def _sequential_z(rng, trials, looks, n_per_look, p_a, p_b):
    """z-statistics at each look of ``trials`` simulated experiments (pooled two-proportion)."""
    ca = rng.binomial(n_per_look, p_a, (trials, looks)).cumsum(axis=1)
    cb = rng.binomial(n_per_look, p_b, (trials, looks)).cumsum(axis=1)
    n = n_per_look * np.arange(1, looks + 1)
    pooled = (ca + cb) / (2 * n)
    return (cb - ca) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_sequential_rule_keeps_false_positives_at_alpha_but_peeking_does_not(spending):
    rng = np.random.default_rng(2024)
    trials, looks = 4000, 5
    z = _sequential_z(rng, trials, looks, 400, 0.1, 0.1)
    design = GroupSequentialDesign(looks, spending=spending)
    sequential = np.mean(np.any(np.abs(z) >= np.array(design.boundaries), axis=1))
    naive = np.mean(np.any(np.abs(z) >= stats.norm.ppf(0.975), axis=1))
    sd = math.sqrt(0.05 * 0.95 / trials)
    assert sequential <= 0.05 + 2 * sd
    assert naive > 0.10          # peeking five times: ~14 % false positives


def test_sequential_rule_stops_early_on_a_real_lift():
    rng = np.random.default_rng(1)
    z = _sequential_z(rng, 500, 5, 2000, 0.10, 0.12)
    design = GroupSequentialDesign(5)
    stops = [design.first_crossing(row) for row in z]
    assert np.mean([s is not None for s in stops]) > 0.9
    assert np.mean([s is not None and s < 5 for s in stops]) > 0.5


def test_simulated_traffic_recovers_its_true_lift():
    frame = simulate_ab(50_000, baseline_rate=0.10, lift=0.10, seed=3)
    assert set(frame.columns) == {"user_id", "variant", "timestamp", "converted", "revenue"}
    res = analyze_ab(frame)
    assert res.test == "two_proportion_z" and res.significant
    assert res.ci_low <= 0.01 <= res.ci_high
    revenue = analyze_ab(frame, metric="revenue")
    assert revenue.test == "welch_t"


def test_bad_inputs_are_reported_clearly():
    with pytest.raises(DataError, match="between 0 and the number of users"):
        two_proportion_ztest(11, 10, 5, 10)
    with pytest.raises(ConfigError, match="alpha"):
        two_proportion_ztest(1, 10, 2, 10, alpha=5)
    with pytest.raises(ConfigError, match="increasing fractions"):
        GroupSequentialDesign(3, information=[0.5, 0.4, 1.0]).boundaries
    with pytest.raises(DataError, match="both 'control' and 'treatment'"):
        analyze_ab(simulate_ab(10).assign(variant="control"))

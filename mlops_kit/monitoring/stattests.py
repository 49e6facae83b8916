"""Drift tests: is the current sample drawn from the reference's distribution?

Two families, because they answer different questions:

- **hypothesis tests** (p-values): Kolmogorov-Smirnov, Mann-Whitney U, Levene,
  chi-square. They detect *any* difference given enough rows; with a million
  rows a harmless shift is "significant". ``drifted`` is ``p_value < threshold``,
  where the Monitor sets ``threshold = alpha / number_of_features`` (Bonferroni).
- **distances** (effect sizes): Jensen-Shannon, PSI, Wasserstein. They measure
  *how much* moved, whatever the sample size. ``drifted`` is
  ``distance >= threshold``.

Conventions (stated because every tool picks its own):

- Jensen-Shannon (numeric): 20 equal-width bins on the shared range of both
  samples, base 2 (so it lies in [0, 1]); drift at 0.2, as in the course.
  Binning noise alone makes two samples of one distribution look apart: their
  distance is about ``sqrt(chi2(k - 1) * (1/n + 1/m) / (8 ln 2))`` for ``k``
  bins (or categories) and ``n``, ``m`` rows (a median of 0.26 at 100 rows
  per side and 20 bins, above the threshold). So a JS result is only decided
  when the rows are enough for the noise's 99th percentile to stay below the
  threshold (:func:`js_min_rows`: 327 rows per side at 20 bins and 0.2);
  below that the result keeps its distance, is not ``drifted`` and says why
  in ``note``.
- PSI: 10 bins cut at the reference deciles (bins ``[q_i, q_{i+1})``, open at
  both ends), empty bins floored at ``eps = 1e-4``; drift at 0.2.
- Wasserstein: scipy's 1-d earth mover's distance divided by the reference
  standard deviation (ddof=0), i.e. "how many reference stds the mass moved";
  drift at 0.1. A constant reference (std 0) is not normalised. Sampling
  noise alone gives about ``2 / sqrt(n)`` (0.09 at 500 rows, 0.03 at 5000), so
  with fewer than ~2000 rows per side raise the threshold or rely on the tests.

Statistics and p-values equal scipy's on the same data: the statistics are
computed from sorted samples (:mod:`._samples`), and p-values go through the
same distribution functions scipy uses: ``kstwo.sf`` (KS, asymptotic when a
sample exceeds 10,000 rows, else scipy's exact method), the normal
approximation with tie and continuity correction (Mann-Whitney, exact below 8
rows without ties), ``f.sf`` (Levene) and ``chi2_contingency``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from mlops_kit.exceptions import DataError
from mlops_kit.monitoring._samples import Cross, Sample, cross

__all__ = [
    "DriftTestResult", "NumericComparison", "CategoricalComparison", "category_counts",
    "ks_test", "js_distance", "levene_test", "mann_whitney_test", "wasserstein_test",
    "psi_test", "chi_square_test", "js_categorical", "null_test", "js_min_rows", "js_noise",
    "DEFAULT_THRESHOLDS", "JS_NOISE_LEVEL", "NUMERIC_TESTS", "CATEGORICAL_TESTS", "P_VALUE_TESTS",
]

#: thresholds of the distance tests (and the minimum null-rate change)
DEFAULT_THRESHOLDS: dict[str, float] = {"js": 0.2, "psi": 0.2, "wasserstein": 0.1, "nulls": 0.01}
NUMERIC_TESTS = ("ks", "mannwhitney", "levene", "js", "psi", "wasserstein")
CATEGORICAL_TESTS = ("chi2", "js")
P_VALUE_TESTS = frozenset({"ks", "mannwhitney", "levene", "chi2", "nulls"})
_KS_EXACT_MAX_N = 10_000   # scipy's 'auto' switch to the asymptotic distribution
_MWU_EXACT_MAX_N = 8       # scipy's 'auto' switch (when there are no ties)
#: a JS result is decided only when its noise on unchanged data stays below the
#: threshold with this probability (see :func:`js_min_rows`)
JS_NOISE_LEVEL = 0.99


@dataclass(frozen=True)
class DriftTestResult:
    """Outcome of one test on one feature.

    ``statistic`` is the test's own statistic (for distances, the distance);
    ``p_value`` is NaN for distances and ``distance`` NaN for hypothesis tests.
    ``threshold`` is what ``p_value`` (below) or ``distance`` (at or above) was
    compared with to decide ``drifted``. ``note`` is empty unless the test could
    not decide (a JS distance on too few rows): then ``drifted`` is False and
    ``note`` says what was missing.
    """

    test: str
    statistic: float
    p_value: float
    distance: float
    threshold: float
    drifted: bool
    feature: str = ""
    kind: str = "feature"
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _p_result(test: str, statistic: float, p_value: float, threshold: float) -> DriftTestResult:
    p_value = float(p_value)
    return DriftTestResult(test, float(statistic), p_value, math.nan, float(threshold),
                           bool(p_value < threshold))


def _d_result(test: str, distance: float, threshold: float) -> DriftTestResult:
    distance = float(distance)
    return DriftTestResult(test, distance, math.nan, distance, float(threshold),
                           bool(distance >= threshold))


def _as_sample(data) -> Sample:
    sample = data if isinstance(data, Sample) else Sample.from_array(data)
    if sample.n == 0:
        raise DataError(
            "A drift test needs at least one non-null value on each side; got an empty "
            "(or all-null) sample. Check the column and the time window you selected."
        )
    return sample


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2, as ``scipy.spatial.distance.jensenshannon``."""
    from scipy.special import rel_entr

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum() + rel_entr(q, m).sum()) / np.log(2.0)
    return float(np.sqrt(max(js, 0.0) / 2.0))


def js_noise(n: int, m: int, *, bins: int = 20, q: float = 0.5) -> float:
    """The ``q``-quantile of the JS distance between two samples of *one* distribution.

    Sampling noise alone: with ``k`` bins (or categories) and ``n``, ``m`` rows,
    ``8 ln 2 * JS**2 / (1/n + 1/m)`` is about chi-square with ``k - 1``
    degrees of freedom (the same approximation as Pearson's test), so

    >>> round(js_noise(100, 100), 2)          # the median at 100 rows per side
    0.26
    >>> round(js_noise(10_000, 10_000), 3)
    0.026
    """
    from scipy import stats

    df = max(int(bins) - 1, 1)
    return float(math.sqrt(stats.chi2.ppf(q, df) * (1 / n + 1 / m) / (8 * math.log(2))))


def js_min_rows(threshold: float = 0.2, *, bins: int = 20, level: float = JS_NOISE_LEVEL) -> int:
    """Rows per side for a JS distance to stay below ``threshold`` on unchanged data.

    The smallest ``n`` such that two samples of ``n`` rows from one
    distribution exceed ``threshold`` with probability at most ``1 - level``
    (see :func:`js_noise`). Below it a JS "drift" may be noise alone.

    >>> js_min_rows(0.2)                      # 20 bins, the numeric JS
    327
    >>> js_min_rows(0.2, bins=5)              # five categories
    120
    """
    from scipy import stats

    df = max(int(bins) - 1, 1)
    return int(math.ceil(2 * stats.chi2.ppf(level, df) / (8 * math.log(2) * threshold ** 2)))


def _js_result(distance: float, threshold: float, n: int, m: int, bins: int) -> DriftTestResult:
    """A JS result, undecided (with a note) when ``n`` and ``m`` are too few rows."""
    from scipy import stats

    result = _d_result("js", distance, threshold)
    df = max(int(bins) - 1, 1)
    allowed = 8 * math.log(2) * float(threshold) ** 2 / stats.chi2.ppf(JS_NOISE_LEVEL, df)
    if threshold > 0 and (1 / n + 1 / m) > allowed:
        need = js_min_rows(threshold, bins=bins)
        note = (f"too few rows: {n:,} and {m:,}; at {bins} bins JS needs {need:,} per side "
                f"for its noise to stay below {threshold:g}")
        return DriftTestResult(**{**result.to_dict(), "drifted": False, "note": note})
    return result


class NumericComparison:
    """All numeric tests for one reference/current pair, sharing one search of each sample in the other.

    Parameters
    ----------
    reference, current : array-like or Sample
        The two samples (NaN is dropped and counted separately).
    """

    def __init__(self, reference, current) -> None:
        self.ref = _as_sample(reference)
        self.cur = _as_sample(current)

    @cached_property
    def _ref_in_cur(self) -> Cross:
        return cross(self.ref, self.cur)

    @cached_property
    def _cur_in_ref(self) -> Cross:
        return cross(self.cur, self.ref)

    @cached_property
    def _cdf_gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """``F_ref - F_cur`` just after each distinct value of ref, and of cur."""
        n, m = self.ref.n, self.cur.n
        at_ref = self.ref.cumcounts / n - self._ref_in_cur.le / m
        at_cur = self._cur_in_ref.le / n - self.cur.cumcounts / m
        return at_ref, at_cur

    @property
    def _exact(self) -> bool:
        return self.ref.exact and self.cur.exact

    def ks(self, alpha: float = 0.05) -> DriftTestResult:
        """Two-sample Kolmogorov-Smirnov (two-sided), as ``scipy.stats.ks_2samp``."""
        from scipy import stats

        n, m = self.ref.n, self.cur.n
        if self._exact and max(n, m) <= _KS_EXACT_MAX_N:
            with warnings.catch_warnings():   # scipy falls back to the asymptotic p-value and says so
                warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful",
                                        RuntimeWarning)
                res = stats.ks_2samp(self.ref.expand(), self.cur.expand())
            return _p_result("ks", res.statistic, res.pvalue, alpha)
        at_ref, at_cur = self._cdf_gaps
        d = float(max(np.max(np.abs(at_ref)), np.max(np.abs(at_cur))))
        p = stats.kstwo.sf(d, np.round(n * m / (n + m)))
        return _p_result("ks", d, min(max(p, 0.0), 1.0), alpha)

    def mannwhitney(self, alpha: float = 0.05) -> DriftTestResult:
        """Mann-Whitney U (two-sided), as ``scipy.stats.mannwhitneyu``; U of the reference."""
        from scipy import stats

        n1, n2 = self.ref.n, self.cur.n
        rc, cc = self.ref.counts, self.cur.counts
        lt, le = self._ref_in_cur.lt, self._ref_in_cur.le
        equal = le - lt                    # current observations equal to each ref value
        has_ties = bool(rc.max() > 1 or cc.max() > 1 or equal.any())
        if self._exact and max(n1, n2) < _MWU_EXACT_MAX_N and not has_ties:
            res = stats.mannwhitneyu(self.ref.expand(), self.cur.expand())
            return _p_result("mannwhitney", res.statistic, res.pvalue, alpha)
        # U of the reference: pairs (ref > cur) plus half the tied pairs
        u1 = (float(lt.sum()) + float(le.sum())) / 2.0 if self.ref.unit else float(np.dot(rc, lt + le)) / 2.0
        big_u = max(u1, n1 * n2 - u1)
        tie_term = 0.0
        if has_ties:  # sum of t^3 - t over the distinct values of the pooled sample
            t_ref, t_cur, t_eq = (x.astype(np.float64) for x in (rc + equal, cc, equal))
            tie_term = float(np.sum(t_ref**3 - t_ref) + np.sum(t_cur**3 - t_cur)
                             - np.sum(t_eq**3 - t_eq))
        n = n1 + n2
        s = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        z = (big_u - n1 * n2 / 2 - 0.5) / s if s > 0 else math.inf
        p = min(max(2 * stats.norm.sf(z), 0.0), 1.0)
        return _p_result("mannwhitney", u1, p, alpha)

    def levene(self, alpha: float = 0.05) -> DriftTestResult:
        """Levene's test of equal variances, median-centred (Brown-Forsythe), as scipy's."""
        from scipy import stats

        samples = (self.ref, self.cur)
        sizes = np.array([s.n for s in samples], dtype=np.float64)
        total = sizes.sum()
        zbars, ss = np.empty(2), 0.0
        for i, s in enumerate(samples):
            d = s.values - s.median()
            np.abs(d, out=d)
            zbars[i] = d.mean() if s.unit else np.dot(d, s.counts) / s.n
            d -= zbars[i]
            ss += np.dot(d, d) if s.unit else np.dot(d * d, s.counts)
        zbar = np.dot(sizes, zbars) / total
        dfn, dfd = 1.0, total - 2.0
        numer = dfd * np.dot(sizes, (zbars - zbar) ** 2)
        denom = dfn * ss
        with np.errstate(divide="ignore", invalid="ignore"):
            w = numer / denom
        p = stats.f.sf(w, dfn, dfd) if np.isfinite(w) else math.nan
        return _p_result("levene", w, p, alpha)

    def js(self, threshold: float = DEFAULT_THRESHOLDS["js"], bins: int = 20) -> DriftTestResult:
        """Jensen-Shannon distance of ``bins`` equal-width histograms on the shared range."""
        lo = min(self.ref.values[0], self.cur.values[0])
        hi = max(self.ref.values[-1], self.cur.values[-1])
        if lo == hi:  # np.histogram's convention for a single value
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        distance = _js(self.ref.histogram(edges), self.cur.histogram(edges))
        return _js_result(distance, threshold, self.ref.n, self.cur.n, bins)

    def psi(self, threshold: float = DEFAULT_THRESHOLDS["psi"], bins: int = 10,
            eps: float = 1e-4) -> DriftTestResult:
        """Population stability index on the reference's quantile bins."""
        inner = np.unique(self.ref.quantile(np.arange(1, bins) / bins))
        r = np.diff(np.concatenate([[0], self.ref.count_below(inner), [self.ref.n]])) / self.ref.n
        c = np.diff(np.concatenate([[0], self.cur.count_below(inner), [self.cur.n]])) / self.cur.n
        r, c = np.maximum(r, eps), np.maximum(c, eps)
        return _d_result("psi", float(np.sum((c - r) * np.log(c / r))), threshold)

    def wasserstein(self, threshold: float = DEFAULT_THRESHOLDS["wasserstein"]) -> DriftTestResult:
        """Earth mover's distance (as scipy's) divided by the reference std (ddof=0)."""
        raw = self._wasserstein_raw()
        scale = self.ref.std(ddof=0) if self.ref.n > 1 else 0.0
        distance = raw / scale if scale > 0 else raw
        result = _d_result("wasserstein", distance, threshold)
        return DriftTestResult(**{**result.to_dict(), "statistic": raw})

    def _wasserstein_raw(self) -> float:
        """Integral of ``|F_ref - F_cur|`` over the pooled sample's gaps (scipy's definition).

        Each gap of the pooled sample starts at a distinct value of ref or of cur
        (counted once when both have it) and ends at the next value of either.
        """
        at_ref, at_cur = self._cdf_gaps
        total = 0.0
        for own, other, gap, skip in (
            (self.ref.values, self._ref_in_cur, at_ref, None),
            (self.cur.values, self._cur_in_ref, at_cur, self._cur_in_ref.le > self._cur_in_ref.lt),
        ):
            nxt = np.minimum(np.append(own[1:], np.inf), other.next_b)
            width = nxt - own
            width[~np.isfinite(width)] = 0.0   # after the largest value both CDFs are 1
            if skip is not None:
                width[skip] = 0.0              # value shared with ref: gap already counted
            total += float(np.dot(np.abs(gap), width))
        return total

    def run(self, tests=NUMERIC_TESTS, *, alpha: float = 0.05,
            thresholds: dict | None = None) -> list[DriftTestResult]:
        """Run ``tests`` (names from :data:`NUMERIC_TESTS`); ``alpha`` for p-value tests."""
        limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        out = []
        for name in tests:
            method = getattr(self, name)
            out.append(method(alpha) if name in P_VALUE_TESTS else method(limits[name]))
        return out


class CategoricalComparison:
    """Chi-square and Jensen-Shannon on category counts (union of categories).

    Parameters
    ----------
    reference, current : array-like
        Raw values (nulls dropped), or, with ``counts=True``, Series of counts
        indexed by category (what a Spark ``groupBy`` returns).
    """

    def __init__(self, reference, current, *, counts: bool = False) -> None:
        if counts:
            self.ref_counts, self.cur_counts = (_str_index(reference), _str_index(current))
        else:
            self.ref_counts, self.cur_counts = category_counts(reference), category_counts(current)
        if self.ref_counts.sum() == 0 or self.cur_counts.sum() == 0:
            raise DataError("A categorical drift test needs at least one non-null value on each side.")
        table = pd.concat([self.ref_counts, self.cur_counts], axis=1).fillna(0)
        self.table = table.T.to_numpy(dtype=np.float64)  # 2 x categories
        self.categories = list(table.index)

    def chi2(self, alpha: float = 0.05) -> DriftTestResult:
        """Chi-square test of independence (scipy's ``chi2_contingency``, Yates at dof 1)."""
        from scipy import stats

        if self.table.shape[1] < 2:
            return _p_result("chi2", 0.0, 1.0, alpha)
        res = stats.chi2_contingency(self.table)
        return _p_result("chi2", res.statistic, res.pvalue, alpha)

    def js(self, threshold: float = DEFAULT_THRESHOLDS["js"]) -> DriftTestResult:
        """Jensen-Shannon distance (base 2) of the category frequencies."""
        n, m = (int(round(total)) for total in self.table.sum(axis=1))
        return _js_result(_js(self.table[0], self.table[1]), threshold, n, m, self.table.shape[1])

    def run(self, tests=CATEGORICAL_TESTS, *, alpha: float = 0.05,
            thresholds: dict | None = None) -> list[DriftTestResult]:
        limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        return [self.chi2(alpha) if name == "chi2" else self.js(limits["js"]) for name in tests]


def category_counts(data) -> pd.Series:
    """Counts per category (as ``str``), nulls dropped."""
    series = data if isinstance(data, pd.Series) else pd.Series(np.asarray(data, dtype=object))
    return _str_index(series.value_counts(dropna=True, sort=False))


def _str_index(counts: pd.Series) -> pd.Series:
    counts = pd.Series(counts, dtype=np.int64)
    counts.index = counts.index.astype(str)
    return counts.groupby(level=0).sum()


def null_test(ref_nulls: int, ref_total: int, cur_nulls: int, cur_total: int, *,
              alpha: float = 0.05, min_change: float = DEFAULT_THRESHOLDS["nulls"]) -> DriftTestResult:
    """Has the null rate changed? Two-proportion z-test plus a minimum change.

    ``statistic`` is current rate minus reference rate; drift needs both
    ``p_value < alpha`` and ``|statistic| >= min_change`` so that a million rows
    do not flag a 0.01 % wobble.
    """
    from scipy import stats

    r1, r2 = ref_nulls / max(ref_total, 1), cur_nulls / max(cur_total, 1)
    pooled = (ref_nulls + cur_nulls) / max(ref_total + cur_total, 1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / max(ref_total, 1) + 1 / max(cur_total, 1)))
    diff = r2 - r1
    p = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(diff) / se))
    return DriftTestResult("nulls", diff, p, math.nan, float(alpha),
                           bool(p < alpha and abs(diff) >= min_change))


# -- one-test convenience functions (the Monitor runs them all at once) ----------

def ks_test(reference, current, *, alpha: float = 0.05) -> DriftTestResult:
    """Kolmogorov-Smirnov; equals ``scipy.stats.ks_2samp(reference, current)``."""
    return NumericComparison(reference, current).ks(alpha)


def mann_whitney_test(reference, current, *, alpha: float = 0.05) -> DriftTestResult:
    """Mann-Whitney U; equals ``scipy.stats.mannwhitneyu(reference, current)``."""
    return NumericComparison(reference, current).mannwhitney(alpha)


def levene_test(reference, current, *, alpha: float = 0.05) -> DriftTestResult:
    """Levene (median); equals ``scipy.stats.levene(reference, current)``."""
    return NumericComparison(reference, current).levene(alpha)


def js_distance(reference, current, *, threshold: float = 0.2, bins: int = 20) -> DriftTestResult:
    """Jensen-Shannon distance of numeric histograms (20 bins, base 2)."""
    return NumericComparison(reference, current).js(threshold, bins)


def psi_test(reference, current, *, threshold: float = 0.2, bins: int = 10) -> DriftTestResult:
    """Population stability index on reference deciles."""
    return NumericComparison(reference, current).psi(threshold, bins)


def wasserstein_test(reference, current, *, threshold: float = 0.1) -> DriftTestResult:
    """Wasserstein distance divided by the reference std (statistic: the raw distance)."""
    return NumericComparison(reference, current).wasserstein(threshold)


def chi_square_test(reference, current, *, alpha: float = 0.05) -> DriftTestResult:
    """Chi-square on the 2 x categories contingency table."""
    return CategoricalComparison(reference, current).chi2(alpha)


def js_categorical(reference, current, *, threshold: float = 0.2) -> DriftTestResult:
    """Jensen-Shannon distance of category frequencies."""
    return CategoricalComparison(reference, current).js(threshold)

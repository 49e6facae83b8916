"""Drift benchmark: the kit's Monitor vs a per-column scipy loop on the same data.

1M reference + 1M current rows x 20 columns (16 numeric, 4 categorical), every
test: KS, Mann-Whitney, Levene, Wasserstein, Jensen-Shannon (20 bins), PSI,
null rates, chi-square and categorical Jensen-Shannon. Both sides compute the
same numbers (checked at the end); the kit's time includes profiling the
reference. Prints both times, peak traced memory, and the speed-up last.

    python benchmarks/drift.py [--rows 1000000] [--seed 0]
"""
from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops_kit.monitoring import Monitor

N_NUMERIC, N_CATEGORICAL = 16, 4


def make_data(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; a third of the columns drift a little or a lot."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    shifts = [0.0, 0.0, 0.005, 0.05]
    for i in range(N_NUMERIC):
        shift = shifts[i % len(shifts)]
        if i % 5 == 4:   # integer-valued columns: heavy ties
            ref[f"num_{i}"] = rng.poisson(5.0, rows).astype(np.float64)
            cur[f"num_{i}"] = rng.poisson(5.0 + 10 * shift, rows).astype(np.float64)
        else:
            ref[f"num_{i}"] = rng.normal(0.0, 1.0, rows)
            cur[f"num_{i}"] = rng.normal(shift, 1.0 + shift, rows)
    cur["num_3"][rng.random(rows) < 0.02] = np.nan
    for j in range(N_CATEGORICAL):
        k = 5 + 5 * j
        labels = np.array([f"cat{j}_{v}" for v in range(k)], dtype=object)
        p = rng.dirichlet(np.ones(k))
        q = p if j % 2 == 0 else rng.dirichlet(np.ones(k))
        ref[f"cat_{j}"] = labels[rng.choice(k, rows, p=p)]
        cur[f"cat_{j}"] = labels[rng.choice(k, rows, p=q)]
    return pd.DataFrame(ref), pd.DataFrame(cur)


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """The straightforward way: each test on each column, scipy doing its own work."""
    rows = []
    for col in reference.columns:
        r_all, c_all = reference[col], current[col]
        nulls = (int(r_all.isna().sum()), int(c_all.isna().sum()))
        if col.startswith("num"):
            x, y = r_all.dropna().to_numpy(), c_all.dropna().to_numpy()
            ks = stats.ks_2samp(x, y)
            mw = stats.mannwhitneyu(x, y)
            lev = stats.levene(x, y)
            wd = stats.wasserstein_distance(x, y) / np.std(x)
            lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
            js = jensenshannon(np.histogram(x, 20, (lo, hi))[0], np.histogram(y, 20, (lo, hi))[0], base=2)
            edges = np.unique(np.quantile(x, np.arange(1, 10) / 10))
            pr = np.maximum(np.bincount(np.searchsorted(edges, x, "right"), minlength=edges.size + 1) / x.size, 1e-4)
            pc = np.maximum(np.bincount(np.searchsorted(edges, y, "right"), minlength=edges.size + 1) / y.size, 1e-4)
            psi = float(np.sum((pc - pr) * np.log(pc / pr)))
            rows += [(col, "ks", ks.statistic, ks.pvalue), (col, "mannwhitney", mw.statistic, mw.pvalue),
                     (col, "levene", lev.statistic, lev.pvalue), (col, "wasserstein", wd, np.nan),
                     (col, "js", js, np.nan), (col, "psi", psi, np.nan)]
        else:
            table = pd.concat([r_all.value_counts(), c_all.value_counts()], axis=1).fillna(0).T.to_numpy()
            chi = stats.chi2_contingency(table)
            rows += [(col, "chi2", chi.statistic, chi.pvalue),
                     (col, "js", jensenshannon(table[0], table[1], base=2), np.nan)]
        rows.append((col, "nulls", nulls[1] / len(c_all) - nulls[0] / len(r_all), np.nan))
    return pd.DataFrame(rows, columns=["feature", "test", "statistic", "p_value"])


def kit_monitor(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    return Monitor(reference).run(current).results


def measure(fn, *args) -> tuple[float, float, pd.DataFrame]:
    """Wall time (s) and peak traced memory (MB) of one call."""
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    out = fn(*args)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    reference, current = make_data(args.rows, args.seed)
    print(f"data: {args.rows:,} + {args.rows:,} rows x {reference.shape[1]} columns "
          f"({N_NUMERIC} numeric, {N_CATEGORICAL} categorical)")
    t_scipy, m_scipy, baseline = measure(scipy_loop, reference, current)
    print(f"scipy per-column loop : {t_scipy:7.2f} s   peak traced memory {m_scipy:8.1f} MB")
    t_kit, m_kit, ours = measure(kit_monitor, reference, current)
    print(f"kit Monitor           : {t_kit:7.2f} s   peak traced memory {m_kit:8.1f} MB")

    monitor = Monitor(reference).fit()
    t_next, m_next, _ = measure(monitor.run, current)
    print(f"kit, reference profiled: {t_next:6.2f} s   peak traced memory {m_next:8.1f} MB   "
          "(each later window)")
    ks = ours[ours["test"] == "ks"]["statistic"]
    start = time.perf_counter()
    for d in ks:
        stats.kstwo.sf(d, np.round(args.rows / 2))
    print(f"of each run, scipy.stats.kstwo.sf (KS p-values, same call on both sides): "
          f"{time.perf_counter() - start:.2f} s")

    merged = baseline.merge(ours, on=["feature", "test"], suffixes=("_scipy", "_kit"))
    merged = merged[merged["test"] != "wasserstein"]  # kit's statistic is the raw distance
    stat_err = np.max(np.abs(merged["statistic_kit"] - merged["statistic_scipy"])
                      / np.maximum(np.abs(merged["statistic_scipy"]), 1e-12))
    p = merged.dropna(subset=["p_value_scipy"])
    p_err = np.max(np.abs(p["p_value_kit"] - p["p_value_scipy"]) / np.maximum(p["p_value_scipy"], 1e-300))
    print(f"agreement             : {len(merged)} feature x test pairs, max relative difference "
          f"statistic {stat_err:.1e}, p-value {p_err:.1e}")
    print(f"speed-up (scipy / kit): {t_scipy / t_kit:.1f}x")


if __name__ == "__main__":
    main()

"""The Monitor: compare new data with a reference and say what drifted.

``Monitor(reference, ...)`` only stores its arguments. The first
:meth:`Monitor.run` reduces the reference once to per-column profiles (sorted
distinct values and counts for numeric columns, category counts for
categorical ones); every later window reuses them, so checking a day of data
costs one sort per column of that day.

Input may be pandas or Spark. With a Spark DataFrame the profiles are computed
inside Spark (:mod:`.spark_backend`): counts, null counts and moments in one
aggregation, value counts or fine quantile-bin counts per column, so ten
million rows never need to fit in pandas.

Multiple testing: each p-value test (KS, Mann-Whitney, Levene, chi-square,
null rate) is Bonferroni-corrected across the columns it runs on, so each
test's family-wise false-alarm rate on unchanged data is at most ``alpha``,
*provided the rows are independent draws*. Rows that share a cause (every
sale of one day shares that day's weather) carry less information than their
count says, and the p-values come out far too small: test a unit that is
independent (one row per day, say) or data whose rows are.

Jensen-Shannon on few rows: binning noise alone can exceed the threshold, so
a JS result on fewer rows than :func:`~.stattests.js_min_rows` is reported
but not counted as drift; its ``note`` says how many rows it needed.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np  # noqa: F401  (the doctests use it)
import pandas as pd

from mlops_kit.exceptions import ConfigError, DataError
from mlops_kit.monitoring.profile import ColumnProfile, is_spark_frame, profile_pandas
from mlops_kit.monitoring.report import DriftReport, WindowedDriftReport
from mlops_kit.monitoring.stattests import (
    CATEGORICAL_TESTS, DEFAULT_THRESHOLDS, NUMERIC_TESTS, CategoricalComparison,
    NumericComparison, null_test,
)

__all__ = ["Monitor", "ColumnProfile", "is_spark_frame"]

_ALL_TESTS = frozenset(NUMERIC_TESTS) | frozenset(CATEGORICAL_TESTS) | {"nulls"}


class Monitor:
    """Drift monitor for a reference data set.

    Parameters
    ----------
    reference : pandas.DataFrame or pyspark.sql.DataFrame
        The data the model was trained or validated on.
    numeric, categorical : list of str, optional
        Feature columns by type. When both are omitted they are inferred:
        numbers are numeric; strings, categories and booleans categorical
        (datetimes and the label/prediction columns are skipped).
    label, prediction : str, optional
        Label and prediction columns, tested like features but reported with
        ``kind`` ``"label"`` / ``"prediction"`` (target and prediction drift).
    alpha : float
        Family-wise significance level of each p-value test (Bonferroni).
    thresholds : dict, optional
        Overrides of :data:`~mlops_kit.monitoring.stattests.DEFAULT_THRESHOLDS`
        (``js``, ``psi``, ``wasserstein``, ``nulls``).
    tests : iterable of str, optional
        Which tests to run; default all: ``ks``, ``mannwhitney``, ``levene``,
        ``js``, ``psi``, ``wasserstein`` (numeric), ``chi2``, ``js``
        (categorical) and ``nulls`` (every column).
    alert : callable or str, optional
        Called (or, for an ``http(s)://`` URL, POSTed to) with
        :meth:`DriftReport.summary` whenever a run finds drift.
    spark_options : dict, optional
        Passed to :func:`~mlops_kit.monitoring.spark_backend.profile_spark`
        (``exact_max_distinct``, ``bins``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=500)})
    >>> cur = pd.DataFrame({"x": rng.normal(3, 1, size=500)})
    >>> Monitor(ref).run(cur).drifted_features
    ['x']
    """

    def __init__(self, reference, *, numeric: Iterable[str] | None = None,
                 categorical: Iterable[str] | None = None, label: str | None = None,
                 prediction: str | None = None, alpha: float = 0.05,
                 thresholds: Mapping[str, float] | None = None,
                 tests: Iterable[str] | None = None,
                 alert: Callable[[dict], object] | str | None = None,
                 spark_options: Mapping | None = None) -> None:
        self.reference = reference
        self.numeric = numeric
        self.categorical = categorical
        self.label = label
        self.prediction = prediction
        self.alpha = alpha
        self.thresholds = thresholds
        self.tests = tests
        self.alert = alert
        self.spark_options = spark_options

    # -- configuration -----------------------------------------------------------
    def _check_params(self) -> tuple[list[str], dict[str, float]]:
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ConfigError(f"The 'alpha' parameter of Monitor must be a float in (0, 1). Got {self.alpha!r} instead.")
        tests = list(self.tests) if self.tests is not None else sorted(_ALL_TESTS)
        unknown = sorted(set(tests) - _ALL_TESTS)
        if unknown:
            raise ConfigError(f"Unknown drift test(s) {unknown}. Expected names from {sorted(_ALL_TESTS)}.")
        thresholds = {**DEFAULT_THRESHOLDS, **(self.thresholds or {})}
        unknown = sorted(set(thresholds) - set(DEFAULT_THRESHOLDS))
        if unknown:
            raise ConfigError(f"Unknown threshold(s) {unknown}. Expected keys from {sorted(DEFAULT_THRESHOLDS)}.")
        return tests, thresholds

    def _columns(self, dtypes: Mapping[str, str]) -> dict[str, tuple[str, bool]]:
        """name -> (kind, numeric), from the reference's dtype kinds ('num'/'cat'/'time')."""
        special = {c for c in (self.label, self.prediction) if c}
        missing = sorted((set(self.numeric or ()) | set(self.categorical or ()) | special) - set(dtypes))
        if missing:
            raise DataError(f"Monitor: column(s) {missing} are not in the reference data. "
                            f"It has {sorted(dtypes)}.")
        if self.numeric is None and self.categorical is None:
            numeric = [c for c, k in dtypes.items() if k == "num" and c not in special]
            categorical = [c for c, k in dtypes.items() if k == "cat" and c not in special]
        else:
            numeric, categorical = list(self.numeric or ()), list(self.categorical or ())
        columns = {c: ("feature", True) for c in numeric}
        columns.update({c: ("feature", False) for c in categorical})
        for col, kind in ((self.label, "label"), (self.prediction, "prediction")):
            if col:
                columns[col] = (kind, dtypes[col] == "num")
        if not columns:
            raise DataError("Monitor found no columns to test: pass numeric=[...] and/or categorical=[...].")
        return columns

    # -- profiles ---------------------------------------------------------------
    def _profile(self, frame, columns, *, like: dict | None = None) -> dict[str, ColumnProfile]:
        if is_spark_frame(frame):
            from mlops_kit.monitoring.spark_backend import profile_spark

            return profile_spark(frame, columns, like=like, **dict(self.spark_options or {}))
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"Monitor expects a pandas or Spark DataFrame. Got {type(frame).__name__}.")
        missing = sorted(set(columns) - set(frame.columns))
        if missing:
            raise DataError(f"The data to check lacks column(s) {missing} that the reference has. "
                            f"It has {sorted(map(str, frame.columns))}.")
        return profile_pandas(frame, columns)

    def fit(self) -> "Monitor":
        """Profile the reference (done by the first :meth:`run` if not called)."""
        self.tests_, self.thresholds_ = self._check_params()
        self.columns_ = self._columns(_dtype_kinds(self.reference))
        self.reference_profile_ = self._profile(self.reference, self.columns_)
        return self

    # -- running ------------------------------------------------------------------
    def run(self, current, *, window: str | None = None) -> DriftReport:
        """Test ``current`` against the reference; fire the alert hook if anything drifted."""
        if not hasattr(self, "reference_profile_"):
            self.fit()
        if is_spark_frame(current):
            profiles = self._profile(current, self.columns_, like=self.reference_profile_)
            get_current = profiles.__getitem__
        else:   # one column at a time: peak memory is one column, not the frame
            self._profile(current.iloc[:0], self.columns_)   # validates the columns
            get_current = lambda name: profile_pandas(current, {name: self.columns_[name]})[name]  # noqa: E731
        current_profile = {}
        results = self._results(self.reference_profile_, get_current, current_profile)
        report = DriftReport(results, self.reference_profile_, current_profile, window=window,
                             backend="spark" if is_spark_frame(current) else "pandas")
        if self.alert is not None and report.drifted:
            from mlops_kit.monitoring.alerts import send_alert

            send_alert(self.alert, report.summary())
        return report

    def _results(self, ref: dict[str, ColumnProfile], get_current: Callable[[str], ColumnProfile],
                 keep: dict[str, ColumnProfile]) -> pd.DataFrame:
        """Test every column; ``keep`` receives the compacted current profiles."""
        tests, limits = self.tests_, self.thresholds_
        num_cols = [c for c, p in ref.items() if p.numeric]
        cat_cols = [c for c, p in ref.items() if not p.numeric]
        bonferroni = {"ks": len(num_cols), "mannwhitney": len(num_cols), "levene": len(num_cols),
                      "chi2": len(cat_cols), "nulls": len(ref)}
        rows = []
        for name, r in ref.items():
            c = get_current(name)
            chosen = [t for t in (NUMERIC_TESTS if r.numeric else CATEGORICAL_TESTS) if t in tests]
            if chosen and r.n and c.n:
                comparison = (NumericComparison(r.sample, c.sample) if r.numeric
                              else CategoricalComparison(r.counts, c.counts, counts=True))
                for test in chosen:
                    method = getattr(comparison, test)
                    arg = self.alpha / bonferroni[test] if test in bonferroni else limits[test]
                    rows.append(_row(name, r.kind, method(arg)))
            elif chosen:
                rows.extend(_row(name, r.kind, None, test) for test in chosen)
            if "nulls" in tests:
                res = null_test(r.nulls, r.n + r.nulls, c.nulls, c.n + c.nulls,
                                alpha=self.alpha / bonferroni["nulls"], min_change=limits["nulls"])
                rows.append(_row(name, r.kind, res))
            keep[name] = c.compact()
        return pd.DataFrame(rows, columns=DriftReport.COLUMNS)

    def run_windows(self, current, time_col: str, freq: str = "D") -> WindowedDriftReport:
        """Run once per time window of ``current`` (``freq`` as pandas: ``"D"``, ``"W"``, ``"h"``).

        Returns a :class:`WindowedDriftReport`, whose ``heatmap()`` shows drift over time.
        Windows with no rows are skipped; the alert hook fires per drifted window.
        """
        reports = []
        for label, part in _windows(current, time_col, freq):
            reports.append(self.run(part, window=label))
        if not reports:
            raise DataError(f"run_windows: no rows in {time_col!r} to split into {freq!r} windows.")
        return WindowedDriftReport(reports)


def _row(feature: str, kind: str, res, test: str | None = None) -> dict:
    if res is None:   # a side with no non-null values: nothing to test
        return {"feature": feature, "kind": kind, "test": test, "statistic": math.nan,
                "p_value": math.nan, "distance": math.nan, "threshold": math.nan, "drifted": False,
                "note": "no non-null values on one side"}
    return {"feature": feature, "kind": kind, "test": res.test, "statistic": res.statistic,
            "p_value": res.p_value, "distance": res.distance, "threshold": res.threshold,
            "drifted": res.drifted, "note": res.note}


def _dtype_kinds(frame) -> dict[str, str]:
    """Column name -> 'num' / 'cat' / 'time' for pandas or Spark frames."""
    if is_spark_frame(frame):
        out = {}
        for field in frame.schema.fields:
            t = field.dataType.typeName()
            out[field.name] = ("time" if t in ("timestamp", "timestamp_ntz", "date") else
                               "num" if t in ("integer", "long", "short", "byte", "float", "double", "decimal")
                               else "cat")
        return out
    out = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            out[str(name)] = "cat"
        elif pd.api.types.is_numeric_dtype(dtype):
            out[str(name)] = "num"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[str(name)] = "time"
        else:
            out[str(name)] = "cat"
    return out


def _windows(frame, time_col: str, freq: str):
    """Yield (label, sub-frame) per non-empty time window."""
    if is_spark_frame(frame):
        from pyspark.sql import functions as F

        bounds = frame.agg(F.min(time_col).alias("lo"), F.max(time_col).alias("hi")).collect()[0]
        if bounds["lo"] is None:
            return
        for period in pd.period_range(pd.Timestamp(bounds["lo"]), pd.Timestamp(bounds["hi"]), freq=freq):
            lo, hi = period.start_time.to_pydatetime(), period.end_time.to_pydatetime()
            part = frame.filter((F.col(time_col) >= lo) & (F.col(time_col) <= hi))
            if part.limit(1).count():
                yield str(period.start_time), part
        return
    if time_col not in frame.columns:
        raise DataError(f"run_windows: no column {time_col!r}. The data has {sorted(map(str, frame.columns))}.")
    times = pd.to_datetime(frame[time_col])
    for period, part in frame.groupby(times.dt.to_period(freq), sort=True):
        if len(part):
            yield str(period.start_time), part

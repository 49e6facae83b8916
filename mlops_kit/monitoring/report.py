"""Drift reports: the tidy results table and where it goes (Delta, MLflow, alerts, plots)."""
from __future__ import annotations

import datetime as dt
import math
import re
import uuid

import pandas as pd

from mlops_kit.monitoring.summary import empty_summary, summary_rows

__all__ = ["DriftReport", "WindowedDriftReport"]


class DriftReport:
    """Result of one :meth:`Monitor.run`.

    Attributes
    ----------
    results : pandas.DataFrame
        One row per feature x test: ``feature, kind, test, statistic, p_value,
        distance, threshold, drifted, note`` (``note`` is empty unless the test
        could not decide, e.g. a JS distance on too few rows).
    run_id : str
        Identifies this run in the Delta table and MLflow.
    window : str or None
        The time window checked (set by :meth:`Monitor.run_windows`).
    computed_at : datetime
        When the run finished (UTC).
    """

    COLUMNS = ["feature", "kind", "test", "statistic", "p_value", "distance", "threshold", "drifted",
               "note"]

    def __init__(self, results: pd.DataFrame, reference_profile: dict, current_profile: dict,
                 *, window: str | None = None, backend: str = "pandas") -> None:
        self.results = results
        self.reference_profile = reference_profile
        self.current_profile = current_profile
        self.window = window
        self.backend = backend
        self.run_id = uuid.uuid4().hex[:12]
        self.computed_at = dt.datetime.now(dt.timezone.utc)

    def __repr__(self) -> str:
        return (f"DriftReport(run_id={self.run_id!r}, window={self.window!r}, "
                f"tests={len(self.results)}, drifted_features={self.drifted_features})")

    def _repr_html_(self) -> str:
        """A verdict line, then the drifted tests (feature, test, value, threshold)."""
        import html

        verdict = (f"drift in {len(self.drifted_features)} column(s): {', '.join(self.drifted_features)}"
                   if self.drifted else "no drift")
        color = "#c5221f" if self.drifted else "#137333"
        head = (f"<b>Drift report</b> {html.escape(self.window or '')} "
                f"<small>run {self.run_id}, {len(self.results)} tests</small>"
                f"<div style='color:{color};font-weight:bold'>{html.escape(verdict)}</div>")
        hits = self.results[self.results["drifted"].astype(bool)]
        table = (hits[["feature", "kind", "test", "p_value", "distance", "threshold"]]
                 .to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.3g}")
                 if len(hits) else "")
        undecided = self.undecided
        notes = "".join(f"<div><small>{html.escape(row.feature)} {html.escape(str(row.test))} not "
                        f"decided: {html.escape(row.note)}</small></div>"
                        for row in undecided.itertuples(index=False))
        return f"<div class='mlops-kit-card'>{head}{table}{notes}</div>"

    @property
    def undecided(self) -> pd.DataFrame:
        """The tests that could not decide (too few rows), with their ``note``."""
        if "note" not in self.results:
            return self.results.iloc[:0]
        return self.results[self.results["note"].fillna("").astype(str) != ""]

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))

    @property
    def drifted(self) -> bool:
        """Whether any test on any column drifted."""
        return bool(self.results["drifted"].any())

    @property
    def drifted_features(self) -> list[str]:
        """Columns with at least one drifted test, in column order."""
        hits = self.results.loc[self.results["drifted"].astype(bool), "feature"]
        return list(dict.fromkeys(hits))

    @property
    def summary_stats(self) -> pd.DataFrame:
        """Null counts/rates and mean/median/std/min/max, reference vs current, with % change."""
        rows = []
        for name, ref in self.reference_profile.items():
            rows.extend(summary_rows(name, ref.kind, ref.stats, self.current_profile[name].stats))
        return pd.DataFrame(rows) if rows else empty_summary()

    def summary(self) -> dict:
        """JSON-ready digest (the alert payload)."""
        drifted = self.results[self.results["drifted"].astype(bool)]
        return {
            "run_id": self.run_id,
            "window": self.window,
            "computed_at": self.computed_at.isoformat(),
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "n_tests": int(len(self.results)),
            "undecided_tests": [f"{row.feature}.{row.test}: {row.note}"
                                for row in self.undecided.itertuples(index=False)],
            "drifted_tests": [
                {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                for row in drifted[["feature", "kind", "test", "statistic", "p_value", "distance",
                                    "threshold"]].to_dict("records")
            ],
        }

    def to_frame(self) -> pd.DataFrame:
        """``results`` plus ``run_id``, ``window`` and ``computed_at`` (what gets stored)."""
        out = self.results.copy()
        out["statistic"] = out["statistic"].astype("float64")
        out["drifted"] = out["drifted"].astype(bool)
        if "note" in out:
            out["note"] = out["note"].fillna("").astype(str)
        out.insert(0, "computed_at", pd.Timestamp(self.computed_at).tz_convert("UTC"))
        out.insert(0, "window", self.window or "")
        out.insert(0, "run_id", self.run_id)
        return out

    def to_delta(self, table: str, *, spark=None) -> str:
        """Append the results to a Delta table; returns its path.

        ``table`` is a workspace table name or a location
        (:func:`mlops_kit.tables.resolve_path`). A table written by an earlier
        version without the ``note`` column gains it. Written with the delta-rs
        side of :mod:`mlops_kit.tables` (no JVM) unless the data came from Spark
        or a ``spark`` session is given, in which case the Spark side writes it.
        """
        from mlops_kit.tables import resolve_path

        path = resolve_path(table)
        frame = self.to_frame()
        if spark is None and self.backend == "spark":
            from mlops_kit.spark import get_spark

            spark = get_spark()
        if spark is not None:
            from mlops_kit.tables.spark_side import SparkTables

            frame["computed_at"] = frame["computed_at"].dt.tz_localize(None)
            SparkTables(spark=spark).append(path, spark.createDataFrame(frame), merge_schema=True)
        else:
            import pyarrow as pa

            from mlops_kit.tables.delta_rs import DeltaRsTables

            # the tz-aware column goes to arrow directly (pandas 3 warns when arrow reads it via .values)
            stamps = frame.pop("computed_at")
            table = pa.Table.from_pandas(frame, preserve_index=False)
            utc = pa.array(stamps.dt.tz_localize(None).to_numpy(), type=pa.timestamp(stamps.dt.unit, tz="UTC"))
            table = table.add_column(2, "computed_at", utc)
            # merge: a table written before a column was added (``note``) gains it
            DeltaRsTables().append(path, table, merge_schema=True)
        return path

    def log_to_mlflow(self, *, run_name: str | None = None, prefix: str = "drift") -> str:
        """Log one metric per feature x test and the results table; returns the MLflow run id.

        Metric names are ``<prefix>.<feature>.<test>.<p_value|distance>`` plus
        ``<prefix>.n_drifted_features``. Logs into the active run, or a new one.
        """
        import mlflow

        active = mlflow.active_run()
        run = active or mlflow.start_run(run_name=run_name or f"drift-{self.run_id}")
        try:
            metrics = {f"{prefix}.n_drifted_features": float(len(self.drifted_features))}
            for row in self.results.itertuples(index=False):
                measure, value = (("p_value", row.p_value) if not math.isnan(row.p_value)
                                  else ("distance", row.distance))
                if not math.isnan(value):
                    metrics[f"{prefix}.{_metric_name(row.feature)}.{row.test}.{measure}"] = float(value)
            mlflow.log_metrics(metrics)
            mlflow.set_tags({f"{prefix}.run_id": self.run_id, f"{prefix}.window": self.window or "",
                             f"{prefix}.drifted": str(self.drifted)})
            mlflow.log_table(self.to_frame().astype({"computed_at": str}), artifact_file=f"{prefix}/results.json")
            mlflow.log_table(self.summary_stats, artifact_file=f"{prefix}/summary_stats.json")
            return run.info.run_id
        finally:
            if active is None:
                mlflow.end_run()

    def plot(self, features=None, **kwargs):
        """Reference vs current distribution per feature (see :func:`.plots.plot_distributions`)."""
        from mlops_kit.monitoring.plots import plot_distributions

        return plot_distributions(self, features=features, **kwargs)


class WindowedDriftReport:
    """Reports of consecutive time windows (from :meth:`Monitor.run_windows`)."""

    def __init__(self, reports: list[DriftReport]) -> None:
        self.reports = reports

    def __repr__(self) -> str:
        drifted = [r.window for r in self.reports if r.drifted]
        return f"WindowedDriftReport(windows={len(self.reports)}, drifted_windows={drifted})"

    def _repr_html_(self) -> str:
        """Feature x window: share of tests that drifted."""
        table = self.matrix().map(lambda v: f"{v:.0%}").to_html(border=0)
        return (f"<div class='mlops-kit-card'><b>Drift per window</b> <small>share of tests "
                f"drifted, {len(self.reports)} windows</small>{table}</div>")

    @property
    def results(self) -> pd.DataFrame:
        """All windows' results, with a ``window`` column first."""
        return pd.concat([r.results.assign(window=r.window) for r in self.reports], ignore_index=True)[
            ["window", *DriftReport.COLUMNS]]

    def matrix(self, value: str = "drifted", test: str | None = None) -> pd.DataFrame:
        """Feature x window table of ``value`` (``drifted`` share of tests, ``p_value`` or ``distance``)."""
        res = self.results
        if test is not None:
            res = res[res["test"] == test]
        agg = "mean" if value == "drifted" else "min" if value == "p_value" else "max"
        table = res.assign(drifted=res["drifted"].astype(float)).pivot_table(
            index="feature", columns="window", values=value, aggfunc=agg, sort=False)
        return table

    def plot(self, test: str = "js", *, features=None):
        """One line per feature: ``test``'s statistic per window against its threshold
        (see :func:`.plots.plot_drift_windows`)."""
        from mlops_kit.monitoring.plots import plot_drift_windows

        return plot_drift_windows(self, test=test, features=features)

    def heatmap(self, value: str = "drifted", test: str | None = None, ax=None):
        """Heatmap of :meth:`matrix` (see :func:`.plots.plot_drift_heatmap`)."""
        from mlops_kit.monitoring.plots import plot_drift_heatmap

        return plot_drift_heatmap(self.matrix(value, test), value=value, ax=ax)

    def to_delta(self, table: str, **kwargs) -> str:
        """Append every window's results to one Delta table."""
        path = ""
        for report in self.reports:
            path = report.to_delta(table, **kwargs)
        return path


def _metric_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(name))


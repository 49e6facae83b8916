"""Triage: tell a broken pipeline from a changed world before anyone retrains.

A drift alarm has two very different causes, and they call for opposite
actions:

- **the data broke on its way to the model** (a unit change upstream, a
  source that stopped sending a column, a join that went wrong): the model is
  fine, its inputs are wrong. Retraining on those rows would teach the model
  the bug, and the fix upstream would then break the retrained model. The
  right action is an incident: fix the pipeline, backfill, keep the champion.
- **the world changed** (other customers, other prices): the inputs moved
  within what the world can plausibly produce. Whether to retrain is decided
  by the model's error on fresh labels: retrain when it grew, watch when it
  did not.

A broken pipeline usually shows in the cheapest signal there is, the summary
statistics of the drift report, as jumps no real change makes overnight:

==========================  =====================================================
scale or unit change        a feature's mean or spread multiplied by at least
                            ``scale_factor`` (0-5 stars arriving as a 0-100
                            score multiplies both by 20)
jump far out of range       the mean moved by more than ``max_shift_sd``
                            reference standard deviations
null-rate jump              the share of missing values rose by at least
                            ``null_rate_jump`` (a source dropping values)
schema change               a column missing, or numbers arriving as text
                            (:func:`schema_changes`)
==========================  =====================================================

:func:`triage` turns a :class:`~mlops_kit.monitoring.DriftReport` (its public
``summary_stats`` and ``drifted_features``), the schema check and, once labels
have arrived, a :class:`~mlops_kit.monitoring.PerformanceDrift` into one
:class:`Triage`: ``fix_pipeline``, ``retrain``, ``watch`` or ``no_action``,
with the evidence in words. :func:`open_incident` records a pipeline bug.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from mlops_kit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ACTIONS", "Finding", "Triage", "pipeline_bugs", "schema_changes", "triage",
           "record_triage", "triage_history", "open_incident", "read_incidents"]

#: what each triage action means
ACTIONS = {
    "fix_pipeline": "the data broke on its way to the model: open an incident, fix the pipeline "
                    "and backfill; do not retrain on these rows",
    "retrain": "the world changed and the model's error grew: retrain on recent data",
    "watch": "the inputs moved within a plausible range; keep measuring the error as labels arrive",
    "no_action": "nothing moved",
}


@dataclass(frozen=True)
class Finding:
    """One piece of evidence that a column broke upstream."""

    feature: str
    kind: str        # "scale change", "out-of-range shift", "null-rate jump", "schema change"
    evidence: str

    def __str__(self) -> str:
        return f"{self.feature}: {self.kind} ({self.evidence})"


@dataclass(frozen=True)
class Triage:
    """What to do about one monitoring run, and why."""

    action: str
    reason: str
    findings: tuple[Finding, ...] = ()
    drifted_features: tuple[str, ...] = ()
    performance: dict[str, Any] | None = field(default=None)

    @property
    def retrain(self) -> bool:
        """Whether this run should start the training job."""
        return self.action == "retrain"

    @property
    def pipeline_bug(self) -> bool:
        return self.action == "fix_pipeline"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest (what the job logs and an incident stores)."""
        out = asdict(self)
        out["findings"] = [str(f) for f in self.findings]
        out["drifted_features"] = list(self.drifted_features)
        return out

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))


def _ratio(reference: float, current: float) -> float:
    """How many times larger the bigger magnitude is (1 = unchanged); NaN if undefined."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (reference, current)):
        return math.nan
    low, high = sorted((abs(reference), abs(current)))
    if low == 0:
        return math.inf if high > 0 else 1.0
    return high / low


def pipeline_bugs(summary_stats: "pd.DataFrame", *, scale_factor: float = 3.0,
                  max_shift_sd: float = 6.0, null_rate_jump: float = 0.10) -> list[Finding]:
    """Columns whose summary statistics jumped the way only a broken pipeline makes them jump.

    Parameters
    ----------
    summary_stats : pandas.DataFrame
        :attr:`DriftReport.summary_stats` (``feature, kind, stat, reference, current``).
    scale_factor : float
        A mean or a standard deviation multiplied (or divided) by this much is
        a unit or scale change. The mean counts only where it is at least one
        reference standard deviation away from zero (a ratio of means near 0
        says nothing).
    max_shift_sd : float
        A mean that moved by more than this many reference standard deviations
        left the range the feature had.
    null_rate_jump : float
        A rise of the null rate by at least this much (absolute: 0.10 = 10 points).
    """
    if scale_factor <= 1 or max_shift_sd <= 0 or not 0 < null_rate_jump <= 1:
        raise ConfigError("scale_factor must be > 1, max_shift_sd > 0 and null_rate_jump in (0, 1]. "
                          f"Got {scale_factor!r}, {max_shift_sd!r}, {null_rate_jump!r}.")
    findings: list[Finding] = []
    if summary_stats is None or len(summary_stats) == 0:
        return findings
    for feature, rows in summary_stats.groupby("feature", sort=False):
        if set(rows["kind"]) - {"feature"}:
            continue  # the label and the prediction may move for real reasons
        stats = {r.stat: (r.reference, r.current) for r in rows.itertuples(index=False)}
        ref_null, cur_null = stats.get("null_rate", (math.nan, math.nan))
        if cur_null - ref_null >= null_rate_jump:
            findings.append(Finding(feature, "null-rate jump",
                                    f"missing values {ref_null:.1%} -> {cur_null:.1%}"))
        if "mean" not in stats or "std" not in stats:
            continue
        (ref_mean, cur_mean), (ref_sd, cur_sd) = stats["mean"], stats["std"]
        sd_ratio = _ratio(ref_sd, cur_sd)
        mean_ratio = (_ratio(ref_mean, cur_mean)
                      if ref_sd and not math.isnan(ref_sd) and abs(ref_mean) >= ref_sd else math.nan)
        shift = abs(cur_mean - ref_mean) / ref_sd if ref_sd and not math.isnan(ref_sd) else math.nan
        if mean_ratio >= scale_factor or sd_ratio >= scale_factor:
            which = "mean" if mean_ratio >= sd_ratio or math.isnan(sd_ratio) else "spread"
            ratio = mean_ratio if which == "mean" else sd_ratio
            findings.append(Finding(
                feature, "scale change",
                f"{which} x{ratio:.1f}: mean {ref_mean:.3g} -> {cur_mean:.3g}, "
                f"std {ref_sd:.3g} -> {cur_sd:.3g}"))
        elif shift > max_shift_sd:
            findings.append(Finding(feature, "out-of-range shift",
                                    f"mean {ref_mean:.3g} -> {cur_mean:.3g}, "
                                    f"{shift:.0f} reference standard deviations"))
    return findings


def schema_changes(reference: "pd.DataFrame", current: "pd.DataFrame",
                   columns: Iterable[str]) -> list[Finding]:
    """Columns the model needs that ``current`` lacks, or that changed from numbers to text."""
    import pandas as pd

    findings = []
    for column in columns:
        if column not in current.columns:
            findings.append(Finding(column, "schema change", "the column is missing"))
            continue
        if column not in reference.columns:
            continue
        was, now = reference[column], current[column]
        if (pd.api.types.is_numeric_dtype(was) and not pd.api.types.is_numeric_dtype(now)
                and now.notna().any()):
            findings.append(Finding(column, "schema change", f"numbers now arrive as {now.dtype}"))
    return findings


def triage(report: Any, *, performance: Any = None, schema: Sequence[Finding] = (),
           scale_factor: float = 3.0, max_shift_sd: float = 6.0,
           null_rate_jump: float = 0.10) -> Triage:
    """Decide what one monitoring run calls for.

    Parameters
    ----------
    report : DriftReport or None
        The monitoring run (None: nothing was tested).
    performance : PerformanceDrift, optional
        The served model's error on labels that arrived since it was trained;
        None while no labels have arrived.
    schema : sequence of Finding
        What :func:`schema_changes` found.

    Returns
    -------
    Triage
        ``fix_pipeline`` when any column broke (whatever the error says:
        a model retrained on a bug learns the bug); otherwise ``retrain`` when
        the error grew beyond its tolerance (real drift, or concept drift with
        unchanged inputs); ``watch`` when inputs drifted but the error did not
        grow or is not known yet; ``no_action`` when nothing moved.
    """
    if report is None and performance is None and not schema:
        return Triage("no_action", "nothing was tested: too few rows and no labels")
    stats = report.summary_stats if report is not None else None
    findings = tuple(schema) + tuple(pipeline_bugs(stats, scale_factor=scale_factor,
                                                   max_shift_sd=max_shift_sd,
                                                   null_rate_jump=null_rate_jump))
    drifted = tuple(report.drifted_features) if report is not None else ()
    perf = performance.to_dict() if performance is not None else None
    if findings:
        names = ", ".join(dict.fromkeys(f.feature for f in findings))
        return Triage("fix_pipeline",
                      f"pipeline bug in {names}: fix the pipeline and backfill; retraining "
                      "is blocked", findings, drifted, perf)
    worse = performance is not None and performance.drifted
    if worse:
        where = (f"inputs drifted ({', '.join(drifted)}) within a plausible range"
                 if drifted else "the inputs did not drift (concept drift)")
        return Triage("retrain", f"{where}, and the {performance.metric} grew by "
                      f"{performance.degradation:.0%}: retrain on recent data", (), drifted, perf)
    if drifted:
        why = ("the error is within tolerance" if performance is not None
               else "no labels yet to measure the error")
        return Triage("watch", f"inputs drifted ({', '.join(drifted)}) within a plausible range; "
                      f"{why}", (), drifted, perf)
    return Triage("no_action", "no drift and no loss of accuracy", (), drifted, perf)


# ------------------------------------------------------------------ incidents
def _incidents_path(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    from mlops_kit.workspace import get_workspace

    return get_workspace().artifacts_dir / "incidents.jsonl"


def open_incident(decision: Triage, *, model: str, path: str | Path | None = None) -> dict[str, Any]:
    """Record a pipeline bug for the data team (one JSON line); returns the incident.

    Raises
    ------
    ConfigError
        ``decision`` is not a pipeline bug (only those open incidents here).
    """
    if not decision.pipeline_bug:
        raise ConfigError(f"Only a fix_pipeline decision opens an incident. Got {decision.action!r}.")
    incident = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "model": model,
                "status": "open", **decision.summary(), "todo": ACTIONS["fix_pipeline"]}
    target = _incidents_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as out:
        out.write(json.dumps(incident, default=str) + "\n")
    return incident


def read_incidents(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every recorded incident, oldest first."""
    target = _incidents_path(path)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------- MLflow
def record_triage(decision: Triage, run_id: str) -> None:
    """Tag a monitoring run with its triage (``triage``, ``triage.reason``) and log the error's growth."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_tag(run_id, "triage", decision.action)
    client.set_tag(run_id, "triage.reason", decision.reason[:5000])
    if decision.findings:
        client.set_tag(run_id, "triage.findings", "; ".join(str(f) for f in decision.findings)[:5000])
    if decision.performance is not None:
        client.log_metric(run_id, "champion.rmse_growth", float(decision.performance["relative_change"]))


def triage_history(*, since: float | None = None, experiment: str = "monitoring",
                   workspace: Any = None) -> "pd.DataFrame":
    """The env's triaged monitoring runs, oldest first: action, reason, findings, error growth.

    ``since`` (seconds since the epoch, as :func:`time.time`) keeps only the runs
    that started then or later.
    """
    import mlflow
    import pandas as pd

    from mlops_kit.workspace import get_workspace

    ws = workspace or get_workspace()
    columns = ["run", "action", "reason", "findings", "rmse_growth"]
    found = mlflow.get_experiment_by_name(ws.experiment_name(experiment))
    if found is None:
        return pd.DataFrame(columns=columns)
    where = "tags.triage != ''"
    if since is not None:
        where += f" and attributes.start_time >= {int(since * 1000)}"
    runs = mlflow.search_runs([found.experiment_id], filter_string=where,
                              order_by=["attributes.start_time ASC"])
    if runs.empty:
        return pd.DataFrame(columns=columns)
    pick = lambda name: runs[name] if name in runs else pd.Series([None] * len(runs))  # noqa: E731
    return pd.DataFrame({"run": pick("tags.mlflow.runName").to_numpy(),
                         "action": pick("tags.triage").to_numpy(),
                         "reason": pick("tags.triage.reason").to_numpy(),
                         "findings": pick("tags.triage.findings").fillna("").to_numpy(),
                         "rmse_growth": pick("metrics.champion.rmse_growth").to_numpy()})

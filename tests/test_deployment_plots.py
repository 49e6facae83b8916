"""Deployment plots hold the data they claim; the stopwatches time what they say."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mlops_kit.deployment import plots, timing
from mlops_kit.exceptions import ConfigError, DataError, EnvironmentProblem

LATENCIES = [2.0, 3.0, 3.5, 4.0, 5.0, 40.0]


def test_latency_percentiles_match_numpy():
    stats = plots.latency_percentiles(LATENCIES)
    assert stats["n"] == 6
    assert stats["p50_ms"] == pytest.approx(np.percentile(LATENCIES, 50), abs=0.01)
    assert stats["p99_ms"] == pytest.approx(np.percentile(LATENCIES, 99), abs=0.01)
    assert stats["mean_ms"] == pytest.approx(np.mean(LATENCIES), abs=0.01)


def test_latency_plot_has_every_request_and_the_three_percentile_lines():
    fig = plots.plot_latency(LATENCIES, bins=5)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "latency (ms)" and ax.get_ylabel() == "requests"
    assert sum(p.get_height() for p in ax.patches) == len(LATENCIES)
    lines = [line.get_xdata()[0] for line in ax.get_lines()]
    assert lines == pytest.approx([np.percentile(LATENCIES, p) for p in (50, 95, 99)], abs=0.01)
    assert "6 requests" in ax.get_title()
    assert fig.dpi <= 100


def test_throughput_plot_has_one_bar_per_engine_with_its_rate():
    fig = plots.plot_throughput({"sql": 50_000.0, "udf": 8_000.0})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sql", "udf"]
    assert [p.get_height() for p in ax.patches] == [50_000.0, 8_000.0]
    assert ax.get_ylabel() == "rows per second"


def test_stream_progress_plot_skips_empty_batches_and_shows_rows_and_durations():
    progress = [
        {"batchId": 0, "numInputRows": 100, "durationMs": {"triggerExecution": 900}},
        {"batchId": 1, "numInputRows": 0, "durationMs": {"triggerExecution": 5}},
        {"batchId": 2, "numInputRows": 250, "durationMs": {"triggerExecution": 1500}},
    ]
    fig = plots.plot_stream_progress(progress)
    rows_ax, seconds_ax = fig.axes
    assert [p.get_height() for p in rows_ax.patches] == [100, 250]
    assert [t.get_text() for t in rows_ax.get_xticklabels()] == ["0", "2"]
    assert list(seconds_ax.get_lines()[0].get_ydata()) == [0.9, 1.5]
    assert rows_ax.get_xlabel() == "micro-batch id"
    assert seconds_ax.get_ylabel() == "duration (s)"


def test_stream_progress_from_spark_connect_counts_rows_from_the_sources():
    """Over Spark Connect a progress entry has no top-level numInputRows: the rows are
    the sum over its sources, as PySpark's own property computes it."""
    from pyspark.sql.streaming.listener import StreamingQueryProgress

    def entry(batch, rows):
        return StreamingQueryProgress.fromJson({
            "id": "7a8c0c39-2f5b-4b3c-a1e4-8a0d2b8e6c11", "runId": "1f0e7a92-5d0b-4c55-9b6e-0c3f3c1d2e4f",
            "name": None, "timestamp": "2026-11-30T13:54:50.548Z", "batchId": batch,
            "batchDuration": 10, "durationMs": {"triggerExecution": 1000 * (batch + 1)},
            "eventTime": {}, "stateOperators": [], "observedMetrics": {},
            "sources": [{"description": "DeltaSource", "startOffset": None, "endOffset": None,
                         "latestOffset": None, "numInputRows": rows, "inputRowsPerSecond": 0.0,
                         "processedRowsPerSecond": 0.0, "metrics": {}}],
            "sink": {"description": "DeltaSink", "numOutputRows": rows, "metrics": {}}})

    progress = [entry(0, 5), entry(1, 0), entry(2, 7)]
    assert progress[0].get("numInputRows") is None  # what a dict lookup sees over Connect
    rows_ax, _ = plots.plot_stream_progress(progress).axes
    assert [p.get_height() for p in rows_ax.patches] == [5, 7]


def test_paradigm_plot_has_one_box_per_paradigm_on_a_log_axis():
    data = {"batch": [2500.0, 2600.0], "streaming": [900.0, 1100.0, 1000.0], "REST": LATENCIES}
    fig = plots.plot_paradigm_latency(data)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["batch", "streaming", "REST"]
    assert ax.get_xscale() == "log"
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["p50 2.5 s", "p50 1.0 s", f"p50 {np.median(LATENCIES):.1f} ms"]


@pytest.mark.parametrize("call, match", [
    (lambda: plots.plot_latency([]), "at least one measurement"),
    (lambda: plots.plot_latency([1.0, float("nan")]), "finite"),
    (lambda: plots.plot_throughput({}), "at least one engine"),
    (lambda: plots.plot_stream_progress([{"batchId": 0, "numInputRows": 0}]), "did rows arrive"),
    (lambda: plots.plot_paradigm_latency({"REST": []}), "'REST' latencies"),
])
def test_plots_refuse_empty_or_broken_data(call, match):
    with pytest.raises(DataError, match=match):
        call()


class _Response:
    def __init__(self, status_code):
        self.status_code, self.text = status_code, "boom"


class _Client:
    def __init__(self, codes):
        self.codes, self.sent = list(codes), []

    def post(self, path, json):
        self.sent.append((path, json))
        return _Response(self.codes.pop(0))


def test_request_latencies_skips_the_warmup_and_times_the_rest():
    client = _Client([200] * 5)
    timings = timing.request_latencies(client, [{"i": i} for i in range(5)], warmup=2)
    assert len(timings) == 3 and all(t >= 0 for t in timings)
    assert client.sent[0] == ("/invocations", {"i": 0})


def test_request_latencies_refuses_to_time_an_error():
    with pytest.raises(EnvironmentProblem, match="answered 400 to request 1"):
        timing.request_latencies(_Client([200, 400]), [{}, {}], warmup=0)


class _Query:
    def __init__(self, active=True):
        self.isActive, self.waits = active, 0

    def processAllAvailable(self):
        self.waits += 1


def test_stream_arrival_latencies_waits_for_the_query_after_each_arrival():
    query, arrived = _Query(), []
    timings = timing.stream_arrival_latencies(query, arrived.append, ["a", "b"])
    assert arrived == ["a", "b"] and query.waits == 2 and len(timings) == 2


def test_stream_arrival_latencies_needs_a_running_query():
    with pytest.raises(ConfigError, match="needs a running query"):
        timing.stream_arrival_latencies(_Query(active=False), print, [1])


def test_call_latencies_times_each_call_after_the_warmup():
    seen = []
    timings = timing.call_latencies(seen.append, range(6), warmup=2)
    assert seen == list(range(6)) and len(timings) == 4


def test_reset_stream_removes_source_sink_and_checkpoint_only(tmp_path):
    from mlops_kit.deployment import reset_stream
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env(root=tmp_path / "kit", user="tester")
    kept = ws.table_path("listings")
    paths = [ws.table_path("src"), ws.table_path("sink"), ws.checkpoint_path("sink"), kept]
    for path in paths:
        path.mkdir(parents=True)
    reset_stream("src", "sink", workspace=ws)
    assert [p.exists() for p in paths] == [False, False, False, True]

"""The batch-schedule model, readable durations, and the paradigm plot's axis."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mlops_kit.deployment import plots
from mlops_kit.deployment.timing import human_duration, scheduled_batch_latencies
from mlops_kit.exceptions import ConfigError

HOUR_MS = 3_600_000


def test_scheduled_latencies_wait_half_the_interval_at_the_median_plus_the_run():
    latencies = scheduled_batch_latencies([500.0], every_hours=24, arrivals=240)
    assert len(latencies) == 240
    assert np.median(latencies) == pytest.approx(12 * HOUR_MS + 500, rel=1e-3)
    # the earliest arrival waits almost the whole interval, the last almost nothing
    assert max(latencies) < 24 * HOUR_MS + 500 and min(latencies) > 500
    assert max(latencies) > 23.8 * HOUR_MS and min(latencies) < 0.2 * HOUR_MS


def test_scheduled_latencies_use_each_measured_run_in_turn():
    latencies = scheduled_batch_latencies([1000.0, 3000.0], every_hours=1, arrivals=2)
    assert latencies == pytest.approx([0.75 * HOUR_MS + 1000, 0.25 * HOUR_MS + 3000])


def test_a_faster_schedule_shrinks_batch_latency():
    daily = np.median(scheduled_batch_latencies([400.0], every_hours=24))
    hourly = np.median(scheduled_batch_latencies([400.0], every_hours=1))
    assert hourly < daily / 20


@pytest.mark.parametrize("job_ms, every_hours, arrivals, match", [
    ([], 24, 10, "at least one finite"),
    ([float("nan")], 24, 10, "at least one finite"),
    ([-1.0], 24, 10, "non-negative"),
    ([500.0], 0, 10, "positive number of hours"),
    ([500.0], 24, 0, "arrivals must be at least 1"),
    ([2 * HOUR_MS], 1, 10, "runs would overlap"),
])
def test_scheduled_latencies_refuse_impossible_inputs(job_ms, every_hours, arrivals, match):
    with pytest.raises(ConfigError, match=match):
        scheduled_batch_latencies(job_ms, every_hours=every_hours, arrivals=arrivals)


@pytest.mark.parametrize("ms, text", [
    (0.0, "0.0 ms"), (0.0123, "12 µs"), (0.5, "500 µs"), (6.94, "6.9 ms"), (999.0, "999.0 ms"),
    (1000.0, "1.0 s"), (2044.6, "2.0 s"), (90_000.0, "1.5 min"), (43_200_700.0, "12.0 h"),
])
def test_human_duration_picks_the_unit_a_person_would_say(ms, text):
    assert human_duration(ms) == text


def test_latency_table_shows_percentiles_in_readable_units():
    table = plots.latency_table({"REST": [6.0, 7.0, 8.0], "batch": [43_200_000.0, 43_300_000.0]})
    assert list(table.index) == ["REST", "batch"]
    assert list(table.columns) == ["n", "p50", "p95", "p99"]
    assert table.loc["REST", "p50"] == "7.0 ms" and table.loc["batch", "n"] == 2
    assert table.loc["batch", "p50"].endswith(" h")


def test_paradigm_plot_ticks_span_milliseconds_to_a_day():
    data = {"batch": scheduled_batch_latencies([500.0], every_hours=24),
            "streaming": [2000.0, 3000.0], "REST": [6.0, 7.0, 9.0]}
    ax = plots.plot_paradigm_latency(data).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1 ms", "10 ms", "1 s", "1 min", "1 h", "1 day"]
    assert "arrival to its prediction" in ax.get_xlabel()
    assert [t.get_text() for t in ax.texts] == ["p50 12.0 h", "p50 2.5 s", "p50 7.0 ms"]


def test_paradigm_plot_fills_in_decades_when_the_range_is_narrow():
    ax = plots.plot_paradigm_latency({"REST": [3.0, 4.0, 40.0]}).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 ms", "10 ms", "100 ms"]

"""Monitoring plots hold the numbers they claim; reports render as small tables."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from IPython.lib.pretty import pretty  # noqa: E402

from mlops_kit.datasets import change_units, ice_cream_sales  # noqa: E402
from mlops_kit.exceptions import ConfigError  # noqa: E402
from mlops_kit.monitoring import Monitor, performance_drift  # noqa: E402
from mlops_kit.monitoring.plots import plot_model_errors  # noqa: E402

FEATURES = dict(numeric=["temperature", "humidity"], categorical=["flavour"])


@pytest.fixture(scope="module")
def weekly():
    reference = ice_cream_sales(1500, seed=1)
    later = ice_cream_sales(1500, seed=2, start="2024-07-01", days=28)
    late = later["date"] >= "2024-07-15"
    later.loc[late] = change_units(later.loc[late], "temperature", "C->F")
    return Monitor(reference, **FEATURES).run_windows(later, time_col="date", freq="W")


def test_drift_per_window_plot_draws_each_features_distance_and_the_threshold(weekly):
    fig = weekly.plot("js")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "js distance" and ax.get_xlabel() == "window"
    js = weekly.results.query("test == 'js'")
    windows = list(dict.fromkeys(weekly.results["window"]))
    lines = {line.get_label(): line for line in ax.lines}
    temperature = js[js.feature == "temperature"].set_index("window").reindex(windows)["distance"]
    assert len(lines["temperature"].get_ydata()) == len(windows)
    assert list(lines["temperature"].get_ydata()) == pytest.approx(temperature.tolist())
    threshold = [v for k, v in lines.items() if k.startswith("threshold")][0]
    assert threshold.get_ydata()[0] == pytest.approx(js["threshold"].iloc[0])
    circled = sum(len(c.get_offsets()) for c in ax.collections)
    assert circled == int(js["drifted"].sum()) > 0          # only the late temperature weeks


def test_p_value_tests_are_drawn_on_a_log_scale(weekly):
    ax = weekly.plot("ks").axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "ks p-value"
    with pytest.raises(ConfigError, match="No 'nope' results"):
        weekly.plot("nope")


def test_model_error_bars_carry_the_values():
    table = pd.DataFrame({"normal": [30.0, 31.0], "drifted": [80.0, 33.0]},
                         index=["previous champion v1", "new champion v2"])
    fig = plot_model_errors(table)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [30.0, 31.0, 80.0, 33.0]
    assert ax.get_ylabel() == "RMSE"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(table.index)
    assert plot_model_errors({"a": {"x": 1.0}}).axes[0].patches[0].get_height() == 1.0


def test_reports_render_as_tables(weekly):
    report = weekly.reports[-1]
    markup = report._repr_html_()
    assert "drift in" in markup and "temperature" in markup and report.run_id in markup
    assert "DriftReport(" in pretty(report)
    same = ice_cream_sales(500, seed=3)
    quiet = Monitor(same, **FEATURES).run(same)
    assert "no drift" in quiet._repr_html_() and "<table" not in quiet._repr_html_()
    assert "Drift per window" in weekly._repr_html_() and "%" in weekly._repr_html_()
    assert "drifted_windows" in repr(weekly)
    perf = performance_drift(10.0, np.array([0.0, 0.0]), np.array([15.0, 15.0]))
    assert "15" in perf._repr_html_() and "+50.0%" in perf._repr_html_()
    assert "degraded by 50.0%" in pretty(perf)

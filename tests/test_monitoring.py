"""The Monitor finds injected drift, stays quiet on unchanged data, and reports it."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest

from mlops_kit.datasets import change_category_mix, change_units, ice_cream_sales, inject_nulls, shift_feature
from mlops_kit.exceptions import ConfigError, DataError, EnvironmentProblem
from mlops_kit.monitoring import Monitor, performance_drift

FEATURES = dict(numeric=["temperature", "humidity", "price_per_cone"], categorical=["flavour", "store"])


@pytest.fixture(scope="module")
def windows():
    """Two random halves of one month: same distribution, different rows.

    A split in which no test fires by chance (each p-value family does in about
    alpha of the splits; the seed 1 split has a Mann-Whitney p of 0.007 on price).
    """
    sales = ice_cream_sales(6000, seed=2).sample(frac=1.0, random_state=0)
    return sales.iloc[:3000].reset_index(drop=True), sales.iloc[3000:].reset_index(drop=True)


def _drifted(report, feature):
    rows = report.results[report.results["feature"] == feature]
    return set(rows.loc[rows["drifted"], "test"])


@pytest.mark.parametrize(
    "inject, feature, must_flag",
    [
        (lambda df: change_units(df, "temperature", "C->F"), "temperature", {"ks", "js", "psi", "wasserstein"}),
        (lambda df: change_category_mix(df, "flavour", {"Chocolate": 0.6, "Mint Chip": 0.4}, seed=3),
         "flavour", {"chi2", "js"}),
        (lambda df: inject_nulls(df, "humidity", 0.2, seed=4), "humidity", {"nulls"}),
        (lambda df: shift_feature(df, "humidity", 5.0), "humidity", {"ks", "mannwhitney", "wasserstein"}),
    ],
    ids=["units", "category-mix", "nulls", "shift"],
)
def test_injected_drift_is_found_on_that_feature_only(windows, inject, feature, must_flag):
    reference, current = windows
    report = Monitor(reference, **FEATURES).run(inject(current))
    assert must_flag <= _drifted(report, feature)
    assert report.drifted_features == [feature]


def test_no_false_alarms_beyond_alpha_on_same_distribution_samples():
    """Each p-value test family (Bonferroni over 5 features) alarms in <= alpha of trials.

    Distances never alarm at this size (Wasserstein's sampling noise is about
    2 / sqrt(n) reference stds, far below 0.1 at 5000 rows).
    """
    rng = np.random.default_rng(11)
    trials, alpha, alarms = 200, 0.05, {}
    ref_cats = np.array(list("abcd"))

    def frame():
        n = 5000
        return pd.DataFrame({
            "a": rng.normal(size=n), "b": rng.exponential(size=n), "c": rng.uniform(size=n),
            "d": rng.choice(ref_cats, n, p=[0.4, 0.3, 0.2, 0.1]), "e": rng.choice(ref_cats[:2], n),
        })

    for _ in range(trials):
        res = Monitor(frame(), alpha=alpha).run(frame()).results
        for test, hit in res.groupby("test")["drifted"].any().items():
            alarms[test] = alarms.get(test, 0) + int(hit)
    # expected <= 10 alarms per test; 20 is > 3 binomial sds above alpha * trials
    assert max(alarms.values()) <= 20, alarms
    assert alarms["js"] == alarms["psi"] == alarms["wasserstein"] == 0


def test_results_are_tidy_and_label_prediction_are_marked(windows):
    reference, current = windows
    reference = reference.assign(pred=reference["cones_sold"] * 1.0)
    current = current.assign(pred=current["cones_sold"] * 1.3)
    report = Monitor(reference, label="cones_sold", prediction="pred").run(current)
    assert list(report.results.columns) == ["feature", "kind", "test", "statistic", "p_value",
                                            "distance", "threshold", "drifted", "note"]
    assert (report.results["note"] == "").all()                  # every test decided at 3000 rows
    kinds = report.results.groupby("feature")["kind"].first()
    assert kinds["cones_sold"] == "label" and kinds["pred"] == "prediction" and kinds["flavour"] == "feature"
    assert "date" not in set(report.results["feature"])          # datetimes are skipped
    assert "pred" in report.drifted_features
    ks = report.results[report.results["test"] == "ks"]
    n_numeric = ks["feature"].nunique()
    assert np.allclose(ks["threshold"], 0.05 / n_numeric)       # Bonferroni


def test_summary_stats_show_percent_change(windows):
    reference, current = windows
    report = Monitor(reference, **FEATURES).run(shift_feature(current, "price_per_cone", factor=2.0))
    stats = report.summary_stats.set_index(["feature", "stat"])
    assert stats.loc[("price_per_cone", "mean"), "pct_change"] == pytest.approx(
        100 * (2 * current["price_per_cone"].mean() / reference["price_per_cone"].mean() - 1))
    assert stats.loc[("price_per_cone", "max"), "current"] == 2 * current["price_per_cone"].max()


def test_bad_configuration_is_reported_clearly(windows):
    reference, current = windows
    with pytest.raises(ConfigError, match="alpha"):
        Monitor(reference, alpha=2).run(current)
    with pytest.raises(ConfigError, match="Unknown drift test"):
        Monitor(reference, tests=["ks", "t-test"]).run(current)
    with pytest.raises(DataError, match="not in the reference"):
        Monitor(reference, numeric=["nope"]).run(current)
    with pytest.raises(DataError, match="lacks column"):
        Monitor(reference, **FEATURES).run(current.drop(columns="flavour"))


def test_run_windows_builds_a_heatmap(windows):
    reference, _ = windows
    current = ice_cream_sales(2000, seed=5, start="2024-07-01", days=21, drift="units")
    report = Monitor(reference, **FEATURES).run_windows(current, "date", "W")
    matrix = report.matrix()
    assert matrix.shape == (5, current["date"].dt.to_period("W").nunique())
    assert (matrix.loc["temperature"] > 0.5).all()
    fig = report.heatmap()
    assert fig.axes and fig.axes[0].get_title() == "Drift over time"


def test_distribution_plot_has_a_panel_per_feature(windows):
    reference, current = windows
    fig = Monitor(reference, **FEATURES).run(current).plot()
    assert sum(ax.get_visible() for ax in fig.axes) == 5


def test_report_appends_to_a_delta_table_and_logs_to_mlflow(workspace, windows):
    import mlflow
    from deltalake import DeltaTable

    reference, current = windows
    monitor = Monitor(reference, **FEATURES)
    first, second = monitor.run(current), monitor.run(change_units(current, "temperature", "C->F"))
    path = first.to_delta("drift_results")
    second.to_delta("drift_results")
    table = DeltaTable(path).to_pandas()
    assert len(table) == len(first.results) + len(second.results)
    assert set(table["run_id"]) == {first.run_id, second.run_id}
    workspace.set_experiment("monitoring")
    run_id = second.log_to_mlflow()
    run = mlflow.get_run(run_id)
    assert run.data.metrics["drift.temperature.ks.p_value"] < 1e-10
    assert run.data.metrics["drift.n_drifted_features"] == 1.0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "drift")}
    assert "drift/results.json" in artifacts


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alert", _Receiver.received
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_alert_fires_only_when_drift(windows, receiver):
    url, received = receiver
    reference, current = windows
    monitor = Monitor(reference, **FEATURES, tests=["js", "psi", "wasserstein", "chi2"], alert=url)
    quiet = monitor.run(current)
    assert not quiet.drifted and received == []
    loud = monitor.run(change_units(current, "temperature", "C->F"))
    assert len(received) == 1
    assert received[0]["run_id"] == loud.run_id
    assert received[0]["drifted_features"] == ["temperature"]


def test_callable_alert_and_unreachable_url(windows):
    reference, current = windows
    calls = []
    drifted = change_units(current, "temperature", "C->F")
    Monitor(reference, **FEATURES, alert=calls.append).run(drifted)
    assert calls and calls[0]["drifted"] is True
    with pytest.raises(EnvironmentProblem, match="Could not deliver"):
        Monitor(reference, **FEATURES, alert="http://127.0.0.1:9/none").run(drifted)


@pytest.mark.parametrize(
    "metric, reference, y, pred, drifted",
    [
        ("rmse", 1.0, [0.0, 0.0], [1.05, 1.05], False),
        ("rmse", 1.0, [0.0, 0.0], [1.2, 1.2], True),
        ("accuracy", 0.9, [1, 1, 1, 1], [1, 1, 1, 0], True),
        ("accuracy", 0.8, [1, 1, 1, 1, 1], [1, 1, 1, 1, 0], False),
    ],
)
def test_performance_drift_respects_metric_direction(metric, reference, y, pred, drifted):
    result = performance_drift(reference, y, pred, metric=metric, tolerance=0.1)
    assert result.drifted is drifted


def test_performance_drift_on_late_labels_of_the_concept_drift_scenario():
    """Same inputs, 30 % fewer cones sold: the trained model's RMSE degrades."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    cols = ["temperature", "humidity", "is_weekend", "promotion", "price_per_cone"]
    train, reference = ice_cream_sales(3000, seed=1), ice_cream_sales(2000, seed=2)
    current = ice_cream_sales(2000, seed=2, drift="label")
    model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(train[cols], train["cones_sold"])
    baseline = performance_drift(1.0, reference["cones_sold"], model.predict(reference[cols])).current
    result = performance_drift(baseline, current["cones_sold"], model.predict(current[cols]), metric="rmse")
    assert result.metric == "rmse" and result.drifted and result.degradation > 0.1

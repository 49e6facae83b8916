"""Rollout plots hold the numbers they claim; result objects render as small tables."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from IPython.lib.pretty import pretty  # noqa: E402

from mlops_kit.exceptions import ConfigError, DataError  # noqa: E402
from mlops_kit.rollout import GroupSequentialDesign, simulate_ab, two_proportion_ztest  # noqa: E402
from mlops_kit.rollout.plots import (  # noqa: E402
    canary_frame, interim_z, plot_ab, plot_canary, plot_sequential, plot_traffic_shares,
    traffic_shares,
)
from mlops_kit.rollout.policies import CanaryPolicy, Decision  # noqa: E402


def _rolled_back():
    return [
        Decision("step", 25, "within budget at 5%", {"weight": 5, "requests": 12, "error_rate": 0.0, "p99_ms": 8.0}),
        Decision("rollback", 0, "error rate 0.300 > budget 0.01",
                 {"weight": 25, "requests": 20, "error_rate": 0.3, "p99_ms": 9.5}),
    ]


def test_canary_plot_shows_share_errors_and_p99_per_look_with_the_rollback():
    policy = CanaryPolicy(steps=(5, 25, 100), max_error_rate=0.01, max_p99_ms=1000)
    fig = plot_canary(_rolled_back(), policy)
    share, errors, p99 = fig.axes
    assert [a.get_ylabel() for a in fig.axes] == ["challenger traffic (%)", "error rate", "p99 latency (ms)"]
    assert list(share.lines[0].get_ydata()) == [5, 25]
    assert list(errors.lines[0].get_ydata()) == [0.0, 0.3]
    assert list(p99.lines[0].get_ydata()) == [8.0, 9.5]
    assert errors.lines[1].get_ydata()[0] == 0.01            # the budget line
    rollback = [c for c in errors.collections if c.get_label() == "rollback"][0]
    assert rollback.get_offsets().tolist() == [[2.0, 0.3]]
    assert "rollback at look 2" in fig._suptitle.get_text()


def test_canary_frame_needs_decisions():
    with pytest.raises(DataError, match="at least one decision"):
        canary_frame([])


def test_ab_plot_draws_each_estimate_inside_its_interval():
    small, big = two_proportion_ztest(40, 200, 52, 200), two_proportion_ztest(1000, 5000, 1300, 5000)
    fig = plot_ab({"400 users": small, "10,000 users": big}, truth=0.06)
    ax = fig.axes[0]
    labels = {float(t): lab.get_text() for t, lab in zip(ax.get_yticks(), ax.get_yticklabels())}
    assert labels == {1.0: "400 users", 0.0: "10,000 users"}  # first result on top
    points = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "o"]
    assert points == pytest.approx([small.lift_abs, big.lift_abs])
    segments = [c for c in ax.collections if c.get_segments()]
    x_spans = sorted(tuple(sorted(seg[:, 0])) for c in segments for seg in c.get_segments())
    expected = sorted([(small.ci_low, small.ci_high), (big.ci_low, big.ci_high)])
    assert np.allclose(np.array(x_spans), np.array(expected))
    assert "interval" in ax.get_xlabel()


def test_interim_z_ends_at_the_full_sample_z_and_plot_marks_the_stop():
    frame = simulate_ab(n_per_arm=4000, baseline_rate=0.1, lift=0.3, seed=1)
    z = interim_z(frame, 5)
    full = two_proportion_ztest(int(frame[frame.variant == "control"].converted.sum()), 4000,
                                int(frame[frame.variant == "treatment"].converted.sum()), 4000)
    assert len(z) == 5 and z[-1] == pytest.approx(full.statistic)
    design = GroupSequentialDesign(looks=5)
    fig = plot_sequential(design, z)
    ax = fig.axes[0]
    observed = [line for line in ax.lines if line.get_label() == "observed z"][0]
    assert list(observed.get_ydata()) == pytest.approx(z)
    boundary = [line for line in ax.lines if line.get_label() == "stop boundary"][0]
    assert list(boundary.get_ydata()) == pytest.approx(design.boundaries)
    stop = design.first_crossing(z)
    assert stop is not None and f"look {stop}" in ax.get_title()
    with pytest.raises(ConfigError, match="6 z values"):
        plot_sequential(design, z + [1.0])


def test_traffic_shares_per_strategy():
    shares = traffic_shares()
    assert list(shares.columns) == ["shadow", "canary", "blue-green", "rolling", "A/B"]
    assert shares["shadow"].max() == 0 and shares["A/B"].max() == 50
    assert shares["blue-green"].iloc[-1] == 100 and sorted(shares["canary"].unique()) == [0, 5, 25, 100]
    assert sorted(shares["rolling"].unique()) == [0, 25, 50, 75, 100]
    fig = plot_traffic_shares(shares)
    assert [a.get_title() for a in fig.axes] == list(shares.columns)
    assert list(fig.axes[1].lines[0].get_ydata()) == list(shares["canary"])


def test_results_render_as_tables_not_dataclass_reprs():
    r = two_proportion_ztest(100, 1000, 130, 1000)
    markup = r._repr_html_()
    for number in ("0.1", "0.13", "+30.0%", "0.03549", "treatment is better"):
        assert number in markup
    assert "lift (relative)" in pretty(r) and "ABResult(" not in pretty(r)
    d = _rolled_back()[1]
    assert "rollback" in d._repr_html_() and "0.3" in d._repr_html_() and "#c5221f" in d._repr_html_()
    assert "Canary decision: rollback" in pretty(d)
    design = GroupSequentialDesign(5)
    assert f"{design.boundaries[0]:.4f}" in design._repr_html_()
    assert np.isfinite(r.statistic)


def test_verdict_of_an_inconclusive_test():
    r = two_proportion_ztest(100, 1000, 104, 1000)
    assert r.verdict.startswith("no significant difference")


def _rolling_steps():
    import pandas as pd

    return pd.DataFrame({
        "replaced": [None, 0, 1, 2],
        "versions": [["1", "1", "1"], ["2", "1", "1"], ["2", "2", "1"], ["2", "2", "2"]],
        "on_new": [0, 1, 2, 3], "seconds": [0.0, 4.1, 3.9, 4.0],
        "requests": [20, 160, 150, 155], "errors": [0, 0, 2, 0],
    }, index=pd.Index([0, 1, 2, 3], name="step"))


def test_rolling_update_plot_shows_instances_per_version_and_requests_per_step():
    from mlops_kit.rollout.plots import plot_rolling_update

    fig = plot_rolling_update(_rolling_steps())
    fleet, traffic = fig.axes
    assert [a.get_ylabel() for a in fig.axes] == ["instances", "requests during the step"]
    assert {a.get_xlabel() for a in fig.axes} == {"step (instances replaced)"}
    old, new = fleet.containers
    assert (old.get_label(), new.get_label()) == ("old version", "new version")
    assert [b.get_height() for b in old] == [3, 2, 1, 0]
    assert [b.get_height() for b in new] == [0, 1, 2, 3]
    assert [b.get_y() for b in new] == [3, 2, 1, 0]              # stacked on the old ones
    answered, failed = traffic.containers
    assert [b.get_height() for b in answered] == [20, 160, 148, 155]
    assert [b.get_height() for b in failed] == [0, 0, 2, 0]
    assert "3 instances: 2 of 485 requests failed" in fig._suptitle.get_text()


def test_rolling_update_plot_names_missing_columns():
    from mlops_kit.rollout.plots import plot_rolling_update

    with pytest.raises(DataError, match=r"Missing: \['errors', 'requests'\]"):
        plot_rolling_update(_rolling_steps().drop(columns=["requests", "errors"]))

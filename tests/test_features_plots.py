"""The point-in-time timeline shows the data it claims (no Spark needed)."""
from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.features.plots import plot_point_in_time

matplotlib.use("Agg")


def _frames():
    events = pd.DataFrame({
        "listing_id": [1, 1, 1, 1, 2],
        "event_time": pd.to_datetime(["2024-03-01 10:00", "2024-03-02 09:00", "2024-03-03 20:00",
                                      "2024-03-04 08:00", "2024-03-02 12:00"]),
        "rating": [5, 3, 1, 4, 2],
    })
    features = pd.DataFrame({
        "listing_id": [1, 1, 1, 1, 2],
        "known_at": pd.to_datetime(["2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05", "2024-03-03"]),
        "avg_rating_7d": [5.0, 4.0, 3.0, 3.25, 2.0],
    })
    return events, features


def test_point_in_time_plot_holds_reviews_steps_and_the_picked_value() -> None:
    events, features = _frames()
    fig = plot_point_in_time(events, features, listing_id=1, label_time="2024-03-03 15:00", days=5)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time", "stars")
    known, later = ax.collections[:2]
    assert len(known.get_offsets()) == 2 and len(later.get_offsets()) == 2   # listing 2 left out
    step, label_line, picked = ax.lines
    assert list(step.get_ydata()) == [5.0, 4.0, 3.0, 3.25]
    assert list(picked.get_ydata()) == [4.0], "the last value known at 15:00 on March 3"
    assert "2024-03-03 15:00" in ax.get_title()


def test_point_in_time_plot_with_nothing_known_has_no_picked_value() -> None:
    events, features = _frames()
    fig = plot_point_in_time(events, features, listing_id=1, label_time="2024-03-01 12:00", days=2)
    assert len(fig.axes[0].lines) == 2          # steps and the label line only
    assert len(fig.axes[0].collections[0].get_offsets()) == 1


def test_point_in_time_plot_names_missing_columns() -> None:
    events, features = _frames()
    with pytest.raises(ConfigError, match="features lacks \\['known_at'\\]"):
        plot_point_in_time(events, features.drop(columns="known_at"), listing_id=1, label_time="2024-03-03")

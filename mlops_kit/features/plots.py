"""The point-in-time rule on a timeline: which feature value a label row gets.

:func:`plot_point_in_time` draws, for one listing, its review events (stars
over time), the feature's value as a step line that changes when each value
becomes known (the table's timeseries column), the label's time, and the value
the lookup picks: the last step at or before the label. Reviews after the label
are drawn hollow: the training row must not depend on them.
"""
from __future__ import annotations

import pandas as pd

from mlops_kit.exceptions import ConfigError

__all__ = ["plot_point_in_time"]


def plot_point_in_time(events: pd.DataFrame, features: pd.DataFrame, *, listing_id: int,
                       label_time, feature: str = "avg_rating_7d", stamp: str = "known_at",
                       days: int = 14):
    """One listing's reviews, its feature over time, and the value a label at ``label_time`` gets.

    Parameters
    ----------
    events : pandas.DataFrame
        Review events (``listing_id``, ``event_time``, ``rating``).
    features : pandas.DataFrame
        Feature rows (``listing_id``, ``stamp``, ``feature``), e.g.
        ``rating_features(...).toPandas()``.
    listing_id : int
        The listing to draw.
    label_time : timestamp
        When the label was observed.
    feature, stamp : str
        The feature column and the timeseries column.
    days : int
        Days shown before and after the label.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes: a scatter of the reviews known at the label, one of the later
        reviews, the feature's step line, the picked value, the label's time.
    """
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    for name, frame, needed in (("events", events, {"listing_id", "event_time", "rating"}),
                                ("features", features, {"listing_id", stamp, feature})):
        if not needed <= set(frame.columns):
            raise ConfigError(f"plot_point_in_time: {name} lacks {sorted(needed - set(frame.columns))}.")
    t = pd.Timestamp(label_time)
    lo, hi = t - pd.Timedelta(days=days), t + pd.Timedelta(days=days)
    mine = events[(events["listing_id"] == listing_id) & events["event_time"].between(lo, hi)]
    steps = features[features["listing_id"] == listing_id].sort_values(stamp)
    steps = steps[pd.to_datetime(steps[stamp]) <= hi]
    known = steps[pd.to_datetime(steps[stamp]) <= t]
    before, after = mine[mine["event_time"] <= t], mine[mine["event_time"] > t]

    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=90)
    ax.scatter(before["event_time"], before["rating"], s=22, color="tab:blue", label="reviews known at the label")
    ax.scatter(after["event_time"], after["rating"], s=22, facecolors="none", edgecolors="tab:red",
               label="reviews after the label")
    ax.step(pd.to_datetime(steps[stamp]), steps[feature], where="post", color="tab:orange",
            label=f"{feature} (changes at {stamp})")
    ax.axvline(t, color="black", ls="--", lw=1, label="label time")
    if len(known):
        ax.plot([t], [known[feature].iloc[-1]], marker="*", ms=13, color="tab:orange",
                markeredgecolor="black", ls="none", label="value the label gets")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0.5, 5.5)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    ax.set_xlabel("time")
    ax.set_ylabel("stars")
    ax.set_title(f"Listing {listing_id}: a label at {t:%Y-%m-%d %H:%M}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left", ncols=2, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    plt.close(fig)
    return fig

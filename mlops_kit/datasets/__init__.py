"""The course's data: seeded generators, drift injectors, and ``install()``.

Every generator takes a ``seed`` (numpy ``Generator``) and returns a pandas
frame: the same seed gives an identical frame, on any machine, so notebooks,
labs and their checkers agree on the numbers.

- :func:`listings` / :func:`review_events`: San Francisco Airbnb-style
  listings for price regression, and timestamped reviews for time-based
  features and streaming.
- :func:`ice_cream_sales` / :func:`ice_cream_windows`: the monitoring lab's
  sales, with a clean reference window and a drifted current one.
- :mod:`~mlops_kit.datasets.drift`: pure functions that plant one kind of
  drift in one column.
- :func:`install`: writes all of them as Delta tables in the workspace.
"""
from mlops_kit.datasets.drift import (
    UNIT_CONVERSIONS,
    change_category_mix,
    change_units,
    inject_nulls,
    shift_feature,
    shift_label,
)
from mlops_kit.datasets.ice_cream import (
    DRIFT_SCENARIOS,
    FLAVOURS,
    ice_cream_sales,
    ice_cream_windows,
)
from mlops_kit.datasets.install import DEFAULT_SIZES, TABLES, install
from mlops_kit.datasets.listings import NEIGHBOURHOODS, ROOM_TYPES, listings, review_events

__all__ = [
    "DEFAULT_SIZES",
    "DRIFT_SCENARIOS",
    "FLAVOURS",
    "NEIGHBOURHOODS",
    "ROOM_TYPES",
    "TABLES",
    "UNIT_CONVERSIONS",
    "change_category_mix",
    "change_units",
    "ice_cream_sales",
    "ice_cream_windows",
    "inject_nulls",
    "install",
    "listings",
    "review_events",
    "shift_feature",
    "shift_label",
]

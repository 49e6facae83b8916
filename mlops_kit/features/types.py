"""The feature store's shared types: lookups, training sets, and what reads features.

:class:`FeatureLookup` (which features of which table to attach) and
:class:`TrainingSet` (label rows plus their point-in-time features) are what
the client (:mod:`.client`), the joins (:mod:`.lookup`) and model packaging
(:mod:`.packaging`) pass between them. :class:`FeatureSource` is the part of
:class:`~mlops_kit.features.FeatureStoreClient` the joins and packaging use,
so neither imports the client.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from mlops_kit.exceptions import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from mlops_kit.features.metadata import FeatureTable

__all__ = ["FeatureLookup", "TrainingSet", "FeatureSource", "as_list"]


class FeatureSource(Protocol):
    """What reads feature tables: the joins and model packaging need only this."""

    @property
    def spark(self) -> "SparkSession": ...

    def get_table(self, name: str) -> "FeatureTable":
        """The table's metadata (keys, features, version); NotFoundError if unknown."""

    def read_table(self, name: str, as_of_version: int | None = None) -> "DataFrame":
        """The table's rows, at a Delta version when given."""

    def record_lineage(self, name: str, entry: dict[str, Any]) -> Any:
        """Note on the table that a model was trained on it."""


def as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass
class FeatureLookup:
    """Which features to look up from one feature table, and how.

    Parameters
    ----------
    table_name : str
        The feature table.
    lookup_key : str or list of str
        Columns of the DataFrame being enriched that hold the table's primary
        keys, in the order of the table's ``primary_keys``.
    feature_names : str or list of str, optional
        Features to attach; all of the table's features by default.
    rename_outputs : dict, optional
        ``{feature name: output column name}``.
    timestamp_lookup_key : str, optional
        Column with the time of each row; makes the lookup point-in-time
        (time-series tables only). Without it a time-series table contributes
        its latest row per key.
    lookback_window : datetime.timedelta, optional
        Ignore feature rows older than ``timestamp - lookback_window``.
    default_values : dict, optional
        ``{feature name or output name: value}`` used when no feature row
        matches or the feature value is null.

    Examples
    --------
    >>> FeatureLookup("review_features", "listing_id",
    ...               feature_names=["avg_rating_7d"],
    ...               timestamp_lookup_key="event_time").output_names(["avg_rating_7d"])
    ['avg_rating_7d']
    """

    table_name: str
    lookup_key: str | list[str]
    feature_names: str | list[str] | None = None
    rename_outputs: dict[str, str] | None = None
    timestamp_lookup_key: str | None = None
    lookback_window: timedelta | None = None
    default_values: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.lookback_window is not None:
            if not isinstance(self.lookback_window, timedelta) or self.lookback_window < timedelta(0):
                raise ConfigError(
                    "lookback_window must be a non-negative datetime.timedelta. "
                    f"Got {self.lookback_window!r} instead."
                )
            if self.timestamp_lookup_key is None:
                raise ConfigError(
                    "lookback_window needs timestamp_lookup_key: the window is counted "
                    "back from each row's timestamp."
                )

    @property
    def lookup_keys(self) -> list[str]:
        return as_list(self.lookup_key)

    def features_of(self, table_features: Sequence[str]) -> list[str]:
        """The requested features, checked against what the table has."""
        wanted = as_list(self.feature_names) or list(table_features)
        unknown = [f for f in wanted if f not in table_features]
        if unknown:
            raise DataError(
                f"The feature table {self.table_name!r} has no feature(s) {unknown}. "
                f"Its features are {list(table_features)}."
            )
        return wanted

    def output_names(self, features: Sequence[str]) -> list[str]:
        renames = self.rename_outputs or {}
        return [renames.get(f, f) for f in features]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form stored in a model's feature spec."""
        return {
            "table_name": self.table_name,
            "lookup_key": self.lookup_keys,
            "feature_names": as_list(self.feature_names) or None,
            "rename_outputs": self.rename_outputs,
            "timestamp_lookup_key": self.timestamp_lookup_key,
            "lookback_window_seconds": (
                None if self.lookback_window is None else self.lookback_window.total_seconds()
            ),
            "default_values": self.default_values,
        }

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> "FeatureLookup":
        seconds = spec.get("lookback_window_seconds")
        return cls(
            table_name=spec["table_name"],
            lookup_key=spec["lookup_key"],
            feature_names=spec.get("feature_names"),
            rename_outputs=spec.get("rename_outputs"),
            timestamp_lookup_key=spec.get("timestamp_lookup_key"),
            lookback_window=None if seconds is None else timedelta(seconds=seconds),
            default_values=spec.get("default_values"),
        )


@dataclass
class TrainingSet:
    """Label rows joined with their point-in-time features.

    Built by :meth:`FeatureStoreClient.create_training_set`; the feature
    tables are read at the Delta version they had then (``table_versions``),
    so :meth:`load_df` returns the same rows later, even after new writes
    (the client gives it the join to run, ``_load``).
    """

    df: "DataFrame"
    feature_lookups: list[FeatureLookup]
    label: str | list[str] | None
    exclude_columns: list[str] = field(default_factory=list)
    table_versions: dict[str, int] = field(default_factory=dict)
    feature_columns: list[str] = field(default_factory=list)
    _load: "Callable[[], DataFrame] | None" = field(default=None, repr=False)

    def load_df(self) -> "DataFrame":
        """The training DataFrame: the input columns, the features, the label."""
        if self._load is None:
            raise DataError("This TrainingSet was not built by a feature store client, so it "
                            "cannot load its features: use FeatureStoreClient.create_training_set.")
        return self._load().drop(*self.exclude_columns)

    @property
    def labels(self) -> list[str]:
        return as_list(self.label)

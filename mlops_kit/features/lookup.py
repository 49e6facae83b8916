"""Feature lookups and point-in-time training sets.

A :class:`FeatureLookup` says which features of which table to attach to a
DataFrame of keys (and, for time-series tables, timestamps).
:func:`join_lookups` does the join in Spark; :class:`TrainingSet` is what
:meth:`FeatureStoreClient.create_training_set` returns.

Point in time
-------------
For a time-series feature table, a label row at time ``t`` gets the *latest*
feature row of its key with ``feature_ts <= t`` (a feature row stamped exactly
``t`` counts: it was known at ``t``), and, with a ``lookback_window``, only if
``feature_ts >= t - lookback_window`` (both ends inclusive; a window of 0
keeps exact matches only). Label rows with no such feature row are kept, with
nulls or the lookup's ``default_values``. Never a later row: that would leak
the future into training.

How (one shuffle per lookup, no row ids, no duplicated label rows): the label
rows and the feature rows are stacked into one frame, sorted by key, then
time, feature rows before label rows at equal times; a window function
carries the last feature row seen (packed in a struct, so a feature row whose
values are null still counts) forward onto each label row. Then only the
label rows are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit.exceptions import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from mlops_kit.features.client import FeatureStoreClient

__all__ = ["FeatureLookup", "TrainingSet", "join_lookups"]

_PREFIX = "__fs_"  # helper columns; removed before results are returned


def _as_list(value: str | Sequence[str] | None) -> list[str]:
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
        return _as_list(self.lookup_key)

    def features_of(self, table_features: Sequence[str]) -> list[str]:
        """The requested features, checked against what the table has."""
        wanted = _as_list(self.feature_names) or list(table_features)
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
            "feature_names": _as_list(self.feature_names) or None,
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
    so :meth:`load_df` returns the same rows later, even after new writes.
    """

    df: "DataFrame"
    feature_lookups: list[FeatureLookup]
    label: str | list[str] | None
    exclude_columns: list[str] = field(default_factory=list)
    table_versions: dict[str, int] = field(default_factory=dict)
    feature_columns: list[str] = field(default_factory=list)
    _client: "FeatureStoreClient | None" = field(default=None, repr=False)

    def load_df(self) -> "DataFrame":
        """The training DataFrame: the input columns, the features, the label."""
        joined = join_lookups(
            self._client, self.df, self.feature_lookups, table_versions=self.table_versions
        )
        return joined.drop(*self.exclude_columns)

    @property
    def labels(self) -> list[str]:
        return _as_list(self.label)


def _check_keys(lookup: FeatureLookup, table: Any, df: "DataFrame") -> None:
    keys = lookup.lookup_keys
    if len(keys) != len(table.primary_keys):
        raise DataError(
            f"The lookup on {table.name!r} gives {len(keys)} lookup key(s) {keys}, but the "
            f"table's primary key has {len(table.primary_keys)}: {table.primary_keys}. "
            "Pass one lookup column per primary key, in the same order."
        )
    needed = keys + ([lookup.timestamp_lookup_key] if lookup.timestamp_lookup_key else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"The lookup on {table.name!r} needs the column(s) {missing}, which the "
            f"DataFrame does not have. Its columns are {df.columns}."
        )
    if lookup.timestamp_lookup_key and not table.timeseries_column:
        raise DataError(
            f"The feature table {table.name!r} has no timeseries column, so a "
            f"timestamp_lookup_key ({lookup.timestamp_lookup_key!r}) cannot be used. "
            "Drop timestamp_lookup_key, or create the table with timeseries_column=..."
        )


def _aligned_key(feature_df: "DataFrame", column: str, target_type: Any, table: str) -> Any:
    """The feature table's key column, cast to the label column's type if both are numbers."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    source = feature_df.schema[column].dataType
    if source == target_type:
        return F.col(column)
    if isinstance(source, NumericType) and isinstance(target_type, NumericType):
        return F.col(column).cast(target_type)
    raise DataError(
        f"The key column {column!r} of {table!r} is {source.simpleString()}, but the lookup "
        f"column is {target_type.simpleString()}. Cast the lookup column to "
        f"{source.simpleString()} first."
    )


def _join_one(
    df: "DataFrame",
    feature_df: "DataFrame",
    lookup: FeatureLookup,
    table: Any,
    features: list[str],
    outputs: list[str],
) -> "DataFrame":
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = lookup.lookup_keys
    key_exprs = [
        _aligned_key(feature_df, pk, df.schema[k].dataType, table.name).alias(k)
        for pk, k in zip(table.primary_keys, keys)
    ]
    packed = F.struct(*[F.col(f).alias(o) for f, o in zip(features, outputs)])
    ts_col = table.timeseries_column

    if ts_col and lookup.timestamp_lookup_key:
        ts_key = lookup.timestamp_lookup_key
        ts, flag, found = f"{_PREFIX}ts", f"{_PREFIX}is_label", f"{_PREFIX}found"
        left = df.withColumn(ts, F.unix_micros(F.col(ts_key).cast("timestamp"))).withColumn(
            flag, F.lit(1)
        )
        right = feature_df.select(
            *key_exprs,
            F.unix_micros(F.col(ts_col).cast("timestamp")).alias(ts),
            F.lit(0).alias(flag),
            F.struct(F.unix_micros(F.col(ts_col).cast("timestamp")).alias("t"), packed.alias("v")).alias(found),
        )
        window = (
            Window.partitionBy(*keys)
            .orderBy(F.col(ts).asc_nulls_first(), F.col(flag))
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        stacked = left.unionByName(right, allowMissingColumns=True)
        carried = stacked.withColumn(found, F.last(F.col(found), ignorenulls=True).over(window))
        carried = carried.filter(F.col(flag) == 1)
        ok = F.col(ts).isNotNull() & F.col(f"{found}.t").isNotNull()
        for k in keys:
            ok = ok & F.col(k).isNotNull()
        if lookup.lookback_window is not None:
            micros = int(lookup.lookback_window / timedelta(microseconds=1))
            ok = ok & (F.col(f"{found}.t") >= F.col(ts) - F.lit(micros))
        result = carried.select(
            *df.columns,
            *[F.when(ok, F.col(f"{found}.v.{o}")).alias(o) for o in outputs],
        )
    else:
        right = feature_df
        if ts_col:  # no timestamps to look up: the latest row per key
            latest = Window.partitionBy(*table.primary_keys).orderBy(F.col(ts_col).desc())
            rank = f"{_PREFIX}rank"
            right = right.withColumn(rank, F.row_number().over(latest)).filter(F.col(rank) == 1)
        right = right.select(*key_exprs, *[F.col(f).alias(o) for f, o in zip(features, outputs)])
        result = df.join(right, on=keys, how="left").select(*df.columns, *outputs)

    defaults = lookup.default_values or {}
    if defaults:
        unknown = [n for n in defaults if n not in features and n not in outputs]
        if unknown:
            raise DataError(
                f"default_values of the lookup on {table.name!r} name unknown feature(s) "
                f"{unknown}; the lookup returns {outputs}."
            )
        for feature, output in zip(features, outputs):
            if feature in defaults or output in defaults:
                value = defaults.get(output, defaults.get(feature))
                result = result.withColumn(output, F.coalesce(F.col(output), F.lit(value)))
    return result


def join_lookups(
    client: "FeatureStoreClient",
    df: "DataFrame",
    feature_lookups: Sequence[FeatureLookup],
    *,
    table_versions: dict[str, int] | None = None,
    skip_present: bool = False,
) -> "DataFrame":
    """Attach the features of every lookup to ``df`` (keeping all of its rows).

    Parameters
    ----------
    table_versions : dict, optional
        ``{table name: Delta version}`` to read; the latest otherwise.
    skip_present : bool
        When True (scoring), features whose output column is already in
        ``df`` are not looked up: the given values win. When False
        (training), such a collision is an error.
    """
    versions = table_versions or {}
    taken = set(df.columns)
    result = df
    for lookup in feature_lookups:
        table = client.get_table(lookup.table_name)
        _check_keys(lookup, table, result)
        features = lookup.features_of(table.features)
        outputs = lookup.output_names(features)
        pairs = list(zip(features, outputs))
        if skip_present:
            pairs = [(f, o) for f, o in pairs if o not in df.columns]
        clashes = [o for _, o in pairs if o in taken]
        if len({o for _, o in pairs}) != len(pairs):
            clashes += [o for _, o in pairs if [p for _, p in pairs].count(o) > 1]
        if clashes:
            raise DataError(
                f"The lookup on {table.name!r} would create column(s) {sorted(set(clashes))}, "
                "which already exist (in the DataFrame or from an earlier lookup). Give "
                "them other names with rename_outputs={feature: new_name}, or drop the "
                "column from the DataFrame."
            )
        if not pairs:
            continue
        taken.update(o for _, o in pairs)
        feature_df = client.read_table(table.name, as_of_version=versions.get(table.name))
        result = _join_one(
            result, feature_df, lookup, table, [f for f, _ in pairs], [o for _, o in pairs]
        )
    return result

"""Feature lookups and point-in-time training sets.

A :class:`~mlops_kit.features.types.FeatureLookup` says which features of
which table to attach to a DataFrame of keys (and, for time-series tables,
timestamps). :func:`join_lookups` does the join in Spark, for the training
sets of :meth:`FeatureStoreClient.create_training_set` and for scoring.

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

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit.exceptions import DataError
from mlops_kit.features.types import FeatureLookup, FeatureSource, TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["FeatureLookup", "TrainingSet", "join_lookups"]

_PREFIX = "__fs_"  # helper columns; removed before results are returned


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
    client: FeatureSource,
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

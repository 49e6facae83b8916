"""Point-in-time lookups against a brute-force pandas oracle, and lookup errors."""
from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from mlops_kit.exceptions import ConfigError, DataError
from mlops_kit.features import FeatureLookup, FeatureStoreClient

pytestmark = [pytest.mark.spark, pytest.mark.both_engines]

T0 = dt.datetime(2024, 1, 1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def fs(workspace, spark):
    client = FeatureStoreClient(workspace, spark=spark)
    yield client
    client.close()


def random_world(seed: int, keys: int = 12, days: int = 8):
    """Feature rows on whole days (so label times tie with them and sit exactly on
    lookback edges), some null values, keys without any feature row."""
    rng = random.Random(seed)
    feats = []
    for k in range(keys - 3):  # the last 3 keys never have a feature row
        for d in rng.sample(range(days), rng.randint(0, 4)):
            value = None if rng.random() < 0.15 else round(rng.uniform(0, 100), 2)
            feats.append((k, T0 + d * DAY, value, rng.randint(0, 5)))
    labels = [
        (i, rng.randrange(keys), rng.choice([k % 3 for k in range(3)]),
         T0 + rng.randrange(-1, days + 2) * DAY + rng.choice([dt.timedelta(0), dt.timedelta(hours=5)]),
         rng.random())
        for i in range(60)
    ]
    static = [(c, f"city{c}") for c in range(2)]  # group 2 has no static row
    return feats, labels, static


def oracle(feats, labels, lookback=None, default=None, rename="v"):
    """For each label row: latest feature row with ts <= t (and >= t - lookback)."""
    out = {}
    for i, key, _group, t, _y in labels:
        rows = [f for f in feats if f[0] == key and f[1] <= t and (lookback is None or f[1] >= t - lookback)]
        best = max(rows, key=lambda f: f[1]) if rows else None
        value = best[2] if best else None
        count = best[3] if best else None
        if value is None and default is not None:
            value = default
        out[i] = (value, count)
    return out


def load(fs, spark, feats, labels, static):
    fs.drop_table("pit", missing_ok=True)
    fs.drop_table("groups", missing_ok=True)
    fs.create_table("pit", "key", df=spark.createDataFrame(feats, "key long, ts timestamp, v double, n long"),
                    timeseries_column="ts")
    fs.create_table("groups", "group_id", df=spark.createDataFrame(static, "group_id long, city string"))
    return spark.createDataFrame(labels, "row_id long, key long, group_id long, t timestamp, y double")


def by_row(df) -> dict:
    return {r["row_id"]: r.asDict() for r in df.collect()}


def same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_in_time_matches_the_oracle(fs, spark, seed):
    """Ties, keys with no prior row, lookback edges, two lookups, renames and defaults."""
    feats, labels, static = random_world(seed)
    labels_df = load(fs, spark, feats, labels, static)
    lookback = 2 * DAY
    training = fs.create_training_set(labels_df, [
        FeatureLookup("pit", "key", feature_names=["v", "n"], timestamp_lookup_key="t",
                      rename_outputs={"v": "v_all"}),
        FeatureLookup("pit", "key", feature_names="v", timestamp_lookup_key="t",
                      lookback_window=lookback, rename_outputs={"v": "v_2d"},
                      default_values={"v": -1.0}),
        FeatureLookup("groups", "group_id"),
    ], label="y")
    got = by_row(training.load_df())
    assert len(got) == len(labels)  # every label row kept, none duplicated
    plain, windowed = oracle(feats, labels), oracle(feats, labels, lookback, default=-1.0)
    for i, key, group, t, y in labels:
        row = got[i]
        assert same(row["v_all"], plain[i][0]) and same(row["n"], plain[i][1]), (i, key, t, row)
        assert same(row["v_2d"], windowed[i][0]), (i, key, t, row)
        assert same(row["city"], f"city{group}" if group < 2 else None)
    assert training.feature_columns == ["v_all", "n", "v_2d", "city"]


def test_exact_boundary_and_zero_window(fs, spark):
    feats = [(1, T0, 1.0, 0), (1, T0 + 2 * DAY, 2.0, 0)]
    labels = [(0, 1, 0, T0 + 2 * DAY, 0.0), (1, 1, 0, T0 + DAY, 0.0), (2, 1, 0, T0 - DAY, 0.0)]
    labels_df = load(fs, spark, feats, labels, [])

    def lookup(window):
        return FeatureLookup("pit", "key", feature_names="v", timestamp_lookup_key="t", lookback_window=window)

    exact = by_row(fs.create_training_set(labels_df, [lookup(dt.timedelta(0))], "y").load_df())
    assert [exact[i]["v"] for i in range(3)] == [2.0, None, None]
    edge = by_row(fs.create_training_set(labels_df, [lookup(DAY)], "y").load_df())
    assert [edge[i]["v"] for i in range(3)] == [2.0, 1.0, None]  # T0 is exactly 1 day before T0+1d


def test_timeseries_table_without_timestamp_gives_the_latest_row(fs, spark):
    labels_df = load(fs, spark, [(1, T0, 1.0, 0), (1, T0 + DAY, 2.0, 0)], [(0, 1, 0, T0, 0.0)], [])
    got = fs.create_training_set(labels_df, [FeatureLookup("pit", "key", feature_names="v")], "y").load_df()
    assert got.first()["v"] == 2.0


def test_training_set_is_pinned_to_the_table_version(fs, spark):
    labels_df = load(fs, spark, [(1, T0, 1.0, 0)], [(0, 1, 0, T0, 0.0)], [])
    training = fs.create_training_set(
        labels_df, [FeatureLookup("pit", "key", feature_names="v", timestamp_lookup_key="t")], "y")
    fs.write_table("pit", spark.createDataFrame([(1, T0, 9.0, 0)], "key long, ts timestamp, v double, n long"))
    assert training.load_df().first()["v"] == 1.0
    assert training.table_versions == {"pit": 0}


def test_lookup_errors_are_clear(fs, spark):
    labels_df = load(fs, spark, [(1, T0, 1.0, 0)], [(0, 1, 0, T0, 0.0)], [])
    pit = dict(table_name="pit", lookup_key="key", timestamp_lookup_key="t")
    with pytest.raises(DataError, match=r"would create column\(s\) \['n', 'v'\]"):
        fs.create_training_set(labels_df, [FeatureLookup(**pit), FeatureLookup(**pit)], "y")
    with pytest.raises(DataError, match="already exist"):
        fs.create_training_set(labels_df.withColumnRenamed("y", "n"), [FeatureLookup(**pit)], None)
    with pytest.raises(DataError, match=r"no feature\(s\) \['nope'\]"):
        fs.create_training_set(labels_df, [FeatureLookup(**pit, feature_names="nope")], "y")
    with pytest.raises(DataError, match="the DataFrame does not have"):
        fs.create_training_set(labels_df, [FeatureLookup("pit", "missing")], "y")
    with pytest.raises(DataError, match="no timeseries column"):
        fs.create_training_set(labels_df, [FeatureLookup("groups", "group_id", timestamp_lookup_key="t")], "y")
    with pytest.raises(DataError, match="label"):
        fs.create_training_set(labels_df, [FeatureLookup(**pit)], "price")
    with pytest.raises(DataError, match="lookup column is string"):
        fs.create_training_set(labels_df.withColumn("key", labels_df["key"].cast("string")),
                               [FeatureLookup(**pit)], "y")
    with pytest.raises(ConfigError, match="needs timestamp_lookup_key"):
        FeatureLookup("pit", "key", lookback_window=DAY)


def test_exclude_columns(fs, spark):
    labels_df = load(fs, spark, [(1, T0, 1.0, 0)], [(0, 1, 0, T0, 0.0)], [])
    training = fs.create_training_set(
        labels_df, [FeatureLookup("pit", "key", timestamp_lookup_key="t")], "y",
        exclude_columns=["row_id", "t"])
    assert training.load_df().columns == ["key", "group_id", "y", "v", "n"]

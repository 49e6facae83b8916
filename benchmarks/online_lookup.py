"""Online feature lookup latency: get_online_features vs a plain sqlite3 query.

Publishes a feature table of 10,000 keys x 20 features through the feature
store (Spark writes the Delta table and publishes it), then times single-key
lookups two ways on the same SQLite file in the same process:

- ``FeatureStoreClient.get_online_features(name, key)`` -> dict;
- a plain ``sqlite3`` primary-key ``SELECT`` -> tuple (the floor).

Prints p50/p99 of both and, last, the ratio of the p50s. Goals: p50 <= 0.5 ms
and within 1.5x of plain SQLite.

Runs on both engines (the default Spark Connect server, or ``MLOPS_KIT_SPARK=local``):
the feature table is written through DataFrame and SQL calls only.

Run: ``.venv/bin/python benchmarks/online_lookup.py [--keys N] [--lookups N]``
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops_kit.features import FeatureStoreClient  # noqa: E402
from mlops_kit.workspace import Workspace  # noqa: E402

FEATURES = 20


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1e6, ordered[int(len(ordered) * 0.99)] / 1e6


def time_calls(call, keys) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for key in keys:
        started = clock()
        call(key)
        samples.append(clock() - started)
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="online-bench-"))
    ws = Workspace.from_env(root=root, user="bench").activate()
    fs = FeatureStoreClient(ws)
    spark = fs.spark  # start the session before building column expressions
    from pyspark.sql import functions as F

    columns = [F.col("id").alias("listing_id")] + [
        (F.rand(seed=i) * 100).alias(f"f{i:02d}") for i in range(FEATURES)
    ]
    df = spark.range(args.keys).select(*columns)
    fs.create_table("bench", "listing_id", df=df)
    started = time.perf_counter()
    published = fs.publish_table("bench")
    print(f"published {published} keys x {FEATURES} features in {time.perf_counter() - started:.2f} s")

    rng = random.Random(0)
    keys = [rng.randrange(args.keys) for _ in range(args.lookups)]
    plain = sqlite3.connect(ws.online_store_path)
    sql = "SELECT * FROM bench WHERE listing_id = ?"
    assert fs.get_online_features("bench", keys[0])["listing_id"] == keys[0]
    assert plain.execute(sql, (keys[0],)).fetchone()[0] == keys[0]

    def kit(key):
        return fs.get_online_features("bench", key)

    def raw(key):
        return plain.execute(sql, (key,)).fetchone()

    for warm in (kit, raw):  # warm caches and the page cache
        time_calls(warm, keys[:2000])
    kit_samples, raw_samples = [], []
    for start in range(0, len(keys), 1000):  # interleave so both see the same machine load
        chunk = keys[start:start + 1000]
        kit_samples += time_calls(kit, chunk)
        raw_samples += time_calls(raw, chunk)
    kit_p50, kit_p99 = percentiles(kit_samples)
    raw_p50, raw_p99 = percentiles(raw_samples)
    print(f"plain sqlite3        p50 {raw_p50:.4f} ms  p99 {raw_p99:.4f} ms")
    print(f"get_online_features  p50 {kit_p50:.4f} ms  p99 {kit_p99:.4f} ms")
    print(f"ratio (p50 kit / p50 plain sqlite3): {kit_p50 / raw_p50:.2f}x")
    fs.close()
    plain.close()


if __name__ == "__main__":
    main()

"""Every column type the course uses survives pandas -> Spark -> pandas, on both engines.

The course moves tables between pandas and Spark in both directions (the Delta lab
repairs a table with ``spark.createDataFrame(table.toPandas())``; the feature store and
monitoring read Spark tables into pandas). With pandas 3, whose strings are backed by
chunked Arrow arrays, PySpark 4.0's ``createDataFrame`` failed on any string column
("Cannot convert pyarrow.lib.ChunkedArray to pyarrow.lib.Array"): pyproject.toml keeps
pandas and pyarrow at versions PySpark supports, and these tests are the check.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_kit.datasets.install import _frames

pytestmark = [pytest.mark.spark, pytest.mark.both_engines]

TABLES = ("listings", "review_events", "ice_cream_reference")


@pytest.fixture(scope="module")
def course_frames() -> dict[str, pd.DataFrame]:
    frames = _frames({"listings": 400, "review_events": 400, "ice_cream": 300}, 11, set(TABLES))
    frames = {name: frames[name] for name in TABLES}
    # the course injects nulls into numbers and categories (monitoring's broken batches)
    listings = frames["listings"].copy()
    listings.loc[::7, "review_scores_rating"] = np.nan
    listings.loc[::11, "room_type"] = None
    frames["listings"] = listings
    return frames


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps at one resolution (Spark returns nanoseconds), nulls as NaN/None."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].astype("datetime64[ns]")
    return out.reset_index(drop=True)


@pytest.mark.parametrize("table", TABLES)
def test_a_course_table_round_trips_through_spark_with_its_types_and_values(spark, course_frames,
                                                                            table):
    frame = course_frames[table]
    back = spark.createDataFrame(frame).toPandas()
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(_comparable(back), _comparable(frame), check_dtype=True)


def test_the_delta_labs_repair_path_spark_to_pandas_and_back_with_strings(spark, tmp_path):
    """20,000 rows of a string and a double: the shape of the Delta lab's repair cell."""
    source = spark.sql("SELECT CAST(id AS STRING) AS listing, id * 0.5D AS price FROM range(20000)")
    frame = source.toPandas()
    assert frame["listing"].map(type).eq(str).all()
    path = str(tmp_path / "repaired")
    spark.createDataFrame(frame).write.format("delta").save(path)
    again = spark.read.format("delta").load(path)
    assert dict(again.dtypes) == {"listing": "string", "price": "double"}
    assert again.count() == 20000
    assert again.selectExpr("sum(price)").first()[0] == pytest.approx(frame["price"].sum())

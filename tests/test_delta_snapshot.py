"""delta-rs reads and writes through ``mlops_kit.delta`` (no JVM)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from mlops_kit.delta import read_snapshot, write_snapshot
from mlops_kit.exceptions import NotFoundError


def test_write_then_read_each_version(tmp_path) -> None:
    path = tmp_path / "t"
    assert write_snapshot(path, pd.DataFrame({"x": [1, 2]}), mode="overwrite") == 0
    assert write_snapshot(path, pd.DataFrame({"x": [3]})) == 1
    latest, version = read_snapshot(path)
    assert version == 1 and sorted(latest["x"]) == [1, 2, 3]
    first, version = read_snapshot(path, version=0)
    assert version == 0 and sorted(first["x"]) == [1, 2]


def test_missing_table_and_missing_version_are_explained(tmp_path) -> None:
    with pytest.raises(NotFoundError, match="There is no Delta table"):
        read_snapshot(tmp_path / "none")
    write_snapshot(tmp_path / "t", pd.DataFrame({"x": [1]}))
    with pytest.raises(NotFoundError, match="has no version 7: it has versions 0 to 0"):
        read_snapshot(tmp_path / "t", version=7)


def test_the_inference_log_reader_lives_beside_its_writer(tmp_path) -> None:
    from mlops_kit.serving.inference_log import read_inference_log

    assert read_inference_log(tmp_path / "log") is None
    rows = pd.DataFrame({
        "model_name": ["a", "a", "b"],
        "timestamp": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"], utc=True),
        "inputs": [json.dumps({"x": i}) for i in range(3)],
        "prediction": ["1.0", "2.0", "3.0"],
    })
    write_snapshot(tmp_path / "log", rows)
    parsed = read_inference_log(tmp_path / "log", model_name="a", last_rows=1)
    assert parsed.to_dict("list") == {"x": [0], "prediction": [1.0],
                                      "timestamp": [pd.Timestamp("2024-01-02", tz="UTC")]}

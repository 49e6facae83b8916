"""Data-skipping pictures hold the statistics they claim (delta-rs tables, no JVM)."""
from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from deltalake import write_deltalake

from mlops_kit.delta_plots import file_ranges, plot_file_ranges, plot_files_read
from mlops_kit.exceptions import ConfigError

matplotlib.use("Agg")


@pytest.fixture
def table(tmp_path):
    path = str(tmp_path / "prices")
    for prices in ([50.0, 120.0], [900.0, 300.0], [40.0, 60.0, 70.0]):
        write_deltalake(path, pd.DataFrame({"price": prices}), mode="append")
    return path


def test_file_ranges_reads_min_max_per_file_from_the_log(table) -> None:
    ranges = file_ranges(table, "price")
    assert ranges[["rows", "min", "max"]].values.tolist() == [
        [3, 40.0, 70.0], [2, 50.0, 120.0], [2, 300.0, 900.0]]


def test_file_ranges_names_the_columns_with_statistics(table) -> None:
    with pytest.raises(ConfigError, match="no statistics for column 'size'.*\\['price'\\]"):
        file_ranges(table, "size")


def test_plot_file_ranges_draws_one_bar_per_file_and_counts_reads(table) -> None:
    ranges = file_ranges(table, "price")
    fig = plot_file_ranges({"before": ranges, "after": ranges.iloc[:1]}, above=100.0)
    left, right = fig.axes
    assert left.get_title() == "before: 2 of 3 files read"
    assert right.get_title() == "after: 0 of 1 files read"
    bars = [c for c in left.collections]
    assert len(bars) == 3
    assert [seg[:, 0].tolist() for seg in (b.get_segments()[0] for b in bars)] == [
        [40.0, 70.0], [50.0, 120.0], [300.0, 900.0]]
    assert left.get_xlabel() == "price range of each file"


def test_plot_files_read_bars_hold_the_counts() -> None:
    fig = plot_files_read({"small files": 31, "compacted": 6, "z-ordered": 1},
                          total={"small files": 40, "compacted": 6, "z-ordered": 6})
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [40, 6, 6, 31, 6, 1]
    assert ax.get_ylabel() == "files"
    with pytest.raises(ConfigError, match="at least one"):
        plot_files_read({})

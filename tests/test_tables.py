"""Table access: one name rule, one interface, the delta-rs side on real Delta tables."""
from __future__ import annotations

import inspect

import pandas as pd
import pytest

from mlops_kit import delta
from mlops_kit.exceptions import ConfigError, NotFoundError, SchemaMismatchError
from mlops_kit.tables import HISTORY_COLUMNS, TableAccess, resolve_path
from mlops_kit.tables.delta_rs import DeltaRsTables, KeptTable
from mlops_kit.tables.spark_side import SparkTables

BAD_NAMES = ["my-table", "Listings", "", "two words", None, 7]


# ------------------------------------------------------------ the name rule
def test_names_and_locations_resolve_by_one_rule(workspace, tmp_path):
    assert resolve_path("listings") == str(workspace.table_path("listings"))
    assert resolve_path(tmp_path / "t") == str(tmp_path / "t")
    assert resolve_path(str(tmp_path / "t")) == str(tmp_path / "t")
    assert resolve_path("s3://bucket/t") == "s3://bucket/t"
    assert DeltaRsTables().path("listings") == SparkTables().path("listings")


@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_a_bad_name_is_the_same_config_error_at_every_door(workspace, bad):
    """Before, ``my-table`` was a relative path to delta.py (NotFoundError, or None
    from the log reader) and a bad name to the workspace (ConfigError)."""
    from mlops_kit.jobs.tasks import read_table_version
    from mlops_kit.serving.inference_log import read_inference_log

    calls = {
        "read_table": lambda: delta.read_table(bad),
        "read_snapshot": lambda: delta.read_snapshot(bad),
        "table_exists": lambda: delta.table_exists(bad),
        "table_version": lambda: delta.table_version(bad),
        "history": lambda: delta.history(bad),
        "delta-rs read": lambda: DeltaRsTables().read(bad),
        "delta-rs append": lambda: DeltaRsTables().append(bad, pd.DataFrame({"x": [1]})),
        "spark path": lambda: SparkTables().path(bad),
        "inference log": lambda: read_inference_log(bad),
        "job read": lambda: read_table_version(bad),
    }
    messages = set()
    for call in calls.values():
        with pytest.raises(ConfigError, match="table name must be lowercase") as caught:
            call()
        messages.add(str(caught.value))
    assert len(messages) == 1, messages


def test_a_missing_table_is_the_same_not_found_on_both_sides(workspace):
    with pytest.raises(NotFoundError) as rs:
        DeltaRsTables().read("prices")
    with pytest.raises(NotFoundError) as spark:
        SparkTables().history("prices")  # checked before any Spark call
    assert str(rs.value) == str(spark.value)
    assert "There is no Delta table 'prices'" in str(rs.value)


# ---------------------------------------------------------- the interface
def test_both_sides_implement_the_one_interface():
    verbs = ("read", "append", "overwrite", "merge", "version", "history", "exists")
    for side in (DeltaRsTables, SparkTables):
        assert issubclass(side, TableAccess) and not inspect.isabstract(side)
        for verb in verbs:
            base = list(inspect.signature(getattr(TableAccess, verb)).parameters)
            mine = list(inspect.signature(getattr(side, verb)).parameters)
            assert mine[:len(base)] == base, (side.__name__, verb, mine)
    assert TableAccess.__abstractmethods__ == {"read", "append", "overwrite", "merge", "history"}


# --------------------------------------------------------- the delta-rs side
def test_delta_rs_side_writes_versions_and_history(workspace):
    tables = DeltaRsTables()
    assert not tables.exists("prices")
    assert tables.overwrite("prices", pd.DataFrame({"id": [1, 2], "price": [10.0, 20.0]})) == 0
    assert tables.append("prices", pd.DataFrame({"id": [3], "price": [30.0]})) == 1
    assert tables.merge("prices", pd.DataFrame({"id": [2, 4], "price": [25.0, 40.0],
                                                "area": ["a", "b"]}), keys="id") == 2
    assert tables.exists("prices") and tables.version("prices") == 2
    rows = tables.read("prices").sort_values("id")
    assert rows["price"].tolist() == [10.0, 25.0, 30.0, 40.0]
    assert rows["area"].tolist()[1:] == ["a", None, "b"]
    assert sorted(tables.read("prices", version=0)["price"]) == [10.0, 20.0]

    log = tables.history("prices")
    assert tuple(log.columns) == HISTORY_COLUMNS
    assert log["version"].tolist() == [2, 1, 0]
    assert log["operation"].tolist() == ["MERGE", "WRITE", "WRITE"]
    assert log["rows"].tolist()[1] == 1
    assert len(tables.history("prices", limit=1)) == 1


def test_bad_input_is_refused_and_the_table_keeps_its_version(workspace):
    tables = DeltaRsTables()
    tables.overwrite("prices", pd.DataFrame({"id": [1], "price": [10.0]}))
    with pytest.raises(SchemaMismatchError, match="stays at version 0.*merge_schema=True"):
        tables.append("prices", pd.DataFrame({"id": [2], "price": [1.0], "extra": ["x"]}))
    with pytest.raises(ConfigError, match=r"merge keys \['key'\] are not columns"):
        tables.merge("prices", pd.DataFrame({"id": [1], "price": [2.0]}), keys=["key"])
    with pytest.raises(ConfigError, match="needs keys"):
        tables.merge("prices", pd.DataFrame({"id": [1], "price": [2.0]}), keys=[])
    with pytest.raises(NotFoundError, match="has no version 5: it has versions 0 to 0"):
        tables.read("prices", version=5)
    assert tables.version("prices") == 0
    assert tables.read("prices")["price"].tolist() == [10.0]
    # schema evolution is asked for, never implied
    assert tables.append("prices", pd.DataFrame({"id": [2], "price": [1.0], "extra": ["x"]}),
                         merge_schema=True) == 1


def test_kept_table_skips_what_a_transaction_already_committed(tmp_path):
    kept = KeptTable(tmp_path / "log", {"delta.appendOnly": "true"})
    assert kept.open() is None and kept.transaction_version("lane") is None
    kept.append(pd.DataFrame({"x": [1]}), "lane", 0)
    kept.append(pd.DataFrame({"x": [2]}), "lane", 1)
    assert kept.transaction_version("lane") == 1
    assert kept.maintain(1 << 20) is True
    assert DeltaRsTables().read(tmp_path / "log")["x"].tolist() in ([1, 2], [2, 1])
    assert KeptTable(tmp_path / "log", {}).open().metadata().configuration["delta.appendOnly"] == "true"


# ------------------------------------------------------------ the callers
def test_feature_metadata_reads_the_version_with_delta_rs(tmp_path):
    from mlops_kit.features.metadata import delta_version

    assert delta_version(tmp_path / "none") is None
    DeltaRsTables().overwrite(tmp_path / "t", pd.DataFrame({"x": [1]}))
    DeltaRsTables().append(tmp_path / "t", pd.DataFrame({"x": [2]}))
    assert delta_version(tmp_path / "t") == 1


def test_training_data_cannot_name_a_version_the_table_never_had(workspace):
    """Before, any version was logged as the run's input, even one past the latest."""
    import mlflow

    from mlops_kit.tracking import log_training_data

    DeltaRsTables().overwrite("listings", pd.DataFrame({"id": [1]}))
    workspace.set_experiment("tables")
    with mlflow.start_run():
        with pytest.raises(NotFoundError, match="versions 0 to 0; version 3 does not exist"):
            log_training_data(None, "listings", 3)

"""The inference log's Delta upkeep: compaction, checkpoints, a short transaction log.

Real Delta tables written by delta-rs in a temporary folder, read back with
deltalake as monitoring reads them; no server, no Spark.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from deltalake import DeltaTable

from mlops_kit.serving.inference_log import (DELTA_ALLOCATOR_CONF, LOG_TABLE_PROPERTIES,
                                              InferenceLog, tame_delta_allocator)
from mlops_kit.serving.schema import ParsedInput

#: drop every commit file a checkpoint covers, so the test sees the clean-up
NO_RETENTION = {"delta.logRetentionDuration": "interval 0 seconds"}


def _commit(log: InferenceLog, i: int, rows: int = 2) -> None:
    """One request of ``rows`` rows, written as one commit."""
    parsed = ParsedInput({"x": np.arange(rows, dtype=float) + i}, rows)
    log.record(f"r{i}", time.time(), parsed, np.zeros(rows), 1.0)
    log.flush_now()


def _commit_files(path) -> list[str]:
    return sorted(p.name for p in (path / "_delta_log").glob("*.json"))


def test_more_commits_than_the_interval_leave_a_checkpoint_few_files_and_every_row(tmp_path):
    path = tmp_path / "log"
    log = InferenceLog(path, model_name="m", model_version="1", maintain_every=10,
                       table_properties=NO_RETENTION)
    for i in range(35):
        _commit(log, i)
    assert (log.commits, log.maintenances, log.failed_writes) == (35, 3, 0)

    checkpoint = json.loads((path / "_delta_log" / "_last_checkpoint").read_text())
    table = DeltaTable(str(path))
    assert checkpoint["version"] >= 30 and table.version() > checkpoint["version"]
    # compacted: one file for the first 30 commits, one per commit since
    assert len(table.file_uris()) <= 1 + 5
    # the transaction log no longer grows with every commit ever made
    assert len(_commit_files(path)) <= 10, _commit_files(path)
    rows = table.to_pandas()
    assert len(rows) == 70
    assert sorted(rows.groupby("request_id").size().items()) == sorted(
        (f"r{i}", 2) for i in range(35))
    assert sorted(rows["inputs"].map(lambda s: json.loads(s)["x"])) == sorted(
        float(i + k) for i in range(35) for k in range(2))


def test_files_compacted_away_are_vacuumed_after_the_retention(tmp_path):
    """With a zero retention, a maintenance deletes what the previous one compacted away."""
    path = tmp_path / "log"
    log = InferenceLog(path, model_name="m", model_version="1", maintain_every=10,
                       table_properties={**NO_RETENTION,
                                         "delta.deletedFileRetentionDuration": "interval 0 seconds"})
    for i in range(9):
        _commit(log, i)
    first_files = {p.name for p in path.glob("*.parquet")}
    assert len(first_files) == 9
    for i in range(9, 20):
        _commit(log, i)
    assert log.maintenances == 2 and log.failed_writes == 0
    on_disk = {p.name for p in path.glob("*.parquet")}
    assert not first_files & on_disk, "the first compaction's inputs are still on disk"
    assert len(DeltaTable(str(path)).to_pandas()) == 40


def test_a_new_log_table_gets_a_bounded_log_retention(tmp_path):
    log = InferenceLog(tmp_path / "log", model_name="m", model_version="1")
    _commit(log, 0)
    configuration = DeltaTable(str(tmp_path / "log")).metadata().configuration
    assert configuration.items() >= LOG_TABLE_PROPERTIES.items()


def test_an_existing_table_gets_the_missing_properties_and_keeps_its_rows(tmp_path):
    path, owned = tmp_path / "log", tmp_path / "owned"
    _commit(InferenceLog(path, model_name="m", model_version="1", table_properties={}), 0)
    assert "delta.logRetentionDuration" not in DeltaTable(str(path)).metadata().configuration
    chosen = {"delta.logRetentionDuration": "interval 2 days"}  # someone's choice: left alone
    _commit(InferenceLog(owned, model_name="m", model_version="1", table_properties=chosen), 0)

    for table in (path, owned):  # what an endpoint of this version does to them
        _commit(InferenceLog(table, model_name="m", model_version="1"), 1)
    assert DeltaTable(str(path)).metadata().configuration.items() >= LOG_TABLE_PROPERTIES.items()
    assert DeltaTable(str(owned)).metadata().configuration.items() >= chosen.items()
    assert sorted(DeltaTable(str(path)).to_pandas()["request_id"]) == ["r0", "r0", "r1", "r1"]


def test_the_writer_thread_maintains_while_requests_keep_coming(tmp_path):
    """The real path: records from the request side, batches and upkeep on the thread."""
    path = tmp_path / "log"
    log = InferenceLog(path, model_name="m", model_version="1", flush_seconds=0.01,
                       maintain_every=5, table_properties=NO_RETENTION).start()
    sent = 0
    deadline = time.monotonic() + 60
    while log.maintenances < 3 and time.monotonic() < deadline:
        parsed = ParsedInput({"x": np.array([float(sent)])}, 1)
        log.record(f"q{sent}", time.time(), parsed, np.zeros(1), 1.0)
        sent += 1
        time.sleep(0.005)
    log.close()
    assert log.maintenances >= 3 and log.failed_writes == 0
    rows = DeltaTable(str(path)).to_pandas()
    assert sorted(rows["request_id"]) == sorted(f"q{i}" for i in range(sent))


def test_the_allocator_setting_is_a_default_and_keeps_a_chosen_value(monkeypatch):
    monkeypatch.delenv("_RJEM_MALLOC_CONF", raising=False)
    tame_delta_allocator()
    assert os.environ["_RJEM_MALLOC_CONF"] == DELTA_ALLOCATOR_CONF
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:1")
    tame_delta_allocator()
    assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:1"

"""Feature store under bad writes and concurrent writers: nothing half-written, nothing lost."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from mlops_kit.exceptions import DataError, SchemaMismatchError, WriteConflictError
from mlops_kit.features import FeatureStoreClient
from mlops_kit.features.client import _with_conflict_retry
from mlops_kit.features.metadata import delta_version

pytestmark = pytest.mark.spark


@pytest.fixture
def fs(workspace, spark):
    client = FeatureStoreClient(workspace, spark=spark)
    client.create_table("things", primary_keys="id",
                        df=spark.createDataFrame([(1, 10.0), (2, 20.0)], "id long, x double"))
    yield client
    client.close()


@pytest.mark.parametrize(("frame", "error", "match"), [
    (pd.DataFrame({"x": [1.0]}), DataError, "lacks the key column"),
    (pd.DataFrame({"id": [3, 3], "x": [1.0, 2.0]}), DataError, "not unique"),
    (pd.DataFrame({"id": ["3"], "x": [1.0]}), SchemaMismatchError, "id: bigint -> string"),
], ids=["no-key", "duplicate-keys", "key-type-changed"])
def test_bad_overwrite_from_pandas_leaves_the_table_at_its_version(fs, frame, error, match):
    """The overwrite path validates like MERGE: same error, same Delta version, same rows."""
    path = fs.get_table("things").path
    with pytest.raises(error, match=match):
        fs.write_table("things", frame, mode="overwrite")
    assert delta_version(path) == 0
    assert sorted(fs.read_table("things").toPandas()["id"]) == [1, 2]


def test_conflicts_are_retried_then_reported_never_dropped():
    """A commit that keeps conflicting becomes WriteConflictError after the bounded attempts."""
    from delta.exceptions import ConcurrentAppendException

    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConcurrentAppendException("another writer committed first")

    _with_conflict_retry(flaky, "things", attempts=3)
    assert len(calls) == 3

    def always() -> None:
        raise ConcurrentAppendException("another writer committed first")

    with pytest.raises(WriteConflictError, match="conflicted with other writers 2 times"):
        _with_conflict_retry(always, "things", attempts=2)


class _ConnectError(Exception):
    """The shape of an error that reached a Spark Connect client: a condition, no Delta class."""

    def __init__(self, condition: str, message: str) -> None:
        super().__init__(message)
        self._condition = condition

    def getCondition(self) -> str:  # noqa: N802 - pyspark's spelling
        return self._condition


@pytest.mark.parametrize(("error", "conflict"), [
    (_ConnectError("DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT", "files were added"), True),
    (_ConnectError("DELTA_METADATA_CHANGED", "metadata changed"), True),
    (_ConnectError("DELTA_MERGE_INCOMPATIBLE_DATATYPE", "cannot merge"), False),
    (_ConnectError("", "[DELTA_CONCURRENT_WRITE] ConcurrentWriteException: another writer"), True),
    (ValueError("boom\nConcurrentAppendException only in a later traceback line"), False),
], ids=["connect-append", "connect-metadata", "schema-error", "message-only", "other"])
def test_write_conflicts_are_recognised_on_both_engines(error, conflict):
    """Over Spark Connect a conflict carries Delta's condition, not Delta's Python class."""
    from mlops_kit.features.client import is_write_conflict

    assert is_write_conflict(error) is conflict


def test_a_connect_conflict_is_retried_and_other_errors_are_not():
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 2:
            raise _ConnectError("DELTA_CONCURRENT_APPEND", "another writer committed first")

    _with_conflict_retry(flaky, "things", attempts=3)
    assert len(calls) == 2

    def broken() -> None:
        calls.append(1)
        raise _ConnectError("DELTA_MERGE_INCOMPATIBLE_DATATYPE", "cannot merge")

    calls.clear()
    with pytest.raises(_ConnectError):
        _with_conflict_retry(broken, "things", attempts=3)
    assert len(calls) == 1


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mlops_kit.features import FeatureStoreClient
    from mlops_kit.exceptions import WriteConflictError
    from mlops_kit.spark import get_spark

    offset, go = int(sys.argv[1]), Path(sys.argv[2])
    spark = get_spark()
    fs = FeatureStoreClient(spark=spark)
    frames = [spark.createDataFrame([(offset + r, float(offset + r)), (1, float(offset))],
                                    "id long, x double") for r in range(4)]
    frames[0].count()  # warm up before the start line
    (go.parent / f"ready-{offset}").touch()
    while not go.exists():
        time.sleep(0.05)
    for r, frame in enumerate(frames):
        try:
            fs.write_table("things", frame)
            print("committed", offset + r, flush=True)
        except WriteConflictError as err:
            print("reported", offset, err, flush=True)
""")


@pytest.mark.slow
def test_two_processes_merging_one_table_lose_no_update(fs, workspace, tmp_path):
    """Two writers MERGE at the same moment: every committed row is there, conflicts retried."""
    go = tmp_path / "go"
    env = {**os.environ, "MLOPS_KIT_HOME": str(workspace.root), "MLOPS_KIT_USER": workspace.user,
           "MLOPS_KIT_ENV": workspace.env, "PYSPARK_PYTHON": sys.executable}
    logs = [open(tmp_path / f"writer-{offset}.log", "w") for offset in (100, 200)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(offset), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=log, text=True)
             for offset, log in zip((100, 200), logs)]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{o}").exists() for o in (100, 200)):
            assert time.monotonic() < deadline, "writers did not start"
            assert all(p.poll() is None for p in procs), "a writer died at start-up"
            time.sleep(0.2)
        go.touch()
        outputs = [p.communicate(timeout=180)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    errors = [[line for line in (tmp_path / f"writer-{o}.log").read_text().splitlines()
               if "Error" in line or "Exception" in line][:5] for o in (100, 200)]
    assert [p.returncode for p in procs] == [0, 0], (outputs, errors)
    committed = {int(line.split()[1]) for out in outputs for line in out.splitlines()
                 if line.startswith("committed")}
    reported = [line for out in outputs for line in out.splitlines() if line.startswith("reported")]
    assert len(committed) + len(reported) == 8  # every write either landed or was reported
    ids = set(fs.read_table("things").toPandas()["id"])
    assert committed | {1, 2} == ids
    # one Delta commit per successful write: none silently swallowed
    assert delta_version(fs.get_table("things").path) == len(committed)

"""The inference log's spool survives a full disk, a damaged frame and a damaged table.

Without a server: a write that fails part-way (``ENOSPC`` after part of a
frame, injected at the spool's write seam, ``Spool._open_file``), a flipped
byte in a middle frame, a truncated Delta log file. With a real endpoint: the
same on a 20 MiB tmpfs filled up and freed again (root only), the skipped
frame on ``/metrics``, and the damaged table named in one line at start-up,
each on the single-model and on the routed endpoint (the ``endpoint_kind``
fixture, tests/serving_kinds.py).
"""
from __future__ import annotations

import errno
import os
import subprocess
import time
import uuid

import httpx
import numpy as np
import pytest
import serving_kinds
from deltalake import DeltaTable
from test_serving_endpoint import _register

from mlops_kit.exceptions import DataError, EnvironmentProblem
from mlops_kit.serving import Endpoint
from mlops_kit.serving.inference_log import InferenceLog
from mlops_kit.serving.schema import ParsedInput
from mlops_kit.workspace import Workspace
from test_reliability_inference_log import _ids, _log, _record

#: the endpoint under test, single-model and routed (tests/serving_kinds.py)
endpoint_kind = serving_kinds.endpoint_kind

HEADER = 12  # magic, payload length, CRC-32


def _segments(tmp_path) -> list:
    return sorted((tmp_path / "spool").glob("lane-*/*.seg"))


class FillingDisk:
    """A segment file on a disk with ``free`` bytes left (None: plenty).

    ``mode="short"`` behaves as the kernel does: the write that crosses the
    limit writes what fits and returns its count, the next one raises ENOSPC.
    ``mode="partial"`` writes what fits and raises in the same call.
    ``truncate_fails`` makes cutting the file back fail as well.
    """

    def __init__(self, disk: "Disk", file) -> None:
        self.disk, self.file = disk, file

    def write(self, data) -> int:
        free = self.disk.free
        if free is None or len(data) <= free:
            n = self.file.write(data)
            self.disk.free = None if free is None else free - n
            return n
        if free == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.file.write(bytes(data[:free]))
        self.disk.free = 0
        if self.disk.mode == "partial":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return n

    def truncate(self, size: int) -> int:
        if self.disk.truncate_fails:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.file.truncate(size)

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()


class Disk:
    def __init__(self, mode: str, truncate_fails: bool = False) -> None:
        self.mode, self.truncate_fails, self.free = mode, truncate_fails, None


def _on(disk: Disk, log: InferenceLog, monkeypatch) -> None:
    real = log.spool._open_file
    monkeypatch.setattr(log.spool, "_open_file", lambda path: FillingDisk(disk, real(path)))


# ------------------------------------------------------------- a full disk
@pytest.mark.parametrize("mode", ["short", "partial"])
def test_a_write_that_fails_part_way_is_cut_back_and_later_frames_reach_the_table(
        tmp_path, monkeypatch, mode):
    """ENOSPC after part of a frame: no 200 for it, and every later whole frame is kept."""
    log = _log(tmp_path)
    disk = Disk(mode)
    _on(disk, log, monkeypatch)
    _record(log, "r0")
    _record(log, "r1")
    disk.free = 40  # less than one frame
    for lost in ("full0", "full1"):
        with pytest.raises(OSError) as raised:  # the endpoint answers 503 LOG_UNAVAILABLE
            _record(log, lost)
        assert raised.value.errno == errno.ENOSPC
    disk.free = None  # space freed
    answered = [f"a{i}" for i in range(10)]
    for request_id in answered:
        _record(log, request_id)
    assert log.pending == 12
    log.flush_now()
    assert _ids(tmp_path / "log") == sorted(["r0", "r1", *answered] * 3)
    assert (log.skipped_frames, log.quarantined_segments, log.pending) == (0, 0, 0)
    assert not _segments(tmp_path)


def test_a_segment_that_cannot_be_cut_back_is_sealed_and_the_next_frame_starts_a_new_one(
        tmp_path, monkeypatch):
    log = _log(tmp_path)
    disk = Disk("short", truncate_fails=True)
    _on(disk, log, monkeypatch)
    _record(log, "r0")
    disk.free = 40
    with pytest.raises(OSError):
        _record(log, "full")
    disk.free = None
    torn = _segments(tmp_path)
    for i in range(3):
        _record(log, f"a{i}")
    assert _segments(tmp_path) != torn  # later frames are not appended after torn bytes
    log.flush_now()
    assert _ids(tmp_path / "log") == sorted(["r0", "a0", "a1", "a2"] * 3)
    # the torn tail is skipped and its segment kept aside, not deleted
    assert (log.skipped_frames, log.quarantined_segments) == (1, 1)
    assert len(list((tmp_path / "spool" / "quarantine").iterdir())) == 1


def test_a_failed_fsync_refuses_the_request_and_later_frames_go_to_a_new_segment(
        tmp_path, monkeypatch):
    log = _log(tmp_path, fsync="always")
    _record(log, "r0")
    first = _segments(tmp_path)
    real_fsync = os.fsync

    def failing(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError):
        _record(log, "r1")  # written, not known to be on disk: 503
    monkeypatch.setattr(os, "fsync", real_fsync)
    _record(log, "r2")
    assert _segments(tmp_path)[0] == first[0] and len(_segments(tmp_path)) == 2
    log.flush_now()
    # a request may be in the table without its 200, never the reverse
    assert _ids(tmp_path / "log") == sorted(["r0", "r1", "r2"] * 3)


# ------------------------------------------------------- a damaged frame
def _frame_starts(data: bytes) -> list[int]:
    starts, offset = [], 0
    while offset < len(data):
        starts.append(offset)
        offset += HEADER + int.from_bytes(data[offset + 4:offset + 8], "little")
    return starts


@pytest.mark.parametrize("where", [HEADER + 5, 5, 1], ids=["payload", "length", "magic"])
def test_a_flipped_byte_in_a_middle_frame_costs_that_frame_only(tmp_path, where):
    """Frame 2 of 5 damaged: frames 0, 1, 3, 4 reach the table; counted; segment kept."""
    log = _log(tmp_path)
    for i in range(5):
        _record(log, f"r{i}")
    segment = _segments(tmp_path)[0]
    log.spool.close()  # the process died with the segment in its spool
    data = bytearray(segment.read_bytes())
    data[_frame_starts(bytes(data))[2] + where] ^= 0x40
    segment.write_bytes(bytes(data))

    again = _log(tmp_path)
    again.spool.open()  # what a starting endpoint does first
    assert again.pending == 4  # whole frames, counted past the damaged one
    again.flush_now()
    assert _ids(tmp_path / "log") == sorted(["r0", "r1", "r3", "r4"] * 3)
    assert again.skipped_frames == 1 and again.quarantined_segments == 1
    kept = list((tmp_path / "spool" / "quarantine").iterdir())
    assert [p.read_bytes() for p in kept] == [bytes(data)] and not _segments(tmp_path)


def test_the_rollout_log_s_columns_and_a_frame_written_by_the_older_format(tmp_path):
    """Per-request columns by name; an older frame's positional extras still land right."""
    import struct
    import zlib

    import orjson

    from mlops_kit.serving.inference_log import RolloutLog

    log = RolloutLog(tmp_path / "log", model_name="m", model_version="1",
                     spool_dir=tmp_path / "spool")
    parsed = ParsedInput({"x": np.arange(2, dtype=float)}, 2)
    log.record_routed("live", time.time(), parsed, np.ones(2), 1.0, deployment="blue",
                      model_version="7", shadow=False)
    log.record("plain", time.time(), parsed, np.ones(2), 1.0)
    payload = orjson.dumps({"i": "old", "t": time.time(), "n": 1, "c": {"x": [1.0]}, "p": [2.0],
                            "l": 1.0, "s": 200, "x": ["green", "3", True]})
    log.spool.append(struct.pack("<4sII", b"MKS1", len(payload), zlib.crc32(payload)) + payload)
    log.flush_now()
    rows = DeltaTable(str(tmp_path / "log")).to_pandas()
    assert list(rows.columns)[-2:] == ["deployment", "shadow"]
    got = {r.request_id: (r.deployment, r.model_version, r.shadow) for r in rows.itertuples()}
    assert got == {"live": ("blue", "7", False), "plain": ("", "1", False),
                   "old": ("green", "3", True)}


# ------------------------------------------------------- a damaged table
def _truncate_last_commit(table) -> str:
    commit = sorted((table / "_delta_log").glob("*.json"))[-1]
    data = commit.read_bytes()
    commit.write_bytes(data[: len(data) // 2])
    return commit.name


def test_a_truncated_delta_log_file_is_one_line_naming_the_table_and_the_file(tmp_path):
    log = _log(tmp_path)
    for i in range(3):
        _record(log, f"r{i}")
        log.flush_now()
    log.spool.close()
    name = _truncate_last_commit(tmp_path / "log")

    with pytest.raises(DataError) as raised:
        _log(tmp_path).flush_now()  # opens the table first
    message = str(raised.value)
    assert "\n" not in message.strip(), message
    assert str(tmp_path / "log") in message and name in message
    assert raised.value.__suppress_context__  # not chained to delta-rs's backtrace


# ------------------------------------------------------- a real endpoint
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    return ws, _register(ws)


ROW = {"room_type": "Private room", "host_is_superhost": True, "accommodates": 2,
       "bathrooms": 1.0, "review_scores_rating": 4.5}


def _post(endpoint: Endpoint, request_id: str, rows: int = 1) -> httpx.Response:
    return httpx.post(endpoint.invocations_url, json={"dataframe_records": [ROW] * rows},
                      headers={"X-Request-Id": request_id}, timeout=60)


def test_a_damaged_log_table_stops_the_endpoint_with_one_line(served, endpoint_kind):
    ws, uri = served
    ws.activate()
    table = f"broken_log_{endpoint_kind.name}"
    log = InferenceLog(ws.table_path(table), model_name="m", model_version="1",
                       spool_dir=ws.spool_path(table))
    for i in range(2):
        _record(log, f"r{i}")
        log.flush_now()
    log.spool.close()
    name = _truncate_last_commit(ws.table_path(table))
    endpoint = endpoint_kind.endpoint(ws, uri, log_table=table, startup_timeout=60)
    with pytest.raises(EnvironmentProblem):  # the child exited
        endpoint.start()
    said = [line for line in endpoint.log_path.read_text().splitlines() if line.strip()]
    errors = [line for line in said if table in line]
    assert len(errors) == 1 and name in errors[0], said
    assert not any("Traceback" in line or "<unknown>" in line for line in said), said


def test_a_damaged_frame_left_in_the_spool_is_counted_on_metrics(served, endpoint_kind):
    ws, uri = served
    ws.activate()
    table = f"flip_log_{endpoint_kind.name}"
    log = InferenceLog(ws.table_path(table), model_name="m", model_version="1",
                       spool_dir=ws.spool_path(table))
    for i in range(5):
        _record(log, f"r{i}")
    segment = sorted(ws.spool_path(table).glob("lane-*/*.seg"))[0]
    log.spool.close()
    data = bytearray(segment.read_bytes())
    data[_frame_starts(bytes(data))[2] + HEADER + 5] ^= 0x40
    segment.write_bytes(bytes(data))
    endpoint = endpoint_kind.start(ws, uri, log_table=table)
    try:
        deadline, values = time.monotonic() + 30, {}
        while values.get("mlops_kit_inference_log_skipped_frames_total") != 1.0 \
                and time.monotonic() < deadline:
            metrics = httpx.get(f"{endpoint.url}/metrics", timeout=30).text
            values = {line.split("{")[0]: float(line.split()[-1])
                      for line in metrics.splitlines() if line.startswith("mlops_kit_inference")}
            time.sleep(0.2)
        assert "# TYPE mlops_kit_inference_log_skipped_frames_total counter" in metrics
        assert values["mlops_kit_inference_log_skipped_frames_total"] == 1, metrics
        assert values["mlops_kit_inference_log_quarantined_segments_total"] == 1, metrics
    finally:
        assert endpoint.stop() == 0
    assert _ids(ws.table_path(table)) == sorted(["r0", "r1", "r3", "r4"] * 3)
    assert "skipped 1 unreadable frame" in endpoint.log_path.read_text()


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MiB tmpfs (root only: skipped with the reason otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_gives_503_and_every_200_after_it_is_in_the_table(served, small_disk,
                                                                      endpoint_kind):
    """The reported sequence end to end: fill the disk, 503s, free it, ten 200s all logged."""
    ws, uri = served
    ws.activate()
    table = f"disk_log_{uuid.uuid4().hex[:6]}"
    for link, target in ((ws.table_path(table), small_disk / "table"),
                         (ws.spool_path(table), small_disk / "spool")):
        target.mkdir()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    endpoint = endpoint_kind.start(ws, uri, log_table=table)
    answered, refused = [], []
    try:
        for i in range(3):
            assert _post(endpoint, f"b{i}").status_code == 200
            answered.append(f"b{i}")
        time.sleep(1.5)  # the writer commits them
        filler = small_disk / "filler"
        with open(filler, "wb") as f:  # fill the disk, then leave a little free
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError as err:
                assert err.errno == errno.ENOSPC
        with open(filler, "r+b") as f:
            f.truncate(os.path.getsize(filler) - (24 << 10))
        for i in range(4):  # ~100 KB frames: each gets part-way, then ENOSPC
            r = _post(endpoint, f"full{i}", rows=2000)
            assert r.status_code == 503, r.text
            assert r.json()["error_code"] == "LOG_UNAVAILABLE" and "Retry-After" in r.headers
            refused.append(f"full{i}")
        time.sleep(1.5)  # the writer tries (and fails) to commit meanwhile
        filler.unlink()  # space freed
        for i in range(10):
            r = _post(endpoint, f"a{i}")
            assert r.status_code == 200, r.text
            answered.append(f"a{i}")
    finally:
        assert endpoint.stop() == 0
    logged = DeltaTable(str(ws.table_path(table))).to_pandas()["request_id"]
    assert sorted(set(logged)) == sorted(answered)  # every 200 in the table, no 503 in it
    assert not list(ws.spool_path(table).glob("lane-*/*.seg"))
    assert "failed part-way; cut back" in endpoint.log_path.read_text()  # the path taken
    for link in (ws.table_path(table), ws.spool_path(table)):
        link.unlink()  # the disk goes away with the test

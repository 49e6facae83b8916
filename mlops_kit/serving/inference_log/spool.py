"""The write-ahead spool: lanes, locks, segments, and what a failed write leaves behind.

``<spool>/lane-<k>/<seq>.seg`` holds the frames of :mod:`.frames`. A process
owns one lane (``flock`` on ``lane-<k>/LOCK``) and appends to its open
segment; lanes of processes that died are adopted by the next process that
opens the spool, and drained first. Segment numbers only grow within a lane;
each becomes one Delta commit tagged ``(lane, seq)``.

Failure handling, in this module only:

- a write that fails part-way (``ENOSPC`` after part of a frame, any
  ``OSError``) is cut back: the segment is truncated to the end of its last
  whole frame and the error goes to the caller, so the request is answered
  503, never 200, and the next frame starts where a whole frame ended. If the
  truncation fails too, the segment is sealed as it is (the reader skips the
  torn bytes and it is quarantined) and the next frame opens a new segment;
- with ``fsync="always"``, a failed fsync is the caller's error as well, and
  the segment is sealed so later frames go to a fresh file; a segment file is
  closed only once no request is still syncing it;
- segment files are opened lazily, by the first frame after a rotation, so
  sealing never creates a file (nothing on the writer thread fails for lack of
  space) and a spool that could not open a segment tries again on the next frame;
- a segment the writer could not read whole is moved to ``<spool>/quarantine``
  (:meth:`Spool.quarantine`) after its whole frames are committed, never deleted.
"""
from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable

from mlops_kit.exceptions import ConfigError
from mlops_kit.serving.inference_log.frames import count_frames
from mlops_kit.serving.inference_log.settings import FSYNC_POLICIES

__all__ = ["Spool", "Lane"]

_log = logging.getLogger("mlops_kit.serving")

_SEGMENT = re.compile(r"^(\d{12})\.seg$")
_LANE = re.compile(r"^lane-(\d+)$")
QUARANTINE = "quarantine"


class Lane:
    """One spool folder owned (flock) by one process: ``lane-<k>/<seq>.seg``."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self.lock_fd = lock_fd
        self.app_id = f"mlops-kit-spool/{path.name}"

    def segments(self) -> list[tuple[int, Path]]:
        found = []
        for p in self.path.iterdir():
            m = _SEGMENT.fullmatch(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def release(self) -> None:
        if self.lock_fd >= 0:
            os.close(self.lock_fd)  # closing drops the flock
            self.lock_fd = -1


def _try_lock(path: Path) -> int | None:
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "LOCK", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


class _Segment:
    """The open segment: its file, whole bytes and frames, requests still fsyncing it."""

    __slots__ = ("seq", "path", "file", "size", "requests", "syncing", "retired")

    def __init__(self, seq: int, path: Path, file: io.RawIOBase) -> None:
        self.seq, self.path, self.file = seq, path, file
        self.size = self.requests = self.syncing = 0
        self.retired = False


class Spool:
    """Append-only, segment-numbered write-ahead files for one log table."""

    def __init__(self, directory: str | Path, *, fsync: str = "write",
                 segment_bytes: int = 4 << 20) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ConfigError(f"The spool fsync policy must be one of "
                              f"{', '.join(FSYNC_POLICIES)}. Got {fsync!r}.")
        self.directory = Path(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.lane: Lane | None = None
        self.orphans: list[Lane] = []
        self.pending_bytes = 0
        self.pending_requests = 0
        self.quarantined = 0
        self._lock = threading.Lock()
        self._current: _Segment | None = None
        self._seq = 0  # the open segment's number, or the next one's
        self._closed = False
        self._sizes: dict[Path, tuple[int, int]] = {}  # sealed segment -> (bytes, requests)

    # ------------------------------------------------------------ opening
    def open(self, first_free_seq: Callable[[Lane], int] = lambda lane: 0) -> "Spool":
        """Take a lane (and every abandoned one); ``first_free_seq(lane)`` is the
        lowest segment number the table has not committed for that lane."""
        if self.lane is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        lanes = sorted((int(m.group(1)), p) for p in self.directory.iterdir()
                       if (m := _LANE.fullmatch(p.name)) and p.is_dir())
        taken: list[Lane] = []
        for _, path in lanes:
            fd = _try_lock(path)
            if fd is not None:
                taken.append(Lane(path, fd))
        k = lanes[-1][0] + 1 if lanes else 0
        while not taken:
            fd = _try_lock(self.directory / f"lane-{k}")
            if fd is not None:
                taken.append(Lane(self.directory / f"lane-{k}", fd))
            k += 1
        try:
            for lane in taken:
                for _, seg in lane.segments():
                    data = seg.read_bytes()
                    if not data:
                        seg.unlink()
                        continue
                    self._sizes[seg] = (len(data), count_frames(data))
                    self.pending_bytes += len(data)
                    self.pending_requests += self._sizes[seg][1]
            existing = [seq for seq, _ in taken[0].segments()]
            self._seq = max([first_free_seq(taken[0]) - 1, *existing, 0]) + 1
        except BaseException:
            for lane in taken:
                lane.release()
            self._sizes.clear()
            self.pending_bytes = self.pending_requests = 0
            raise
        self.lane, self.orphans = taken[0], taken[1:]
        return self

    def _open_file(self, path: Path) -> io.RawIOBase:
        """The write seam: an unbuffered append-only file (``write`` may write part)."""
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_EXCL, 0o600)
        return io.FileIO(fd, "w")

    def _writable(self) -> _Segment:
        if self.lane is None or self._closed:
            raise RuntimeError("the inference-log spool is closed")
        if self._current is None:
            path = self.lane.path / f"{self._seq:012d}.seg"
            self._current = _Segment(self._seq, path, self._open_file(path))
        return self._current

    # ---------------------------------------------------------- appending
    def append(self, frame: bytes) -> None:
        """Write one whole frame (and fsync it, by policy), or raise with nothing of it kept."""
        with self._lock:
            seg = self._writable()
            view = memoryview(frame)
            try:
                while view:
                    view = view[seg.file.write(view):]
            except BaseException:
                self._cut_back(seg)
                raise
            seg.size += len(frame)
            seg.requests += 1
            self.pending_bytes += len(frame)
            self.pending_requests += 1
            if self.fsync == "always":
                seg.syncing += 1
            if seg.size >= self.segment_bytes:
                self._retire(seg)
        if self.fsync == "always":
            self._sync(seg)

    def _cut_back(self, seg: _Segment) -> None:
        """After a failed write: truncate to the last whole frame, or seal the segment."""
        try:
            seg.file.truncate(seg.size)
        except OSError as err:
            _log.error("inference log: a write to %s failed part-way and the file could not "
                       "be cut back (%s); it is sealed and its torn tail will be skipped",
                       seg.path, err)
            self._retire(seg)
        else:
            _log.warning("inference log: a write to %s failed part-way; cut back to its "
                         "%d whole bytes", seg.path, seg.size)

    def _sync(self, seg: _Segment) -> None:
        try:
            os.fsync(seg.file.fileno())
        except OSError:
            with self._lock:  # the file may have lost pages: later frames go to a new one
                if seg is self._current:
                    self._retire(seg)
            raise
        finally:
            with self._lock:
                seg.syncing -= 1
                if seg.retired and not seg.syncing:
                    _close(seg)

    def seal(self) -> None:
        """Close the open segment (if it holds anything): it becomes ready for the table."""
        with self._lock:
            if self._current is not None and self._current.requests:
                self._retire(self._current)

    def _retire(self, seg: _Segment) -> None:
        """No more frames go to ``seg``; the next frame opens segment ``seq + 1``."""
        self._current, self._seq, seg.retired = None, seg.seq + 1, True
        if seg.requests:
            self._sizes[seg.path] = (seg.size, seg.requests)
        if not seg.syncing:
            _close(seg)
        if not seg.requests:
            seg.path.unlink(missing_ok=True)

    # ------------------------------------------------------------ draining
    def sealed(self) -> list[tuple[Lane, int, Path]]:
        """Segments ready for the table: adopted lanes first, each in order."""
        with self._lock:  # every segment below the open (or next) one is complete
            bound = None if self._closed else self._seq
        out = []
        for lane in self.orphans:
            out += [(lane, seq, p) for seq, p in lane.segments()]
        if self.lane is not None:
            out += [(self.lane, seq, p) for seq, p in self.lane.segments()
                    if bound is None or seq < bound]
        return out

    def done(self, segment: Path) -> None:
        """The segment is in the table: delete it and forget its backlog."""
        segment.unlink(missing_ok=True)
        self._forget(segment)

    def quarantine(self, segment: Path) -> Path:
        """Move a segment that could not be read whole aside (its whole frames are in the table)."""
        folder = self.directory / QUARANTINE
        folder.mkdir(exist_ok=True)
        target = folder / f"{segment.parent.name}-{segment.name}"
        if target.exists():
            target = target.with_name(f"{target.stem}-{time.time_ns()}.seg")
        os.replace(segment, target)
        self._forget(segment)
        self.quarantined += 1
        return target

    def _forget(self, segment: Path) -> None:
        size, count = self._sizes.pop(segment, (0, 0))
        with self._lock:
            self.pending_bytes -= size
            self.pending_requests -= count

    def close(self) -> None:
        """Seal the open segment (deleted when empty) and drop the lane locks."""
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
            self._closed = True
        for lane in [*self.orphans, self.lane]:
            if lane is not None:
                lane.release()


def _close(seg: _Segment) -> None:
    try:
        seg.file.close()
    except OSError as err:  # the frames were written whole; the reader checks them
        _log.warning("inference log: closing spool segment %s failed: %s", seg.path, err)

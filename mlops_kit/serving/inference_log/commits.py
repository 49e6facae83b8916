"""The table side of the writer: sealed spool segments become Delta commits.

A segment is read frame by frame (:func:`~.frames.read_segment`); its whole
frames become one append commit tagged with the Delta application transaction
``(lane, seq)``, so a replay after a crash skips what the table already holds.
Frames that could not be read are counted (``skipped_frames``) and logged, and
their segment is moved to the spool's quarantine folder instead of deleted.
A table that cannot be opened because a log file is damaged is named in one
line (:func:`mlops_kit.tables.damage.explain_open_failure`).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, ClassVar

from mlops_kit.serving.inference_log.frames import Gap, LoggedRequest, read_segment
from mlops_kit.serving.inference_log.rows import requests_to_arrow
from mlops_kit.serving.inference_log.spool import Lane, Spool

__all__ = ["SegmentCommits"]

_log = logging.getLogger("mlops_kit.serving")


class SegmentCommits:
    """What :class:`~.writer.InferenceLog` does on its writer thread (a mixin).

    Uses the log's ``path``, ``spool``, ``table_properties``, model fields
    and counters; subclasses of the log set :attr:`extra_columns` and
    :attr:`legacy_columns`.
    """

    #: columns a subclass adds after the standard ones: ``{name: (Arrow type, default)}``,
    #: filled from each request's ``columns``
    extra_columns: ClassVar[dict[str, tuple[str, Any]]] = {}
    #: names of the positional extras that frames of older versions carry (``x``)
    legacy_columns: ClassVar[tuple[str, ...]] = ()

    path: Path
    spool: Spool
    maintain_every: int

    def _first_free_seq(self, lane: Lane) -> int:
        try:
            version = self._table().transaction_version(lane.app_id)
        except Exception as err:
            self._table().forget()
            from mlops_kit.tables.damage import explain_open_failure

            explained = explain_open_failure(self.path, err)
            if explained is None:
                raise
            raise explained from None
        return 0 if version is None else version + 1

    def _drain(self) -> bool:
        """Commit every sealed segment, in order; False when one failed."""
        with self._drain_lock:
            for lane, seq, segment in self.spool.sealed():
                if not self._commit_segment(lane, seq, segment):
                    return False
            return True

    def _commit_segment(self, lane: Lane, seq: int, segment: Path) -> bool:
        t0 = time.monotonic()
        try:
            committed = self._table().transaction_version(lane.app_id)
            if committed is not None and committed >= seq:
                self.spool.done(segment)  # committed before a crash, file left behind
                self.replayed_segments += 1
                return True
            size = segment.stat().st_size
            data, gaps = self._segment_to_arrow(segment)
            if data is not None:
                self._append(data, lane.app_id, seq)
        except Exception as err:  # noqa: BLE001 - the log must never take the endpoint down
            self.failed_writes += 1
            self._table().forget()  # reopen: the handle may be what failed
            from mlops_kit.tables.damage import explain_open_failure

            explained = explain_open_failure(self.path, err)
            if explained is not None:
                _log.error("inference log: %s; segment %s waits in the spool", explained, segment)
            else:
                _log.exception("inference log: appending spool segment %s to %s failed; "
                               "will retry", segment, self.path)
            return False
        if gaps:
            self._set_aside(segment, gaps)
        else:
            self.spool.done(segment)
        if data is not None:
            self.rows_written += data.num_rows
            self.commits += 1
            elapsed = max(time.monotonic() - t0, 1e-3)
            rate = size / elapsed
            self._bytes_per_second = (rate if not self._bytes_per_second
                                      else 0.8 * self._bytes_per_second + 0.2 * rate)
            if self.maintain_every and self.commits % self.maintain_every == 0:
                self.maintain()
        return True

    def _set_aside(self, segment: Path, gaps: list[Gap]) -> None:
        """Count what could not be read, keep the segment in quarantine, say so."""
        skipped = sum(g.frames for g in gaps)
        self.skipped_frames += skipped
        kept = self.spool.quarantine(segment)
        torn = len(gaps) == 1 and gaps[0].at_end
        _log.warning(
            "inference log: skipped %d unreadable frame(s) (%d bytes at offset %s) of spool "
            "segment %s, %s; its whole frames are in %s and the segment is kept in %s",
            skipped, sum(g.length for g in gaps), ", ".join(str(g.offset) for g in gaps),
            segment, "a frame cut short by a crash (never answered)" if torn
            else "damaged on disk", self.path, kept)

    def _segment_to_arrow(self, segment: Path):
        """The segment's rows as one Arrow table (built request by request), and its gaps."""
        import pyarrow as pa

        parts, gaps = [], []
        for item in read_segment(segment, self.legacy_columns):
            if isinstance(item, Gap):
                gaps.append(item)
                continue
            part = self._to_arrow([item])
            if part.num_rows:
                parts.append(part)
        if not parts:
            return None, gaps
        return (pa.concat_tables(parts) if len(parts) > 1 else parts[0]), gaps

    def _to_arrow(self, batch: list[LoggedRequest]):
        return requests_to_arrow(batch, extra_columns=self.extra_columns, constants={
            "model_name": self.model_name, "model_version": self.model_version,
            "model_alias": self.model_alias})

    def _table(self):
        """The log's table with its kept delta-rs handle (the one door's appender)."""
        if self._kept is None:
            from mlops_kit.tables.delta_rs import KeptTable

            self._kept = KeptTable(self.path, self.table_properties)
        return self._kept

    def _append(self, data, app_id: str = "", seq: int = -1) -> None:
        """One append commit (with the spool's application transaction).

        A kept handle gets slower and bigger with every commit unless
        :meth:`maintain` reopens it, so without maintenance delta-rs's own
        checkpoint hooks run and the table is opened afresh each time.
        """
        self._table().append(data, app_id, seq, deferred_upkeep=bool(self.maintain_every))

    def maintain(self) -> None:
        """Compact small files, checkpoint, drop expired commit and data files; reopen.

        Runs on the writer thread every ``maintain_every`` commits (rows wait
        in the spool meanwhile). A failure is logged and the next maintenance
        tries again; appends go on either way.
        """
        try:
            if not self._table().maintain(self.compact_target_bytes):
                return
        except Exception:  # noqa: BLE001 - upkeep must never stop the log
            _log.exception("inference log: maintenance of %s failed; will retry", self.path)
            return
        self.maintenances += 1

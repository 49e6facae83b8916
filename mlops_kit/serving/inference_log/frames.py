"""The spool's frame format: one answered request per frame, checked on the way back.

A spool segment is frames back to back, nothing else (no file header)::

    offset  size  field
    0       4     magic b"MKS1": a frame starts here, format version 1
    4       4     payload length n, unsigned little-endian
    8       4     CRC-32 (zlib.crc32) of the payload, unsigned little-endian
    12      n     payload: one JSON object (orjson)

    payload keys  i  request id        t  arrival time, seconds since the epoch
                  n  rows              c  input columns {name: [value per row]}
                  p  predictions       l  latency in ms      s  HTTP status
                  k  per-request columns of the table ({"deployment": ...}; may be absent)
                  x  older frames only: the rollout log's extras as a list,
                     (deployment, model_version, shadow)

A frame is *whole* when its magic, its length (the payload fits in the file)
and its checksum hold. :func:`scan_frames` yields each whole frame and, for
bytes that are not, a :class:`Gap`: it then looks for the next magic whose
frame is whole and goes on from there, so one damaged frame costs that frame
only. A gap at the very end of a segment is a frame cut short by a kill
mid-write (its request was never answered); a gap followed by whole frames is
damage. The magic doubles as the format version: a later format gets its own
magic, and this reader keeps reading ``MKS1`` segments left by older versions.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

__all__ = ["MAGIC", "HEADER", "Gap", "LoggedRequest", "SpooledInput", "count_frames",
           "decode_request", "encode_request", "read_segment", "scan_frames"]

MAGIC = b"MKS1"
#: magic, payload length, CRC-32 of the payload
HEADER = struct.Struct("<4sII")


@dataclass(frozen=True)
class Gap:
    """Bytes of a segment that are no whole frame: ``frames`` requests (at least one) lost."""

    offset: int
    length: int
    frames: int
    at_end: bool  # nothing whole after it: a frame torn by a kill mid-write


class SpooledInput:
    """The columns of a request read back from the spool (``records()`` like ParsedInput)."""

    __slots__ = ("columns", "n_rows")

    def __init__(self, columns: dict[str, list], n_rows: int) -> None:
        self.columns = columns
        self.n_rows = n_rows

    def records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [dict(zip(names, row)) for row in zip(*self.columns.values())]


@dataclass(frozen=True)
class LoggedRequest:
    """One answered request as the log keeps it.

    ``inputs`` has ``columns``, ``n_rows`` and ``records()`` (a ParsedInput or
    a :class:`SpooledInput`); ``columns`` holds values of table columns that
    vary by request (a routed endpoint's ``deployment``, ``model_version``).
    """

    request_id: str
    timestamp: float
    inputs: Any
    predictions: Any
    latency_ms: float
    status: int = 200
    columns: Mapping[str, Any] = field(default_factory=dict)


def _json_default(value: Any) -> Any:
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a DataFrame
        return value.to_dict(orient="records")
    if hasattr(value, "tolist"):  # numpy arrays of objects, numpy scalars, Series
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to the inference log")


def encode_request(request: LoggedRequest | tuple) -> bytes:
    """One frame: header + JSON payload (a tuple is read as LoggedRequest's fields)."""
    import orjson

    if not isinstance(request, LoggedRequest):
        request = LoggedRequest(*request)
    body = {"i": request.request_id, "t": request.timestamp, "n": request.inputs.n_rows,
            "c": request.inputs.columns, "p": request.predictions, "l": request.latency_ms,
            "s": request.status}
    if request.columns:
        body["k"] = dict(request.columns)
    payload = orjson.dumps(body, default=_json_default,
                           option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode_request(payload: bytes, legacy_columns: Sequence[str] = ()) -> LoggedRequest:
    """The request of a whole frame's payload; ``legacy_columns`` names an old frame's ``x``."""
    import orjson

    r = orjson.loads(payload)
    columns = dict(r.get("k") or {})
    for name, value in zip(legacy_columns, r.get("x") or ()):
        columns.setdefault(name, value)
    return LoggedRequest(r["i"], r["t"], SpooledInput(r["c"], r["n"]), r["p"], r["l"], r["s"],
                         columns)


def _whole_frame(data: bytes, offset: int) -> int:
    """The payload length of the whole frame at ``offset``, or -1."""
    if offset + HEADER.size > len(data):
        return -1
    magic, length, crc = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    if magic != MAGIC or start + length > len(data):
        return -1
    return length if zlib.crc32(memoryview(data)[start:start + length]) == crc else -1


def scan_frames(data: bytes) -> Iterator[tuple[int, memoryview] | Gap]:
    """``(offset, payload)`` of each whole frame in order, and a :class:`Gap` for what is not."""
    view, offset = memoryview(data), 0
    while offset < len(data):
        length = _whole_frame(data, offset)
        if length >= 0:
            yield offset, view[offset + HEADER.size: offset + HEADER.size + length]
            offset += HEADER.size + length
            continue
        resume = data.find(MAGIC, offset + 1)
        while resume != -1 and _whole_frame(data, resume) < 0:
            resume = data.find(MAGIC, resume + 1)
        end = len(data) if resume == -1 else resume
        yield Gap(offset, end - offset, max(1, data.count(MAGIC, offset, end)), resume == -1)
        offset = end


def count_frames(data: bytes) -> int:
    """Whole frames in a segment's bytes."""
    return sum(1 for item in scan_frames(data) if not isinstance(item, Gap))


def read_segment(path: Path, legacy_columns: Sequence[str] = ()) -> Iterator[LoggedRequest | Gap]:
    """The requests of a segment file, in order, with a :class:`Gap` where bytes are unreadable."""
    for item in scan_frames(Path(path).read_bytes()):
        yield item if isinstance(item, Gap) else decode_request(item[1], legacy_columns)

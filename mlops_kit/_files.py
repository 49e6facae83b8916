"""Files written whole or not at all.

A reader of a progress file, a grade sheet or a collected notebook must never
see half of one, and a crash mid-write must leave the previous file in place:
the bytes go to a temporary file beside the target, are flushed to disk, and
the temporary file then replaces the target in one ``rename``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: str | Path, data: bytes | str, *, mode: int | None = None) -> Path:
    """Replace ``path`` with ``data`` in one step; ``mode`` (e.g. ``0o600``) is set
    before any byte is written, so a private file is never readable by others."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

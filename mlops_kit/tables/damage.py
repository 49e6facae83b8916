"""Which file of a Delta table's transaction log is damaged, when an engine cannot open it.

delta-rs reports a truncated commit file as ``Kernel error: Json error: ...``
followed by a Rust backtrace, and names neither the table nor the file. This
module reads the ``_delta_log`` folder itself (JSON lines, Parquet footers; no
engine) and turns such a failure into one line: the table, the file, what is
wrong with it, and the fix.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mlops_kit.exceptions import DataError

__all__ = ["damaged_log_file", "explain_open_failure"]

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


def _json_lines_problem(path: Path) -> str | None:
    text = path.read_bytes()
    if not text.strip():
        return "is empty"
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                return f"has a line ({n}) that is not whole JSON: cut short or overwritten"
    return None


def damaged_log_file(path: str | os.PathLike[str]) -> tuple[Path, str] | None:
    """The first damaged file an engine reads to open the table at ``path``, and what is wrong.

    Looks at ``_last_checkpoint``, the checkpoint it names and every commit
    file after it (then, if those are sound, at the older ones); ``None``
    when every file reads.
    """
    log = Path(path) / "_delta_log"
    if not log.is_dir():
        return None
    since = -1
    last = log / "_last_checkpoint"
    if last.exists():
        try:
            since = int(json.loads(last.read_text())["version"])
        except (ValueError, KeyError, TypeError):
            return last, "is not the JSON object Delta writes there"
    files = sorted(log.iterdir())
    commits = [(int(m.group(1)), p) for p in files if (m := _COMMIT.fullmatch(p.name))]
    checkpoints = [(int(m.group(1)), p) for p in files if (m := _CHECKPOINT.fullmatch(p.name))]
    for version, file in checkpoints:
        if version == since:
            import pyarrow.parquet as pq

            try:
                pq.ParquetFile(file).metadata
            except Exception:  # noqa: BLE001 - any reason it does not read is the answer
                return file, "is not a readable Parquet file"
    recent = [(v, p) for v, p in commits if v > since]
    older = [(v, p) for v, p in commits if v <= since]
    for _, file in recent + older:
        problem = _json_lines_problem(file)
        if problem:
            return file, problem
    return None


def explain_open_failure(path: str | os.PathLike[str], err: BaseException) -> DataError | None:
    """A one-line :class:`DataError` naming the table and its damaged file, or None if none is."""
    found = damaged_log_file(path)
    if found is None:
        return None
    file, problem = found
    said = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return DataError(
        f"The Delta table at {os.fspath(path)} cannot be opened: its log file {file.name} "
        f"({file}) {problem} (delta-rs: {said}). Restore that file from a backup, or move "
        "the table folder aside so a new table starts."
    )

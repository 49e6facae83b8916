"""Secrets of the workspace's servers: made at random, kept in files only their owner reads.

The Spark Connect server's token and the MLflow server's passwords live in the
workspace root, each in a file created with mode 0600 (never a moment with a
wider mode: the file is made 0600 and then renamed into place, so a reader
sees the old secret or the new one, never half of one). They reach the
servers through the servers' environment (``/proc/<pid>/environ`` is readable
by the same user only), never through a command line that ``ps`` shows to
every user of the machine.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

__all__ = ["new_secret", "write_private", "read_private", "read_private_json",
           "write_private_json", "redact_token", "PRIVATE_MODE"]

#: owner may read and write, nobody else anything
PRIVATE_MODE = 0o600


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret, URL-safe (letters, digits, ``-`` and ``_``)."""
    return secrets.token_urlsafe(nbytes)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, the file readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def read_private(path: Path) -> str | None:
    """The secret at ``path`` (stripped), or None when there is no such file."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_private_json(path: Path, data: dict) -> None:
    write_private(path, json.dumps(data, indent=1))


def read_private_json(path: Path) -> dict | None:
    text = read_private(path)
    return None if text is None else json.loads(text)


_TOKEN_PARAM = re.compile(r"(;\s*token=)[^;]*", re.IGNORECASE)


def redact_token(url: str) -> str:
    """A Spark Connect URL with its ``token`` parameter shown as ``***``."""
    return _TOKEN_PARAM.sub(r"\1***", url)

"""The log's table columns and properties, its knobs, and delta-rs's allocator setting."""
from __future__ import annotations

import os

from mlops_kit.exceptions import ConfigError

__all__ = ["LOG_COLUMNS", "LOG_TABLE_PROPERTIES", "DELTA_ALLOCATOR_CONF", "FSYNC_POLICIES",
           "DEFAULT_MAX_PENDING_BYTES", "DEFAULT_MAX_PENDING_REQUESTS", "env_number",
           "tame_delta_allocator"]

LOG_COLUMNS: tuple[str, ...] = (
    "request_id", "row_index", "timestamp", "model_name", "model_version", "model_alias",
    "inputs", "prediction", "latency_ms", "status",
)

#: Delta properties of a log table. Commit files older than the log retention are
#: deleted at each maintenance, which bounds the ``_delta_log`` folder every commit
#: lists; files compacted away drop out of checkpoints after the deleted-file
#: retention, which bounds what each checkpoint rewrites (Delta's defaults, 30 and
#: 7 days, let both grow with every commit for weeks)
LOG_TABLE_PROPERTIES: dict[str, str] = {
    "delta.logRetentionDuration": "interval 5 minutes",
    "delta.deletedFileRetentionDuration": "interval 1 hour",
}

#: jemalloc options for delta-rs in a long-running writer (:func:`tame_delta_allocator`)
DELTA_ALLOCATOR_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"

#: ``"write"``: os.write before the answer (survives any death of the process);
#: ``"always"``: also fsync before the answer (survives a kernel crash or power cut)
FSYNC_POLICIES: tuple[str, ...] = ("write", "always")

#: defaults of the backlog bound (``$MLOPS_KIT_SERVING_LOG_MAX_PENDING_BYTES`` /
#: ``..._REQUESTS``) and of the fsync policy (``$MLOPS_KIT_SERVING_LOG_FSYNC``)
DEFAULT_MAX_PENDING_BYTES = 64 << 20
DEFAULT_MAX_PENDING_REQUESTS = 5000


def env_number(name: str, default: int) -> int:
    """A positive whole number from ``$name``, or ``default`` when unset."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"{name} must be a positive whole number. Got {value!r}.")
    return int(value)


def tame_delta_allocator() -> None:
    """Make delta-rs hand freed memory back to the OS at once; call before importing deltalake.

    delta-rs allocates through its own jemalloc, which keeps freed pages in
    per-thread arenas for reuse and purges an arena only when it is used
    again. Compaction and checkpoints run on whichever runtime thread is free,
    so arenas that held one maintenance's buffers can sit full while their
    thread idles: a writer that appended and compacted 8000 commits (about an
    hour of steady traffic) grew from 225 to 266 MiB, none of it reachable,
    and with these options stayed at 194-200 MiB, for slightly more CPU on the
    writer thread (within the noise of a shared machine). jemalloc reads
    ``$_RJEM_MALLOC_CONF`` once, when delta-rs first allocates; a value
    already set is left alone.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", DELTA_ALLOCATOR_CONF)

"""The inference log: every answered request's rows appended to a Delta table.

Durability first: before ``/invocations`` answers 200, the request is one
whole frame in a local *write-ahead spool* (``ws.spool_path(table)``), written
with ``os.write`` (and ``fsync`` when ``fsync="always"``); a write that fails
raises, and the endpoint answers 503 instead. A background thread seals the
open segment every ``flush_seconds`` (or at ``segment_bytes``), appends its
rows to the Delta table with delta-rs (one commit per segment, no JVM) and
deletes the segment only after that commit. Each commit carries a Delta
*application transaction* ``(spool lane, segment number)``, so a segment whose
commit landed but whose file survived is skipped: every request id lands
exactly once. Segments left by a process that died are replayed first. See
docs/RELIABILITY.md ("The inference log's spool") for the guarantee, the
failure handling and its limits.

The parts, each checked by its tests:

- :mod:`.frames`   the frame format (documented there, once), its encoder and
  its reader, which skips a damaged frame and reads on;
- :mod:`.spool`    lanes, locks and segments, and what a failed write leaves
  behind (truncated back to the last whole frame);
- :mod:`.writer`   :class:`InferenceLog`: the request side, the backlog bound
  (503 with ``Retry-After`` past ``max_pending_bytes`` / ``..._requests``),
  the writer thread, the commits, quarantine of unreadable segments, upkeep;
- :mod:`.rows`     requests as Arrow rows; :mod:`.rollout` the routed log;
- :mod:`.reader`   :func:`read_inference_log`, for monitoring;
- :mod:`.settings` columns, table properties, knobs, :func:`tame_delta_allocator`.

Upkeep: the writer appends through one kept handle
(:class:`mlops_kit.tables.delta_rs.KeptTable`, no reload per commit), and
every ``maintain_every`` commits it compacts the small files (into files of at
most ``compact_target_bytes``), writes a checkpoint, deletes commit files older
than ``delta.logRetentionDuration`` (:data:`LOG_TABLE_PROPERTIES`) and vacuums
files compacted away once ``delta.deletedFileRetentionDuration`` has passed;
the rows themselves are never deleted.

One row per scored row (a batch request of 10 rows gives 10 rows sharing a
``request_id``), so monitoring reads features and predictions with
``from_json`` without exploding arrays:

================  ==========================  ==================================
column            type                        content
================  ==========================  ==================================
request_id        string                      ``X-Request-Id`` (given or generated)
row_index         int32                       position of the row in the request
timestamp         timestamp (UTC)             when the request arrived
model_name        string                      registered model
model_version     string                      version that answered
model_alias       string                      alias it was served by (or null)
inputs            string                      the row's features as a JSON object
prediction        string                      the row's prediction as JSON
latency_ms        double                      server time of the whole request
status            int32                       HTTP status (200)
================  ==========================  ==================================
"""
from mlops_kit.serving.inference_log.frames import (LoggedRequest, SpooledInput, encode_request,
                                                    read_segment)
from mlops_kit.serving.inference_log.reader import read_inference_log
from mlops_kit.serving.inference_log.rollout import RolloutLog
from mlops_kit.serving.inference_log.settings import (DEFAULT_MAX_PENDING_BYTES,
                                                      DEFAULT_MAX_PENDING_REQUESTS,
                                                      DELTA_ALLOCATOR_CONF, FSYNC_POLICIES,
                                                      LOG_COLUMNS, LOG_TABLE_PROPERTIES,
                                                      tame_delta_allocator)
from mlops_kit.serving.inference_log.spool import Spool
from mlops_kit.serving.inference_log.writer import InferenceLog

__all__ = ["InferenceLog", "RolloutLog", "Spool", "LOG_COLUMNS", "LOG_TABLE_PROPERTIES",
           "DELTA_ALLOCATOR_CONF", "DEFAULT_MAX_PENDING_BYTES", "DEFAULT_MAX_PENDING_REQUESTS",
           "FSYNC_POLICIES", "LoggedRequest", "SpooledInput", "encode_request", "read_segment",
           "read_inference_log", "tame_delta_allocator"]

"""The routed endpoint's log: each row also says which deployment answered, and if in shadow."""
from __future__ import annotations

from typing import Any, ClassVar

from mlops_kit.serving.inference_log.writer import InferenceLog

__all__ = ["RolloutLog"]


class RolloutLog(InferenceLog):
    """The inference log with per-row ``deployment``, ``model_version`` and ``shadow``.

    Its table has the columns of :data:`LOG_COLUMNS` (``model_version`` the
    version of the deployment that answered) and then ``deployment`` (string)
    and ``shadow`` (bool).
    """

    extra_columns: ClassVar[dict[str, tuple[str, Any]]] = {
        "deployment": ("string", ""), "shadow": ("bool", False)}
    legacy_columns: ClassVar[tuple[str, ...]] = ("deployment", "model_version", "shadow")

    def record_routed(self, request_id: str, timestamp: float, inputs: Any, predictions: Any,
                      latency_ms: float, *, deployment: str, model_version: str,
                      shadow: bool, status: int = 200) -> None:
        """Spool one request answered by ``deployment`` (live, or a shadow's copy)."""
        self.record(request_id, timestamp, inputs, predictions, latency_ms, status,
                    columns={"deployment": deployment, "model_version": model_version,
                             "shadow": shadow})

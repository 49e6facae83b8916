"""Model metadata (``ModelInfo``) for registry URIs, read once per model version.

Why: ``mlflow.models.get_model_info("models:/name@alias")`` asks the registry
three times and downloads and parses the MLmodel file, 10-20 ms each call. A
batch job that scores a table every few seconds (or a stream, per micro-batch
plan) would pay that every time for metadata that cannot change: a model
version's artifacts are immutable. Here one registry query resolves the URI
to its version (so an alias that moved is seen at once), and the metadata is
cached under that version's identity.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit._cache import LRUCache
from mlops_kit.exceptions import ConfigError
from mlops_kit.registry.reference import URI_PREFIX, ModelReference

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.models.model import ModelInfo

__all__ = ["model_info"]

_INFOS: LRUCache["ModelInfo"] = LRUCache(32)


def model_info(model_uri: str) -> "ModelInfo":
    """``get_model_info(model_uri)``, cached per registered model version.

    ``models:/<name>/<version>`` and ``models:/<name>@<alias>`` are resolved
    with one registry query and cached under (registry, name, version,
    creation time), so a version deleted and registered again is not confused
    with the old one. Any other URI is read every time.
    """
    import mlflow
    from mlflow.models import get_model_info

    ref = _registry_reference(model_uri)
    if ref is None:
        return get_model_info(model_uri)
    version = ref.resolve()
    key = (mlflow.get_registry_uri(), ref.name, str(version.version), version.creation_timestamp)
    return _INFOS.get(key, lambda: get_model_info(ref.at_version(version.version).as_uri()))


def _registry_reference(model_uri: str) -> ModelReference | None:
    """The registered model version a ``models:/`` URI names; None for any other URI
    (``runs:/``, a logged model's ``models:/m-...``), which MLflow reads itself."""
    if not model_uri.startswith(URI_PREFIX):
        return None
    try:
        return ModelReference.parse(model_uri)
    except ConfigError:
        return None

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

import re
from typing import TYPE_CHECKING

from mlops_kit._cache import LRUCache

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.models.model import ModelInfo

__all__ = ["model_info"]

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))/?$")
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

    match = _REGISTRY_URI.match(model_uri)
    if match is None:
        return get_model_info(model_uri)
    client = mlflow.MlflowClient()
    name = match["name"]
    if match["alias"]:
        version = client.get_model_version_by_alias(name, match["alias"])
    else:
        version = client.get_model_version(name, match["version"])
    key = (mlflow.get_registry_uri(), name, str(version.version), version.creation_timestamp)
    return _INFOS.get(key, lambda: get_model_info(f"models:/{name}/{version.version}"))

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
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mlops_kit._cache import LRUCache
from mlops_kit.exceptions import ConfigError
from mlops_kit.registry.reference import URI_PREFIX, ModelReference

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.models.model import ModelInfo

__all__ = ["model_info", "pinned_uri"]

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


def pinned_uri(model_uri: str) -> str:
    """Where the version ``model_uri`` names *now* is stored, as a URI MLflow loads.

    Why: a batch job should score the whole table with one version, and the
    URI it hands to Spark should keep meaning that version. ``models:/price@champion``
    does not: the alias may move while the job runs, and over Spark Connect
    MLflow's ``spark_udf`` caches a loaded model in the server's long-lived
    Python workers under the *text* of its URI, so a later job asking for the
    same alias would be scored by the old model. A version's storage address
    (a folder of the workspace's artifact store, ``.../models/m-<id>/artifacts``,
    or ``mlflow-artifacts:/...`` on a tracking server) is unique and its
    content never changes.

    Registry URIs (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``) are resolved
    with one registry query; any other URI (``runs:/``, ``models:/m-<id>``, a
    path) already names one immutable model and comes back unchanged.

    Raises
    ------
    NotFoundError
        No such registered model, alias or version.
    """
    import mlflow

    ref = _registry_reference(model_uri)
    if ref is None:
        return model_uri
    version = ref.resolve()
    location = mlflow.MlflowClient().get_model_version_download_uri(ref.name, version.version)
    # a local store's file:// URI as a plain path: mlflow.models.get_model_info
    # cannot read a file:// URI (it checks the URI text for existence), every loader reads a path
    parts = urlsplit(location)
    return url2pathname(parts.path) if parts.scheme == "file" else location

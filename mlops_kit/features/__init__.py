"""Delta-backed feature store with the Databricks feature engineering client's shape.

- :mod:`~mlops_kit.features.client`: :class:`FeatureStoreClient` (tables, writes, reads)
- :mod:`~mlops_kit.features.types`: :class:`FeatureLookup`, :class:`TrainingSet` (shared types)
- :mod:`~mlops_kit.features.lookup`: point-in-time joins of lookups
- :mod:`~mlops_kit.features.packaging`: ``log_model`` with a feature spec, ``score_batch``
- :mod:`~mlops_kit.features.online`: online stores (SQLite default, Redis optional)
- :mod:`~mlops_kit.features.metadata`: table metadata and lineage

Importing this package loads neither Spark nor MLflow.
"""
from mlops_kit.features.client import FeatureStoreClient
from mlops_kit.features.types import FeatureLookup, TrainingSet
from mlops_kit.features.metadata import FeatureTable
from mlops_kit.features.online import OnlineStore, RedisOnlineStore, SqliteOnlineStore

__all__ = [
    "FeatureStoreClient",
    "FeatureLookup",
    "TrainingSet",
    "FeatureTable",
    "OnlineStore",
    "SqliteOnlineStore",
    "RedisOnlineStore",
]

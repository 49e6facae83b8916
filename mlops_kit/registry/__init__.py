"""Model management: promotion by aliases, validation checks, the MLflow
tracking-server process and the webhook receiver.

Submodules load on demand (``from mlops_kit.registry.promotion import promote``)
so importing this package costs nothing.
"""

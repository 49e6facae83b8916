"""The real-time serving endpoint: one registered model behind a REST API.

- :class:`Endpoint` starts and stops it in a background process;
- :func:`~mlops_kit.serving.app.create_app` builds the FastAPI app
  (``/invocations``, ``/ping``, ``/health``, ``/version``, ``/metrics``);
- :func:`~mlops_kit.serving.server.serve` runs it in the foreground
  (``mlops-kit serve``);
- :mod:`.router` and :mod:`.routed`: several deployments behind one endpoint,
  routed by a config file that :mod:`mlops_kit.rollout` writes;
- :mod:`.schema`, :mod:`.bodies`, :mod:`.model_loader`, :mod:`.inference_log`,
  :mod:`.metrics`, :mod:`.auth`, :mod:`.features`: one concern each.

The serving process never imports pyspark: features come from the online
store and the inference log is written with delta-rs.
"""
from mlops_kit.serving.process import Endpoint, MlflowServe, free_port

__all__ = ["Endpoint", "MlflowServe", "free_port"]

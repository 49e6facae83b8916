"""Run the endpoint in this process with uvicorn: one worker, loopback by default.

One worker per process on purpose: uvicorn with more than one worker loses
TCP_NODELAY and adds ~40 ms to every keep-alive request. Scale out with more
processes on more ports behind a proxy instead.

Shutdown: uvicorn catches SIGTERM and SIGINT, stops accepting, lets in-flight
requests finish, then runs the app's shutdown, which writes the inference log's
spool to its table (what does not fit in the grace period stays in the spool
and is written by the next start). Only then does the process exit.

``mlops-kit serve --model NAME@ALIAS --port 5001`` (or ``python -m
mlops_kit.serving`` with the same options, see :mod:`mlops_kit.serving.command`)
runs this; the token comes from ``$MLOPS_KIT_SERVING_TOKEN`` so it never shows
in ``ps``.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import sys
from typing import TYPE_CHECKING

from mlops_kit.exceptions import ConfigError
from mlops_kit.serving.auth import validate_token

if TYPE_CHECKING:  # pragma: no cover
    from mlops_kit.registry.reference import ModelReference

__all__ = ["build_app", "serve", "uvicorn_config", "check_host", "block_pyspark"]

#: HTTP parser and event loop; "auto" picks httptools/uvloop when installed
HTTP_IMPL = os.environ.get("MLOPS_KIT_SERVING_HTTP", "auto")
LOOP_IMPL = os.environ.get("MLOPS_KIT_SERVING_LOOP", "auto")


def check_host(host: str, *, token: str | None, allow_remote: bool) -> None:
    """Refuse to listen beyond loopback unless asked to AND protected by a token."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return
    if not allow_remote or not token:
        raise ConfigError(
            f"Binding the endpoint to {host!r} exposes the model beyond this machine. "
            "Pass --allow-remote AND --token (or $MLOPS_KIT_SERVING_TOKEN), or bind "
            "127.0.0.1."
        )


def build_app(model: "str | ModelReference", *, token: str | None = None,
              max_body_bytes: int | None = None, log_table: str | None = "inference_log",
              fast_path: bool = True):
    """Load ``model`` from the workspace's registry and build its app.

    ``model`` is read by :meth:`~mlops_kit.registry.reference.ModelReference.parse`;
    a short name is expanded in the workspace of the environment variables.
    """
    from mlops_kit.serving.app import DEFAULT_MAX_BODY_BYTES, create_app
    from mlops_kit.serving.features import feature_filler_for
    from mlops_kit.serving.inference_log import InferenceLog
    from mlops_kit.serving.model_loader import load_served_model
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env().activate()
    served = load_served_model(model, fast_path=fast_path, workspace=ws)
    log = None
    if log_table:
        log = InferenceLog(ws.table_path(log_table), model_name=served.name,
                           model_version=served.version, model_alias=served.alias,
                           spool_dir=ws.spool_path(log_table))
        log.open()  # a damaged table or spool stops the start here, in one line
    return create_app(
        served,
        token=validate_token(token),
        max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
        inference_log=log,
        feature_filler=feature_filler_for(served, ws),
    )


def uvicorn_config(app, *, host: str, port: int):
    """How every endpoint process runs uvicorn: one worker, quiet, with deadlines.

    The HTTP protocol is uvicorn's own plus a header timeout
    (:mod:`.protocol`, ``$MLOPS_KIT_SERVING_HEADER_TIMEOUT``): without it a
    client that stalls inside its request headers holds a connection forever.
    """
    import uvicorn

    from mlops_kit.serving.protocol import header_timeout_protocol

    return uvicorn.Config(
        app, host=host, port=port, workers=1, http=header_timeout_protocol(HTTP_IMPL),
        loop=LOOP_IMPL, access_log=False, log_level="warning", lifespan="on",
        timeout_graceful_shutdown=30, server_header=False,
    )


def _clean_exit_server_class():
    import uvicorn

    class CleanExitServer(uvicorn.Server):
        """Exit 0 after a graceful shutdown on SIGTERM/SIGINT.

        uvicorn re-raises the signal once it has shut down, so the process
        dies "killed by SIGTERM" even though it drained and flushed; a
        supervisor (or a test) then cannot tell a clean stop from a crash.
        """

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            getattr(self, "_captured_signals", []).clear()

    return CleanExitServer


def serve(model: "str | ModelReference", *, host: str = "127.0.0.1", port: int = 5001,
          token: str | None = None, allow_remote: bool = False,
          max_body_bytes: int | None = None, log_table: str | None = "inference_log",
          fast_path: bool = True) -> None:
    """Load the model and serve it until SIGTERM/SIGINT (blocking)."""
    from mlops_kit.serving.inference_log import tame_delta_allocator

    tame_delta_allocator()  # before anything loads delta-rs
    check_host(host, token=token, allow_remote=allow_remote)
    app = build_app(model, token=token, max_body_bytes=max_body_bytes,
                    log_table=log_table, fast_path=fast_path)
    server = _clean_exit_server_class()(uvicorn_config(app, host=host, port=port))
    logging.getLogger("mlops_kit.serving").info(
        "serving %s on http://%s:%d", model, host, port)
    print(f"mlops-kit endpoint: {model} on http://{host}:{port}", flush=True)
    server.run()


class _NoPyspark:
    """Import hook: ``import pyspark`` fails in the serving process.

    MLflow's type module probes ``import pyspark`` at import time; in the
    endpoint that would load 100+ modules it never uses (no JVM starts, but
    memory and start-up pay). Refusing the import makes MLflow take its
    no-Spark branch.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "pyspark" or name.startswith(("pyspark.", "py4j")):
            raise ModuleNotFoundError(f"No module named {name!r} (not in the endpoint)",
                                      name=name)
        return None


def block_pyspark() -> None:
    """Make ``import pyspark`` fail in this process (the endpoint needs no JVM)."""
    if not any(isinstance(f, _NoPyspark) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPyspark())

"""The serve command: serve a registered model over REST in the foreground.

The only way to start the endpoint from a command line. It lives in
``serving`` so that ``python -m mlops_kit.serving`` (what
:class:`~mlops_kit.serving.Endpoint` starts) runs it through :func:`main`
without importing :mod:`mlops_kit.cli`; ``mlops-kit serve`` is the same
command, registered by :mod:`mlops_kit.cli.serve`.
"""
from __future__ import annotations

import sys
from typing import Sequence

import click

from mlops_kit.serving.auth import TOKEN_ENV

#: the name ``python -m mlops_kit.serving`` shows in its usage line
MODULE_PROG = "python -m mlops_kit.serving"


@click.command("serve")
@click.option("--model", "model", required=True, metavar="MODEL",
              help="models:/NAME@ALIAS or models:/NAME/VERSION: that registered model, as "
                   "`mlflow models serve -m` reads it. NAME@ALIAS or NAME/VERSION: a short "
                   "NAME ('price') means <env>.<user>.price.")
@click.option("--port", type=int, default=5001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind; anything but loopback needs --allow-remote and a token.")
@click.option("--token", envvar=TOKEN_ENV, default=None, show_envvar=True,
              help="Require 'Authorization: Bearer <token>' (prefer the env var: "
                   "options show up in ps).")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option("--max-body-bytes", type=int, default=None, help="Body limit (413 above).")
@click.option("--log-table", default="inference_log", show_default=True,
              help="Delta table of the inference log; '' to disable.")
@click.option("--no-fast-path", is_flag=True,
              help="Always score through PyFuncModel.predict (to compare with the fast path).")
def command(model: str, port: int, host: str, token: str | None, allow_remote: bool,
            max_body_bytes: int | None, log_table: str, no_fast_path: bool) -> None:
    """Serve MODEL with MLflow-compatible /invocations until Ctrl-C."""
    import logging

    from mlops_kit.registry.reference import ModelReference
    from mlops_kit.serving.server import block_pyspark, check_host, serve

    check_host(host, token=token, allow_remote=allow_remote)
    reference = ModelReference.parse(model)  # a bad --model fails before anything loads
    block_pyspark()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    serve(reference, host=host, port=port, token=token, allow_remote=allow_remote,
          max_body_bytes=max_body_bytes, log_table=log_table or None,
          fast_path=not no_fast_path)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mlops_kit.serving``: :func:`command` with the CLI's error handling."""
    from mlops_kit._exit import exit_on_kit_error

    with exit_on_kit_error():
        command.main(args=list(sys.argv[1:] if argv is None else argv), prog_name=MODULE_PROG)

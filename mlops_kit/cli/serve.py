"""``mlops-kit serve``: serve a registered model over REST in the foreground."""
from __future__ import annotations

import click

from mlops_kit.serving.auth import TOKEN_ENV


@click.command("serve")
@click.option("--model", "model", required=True, metavar="NAME@ALIAS",
              help="Registered model: NAME@ALIAS or NAME/VERSION (NAME may be short: "
                   "'price' means <env>.<user>.price).")
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
def command(model: str, port: int, host: str, token: str | None, allow_remote: bool,
            max_body_bytes: int | None, log_table: str) -> None:
    """Serve MODEL with MLflow-compatible /invocations until Ctrl-C."""
    from mlops_kit.serving.model_loader import parse_model_uri
    from mlops_kit.serving.server import block_pyspark, check_host, serve
    from mlops_kit.workspace import get_workspace

    check_host(host, token=token, allow_remote=allow_remote)
    name, alias, version = parse_model_uri(model)
    if "." not in name:
        name = get_workspace().model_name(name)
    full = f"{name}@{alias}" if alias else f"{name}/{version}"
    block_pyspark()
    serve(full, host=host, port=port, token=token, allow_remote=allow_remote,
          max_body_bytes=max_body_bytes, log_table=log_table or None)

"""``mlops-kit setup``: workspace folders, Delta jars, course datasets."""
from __future__ import annotations

import click

from mlops_kit.workspace import ENVS


@click.command("setup")
@click.option("--env", default=None, metavar="|".join(ENVS),
              help="Environment to prepare (default: $MLOPS_KIT_ENV or dev).")
@click.option("--force", is_flag=True, help="Rewrite the datasets even if they exist.")
@click.option("--no-data", is_flag=True, help="Only folders and jars; no datasets (no Spark).")
def command(env: str | None, force: bool, no_data: bool) -> None:
    """Prepare the workspace: folders, Delta jars in ~/.m2, the course's Delta tables."""
    from mlops_kit.java import delta_version, ensure_delta_jars
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env(env).activate()
    click.echo(f"workspace: {ws.env_dir} (MLflow: {ws.tracking_uri})")
    jars = ensure_delta_jars()
    if jars:
        click.echo(f"delta jars: {', '.join(str(j) for j in jars)}")
    else:
        click.echo(f"delta jars: no mvn; Spark will fetch delta-spark {delta_version()} on first start")
    if no_data:
        return
    from mlops_kit.cli.spark import shared_spark_for_run
    from mlops_kit.datasets import install
    from mlops_kit.spark import stop_spark

    # Writing the tables needs Spark; a server started only for that is stopped
    # after, so setup leaves no JVM behind (the first notebook starts it again).
    with shared_spark_for_run(start_now=False, say_stopped=click.echo):
        try:
            tables = install(ws, force=force)
        finally:
            stop_spark()
    for name, row in tables.iterrows():
        state = "written" if row["written"] else "kept"
        click.echo(f"table {name}: {row['rows']} rows, version {row['version']} ({state})")

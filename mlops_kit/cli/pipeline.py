"""``mlops-kit pipeline``: run named pipelines of job notebooks (cron, CI, by hand)."""
from __future__ import annotations

import sys

import click

from mlops_kit.workspace import ENVS


@click.group("pipeline")
def command() -> None:
    """Run named pipelines: ordered job notebooks, stop at the first failure."""


@command.command("run")
@click.argument("name")
@click.option("-p", "--parameter", "parameters", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Set a parameter on every step whose notebook declares it.")
@click.option("--env", default=None, metavar="|".join(ENVS),
              help="Environment to run in (default: $MLOPS_KIT_ENV or dev).")
@click.option("--cell-timeout", type=float, default=600, show_default=True,
              help="Seconds for each cell of each step.")
@click.option("--log-output", is_flag=True, help="Stream cell outputs while the steps run.")
def run(name: str, parameters: tuple[tuple[str, str], ...], env: str | None,
        cell_timeout: float, log_output: bool) -> None:
    """Run pipeline NAME (see `mlops-kit pipeline list`).

    \b
    Example (crontab: retrain in prod every night at 02:00):
        0 2 * * * cd /path/to/repo && .venv/bin/mlops-kit pipeline run training --env prod

    Exit codes: 0 ok, 2 bad parameter or env, 4 unknown pipeline or notebook,
    5 a step failed (its failing cell is printed).
    """
    from mlops_kit.cli.job import report_failure
    from mlops_kit.jobs.pipelines import PipelineFailedError, get_pipeline, run_pipeline

    pipeline = get_pipeline(name)

    def progress(index, step, result) -> None:
        prefix = f"[{index}/{len(pipeline.steps)}] {step.notebook}"
        if result is None:
            click.echo(f"{prefix} ...")
        else:
            click.echo(f"{prefix} ok in {result.seconds:.1f} s -> {result.path}")

    try:
        results = run_pipeline(pipeline, dict(parameters), env=env, progress=progress,
                               cell_timeout=cell_timeout, log_output=log_output)
    except PipelineFailedError as err:
        click.secho(f"pipeline {err.pipeline!r} stopped at step {err.step_index}/{err.steps}",
                    fg="red", err=True)
        report_failure(err)
        sys.exit(err.exit_code)
    total = sum(r.seconds for r in results)
    click.echo(f"pipeline {name!r} ok: {len(results)} step(s) in {total:.1f} s")


@command.command("list")
def list_pipelines() -> None:
    """List the pipelines and their steps."""
    from mlops_kit.jobs.pipelines import PIPELINES

    for pipeline in PIPELINES.values():
        steps = " -> ".join(str(step) for step in pipeline.steps)
        click.echo(f"{pipeline.name:<14} {steps}")
        if pipeline.description:
            click.echo(f"{'':<14} {pipeline.description}")

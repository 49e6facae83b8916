"""``mlops-kit job``: run a notebook as a parameterized job (papermill underneath)."""
from __future__ import annotations

import sys

import click

from mlops_kit.exceptions import JobFailedError
from mlops_kit.workspace import ENVS


def report_failure(err: JobFailedError) -> None:
    """Print the failing cell's source and error, then where the executed copy is."""
    click.secho(f"FAILED in {err.where} of {err.notebook}:", fg="red", err=True)
    for line in (err.source or "(source not available)").splitlines():
        click.echo(f"    {line}", err=True)
    click.secho(f"{err.ename}: {err.evalue}", fg="red", err=True)
    click.echo(f"executed notebook: {err.output_path}", err=True)


@click.group("job")
def command() -> None:
    """Run notebooks as jobs (cron, CI, any scheduler)."""


@command.command("run")
@click.argument("notebook")
@click.option("-p", "--parameter", "parameters", nargs=2, multiple=True,
              metavar="NAME VALUE", help="Set a parameter of the notebook's parameters cell.")
@click.option("--env", default=None, metavar="|".join(ENVS),
              help="Environment to run in (default: $MLOPS_KIT_ENV or dev).")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the executed notebook (default: the env's jobs folder).")
@click.option("--cwd", type=click.Path(file_okay=False, exists=True), default=None,
              help="Kernel working directory (default: the notebook's folder).")
@click.option("--timeout", type=float, default=1800, show_default=True,
              help="Seconds for the whole notebook.")
@click.option("--cell-timeout", type=float, default=600, show_default=True,
              help="Seconds for each cell.")
@click.option("--log-output", is_flag=True, help="Stream cell outputs while it runs.")
def run(notebook: str, parameters: tuple[tuple[str, str], ...], env: str | None,
        output: str | None, cwd: str | None, timeout: float, cell_timeout: float,
        log_output: bool) -> None:
    """Run NOTEBOOK (a path, or a name under notebooks/ such as jobs/validate_model).

    \b
    Example:
        mlops-kit job run jobs/validate_model -p min_r2 0.5 --env prod

    Exit codes: 0 ok, 2 bad parameter or env, 4 unknown notebook, 5 a cell failed.
    """
    from mlops_kit.cli.spark import shared_spark_for_run
    from mlops_kit.jobs.runner import check_job, run_notebook

    job = check_job(notebook, dict(parameters), env=env)  # bad input fails before Spark starts
    try:
        with shared_spark_for_run(start_now=False):
            result = run_notebook(job, output_path=output,
                                  cwd=cwd, timeout=timeout, cell_timeout=cell_timeout,
                                  log_output=log_output)
    except JobFailedError as err:
        report_failure(err)
        sys.exit(err.exit_code)
    shown = " ".join(f"{k}={v!r}" for k, v in result.parameters.items())
    click.echo(f"ok in {result.seconds:.1f} s{f' ({shown})' if shown else ''}")
    click.echo(f"executed notebook: {result.path}")


@command.command("list")
def list_jobs() -> None:
    """List the job notebooks under notebooks/jobs/ and their parameters."""
    from mlops_kit.jobs.params import declared_parameters
    from mlops_kit.jobs.runner import notebooks_dir

    base = notebooks_dir()
    paths = sorted((base / "jobs").glob("*.ipynb"))
    if not paths:
        click.echo(f"no job notebooks in {base / 'jobs'}")
    for path in paths:
        declared = declared_parameters(path)
        shown = ", ".join(f"{p.name}={p.default!r}" for p in declared.values())
        click.echo(f"jobs/{path.stem}  {shown}")

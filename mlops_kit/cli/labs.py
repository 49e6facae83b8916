"""``mlops-kit labs``: generate learner labs from solutions, refresh demo outputs, grade."""
from __future__ import annotations

import sys
from pathlib import Path

import click

#: exit code of ``labs build --check`` when labs/ is out of date
STALE_EXIT_CODE = 1


@click.group("labs")
def command() -> None:
    """Build labs from their solutions (labs/ is generated, never edited)."""


@command.command("build")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Repository root holding solutions/ and labs/.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 listing stale, missing or extra lab files.")
def build(root: Path, check: bool) -> None:
    """Generate labs/** from solutions/** (FILL_IN where solutions were)."""
    from mlops_kit.labs.build import build_labs

    report = build_labs(root, check=check)
    base = Path(root).resolve()
    if check:
        for kind in ("stale", "missing", "extra"):
            for path in getattr(report, kind):
                click.echo(f"{kind}: {path.relative_to(base)}", err=True)
        if not report.up_to_date:
            click.secho("labs/ is out of date: run `mlops-kit labs build` and commit it.",
                        fg="red", err=True)
            sys.exit(STALE_EXIT_CODE)
        click.echo("labs/ is up to date.")
        return
    for path in report.written:
        click.echo(f"wrote {path.relative_to(base)}")
    for path in report.extra:
        click.echo(f"removed {path.relative_to(base)} (no solution)")
    if not (report.written or report.extra):
        click.echo("labs/ is up to date.")


@command.command("refresh-outputs")
@click.argument("notebooks", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--timeout", default=600, show_default=True, help="Seconds per cell.")
def refresh(notebooks: tuple[Path, ...], timeout: int) -> None:
    """Run NOTEBOOKS and keep outputs only of cells tagged nbval-check-output."""
    from mlops_kit.labs.build import refresh_outputs

    for notebook in notebooks:
        refresh_outputs(notebook, timeout=timeout)
        click.echo(f"refreshed {notebook}")


@command.command("grade")
@click.argument("submissions", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one CSV row per learner and exercise here.")
@click.option("--timeout", default=600.0, show_default=True,
              help="Seconds each notebook may run; then it is stopped and graded as far as it got.")
@click.option("--points", default=1.0, show_default=True, help="Points per passed exercise.")
@click.option("--jobs", default=1, show_default=True, help="Notebooks run at once.")
@click.option("--checks", "checks", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Python file registering checkers for a lab of your own (repeatable).")
@click.option("--no-sandbox", is_flag=True,
              help="Run submissions without isolation (no bubblewrap here): trusted code only.")
def grade(submissions: tuple[Path, ...], out: Path | None, timeout: float, points: float,
          jobs: int, checks: tuple[Path, ...], no_sandbox: bool) -> None:
    """Run learners' SUBMISSIONS (lab notebooks), each in a sandbox, and grade every exercise.

    A folder stands for the notebooks in it (``classroom collect`` writes one
    folder per lab, one ``<learner>.ipynb`` each). Each submission runs as an
    unprivileged user in its own file system view, process tree and network
    (bubblewrap); its checks are decided by a service it cannot reach, so a
    grade depends only on its answers.
    """
    from rich.console import Console
    from rich.table import Table

    from mlops_kit.labs.grade import grade_notebooks, write_csv

    if no_sandbox:
        click.echo("warning: grading without a sandbox: a submission can read and change "
                   "anything this user can", err=True)
    notebooks = [found for path in submissions
                 for found in (sorted(path.glob("*.ipynb")) if path.is_dir() else [path])]
    if not notebooks:
        raise click.UsageError(f"No notebook (*.ipynb) in {', '.join(map(str, submissions))}.")
    rows = grade_notebooks(notebooks, timeout=timeout, points=points, jobs=jobs,
                           checks=checks, sandbox=not no_sandbox)
    table = Table(title="Lab grades")
    for column in ("learner", "lab", "exercise", "passed", "points", "reason"):
        table.add_column(column, justify="right" if column == "points" else "left",
                         overflow="fold")
    for row in rows:
        mark = "[green]yes[/]" if row.passed else "[red]no[/]"
        table.add_row(row.learner, row.lab, row.exercise, mark, f"{row.points:g}", row.reason)
    console = Console()
    console.print(table)
    totals: dict[str, list[float]] = {}
    for row in rows:
        got = totals.setdefault(row.learner, [0.0, 0.0])
        got[0] += row.points
        got[1] += points if row.exercise else 0.0
    for learner, (got, possible) in totals.items():
        click.echo(f"{learner}: {got:g}/{possible:g} points")
    if out is not None:
        click.echo(f"grades: {write_csv(rows, out)}")

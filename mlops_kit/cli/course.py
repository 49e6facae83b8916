"""``mlops-kit course``: run every demo and worked lab, in course order."""
from __future__ import annotations

import sys

import click


@click.command("course")
@click.option("--only", "only", multiple=True, metavar="PATTERN",
              help="Run notebooks whose <module>/<name> contains PATTERN or matches the "
                   "glob (repeatable), e.g. --only 01-experimentation.")
@click.option("--parallel", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Run up to N parallel-safe notebooks of a module at once.")
@click.option("--keep-going", is_flag=True, help="Do not stop at the first failure.")
@click.option("--list", "list_only", is_flag=True, help="Show the notebooks, run nothing.")
@click.option("--root", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder holding notebooks/ and solutions/ (default: the repo).")
@click.option("--html", "html_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Also write every executed notebook as a web page, with DIR/index.html "
                   "listing them in course order with status and time.")
@click.option("--no-run", is_flag=True,
              help="With --html: render the last run's executed notebooks, run nothing.")
@click.option("--solutions", is_flag=True,
              help="With --html: the instructor's edition, with the labs' worked solutions "
                   "(by default labs are shown as learners get them).")
@click.option("--prepare-next/--no-prepare-next", default=True, show_default=True,
              help="Start the next notebook's kernel, and its imports, while one runs.")
def command(only: tuple[str, ...], parallel: int, keep_going: bool, list_only: bool,
            root: str | None, html_dir: str | None, no_run: bool, prepare_next: bool,
            solutions: bool) -> None:
    """Run the course end to end with papermill; executed copies go to the workspace."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from mlops_kit.cli.job import report_failure
    from mlops_kit.cli.spark import shared_spark_for_run
    from mlops_kit.jobs.course import discover_course, run_course
    from mlops_kit.workspace import get_workspace

    console = Console()
    if no_run:
        if not html_dir:
            raise click.UsageError("--no-run renders a past run: give --html DIR too.")
        _write_html(console, html_dir, only, root, solutions)
        return
    course = discover_course(root, only=only or None)
    if list_only:
        for nb in course:
            console.print(f"{nb.name}  [dim]({nb.kind})[/dim]")
        return
    if not course:
        console.print("no course notebooks found")
        return
    ws = get_workspace().activate()
    with shared_spark_for_run(say_stopped=console.print):
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("course", total=len(course))

            def progress(nb, result) -> None:
                if result is None:
                    bar.update(task, description=nb.name)
                    return
                bar.advance(task)
                if not console.is_terminal:  # a scheduler's log sees no live bar: one line each
                    done = int(bar.tasks[0].completed)
                    state = "ok" if result.ok else "FAILED"
                    console.print(f"[{done}/{len(course)}] {nb.name} {state} "
                                  f"{result.seconds:.1f} s")

            results = run_course(only=only or None, parallel=parallel,
                                 stop_on_failure=not keep_going, progress=progress, workspace=ws,
                                 root=root, prepare_next=prepare_next)

    table = Table(title="course run")
    for column in ("notebook", "status", "seconds", "claims held"):
        table.add_column(column, justify="left" if column in ("notebook", "status") else "right")
    held = total = 0
    for result in results:
        status = "[green]ok[/green]" if result.ok else "[red]failed[/red]"
        name = f"{result.notebook.parent.name}/{result.notebook.stem}"
        claims = _claims_of(result.path)
        held += sum(c.held for c in claims)
        total += len(claims)
        shown = f"{sum(c.held for c in claims)}/{len(claims)}" if claims else ""
        table.add_row(name, status, f"{result.seconds:.1f}", shown)
    console.print(table)
    if total:
        console.print(f"claims: {held} of {total} held (each lesson sentence checked against "
                      "the numbers its run measured)")
    console.print(f"executed notebooks: {ws.jobs_dir / 'course'}")
    if html_dir:
        _write_html(console, html_dir, only, root, solutions)
    failed = [r for r in results if not r.ok]
    skipped = len(course) - len(results)
    if skipped:
        console.print(f"[yellow]{skipped} notebook(s) not run after the failure[/yellow]")
    if failed:
        for result in failed:
            report_failure(result.error)
        sys.exit(failed[0].error.exit_code)


def _claims_of(executed) -> list:
    """The claims an executed notebook displayed (none when it is unreadable or missing)."""
    import nbformat

    from mlops_kit.claims import claims_in

    try:
        return claims_in(nbformat.read(str(executed), as_version=4))
    except (OSError, ValueError):
        return []


def _write_html(console, html_dir: str, only: tuple[str, ...], root: str | None,
                solutions: bool = False) -> None:
    """Render the run recorded in the workspace (the one just made, or the last) as pages."""
    from mlops_kit.jobs.course import load_course_run
    from mlops_kit.jobs.course_html import write_course_html
    from mlops_kit.workspace import get_workspace

    ws = get_workspace()
    index = write_course_html(load_course_run(workspace=ws, only=only or None), html_dir,
                              workspace=ws, course_root=root, solutions=solutions)
    console.print(f"course pages: {index}")

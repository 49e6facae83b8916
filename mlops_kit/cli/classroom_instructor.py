"""``mlops-kit classroom progress`` and ``collect``: the instructor's view of a running class.

Both read the roster from ``<state>/classroom.json`` (written by
``mlops-kit classroom up``) and the learners' homes; the ``classroom`` group
registers them (:data:`COMMANDS`).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click



def _state_option(function):
    return click.option("--state", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help="The classroom's state folder, as given to `classroom "
                        "up` (default /var/lib/mlops-kit-classroom).")(function)


def progress_view(state):
    """A rich table: one row per learner, one column per lab with passed/total."""
    from rich.table import Table

    from mlops_kit.classroom.instructor import progress_summary, progress_table

    table = progress_table(state.learners, home_of=state.home_of)
    summary = progress_summary(table)
    labs = [c for c in summary.columns if c != "note"]
    view = Table(title=f"Lab progress of {len(summary)} learners "
                       f"({time.strftime('%H:%M:%S')})", title_justify="left")
    view.add_column("learner", no_wrap=True)
    for lab in labs:
        view.add_column(lab, justify="right", no_wrap=True)
    view.add_column("note", overflow="fold")
    names = {learner.username: learner.name for learner in state.learners}
    for username, row in summary.iterrows():
        cells = []
        for lab in labs:
            passed, total = (int(n) for n in row[lab].split("/"))
            colour = "green" if total and passed == total else "yellow" if passed else "dim"
            cells.append(f"[{colour}]{row[lab]}[/]")
        shown = username if names.get(username, username) == username \
            else f"{username} ({names[username]})"
        view.add_row(shown, *cells, f"[red]{row['note']}[/]" if row["note"] else "")
    if not labs:
        view.caption = "No learner has checked an exercise yet."
    return view


@click.command("progress")
@_state_option
@click.option("--watch", is_flag=True, help="Keep the table on screen, refreshed.")
@click.option("--interval", default=5.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@click.option("--rounds", default=0, hidden=True, help="Stop --watch after this many refreshes.")
def progress(state: Path | None, watch: bool, interval: float, rounds: int) -> None:
    """Every learner's lab progress: exercises passed / registered, per lab."""
    from rich.console import Console

    from mlops_kit.classroom.instructor import load_state

    classroom = load_state(state)
    console = Console()
    if not watch:
        console.print(progress_view(classroom))
        return
    from rich.live import Live

    done = 0
    with Live(progress_view(classroom), console=console, auto_refresh=False) as live:
        try:
            while not rounds or done < rounds:
                time.sleep(interval)
                live.update(progress_view(classroom), refresh=True)
                done += 1
        except KeyboardInterrupt:
            pass


@click.command("collect")
@click.argument("lab")
@_state_option
def collect(lab: str, state: Path | None) -> None:
    """Copy each learner's LAB notebook into <state>/submissions/<lab>/<username>.ipynb.

    LAB is a generated lab's name (``04L-testing-lab``, ``testing-lab`` or
    ``04-production/04L-testing-lab``). Grade the folder with
    ``mlops-kit labs grade <folder> --out grades.csv``.
    """
    from mlops_kit.classroom.instructor import collect as collect_lab
    from mlops_kit.classroom.instructor import load_state

    classroom = load_state(state)
    collection = collect_lab(lab, classroom.learners, classroom.submissions,
                             home_of=classroom.home_of)
    for path in collection:
        click.echo(f"collected {path}")
    for username, why in collection.missing.items():
        click.echo(f"missing {username}: {why}", err=True)
    click.echo(f"{len(collection)} of {len(classroom.learners)} notebooks collected.")
    if not collection:
        sys.exit(1)
    folder = collection[0].parent
    click.echo(f"grade them: mlops-kit labs grade {folder} --out {folder}.csv")


#: what the ``classroom`` group adds
COMMANDS = [progress, collect]

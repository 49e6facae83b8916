"""``mlops-kit progress``: what this learner did in each lab, from the workspace."""
from __future__ import annotations

import click


@click.command("progress")
@click.option("--lab", "lab_ids", multiple=True, help="Only this lab (repeatable).")
def command(lab_ids: tuple[str, ...]) -> None:
    """Per lab and exercise: passed or not, attempts, hints used, solution viewed."""
    from rich.console import Console
    from rich.table import Table

    from mlops_kit.labs import registry
    from mlops_kit.labs.progress import ExerciseProgress, Progress, progress_path
    from mlops_kit.workspace import Workspace

    ws = Workspace.from_env()
    saved = Progress(progress_path(ws)).labs()
    wanted = list(lab_ids) or list(saved)
    console = Console()
    if not wanted:
        click.echo(f"No lab progress yet for user {ws.user!r} (in {progress_path(ws)}).")
        return
    table = Table(title=f"Lab progress of {ws.user}")
    for column in ("lab", "exercise", "title", "state", "attempts", "hints", "solution", "latest"):
        table.add_column(column, justify="right" if column in ("attempts", "hints") else "left",
                         no_wrap=column in ("exercise", "state", "attempts", "hints"))
    colours = {"passed": "green", "failed": "red", "not attempted": "dim"}
    for lab_id in wanted:
        records = saved.get(lab_id, {})
        try:
            order = [(e.exercise_id, e.title) for e in registry.exercises(lab_id)]
        except Exception:  # a lab whose checks are gone: show what was recorded
            order = [(ex, "") for ex in records]
        order += [(ex, "") for ex in records if ex not in dict(order)]
        for exercise_id, title in order:
            rec = records.get(exercise_id, ExerciseProgress())
            table.add_row(lab_id, exercise_id, title, f"[{colours[rec.state]}]{rec.state}[/]",
                          str(rec.attempts), str(rec.hints_used),
                          "viewed" if rec.solution_viewed else "", rec.message)
    console.print(table)

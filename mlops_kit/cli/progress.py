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
    click.echo(f"Lab progress of {ws.user}")
    colours = {"passed": "green", "failed": "red", "not attempted": "dim"}
    # One table per lab, one line per exercise at any terminal width: the two free-text
    # columns share what the others leave and are cut with "…" (an 80-column terminal
    # used to get one word per line).
    fixed = {"exercise": 8, "state": 13, "tries": 5, "hints": 5, "solution": 8}
    borders = 3 * (len(fixed) + 2) + 1
    free = max(8, (console.width - sum(fixed.values()) - borders) // 2)
    for lab_id in wanted:
        records = saved.get(lab_id, {})
        try:
            order = [(e.exercise_id, e.title) for e in registry.exercises(lab_id)]
        except Exception:  # a lab whose checks are gone: show what was recorded
            order = [(ex, "") for ex in records]
        order += [(ex, "") for ex in records if ex not in dict(order)]
        table = Table(title=lab_id, title_justify="left")
        for column in ("exercise", "title", "state", "tries", "hints", "solution", "latest"):
            table.add_column(column, justify="right" if column in ("tries", "hints") else "left",
                             no_wrap=True, overflow="ellipsis",
                             max_width=fixed.get(column, free))
        for exercise_id, title in order:
            rec = records.get(exercise_id, ExerciseProgress())
            table.add_row(exercise_id, title, f"[{colours[rec.state]}]{rec.state}[/]",
                          str(rec.attempts), str(rec.hints_used),
                          "viewed" if rec.solution_viewed else "", rec.message)
        console.print(table)

"""``mlops-kit doctor``: check Python, Java, Delta jars, Spark, MLflow, memory, the kernel."""
from __future__ import annotations

import sys

import click


@click.command("doctor")
def command() -> None:
    """Run every check (a failure does not stop the others); exit 1 if any failed."""
    from rich.console import Console
    from rich.table import Table

    from mlops_kit.doctor import run_checks

    console = Console()
    with console.status("checking...") as status:
        results = run_checks(progress=lambda name: status.update(f"checking {name}..."))
    table = Table(title="mlops-kit doctor")
    for column in ("check", "ok", "seconds", "detail"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for r in results:
        mark = ("[yellow]warn[/yellow]" if r.warn else "[green]ok[/green]") if r.ok \
            else "[red]FAIL[/red]"
        table.add_row(r.name, mark, f"{r.seconds:.1f}", r.detail + (f"\nfix: {r.fix}" if r.fix else ""))
    console.print(table)
    spark = next((r for r in results if r.name == "spark" and r.ok), None)
    if spark:
        console.print(f"Spark start-up: {spark.seconds:.1f} s")
    failed = [r.name for r in results if not r.ok]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed: {', '.join(failed)}[/red]")
        sys.exit(1)
    warned = [r.name for r in results if r.warn]
    if warned:
        console.print(f"[yellow]all checks passed; warning: {', '.join(warned)}[/yellow]")
        return
    console.print("[green]all checks passed[/green]")

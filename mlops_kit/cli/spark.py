"""``mlops-kit spark start|stop|status``: one warm Spark Connect server per workspace.

Notebooks that share it skip the JVM start each of them pays otherwise. They
use it by default, and the first one that needs Spark starts it;
``mlops-kit course`` and ``mlops-kit job run`` start it before the first
notebook (:func:`ensure_shared_spark`). The library side is
:mod:`mlops_kit.spark_server`.
"""
from __future__ import annotations

import click


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def ensure_shared_spark() -> bool:
    """Start the workspace's Spark Connect server before notebooks run, if they will use it.

    Kernels would start it themselves, but each would say so in its own output
    and parallel ones would wait for each other; one line here says it once.
    Nothing happens with ``MLOPS_KIT_SPARK=local`` or an explicit master.
    Returns whether a server was started here.
    """
    from mlops_kit.spark import uses_shared_server
    from mlops_kit.spark_server import ensure_server

    if not uses_shared_server():
        return False
    return not ensure_server(say=lambda line: click.echo(line, err=True)).get(
        "already_running", True)


@click.group("spark")
def command() -> None:
    """Run one warm Spark Connect server (Delta on) for this workspace."""


@command.command("start")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait for the server to answer (default 180).")
@click.option("--master", default=None, metavar="URL",
              help="Where the server's Spark runs: local[*] (default) or a cluster, "
                   "e.g. spark://host:7077.")
def start(port: int | None, timeout: float | None, master: str | None) -> None:
    """Start the server in the background and wait until its port answers."""
    from mlops_kit.spark_server import DEFAULT_START_TIMEOUT, SERVER_MASTER, start_server

    info = start_server(port=port, timeout=timeout or DEFAULT_START_TIMEOUT,
                        master=master or SERVER_MASTER)
    if info["already_running"]:
        click.echo(f"already running: {info['url']} (pid {info['pid']}, "
                   f"up {_duration(info.get('uptime_seconds', 0))})")
        return
    if info.get("replaced_stale"):
        click.echo(f"removed the record of a server that had died (pid {info['replaced_stale']})")
    click.echo(f"started: {info['url']} (pid {info['pid']}, ready in {info['startup_seconds']} s, "
               f"Spark on {info.get('master', SERVER_MASTER)})")
    click.echo(f"log:     {info['log']}")
    click.echo("notebooks, labs and jobs of this workspace now use it (MLOPS_KIT_SPARK=local opts out)")


@command.command("stop")
def stop() -> None:
    """Stop the server started with ``start`` (its whole process group)."""
    from mlops_kit.spark_server import stop_server

    info = stop_server()
    click.echo(f"stopped: {info['url']} (pid {info['pid']})")


@command.command("status")
def status() -> None:
    """Say whether the server runs (url, pid, uptime); exit 1 if it does not."""
    from mlops_kit.spark_server import server_status

    info = server_status()
    state = info["state"]
    if state in ("running", "starting"):
        click.echo(f"{state}: {info['url']} (pid {info['pid']}, "
                   f"up {_duration(info.get('uptime_seconds', 0))})")
        click.echo(f"log: {info['log']}")
        return
    if state == "dead":
        click.echo(f"not running: the server recorded with pid {info.get('pid')} has died "
                   f"(record removed; its log: {info.get('log')})")
    else:
        click.echo("not running")
    raise SystemExit(1)

"""``mlops-kit spark start|stop|status``: one warm Spark Connect server per workspace.

Notebooks that share it skip the JVM start each of them pays otherwise. They
use it by default, and the first one that needs Spark starts it.
``mlops-kit course`` starts it before the first notebook; the course and
``mlops-kit job run`` stop it at the end if it was not running before
(:func:`shared_spark_for_run`). The library side is
:mod:`mlops_kit.spark_server`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@contextlib.contextmanager
def shared_spark_for_run(*, start_now: bool = True,
                         say_stopped: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Give a run the workspace's Spark Connect server, and stop it after if the run started it.

    ``start_now`` (the course) starts the server before the first notebook:
    kernels would start it themselves, but each would say so in its own output
    and parallel ones would wait for each other; one line here says it once.
    Without it (a single job) a notebook that needs Spark starts the server
    itself, and one that does not never pays for it.

    Either way a server that was not running before the run is stopped when
    the run ends (failed or interrupted too), so a scheduled job leaves no JVM
    behind; one already running (``mlops-kit spark start``) stays warm.
    Nothing starts with ``MLOPS_KIT_SPARK=local`` or an explicit master.
    Yields whether a server was started here.
    """
    from mlops_kit.exceptions import NotFoundError
    from mlops_kit.spark import uses_shared_server
    from mlops_kit.spark_server import ensure_server, running_server, server_status, stop_server

    if not uses_shared_server():
        yield False
        return
    was_running = running_server() is not None
    started = not was_running and start_now and not ensure_server(
        say=lambda line: click.echo(line, err=True)).get("already_running", True)
    try:
        yield started
    finally:
        if not was_running and server_status()["state"] in ("running", "starting"):
            with contextlib.suppress(NotFoundError):  # it died on its own meanwhile
                stop_server()
                if say_stopped:
                    say_stopped("stopped the Spark Connect server this run started")


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

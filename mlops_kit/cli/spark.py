"""``mlops-kit spark start|stop|status``: one warm Spark Connect server per workspace.

Notebooks that share it skip the JVM start each of them pays otherwise. They
use it by default, and the first one that needs Spark starts it; a server
started that way stops after ``MLOPS_KIT_SPARK_IDLE_MINUTES`` (default 10)
without a client, while one ``mlops-kit spark start`` started runs until
``mlops-kit spark stop``.
``mlops-kit course`` starts it before the first notebook; the course,
``mlops-kit job run`` and ``setup`` stop it at the end if it was not running
before (:func:`mlops_kit.spark_server.shared_server`, which pipelines and the
other library entry points use too). The library side is
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
    """:func:`mlops_kit.spark_server.shared_server` for a command: its one line on stderr.

    ``start_now`` (the course) starts the server before the first notebook; a
    single job lets the notebook that needs Spark start it. A server the run
    started is stopped when it ends; one already running stays warm.
    """
    from mlops_kit.spark_server import shared_server

    with shared_server(start_now=start_now, say=lambda line: click.echo(line, err=True),
                       say_stopped=say_stopped) as started:
        yield started


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
    """Start the server in the background and wait until its port answers.

    It runs until ``mlops-kit spark stop``; so does a server a notebook or script
    started on demand once this is run (on its own that one stops after
    MLOPS_KIT_SPARK_IDLE_MINUTES, default 10, without a client).
    """
    from mlops_kit.spark_server import DEFAULT_START_TIMEOUT, SERVER_MASTER, start_server

    info = start_server(port=port, timeout=timeout or DEFAULT_START_TIMEOUT,
                        master=master or SERVER_MASTER)
    if info["already_running"]:
        click.echo(f"already running: {info['url']} (pid {info['pid']}, "
                   f"up {_duration(info.get('uptime_seconds', 0))}); it runs until "
                   "`mlops-kit spark stop`")
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
        idle = info.get("idle_minutes")
        ends = (f"stops after {idle:g} min without a client" if idle
                else "runs until `mlops-kit spark stop`")
        click.echo(f"{state}: {info['url']} (pid {info['pid']}, "
                   f"up {_duration(info.get('uptime_seconds', 0))}; {ends})")
        click.echo(f"log: {info['log']}")
        return
    if state == "dead":
        click.echo(f"not running: the server recorded with pid {info.get('pid')} has died "
                   f"(record removed; its log: {info.get('log')})")
    else:
        click.echo("not running")
    raise SystemExit(1)

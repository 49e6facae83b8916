"""Run an on-demand Spark Connect server; stop it once no client has been connected for a while.

Started by :func:`mlops_kit.spark_server.start_server` (as a script, by its path, so it
imports nothing of the kit: 12 MiB resident next to the server's JVM)::

    python spark_idle_launcher.py IDLE_SECONDS PORT RECORD LOCK TOKEN -- spark-submit ...

It starts the server (its child, in its own process group, writing to the same log) and
checks every few seconds whether any client holds a connection to the server's port. A
PySpark client keeps its gRPC connection open while its session lives (and for up to 30
minutes after its last call), so a kernel or script that uses Spark counts as a client
until it exits. A run of many notebooks (the course, a job) counts as a client while it
lasts, through a lease: a file ``<pid>-<id>`` in ``<root>/spark-connect.leases``. Once no client has been connected for ``IDLE_SECONDS`` (counted from the
moment the port opened), it takes the workspace's server lock, checks again, removes the
server's record and token (so the next ``get_spark()`` starts a new server instead of
reaching a stopping one), stops the server and exits.

SIGUSR1 turns the idle stop off (``mlops-kit spark start`` on a running on-demand
server); SIGTERM (``mlops-kit spark stop`` signals the whole group) waits for the
server to stop, then exits with its code.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

#: states of /proc/net/tcp's ``st`` column
_ESTABLISHED, _LISTEN = "01", "0A"

#: seconds between SIGTERM and SIGKILL when the server is stopped for idleness
_STOP_SECONDS = 20.0


def port_use(port: int, tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")
             ) -> tuple[bool, int] | None:
    """``(listening, clients)`` of ``port`` on this machine; None where /proc/net is missing.

    ``clients`` counts established connections whose local end is ``port``: the
    server's side of each client connection (a client's own end has another port).
    """
    found, listening, clients = False, False, 0
    for table in tables:
        try:
            with open(table) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or int(fields[1].rsplit(":", 1)[1], 16) != port:
                continue
            if fields[3] == _LISTEN:
                listening = True
            elif fields[3] == _ESTABLISHED:
                clients += 1
    return (listening, clients) if found else None


def _port_use_of(pid: int, port: int) -> tuple[bool, int]:
    """:func:`port_use` through psutil, from the server's own sockets (no /proc/net: macOS)."""
    import psutil

    try:
        conns = psutil.Process(pid).net_connections("tcp")
    except psutil.Error:
        return False, 0
    mine = [c for c in conns if c.laddr and c.laddr.port == port]
    return (any(c.status == psutil.CONN_LISTEN for c in mine),
            sum(c.status == psutil.CONN_ESTABLISHED for c in mine))


def leased(folder: str) -> bool:
    """Whether a live process holds a lease on the server: a file ``<pid>-<id>`` in ``folder``.

    A run that wraps many notebooks (the course, a job) holds one while it lasts, so the
    server stays up between notebooks that need no Spark; a lease whose process has
    died is removed.
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    held = False
    for name in names:
        try:
            os.kill(int(name.split("-")[0]), 0)
            held = True
        except ValueError:
            continue
        except PermissionError:  # alive, another user's: counts
            held = True
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
    return held


def _say(line: str) -> None:
    print(f"=== mlops-kit: {line} ({time.strftime('%Y-%m-%d %H:%M:%S')}) ===", flush=True)


def _stop_when_idle(child: subprocess.Popen, port: int, record: str, lock: str, token: str,
                    state: dict, use) -> bool:
    """Stop the server if it is still idle, holding the workspace's lock; whether it did."""
    idle = state["idle"]
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a start or stop of the workspace's server waits
        try:
            try:
                with open(record) as recorded:
                    written = json.load(recorded)
            except (OSError, ValueError):
                written = {}
            # a client came meanwhile, or `mlops-kit spark start` turned the limit off
            # (its SIGUSR1 is handled by now: it was sent before the lock was released)
            mine = written.get("pid") == os.getpid()  # else the record is not this server's
            if use()[1] or not state["idle"] or (mine and not written.get("idle_minutes")):
                return False
            if mine:
                for path in (record, token):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
            _say(f"no client for {idle / 60:g} min: stopping this on-demand server "
                 "(MLOPS_KIT_SPARK_IDLE_MINUTES; `mlops-kit spark start` runs one that stays)")
            child.terminate()
            try:
                child.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def main(argv: list[str]) -> int:
    sep = argv.index("--")
    idle_text, port_text, record, lock, token = argv[1:sep]
    state = {"idle": float(idle_text)}
    port = int(port_text)
    child = subprocess.Popen(argv[sep + 1:])  # same process group, same stdout (the log)

    def keep_running(*_: object) -> None:
        if state["idle"]:
            state["idle"] = 0.0
            _say("the idle stop is off: this server runs until `mlops-kit spark stop`")

    signal.signal(signal.SIGUSR1, keep_running)
    # the whole group gets a stop's SIGTERM: the server stops, then this process exits
    signal.signal(signal.SIGTERM, lambda *_: None)

    leases = os.path.join(os.path.dirname(record), "spark-connect.leases")

    def use() -> tuple[bool, int]:
        listening, clients = port_use(port) or _port_use_of(child.pid, port)
        return listening, clients + leased(leases)

    interval = min(5.0, max(0.25, state["idle"] / 10))
    last_client = None  # monotonic time a client was last seen (or the port opened)
    while child.poll() is None:
        try:
            child.wait(interval)
        except subprocess.TimeoutExpired:
            pass
        if child.poll() is not None or not state["idle"]:
            continue
        listening, clients = use()
        now = time.monotonic()
        if clients or (last_client is None and listening):
            last_client = now
        if last_client is not None and now - last_client >= state["idle"]:
            if _stop_when_idle(child, port, record, lock, token, state, use):
                return 0
            last_client = time.monotonic()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The grader's check service: checks that count run where the submission's code cannot reach them.

While a submission runs in the grading sandbox (:mod:`mlops_kit.labs.sandbox`)
its kernel runs as an unprivileged user. The service runs beside it with more
rights than the kernel, listening on a Unix socket. In grading mode
(``MLOPS_KIT_LABS_CHECK_SOCKET`` set) every :meth:`Lab.check` sends the
service its answer and context (:mod:`mlops_kit.labs.answers`); the service

1. forks a child that drops to the kernel's user (which makes it
   non-dumpable: the kernel's processes can neither trace it nor write into
   its pipes), loads the answer and runs the kit's own checker, imported by
   the service before the submission started, so no patch made in the kernel
   reaches it;
2. appends the verdict to its record, in a folder only the service can write;
3. answers the kernel with the verdict, which the notebook shows as usual.

So the record of checks cannot be written by the submission, monkeypatching
the lab module in the kernel changes only what the notebook displays, and a
check the kernel never sent scores nothing. What the service cannot stop: a
learner's own function, passed as the answer, runs inside the check that
calls it (documented in docs/RELIABILITY.md).

Wire format, both ways: an 8-byte big-endian length, then a JSON header line
and (kernel to service) the pickled answer.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any, Callable

__all__ = ["SOCKET_ENV", "send_check", "serve", "CheckRecord"]

#: set in the kernel's environment by the grader: where the service listens
SOCKET_ENV = "MLOPS_KIT_LABS_CHECK_SOCKET"
_LENGTH = struct.Struct(">Q")
#: seconds one check may take in the service (a Spark job, a model load)
CHECK_TIMEOUT = 300


def _send(sock: socket.socket, header: dict[str, Any], payload: bytes = b"") -> None:
    body = json.dumps(header).encode() + b"\n" + payload
    sock.sendall(_LENGTH.pack(len(body)) + body)


def _receive(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    def exactly(n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = sock.recv(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("the other side closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    (size,) = _LENGTH.unpack(exactly(_LENGTH.size))
    body = exactly(size)
    line, _, payload = body.partition(b"\n")
    return json.loads(line), payload


# ------------------------------------------------------------------ the kernel's side
def send_check(lab_id: str, exercise_id: str, value: Any, context: dict[str, Any]) -> dict[str, Any]:
    """Have the grader's service check an answer; its verdict (passed, message, hint).

    Called by :meth:`Lab.check` in grading mode only. The cell that ran the
    check travels with it (its execution count), so the grader can count each
    exercise's own cell.
    """
    from mlops_kit.labs.answers import dump_answer

    path = os.environ[SOCKET_ENV]
    frames = Path(os.environ.get("MLOPS_KIT_LABS_FRAMES_DIR", Path(path).parent / "frames"))
    try:
        payload = dump_answer(value, context, frames)
        error = ""
    except Exception as err:  # an answer that cannot leave the kernel is graded as such
        payload, error = b"", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    header = {"lab": lab_id, "exercise": exercise_id, "execution_count": _execution_count(),
              "unsendable": error}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CHECK_TIMEOUT + 30)
        sock.connect(path)
        _send(sock, header, payload)
        verdict, _ = _receive(sock)
    return verdict


def _execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    count = getattr(shell, "execution_count", None) if shell is not None else None
    # ipykernel counts the running cell before it runs: the cell shown as In [n]
    # sees execution_count == n + 1
    return count - 1 if isinstance(count, int) else None


# ------------------------------------------------------------------ the service's side
class CheckRecord:
    """The service's record: one JSON line per check, in a folder the kernel cannot write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _check_in_child(header: dict[str, Any], payload: bytes, uid: int | None,
                    gid: int | None) -> dict[str, Any]:
    """Fork, drop to the kernel's user, check, and return the child's verdict."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        code = 0
        try:
            if gid is not None:
                os.setgroups([])
                os.setgid(gid)
            if uid is not None:
                os.setuid(uid)
            verdict = _verdict(header, payload)
        except BaseException as err:  # the child must always answer
            verdict = {"passed": False, "message": f"the check could not run: {type(err).__name__}: {err}",
                       "hint": ""}
            code = 1
        try:
            os.write(write_fd, json.dumps(verdict, default=str).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    try:
        verdict = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        verdict = {}
    if not isinstance(verdict, dict) or "passed" not in verdict:
        return {"passed": False, "message": "the check ended without a verdict", "hint": ""}
    return {"passed": verdict["passed"] is True, "message": str(verdict.get("message", "")),
            "hint": str(verdict.get("hint") or "")}


def _verdict(header: dict[str, Any], payload: bytes) -> dict[str, Any]:
    from mlops_kit.labs import registry
    from mlops_kit.labs.answers import load_answer
    from mlops_kit.workspace import Workspace

    exercise = registry.get(header["lab"], header["exercise"])
    if header.get("unsendable"):
        return {"passed": False, "hint": "answer with a value, a table or a function of your own",
                "message": f"your answer could not be handed to the grader ({header['unsendable']})"}
    value, context = load_answer(payload)
    # the kernel's workspace, as the kernel sees it: its Delta tables and its MLflow store
    # (a check of a logged model or a registry version reads the store the kernel wrote)
    Workspace.from_env().activate()
    result = registry.run_check(exercise, value, **context)
    return {"passed": bool(result.passed), "message": result.message, "hint": result.hint or ""}


def serve(socket_path: Path, record: CheckRecord, *, uid: int | None = None,
          gid: int | None = None, preload: Callable[[], None] | None = None,
          stop: threading.Event | None = None) -> threading.Thread:
    """Listen on ``socket_path`` in a thread; check every request in a dropped child.

    ``preload`` imports the checkers before the submission starts (so the
    children inherit them from the service's memory, never from the kernel).
    """
    if preload is not None:
        preload()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    os.chmod(socket_path, 0o666)  # the kernel's user must be able to connect
    server.listen(16)
    server.settimeout(0.5)
    stop = stop or threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                header, payload = _receive(conn)
                lab_id, exercise_id = str(header.get("lab")), str(header.get("exercise"))
                verdict = _check_in_child(header, payload, uid, gid)
                record.append({"event": "check", "lab": lab_id, "exercise": exercise_id,
                               "execution_count": header.get("execution_count"), **verdict})
                _send(conn, verdict)
            except (OSError, ValueError, ConnectionError):
                return

    def loop() -> None:
        with server:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except socket.timeout:
                    continue
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, name="check-service", daemon=True)
    thread.start()
    thread.stop_event = stop  # type: ignore[attr-defined]
    return thread

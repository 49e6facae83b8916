"""A learner's lab progress, saved in the workspace so it survives a kernel restart.

Every check (except an unanswered concept question), every hint and every
solution a learner asks for is recorded per lab and exercise in one small JSON
file, ``lab-progress.json`` in the user's folder of the workspace (outside the env folders,
so ``%reset_lesson`` keeps it). Writes go to a temporary file that replaces
the old one, under a lock, so two kernels never leave half a file::

    >>> store = Progress(tmp / "progress.json")            # doctest: +SKIP
    >>> store.record_check("setup", "ex1", passed=False, message="not a str")
    >>> store.get("setup", "ex1").attempts
    1

``lab.summary()`` and ``mlops-kit progress`` read it.

Grading (``mlops-kit labs grade``) sets ``MLOPS_KIT_LABS_RECORD`` to a file:
each :class:`~mlops_kit.labs.Lab` then also appends one JSON line per lab
opened and per check (:func:`record_event`), which the grader reads back
even when the notebook later crashes or hangs.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from mlops_kit._files import write_atomically

__all__ = ["ExerciseProgress", "Progress", "progress_path", "parse_progress", "record_event",
           "RECORD_ENV"]

#: env variable naming the JSON-lines file a graded run appends its checks to
RECORD_ENV = "MLOPS_KIT_LABS_RECORD"


@dataclass
class ExerciseProgress:
    """What one learner did on one exercise."""

    attempts: int = 0
    passed: bool = False  # the latest check passed
    ever_passed: bool = False
    hints_used: int = 0
    solution_viewed: bool = False
    message: str = ""  # the latest check's message
    updated: str = ""

    @property
    def state(self) -> str:
        if not self.attempts:
            return "not attempted"
        return "passed" if self.passed else "failed"


def progress_path(workspace=None) -> Path:
    """Where the active (or given) workspace keeps this user's progress."""
    from mlops_kit.workspace import get_workspace

    ws = workspace or get_workspace()
    return ws.progress_path


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Progress:
    """The progress file: read it, or update one exercise atomically.

    Parameters
    ----------
    path : path, optional
        The JSON file (default: :func:`progress_path` of the active workspace).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else progress_path()

    # ---------------------------------------------------------------- reading
    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "labs": {}}
        except (OSError, ValueError):  # unreadable or corrupt: start afresh, keep a copy
            with contextlib.suppress(OSError):
                self.path.replace(self.path.with_suffix(".corrupt.json"))
            return {"version": 1, "labs": {}}
        data.setdefault("labs", {})
        return data

    def labs(self) -> dict[str, dict[str, ExerciseProgress]]:
        """``lab_id -> exercise_id -> ExerciseProgress`` for everything recorded."""
        return _exercises(self._read())

    def get(self, lab_id: str, exercise_id: str) -> ExerciseProgress:
        """The progress of one exercise (all zero when nothing was recorded)."""
        return self.labs().get(lab_id, {}).get(exercise_id, ExerciseProgress())

    # ---------------------------------------------------------------- writing
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, data: dict[str, Any]) -> None:
        write_atomically(self.path, json.dumps(data, indent=1, sort_keys=True))

    def _update(self, lab_id: str, exercise_id: str, **changes: Any) -> ExerciseProgress:
        with self._locked():
            data = self._read()
            record = data["labs"].setdefault(lab_id, {}).setdefault(exercise_id, {})
            current = ExerciseProgress(**{k: v for k, v in record.items()
                                          if k in ExerciseProgress.__dataclass_fields__})
            for key, change in changes.items():
                setattr(current, key, change(getattr(current, key)) if callable(change) else change)
            current.updated = _now()
            data["labs"][lab_id][exercise_id] = asdict(current)
            self._write(data)
        return current

    def record_check(self, lab_id: str, exercise_id: str, *, passed: bool,
                     message: str = "") -> ExerciseProgress:
        """One more attempt; remember whether it passed and why."""
        return self._update(lab_id, exercise_id, attempts=lambda n: n + 1, passed=passed,
                            ever_passed=lambda was: was or passed, message=message)

    def record_hint(self, lab_id: str, exercise_id: str) -> ExerciseProgress:
        """One more hint shown."""
        return self._update(lab_id, exercise_id, hints_used=lambda n: n + 1)

    def record_solution(self, lab_id: str, exercise_id: str) -> ExerciseProgress:
        """The worked solution was shown."""
        return self._update(lab_id, exercise_id, solution_viewed=True)


def _exercises(data: Any) -> dict[str, dict[str, ExerciseProgress]]:
    known = set(ExerciseProgress.__dataclass_fields__)
    try:
        return {
            lab: {ex: ExerciseProgress(**{k: v for k, v in rec.items() if k in known})
                  for ex, rec in exercises.items()}
            for lab, exercises in sorted(data["labs"].items())
        }
    except (AttributeError, KeyError, TypeError) as err:
        raise ValueError(f"not a lab progress file ({type(err).__name__}: {err})") from None


def parse_progress(text: str | bytes) -> dict[str, dict[str, ExerciseProgress]]:
    """``lab_id -> exercise_id -> ExerciseProgress`` from a progress file's text, read-only.

    For a reader that is not the file's owner (an instructor over a class):
    unlike :meth:`Progress.labs` it never moves a corrupt file aside, and raises
    ``ValueError`` saying why the text is not a progress file.
    """
    return _exercises(json.loads(text))


def record_event(event: dict[str, Any]) -> None:
    """Append ``event`` as one JSON line to ``$MLOPS_KIT_LABS_RECORD`` (if set)."""
    target = os.environ.get(RECORD_ENV)
    if not target:
        return
    line = json.dumps(event, default=str) + "\n"
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())

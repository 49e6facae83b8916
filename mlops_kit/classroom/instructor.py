"""The instructor's side of a classroom: every learner's lab progress, and their labs collected.

Plain functions over the roster (:class:`~mlops_kit.classroom.roster.Learner`)
and a ``home_of`` callable (default :func:`~mlops_kit.classroom.roster.learner_home`),
so they run with or without a hub:

- :func:`progress_table`: one row per learner, lab and exercise, read from each
  learner's ``lab-progress.json`` with the kit's own reader
  (:func:`mlops_kit.labs.progress.parse_progress`);
- :func:`progress_summary`: passed / total per learner and lab, for a glance;
- :func:`collect`: each learner's released lab notebook copied to
  ``<submissions>/<lab-stem>/<username>.ipynb``, which ``mlops-kit labs grade``
  grades (one CSV row per learner and exercise, named by the file's stem).

The instructor reads files in homes that learners control. Every such read
goes through :func:`read_in_home`: each folder on the way is opened without
following a symbolic link, the file must be a regular file owned by the home's
owner, and its size is bounded. A learner who replaces their progress file or
lab notebook with a link to another learner's (or root's) file gets a refusal
in the report, never the other file's content. A problem with one learner (no
account, no progress yet, an unreadable or refused file) is reported beside
the result and never stops the others.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

from mlops_kit._files import write_atomically
from mlops_kit.classroom.hub import DEFAULT_STATE
from mlops_kit.classroom.roster import Learner, learner_home
from mlops_kit.exceptions import ConfigError, NotFoundError

__all__ = ["COLUMNS", "DEFAULT_STATE", "NO_PROGRESS", "Collection", "ClassroomState", "collect",
           "load_state", "progress_path_in_home", "progress_summary", "progress_table",
           "read_in_home", "released_lab"]

#: columns of :func:`progress_table`
COLUMNS = ["learner", "lab", "exercise", "passed", "attempts", "hints", "solution_viewed",
           "last_attempt"]
#: the problem of a learner who has not checked any exercise yet
NO_PROGRESS = "no progress yet"
#: largest progress file read (a real one is a few kB)
MAX_PROGRESS_BYTES = 4 * 1024 * 1024
#: largest lab notebook collected (outputs included)
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024

HomeOf = Callable[[str], Path]


# ------------------------------------------------------------ reading in a learner's home
def read_in_home(home: str | os.PathLike[str], relative: str | os.PathLike[str], *,
                 max_bytes: int) -> bytes:
    """The bytes of ``home/relative``, refusing anything that could lead out of ``home``.

    Every folder below ``home`` and the file itself are opened with
    ``O_NOFOLLOW`` relative to the folder above (no path is resolved twice, so
    a link swapped in between changes nothing); the file must be a regular
    file owned by the owner of ``home`` and at most ``max_bytes`` long.

    Raises
    ------
    FileNotFoundError
        Nothing is there.
    PermissionError
        A symbolic link on the way, not a regular file, another owner, too large.
    """
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", ".") for p in parts):
        raise PermissionError(f"{relative}: not a plain path inside the home folder")
    home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    opened = [home_fd]
    try:
        owner = os.fstat(home_fd).st_uid
        folder = home_fd
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            flags |= (os.O_NONBLOCK | os.O_NOCTTY) if last else os.O_DIRECTORY
            try:
                fd = os.open(part, flags, dir_fd=folder)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
                    raise
                try:  # O_NOFOLLOW meets a link as ELOOP, or ENOTDIR with O_DIRECTORY
                    link = stat.S_ISLNK(os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode)
                except OSError:
                    link = False
                what = "a symbolic link" if link else "not a folder"
                raise PermissionError(f"{'/'.join(parts[:index + 1])} is {what}: refused") from None
            opened.append(fd)
            folder = fd
        info = os.fstat(folder)
        where = "/".join(parts)
        if not stat.S_ISREG(info.st_mode):
            raise PermissionError(f"{where} is not a regular file: refused")
        if info.st_uid != owner:
            raise PermissionError(f"{where} belongs to uid {info.st_uid}, not to the home's "
                                  f"owner (uid {owner}): refused")
        if info.st_size > max_bytes:
            raise PermissionError(f"{where} is {info.st_size} bytes, more than {max_bytes}: "
                                  "refused")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(folder, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise PermissionError(f"{where} grew past {max_bytes} bytes while read: refused")
        return data
    finally:
        for fd in opened:
            os.close(fd)


def progress_path_in_home(username: str) -> PurePosixPath:
    """Where a learner's lab progress sits in their home (their kit workspace's user folder)."""
    return PurePosixPath(".mlops-kit", "users", username, "lab-progress.json")


def _home(learner: Learner, home_of: HomeOf) -> Path:
    from mlops_kit.classroom.roster import check_username

    check_username(learner.username)  # it becomes a path component and a file name
    return Path(home_of(learner.username))


def _why(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and not isinstance(err, PermissionError):
        return err.strerror.lower()
    return str(err) or type(err).__name__


# ------------------------------------------------------------------------- progress
def _registered(lab_id: str) -> list[str]:
    from mlops_kit.labs import registry

    try:
        return [e.exercise_id for e in registry.exercises(lab_id)]
    except Exception:  # a lab whose checks are not shipped here: what was recorded
        return []


def _rows(username: str, labs: dict) -> list[dict]:
    """One learner's rows; ``ValueError``/``TypeError`` when a record is not what the kit writes."""
    rows = []
    for lab_id, records in labs.items():
        order = _registered(lab_id)
        order += [ex for ex in records if ex not in order]
        for exercise_id in order:
            rec = records.get(exercise_id)
            if rec is None:
                rows.append({"learner": username, "lab": lab_id, "exercise": exercise_id,
                             "passed": False, "attempts": 0, "hints": 0,
                             "solution_viewed": False, "last_attempt": None})
                continue
            for name in ("passed", "solution_viewed", "attempts", "hints_used", "updated"):
                kind = bool if name in ("passed", "solution_viewed") else \
                    str if name == "updated" else int
                value = getattr(rec, name)
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise ValueError(f"{lab_id} {exercise_id}: {name} is {value!r}, "
                                     f"not {kind.__name__}")
            rows.append({"learner": username, "lab": lab_id, "exercise": exercise_id,
                         "passed": rec.passed, "attempts": rec.attempts,
                         "hints": rec.hints_used, "solution_viewed": rec.solution_viewed,
                         "last_attempt": rec.updated or None})
    return rows


def progress_table(learners: Sequence[Learner], home_of: HomeOf = learner_home):
    """Every learner's lab progress as one DataFrame, one row per learner, lab and exercise.

    Columns: ``learner`` (username), ``lab``, ``exercise``, ``passed`` (the
    latest check passed), ``attempts``, ``hints``, ``solution_viewed``,
    ``last_attempt`` (UTC time the exercise was last checked or hinted, NaT
    when never). For each lab a learner opened, every registered exercise has a
    row, attempted or not.

    ``table.attrs["learners"]`` lists every username in roster order, and
    ``table.attrs["problems"]`` maps a learner to why their progress is not in
    the table (``"no progress yet"``, an unreadable or refused file, no account).

    Examples
    --------
    >>> table = progress_table(load_roster("roster.csv"))           # doctest: +SKIP
    >>> table.groupby(["learner", "lab"])["passed"].sum()           # doctest: +SKIP
    """
    import pandas as pd

    from mlops_kit.labs.progress import parse_progress

    rows: list[dict] = []
    problems: dict[str, str] = {}
    for learner in learners:
        try:
            home = _home(learner, home_of)
            text = read_in_home(home, progress_path_in_home(learner.username),
                                max_bytes=MAX_PROGRESS_BYTES)
            rows += _rows(learner.username, parse_progress(text))
        except FileNotFoundError:
            problems[learner.username] = NO_PROGRESS
        except (OSError, ValueError, TypeError) as err:  # ConfigError is a ValueError
            problems[learner.username] = f"unreadable progress: {_why(err)}"
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["last_attempt"] = pd.to_datetime(table["last_attempt"], utc=True, errors="coerce")
    table = table.astype({"passed": bool, "solution_viewed": bool, "attempts": int, "hints": int})
    table.attrs["learners"] = [learner.username for learner in learners]
    table.attrs["problems"] = problems
    return table


def progress_summary(table):
    """``passed/total`` per learner (rows, roster order) and lab (columns) of :func:`progress_table`.

    The total of a lab is its registered exercises (else those recorded); a
    learner who never opened a lab gets ``0/total``, one whose progress could
    not be read gets their problem in a ``note`` column.
    """
    import pandas as pd

    learners = list(table.attrs.get("learners") or dict.fromkeys(table["learner"]))
    problems = dict(table.attrs.get("problems") or {})
    labs = sorted(table["lab"].unique())
    totals = {lab: len(_registered(lab)) or table.loc[table["lab"] == lab, "exercise"].nunique()
              for lab in labs}
    passed = table.groupby(["learner", "lab"])["passed"].sum()
    summary = pd.DataFrame(
        {lab: [f"{int(passed.get((learner, lab), 0))}/{totals[lab]}" for learner in learners]
         for lab in labs}, index=pd.Index(learners, name="learner"))
    summary["note"] = [problems.get(learner, "") for learner in learners]
    return summary


# -------------------------------------------------------------------------- collect
def released_lab(lab: str, labs_root: str | os.PathLike[str] | None = None) -> PurePosixPath:
    """The released notebook of ``lab``, relative to a learner's home (``labs/<module>/<stem>.ipynb``).

    ``lab`` may be the notebook's stem (``04L-testing-lab``), the stem without
    its number (``testing-lab``), ``<module>/<stem>`` or the path
    ``labs/<module>/<stem>.ipynb``; it is looked up among the course's
    generated labs (``labs_root``, default the ``labs/`` the classroom releases).
    """
    import re

    if labs_root is None:
        from mlops_kit.classroom.release import course_root

        labs_root = course_root() / "labs"  # what the classroom releases
    root = Path(labs_root)
    name = lab.strip().removeprefix("labs/").removesuffix(".ipynb").strip("/")
    known = sorted(p.relative_to(root) for p in root.glob("*/*.ipynb"))

    def names(path: Path) -> set[str]:
        stem = path.stem
        return {stem, f"{path.parent.name}/{stem}", re.sub(r"^\d+L?-", "", stem)}

    found = [p for p in known if name in names(p)]
    if not found:
        raise NotFoundError(f"No lab {lab!r} in {root}. Labs: "
                            f"{', '.join(p.stem for p in known) or 'none'}.")
    if len(found) > 1:
        raise ConfigError(f"{lab!r} names several labs ({', '.join(map(str, found))}); "
                          "give <module>/<stem>.")
    return PurePosixPath("labs", *found[0].parts)


class Collection(list):
    """The collected notebooks (a list of paths); ``missing`` maps a learner to why not."""

    def __init__(self, paths: Iterable[Path] = (), missing: dict[str, str] | None = None) -> None:
        super().__init__(paths)
        self.missing: dict[str, str] = dict(missing or {})


def _stamped(data: bytes, username: str, source: str) -> bytes:
    """The notebook named after the account it came from, whatever its metadata claimed.

    The grader names a row by ``metadata.mlops_kit.learner`` and grades as
    ``metadata.mlops_kit.user``: both become the username, so a learner cannot
    be graded as someone else (on their per-learner data) or under their name.
    A notebook that is not JSON is kept as it is (graded as unreadable, named
    by its file stem).
    """
    from datetime import datetime, timezone

    try:
        notebook = json.loads(data)
        meta = notebook.setdefault("metadata", {})
        if not isinstance(meta.get("mlops_kit"), dict):
            meta["mlops_kit"] = {}
        meta.pop("learner", None)
        meta["mlops_kit"].update({
            "learner": username, "user": username, "collected_from": source,
            "collected_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    except (ValueError, AttributeError, TypeError):
        return data
    return (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ConfigError(f"{path} must be a folder, not a link.")
    path.chmod(0o700)
    return path


def collect(lab: str, learners: Sequence[Learner], submissions_dir: str | os.PathLike[str],
            home_of: HomeOf = learner_home, *, labs_root: str | os.PathLike[str] | None = None
            ) -> Collection:
    """Copy each learner's released ``lab`` notebook to ``<submissions_dir>/<lab-stem>/<username>.ipynb``.

    The folders are made private (0700, owned by whoever collects: root in a
    classroom), each copy 0600, written atomically. A learner without the
    notebook, without an account, or whose notebook is refused by
    :func:`read_in_home` (a link out of their home) is in ``.missing`` with the
    reason; the others are collected.

    Returns
    -------
    Collection
        The written paths (a list), with ``.missing``.
    """
    relative = released_lab(lab, labs_root)
    submissions = _private_folder(Path(submissions_dir))
    folder = _private_folder(submissions / PurePosixPath(relative).stem)
    written, missing = [], {}
    for learner in learners:
        try:
            home = _home(learner, home_of)
            data = read_in_home(home, relative, max_bytes=MAX_NOTEBOOK_BYTES)
        except FileNotFoundError:
            missing[learner.username] = f"no notebook at ~/{relative}"
            continue
        except (OSError, ValueError) as err:
            missing[learner.username] = f"not collected: {_why(err)}"
            continue
        target = folder / f"{learner.username}.ipynb"
        write_atomically(target, _stamped(data, learner.username, f"~{learner.username}/{relative}"))
        written.append(target)
    return Collection(written, missing)


# ------------------------------------------------------------------------- the state
@dataclass
class ClassroomState:
    """What the instructor side needs of ``<state>/classroom.json``."""

    folder: Path
    learners: list[Learner]
    instructor: str = "instructor"
    homes: dict[str, Path] = field(default_factory=dict)

    def home_of(self, username: str) -> Path:
        """The learner's home: as the classroom recorded it, else from the password database."""
        return self.homes[username] if username in self.homes else learner_home(username)

    @property
    def submissions(self) -> Path:
        return self.folder / "submissions"


def load_state(state: str | os.PathLike[str] | None = None) -> ClassroomState:
    """The roster (and homes, when recorded) of the classroom whose state folder is ``state``.

    ``classroom.json`` lists the learners under ``learners`` (or ``roster``),
    each ``{"username": ..., "name": ...}`` with an optional ``home``.

    Raises
    ------
    NotFoundError
        No ``classroom.json`` there (no classroom was brought up with this state).
    ConfigError
        It is not a classroom's state file.
    """
    folder = Path(state) if state is not None else DEFAULT_STATE
    path = folder / "classroom.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"No classroom state at {path}: bring one up with `mlops-kit "
                            "classroom up --roster roster.csv` (or give --state).") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"Cannot read the classroom state {path}: {_why(err)}.") from None
    entries = data.get("learners", data.get("roster")) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path} lists no learners (a 'learners' list of "
                          "{{'username', 'name'}} was expected).")
    learners, homes = [], {}
    for entry in entries:
        if isinstance(entry, str):
            entry = {"username": entry}
        if not isinstance(entry, dict) or not entry.get("username"):
            raise ConfigError(f"{path}: a learner entry without a username: {entry!r}.")
        username = str(entry["username"])
        learners.append(Learner(username, str(entry.get("name") or username)))
        if entry.get("home"):
            homes[username] = Path(entry["home"])
    instructor = data.get("instructor")
    if isinstance(instructor, dict):
        instructor = instructor.get("username")
    return ClassroomState(folder, learners, str(instructor or "instructor"), homes)

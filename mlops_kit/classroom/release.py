"""Release: the course's notebooks and generated labs, copied into a learner's home.

At a learner's first start the hub copies the repository's ``notebooks/`` (the
demos) and ``labs/`` (the generated labs, never ``solutions/``) into their home,
same relative layout (``~/notebooks/...``, ``~/labs/<module>/<lab>.ipynb``),
owned by the learner. A file that is already there is left alone: a learner's
work is never overwritten by a later start.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["RELEASED", "course_root", "release_to", "prepare_home"]

#: the folders of the repository a learner gets
RELEASED: tuple[str, ...] = ("notebooks", "labs")

#: folders a learner never gets: caches, and the instructor's own notebooks
#: (``notebooks/instructor``: the class's progress, useless without the state folder)
_SKIPPED = {"__pycache__", ".ipynb_checkpoints", "instructor"}


def course_root() -> Path:
    """The repository the kit runs from (the folder holding ``labs/`` and ``notebooks/``)."""
    return Path(__file__).resolve().parents[2]


def _chown(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, uid, gid, follow_symlinks=False)


def release_to(home: Path, uid: int, gid: int, source: Path | None = None) -> list[Path]:
    """Copy the released folders into ``home``; return the files that were new."""
    source = source or course_root()
    copied: list[Path] = []
    for top in RELEASED:
        root = source / top
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED)
            relative = Path(folder).relative_to(source)
            target_dir = home / relative
            if not target_dir.exists():
                target_dir.mkdir(parents=True)
                _chown(target_dir, uid, gid)
            for name in sorted(files):
                if name.endswith((".pyc",)) or name.startswith("."):
                    continue
                target = target_dir / name
                if target.exists():
                    continue
                shutil.copyfile(Path(folder) / name, target)
                target.chmod(0o644)
                _chown(target, uid, gid)
                copied.append(target)
    return copied


def prepare_home(username: str, home: Path | None = None) -> Path:
    """A learner's private workspace folder (0700) and released course; return the workspace."""
    import pwd

    entry = pwd.getpwnam(username)
    home = Path(home or entry.pw_dir)
    home.chmod(0o700)
    workspace = home / ".mlops-kit"
    if not workspace.exists():
        workspace.mkdir()
    _chown(workspace, entry.pw_uid, entry.pw_gid)
    workspace.chmod(0o700)
    release_to(home, entry.pw_uid, entry.pw_gid)
    return workspace

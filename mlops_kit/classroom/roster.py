"""The class list: who gets an account, read from a CSV file.

The roster is a CSV file with the header ``username,name`` and one learner per
row. A username becomes an OS account on the classroom's machine and the
learner's kit user (their MLflow account and their folder under
``users/``), so it must be valid for both: a lowercase letter, then lowercase
letters, digits or ``_``, at most 32 characters (``ada``, ``grace_h``).
"""
from __future__ import annotations

import csv
import pwd
from dataclasses import dataclass
from pathlib import Path

from mlops_kit.exceptions import ConfigError
from mlops_kit.workspace import check_user

__all__ = ["Learner", "load_roster", "learner_home", "check_username", "RESERVED_NAMES"]

#: names a roster may not take: they are system accounts on a Debian machine
RESERVED_NAMES: frozenset[str] = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www_data", "backup", "list", "irc", "gnats", "nobody", "postgres", "admin",
    "systemd_network", "messagebus", "sshd", "jupyterhub"})


@dataclass(frozen=True)
class Learner:
    """One row of the roster: the account name and the person's name."""

    username: str
    name: str


def check_username(name: str, *, where: str = "the roster") -> str:
    """``name`` if it can be both an OS account and a kit user, else :class:`ConfigError`."""
    check_user(name, source=where)
    if name in RESERVED_NAMES:
        raise ConfigError(f"{name!r} in {where} is a system account name; pick another.")
    return name


def load_roster(path: str | Path) -> list[Learner]:
    """The learners of a ``username,name`` CSV file, in file order.

    Raises :class:`ConfigError` for a missing file or header, an empty roster,
    an invalid user name or one that appears twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ConfigError(f"Cannot read the roster {path}: {err.strerror or err}.") from None
    reader = csv.DictReader(text.splitlines())
    header = [field.strip() for field in (reader.fieldnames or [])]
    if "username" not in header or "name" not in header:
        raise ConfigError(f"The roster {path} needs the header line 'username,name' "
                          f"(got {','.join(header) or 'nothing'}).")
    learners: list[Learner] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        username = row.get("username", "")
        if not username and not row.get("name"):
            continue  # a blank line
        check_username(username, where=f"{path} line {line}")
        if username in seen:
            raise ConfigError(f"{path} line {line}: {username!r} appears twice.")
        seen.add(username)
        learners.append(Learner(username, row.get("name") or username))
    if not learners:
        raise ConfigError(f"The roster {path} lists no learner.")
    return learners


def learner_home(username: str) -> Path:
    """The home folder of the OS account ``username`` (from the password database)."""
    try:
        return Path(pwd.getpwnam(username).pw_dir)
    except KeyError:
        raise ConfigError(f"There is no account {username!r} on this machine "
                          "(`mlops-kit classroom up` makes one per learner).") from None

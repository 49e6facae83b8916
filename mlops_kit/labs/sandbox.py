"""The grading sandbox: one submission, its own file system view, process tree and network.

A graded notebook is code written by someone the instructor does not control.
Each submission runs under bubblewrap (``bwrap``, Debian's ``bubblewrap``
package: the sandbox Flatpak uses; small, well kept, no daemon, no image to
build), which gives it

- a view of the file system holding only the system, the Python environment,
  the kit (read-only), the Delta jars (read-only) and a scratch folder with its
  own notebook and a throwaway workspace: not the other submissions, not the
  instructor's workspace, home or solutions;
- its own PID namespace: when the time limit kills the sandbox, every
  process the submission started dies with it, however it detached;
- its own network namespace: loopback only, for the Spark server and
  endpoints it starts itself;
- a clean environment: none of the grader's variables reach it.

Inside, the grader's check service runs as root of the sandbox and the
submission runs as ``nobody`` (see :mod:`mlops_kit.labs.check_service`).
Bubblewrap needs root (or unprivileged user namespaces) to do this; without it
:func:`sandbox_available` says why, and grading refuses to run unless the
instructor asks for an unsandboxed run explicitly.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SandboxLayout", "bwrap_command", "sandbox_available", "LEARNER_UID", "LEARNER_GID"]

#: the unprivileged user a submission runs as inside the sandbox
LEARNER_UID = 65534
LEARNER_GID = 65534
#: where the scratch folder and the grader's record appear inside the sandbox
BOX = "/box"
GRADER = "/grader"


def sandbox_available() -> tuple[bool, str]:
    """Whether submissions can be sandboxed here, and if not, what to install or change."""
    if shutil.which("bwrap") is None:
        return False, ("bubblewrap is not installed: apt-get install bubblewrap "
                       "(./run.sh test installs it when run as root)")
    if os.geteuid() != 0:
        return False, ("grading in a sandbox runs submissions as another user, which needs "
                       "root: run `mlops-kit labs grade` as root (or with sudo)")
    return True, ""


@dataclass(frozen=True)
class SandboxLayout:
    """What the sandbox shows, read-only or writable, and where."""

    box: Path        # the submission's scratch folder (writable by it) -> /box
    grader: Path     # the grader's record, writable only by the service -> /grader
    m2_repo: Path    # the Delta jars

    def read_only(self) -> list[Path]:
        """Folders the submission may read: system, Python, kit, jars; never home or the repo."""
        import mlops_kit

        kit = Path(mlops_kit.__file__).resolve().parent
        places = [Path("/usr"), Path("/etc"), Path(sys.prefix).resolve(),
                  Path(sys.base_prefix).resolve(), kit, self.m2_repo]
        java_home = os.environ.get("JAVA_HOME")
        if java_home:
            places.append(Path(java_home).resolve())
        unique: list[Path] = []
        for place in places:
            if place.exists() and not any(place == u or u in place.parents for u in unique):
                unique = [u for u in unique if place not in u.parents] + [place]
        return unique


def bwrap_command(layout: SandboxLayout, argv: list[str], env: dict[str, str]) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` inside the sandbox with exactly ``env``."""
    command = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
               "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "localhost",
               "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
               "--perms", "0755", "--tmpfs", "/run"]
    for name in ("bin", "lib", "lib64", "sbin"):  # Debian: symlinks into /usr
        target = Path("/") / name
        if target.is_symlink():
            command += ["--symlink", os.readlink(target), str(target)]
        elif target.exists():
            command += ["--ro-bind", str(target), str(target)]
    places = layout.read_only()
    # bubblewrap makes missing parents 0700; the submission's user must pass through them
    parents = sorted({str(p) for place in places for p in place.parents if str(p) != "/"},
                     key=lambda p: p.count("/"))
    for parent in parents:
        command += ["--perms", "0755", "--dir", parent]
    for place in places:
        command += ["--ro-bind", str(place), str(place)]
    command += ["--bind", str(layout.box), BOX, "--bind", str(layout.grader), GRADER,
                "--chdir", f"{BOX}/work", "--clearenv"]
    for name, value in sorted(env.items()):
        command += ["--setenv", name, value]
    return command + ["--", *argv]

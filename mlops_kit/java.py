"""Find a Java runtime Spark can use (17 or 21) and the Delta jars it needs.

Spark 4 runs on Java 17 or 21 only. Delta's Python package ships no jars:
Spark resolves ``io.delta:delta-spark_2.13`` from the local Maven repository
(``~/.m2/repository``). :func:`ensure_delta_jars` fills that repository once
with ``mvn dependency:get`` so every later start is offline and quick.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mlops_kit.exceptions import EnvironmentProblem

__all__ = ["JavaRuntime", "find_java", "delta_version", "delta_jars", "ensure_delta_jars",
           "m2_repository"]

SUPPORTED_JAVA = (17, 21)
_JVM_DIRS = (Path("/usr/lib/jvm"), Path("/usr/local/lib/jvm"), Path("/opt/java"))


@dataclass(frozen=True)
class JavaRuntime:
    """A Java installation: its home folder and major version."""

    home: Path
    major: int


def _major_of(home: Path) -> int | None:
    """Read the major version from ``<home>/release`` (no JVM start needed)."""
    release = home / "release"
    if release.is_file():
        match = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if match:
            return int(match.group(1))
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=20
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def _candidates() -> list[Path]:
    homes: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    for root in _JVM_DIRS:
        if root.is_dir():
            homes.extend(sorted(p for p in root.iterdir() if (p / "bin" / "java").exists()))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(os.path.realpath(on_path)).parent.parent)
    return homes


def find_java(*, set_java_home: bool = True) -> JavaRuntime:
    """Return a Java 17 or 21 runtime, preferring ``JAVA_HOME``.

    Raises
    ------
    EnvironmentProblem
        When no supported Java is installed; the message says how to get one.
    """
    seen: list[str] = []
    for home in _candidates():
        major = _major_of(home)
        seen.append(f"{home} ({major or '?'})")
        if major in SUPPORTED_JAVA:
            runtime = JavaRuntime(home=home.resolve(), major=major)
            if set_java_home:
                os.environ["JAVA_HOME"] = str(runtime.home)
            return runtime
    found = "; ".join(seen) or "none"
    raise EnvironmentProblem(
        "Spark needs Java 17 or 21, and none was found "
        f"(looked at JAVA_HOME, /usr/lib/jvm and PATH: {found}). "
        "Install one (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`; "
        "conda: `conda install -c conda-forge openjdk=17`) or set JAVA_HOME to it."
    )


def delta_version() -> str:
    """Version of the installed ``delta-spark`` Python package (the jar must match)."""
    try:
        return metadata.version("delta-spark")
    except metadata.PackageNotFoundError as err:  # pragma: no cover - install problem
        raise EnvironmentProblem(
            "delta-spark is not installed. Run `pip install -e .` in the repo."
        ) from err


def m2_repository() -> Path:
    """The local Maven repository the Delta jars are read from (``MLOPS_KIT_M2_REPO``)."""
    return Path(os.environ.get("MLOPS_KIT_M2_REPO", Path.home() / ".m2" / "repository"))


def delta_jars() -> list[Path]:
    """Paths of the Delta jars in the local Maven repository (may not exist yet)."""
    version = delta_version()
    base = m2_repository() / "io" / "delta"
    return [
        base / "delta-spark_2.13" / version / f"delta-spark_2.13-{version}.jar",
        base / "delta-storage" / version / f"delta-storage-{version}.jar",
    ]


def ensure_delta_jars() -> list[Path]:
    """Make sure the Delta jars are in ``~/.m2``, fetching them with Maven if needed.

    Returns the jar paths when they are present. Without ``mvn``, returns an
    empty list: Spark's own resolver (Ivy) will then download them on first start.

    Raises
    ------
    EnvironmentProblem
        When ``mvn`` exists but cannot fetch the artifact.
    """
    jars = delta_jars()
    if all(jar.is_file() for jar in jars):
        return jars
    mvn = shutil.which("mvn")
    if mvn is None:
        return []
    artifact = f"io.delta:delta-spark_2.13:{delta_version()}"
    result = subprocess.run(
        [mvn, "-q", "-B", "dependency:get", f"-Dartifact={artifact}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0 or not all(jar.is_file() for jar in jars):
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise EnvironmentProblem(
            f"Could not fetch the Delta jars ({artifact}) with Maven:\n{tail}\n"
            "Check that Maven Central is reachable, or copy the jars into ~/.m2/repository."
        )
    return jars

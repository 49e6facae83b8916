"""A model as a container image: the Dockerfile MLflow writes for it.

``mlflow models build-docker`` builds an image that serves a model over REST;
it needs a Docker engine. ``mlflow models generate-dockerfile`` writes the same
image's recipe without one: the ``Dockerfile`` and a copy of the model beside
it, ready for ``docker build`` (or any image builder, in CI or on a cloud)
on a machine that has an engine. Writing it downloads nothing: the model is
copied from the registry's store, and the base image and packages are fetched
only when someone builds the image. :func:`generate_dockerfile` holds the
command to that (``offline=True``): every web proxy of the child points at a
closed port on 127.0.0.1, so a download would fail the call instead of
happening quietly.

>>> made = generate_dockerfile("models:/dev.ada.price@champion", "/tmp/price-image")  # doctest: +SKIP
>>> made.files                                                                         # doctest: +SKIP
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_kit.exceptions import ConfigError, EnvironmentProblem
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["GeneratedDockerfile", "generate_dockerfile"]

#: seconds the command may take (it copies one model: seconds, even on a slow disk)
_TIMEOUT = 300
#: where an offline child's web traffic goes: a port nothing listens on
_NOWHERE = "http://127.0.0.1:9"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass(frozen=True)
class GeneratedDockerfile:
    """What ``mlflow models generate-dockerfile`` wrote, and the command that wrote it."""

    command: tuple[str, ...]
    directory: Path
    log: str = field(default="", repr=False)

    @property
    def command_line(self) -> str:
        """The command as one would type it in a shell."""
        return shlex.join(("mlflow", *self.command[1:]))

    @property
    def files(self) -> "pd.DataFrame":
        """Every file written, relative to :attr:`directory`, with its size in bytes."""
        import pandas as pd

        paths = sorted(p for p in self.directory.rglob("*") if p.is_file())
        return pd.DataFrame({"file": [str(p.relative_to(self.directory)) for p in paths],
                             "bytes": [p.stat().st_size for p in paths]})

    @property
    def dockerfile(self) -> str:
        """The Dockerfile's instructions, without its comments and blank lines."""
        lines = (self.directory / "Dockerfile").read_text().splitlines()
        return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("#"))

    def __str__(self) -> str:
        return f"{self.command_line}\n-> {self.directory}"


def _mlflow_executable() -> str:
    beside = Path(sys.executable).with_name("mlflow")
    found = str(beside) if beside.exists() else shutil.which("mlflow")
    if not found:
        raise EnvironmentProblem("The `mlflow` command is not installed next to this Python. "
                                 "Install the kit's environment again: pip install -e .")
    return found


def generate_dockerfile(model_uri: str, output_dir: str | os.PathLike[str], *,
                        offline: bool = True,
                        workspace: Workspace | None = None) -> GeneratedDockerfile:
    """Run ``mlflow models generate-dockerfile`` for ``model_uri`` into ``output_dir``.

    The command runs as MLflow's own CLI (a child process that sees the
    workspace's tracking and registry URIs), with ``--env-manager local``: the
    image would install the model's pinned requirements into its own Python.
    A folder this function wrote before is replaced; any other non-empty
    folder is refused.

    Parameters
    ----------
    model_uri : str
        Any MLflow model URI (``models:/<name>@<alias>``, ``runs:/...``, a path).
    output_dir : path
        Where the ``Dockerfile`` and the ``model_dir/`` copy of the model go.
    offline : bool
        Point the command's web proxies at a closed local port (loopback
        servers, such as a local tracking server, stay reachable), so that
        anything it tried to download would make it fail.

    Returns
    -------
    GeneratedDockerfile
        The command, the folder, its files and the Dockerfile's instructions.

    Raises
    ------
    ConfigError
        When ``output_dir`` holds files that are not a generated Dockerfile's.
    EnvironmentProblem
        When the command fails (its output's tail is in the message).
    """
    ws = workspace or get_workspace()
    out = Path(output_dir)
    if out.exists() and any(out.iterdir()):
        if not (out / "Dockerfile").is_file():
            raise ConfigError(f"generate_dockerfile writes into an empty folder or one it wrote "
                              f"before. Got {out}, which holds other files: choose another folder.")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = (_mlflow_executable(), "models", "generate-dockerfile", "-m", str(model_uri),
               "-d", str(out), "--env-manager", "local")
    env = ws.to_environ(plain_mlflow=True)
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    if offline:
        env.update({name: _NOWHERE for name in _PROXY_VARIABLES})
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"`{shlex.join(command)}` did not finish within {_TIMEOUT} s.") from None
    log = done.stdout + done.stderr
    if done.returncode != 0 or not (out / "Dockerfile").is_file():
        tail = "\n".join(log.strip().splitlines()[-15:])
        raise EnvironmentProblem(f"`mlflow models generate-dockerfile` failed for {model_uri!r} "
                                 f"(exit {done.returncode}):\n{tail}")
    return GeneratedDockerfile(command=command, directory=out, log=log)

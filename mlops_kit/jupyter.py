"""JupyterLab for the course: opened without the "Jupyter news" pop-up.

On its first start JupyterLab asks whether to fetch news, in a pop-up that
covers the notebook a learner just opened. :func:`disable_news` turns that
plugin (``@jupyterlab/apputils-extension:announcements``) off in the user's
Jupyter config (``labconfig/page_config.json``, keeping whatever else is
there); ``mlops-kit lab`` does it, then starts JupyterLab.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["ANNOUNCEMENTS", "disable_news", "lab_command"]

#: the JupyterLab plugin that shows the news pop-up
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def disable_news(config_dir: str | os.PathLike[str] | None = None) -> Path:
    """Disable the news pop-up in ``config_dir`` (default: the user's Jupyter config dir).

    Returns the ``page_config.json`` written. Idempotent; other settings stay.
    """
    if config_dir is None:
        from jupyter_core.paths import jupyter_config_dir

        config_dir = jupyter_config_dir()
    path = Path(config_dir) / "labconfig" / "page_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            config = {}
    except (OSError, ValueError):
        config = {}
    disabled = config.get("disabledExtensions")
    if isinstance(disabled, list):  # the older list form
        disabled = {name: True for name in disabled}
    elif not isinstance(disabled, dict):
        disabled = {}
    if disabled.get(ANNOUNCEMENTS) is True and path.exists():
        return path
    disabled[ANNOUNCEMENTS] = True
    config["disabledExtensions"] = disabled
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def lab_command(args: list[str] | tuple[str, ...] = (), *, root: bool | None = None) -> list[str]:
    """The command that starts JupyterLab from this environment.

    As root (containers and cloud notebooks often run as root) JupyterLab
    refuses to start unless told ``--allow-root``; the kit adds it.
    """
    if root is None:
        root = os.geteuid() == 0
    extra = ["--allow-root"] if root and "--allow-root" not in args else []
    return [sys.executable, "-m", "jupyterlab", *extra, *args]


def lab_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """JupyterLab's environment: this Python's ``bin`` first on ``PATH``.

    A terminal opened in JupyterLab inherits it, so ``mlops-kit`` (and the
    course's Python) work there without activating the virtual environment.
    """
    env = dict(os.environ if environ is None else environ)
    bin_dir = os.path.dirname(sys.executable)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *parts])
    return env

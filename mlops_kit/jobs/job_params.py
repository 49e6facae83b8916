"""A job notebook's parameters as the single source of truth, however the notebook is run.

A job notebook is run by ``mlops-kit job run``, by papermill's own CLI or API,
or by a scheduler's papermill operator. Only the first checks parameters
before the kernel starts; papermill merely warns about a name the notebook
does not declare and runs on with the default. So every job notebook checks
its parameters itself, in the cell right after its ``parameters`` cell::

    from mlops_kit.jobs.job_params import check_parameters
    ws = check_parameters()

:func:`check_parameters` reads what papermill injected (its cell starts with
``# Parameters``) and the ``parameters`` cell before it from the kernel's
input history, and fails with one line on a name the notebook does not
declare, on a value of the wrong type, and on an unknown ``env``; then it
switches the kernel's workspace to the ``env`` parameter, so ``-p env prod``
means prod whoever passed it.
"""
from __future__ import annotations

import ast
import difflib
import os
from typing import Any, Mapping

from mlops_kit.exceptions import ParameterError
from mlops_kit.workspace import ENVS, Workspace, get_workspace, use_workspace

__all__ = ["check_parameters", "assignments"]

#: the first line of the cell papermill injects
INJECTED_MARKER = "# Parameters"


def assignments(source: str) -> dict[str, Any]:
    """``{name: value}`` of the top-level ``name = <literal>`` lines of a cell's source.

    A value that is not a literal is kept as ``...`` (its name still counts).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, Any] = {}
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(value)
                except (ValueError, SyntaxError, TypeError):
                    found[target.id] = ...
    return found


def _history(namespace: Mapping[str, Any]) -> list[str]:
    history = namespace.get("In")
    return [str(s) for s in history] if isinstance(history, list) else []


def _injected_and_declared(history: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What papermill injected last, and the ``parameters`` cell it followed ({} when none)."""
    for index in range(len(history) - 1, 0, -1):
        if history[index].lstrip().startswith(INJECTED_MARKER):
            return assignments(history[index]), assignments(history[index - 1])
    return {}, {}


def _check_types(injected: Mapping[str, Any], declared: Mapping[str, Any]) -> None:
    for name, value in injected.items():
        default = declared.get(name, ...)
        if default is ... or default is None or value is ...:
            continue
        expected = type(default)
        fits = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            fits = True
        if not fits:
            raise ParameterError(
                f"The parameter {name!r} must be {expected.__name__} (its default is "
                f"{default!r}). Got {value!r} ({type(value).__name__}) instead.")


def check_parameters(namespace: Mapping[str, Any] | None = None) -> Workspace:
    """Check what was injected against the ``parameters`` cell; use the ``env`` parameter.

    Parameters
    ----------
    namespace : mapping, optional
        The notebook's globals (default: the running IPython kernel's).

    Returns
    -------
    Workspace
        The active workspace, in the env the ``env`` parameter names.

    Raises
    ------
    ParameterError
        An injected name the parameters cell does not declare (with the closest
        declared name), a value whose type differs from the default's, an ``env``
        that is not one of dev, staging, prod.
    """
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    injected, declared = _injected_and_declared(_history(namespace))
    unknown = sorted(set(injected) - set(declared)) if declared else []
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(declared), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ParameterError(
            f"This job takes no parameter {name!r}.{hint} It takes: {', '.join(declared)}.")
    _check_types(injected, declared)
    env = namespace.get("env")
    if env is None:
        return get_workspace()
    if env not in ENVS:
        raise ParameterError(f"The parameter 'env' must be one of {', '.join(ENVS)}. "
                             f"Got {env!r} instead.")
    current = get_workspace()
    if current.env == env:
        return current
    os.environ["MLOPS_KIT_ENV"] = env
    workspace = current.with_env(env).activate()
    use_workspace(workspace)
    return workspace

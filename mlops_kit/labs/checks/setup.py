"""Checks of the setup lab (``solutions/00-setup/01L-setup-lab.ipynb``)."""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker


@checker("setup", "ex1", title="Name the workspace user")
def check_ex1(value: Any, **context: Any) -> CheckResult:
    """The learner's user name, as the active workspace knows it."""
    from mlops_kit.workspace import get_workspace

    expected = get_workspace().user
    if not isinstance(value, str):
        return CheckResult.fail(
            f"expected a string, got {type(value).__name__}",
            hint="the workspace has a .user attribute",
        )
    if value != expected:
        return CheckResult.fail(
            f"{value!r} is not the workspace user",
            hint="ask the active workspace: get_workspace().user",
        )
    return CheckResult.ok(f"you work as {value!r}")

"""Alert hooks: tell someone when a monitoring run found drift.

A hook is either a callable (``hook(payload)``; log it, page someone, open a
ticket) or an ``http(s)://`` URL that receives the payload as a JSON POST
(a chat webhook, an incident tool, the kit's own webhook receiver). The
payload is :meth:`DriftReport.summary`: run id, window, drifted features and
the drifted tests.
"""
from __future__ import annotations

from collections.abc import Callable

from mlops_kit.exceptions import ConfigError, EnvironmentProblem

__all__ = ["send_alert"]


def send_alert(hook: Callable[[dict], object] | str, payload: dict, *, timeout: float = 5.0) -> object:
    """Deliver ``payload`` to ``hook``; returns the callable's result or the HTTP status code.

    Raises
    ------
    ConfigError
        ``hook`` is neither callable nor an http(s) URL.
    EnvironmentProblem
        The URL could not be reached or answered with an error status: a
        monitoring job should fail loudly rather than drop its alert.
    """
    if callable(hook):
        return hook(payload)
    if not (isinstance(hook, str) and hook.startswith(("http://", "https://"))):
        raise ConfigError(f"An alert hook must be a callable or an http(s):// URL. Got {hook!r}.")
    import httpx

    try:
        response = httpx.post(hook, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise EnvironmentProblem(f"Could not deliver the drift alert to {hook}: {exc}. "
                                 "Check that the receiver is running and the URL is right.") from exc
    if response.status_code >= 400:
        raise EnvironmentProblem(f"The drift alert receiver {hook} answered {response.status_code}: "
                                 f"{response.text[:200]}")
    return response.status_code

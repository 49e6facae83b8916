"""Optional bearer-token auth for the endpoint.

With a token configured, ``/invocations``, ``/version`` and ``/metrics`` need
``Authorization: Bearer <token>``; ``/ping`` and ``/health`` stay open for
liveness probes. The comparison runs in constant time
(:func:`hmac.compare_digest`), so response timing does not leak how much of a
guess was right, and the token is never logged or echoed: it reaches the
server process through an environment variable, not its command line.
"""
from __future__ import annotations

import hmac
import os
import secrets

from mlops_kit.exceptions import ConfigError, InvalidRequestError

__all__ = ["TOKEN_ENV", "check_bearer", "new_token", "token_from_env", "validate_token"]

#: the environment variable a server process reads its token from
TOKEN_ENV = "MLOPS_KIT_SERVING_TOKEN"

_MIN_LENGTH = 16


def new_token() -> str:
    """A random URL-safe token (32 bytes of entropy)."""
    return secrets.token_urlsafe(32)


def validate_token(token: str | None) -> str | None:
    """``None`` (no auth) or a token long enough to be worth checking."""
    if token is None or token == "":
        return None
    if len(token) < _MIN_LENGTH or token.strip() != token:
        raise ConfigError(
            f"The serving token must be at least {_MIN_LENGTH} characters without "
            "surrounding spaces. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    return token


def token_from_env() -> str | None:
    """The token set in :data:`TOKEN_ENV`, if any."""
    return validate_token(os.environ.get(TOKEN_ENV))


def check_bearer(header: str | None, token: bytes) -> None:
    """Raise a 401 :class:`InvalidRequestError` unless ``header`` carries ``token``.

    Parameters
    ----------
    header : str or None
        The ``Authorization`` header as received.
    token : bytes
        The expected token, UTF-8 encoded.

    Examples
    --------
    >>> check_bearer("Bearer s3cret-s3cret-s3cret", b"s3cret-s3cret-s3cret")
    >>> check_bearer(None, b"s3cret-s3cret-s3cret")
    Traceback (most recent call last):
    ...
    mlops_kit.exceptions.InvalidRequestError: This endpoint needs a token: ...
    """
    if not header:
        raise InvalidRequestError(
            "This endpoint needs a token: send the header 'Authorization: Bearer <token>'.",
            status_code=401, error_code="UNAUTHENTICATED",
        )
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token
    ):
        raise InvalidRequestError(
            "The bearer token is not valid for this endpoint. Check the token the "
            "endpoint was started with.",
            status_code=401, error_code="UNAUTHENTICATED",
        )

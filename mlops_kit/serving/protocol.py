"""uvicorn's HTTP protocol with a header timeout, against slow-loris clients.

The endpoint's name for :mod:`mlops_kit._http`, where the protocol lives so
that the webhook receiver can use it without importing the serving package.
"""
from mlops_kit._http import DEFAULT_HEADER_TIMEOUT, HTTP_IMPLEMENTATIONS, header_timeout_protocol

__all__ = ["header_timeout_protocol", "DEFAULT_HEADER_TIMEOUT", "HTTP_IMPLEMENTATIONS"]

"""``mlops-kit serve``: the endpoint's command (:mod:`mlops_kit.serving.command`)."""
from mlops_kit.serving.command import MODULE_PROG, command, main

__all__ = ["MODULE_PROG", "command", "main"]

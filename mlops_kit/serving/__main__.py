"""``python -m mlops_kit.serving``: the ``mlops-kit serve`` command (see :mod:`mlops_kit.serving.command`)."""
from mlops_kit.serving.command import main

main()

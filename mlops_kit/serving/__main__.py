"""``python -m mlops_kit.serving``: the ``mlops-kit serve`` command (see :mod:`mlops_kit.cli.serve`)."""
from mlops_kit.cli.serve import main

main()

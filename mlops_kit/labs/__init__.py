"""Labs: exercises checked in the notebook, generated from their solutions.

- :class:`Lab` runs an exercise's checker, shows a badge and remembers results;
- :func:`checker` registers a checker (``mlops_kit/labs/checks/<lab>.py``);
- :class:`CheckResult` is what a checker returns;
- :data:`FILL_IN` is the placeholder generated labs hold (see :mod:`.build`).
"""
from mlops_kit.labs.fill_in import FILL_IN
from mlops_kit.labs.lab import Lab, LabSummary
from mlops_kit.labs.registry import CheckResult, checker

__all__ = ["Lab", "LabSummary", "CheckResult", "checker", "FILL_IN"]

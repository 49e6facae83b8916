"""Labs: exercises checked in the notebook, generated from their solutions.

- :class:`Lab` runs an exercise's checker, shows a badge and remembers results
  (also in the learner's workspace: :mod:`.progress`); ``lab.hint`` and
  ``lab.solution`` help a learner who is stuck;
- :func:`checker` registers a checker (``mlops_kit/labs/checks/<lab>.py``);
- :class:`CheckResult` is what a checker returns; :func:`expect_type` is the
  first line of a checker that needs a particular type of answer;
- :data:`FILL_IN` is the placeholder generated labs hold (see :mod:`.build`).
"""
from mlops_kit.labs.fill_in import FILL_IN
from mlops_kit.labs.lab import Lab, LabSummary
from mlops_kit.labs.registry import CheckResult, checker, expect_type

__all__ = ["Lab", "LabSummary", "CheckResult", "checker", "expect_type", "FILL_IN"]

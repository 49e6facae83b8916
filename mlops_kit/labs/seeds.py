"""Per-learner lab data: a seed derived from who is working.

Labs that generate their data from :func:`learner_seed` give every learner
different numbers (a version to find, a price rise, which rows a request
shuffles), so an answer copied from someone else's notebook, or typed in from
a demo, does not pass; the checker recomputes the expected answer from the
same seed.

>>> learner_seed("delta-lab", user="ada") == learner_seed("delta-lab", user="ada")
True
>>> learner_seed("delta-lab", user="ada") != learner_seed("delta-lab", user="bob")
True
"""
from __future__ import annotations

import hashlib

__all__ = ["learner_seed"]


def learner_seed(salt: str, *, user: str | None = None) -> int:
    """A stable seed in ``[0, 2**31)`` from ``salt`` and the workspace user.

    Parameters
    ----------
    salt : str
        Usually the lab id, so two labs of one learner get different data.
    user : str, optional
        Default: the user of the active workspace.
    """
    if user is None:
        from mlops_kit.workspace import get_workspace

        user = get_workspace().user
    digest = hashlib.sha256(f"{salt}:{user}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31

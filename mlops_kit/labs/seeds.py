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

__all__ = ["learner_seed", "READER_COLUMNS", "reader_column", "reader_queries"]


def learner_seed(salt: str, user: str | None = None) -> int:
    """A stable seed in ``[0, 2**31)`` from ``salt`` and the workspace user.

    Parameters
    ----------
    salt : str
        Usually the lab id, so two labs of one learner get different data.
    user : str, optional
        Default: the user of the active workspace.

    Examples
    --------
    >>> learner_seed("real-time-lab", "ada") == learner_seed("real-time-lab", user="ada")
    True
    """
    if user is None:
        from mlops_kit.workspace import get_workspace

        user = get_workspace().user
    digest = hashlib.sha256(f"{salt}:{user}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


#: columns the readers of the batch lab's predictions filter on, one per learner
READER_COLUMNS = ("room_type", "neighbourhood", "bedrooms")


def reader_column(seed: int) -> str:
    """The column every reader query of the batch lab filters on, for ``seed``."""
    return READER_COLUMNS[seed % len(READER_COLUMNS)]


def reader_queries(seed: int, n: int = 6) -> list[str]:
    """``n`` queries the readers of the scored listings run, for ``seed``.

    Every query asks for one value of :func:`reader_column`; some also filter
    on another low-cardinality column, and each keeps a range of predictions.

    >>> any("WHERE" in q for q in reader_queries(7))
    True
    """
    import random

    from mlops_kit.datasets import listings

    rng = random.Random(seed)
    frame = listings(200, seed=seed % 1000)
    column = reader_column(seed)
    others = [c for c in READER_COLUMNS if c != column]

    def equals(col: str) -> str:
        value = rng.choice(sorted(frame[col].unique().tolist()))
        return f"{col} = {value!r}" if isinstance(value, str) else f"{col} = {value}"

    queries = []
    for i in range(n):
        parts = [equals(column), f"prediction {rng.choice('<>')} {rng.randrange(80, 300, 10)}"]
        if i % 2:
            parts.append(equals(rng.choice(others)))
        rng.shuffle(parts)
        queries.append("SELECT id, prediction FROM predictions WHERE " + " AND ".join(parts))
    return queries

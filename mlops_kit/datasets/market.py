"""A market that moves for real: the listings' world changing, not their pipeline breaking.

The closed-loop lesson contrasts two alarms. A unit change upstream
(:func:`mlops_kit.datasets.change_units`) is a pipeline bug. :func:`market_moved`
is the other kind: composed of the drift injectors, it changes the listings the
way a city's market can change, with every feature staying in the range it had:

- each listing hosts one more guest (``accommodates + 1``);
- entire homes become most of the supply (``room_type`` mix);
- prices rise by ``price_factor`` (the label moves with the market).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.datasets.drift import change_category_mix, shift_feature, shift_label

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MOVED_ROOM_MIX", "market_moved"]

#: the room-type shares after the market moved
MOVED_ROOM_MIX = {"Entire home/apt": 0.8, "Private room": 0.15, "Hotel room": 0.05}


def market_moved(frame: "pd.DataFrame", *, seed: int = 0, extra_guests: int = 1,
                 price_factor: float = 1.3) -> "pd.DataFrame":
    """Return a copy of listings ``frame`` after a real change of the market.

    Examples
    --------
    >>> from mlops_kit.datasets import listings
    >>> before = listings(200, seed=1)
    >>> after = market_moved(before, seed=1)
    >>> bool(after["accommodates"].mean() > before["accommodates"].mean())
    True
    """
    bigger = shift_feature(frame, "accommodates", extra_guests)
    homes = change_category_mix(bigger, "room_type", MOVED_ROOM_MIX, seed=seed)
    return shift_label(homes, "price", factor=price_factor)

"""Write the course's tables into the workspace, once.

``install()`` is the first cell of the course: it generates every dataset
with fixed seeds and writes each as a Delta table (one Spark write per
table, pandas -> Spark through Arrow with an explicit schema). Running it
again is a no-op that never starts Spark, so every notebook can call it
without paying for it; ``force=True`` rewrites the tables as a new version.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mlops_kit import delta
from mlops_kit.datasets.ice_cream import ice_cream_windows
from mlops_kit.datasets.listings import listings, review_events
from mlops_kit.exceptions import ConfigError
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["DEFAULT_SIZES", "TABLES", "install"]

#: rows per dataset; the course's defaults keep a notebook well under a minute
DEFAULT_SIZES: dict[str, int] = {"listings": 5000, "review_events": 20_000, "ice_cream": 1000}

#: tables install() writes, in order
TABLES: tuple[str, ...] = ("listings", "review_events", "ice_cream_reference", "ice_cream_current")


def _frames(sizes: Mapping[str, int], seed: int, wanted: set[str]) -> dict[str, pd.DataFrame]:
    """Generate only the frames whose tables will be written."""
    frames: dict[str, pd.DataFrame] = {}
    if wanted & {"listings", "review_events"}:
        frames["listings"] = listings(sizes["listings"], seed=seed)
    if "review_events" in wanted:
        frames["review_events"] = review_events(frames["listings"], sizes["review_events"],
                                                seed=seed + 1)
    if wanted & {"ice_cream_reference", "ice_cream_current"}:
        reference, current = ice_cream_windows(sizes["ice_cream"], seed=seed + 2, drift=True)
        frames["ice_cream_reference"], frames["ice_cream_current"] = reference, current
    return frames


def install(
    workspace: Workspace | None = None,
    *,
    force: bool = False,
    sizes: Mapping[str, int] | None = None,
    seed: int = 42,
) -> pd.DataFrame:
    """Write the course tables (listings, review events, ice-cream windows) as Delta.

    Parameters
    ----------
    workspace : Workspace, optional
        Where the tables go; the active workspace by default.
    force : bool
        Rewrite tables that already exist (as a new Delta version). Without
        it, existing tables are left as they are, whatever ``sizes`` says.
    sizes : mapping, optional
        Rows per dataset, overriding :data:`DEFAULT_SIZES` key by key
        (``listings``, ``review_events``, ``ice_cream``).
    seed : int
        Base seed; each dataset derives its own from it.

    Returns
    -------
    pandas.DataFrame
        One row per table (index ``table``): ``rows``, ``version``,
        ``written`` (False when it already existed) and ``path``.

    Examples
    --------
    >>> from mlops_kit import datasets
    >>> datasets.install(sizes={"listings": 2000})  # doctest: +SKIP
    """
    unknown = set(sizes or {}) - set(DEFAULT_SIZES)
    if unknown:
        raise ConfigError(
            f"Unknown dataset(s) in sizes: {sorted(unknown)}. Expected keys from "
            f"{sorted(DEFAULT_SIZES)}."
        )
    merged = {**DEFAULT_SIZES, **(sizes or {})}
    bad = {k: v for k, v in merged.items() if not isinstance(v, int) or v < 1}
    if bad:
        raise ConfigError(f"sizes must be positive integers. Got {bad}.")
    ws = workspace or get_workspace()
    ws.tables_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: str(ws.table_path(name)) for name in TABLES}
    wanted = {name for name in TABLES if force or not delta.table_exists(paths[name])}
    frames = _frames(merged, seed, wanted)

    rows = []
    for name in TABLES:
        path = paths[name]
        if name in wanted:
            version = delta.write_table(frames[name], path, mode="overwrite",
                                        overwrite_schema=True)
            count = len(frames[name])
        else:
            version, count = delta.table_version(path), delta.row_count(path)
        rows.append({"table": name, "rows": count, "version": version,
                     "written": name in wanted, "path": path})
    return pd.DataFrame(rows).set_index("table")

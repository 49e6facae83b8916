"""``display()``: tables a person can read, for Spark and pandas alike.

Like Databricks' ``display``: a Spark DataFrame becomes an HTML table of its
first ``limit`` rows with a note saying whether there are more, a pandas
DataFrame likewise; anything else goes to IPython's ``display``. Outside a
Jupyter kernel (a script, a terminal) the same information is printed as text.
Only ``limit + 1`` rows are fetched, so showing a huge table stays cheap.
"""
from __future__ import annotations

import html
import sys
from typing import Any

from mlops_kit.labs.widgets import in_kernel, show_html

__all__ = ["display"]


def _is_spark_dataframe(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.")


def _is_pandas(obj: Any) -> bool:
    pd = sys.modules.get("pandas")  # a pandas object means pandas is imported already
    return pd is not None and isinstance(obj, (pd.DataFrame, pd.Series))


def _table(frame, *, more: bool, what: str) -> tuple[str, str]:
    """HTML and text of a pandas frame plus a note about the rows shown."""
    shown = len(frame)
    note = f"{shown} row{'s' if shown != 1 else ''}"
    if more:
        note = f"first {note} shown; the {what} has more (display(df, limit=n) shows more)"
    import pandas as pd

    with pd.option_context("display.max_colwidth", None):  # a cell's whole text, never "..."
        markup = (
            '<div class="mlops-kit-display">'
            + frame.to_html(index=False, border=0, classes="mlops-kit-table", na_rep="null")
            + f'<p style="color:#5f6368;font-size:0.9em">{html.escape(note)}</p></div>'
        )
        text = frame.to_string(index=False, na_rep="null") + f"\n({note})"
    return markup, text


def display(obj: Any, limit: int = 20) -> None:
    """Show ``obj``: Spark and pandas frames as tables of at most ``limit`` rows.

    Parameters
    ----------
    obj : Any
        A Spark DataFrame, a pandas DataFrame or Series, or anything IPython shows.
    limit : int
        Most rows to show (only ``limit + 1`` are collected from Spark).
    """
    if _is_spark_dataframe(obj):
        if obj.isStreaming:
            text = f"streaming DataFrame: {obj.schema.simpleString()} (write it to a sink to see rows)"
            show_html(f"<pre>{html.escape(text)}</pre>", text)
            return
        rows = obj.limit(limit + 1).toPandas()
        markup, text = _table(rows.head(limit), more=len(rows) > limit, what="DataFrame")
        show_html(markup, text)
    elif _is_pandas(obj):
        frame = obj.to_frame() if obj.ndim == 1 else obj
        markup, text = _table(frame.head(limit), more=len(frame) > limit, what="frame")
        show_html(markup, text)
    elif in_kernel():
        from IPython.display import display as ipython_display

        ipython_display(obj)
    else:
        print(obj)

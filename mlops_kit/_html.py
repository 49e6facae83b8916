"""Small HTML and text cards for result objects that notebooks display.

A result a lesson prints (an A/B test, a canary decision, a drift report)
shows as a two-column table in Jupyter (``_repr_html_``) and as aligned
``name: value`` lines in a terminal or papermill (``_repr_pretty_``), never
as a one-line dataclass repr.
"""
from __future__ import annotations

import html
import math
from typing import Any, Sequence

__all__ = ["fmt", "card_html", "card_text", "CardMixin"]


def fmt(value: Any, digits: int = 4) -> str:
    """A value as a short string: floats with ``digits`` significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def card_html(title: str, rows: Sequence[tuple[str, Any]], *, verdict: str | None = None,
              good: bool | None = None) -> str:
    """A titled two-column table; ``verdict`` is a coloured line under the title."""
    color = {True: "#137333", False: "#c5221f", None: "#5f6368"}[good]
    body = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{html.escape(str(k))}</th>"
                   f"<td style='text-align:right'>{html.escape(fmt(v))}</td></tr>" for k, v in rows)
    line = (f"<div style='color:{color};font-weight:bold'>{html.escape(verdict)}</div>"
            if verdict else "")
    return (f"<div class='mlops-kit-card' style='font-family:sans-serif;font-size:0.9em'>"
            f"<b>{html.escape(title)}</b>{line}<table class='mlops-kit-table'>{body}</table></div>")


def card_text(title: str, rows: Sequence[tuple[str, Any]], *, verdict: str | None = None) -> str:
    """The same card as plain text lines."""
    width = max((len(str(k)) for k, _ in rows), default=0)
    lines = [title] + ([verdict] if verdict else [])
    lines += [f"  {str(k):<{width}}  {fmt(v)}" for k, v in rows]
    return "\n".join(lines)


class CardMixin:
    """Give a class ``_repr_html_`` and ``_repr_pretty_`` from its ``_card()``.

    ``_card()`` returns ``(title, rows, verdict, good)``. A dataclass keeps its
    ``__repr__``; IPython prefers it to an inherited ``_repr_pretty_``, so the
    dataclass also sets ``_repr_pretty_ = CardMixin._repr_pretty_`` in its body.
    """

    def _card(self) -> tuple[str, list[tuple[str, Any]], str | None, bool | None]:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        title, rows, verdict, good = self._card()
        return card_html(title, rows, verdict=verdict, good=good)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        title, rows, verdict, _ = self._card()
        printer.text(card_text(title, rows, verdict=verdict))

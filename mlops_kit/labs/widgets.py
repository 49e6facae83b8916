"""How a check result is shown: a widget badge in Jupyter, one text line elsewhere.

In a Jupyter kernel (JupyterLab, Notebook, papermill) the result is displayed
as one output whose bundle holds an ipywidgets ``HTML`` view (what JupyterLab
renders, a coloured badge with the CSS class ``mlops-kit-badge``), a static
``text/html`` copy (for viewers without a widget manager) and the text line
(what papermill and nbval see). Outside a kernel the text line is printed.
Nothing here decides pass or fail: that is the checker's job.
"""
from __future__ import annotations

import html
import sys
from typing import Any

__all__ = ["in_kernel", "result_line", "badge_html", "show_result", "show_html"]

_STYLE = {
    True: "background:#e6f4ea;border-left:4px solid #1e8e3e;color:#0d3d1a",
    False: "background:#fce8e6;border-left:4px solid #d93025;color:#5c1410",
}
_BASE_STYLE = "padding:6px 10px;margin:4px 0;border-radius:3px;font-family:sans-serif"


def in_kernel() -> bool:
    """True when running in a Jupyter kernel (not a terminal IPython, not plain Python)."""
    if "IPython" not in sys.modules:  # never import IPython just to find out
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def result_line(label: str, passed: bool, message: str, hint: str | None = None) -> str:
    """The one-line text form: ``✔ Exercise 1 — title: reason``."""
    mark = "✔" if passed else "✘"
    line = f"{mark} {label}: {message}"
    if hint and not passed:
        line = f"{line.rstrip('.')}. Hint: {hint}"
    return line


def badge_html(label: str, passed: bool, message: str, hint: str | None = None) -> str:
    """The badge markup; the stable class ``mlops-kit-badge`` is what tests look for."""
    state = "pass" if passed else "fail"
    mark = "✔" if passed else "✘"
    parts = [
        f'<div class="mlops-kit-badge mlops-kit-badge-{state}" '
        f'style="{_BASE_STYLE};{_STYLE[passed]}">',
        f"{mark} <b>{html.escape(label)}</b>: {html.escape(message)}",
    ]
    if hint and not passed:
        parts.append(f'<br><span class="mlops-kit-hint"><b>Hint:</b> {html.escape(hint)}</span>')
    parts.append("</div>")
    return "".join(parts)


def _widget_bundle(markup: str) -> dict[str, Any] | None:
    """The mime bundle of a live ``ipywidgets.HTML``, or None without ipywidgets."""
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        return None
    widget = ipywidgets.HTML(value=markup)
    bundle = widget._repr_mimebundle_()
    return dict(bundle) if bundle else None


def show_html(markup: str, text: str, *, widget: bool = False) -> None:
    """Display ``markup`` in a kernel (as a widget if asked) or print ``text``."""
    if not in_kernel():
        print(text)
        return
    from IPython.display import display

    bundle = _widget_bundle(markup) if widget else None
    bundle = bundle or {}
    bundle.update({"text/plain": text, "text/html": markup})
    display(bundle, raw=True)


def show_result(label: str, passed: bool, message: str, hint: str | None = None) -> None:
    """Present one check result the way the current frontend can show it."""
    show_html(
        badge_html(label, passed, message, hint),
        result_line(label, passed, message, hint),
        widget=True,
    )

"""How lab output is shown: plain HTML in Jupyter, one text line elsewhere.

A check result, a question, a hint or a solution is displayed as one output
holding ``text/html`` (a coloured box with a stable CSS class such as
``mlops-kit-badge``) and ``text/plain`` (what papermill, nbval and terminals
see). No ipywidgets: a saved notebook reopened without its kernel, viewed on
GitHub or exported with nbconvert shows the same badges, where a widget view
would say "model not found". Outside a kernel the text is printed.

Titles, messages and hints may use simple inline markdown (```code```,
``*emphasis*``, ``**strong**``): :func:`inline_html` renders it after escaping
everything else, :func:`inline_text` strips the markers for the text form.
Nothing here decides pass or fail: that is the checker's job.
"""
from __future__ import annotations

import html
import re
import sys

__all__ = [
    "in_kernel", "inline_html", "inline_text", "result_line", "badge_html",
    "note_html", "label_separator", "show_result", "show_html",
]

_STYLE = {
    True: "background:#e6f4ea;border-left:4px solid #1e8e3e;color:#0d3d1a",
    False: "background:#fce8e6;border-left:4px solid #d93025;color:#5c1410",
}
_BASE_STYLE = "padding:6px 10px;margin:4px 0;border-radius:3px;font-family:sans-serif"
_NOTE_STYLE = {
    "hint": "background:#fef7e0;border-left:4px solid #f9ab00;color:#3c2f00",
    "solution": "background:#e8f0fe;border-left:4px solid #1a73e8;color:#0b2a5b",
    "note": "background:#f1f3f4;border-left:4px solid #80868b;color:#202124",
}

#: ``code``, **strong**, *emphasis* / _emphasis_ (not inside words: snake_case stays)
_CODE = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"
                       r"|(?<![\w])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w])")


def in_kernel() -> bool:
    """True when running in a Jupyter kernel (not a terminal IPython, not plain Python)."""
    if "IPython" not in sys.modules:  # never import IPython just to find out
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def inline_text(text: str) -> str:
    """``text`` without inline markdown markers: ```x``` -> ``x``, ``*x*`` -> ``x``.

    >>> inline_text("read the `*current*` version")
    'read the *current* version'
    >>> inline_text("the *current* **price**, not snake_case_names")
    'the current price, not snake_case_names'
    """
    parts = _CODE.split(text)  # odd items are code: keep their content verbatim
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(part)
            continue
        part = _STRONG.sub(r"\1", part)
        part = _EMPHASIS.sub(lambda m: m.group(1) or m.group(2), part)
        out.append(part.replace("`", ""))
    return "".join(out)


def inline_html(text: str) -> str:
    """``text`` as safe HTML: everything escaped, then ```code```, ``**b**``, ``*em*`` rendered.

    >>> inline_html("use `df[\\"x\\"] < 3` on the *current* <table>")
    'use <code>df[&quot;x&quot;] &lt; 3</code> on the <em>current</em> &lt;table&gt;'
    """
    parts = _CODE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        part = html.escape(part.replace("`", ""))
        part = _STRONG.sub(r"<b>\1</b>", part)
        part = _EMPHASIS.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", part)
        out.append(part)
    return "".join(out)


def label_separator(label: str) -> str:
    """``": "`` after a title, a space after one that already ends a sentence (``...units?``)."""
    return " " if label.rstrip()[-1:] in "?!.:" else ": "


def result_line(label: str, passed: bool, message: str, hint: str | None = None) -> str:
    """The one-line text form: ``✔ Exercise 1 — title: reason``."""
    mark = "✔" if passed else "✘"
    label, message = inline_text(label), inline_text(message)
    line = f"{mark} {label}{label_separator(label)}{message}"
    if hint and not passed:
        line = f"{line.rstrip('.')}. Hint: {inline_text(hint)}"
    return line


def badge_html(label: str, passed: bool, message: str, hint: str | None = None) -> str:
    """The badge markup; the stable class ``mlops-kit-badge`` is what tests look for."""
    state = "pass" if passed else "fail"
    mark = "✔" if passed else "✘"
    parts = [
        f'<div class="mlops-kit-badge mlops-kit-badge-{state}" '
        f'style="{_BASE_STYLE};{_STYLE[passed]}">',
        f"{mark} <b>{inline_html(label)}</b>{label_separator(inline_text(label))}{inline_html(message)}",
    ]
    if hint and not passed:
        parts.append(f'<br><span class="mlops-kit-hint"><b>Hint:</b> {inline_html(hint)}</span>')
    parts.append("</div>")
    return "".join(parts)


def note_html(kind: str, title: str, body_html: str) -> str:
    """A box for a hint, a solution or a note (CSS class ``mlops-kit-<kind>``)."""
    style = _NOTE_STYLE.get(kind, _NOTE_STYLE["note"])
    return (
        f'<div class="mlops-kit-{kind}" style="{_BASE_STYLE};{style}">'
        f"<b>{inline_html(title)}</b><br>{body_html}</div>"
    )


def show_html(markup: str, text: str) -> None:
    """Display ``markup`` (with ``text`` as its plain form) in a kernel, else print ``text``."""
    if not in_kernel():
        print(text)
        return
    from IPython.display import display

    display({"text/plain": text, "text/html": markup}, raw=True)


def show_result(label: str, passed: bool, message: str, hint: str | None = None) -> None:
    """Present one check result: a badge in Jupyter, a text line elsewhere."""
    show_html(badge_html(label, passed, message, hint), result_line(label, passed, message, hint))

"""Sanitizing what a rendered course page shows: no script of a notebook runs in a reader's browser.

A course page renders the notebook's markdown and its HTML and Markdown
outputs. Those can hold ``<script>``, ``<img onerror=...>`` or a
``javascript:`` link (a learner's notebook, a pasted snippet, a library's
output), and a page opened from a shared folder would run them. nbconvert
sanitizes when ``sanitize_html`` is on, but its allow-list drops headings,
paragraphs and table heads, which every lesson uses; this module keeps the
same cleaner (bleach, which nbconvert already depends on) with the tags and
attributes a lesson's prose, tables, badges and plots need, and nothing that
executes: no scripts, no event handlers, no ``javascript:`` or ``data:``
links (``data:image/...`` is kept for pictures).
"""
from __future__ import annotations

__all__ = ["clean_html", "ALLOWED_TAGS"]

#: what lessons render: prose, headings, lists, tables, code, images, badges, details
ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
})

_COMMON = {"class", "id", "title", "style", "align", "role"}
_BY_TAG = {
    "a": {"href", "name", "target", "rel"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "details": {"open"},
}
_SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:")
#: layout properties the kit's badges and cards use, on top of bleach's colour and font list
_LAYOUT_CSS = frozenset({
    "border", "border-left", "border-right", "border-top", "border-bottom", "border-radius",
    "border-collapse", "padding", "padding-left", "padding-right", "padding-top",
    "padding-bottom", "margin", "margin-left", "margin-right", "margin-top", "margin-bottom",
    "display", "list-style", "max-width", "min-width", "text-align", "vertical-align",
    "white-space", "line-height", "gap", "font-variant-numeric", "opacity",
})


def _allowed(tag: str, name: str, value: str) -> bool:
    """Whether attribute ``name="value"`` may stay on ``<tag>``."""
    if name not in _COMMON and name not in _BY_TAG.get(tag, ()):
        return False  # every on* handler, srcdoc, formaction...
    if name in ("href", "src"):
        target = value.strip().lower()
        if tag == "img" and target.startswith("data:image/") and not target.startswith("data:image/svg"):
            return True
        # a relative link (another page of the course, an anchor) or a web address
        has_scheme = ":" in target.split("/", 1)[0]
        return not has_scheme or target.startswith(_SAFE_LINK_SCHEMES)
    return True


def clean_html(element: str | bytes) -> str:
    """``element`` with everything that could run code removed; the rest kept as it was."""
    import bleach
    from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer

    text = element.decode() if isinstance(element, bytes) else str(element)
    css = CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES | _LAYOUT_CSS)
    return bleach.clean(text, tags=ALLOWED_TAGS, attributes=_allowed,
                        protocols=["http", "https", "mailto", "data"], strip=True,
                        strip_comments=True, css_sanitizer=css)

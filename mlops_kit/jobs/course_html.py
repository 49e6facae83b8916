"""A course run as web pages: every executed notebook, and an index in course order.

:func:`write_course_html` turns the entries of a course run (see
:func:`mlops_kit.jobs.course.load_course_run`) into a folder a browser opens
without a server::

    DIR/index.html              module, notebook, kind, status, seconds, a link each
    DIR/course.css              JupyterLab's look, shared by every page
    DIR/<module>/<stem>.html    the executed notebook: code, outputs, plots

Pages are rendered with nbconvert's ``lab`` template; plots stay embedded in
their page (PNG data), the stylesheet is written once instead of into every
page, and each page starts with links to the index and its neighbours.
Absolute paths of this machine (the workspace, the repository, the Python
environment, the home folder) are replaced by short names, so the pages can
be shared.
"""
from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path
from typing import Iterable

from mlops_kit.claims import CLAIM_TAG
from mlops_kit.jobs.course import STATUSES, CourseEntry
from mlops_kit.jobs.html_sanitize import clean_html
from mlops_kit.jobs.runner import REPO_ROOT
from mlops_kit.workspace import Workspace, get_workspace

__all__ = ["write_course_html", "render_notebook_html", "path_replacements"]

INDEX = "index.html"
STYLESHEET = "course.css"

_PAGE = r"""{%- extends 'index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock html_head_js_requirejs %}
{% block notebook_css %}<link rel="stylesheet" href="{{ resources.course.css }}">{% endblock notebook_css %}
{% block body_header %}{{ super() }}{{ resources.course.nav }}{% endblock body_header %}
{% macro alt(output) -%}
alt="{{ (output.data.get('text/plain') or 'a figure') | escape_html }}" src=
{%- endmacro %}
{% block data_png scoped %}{{ super() | replace('<img src=', '<img ' ~ alt(output)) }}{% endblock data_png %}
{% block data_jpg scoped %}{{ super() | replace('<img src=', '<img ' ~ alt(output)) }}{% endblock data_jpg %}
"""

#: JupyterLab's inline rules that the ``lab`` template adds to every page
_EXTRA_CSS = """
a.anchor-link { display: none; }
.jp-InputArea, .jp-InputArea-editor { overflow: hidden; }
.jp-OutputArea-output pre { line-height: inherit; font-family: inherit; }
.jp-RenderedText pre { color: var(--jp-content-font-color1); font-size: var(--jp-code-font-size); }
.jp-Collapser { display: none; }
.jp-OutputArea-output img { max-width: 100%; }
nav.course-nav { display: flex; gap: 1.5em; padding: 0.6em 1em; margin-bottom: 1em;
  border-bottom: 1px solid var(--jp-border-color2); font-family: var(--jp-ui-font-family); }
nav.course-nav .status { margin-left: auto; }
.status.status-passed { color: #1a7f37; } .status.status-failed { color: #cf222e; font-weight: bold; }
.status.status-not-run, tr.status-not-run { color: #6e7781; }
table.course td:not(.error) { white-space: nowrap; }
table.course { border-collapse: collapse; margin: 1em 0; }
table.course th, table.course td { padding: 0.3em 0.9em; border-bottom: 1px solid #d0d7de;
  text-align: left; }
table.course td.seconds { text-align: right; font-variant-numeric: tabular-nums; }
table.course td.error { color: #6e7781; font-size: 0.9em; }
body.course-index { font-family: var(--jp-ui-font-family, sans-serif); padding: 1em 2em; }
"""


def path_replacements(workspace: Workspace | None = None, *,
                      course_root: str | Path | None = None) -> list[tuple[str, str]]:
    """Absolute paths of this machine and what pages show instead, longest first.

    The workspace becomes ``$MLOPS_KIT_HOME``, the Python environment
    ``<python>``, the course folder (default: the repository) ``<course>``
    and the home folder ``~``.
    """
    ws = workspace or get_workspace()
    pairs = {
        str(ws.root): "$MLOPS_KIT_HOME",
        sys.prefix: "<python>",
        sys.base_prefix: "<python>",
        str(REPO_ROOT): "<course>",
        str(Path(course_root).resolve() if course_root else REPO_ROOT): "<course>",
        str(Path.home()): "~",
    }
    for path in list(pairs):
        resolved = os.path.realpath(path)
        pairs.setdefault(resolved, pairs[path])
    # a bare "/" (a home of "/") would rewrite every path: keep real folders only
    usable = [(p, short) for p, short in pairs.items() if len(p.rstrip("/")) > 1]
    return sorted(usable, key=lambda pair: len(pair[0]), reverse=True)


def _scrub(text: str, replacements: Iterable[tuple[str, str]]) -> str:
    """Replace whole paths in one pass (a replaced path is never matched again)."""
    shorts = dict(replacements)
    if not shorts:
        return text
    alternatives = "|".join(re.escape(p) for p in sorted(shorts, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.~-])({alternatives})(?![\w.-])")
    return pattern.sub(lambda match: shorts[match.group(1)], text)


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab", template_file="course_page.html.j2",
                            extra_loaders=[DictLoader({"course_page.html.j2": _PAGE})])
    # markdown and HTML outputs are cleaned of anything that runs (html_sanitize)
    exporter.sanitize_html = True
    exporter.register_filter("clean_html", clean_html)
    # a claim cell's code only renders its sentence: the reader sees the sentence
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={CLAIM_TAG}),
                                   enabled=True)
    return exporter


def _stylesheet(exporter) -> str:
    env = exporter.environment
    parts = [env.loader.get_source(env, f"static/{name}")[0]
             for name in ("index.css", "theme-light.css")]
    return "\n".join(parts) + _EXTRA_CSS


def _status_class(status: str) -> str:
    return "status-" + status.replace(" ", "-")


def _page_name(entry: CourseEntry) -> str:
    return f"{entry.name}.html"


def _nav(entries: list[CourseEntry], index: int, up: str) -> str:
    entry = entries[index]
    links = [f'<a href="{up}{INDEX}">course index</a>']
    rendered = [i for i, e in enumerate(entries) if e.executed]
    before = [i for i in rendered if i < index]
    after = [i for i in rendered if i > index]
    if before:
        prev = entries[before[-1]]
        links.append(f'<a href="{up}{html.escape(_page_name(prev))}">&larr; {html.escape(prev.name)}</a>')
    if after:
        nxt = entries[after[0]]
        links.append(f'<a href="{up}{html.escape(_page_name(nxt))}">{html.escape(nxt.name)} &rarr;</a>')
    seconds = f", {entry.seconds:.1f} s" if entry.seconds is not None else ""
    links.append(f'<span class="status {_status_class(entry.status)}">'
                 f'{html.escape(entry.name)}: {entry.status}{seconds}</span>')
    return f'<nav class="course-nav">{"".join(links)}</nav>'


def render_notebook_html(path: str | Path, *, css_href: str = STYLESHEET, nav: str = "",
                         replacements: Iterable[tuple[str, str]] = (), exporter=None) -> str:
    """One executed notebook as an HTML page (outputs and plots included).

    Parameters
    ----------
    path : path
        The executed notebook.
    css_href : str
        Link to the shared stylesheet (written by :func:`write_course_html`).
    nav : str
        HTML put at the top of the page (links to the index and neighbours).
    replacements : iterable of (path, short name)
        Text replaced in the page (see :func:`path_replacements`).
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("papermill", None)  # input/output paths and environment of the run
    exporter = exporter or _exporter()
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": Path(path).stem},
                       "course": {"css": css_href, "nav": nav}},
    )
    return _scrub(body, [(path, html.escape(short)) for path, short in replacements])


def _learners_lab(entry: CourseEntry, course_root: str | Path | None) -> Path | None:
    """The lab notebook learners open for this worked solution (``labs/<module>/<file>``)."""
    root = Path(course_root) if course_root else REPO_ROOT
    module, _, stem = entry.name.partition("/")
    path = root / "labs" / module / f"{stem}.ipynb"
    return path if path.is_file() else None


def _with_page(entry: CourseEntry, run_dir: Path) -> CourseEntry:
    """``entry``, without its executed copy when that file is gone (no link to nothing)."""
    if not entry.executed or (run_dir / entry.executed).is_file():
        return entry
    return CourseEntry(entry.module, entry.name, entry.kind, entry.status, entry.seconds, None,
                       entry.error or "executed notebook not found")


def _index_html(entries: list[CourseEntry], title: str) -> str:
    counts = {status: sum(e.status == status for e in entries) for status in STATUSES}
    total = sum(e.seconds or 0 for e in entries)
    rows = []
    for number, entry in enumerate(entries, 1):
        name = html.escape(entry.name.split("/", 1)[-1])
        link = f'<a href="{html.escape(_page_name(entry))}">{name}</a>' if entry.executed else name
        seconds = f"{entry.seconds:.1f}" if entry.seconds is not None else ""
        rows.append(
            f'<tr class="{_status_class(entry.status)}"><td>{number}</td>'
            f"<td>{html.escape(entry.module)}</td><td>{link}</td><td>{html.escape(entry.kind)}</td>"
            f'<td class="status {_status_class(entry.status)}">{entry.status}</td>'
            f'<td class="seconds">{seconds}</td>'
            f'<td class="error">{html.escape(entry.error[:200])}</td></tr>'
        )
    summary = (f"{counts['passed']} passed, {counts['failed']} failed, {counts['not run']} not run; "
               f"{total / 60:.1f} min in all")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{STYLESHEET}">
</head>
<body class="course-index" data-jp-theme-light="true">
<h1>{html.escape(title)}</h1>
<p class="summary">{summary}</p>
<table class="course">
<thead><tr><th>#</th><th>module</th><th>notebook</th><th>kind</th><th>status</th>
<th>seconds</th><th></th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""


def write_course_html(
    entries: list[CourseEntry],
    out_dir: str | Path,
    *,
    run_dir: str | Path | None = None,
    workspace: Workspace | None = None,
    course_root: str | Path | None = None,
    title: str = "Machine Learning in Production: course run",
    solutions: bool = False,
) -> Path:
    """Write ``entries`` (in course order) as pages under ``out_dir``; return the index.

    A course for learners shows each lab as learners get it (the generated
    notebook of ``labs/``, with its ``FILL_IN`` cells); the worked solutions
    the course run executed are rendered only with ``solutions=True`` (the
    instructor's edition).

    Parameters
    ----------
    entries : list of CourseEntry
        From :func:`~mlops_kit.jobs.course.course_entries` or
        :func:`~mlops_kit.jobs.course.load_course_run`.
    out_dir : path
        Folder for ``index.html``, ``course.css`` and one page per executed notebook.
    run_dir : path, optional
        Folder the entries' ``executed`` paths are relative to (default: the
        workspace's course folder).
    course_root : path, optional
        Folder holding the course's ``notebooks/`` (default: the repository),
        shown as ``<course>`` in the pages.
    solutions : bool
        Render the executed worked solutions of the labs (default: the labs).
    """
    ws = workspace or get_workspace()
    run_dir = Path(run_dir) if run_dir else ws.jobs_dir / "course"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    exporter = _exporter()
    (out / STYLESHEET).write_text(_stylesheet(exporter))
    replacements = path_replacements(ws, course_root=course_root)
    shown = [_with_page(entry, run_dir) for entry in entries]
    sources: dict[int, Path] = {}
    for index, entry in enumerate(shown):
        if not entry.executed:
            continue
        sources[index] = run_dir / entry.executed
        if entry.kind == "lab" and not solutions:  # the lab as learners get it, never its answers
            lab = _learners_lab(entry, course_root)
            if lab is None:
                shown[index] = CourseEntry(entry.module, entry.name, entry.kind, entry.status,
                                           entry.seconds, None,
                                           entry.error or "no lab notebook to show")
                del sources[index]
            else:
                sources[index] = lab
    for index, source in sources.items():
        entry = shown[index]
        page = out / _page_name(entry)
        page.parent.mkdir(parents=True, exist_ok=True)
        up = "../" * (len(Path(_page_name(entry)).parts) - 1)
        page.write_text(render_notebook_html(
            source, css_href=up + STYLESHEET, nav=_nav(shown, index, up),
            replacements=replacements, exporter=exporter,
        ))
    index_path = out / INDEX
    index_path.write_text(_index_html(shown, title))
    return index_path

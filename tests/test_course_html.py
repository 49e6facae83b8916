"""A course run as web pages: the run record, the index, the pages, ``course --html``.

The fast tests render hand-made executed notebooks (with a real PNG plot);
the slow one runs a tiny fake course through ``mlops-kit course --html`` and
renders it again from the run record with ``--no-run``.
"""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlops_kit.cli import main
from mlops_kit.exceptions import NotFoundError
from mlops_kit.jobs.course import (
    RUN_RECORD, CourseEntry, course_entries, discover_course, load_course_run, save_course_run,
)
from mlops_kit.jobs.course_html import path_replacements, write_course_html
from mlops_kit.jobs.runner import JobResult

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def png_plot() -> str:
    """A small matplotlib line plot as base64 PNG, as a notebook stores it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([1, 2, 3], [2, 1, 3])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def executed_notebook(path: Path, *, printed: str = "", plot: bool = False) -> None:
    """Write an 'executed' notebook: a heading, a cell that printed, maybe a plot."""
    cells = [new_markdown_cell(f"# {path.stem}"),
             new_code_cell("print('hello')", execution_count=1,
                           outputs=[new_output("stream", name="stdout", text=printed + "\n")])]
    if plot:
        cells.append(new_code_cell("plt.plot([1, 2, 3], [2, 1, 3])", execution_count=2, outputs=[
            new_output("display_data", data={"image/png": png_plot(), "text/plain": "<Figure>"})]))
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "papermill": {
        "input_path": str(path), "output_path": str(path)}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def fake_run(run_dir: Path, workspace_root: Path) -> list[CourseEntry]:
    """Three notebooks recorded as a run: passed (with a plot), failed, not run."""
    executed_notebook(run_dir / "00-x" / "01-a.ipynb", plot=True,
                      printed=f"tables in {workspace_root}/dev/tables")
    executed_notebook(run_dir / "00-x" / "02-b.ipynb", printed="about to fail")
    entries = [
        CourseEntry("00-x", "00-x/01-a", "demo", "passed", 3.25, "00-x/01-a.ipynb"),
        CourseEntry("00-x", "00-x/02-b", "lab", "failed", 1.5, "00-x/02-b.ipynb",
                    "ValueError: score 0.1 is below 0.9"),
        CourseEntry("01-y", "01-y/01-c", "demo", "not run"),
    ]
    save_course_run(entries, run_dir)
    return entries


def index_rows(index: Path) -> list[list[str]]:
    """The index table's cells, text only, one list per row."""
    body = index.read_text().split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in rows]


# ------------------------------------------------------------------ run record
def test_run_record_round_trips_and_filters(tmp_path) -> None:
    entries = fake_run(tmp_path / "run", tmp_path)
    assert load_course_run(tmp_path / "run") == entries
    assert [e.name for e in load_course_run(tmp_path / "run", only="00-x")] == ["00-x/01-a", "00-x/02-b"]
    with pytest.raises(NotFoundError, match="No notebook of the last course run matches 'zzz'"):
        load_course_run(tmp_path / "run", only="zzz")
    with pytest.raises(NotFoundError, match=f"No course run is recorded in .*no {RUN_RECORD}"):
        load_course_run(tmp_path / "empty")


def test_course_entries_mark_what_did_not_run(tmp_path) -> None:
    for name in ("00-x/01-a", "00-x/02-b", "01-y/01-c"):
        executed_notebook(tmp_path / "notebooks" / f"{name}.ipynb")
    course = discover_course(tmp_path)
    run_dir = tmp_path / "run"
    ran = JobResult(course[0].path, run_dir / "00-x" / "01-a.ipynb", 2.345)
    entries = course_entries(course, [ran], run_dir)
    assert [(e.name, e.status, e.seconds, e.executed) for e in entries] == [
        ("00-x/01-a", "passed", 2.3, "00-x/01-a.ipynb"),
        ("00-x/02-b", "not run", None, None),
        ("01-y/01-c", "not run", None, None),
    ]


# ---------------------------------------------------------------------- pages
def test_index_lists_the_course_in_order_with_status_and_time(tmp_path, workspace) -> None:
    run_dir = tmp_path / "run"
    index = write_course_html(fake_run(run_dir, workspace.root), tmp_path / "html", run_dir=run_dir,
                              solutions=True)
    assert index == tmp_path / "html" / "index.html"
    rows = index_rows(index)
    assert [row[1:6] for row in rows] == [
        ["00-x", "01-a", "demo", "passed", "3.2"],
        ["00-x", "02-b", "lab", "failed", "1.5"],
        ["01-y", "01-c", "demo", "not run", ""],
    ]
    assert "ValueError: score 0.1 is below 0.9" in rows[1][6]
    text = index.read_text()
    assert 'href="00-x/01-a.html"' in text and 'href="00-x/02-b.html"' in text
    assert "01-c.html" not in text  # nothing to link to
    assert "1 passed, 1 failed, 1 not run" in text


def test_page_shows_outputs_and_plot_without_machine_paths(tmp_path, workspace) -> None:
    run_dir = tmp_path / "run"
    write_course_html(fake_run(run_dir, workspace.root), tmp_path / "html", run_dir=run_dir,
                      solutions=True)
    page = (tmp_path / "html" / "00-x" / "01-a.html").read_text()
    assert re.search(r'<img alt="&lt;Figure&gt;"[^>]* src="data:image/png;base64,', page)
    assert "tables in $MLOPS_KIT_HOME/dev/tables" in page
    assert str(tmp_path) not in page
    assert 'href="../course.css"' in page and "--jp-layout-color0:" not in page
    assert len(page) < 60_000  # the stylesheet is shared, not copied into each page
    # navigation: the index, the next page, this notebook's status
    nav = re.search(r'<nav class="course-nav">(.*?)</nav>', page, flags=re.S).group(1)
    assert 'href="../index.html"' in nav and 'href="../00-x/02-b.html"' in nav
    assert "00-x/01-a: passed, 3.2 s" in nav
    assert (tmp_path / "html" / "course.css").stat().st_size > 10_000


def test_a_missing_executed_copy_is_listed_without_a_link(tmp_path, workspace) -> None:
    run_dir = tmp_path / "run"
    entries = fake_run(run_dir, workspace.root)
    (run_dir / "00-x" / "02-b.ipynb").unlink()
    index = write_course_html(entries, tmp_path / "html", run_dir=run_dir)
    assert "02-b.html" not in index.read_text()
    assert index_rows(index)[1][4] == "failed"
    assert not (tmp_path / "html" / "00-x" / "02-b.html").exists()


def test_path_replacements_never_rewrite_inside_a_longer_name(workspace) -> None:
    from mlops_kit.jobs.course_html import _scrub

    pairs = path_replacements(workspace)
    root = str(workspace.root)
    assert _scrub(f"{root}/dev '{root}' {root}x {root}-old", pairs) == (
        f"$MLOPS_KIT_HOME/dev '$MLOPS_KIT_HOME' {root}x {root}-old")
    home = str(Path.home())
    assert _scrub(f"{home}/a.txt", pairs) == "~/a.txt"


# ------------------------------------------------------------------------ CLI
PLOT = """import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [2, 1, 3])
plt.show()"""


def _notebook(path: Path, *sources: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources],
                                metadata={"kernelspec": KERNELSPEC}), str(path))


def test_no_run_needs_html() -> None:
    result = CliRunner().invoke(main, ["course", "--no-run"])
    assert result.exit_code == 2 and "give --html DIR too" in result.output


@pytest.mark.slow
def test_course_html_runs_a_tiny_course_and_renders_it_again(tmp_path, workspace) -> None:
    """``course --html`` on a fake course: order, status, time, a plot; ``--no-run`` re-renders."""
    root = tmp_path / "course"
    _notebook(root / "notebooks" / "00-x" / "01-a.ipynb", PLOT, "import os\nprint(os.getcwd())")
    _notebook(root / "notebooks" / "00-x" / "02-b.ipynb", "raise ValueError('boom')")
    _notebook(root / "notebooks" / "01-y" / "01-c.ipynb", "print('never')")
    html_dir = tmp_path / "html"
    result = CliRunner().invoke(main, ["course", "--root", str(root), "--html", str(html_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 5, result.output
    assert f"course pages: {html_dir / 'index.html'}" in result.output.replace("\n", "")
    rows = index_rows(html_dir / "index.html")
    assert [(r[1], r[2], r[4]) for r in rows] == [
        ("00-x", "01-a", "passed"), ("00-x", "02-b", "failed"), ("01-y", "01-c", "not run")]
    assert float(rows[0][5]) > 0 and float(rows[1][5]) > 0 and rows[2][5] == ""
    assert "ValueError: boom" in rows[1][6]
    page = (html_dir / "00-x" / "01-a.html").read_text()
    assert "<img" in page
    assert str(root) not in page and "&lt;course&gt;/notebooks/00-x" in page  # cwd, short
    record = json.loads((workspace.jobs_dir / "course" / RUN_RECORD).read_text())
    assert [n["status"] for n in record["notebooks"]] == ["passed", "failed", "not run"]

    again = tmp_path / "again"
    rerendered = CliRunner().invoke(main, ["course", "--html", str(again), "--no-run",
                                           "--only", "00-x"], catch_exceptions=False)
    assert rerendered.exit_code == 0, rerendered.output
    assert [r[2] for r in index_rows(again / "index.html")] == ["01-a", "02-b"]
    assert "<img" in (again / "00-x" / "01-a.html").read_text()


def test_a_claim_cell_shows_its_sentence_not_its_code(tmp_path) -> None:
    """The reader of the rendered course sees a claim's sentence; its source stays out."""
    from mlops_kit.claims import CLAIM_TAG, Claim
    from mlops_kit.jobs.course_html import render_notebook_html

    bundle, metadata = Claim("c", "REST was **42x** faster.", {"ratio": 42.0},
                             {"at least 10x": True})._repr_mimebundle_()
    cell = new_code_cell("claim('c', 'secret_source_marker', ratio=r, holds={})", execution_count=1,
                         outputs=[new_output("display_data", data=bundle, metadata=metadata)])
    cell.metadata["tags"] = [CLAIM_TAG]
    path = tmp_path / "claims.ipynb"
    nbformat.write(new_notebook(cells=[cell], metadata={"kernelspec": KERNELSPEC}), str(path))
    page = render_notebook_html(path)
    assert "<strong>42x</strong>" in page
    assert "secret_source_marker" not in page


def test_a_page_runs_no_script_from_the_notebook(tmp_path) -> None:
    """Markdown and HTML outputs are sanitized; prose, tables, badges and links stay."""
    from mlops_kit.jobs.course_html import render_notebook_html

    markdown = ("# Title\n\nSee <script>alert('md')</script><img src=x onerror=alert(2)> **bold**, "
                "[a trap](javascript:alert(3)) and [the index](../index.html).\n\n"
                "| a | b |\n|---|---|\n| 1 | 2 |")
    html_out = ("<table class='mlops-kit-table'><thead><tr><th>h</th></tr></thead></table>"
                "<script>alert('out')</script><iframe src='https://example.org'></iframe>"
                "<div class='mlops-kit-badge' style='border-left:4px solid #1a73e8' "
                "onclick='steal()'>passed</div>")
    cell = new_code_cell("x", execution_count=1, outputs=[
        new_output("display_data", data={"text/html": html_out}),
        new_output("display_data", data={"text/markdown": "**md** <img src=y onerror=z()>"}),
        new_output("display_data", data={"image/png": png_plot(), "text/plain": "<Figure>"})])
    path = tmp_path / "xss.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell(markdown), cell],
                                metadata={"kernelspec": KERNELSPEC}), str(path))
    page = render_notebook_html(path)
    for bad in ("<script>alert(", "onerror", "onclick", "javascript:", "<iframe"):
        assert bad not in page, bad
    for kept in ("<h1", "<strong>bold</strong>", 'href="../index.html"', "<th>h</th>",
                 "border-left:4px solid #1a73e8", 'class="mlops-kit-badge"', "<strong>md</strong>",
                 'src="data:image/png;base64,'):
        assert kept in page, kept


@pytest.mark.parametrize("tag, name, value, kept", [
    ("img", "src", "data:image/png;base64,AAA", True),
    ("img", "src", "data:image/svg+xml;base64,AAA", False),  # SVG can carry script
    ("a", "href", "data:text/html,<script>", False),
    ("a", "href", " JavaScript:alert(1)", False),
    ("a", "href", "02-b.html#top", True),
    ("a", "href", "https://mlflow.org/docs", True),
    ("div", "onmouseover", "x()", False),
    ("div", "style", "color: red", True),
])
def test_sanitizer_attribute_rules(tag, name, value, kept) -> None:
    from mlops_kit.jobs.html_sanitize import _allowed

    assert _allowed(tag, name, value) is kept


def test_labs_are_shown_as_learners_get_them_unless_the_instructor_asks(tmp_path, workspace) -> None:
    """A learners' course never publishes the worked solutions the course run executed."""
    run_dir, root = tmp_path / "run", tmp_path / "course"
    entries = fake_run(run_dir, workspace.root)  # 00-x/02-b is a lab
    solved = nbformat.read(str(run_dir / "00-x" / "02-b.ipynb"), as_version=4)
    solved.cells.append(new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"))
    nbformat.write(solved, str(run_dir / "00-x" / "02-b.ipynb"))
    lab = new_notebook(cells=[new_code_cell("answer = FILL_IN")], metadata={"kernelspec": KERNELSPEC})
    (root / "labs" / "00-x").mkdir(parents=True)
    nbformat.write(lab, str(root / "labs" / "00-x" / "02-b.ipynb"))

    write_course_html(entries, tmp_path / "learners", run_dir=run_dir, course_root=root)
    page = (tmp_path / "learners" / "00-x" / "02-b.html").read_text()
    assert "FILL_IN" in page and "BEGIN SOLUTION" not in page

    write_course_html(entries, tmp_path / "instructor", run_dir=run_dir, course_root=root,
                      solutions=True)
    assert "BEGIN SOLUTION" in (tmp_path / "instructor" / "00-x" / "02-b.html").read_text()

    write_course_html(entries, tmp_path / "nolab", run_dir=run_dir, course_root=tmp_path / "none")
    assert not (tmp_path / "nolab" / "00-x" / "02-b.html").exists()  # no lab: no page, no answers

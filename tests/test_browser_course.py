"""End to end in Chromium: the course pages open, link to each other and show their plots.

Renders a small recorded run (a notebook with a matplotlib plot, a failed
one, one not run) with :func:`write_course_html`, serves the folder on
127.0.0.1, opens the index in Debian's ``chromium`` through playwright,
follows the link to the first notebook and checks that its plot was decoded
by the browser (``naturalWidth > 0``), not merely that an ``<img>`` tag is there.
"""
from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlops_kit.jobs.course_html import write_course_html
from test_course_html import fake_run

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def course_site(tmp_path: Path, workspace):
    """The rendered pages, served on 127.0.0.1; yields the index URL."""
    run_dir = tmp_path / "run"
    write_course_html(fake_run(run_dir, workspace.root), tmp_path / "html", run_dir=run_dir,
                      solutions=True)  # the instructor's edition: every executed page
    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "html"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_index_links_to_a_page_whose_plot_renders(course_site: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(course_site, wait_until="domcontentloaded")
            rows = page.locator("table.course tbody tr")
            assert rows.count() == 3
            assert rows.nth(0).locator("td.status").inner_text() == "passed"
            assert rows.nth(1).locator("td.status").inner_text() == "failed"
            assert rows.nth(2).locator("td.status").inner_text() == "not run"
            assert rows.nth(2).locator("a").count() == 0  # nothing ran, nothing to open

            page.click("text=01-a")
            page.wait_for_url("**/00-x/01-a.html")
            image = page.locator(".jp-OutputArea-output img").first
            image.wait_for(state="visible", timeout=15_000)
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                timeout=15_000,
            )
            assert image.evaluate("img => img.naturalWidth") > 0
            # the shared stylesheet loaded: JupyterLab's variables are defined on the page
            font = page.evaluate("getComputedStyle(document.body)"
                                 ".getPropertyValue('--jp-content-font-family')")
            assert font.strip()

            page.click("nav.course-nav >> text=course index")
            page.wait_for_url("**/index.html")
        finally:
            browser.close()

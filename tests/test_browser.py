"""End to end in a real JupyterLab: what a learner sees of a lab.

Starts JupyterLab headless on 127.0.0.1 (free port, token, its own config dir
with the announcements pop-up disabled the way ``mlops-kit lab`` does) over
temporary copies of two small lab notebooks, drives Debian's ``chromium`` with
playwright and asserts on the rendered DOM (not on text, which the cell source
and the text fallback also contain):

- opening a notebook does not mark it modified (its kernelspec is JupyterLab's);
- Run All renders the badges and a hint; saved, kernel shut down and reopened,
  the badges still read the same (plain HTML, no widget model to lose);
- an unfilled lab stops at exercise 1 with one line, not a traceback.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mlops_kit._processes import free_port, stop_child, wait_until_ready
from mlops_kit.exceptions import EnvironmentProblem
from mlops_kit.jupyter import disable_news

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = [REPO / "tests" / "notebooks" / name for name in ("lab-badge.ipynb", "lab-unfilled.ipynb")]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
OUTPUT = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"
BADGE = f"{OUTPUT} .mlops-kit-badge"


@pytest.fixture
def jupyterlab(tmp_path: Path):
    """A JupyterLab server over copies of the lab notebooks; yields its URL, token, root."""
    root, config = tmp_path / "root", tmp_path / "jupyter-config"
    root.mkdir()
    for notebook in NOTEBOOKS:
        shutil.copy(notebook, root / notebook.name)
    disable_news(config)
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=None", "--ServerApp.port_retries=0"],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "jupyter.log").open("w"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(f"{base}/api/status?token={token}", 90, name="JupyterLab",
                             process=server, log=tmp_path / "jupyter.log", log_lines=40, interval=0.5)
        except EnvironmentProblem as err:
            pytest.fail(str(err))
        yield base, token, root
    finally:
        stop_child(server, timeout=20)


@pytest.fixture
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _open(page, base: str, token: str, name: str) -> None:
    """Open a notebook and wait until its kernel is really ready for Run All."""
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    # the toolbar says idle before the session is ready: wait for both signs
    page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Spinner", state="detached", timeout=60_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
               .some(e => e.textContent.trim().endsWith('| Idle'))""",
        timeout=60_000,
    )


def _run_all(page) -> None:
    page.click("text=Run", timeout=10_000)
    page.click("text=Run All Cells", timeout=10_000)


def _is_dirty(page) -> bool:
    return page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count() > 0


def _shut_down_kernels(base: str, token: str) -> None:
    def call(method: str, path: str):
        request = urllib.request.Request(f"{base}{path}?token={token}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    for session in call("GET", "/api/sessions"):
        call("DELETE", f"/api/sessions/{session['id']}")
    assert call("GET", "/api/kernels") == []


def test_badges_and_hint_render_and_survive_a_reopen(jupyterlab, browser) -> None:
    base, token, root = jupyterlab
    page = browser.new_page()
    _open(page, base, token, "lab-badge.ipynb")
    page.wait_for_timeout(1_500)  # JupyterLab rewrites a foreign kernelspec right after opening
    assert not _is_dirty(page), "opening the notebook marked it modified"

    _run_all(page)
    page.wait_for_selector(f"{BADGE}.mlops-kit-badge-pass", timeout=90_000)
    page.wait_for_selector(f"{BADGE}.mlops-kit-badge-fail", timeout=30_000)
    hint = page.wait_for_selector(f"{OUTPUT} div.mlops-kit-hint", timeout=30_000).inner_text()
    # the lab's own hints keep their count; the failed check's pointer comes beside them
    assert "Hint 1 of 2" in hint and "it printed it when %load_ext ran" in hint
    assert "your last check pointed at:" in hint

    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')",
                           timeout=30_000)
    saved = json.loads((root / "lab-badge.ipynb").read_text())
    bundles = [o.get("data", {}) for c in saved["cells"] for o in c.get("outputs", [])]
    assert bundles and not any("application/vnd.jupyter.widget-view+json" in b for b in bundles)

    _shut_down_kernels(base, token)
    page.close()
    reopened = browser.new_page()
    _open(reopened, base, token, "lab-badge.ipynb")
    passed = reopened.inner_text(f"{BADGE}.mlops-kit-badge-pass")
    failed = reopened.inner_text(f"{BADGE}.mlops-kit-badge-fail")
    panel = reopened.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden)")
    assert "Exercise 1 — Name the workspace user" in passed and "you work as" in passed
    assert "Hint:" in failed
    assert "Error displaying widget" not in panel and "model not found" not in panel


def test_an_unfilled_lab_stops_with_one_readable_line(jupyterlab, browser) -> None:
    base, token, _ = jupyterlab
    page = browser.new_page()
    _open(page, base, token, "lab-unfilled.ipynb")
    _run_all(page)
    error = page.wait_for_selector(
        f"{OUTPUT}[data-mime-type='application/vnd.jupyter.stderr']", timeout=90_000
    ).inner_text()
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1, error
    assert lines[0].startswith("ExerciseError: Exercise 1: replace FILL_IN with your answer")
    assert "Traceback" not in error and "lab.py" not in error
    assert page.locator(f"{OUTPUT}:has-text('never reached')").count() == 0

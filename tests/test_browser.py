"""End to end in a real JupyterLab: a lab check renders its widget badge.

Starts JupyterLab headless on 127.0.0.1 (free port, token, its own config dir
with the announcements pop-up disabled) over a temporary copy of a one-check
lab notebook, drives Debian's ``chromium`` with playwright, runs all cells and
looks for the badge in the rendered widget DOM (not in text, which the cell
source and the text fallback also contain).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_kit._processes import free_port, stop_child, wait_until_ready
from mlops_kit.exceptions import EnvironmentProblem

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "tests" / "notebooks" / "lab-badge.ipynb"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
BADGE = ".jp-OutputArea-output .widget-html-content .mlops-kit-badge"


@pytest.fixture
def jupyterlab(tmp_path: Path):
    """A JupyterLab server over a copy of the badge notebook; yields its URL and token."""
    root, config = tmp_path / "root", tmp_path / "jupyter-config"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    ))
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
        yield base, token
    finally:
        stop_child(server, timeout=20)


def test_lab_check_renders_a_widget_badge(jupyterlab) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    base, token = jupyterlab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            # the toolbar says idle before the session is ready: wait for both signs
            page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Spinner", state="detached", timeout=60_000)
            page.wait_for_function(
                """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                       .some(e => e.textContent.trim().endsWith('| Idle'))""",
                timeout=60_000,
            )
            page.click("text=Run", timeout=10_000)
            page.click("text=Run All Cells", timeout=10_000)
            page.wait_for_selector(f"{BADGE}.mlops-kit-badge-pass", timeout=90_000)
            page.wait_for_selector(f"{BADGE}.mlops-kit-badge-fail", timeout=30_000)
            passed = page.inner_text(f"{BADGE}.mlops-kit-badge-pass")
            failed = page.inner_text(f"{BADGE}.mlops-kit-badge-fail")
        finally:
            browser.close()
    assert "Exercise 1 — Name the workspace user" in passed and "you work as" in passed
    assert "Hint:" in failed

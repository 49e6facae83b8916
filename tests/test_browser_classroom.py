"""End to end in a real classroom: a learner logs in through the hub and works a lab.

Brings a classroom up with ``mlops-kit classroom up`` (one learner and an
instructor, fresh OS accounts with unique names, a state folder of its own),
then drives Debian's ``chromium`` with playwright as the learner would: the
hub's login page with the first password ``up`` wrote, the learner's own
JupyterLab (spawned as their OS user), the released setup lab opened from
their home, exercise 1 answered in the browser and its badge rendered in the
DOM, naming the learner's own workspace user. ``classroom down
--remove-users`` runs whatever happened.

Skipped, saying why, where a classroom cannot run: not root (it makes OS
accounts), no chromium, no JupyterHub or its proxy, no PostgreSQL.
"""
from __future__ import annotations

import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mlops_kit._processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]

VENV_BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
LAB = "labs/00-setup/01L-setup-lab.ipynb"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
OUTPUT = f"{PANEL} .jp-OutputArea-output"


def _why_no_classroom() -> str | None:
    if os.geteuid() != 0:
        return "a classroom makes OS accounts: run as root (CI does)"
    if shutil.which("chromium") is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if not (VENV_BIN / "jupyterhub").exists():
        return "JupyterHub is not installed in the kit's environment (./run.sh sets it up)"
    if shutil.which("useradd") is None:
        return "useradd is missing: no way to make the learners' accounts"
    try:
        from mlops_kit.classroom.hub import proxy_command
        from mlops_kit.classroom.services import pg_bin_dir
    except ImportError as err:
        return f"the classroom's hub side is not importable: {err}"
    try:
        proxy_command()
    except Exception as err:  # EnvironmentProblem naming the npm install
        return str(err)
    if pg_bin_dir() is None:
        return "PostgreSQL is not installed (apt-get install -y postgresql)"
    return None


def _kit(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "mlops-kit"), "classroom", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def classroom(tmp_path: Path):
    """A classroom of one learner; yields (hub URL, username, first password)."""
    why = _why_no_classroom()
    if why:
        pytest.skip(why)
    tag = secrets.token_hex(3)
    learner, instructor = f"lrn{tag}", f"ins{tag}"
    roster = tmp_path / "roster.csv"
    roster.write_text(f"username,name\n{learner},Ada Lovelace\n")
    # PostgreSQL runs as its own user beside the state folder: a parent it can enter
    parent = Path(tempfile.mkdtemp(prefix="mlops-kit-classroom-"))
    parent.chmod(0o755)
    state = parent / "state"
    try:
        up = _kit("up", "--roster", str(roster), "--instructor", instructor, "--state", str(state),
                  "--port", str(free_port()), timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        from mlops_kit.classroom.instructor import load_state

        hub_url = __import__("json").loads((state / "classroom.json").read_text())["hub_url"]
        assert [x.username for x in load_state(state).learners] == [learner]
        with (state / "passwords.csv").open() as handle:
            password = {row["username"]: row["password"] for row in csv.DictReader(handle)}[learner]
        yield hub_url, learner, password
    finally:
        if (state / "classroom.json").exists():
            down = _kit("down", "--remove-users", "--state", str(state), timeout=300)
            assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_learner_logs_in_and_sees_a_lab_badge_in_their_jupyterlab(classroom, browser,
                                                                   tmp_path: Path) -> None:
    hub_url, learner, password = classroom
    page = browser.new_page()
    page.goto(f"{hub_url}/hub/login", timeout=60_000)
    page.fill("input[name=username]", learner)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    # the hub spawns the learner's own server, then sends them to its JupyterLab
    page.wait_for_url(f"**/user/{learner}/lab**", timeout=300_000)

    page.goto(f"{hub_url}/user/{learner}/lab/tree/{LAB}", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
    page.wait_for_selector(f"{PANEL} .jp-Spinner", state="detached", timeout=120_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
               .some(e => e.textContent.trim().endsWith('| Idle'))""", timeout=120_000)
    assert learner in page.url and "01L-setup-lab" in page.inner_text(".lm-TabBar-tab.jp-mod-current")

    # Run All stops at exercise 1's FILL_IN with the kit's one line
    page.click("text=Run", timeout=10_000)
    page.click("text=Run All Cells", timeout=10_000)
    stderr = f"{OUTPUT}[data-mime-type='application/vnd.jupyter.stderr']"
    try:
        error = page.wait_for_selector(f"{stderr}:has-text('ExerciseError')",
                                       timeout=180_000).text_content()
    except Exception:
        page.screenshot(path=str(tmp_path / "run-all.png"))
        pytest.fail("Run All never stopped at exercise 1; the notebook shows:\n"
                    + page.inner_text(PANEL)[-3000:])
    assert "ExerciseError: Exercise 1" in error and "FILL_IN" in error, error
    assert page.locator(stderr).count() == 1, page.locator(stderr).all_text_contents()

    # the learner answers exercise 1 in the browser: the badge renders, with their own user
    editor = page.locator(f"{PANEL} .jp-CodeCell:has-text('me = FILL_IN') .cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text('me = get_workspace().user\nlab.check("ex1", me)')
    page.keyboard.press("Shift+Enter")
    badge = page.wait_for_selector(f"{OUTPUT} .mlops-kit-badge.mlops-kit-badge-pass",
                                   timeout=120_000)
    badge.scroll_into_view_if_needed()
    assert badge.is_visible()
    badge = badge.text_content()
    assert "Exercise 1" in badge and learner in badge, badge
    page.close()

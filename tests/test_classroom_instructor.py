"""The instructor's side of a classroom: progress of every learner, labs collected and graded.

Learners here are fake homes in ``tmp_path`` (no OS accounts): each function
takes a ``home_of`` callable, and ``classroom.json`` may record each learner's
home. Progress files are written through the kit's own progress API
(:class:`mlops_kit.labs.progress.Progress`), as a learner's kernel writes them.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from mlops_kit.classroom.instructor import (NO_PROGRESS, collect, load_state,
                                            progress_path_in_home, progress_summary,
                                            progress_table, read_in_home, released_lab)
from mlops_kit.classroom.roster import Learner
from mlops_kit.exceptions import NotFoundError
from mlops_kit.labs.progress import Progress

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "labs" / "04-production" / "04L-testing-lab.ipynb"
SOLUTION = REPO / "solutions" / "04-production" / "04L-testing-lab.ipynb"
RELEASED = Path("labs/04-production/04L-testing-lab.ipynb")
CLASS = [Learner("ada", "Ada Lovelace"), Learner("bob", "Bob"), Learner("cy", "Cy")]

needs_sandbox = pytest.mark.skipif(
    not __import__("mlops_kit.labs.sandbox", fromlist=["x"]).sandbox_available()[0],
    reason="grading in a sandbox needs bubblewrap and root: "
           + __import__("mlops_kit.labs.sandbox", fromlist=["x"]).sandbox_available()[1])


def _homes(tmp_path: Path, learners=CLASS) -> dict[str, Path]:
    homes = {}
    for learner in learners:
        home = tmp_path / "home" / learner.username
        home.mkdir(parents=True, mode=0o700)
        homes[learner.username] = home
    return homes


def _progress(home: Path, username: str) -> Progress:
    return Progress(home / progress_path_in_home(username))


def _work(homes: dict[str, Path]) -> None:
    """ada passed two of the testing lab's four; bob passed one, failed one, asked a hint; cy none."""
    ada = _progress(homes["ada"], "ada")
    ada.record_check("testing-lab", "ex1", passed=False, message="no test")
    ada.record_check("testing-lab", "ex1", passed=True, message="ok")
    ada.record_check("testing-lab", "ex2", passed=True, message="ok")
    bob = _progress(homes["bob"], "bob")
    bob.record_check("testing-lab", "ex1", passed=True, message="ok")
    bob.record_hint("testing-lab", "ex2")
    bob.record_check("testing-lab", "ex2", passed=False, message="accepts a broken batch")
    bob.record_check("setup", "ex1", passed=True, message="ok")


def _put(home: Path, notebook: Path, relative: Path = RELEASED, **metadata) -> Path:
    target = home / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(str(notebook), as_version=4)
    if metadata:
        nb.metadata["mlops_kit"] = {**nb.metadata.get("mlops_kit", {}), **metadata}
    nbformat.write(nb, str(target))
    return target


# ---------------------------------------------------------------------------- progress
def test_progress_table_has_a_row_per_learner_lab_and_exercise(tmp_path: Path) -> None:
    homes = _homes(tmp_path)
    _work(homes)
    table = progress_table(CLASS, home_of=homes.__getitem__)

    testing = table[table["lab"] == "testing-lab"].set_index(["learner", "exercise"])
    # every registered exercise of an opened lab has a row, attempted or not
    assert sorted(testing.loc["ada"].index) == ["ex1", "ex2", "ex3", "ex4"]
    assert testing.loc[("ada", "ex1"), "attempts"] == 2 and testing.loc[("ada", "ex1"), "passed"]
    assert testing.loc[("ada", "ex3"), "attempts"] == 0 and not testing.loc[("ada", "ex3"), "passed"]
    assert pd_isna(testing.loc[("ada", "ex3"), "last_attempt"])
    assert testing.loc[("bob", "ex2"), "hints"] == 1 and not testing.loc[("bob", "ex2"), "passed"]
    assert str(table["last_attempt"].dtype).startswith("datetime64") and \
        not pd_isna(testing.loc[("bob", "ex2"), "last_attempt"])
    assert set(table.loc[table["learner"] == "bob", "lab"]) == {"setup", "testing-lab"}
    assert "cy" not in set(table["learner"])
    assert table.attrs["problems"] == {"cy": NO_PROGRESS}
    assert table.attrs["learners"] == ["ada", "bob", "cy"]

    summary = progress_summary(table)
    assert list(summary.index) == ["ada", "bob", "cy"]
    assert summary.loc["ada", "testing-lab"] == "2/4" and summary.loc["bob", "testing-lab"] == "1/4"
    assert summary.loc["cy", "testing-lab"] == "0/4" and summary.loc["cy", "note"] == NO_PROGRESS
    setup_total = summary.loc["bob", "setup"].split("/")[1]
    assert summary.loc["ada", "setup"] == f"0/{setup_total}" and int(setup_total) >= 2


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_plot_has_a_panel_per_lab_and_a_bar_per_learner(tmp_path: Path) -> None:
    from mlops_kit.classroom.plots import passed_shares, plot_progress

    homes = _homes(tmp_path)
    _work(homes)
    (homes["cy"] / progress_path_in_home("cy")).parent.mkdir(parents=True)
    (homes["cy"] / progress_path_in_home("cy")).write_text("[")
    table = progress_table(CLASS, home_of=homes.__getitem__)
    assert passed_shares(table).loc[["ada", "bob", "cy"], "testing-lab"].tolist() == [0.5, 0.25, 0.0]
    fig = plot_progress(table)
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert set(panels) == {"setup", "testing-lab"}
    testing = panels["testing-lab"]
    assert [t.get_text() for t in testing.get_xticklabels()] == ["ada", "bob", "cy?"]
    assert [round(bar.get_height(), 2) for bar in testing.patches] == [0.5, 0.25, 0.0]
    nobody = plot_progress(progress_table(CLASS, home_of=lambda user: tmp_path / "none"))
    assert "No learner has checked" in nobody.axes[0].texts[0].get_text()


def test_unreadable_progress_is_reported_and_left_alone(tmp_path: Path) -> None:
    """A corrupt file, a file of the wrong shape, a link to another learner's progress, no
    account: each is reported, none stops the others, and no learner's file is moved."""
    learners = [*CLASS, Learner("dee", "Dee"), Learner("eve", "Eve"), Learner("fay", "Fay")]
    homes = _homes(tmp_path, learners[:-1])
    _work(homes)
    corrupt = homes["cy"] / progress_path_in_home("cy")
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"labs": {"testing-lab": ')
    shaped = homes["dee"] / progress_path_in_home("dee")
    shaped.parent.mkdir(parents=True)
    shaped.write_text('{"labs": ["ex1"]}')
    typed = homes["bob"] / progress_path_in_home("bob")  # valid JSON, a count that is text
    typed.write_text(typed.read_text().replace('"attempts": 1', '"attempts": "lots"', 1))
    linked = homes["eve"] / progress_path_in_home("eve")
    linked.parent.mkdir(parents=True)
    linked.symlink_to(homes["ada"] / progress_path_in_home("ada"))

    def home_of(username: str) -> Path:
        if username not in homes:
            from mlops_kit.exceptions import ConfigError
            raise ConfigError(f"There is no account {username!r} on this machine.")
        return homes[username]

    table = progress_table(learners, home_of=home_of)
    problems = table.attrs["problems"]
    assert set(problems) == {"bob", "cy", "dee", "eve", "fay"}
    assert "attempts is 'lots', not int" in problems["bob"]
    assert problems["cy"].startswith("unreadable progress:")
    assert "not a lab progress file" in problems["dee"]
    assert "symbolic link" in problems["eve"] and "refused" in problems["eve"]
    assert "no account 'fay'" in problems["fay"]
    assert set(table["learner"]) == {"ada"}  # eve did not get ada's rows
    # the owner's reader would move a corrupt file aside; the instructor only reads
    assert corrupt.read_text() == '{"labs": {"testing-lab": '
    assert not corrupt.with_suffix(".corrupt.json").exists()


def test_a_linked_folder_on_the_way_is_refused_too(tmp_path: Path) -> None:
    homes = _homes(tmp_path, CLASS[:2])
    _work(homes)
    (homes["bob"] / ".mlops-kit").rename(tmp_path / "bob-old")
    (homes["bob"] / ".mlops-kit").symlink_to(homes["ada"] / ".mlops-kit")
    (homes["ada"] / ".mlops-kit" / "users" / "bob").symlink_to(homes["ada"] / ".mlops-kit" / "users" / "ada")
    with pytest.raises(PermissionError, match=r"\.mlops-kit is a symbolic link"):
        read_in_home(homes["bob"], progress_path_in_home("bob"), max_bytes=1 << 20)
    with pytest.raises(PermissionError, match="not a plain path"):
        read_in_home(homes["bob"], "../ada/.mlops-kit/users/ada/lab-progress.json", max_bytes=10)


def test_a_file_of_another_owner_or_too_large_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "big").write_bytes(b"x" * 2048)
    with pytest.raises(PermissionError, match="more than 1024"):
        read_in_home(home, "big", max_bytes=1024)
    os.mkfifo(home / "pipe")
    with pytest.raises(PermissionError, match="not a regular file"):
        read_in_home(home, "pipe", max_bytes=1024)  # and it does not block on open
    if os.geteuid() == 0:  # a file that is not the learner's (a hard link, say) is not theirs
        (home / "theirs").write_text("{}")
        os.chown(home / "theirs", 54321, 54321)
        with pytest.raises(PermissionError, match="belongs to uid 54321"):
            read_in_home(home, "theirs", max_bytes=1024)


# ----------------------------------------------------------------------------- collect
def test_released_lab_is_found_by_any_of_its_names() -> None:
    for name in ("testing-lab", "04L-testing-lab", "04-production/04L-testing-lab",
                 "labs/04-production/04L-testing-lab.ipynb"):
        assert str(released_lab(name)) == RELEASED.as_posix()
    with pytest.raises(NotFoundError, match="No lab 'no-such-lab'.*04L-testing-lab"):
        released_lab("no-such-lab")


def test_collect_copies_each_notebook_privately_named_by_its_account(tmp_path: Path) -> None:
    homes = _homes(tmp_path)
    _put(homes["ada"], LAB)
    _put(homes["bob"], LAB, learner="ada", user="ada")  # claims to be ada in its metadata
    submissions = tmp_path / "state" / "submissions"

    collected = collect("testing-lab", CLASS, submissions, home_of=homes.__getitem__)

    folder = submissions / "04L-testing-lab"
    assert collected == [folder / "ada.ipynb", folder / "bob.ipynb"]
    assert collected.missing == {"cy": f"no notebook at ~/{RELEASED.as_posix()}"}
    for path in (submissions, folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "ada.ipynb").stat().st_mode) == 0o600
    from mlops_kit.labs.grade import learner_name, learner_user

    assert [learner_name(p) for p in collected] == ["ada", "bob"]  # not the claimed "ada"
    assert [learner_user(p) for p in collected] == ["ada", "bob"]  # graded on their own data
    copy = nbformat.read(str(folder / "bob.ipynb"), as_version=4)
    original = nbformat.read(str(LAB), as_version=4)
    assert [c.source for c in copy.cells] == [c.source for c in original.cells]
    assert [c.id for c in copy.cells] == [c.id for c in original.cells]


def test_collect_refuses_links_out_of_a_learners_home(tmp_path: Path) -> None:
    """A lab notebook (or its folder) linked to another learner's or to root's file is not
    collected, and nothing of that file reaches the submissions."""
    learners = [*CLASS, Learner("dee", "Dee")]
    homes = _homes(tmp_path, learners)
    _put(homes["ada"], LAB, marker="ada's own work")
    secret = tmp_path / "root-only.ipynb"
    secret.write_text(json.dumps({"cells": [], "metadata": {"secret": "root's"}, "nbformat": 4,
                                  "nbformat_minor": 5}))
    secret.chmod(0o600)
    (homes["bob"] / RELEASED).parent.mkdir(parents=True)
    (homes["bob"] / RELEASED).symlink_to(homes["ada"] / RELEASED)  # another learner's notebook
    (homes["cy"] / RELEASED).parent.mkdir(parents=True)
    (homes["cy"] / RELEASED).symlink_to(secret)  # a file only root may read
    (homes["dee"] / "labs").symlink_to(homes["ada"] / "labs")  # a folder on the way

    collected = collect("04L-testing-lab", learners, tmp_path / "subs", home_of=homes.__getitem__)

    assert [p.name for p in collected] == ["ada.ipynb"]
    assert set(collected.missing) == {"bob", "cy", "dee"}
    for username in ("bob", "cy", "dee"):
        assert "symbolic link" in collected.missing[username], collected.missing
        assert not (tmp_path / "subs" / "04L-testing-lab" / f"{username}.ipynb").exists()
    written = "".join(p.read_text() for p in (tmp_path / "subs").rglob("*") if p.is_file())
    assert "root's" not in written and written.count("ada's own work") == 1


def test_grade_takes_a_folder_and_says_when_it_holds_no_notebook(tmp_path: Path) -> None:
    from mlops_kit.cli import main

    empty = tmp_path / "submissions" / "04L-testing-lab"
    empty.mkdir(parents=True)
    result = CliRunner().invoke(main, ["labs", "grade", str(empty), "--no-sandbox"])
    assert result.exit_code == 2 and "No notebook (*.ipynb) in" in result.output, result.output


@pytest.mark.slow
@needs_sandbox
def test_collect_then_grade_gives_one_row_per_learner_and_exercise(tmp_path: Path) -> None:
    """The real grader on the collected folder: ada's worked lab passes every exercise, bob's
    unfilled one none (though it claims to be ada's), cy has nothing to grade."""
    from mlops_kit.cli import main

    homes = _homes(tmp_path)
    _put(homes["ada"], SOLUTION)
    _put(homes["bob"], LAB, learner="ada", user="ada")
    collected = collect("testing-lab", CLASS, tmp_path / "subs", home_of=homes.__getitem__)
    assert list(collected.missing) == ["cy"]

    out = tmp_path / "grades.csv"
    result = CliRunner().invoke(main, ["labs", "grade", str(collected[0].parent), "--out",
                                       str(out), "--jobs", "2", "--timeout", "300"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    keys = [(r["learner"], r["lab"], r["exercise"]) for r in rows]
    assert sorted(keys) == [(who, "testing-lab", f"ex{n}") for who in ("ada", "bob")
                            for n in range(1, 5)]
    passed = {(r["learner"], r["exercise"]): r["passed"] for r in rows}
    assert all(passed[("ada", f"ex{n}")] == "True" for n in range(1, 5)), rows
    assert all(passed[("bob", f"ex{n}")] == "False" for n in range(1, 5)), rows
    assert "FILL_IN" in next(r["reason"] for r in rows if (r["learner"], r["exercise"]) == ("bob", "ex1"))


# --------------------------------------------------------------------- the state and CLI
def _state(tmp_path: Path, homes: dict[str, Path], learners=CLASS) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "classroom.json").write_text(json.dumps({
        "instructor": "teach",
        "learners": [{"username": l.username, "name": l.name, "home": str(homes[l.username])}
                     for l in learners]}))
    return state


def test_load_state_reads_the_roster_and_homes(tmp_path: Path) -> None:
    homes = _homes(tmp_path)
    state = load_state(_state(tmp_path, homes))
    assert state.learners == CLASS and state.instructor == "teach"
    assert state.home_of("bob") == homes["bob"]
    with pytest.raises(NotFoundError, match="No classroom state at .*classroom up"):
        load_state(tmp_path / "nowhere")


def test_cli_progress_and_collect_on_a_state_folder(tmp_path: Path, monkeypatch) -> None:
    from mlops_kit.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    homes = _homes(tmp_path)
    _work(homes)
    _put(homes["ada"], LAB)
    state = _state(tmp_path, homes)
    runner = CliRunner()

    shown = runner.invoke(main, ["classroom", "progress", "--state", str(state)])
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[1]: line for line in shown.output.splitlines()
             if line.startswith("│") and line.split()[1] in ("ada", "bob", "cy")}
    assert "2/4" in lines["ada"] and "1/4" in lines["bob"] and "0/4" in lines["cy"]
    assert NO_PROGRESS in lines["cy"]
    watched = runner.invoke(main, ["classroom", "progress", "--state", str(state), "--watch",
                                   "--interval", "0", "--rounds", "2"])
    assert watched.exit_code == 0 and "2/4" in watched.output, watched.output

    got = runner.invoke(main, ["classroom", "collect", "testing-lab", "--state", str(state)])
    assert got.exit_code == 0, got.output
    assert (state / "submissions" / "04L-testing-lab" / "ada.ipynb").is_file()
    assert "missing bob: no notebook at ~/labs/04-production/04L-testing-lab.ipynb" in got.output
    assert "1 of 3 notebooks collected" in got.output and "mlops-kit labs grade" in got.output

    shutil.rmtree(homes["ada"] / "labs")
    none = runner.invoke(main, ["classroom", "collect", "testing-lab", "--state", str(state)])
    assert none.exit_code == 1 and "0 of 3 notebooks collected" in none.output
    gone = runner.invoke(main, ["classroom", "progress", "--state", str(tmp_path / "nowhere")])
    assert gone.exit_code != 0 and "No classroom state" in gone.output


# ------------------------------------------------------------------------ the notebook
@pytest.mark.slow
def test_instructor_notebook_shows_the_table_and_the_plot(tmp_path: Path) -> None:
    from notebook_runner import run_notebook, warnings_in

    homes = _homes(tmp_path)
    _work(homes)
    state = _state(tmp_path, homes)
    run = run_notebook(REPO / "notebooks" / "instructor" / "progress.ipynb",
                       parameters={"state": str(state)},
                       env={"MLOPS_KIT_HOME": str(tmp_path / "kit")})
    assert not warnings_in(run.notebook), warnings_in(run.notebook)
    outputs = {cell.id: cell.get("outputs", []) for cell in run.notebook.cells}
    text = json.dumps(outputs)
    assert "ada" in text and "bob" in text and "cy" in text
    summary = json.dumps(outputs["c11"])
    assert "2/4" in summary and "1/4" in summary and NO_PROGRESS in summary
    assert any("image/png" in o.get("data", {}) for o in outputs["c13"])
    assert "bob" in json.dumps(outputs["c15"])  # bob is stuck on ex2

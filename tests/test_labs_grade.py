"""``mlops-kit labs grade``: every check recorded; crashes and hangs graded, never fatal."""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_kit.cli import main
from mlops_kit.labs import Lab
from mlops_kit.labs.grade import GradeRow, learner_name, write_csv
from mlops_kit.labs.progress import RECORD_ENV

#: a toy lab registered by the notebook itself, so the kernel needs no checks module
TOY_LAB = '''from mlops_kit.labs import CheckResult, Lab, checker, FILL_IN

@checker("grade-toy", "ex1", title="Answer 42")
def _ex1(value, **context):
    return CheckResult.ok("42") if value == 42 else CheckResult.fail(f"{value!r} is not it", hint="6 * 7")

@checker("grade-toy", "ex2", title="Three items")
def _ex2(value, **context):
    return CheckResult.ok("3 items") if len(value) == 3 else CheckResult.fail(f"{len(value)} items", hint="count")

lab = Lab("grade-toy")'''


def _submission(folder: Path, name: str, *cells: str, learner: str | None = None) -> Path:
    nb = new_notebook(cells=[new_code_cell(TOY_LAB), *(new_code_cell(c) for c in cells)])
    if learner:
        nb.metadata["mlops_kit"] = {"learner": learner}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_grade_correct_partly_wrong_crashing_hanging_and_unfilled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    subs = tmp_path / "subs"
    subs.mkdir()
    paths = [
        _submission(subs, "ada", 'lab.check("ex1", 6 * 7)', 'lab.check("ex2", [1, 2, 3])',
                    learner="Ada Lovelace"),
        _submission(subs, "bob", 'lab.check("ex1", 41)', 'lab.check("ex1", 42)',
                    'lab.check("ex2", [1])'),
        _submission(subs, "cy", 'lab.check("ex1", 42)', 'raise RuntimeError("boom")',
                    'lab.check("ex2", [1, 2, 3])'),
        _submission(subs, "dee", 'lab.check("ex1", 42)', "import time\ntime.sleep(600)",
                    'lab.check("ex2", [1, 2, 3])'),
        _submission(subs, "eve", 'answer = FILL_IN\nlab.check("ex1", answer)'),
    ]
    out = tmp_path / "grades.csv"
    result = CliRunner().invoke(
        main, ["labs", "grade", *map(str, paths), "--out", str(out), "--timeout", "40", "--jobs", "2"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = {(r["learner"], r["exercise"]): r for r in csv.DictReader(out.open())}
    assert len(rows) == 10 and {r["lab"] for r in rows.values()} == {"grade-toy"}

    def grade(learner, exercise):
        row = rows[(learner, exercise)]
        return row["passed"], row["points"], row["reason"]

    assert grade("Ada Lovelace", "ex1") == ("True", "1.0", "42")
    assert grade("Ada Lovelace", "ex2") == ("True", "1.0", "3 items")
    assert grade("bob", "ex1")[:2] == ("True", "1.0")  # the last check counts
    assert grade("bob", "ex2") == ("False", "0.0", "1 items (hint: count)")
    assert grade("cy", "ex1")[:2] == ("True", "1.0")
    assert grade("cy", "ex2")[:2] == ("False", "0.0")
    assert "crashed in cell" in grade("cy", "ex2")[2] and "RuntimeError: boom" in grade("cy", "ex2")[2]
    assert grade("dee", "ex1")[:2] == ("True", "1.0")
    assert "stopped after 40 s" in grade("dee", "ex2")[2] and "time limit" in grade("dee", "ex2")[2]
    assert grade("eve", "ex1")[:2] == ("False", "0.0")
    assert "ExerciseError: Exercise 1: replace FILL_IN" in grade("eve", "ex1")[2]
    assert "Ada Lovelace: 2/2 points" in result.output and "dee: 1/2 points" in result.output
    assert "Lab grades" in result.output and "grade-toy" in result.output


def test_grading_mode_records_every_check_and_the_lab(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    from mlops_kit.labs import CheckResult, checker, registry

    record = tmp_path / "checks.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(record))
    checker("grade-unit", "ex1", title="Answer 42")(
        lambda v, **c: CheckResult.ok("42") if v == 42 else CheckResult.fail("no", hint="*six*")
    )
    try:
        lab = Lab("grade-unit")
        lab.check("ex1", 1)
        lab.check("ex1", 42)
    finally:
        registry._REGISTRY.pop("grade-unit", None)
    events = [json.loads(line) for line in record.read_text().splitlines()]
    assert events[0] == {"event": "lab", "lab": "grade-unit", "exercises": [["ex1", "Answer 42"]]}
    assert [(e["passed"], e["hint"]) for e in events[1:]] == [(False, "six"), (True, "")]


def test_learner_is_the_metadata_name_else_the_stem(tmp_path: Path) -> None:
    named = _submission(tmp_path, "x1", learner="Grace")
    plain = _submission(tmp_path, "x2")
    assert learner_name(named) == "Grace" and learner_name(plain) == "x2"
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{")
    assert learner_name(broken) == "broken"


def test_write_csv_has_one_header_and_a_row_each(tmp_path: Path) -> None:
    path = write_csv([GradeRow("a", "lab", "ex1", True, 1.0, "ok, fine")], tmp_path / "g" / "x.csv")
    assert path.read_text().splitlines() == [
        "learner,lab,exercise,passed,points,reason", 'a,lab,ex1,True,1.0,"ok, fine"'
    ]

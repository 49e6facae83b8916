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

CHECKS = Path(__file__).with_name("grade_toy_checks.py")
TOY_LAB = """from mlops_kit.labs import Lab, FILL_IN
lab = Lab("grade-toy")"""

needs_sandbox = pytest.mark.skipif(
    not __import__("mlops_kit.labs.sandbox", fromlist=["x"]).sandbox_available()[0],
    reason="grading in a sandbox needs bubblewrap and root: "
           + __import__("mlops_kit.labs.sandbox", fromlist=["x"]).sandbox_available()[1])


def _submission(folder: Path, name: str, *cells: str, learner: str | None = None) -> Path:
    nb = new_notebook(cells=[new_code_cell(TOY_LAB), *(new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if learner:
        nb.metadata["mlops_kit"] = {"learner": learner}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def _grade(paths, tmp_path: Path, *extra: str, timeout: int = 40):
    out = tmp_path / "grades.csv"
    result = CliRunner().invoke(
        main, ["labs", "grade", *map(str, paths), "--out", str(out), "--timeout", str(timeout),
               "--jobs", "2", "--checks", str(CHECKS), *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return {(r["learner"], r["exercise"]): r for r in csv.DictReader(out.open())}, result.output


@pytest.mark.slow
@needs_sandbox
def test_grade_correct_partly_wrong_crashing_hanging_and_unfilled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    subs = tmp_path / "subs"
    subs.mkdir()
    paths = [
        _submission(subs, "ada", 'lab.check("ex1", 6 * 7)', 'lab.check("ex2", [1, 2, 3])',
                    learner="Ada Lovelace"),
        _submission(subs, "bob", 'lab.check("ex1", 42)', 'lab.check("ex2", [1])',
                    'lab.check("ex1", 41)  # a scratch check after the exercise: it does not count'),
        _submission(subs, "cy", 'lab.check("ex1", 42)', 'raise RuntimeError("boom")',
                    'lab.check("ex2", [1, 2, 3])'),
        _submission(subs, "dee", 'lab.check("ex1", 42)', "import time\ntime.sleep(600)",
                    'lab.check("ex2", [1, 2, 3])'),
        _submission(subs, "eve", 'answer = FILL_IN\nlab.check("ex1", answer)'),
        # graded as its own workspace user, so per-learner data is the learner's
        _submission(subs, "g1", 'from mlops_kit.workspace import get_workspace\n'
                    'lab.check("ex1", 42 if get_workspace().user == "grace_hopper" else 41)',
                    learner="Grace Hopper"),
    ]
    rows, output = _grade(paths, tmp_path)
    assert len(rows) == 12 and {r["lab"] for r in rows.values()} == {"grade-toy"}
    assert rows[("Grace Hopper", "ex1")]["passed"] == "True"

    def grade(learner, exercise):
        row = rows[(learner, exercise)]
        return row["passed"], row["points"], row["reason"]

    assert grade("Ada Lovelace", "ex1") == ("True", "1.0", "42")
    assert grade("Ada Lovelace", "ex2") == ("True", "1.0", "3 items")
    assert grade("bob", "ex1")[:2] == ("True", "1.0")  # its own cell's check counts
    assert grade("bob", "ex2") == ("False", "0.0", "1 items (hint: count)")
    assert grade("cy", "ex1")[:2] == ("True", "1.0")
    assert grade("cy", "ex2")[:2] == ("False", "0.0")
    # the cell as the learner sees it: In [3] is the third cell that ran
    assert "crashed in In [3]: RuntimeError: boom" in grade("cy", "ex2")[2]
    assert grade("dee", "ex1")[:2] == ("True", "1.0")
    assert "stopped after 40 s" in grade("dee", "ex2")[2] and "time limit" in grade("dee", "ex2")[2]
    assert grade("eve", "ex1")[:2] == ("False", "0.0")
    assert "ExerciseError: Exercise 1: replace FILL_IN" in grade("eve", "ex1")[2]
    assert "Ada Lovelace: 2/2 points" in output and "dee: 1/2 points" in output
    assert "Lab grades" in output and "grade-toy" in output


# What a hostile submission tries; each one answers ex1 wrongly (41) and then attacks.
_FORGE_RECORD = """import glob, json, os
line = json.dumps({"event": "check", "lab": "grade-toy", "exercise": "ex1", "execution_count": 2,
                   "passed": True, "message": "forged", "hint": ""}) + "\\n"
for target in [os.environ.get("MLOPS_KIT_LABS_RECORD") or "", *glob.glob("/grader/*"),
               *glob.glob("/box/**/*.jsonl", recursive=True)]:
    try:
        open(target, "a").write(line)
    except OSError:
        pass"""
_MONKEYPATCH = """import mlops_kit.labs.registry as registry, mlops_kit.labs.lab as lab_module
from mlops_kit.labs.registry import CheckResult
registry.run_check = lambda exercise, value, **context: CheckResult.ok("forged")
lab_module._graded_check = lambda *args: CheckResult.ok("forged")
lab.check("ex2", [1])"""
_ANSWER_OBJECT = """class Anything(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__

lab.check("ex1", Anything(41))"""
_SNEAKY_LIST = """class Sneaky(list):
    def __len__(self):
        return 3

lab.check("ex2", Sneaky([1]))"""
_PAYLOAD = """import os
class Payload:
    def __reduce__(self):
        return (os.system, ("touch /box/pwned",))
lab.check("ex2", Payload())"""


def _forgers(subs: Path) -> list[Path]:
    paths = [_submission(subs, name, 'lab.check("ex1", 41)', attack)
             for name, attack in [("forger", _FORGE_RECORD), ("patcher", _MONKEYPATCH),
                                  ("pickler", _PAYLOAD)]]
    return paths + [_submission(subs, "objector", _ANSWER_OBJECT, _SNEAKY_LIST)]


def _assert_no_forgery_counted(rows: dict) -> None:
    """A forged record line, a monkeypatched checker, a hand-made answer object, a pickle
    payload: the grader's service decides, so every one of them scores what it answered."""
    for learner in ("forger", "patcher", "objector", "pickler"):
        assert rows[(learner, "ex1")]["passed"] == "False", rows[(learner, "ex1")]
        assert rows[(learner, "ex2")]["passed"] == "False", rows[(learner, "ex2")]
    assert rows[("patcher", "ex2")]["reason"] == "not attempted"  # the patched kernel never asked
    assert rows[("objector", "ex1")]["reason"].startswith("41 is not it")  # judged as the int it is
    assert "could not run" in rows[("pickler", "ex2")]["reason"]


@pytest.mark.slow
@needs_sandbox
def test_no_submission_forges_a_grade_or_gets_out(tmp_path: Path, monkeypatch) -> None:
    """Forgeries score what they answered; a submission sees no other submission, no
    instructor workspace or environment, and leaves no process after the time limit."""
    import psutil

    instructor = tmp_path / "instructor-kit"
    instructor.mkdir()
    monkeypatch.setenv("MLOPS_KIT_HOME", str(instructor))
    monkeypatch.setenv("INSTRUCTOR_SECRET", "s3cret")
    subs = tmp_path / "subs"
    subs.mkdir()
    other = _submission(subs, "victim", 'lab.check("ex1", 42)')
    marker = f"grading-escape-{tmp_path.name}"
    probe = f"""import os, subprocess, sys
leaks = []
try:
    open({str(other)!r}).read(); leaks.append("read another submission")
except OSError:
    pass
try:
    open({str(instructor / "pwned")!r}, "w").write("x"); leaks.append("wrote the instructor's workspace")
except OSError:
    pass
if os.environ.get("INSTRUCTOR_SECRET") or os.environ.get("MLOPS_KIT_HOME") == {str(instructor)!r}:
    leaks.append("saw the grader's environment")
subprocess.Popen(["setsid", "-f", sys.executable, "-c", "import time; time.sleep(300)", {marker!r}])
lab.check("ex1", 42 if not leaks else 41)
print(leaks)"""
    mallory = _submission(subs, "mallory", probe, "import time\ntime.sleep(600)")
    rows, _ = _grade([other, mallory, *_forgers(subs)], tmp_path, timeout=30)
    _assert_no_forgery_counted(rows)
    assert rows[("mallory", "ex1")]["passed"] == "True", rows[("mallory", "ex1")]
    assert not (instructor / "pwned").exists()
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert not left, "a process of the submission outlived the time limit"
    assert rows[("victim", "ex1")]["passed"] == "True"


def test_grading_refuses_without_a_sandbox_unless_asked(tmp_path: Path, monkeypatch) -> None:
    from mlops_kit.exceptions import EnvironmentProblem
    from mlops_kit.labs import grade, sandbox

    monkeypatch.setattr(sandbox, "sandbox_available", lambda: (False, "bubblewrap is not installed"))
    with pytest.raises(EnvironmentProblem, match="bubblewrap is not installed.*--no-sandbox"):
        grade.grade_notebook(_submission(tmp_path, "x", 'lab.check("ex1", 42)'))


def test_learner_user_is_derived_from_the_name() -> None:
    from mlops_kit.labs.grade import learner_user

    assert learner_user(Path("Ada Lovelace.ipynb")) == "ada_lovelace"
    assert learner_user(Path("bob-smith.ipynb")) == "bob_smith"
    assert learner_user(Path("Ölaf.ipynb")) == "learner"  # no canonical form: a neutral user


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


@pytest.mark.slow
@needs_sandbox
def test_a_worked_lab_that_logs_and_registers_models_gets_full_marks(tmp_path: Path) -> None:
    """Checks run in the service's child read the MLflow store the submission's kernel wrote
    (a logged model by its id, a registered version): a right answer is never refused
    because the check looked in another store."""
    from mlops_kit.labs.registry import exercises

    solution = Path(__file__).resolve().parents[1] / "solutions" / "02-model-management" / \
        "01L-mlflow-models-lab.ipynb"
    subs = tmp_path / "subs"
    subs.mkdir()
    submission = subs / "ada.ipynb"
    submission.write_bytes(solution.read_bytes())
    out = tmp_path / "grades.csv"
    result = CliRunner().invoke(main, ["labs", "grade", str(submission), "--out", str(out),
                                       "--timeout", "400"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert {r["exercise"] for r in rows} == {e.exercise_id for e in exercises("mlflow-models-lab")}
    refused = {r["exercise"]: r["reason"] for r in rows if r["passed"] != "True"}
    assert not refused, refused

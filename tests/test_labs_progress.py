"""Lab progress in the workspace; hints one at a time; solutions from solutions/."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_kit.cli import main
from mlops_kit.exceptions import NotFoundError
from mlops_kit.labs import CheckResult, Lab, checker, registry
from mlops_kit.labs.progress import Progress, progress_path
from mlops_kit.labs.quiz import Option, choose_all, multiple_choice, numeric
from mlops_kit.labs.solutions import find_solution


@pytest.fixture
def toy():
    """Lab 'progress-toy': ex1 with two hints, ex2 with none; q-lab 'concepts-toy'."""

    @checker("progress-toy", "ex1", title="Answer 42",
             hints=["think of a famous answer", "six times *seven*"])
    def ex1(value, **context):
        return CheckResult.ok("42") if value == 42 else CheckResult.fail("not 42", hint="multiply")

    @checker("progress-toy", "ex2", title="Anything")
    def ex2(value, **context):
        return CheckResult.fail("never right", hint="the check's own pointer")

    options = [Option("a", "Deploy models", "that ships the artifact"),
               Option("b", "Deploy code", "prod retrains from the promoted code"),
               Option("c", "Deploy nothing", "then nothing runs")]
    multiple_choice("concepts-toy", "q1", title="Which pattern ships code?",
                    prompt="Which one?", options=options, answer="b")
    choose_all("concepts-toy", "q2", title="Which apply?", prompt="Pick all",
               options=options, answer={"a", "b"})
    numeric("concepts-toy", "q3", title="How many?", prompt="Count", answer=3,
            too_low="low", too_high="high", explanation="three environments")
    yield
    for lab in ("progress-toy", "concepts-toy"):
        registry._REGISTRY.pop(lab, None)


def test_checks_are_saved_and_survive_a_new_kernel(toy, capsys) -> None:
    lab = Lab("progress-toy")
    lab.check("ex1", 41)
    lab.check("ex1", 42)
    lab.check("ex2", 0)
    restarted = Lab("progress-toy")  # a kernel restart: nothing in memory
    rows = {row[1]: row for row in restarted.summary().rows}
    assert rows["ex1"][3:8] == ("passed", "42", 2, 0, False)
    assert rows["ex2"][3:6] == ("failed", "never right", 1)
    stored = json.loads(progress_path().read_text())
    assert stored["labs"]["progress-toy"]["ex1"]["attempts"] == 2
    assert progress_path().parent.name == "tester"  # per user, outside the env folders


def test_unanswered_questions_are_not_recorded_but_answers_are(toy, capsys) -> None:
    lab = Lab("concepts-toy")
    lab.check("q1", None)
    assert "not answered yet" in capsys.readouterr().out
    assert Progress().get("concepts-toy", "q1").attempts == 0
    lab.check("q1", "a")
    record = Progress().get("concepts-toy", "q1")
    assert (record.attempts, record.passed, record.state) == (1, False, "failed")


def test_hint_count_stays_the_same_after_a_failed_check(toy, capsys) -> None:
    """A failed check's own pointer is shown beside the hints, never renumbering them."""
    lab = Lab("progress-toy")
    lab.check("ex1", 41)  # fails with hint "multiply", which is not one of the two hints
    capsys.readouterr()
    lab.hint("ex1")
    lab.hint("ex1")
    out = capsys.readouterr().out
    assert "Hint 1 of 2" in out and "Hint 2 of 2" in out and "of 3" not in out
    assert "your last check pointed at: multiply" in out
    lab.check("ex1", 42)
    lab.hint("ex1")
    assert "you have seen all 2" in capsys.readouterr().out


def test_hints_come_one_at_a_time_then_point_at_the_solution(toy, capsys) -> None:
    lab = Lab("progress-toy")
    lab.hint("ex1")
    assert capsys.readouterr().out == "Hint 1 of 2 for Exercise 1 — Answer 42: think of a famous answer\n"
    Lab("progress-toy").hint("ex1")  # after a restart: the next one, not the first again
    assert "Hint 2 of 2 for Exercise 1 — Answer 42: six times seven" in capsys.readouterr().out
    lab.hint("ex1")
    out = capsys.readouterr().out
    assert out.startswith("No more hints for Exercise 1 — Answer 42: you have seen all 2")
    assert "1. think of a famous answer" in out and 'lab.solution("ex1")' in out
    assert Progress().get("progress-toy", "ex1").hints_used == 3


def test_an_exercise_without_hints_offers_the_last_checks_pointer(toy, capsys) -> None:
    lab = Lab("progress-toy")
    lab.hint("ex2")
    assert "has no hints" in capsys.readouterr().out
    lab.check("ex2", 1)
    capsys.readouterr()
    lab.hint("ex2")
    assert "the check's own pointer" in capsys.readouterr().out


def _solutions(folder: Path) -> Path:
    cells = [
        new_code_cell("from mlops_kit.labs import Lab\nlab = Lab('progress-toy')"),
        new_code_cell("### BEGIN SOLUTION\n# the answer\nanswer = 6 * 7\n### END SOLUTION\n"
                      "lab.check('ex1', answer)"),
        new_code_cell("### BEGIN SOLUTION\nparts = [1, 2]\n### END SOLUTION"),
        new_code_cell("    ### BEGIN SOLUTION\n    total = sum(parts)\n    ### END SOLUTION"),
        new_code_cell('lab.check("ex2", total)'),
    ]
    path = folder / "m" / "01L-toy.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), str(path))
    other = new_notebook(cells=[new_code_cell("lab = Lab('other')\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nlab.check('ex1', x)")])
    nbformat.write(other, str(folder / "m" / "00L-other.ipynb"))
    return path


def test_solution_comes_from_the_matching_solution_notebook(toy, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLOPS_KIT_SOLUTIONS", str(tmp_path / "solutions"))
    _solutions(tmp_path / "solutions")
    lab = Lab("progress-toy")
    lab.solution("ex1")
    out = capsys.readouterr().out
    assert out == ("Solution to Exercise 1 — Answer 42 (from 01L-toy.ipynb):\n"
                   "# the answer\nanswer = 6 * 7\n")
    lab.solution("ex2")  # spread over the cells since the previous check
    assert out_lines(capsys)[1:] == ["parts = [1, 2]", "", "total = sum(parts)"]
    assert Progress().get("progress-toy", "ex1").solution_viewed
    assert Lab("progress-toy").summary().rows[0][7] is True


def out_lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_solution_of_an_unknown_lab_says_where_it_looked(toy, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match=r"No solution notebook creates Lab\('progress-toy'\)"):
        find_solution("progress-toy", "ex1", tmp_path / "empty")


def test_repository_solution_of_the_setup_lab(capsys) -> None:
    Lab("setup").solution("ex1")
    assert "get_workspace().user" in capsys.readouterr().out


@pytest.mark.parametrize("question, answer, why", [
    ("q1", "b) Deploy code", "prod retrains from the promoted code"),
    ("q2", "a) Deploy models, b) Deploy code", "that ships the artifact"),
    ("q3", "3", "three environments"),
])
def test_solution_of_a_question_is_the_right_option_and_why(toy, capsys, question, answer, why) -> None:
    Lab("concepts-toy").solution(question)
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.endswith(f"? {answer}") and why in second
    assert Progress().get("concepts-toy", question).solution_viewed


def test_progress_file_writes_are_atomic_and_survive_corruption(tmp_path) -> None:
    store = Progress(tmp_path / "p.json")
    store.record_check("a", "ex1", passed=True, message="ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.lock"]  # no temp left
    (tmp_path / "p.json").write_text("{not json")
    assert store.labs() == {}  # a broken file is set aside, not fatal
    assert (tmp_path / "p.corrupt.json").exists()
    store.record_hint("a", "ex1")
    assert store.get("a", "ex1").hints_used == 1


def test_progress_command_shows_each_lab_and_exercise(toy, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    lab = Lab("progress-toy")
    lab.check("ex1", 42)
    lab.hint("ex2")
    result = CliRunner().invoke(main, ["progress"], catch_exceptions=False, terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    ex1 = next(line for line in lines if "│ ex1 " in line)
    ex2 = next(line for line in lines if "│ ex2 " in line)
    assert "Answer 42" in ex1 and "passed" in ex1 and "│     1 │     0 │" in ex1
    assert "not attempted" in ex2 and "│     0 │     1 │" in ex2
    assert "progress-toy" in lines[1]  # one table per lab, titled with its id


def test_progress_command_without_progress_says_so() -> None:
    result = CliRunner().invoke(main, ["progress"], catch_exceptions=False)
    assert result.exit_code == 0 and "No lab progress yet for user 'tester'" in result.output


def test_progress_table_keeps_one_line_per_exercise_at_80_columns(toy, monkeypatch) -> None:
    """An 80-column terminal gets one row per exercise, not one word per line."""
    monkeypatch.setenv("COLUMNS", "80")
    lab = Lab("progress-toy")
    lab.check("ex1", 41)  # a failed check leaves a long message in the "latest" column
    lab.check("ex2", "x")
    result = CliRunner().invoke(main, ["progress"], catch_exceptions=False, terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.startswith("│")]
    # the two exercises, nothing wrapped onto a second line
    assert [row.split("│")[1].strip() for row in body] == ["ex1", "ex2"]

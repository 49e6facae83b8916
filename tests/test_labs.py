"""Labs: checkers against right and wrong answers, Lab behaviour, FILL_IN, build."""
from __future__ import annotations

import importlib
import pickle
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlops_kit.cli import main
from mlops_kit.exceptions import CheckFailedError, ConfigError, ExerciseError, NotFoundError
from mlops_kit.labs import FILL_IN, CheckResult, Lab, checker, expect_type
from mlops_kit.labs import registry
from mlops_kit.labs.build import (
    KERNELSPEC, assigned_names, build_labs, lab_source, make_lab, normalise,
    normalise_kernelspecs,
)
from mlops_kit.labs.widgets import badge_html, result_line
from mlops_kit.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- checkers
@dataclass(frozen=True)
class Case:
    """One exercise's checker against a correct and a plausible wrong answer.

    ``good``/``bad``/``context`` receive the value of ``fixture`` (or None):
    a lab whose checks need data names a fixture that prepares it once.
    """

    lab: str
    exercise: str
    good: Callable[[Any], Any]
    bad: Callable[[Any], Any]
    context: Callable[[Any], dict] = field(default=lambda env: {})
    fixture: str | None = None
    spark: bool = False


def _setup_read(env, version=None):
    reader = env["spark"].read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(env["path"])


def _setup_stale(env):
    """Rows a plain Parquet read of the folder counts beyond the current version."""
    return env["spark"].read.parquet(env["path"]).count() - _setup_read(env).count()


def _setup_report_version():
    from mlops_kit.labs.checks.setup import report_version

    return report_version()


def _setup_avg(env, how="avg"):
    from pyspark.sql import functions as F

    agg = getattr(F, how)("price").alias("avg_price")
    return _setup_read(env).groupBy("room_type").agg(agg).toPandas()


#: every exercise of every lab: lab authors add their rows here
CASES: list[Case] = [
    Case("setup", "ex1", good=lambda env: "tester", bad=lambda env: "root"),
    Case("setup", "ex2", fixture="setup_lab", spark=True,
         good=lambda env: (_setup_read(env), _setup_stale(env)),
         bad=lambda env: (_setup_read(env).limit(10), _setup_stale(env)),
         context=lambda env: {"path": env["path"]}),
    Case("setup", "ex3", fixture="setup_lab", spark=True,
         good=lambda env: _setup_avg(env), bad=lambda env: _setup_avg(env, "sum"),
         context=lambda env: {"path": env["path"]}),
    Case("setup", "ex4", fixture="setup_lab", spark=True,
         good=lambda env: _setup_read(env, version=_setup_report_version()),
         bad=lambda env: _setup_read(env),
         context=lambda env: {"path": env["path"]}),
]


@pytest.fixture(scope="module")
def setup_lab(spark, tmp_path_factory) -> dict:
    """The setup lab's listings table (its history per learner), written once for its checks."""
    from mlops_kit.labs.checks.setup import prepare_listings

    Workspace.from_env(root=tmp_path_factory.mktemp("setup-lab"), user="tester").activate()
    return {"spark": spark, "path": prepare_listings(n=60)}


def _case_params() -> list:
    return [
        pytest.param(c, id=f"{c.lab}-{c.exercise}", marks=[pytest.mark.spark] if c.spark else [])
        for c in CASES
    ]


def _env(case: Case, request: pytest.FixtureRequest):
    return request.getfixturevalue(case.fixture) if case.fixture else None


@pytest.mark.parametrize("case", _case_params())
def test_checker_accepts_the_correct_answer(case: Case, request: pytest.FixtureRequest) -> None:
    env = _env(case, request)
    exercise = registry.get(case.lab, case.exercise)
    result = registry.run_check(exercise, case.good(env), **case.context(env))
    assert result.passed, result


@pytest.mark.parametrize("case", _case_params())
def test_checker_rejects_a_wrong_answer_with_a_hint(case: Case, request: pytest.FixtureRequest) -> None:
    env = _env(case, request)
    exercise = registry.get(case.lab, case.exercise)
    result = registry.run_check(exercise, case.bad(env), **case.context(env))
    assert not result.passed, result
    assert result.message and result.hint, "a failed check must say why and how to fix it"


def _lab_modules() -> list[str]:
    package = importlib.import_module("mlops_kit.labs.checks")
    return [info.name for info in pkgutil.iter_modules(package.__path__)]


def _covered_elsewhere() -> set[tuple[str, str]]:
    """Exercises whose checker a lab's own test module tests (its ``COVERS_EXERCISES``).

    Labs whose answers need heavy fixtures (MLflow runs, a served model) test
    their checkers in ``tests/test_<lab>_lab.py`` and declare there, as a
    literal, which exercises those tests feed a right AND a wrong answer.
    """
    import ast

    covered: set[tuple[str, str]] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "COVERS_EXERCISES" for t in node.targets
            ):
                covered |= {tuple(pair) for pair in ast.literal_eval(node.value)}
    return covered


def _is_choice_question(exercise) -> bool:
    """Choice questions are tested option by option in tests/test_labs_quiz.py."""
    return exercise.question is not None and exercise.question.kind != "number"


def test_every_registered_exercise_has_a_case() -> None:
    """A checker nobody tested against a wrong answer is not allowed in."""
    covered = {(c.lab, c.exercise) for c in CASES} | _covered_elsewhere()
    missing = []
    for module in _lab_modules():
        lab_id = module.replace("_", "-")
        missing += [
            f"{lab_id}/{e.exercise_id}" for e in registry.exercises(lab_id)
            if (lab_id, e.exercise_id) not in covered and not _is_choice_question(e)
        ]
    assert not missing, (
        f"add Case rows to tests/test_labs.py::CASES (or tests plus COVERS_EXERCISES in the "
        f"lab's own test module) for {missing}"
    )


# ------------------------------------------------------------------ the registry
@pytest.fixture
def toy_lab():
    """A throwaway lab 'toy' with two exercises (removed afterwards)."""

    @checker("toy", "ex1", title="Answer 42")
    def ex1(value, **context):
        if value == 42:
            return CheckResult.ok("42 it is")
        return CheckResult.fail(f"{value!r} is not the answer", hint="six times seven")

    @checker("toy", "ex2", title="A list")
    def ex2(value, **context):
        return CheckResult.ok("a list") if len(value) == context.get("n", 2) else CheckResult.fail("wrong length", hint="count")

    yield "toy"
    registry._REGISTRY.pop("toy", None)


def test_check_result_constructors() -> None:
    assert CheckResult.ok("fine") == CheckResult(True, "fine", None)
    assert CheckResult.fail("bad", hint="fix") == CheckResult(False, "bad", "fix")


def test_unknown_lab_names_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match=r"No lab named 'nope'\. Known labs: .*setup"):
        Lab("nope")


def test_unknown_exercise_names_the_known_ones(toy_lab) -> None:
    with pytest.raises(NotFoundError, match=r"No exercise named 'ex9' in lab 'toy'\. Known exercises: ex1, ex2"):
        Lab(toy_lab).check("ex9", 1)


@pytest.mark.parametrize("lab_id, exercise_id", [("Bad Lab", "ex1"), ("toy", "one")])
def test_register_refuses_malformed_ids(lab_id, exercise_id) -> None:
    with pytest.raises(ConfigError, match="must"):
        registry.register(lab_id, exercise_id, lambda v: CheckResult.ok(), title="t")


def test_exercises_sort_in_course_order() -> None:
    for n in (10, 2, 1):
        registry.register("order", f"ex{n}", lambda v: CheckResult.ok(), title=f"t{n}")
    try:
        assert [e.exercise_id for e in registry.exercises("order")] == ["ex1", "ex2", "ex10"]
    finally:
        registry._REGISTRY.pop("order")


# ------------------------------------------------------------------------ Lab
def test_check_prints_one_line_per_result(toy_lab, capsys) -> None:
    lab = Lab(toy_lab)
    lab.check("ex1", 42)
    lab.check("ex1", 41)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "✔ Exercise 1 — Answer 42: 42 it is",
        "✘ Exercise 1 — Answer 42: 41 is not the answer. Hint: six times seven",
    ]
    assert lab.results_["ex1"].passed is False


def test_failed_check_does_not_raise_by_default(toy_lab) -> None:
    Lab(toy_lab).check("ex1", 0)


def test_strict_lab_raises_on_failure(toy_lab) -> None:
    with pytest.raises(CheckFailedError, match=r"Exercise 1 — Answer 42 failed: 0 is not the answer\. Hint: six"):
        Lab(toy_lab, strict=True).check("ex1", 0)


def test_strict_from_environment(toy_lab, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_KIT_LABS_STRICT", "1")
    with pytest.raises(CheckFailedError):
        Lab(toy_lab).check("ex1", 0)
    Lab(toy_lab).check("ex1", 42)  # passing is fine in strict mode


@pytest.mark.parametrize("value", [FILL_IN, [1, FILL_IN], {"a": FILL_IN}, (FILL_IN,)], ids=["bare", "list", "dict", "tuple"])
def test_check_of_fill_in_names_the_exercise(toy_lab, value) -> None:
    with pytest.raises(ExerciseError, match=r"Exercise 2: replace FILL_IN with your answer \(A list\)"):
        Lab(toy_lab).check("ex2", value)


def test_checker_crash_becomes_a_failed_check(toy_lab, capsys) -> None:
    lab = Lab(toy_lab)
    lab.check("ex2", 5)  # len(5) raises TypeError inside the checker
    assert not lab.results_["ex2"].passed
    assert lab.results_["ex2"].message == (
        "expected another kind of answer, got int (the check stopped with TypeError)"
    )


def test_checker_crash_on_a_series_says_expected_and_got_not_pandas(capsys) -> None:
    """A comparison that pandas refuses must not reach the learner as "truth value ... ambiguous"."""

    @checker("typed", "ex1", title="Name the drifted feature")
    def ex1(value: str, **context):
        return CheckResult.ok() if value == "temp" else CheckResult.fail("no", hint="h")

    @checker("typed", "ex2", title="Untyped")
    def ex2(value, **context):
        return CheckResult.ok() if value == "temp" else CheckResult.fail("no", hint="h")

    try:
        lab = Lab("typed")
        lab.check("ex1", pd.Series(["temp"]))
        lab.check("ex2", pd.Series(["temp"]))
    finally:
        registry._REGISTRY.pop("typed", None)
    out = capsys.readouterr().out
    assert "ambiguous" not in out
    assert lab.results_["ex1"].message == "expected an answer (str), got Series"
    assert lab.results_["ex2"].message.startswith("expected another kind of answer, got Series")


def test_strict_lab_names_the_checker_crash_for_authors(toy_lab) -> None:
    with pytest.raises(CheckFailedError, match=r"got int .*The checker raised TypeError: object of type"):
        Lab(toy_lab, strict=True).check("ex2", 5)


@pytest.mark.parametrize("value, expected, what, message", [
    (pd.Series([1]), str, "a feature name", "expected a feature name (str), got Series"),
    ("3", (int, float), "a count", "expected a count (int or float), got str"),
    (True, int, "a count", "expected a count (int), got bool"),
    (pd.DataFrame(), "pyspark.DataFrame", "the listings table",
     "expected the listings table (Spark DataFrame), got DataFrame"),
    (None, "pandas.DataFrame", "a table", "expected a table (pandas DataFrame), got None"),
])
def test_expect_type_says_what_was_expected(value, expected, what, message) -> None:
    failed = expect_type(value, expected, what)
    assert failed is not None and not failed.passed
    assert failed.message == message and failed.hint


@pytest.mark.parametrize("value, expected", [
    ("price", str), (3, float), (3, (int, float)), (pd.DataFrame(), "pandas.DataFrame"),
    (pd.Series(dtype=float), pd.Series),
])
def test_expect_type_accepts_the_right_type(value, expected) -> None:
    assert expect_type(value, expected, "x") is None


def test_fill_in_error_renders_as_one_line_in_ipython(toy_lab, capsys) -> None:
    """Run All on an unfilled lab shows the kit's message, not 11 lines of kit frames."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from mlops_kit.labs import FILL_IN, Lab\nlab = Lab('toy')")
        result = shell.run_cell("answer = FILL_IN\nlab.check('ex1', answer.strip())")
    finally:
        InteractiveShell.clear_instance()
    assert isinstance(result.error_in_exec, ExerciseError)
    assert "Exercise 1:" in str(result.error_in_exec) and "FILL_IN" in str(result.error_in_exec)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "ExerciseError" in lines[0] and "Exercise 1: replace FILL_IN with your answer" in lines[0]


def test_strict_failure_renders_as_one_line_too(toy_lab) -> None:
    with pytest.raises(CheckFailedError) as caught:
        Lab(toy_lab, strict=True).check("ex1", 0)
    rendered = caught.value._render_traceback_()
    assert len(rendered) == 1 and "Exercise 1 — Answer 42 failed: 0 is not the answer" in rendered[0]


def test_context_reaches_the_checker(toy_lab) -> None:
    lab = Lab(toy_lab)
    lab.check("ex2", [1, 2, 3], n=3)
    assert lab.results_["ex2"].passed


def test_summary_lists_every_exercise(toy_lab, capsys) -> None:
    lab = Lab(toy_lab)
    lab.check("ex1", 42)
    summary = lab.summary()
    assert [row[3] for row in summary.rows] == ["passed", "not attempted"]
    assert not summary.all_passed
    out = capsys.readouterr().out
    assert "Lab toy: 1/2 exercises passed" in out and "Answer 42: passed (1 attempt)" in out
    frame = summary.to_frame()
    assert list(frame["state"]) == ["passed", "not attempted"]
    assert list(frame["attempts"]) == [1, 0] and list(frame["solution_viewed"]) == [False, False]
    assert "mlops-kit-summary" in summary._repr_html_()


# -------------------------------------------------------------------- FILL_IN
_USES = {
    "attribute": lambda: FILL_IN.count(),
    "call": lambda: FILL_IN(),
    "arithmetic": lambda: FILL_IN * 2,
    "reflected arithmetic": lambda: 2 + FILL_IN,
    "comparison": lambda: FILL_IN > 1,
    "equality": lambda: FILL_IN == 1,
    "iteration": lambda: list(FILL_IN),
    "len": lambda: len(FILL_IN),
    "bool": lambda: bool(FILL_IN),
    "str": lambda: f"{FILL_IN}",
    "index": lambda: FILL_IN["price"],
    "float": lambda: float(FILL_IN),
    "pandas frame": lambda: pd.DataFrame(FILL_IN),
    "pandas column": lambda: pd.DataFrame({"a": [1]})[FILL_IN],
    "pandas arithmetic": lambda: pd.Series([1.0]) + FILL_IN,
    "numpy": lambda: np.asarray(FILL_IN),
    "with": lambda: FILL_IN.__enter__(),
}


@pytest.mark.parametrize("use", _USES.values(), ids=_USES.keys())
def test_any_use_of_fill_in_raises_the_kits_message(toy_lab, use) -> None:
    Lab(toy_lab)
    with pytest.raises(ExerciseError, match=r"Exercise 1: replace FILL_IN with your answer \(Answer 42\)"):
        use()


def test_fill_in_names_the_first_exercise_not_attempted(toy_lab) -> None:
    lab = Lab(toy_lab)
    lab.check("ex1", 42)
    with pytest.raises(ExerciseError, match="Exercise 2:"):
        FILL_IN.head()


def test_fill_in_keeps_a_repr_and_identity() -> None:
    assert repr(FILL_IN) == "FILL_IN"
    assert pickle.loads(pickle.dumps(FILL_IN)) is FILL_IN
    assert FILL_IN in {FILL_IN}


# ---------------------------------------------------------------- presentation
def test_result_line_and_badge() -> None:
    assert result_line("Exercise 3 — x", False, "too few rows.", "filter less") == (
        "✘ Exercise 3 — x: too few rows. Hint: filter less"
    )
    markup = badge_html("Exercise 3 — <x>", True, "a & b")
    assert 'class="mlops-kit-badge mlops-kit-badge-pass"' in markup
    assert "&lt;x&gt;" in markup and "a &amp; b" in markup


@pytest.mark.parametrize("label, message, line", [
    ("Exercise 3 — Which feature changed units?", "`humidity` did not",
     "✘ Exercise 3 — Which feature changed units? humidity did not. Hint: look"),
    ("Exercise 2 — Read the `*current*` version", "the *current* prices, not **old** ones",
     "✘ Exercise 2 — Read the *current* version: the current prices, not old ones. Hint: look"),
    ("Exercise 1 — Keep snake_case_names", "a stray ` backtick",
     "✘ Exercise 1 — Keep snake_case_names: a stray  backtick. Hint: look"),
])
def test_titles_and_messages_drop_markdown_markers(label, message, line) -> None:
    assert result_line(label, False, message, "look") == line
    markup = badge_html(label, False, message, "look")
    assert "units?:" not in markup and "`" not in markup
    assert "<b>*current*</b>" not in markup and "**" not in markup


def test_badge_renders_inline_markdown_safely() -> None:
    markup = badge_html("Exercise 2 — Read the *current* <table>", False,
                        'use `df["x"] < 3` <script>', hint="**not** `sum`")
    assert "<em>current</em> &lt;table&gt;" in markup
    assert "<code>df[&quot;x&quot;] &lt; 3</code> &lt;script&gt;" in markup
    assert "<b>not</b> <code>sum</code>" in markup and "<script>" not in markup


def test_results_are_plain_html_not_widgets(toy_lab, monkeypatch) -> None:
    """A widget view reads "model not found" once the kernel is gone; plain HTML stays."""
    shown = []
    monkeypatch.setattr("mlops_kit.labs.widgets.in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    Lab(toy_lab).check("ex1", 41)
    assert set(shown[0]) == {"text/html", "text/plain"}
    assert shown[0]["text/plain"].startswith("✘ Exercise 1 — Answer 42: 41 is not the answer")


# ----------------------------------------------------------------------- build
@pytest.mark.parametrize(
    "code, names",
    [
        ("df = 1", ["df"]),
        ("a, (b, c) = 1, (2, 3)\na = 4", ["a", "b", "c"]),
        ("x: int = 3\ny += 1", ["x", "y"]),
        ("def f():\n    inner = 1\nclass K: pass", ["f", "K"]),
        ("print(1)\nif True:\n    hidden = 1", []),
        ("%time slow = 1\nfast = 2", ["fast"]),
    ],
)
def test_assigned_names(code, names) -> None:
    assert assigned_names(code) == names


def test_lab_source_replaces_regions_keeping_indentation() -> None:
    source = (
        "x = 1\n"
        "### BEGIN SOLUTION\n# join the tables\ndf = a.join(b)\ndf = df.limit(3)\n### END SOLUTION\n"
        "for i in range(2):\n    ### BEGIN SOLUTION\n    total = i\n    ### END SOLUTION\n"
        "lab.check('ex1', df)"
    )
    assert lab_source(source) == (
        "x = 1\n# TODO: join the tables\ndf = FILL_IN\n"
        "for i in range(2):\n    # TODO: write your solution here\n    total = FILL_IN\n"
        "lab.check('ex1', df)"
    )


@pytest.mark.parametrize(
    "source, error",
    [("### BEGIN SOLUTION\nx = 1", "never closed"), ("x = 1\n### END SOLUTION", "without a")],
)
def test_lab_source_refuses_broken_regions(source, error) -> None:
    with pytest.raises(ValueError, match=error):
        lab_source(source)


def _solution(path: Path, answer: str = "42", title: str = "# Toy lab") -> Path:
    cells = [
        new_markdown_cell(title),
        new_code_cell("from mlops_kit.labs import Lab\nlab = Lab('toy')", execution_count=1),
        new_code_cell(
            f"### BEGIN SOLUTION\n# the answer\nanswer = {answer}\n### END SOLUTION\nlab.check('ex1', answer)",
            execution_count=2,
            outputs=[new_output("stream", name="stdout", text="✔ Exercise 1\n")],
        ),
    ]
    cells[2].metadata["papermill"] = {"duration": 0.1}
    nb = new_notebook(cells=cells, metadata={"papermill": {"start_time": "now"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_make_lab_strips_outputs_and_inserts_fill_in(tmp_path: Path) -> None:
    solution = _solution(tmp_path / "solutions" / "m" / "01L-toy.ipynb")
    lab = nbformat.reads(make_lab(solution, relative_to=tmp_path), as_version=4)
    code = [c for c in lab.cells if c.cell_type == "code"]
    assert code[0].source == "from mlops_kit.labs import FILL_IN, Lab\nlab = Lab('toy')"
    assert code[1].source == "# TODO: the answer\nanswer = FILL_IN\nlab.check('ex1', answer)"
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert [c.id for c in lab.cells] == ["cell-0", "cell-1", "cell-2"]
    assert "papermill" not in lab.metadata and "papermill" not in lab.cells[2].metadata
    assert lab.metadata["mlops_kit"]["generated_from"] == "solutions/m/01L-toy.ipynb"
    assert lab.metadata["kernelspec"] == KERNELSPEC  # JupyterLab's: opening it changes nothing
    assert lab.metadata["language_info"]["codemirror_mode"] == {"name": "ipython", "version": 3}


def test_normalise_kernelspecs_fixes_only_the_kernel_metadata(tmp_path: Path) -> None:
    path = _solution(tmp_path / "notebooks" / "m" / "01-demo.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, str(path))
    assert normalise_kernelspecs(tmp_path) == [path]
    fixed = nbformat.read(str(path), as_version=4)
    assert fixed.metadata["kernelspec"] == KERNELSPEC
    assert fixed.cells == nb.cells and fixed.metadata["papermill"] == {"start_time": "now"}
    assert normalise_kernelspecs(tmp_path) == []  # already right: untouched


def test_build_check_round_trip(tmp_path: Path) -> None:
    solution = _solution(tmp_path / "solutions" / "m" / "01L-toy.ipynb")
    lab = tmp_path / "labs" / "m" / "01L-toy.ipynb"

    report = build_labs(tmp_path, check=True)
    assert report.missing == [lab] and not report.up_to_date
    assert build_labs(tmp_path).written == [lab]
    first = lab.read_bytes()
    assert build_labs(tmp_path, check=True).up_to_date
    assert build_labs(tmp_path).written == [] and lab.read_bytes() == first  # deterministic

    _solution(solution, answer="6 * 7")  # only the hidden solution changed
    assert build_labs(tmp_path, check=True).up_to_date
    _solution(solution, title="# Toy lab, reworded")
    assert build_labs(tmp_path, check=True).stale == [lab]
    build_labs(tmp_path)

    extra = tmp_path / "labs" / "m" / "99L-orphan.ipynb"
    extra.write_text(lab.read_text())
    assert build_labs(tmp_path, check=True).extra == [extra]
    assert build_labs(tmp_path).extra == [extra] and not extra.exists()


def test_cli_build_check_exits_nonzero_when_stale(tmp_path: Path) -> None:
    _solution(tmp_path / "solutions" / "m" / "01L-toy.ipynb")
    runner = CliRunner()
    stale = runner.invoke(main, ["labs", "build", "--check", "--root", str(tmp_path)])
    assert stale.exit_code == 1
    assert "missing: labs/m/01L-toy.ipynb" in stale.output
    built = runner.invoke(main, ["labs", "build", "--root", str(tmp_path)])
    assert built.exit_code == 0 and "wrote labs/m/01L-toy.ipynb" in built.output
    fresh = runner.invoke(main, ["labs", "build", "--check", "--root", str(tmp_path)])
    assert fresh.exit_code == 0, fresh.output


def test_repository_labs_are_built_from_current_solutions() -> None:
    """labs/ is what `mlops-kit labs build` makes of solutions/: no hand edits, no drift."""
    report = build_labs(REPO, check=True)
    assert report.up_to_date, f"run `mlops-kit labs build`: {report}"


def test_broken_region_in_a_solution_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1")]), str(path))
    with pytest.raises(ConfigError, match=r"bad.ipynb, cell 0: .*never closed"):
        make_lab(path)


def test_normalise_keeps_only_compared_outputs() -> None:
    kept, dropped = new_code_cell("1", execution_count=3), new_code_cell("2", execution_count=4)
    kept.metadata["tags"] = ["nbval-check-output"]
    for cell in (kept, dropped):
        cell.outputs = [new_output("execute_result", data={"text/plain": "1"}, execution_count=3)]
    nb = normalise(new_notebook(cells=[kept, dropped]), keep_outputs=True)
    assert nb.cells[0].outputs[0]["execution_count"] is None
    assert nb.cells[1].outputs == []

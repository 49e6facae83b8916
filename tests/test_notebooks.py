"""Every notebook runs: demos and jobs green, solutions green with strict checks,
generated labs stop at their first exercise with the kit's FILL_IN message.

Each notebook gets its own kernel process, so ``pytest -n 2`` spreads them.
A notebook that only runs when a test sets something up (a server, a model)
declares ``{"mlops_kit": {"test": "skip-standalone", "reason": "..."}}`` in its
metadata and is covered by that test instead.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from notebook_runner import (REPO, checked_output_differences, notebook_metadata, run_notebook,
                             warnings_in)

pytestmark = pytest.mark.slow


# Notebooks run on the shared Spark Connect server (tests/conftest.py); these also
# with a JVM in the kernel, in ./run.sh test's pass with MLOPS_KIT_TEST_SPARK=local:
# Delta from a feature table to a partitioned batch output, spark_udf, a stream.
BOTH_ENGINES = {"notebooks/01-experimentation/02-feature-store.ipynb",
                "notebooks/03-deployment/01-batch.ipynb",
                "notebooks/03-deployment/02-streaming.ipynb"}


def _collect(folder: str) -> list:
    paths = sorted(
        p for p in (REPO / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )
    return [_param(p) for p in paths]


def _param(path: Path):
    name = str(path.relative_to(REPO))
    marks = [pytest.mark.both_engines] if name in BOTH_ENGINES else []
    return pytest.param(path, id=name, marks=marks)


def _skip_if_standalone_unsupported(path: Path) -> None:
    meta = notebook_metadata(path)
    if meta.get("test") == "skip-standalone":
        pytest.skip(meta.get("reason", "runs only inside the test that sets it up"))


@pytest.mark.parametrize("path", _collect("notebooks"))
def test_demo_notebook_runs(path: Path, tmp_path: Path) -> None:
    """Demos and job notebooks run top to bottom with their default parameters; the
    cells tagged ``nbval-check-output`` print what the committed notebook shows."""
    _skip_if_standalone_unsupported(path)
    run = run_notebook(path, env={"MLOPS_KIT_HOME": str(tmp_path / "kit")})
    _assert_no_jvm_noise(run.notebook)
    _assert_no_warnings(run.notebook)
    assert_claims_held(run.notebook)
    import nbformat

    differences = checked_output_differences(run.notebook, nbformat.read(str(path), as_version=4))
    assert not differences, "outputs differ from the committed ones:\n" + "\n".join(differences)


def assert_claims_held(nb) -> None:
    """Every sentence the run rendered through mlops_kit.claims held on this run's numbers."""
    from mlops_kit.claims import claims_in

    failed = [c for c in claims_in(nb) if not c.held]
    assert not failed, "\n".join(c.describe_failure() for c in failed)


# What a JVM prints on start-up belongs in the driver log, not in a lesson's cells.
JVM_NOISE = ("Using incubator modules", "Setting default log level", "WARN NativeCodeLoader",
             "files and directories in a total of")


def _assert_no_warnings(nb) -> None:
    """A learner trusts output that is clean: fix a warning's cause, never filter it."""
    found = warnings_in(nb)
    assert not found, "the notebook printed warnings:\n" + "\n".join(
        f"cell {index}: {line}" for index, line in found)
    chatter = mlflow_chatter_in(nb)
    assert not chatter, "the notebook printed MLflow's routine notices:\n" + "\n".join(
        f"cell {index}: {line}" for index, line in chatter)


# MLflow's INFO records, its advice on choices the course made on purpose, and its
# registry notices: %load_ext mlops_kit keeps them out (mlops_kit._mlflow_logs)
_MLFLOW_CHATTER = re.compile(
    r"^.*(?: INFO mlflow[\w.]*: .*|`spark_udf\(\)` with `env_manager=.*"
    r"|serialized using CloudPickle.*"
    r"|Successfully registered model '.*|Created version '.*' of model .*"
    r"|Registered model '.*' already exists\. Creating a new version.*"
    r"|Copied version '.*' of model .*)$", re.M)


def mlflow_chatter_in(nb) -> list[tuple[int, str]]:
    """``(cell index, line)`` of every MLflow notice a lesson should not show on stderr."""
    return [(index, m.group(0)[:300])
            for index, cell in enumerate(nb.cells) for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" and output.get("name") == "stderr"
            for m in _MLFLOW_CHATTER.finditer(re.sub(r"\x1b\[[0-9;]*m", "", output.get("text", "")))]


def _assert_no_jvm_noise(nb) -> None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            noise = [line for line in JVM_NOISE if line in text]
            assert not noise, f"cell {index} printed {noise}: {text[:300]!r}"


@pytest.mark.parametrize("path", _collect("solutions"))
def test_solution_passes_every_check(path: Path, tmp_path: Path) -> None:
    """A solution runs green with strict checks: a wrong answer fails CI."""
    _skip_if_standalone_unsupported(path)
    run = run_notebook(path, env={"MLOPS_KIT_HOME": str(tmp_path / "kit")})
    _assert_no_warnings(run.notebook)


# The generated lab run to its first exercise (a cheap one: no Spark, no server). What
# the others run before their first FILL_IN is their solution's code, which
# test_solution_passes_every_check runs; test_lab_is_its_solution_until_exercise_1_asks
# checks that statically, for every lab.
RUN_TO_FIRST_EXERCISE = {"labs/04-production/04L-testing-lab.ipynb"}


@pytest.mark.parametrize("path", [p for p in _collect("labs") if p.id in RUN_TO_FIRST_EXERCISE])
def test_lab_stops_at_its_first_exercise(path: Path, tmp_path: Path) -> None:
    """An unfilled lab stops at exercise 1 with the kit's FILL_IN message."""
    _skip_if_standalone_unsupported(path)
    run = run_notebook(path, env={"MLOPS_KIT_HOME": str(tmp_path / "kit")}, expect_error=True)
    assert run.error is not None, run.log[-2000:]
    assert run.error.ename == "ExerciseError", run.error.describe()
    assert "Exercise 1:" in run.error.evalue and "FILL_IN" in run.error.evalue, run.error.describe()
    _assert_no_warnings(run.notebook)



_CHECK_CALL = re.compile(r"^[^#\n]*\blab\.check\(", re.M)
_LAB = re.compile(r"\bLab\(\s*[\"']([\w-]+)[\"']")


def _uses_fill_in(source: str) -> bool:
    """FILL_IN appears in the code, not only in the import that brings it."""
    code = [line for line in source.splitlines()
            if not line.lstrip().startswith(("from ", "import ", "#"))]
    return any(re.search(r"\bFILL_IN\b", line) for line in code)


def _as_solved(source: str) -> str:
    """A lab cell without the import of FILL_IN that the build adds to it."""
    return re.sub(r"^(from mlops_kit\.labs import )FILL_IN, ", r"\1", source, flags=re.M)


@pytest.mark.parametrize("path", _collect("labs"))
def test_lab_is_its_solution_until_exercise_1_asks(path: Path) -> None:
    """Statically, what a learner runs before the first FILL_IN is the solution's code (run
    green, with no warning, by test_solution_passes_every_check) and no check has run by
    then: the FILL_IN then raises the kit's ExerciseError for the first exercise not
    attempted (mlops_kit.labs.Lab), exercise 1, as the lab run above shows on one lab."""
    import nbformat

    from mlops_kit.labs import registry
    from mlops_kit.labs.build import make_lab

    solution = REPO / "solutions" / path.relative_to(REPO / "labs")
    assert path.read_text() == make_lab(solution, relative_to=REPO), "run `mlops-kit labs build`"
    lab, solved = (nbformat.read(str(p), as_version=4).cells for p in (path, solution))
    assert len(lab) == len(solved)
    first = next(i for i, (a, b) in enumerate(zip(lab, solved)) if _as_solved(a.source) != b.source)
    assert lab[first].cell_type == "code" and _uses_fill_in(lab[first].source), (
        f"the lab first departs from its solution in cell {first}, which holds no FILL_IN")
    before = [c.source for c in lab[:first]]
    assert not any(_uses_fill_in(c.source) for c in lab[:first] if c.cell_type == "code")
    assert not [c.source for c in lab[:first] if c.cell_type == "code" and _CHECK_CALL.search(c.source)], (
        "a check runs before exercise 1")
    lab_ids = [m for c in before for m in _LAB.findall(c)]
    assert lab_ids, "no Lab(...) is made before the first FILL_IN"
    assert registry.exercises(lab_ids[-1])[0].number == 1


def _compared(printed: str, stored: str, tags=("nbval-check-output",), ran: bool = True) -> list[str]:
    """nbval's comparison (lax, with our sanitizer) of a one-cell notebook that printed
    ``printed`` against the committed one that shows ``stored``."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    def notebook(text: str, count):
        cell = new_code_cell("print(x)", id="c1",
                             outputs=[new_output("stream", name="stdout", text=text + "\n")])
        cell.metadata["tags"] = list(tags)
        cell.execution_count = count
        return new_notebook(cells=[cell])

    return checked_output_differences(notebook(printed, 1), notebook(stored, 1 if ran else None))


def test_nbval_compares_tagged_outputs_after_sanitizing() -> None:
    """A tagged cell whose output changed fails; paths and run ids are sanitized away;
    untagged cells are not compared; a committed output of a cell that never ran is refused."""
    assert _compared("rows: 3", "rows: 4")
    assert _compared("run 0123456789abcdef0123456789abcdef in /tmp/x/y",
                     "run fedcba9876543210fedcba9876543210 in /tmp/other") == []
    assert _compared("rows: 3", "rows: 4", tags=()) == []
    assert _compared("rows: 3", "rows: 4", tags=("nbval-check-output", "nbval-skip")) == []
    assert _compared("rows: 3", "rows: 3", ran=False)


def _with_stderr(*texts: str, name: str = "stderr"):
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    return new_notebook(cells=[new_code_cell("x = 1", outputs=[new_output("stream", name=name, text=t)])
                               for t in texts])


@pytest.mark.parametrize("text", [
    "/venv/lib/python3.11/site-packages/mlflow/types/utils.py:452: UserWarning: Hint: Inferred "
    "schema contains integer column(s).\n  warnings.warn(\n",
    "\x1b[33m/site-packages/mlflow/pyfunc/utils/data_validation.py:187: UserWarning: "
    "\x1b[33mAdd type hints to the `predict` method\x1b[0m\n  color_warning(\n",
    "<ipython-input-3-abc>:2: FutureWarning: Series.__getitem__ treating keys as positions\n",
    "/tmp/x.py:9: SettingWithCopyWarning: \nA value is trying to be set on a copy\n",
])
def test_warning_detector_finds_python_warnings(text: str) -> None:
    assert [index for index, _ in warnings_in(_with_stderr("ok\n", text))] == [1]


@pytest.mark.parametrize("text", [
    "Warning: drift detected on 2 of 9 columns\n",          # a lesson's own words
    "WARNING is a log level; ERROR is louder\n",
    "rows: 300, warnings: 0\n",
    "see utils.py:12 for UserWarning handling\n",
    # a library's log record is advice about a choice, not a Python warning
    "2026/11/30 05:30:00 WARNING mlflow.pyfunc: Calling `spark_udf()` with `env_manager=...\n",
])
def test_warning_detector_ignores_lesson_text(text: str) -> None:
    assert warnings_in(_with_stderr(text)) == []
    assert warnings_in(_with_stderr(text, name="stdout")) == []


@pytest.mark.parametrize("text", [
    "2026/11/30 08:59:28 INFO mlflow.store.db.utils: Creating initial MLflow database tables...\n",
    "2026/11/30 09:00:47 INFO mlflow.pyfunc: Validating input example against model signature\n",
    "2026/11/30 05:30:00 WARNING mlflow.pyfunc: Calling `spark_udf()` with `env_manager=\"local\"` "
    "does not recreate the same environment\n",
    "2026/11/30 09:00:47 WARNING mlflow.pyfunc: Passing a Python object as `python_model` causes "
    "it to be serialized using CloudPickle, it requires exercising caution\n",
    "Successfully registered model 'dev.root.price_labels'.\nCreated version '1' of model "
    "'dev.root.price_labels'.\n",
    "Registered model 'staging.root.price' already exists. Creating a new version of this model...\n",
])
def test_mlflow_chatter_detector_finds_mlflow_notices(text: str) -> None:
    assert {index for index, _ in mlflow_chatter_in(_with_stderr("ok\n", text))} == {1}
    assert mlflow_chatter_in(_with_stderr(text, name="stdout")) == []  # a lesson may print these


@pytest.mark.parametrize("text", [
    "Registered version 3 of dev.ada.price\n",
    "2026/11/30 05:30:00 WARNING mlflow.models: Model signature mismatch\n",
    "INFO is a log level\n",
])
def test_mlflow_chatter_detector_ignores_other_lines(text: str) -> None:
    assert mlflow_chatter_in(_with_stderr(text)) == []

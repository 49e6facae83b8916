"""The job runner: parameters, notebook lookup, env export, failures, the course runner.

Tests that execute a notebook start a real kernel (2-4 s each); the rest read
notebooks only.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from mlops_kit.exceptions import ConfigError, JobFailedError, NotFoundError
from mlops_kit.jobs import (check_job, discover_course, prepare_notebook, resolve_notebook, run_course,
                            run_notebook)
from mlops_kit.jobs.course import _batches
from mlops_kit.jobs.params import NotebookParameter, coerce_parameters, declared_parameters
from mlops_kit.jobs.runner import job_environment
from mlops_kit.workspace import Workspace

HERE = Path(__file__).parent / "notebooks"
DOUBLE, FAILS, SLEEPS = HERE / "double.ipynb", HERE / "fails.ipynb", HERE / "sleeps.ipynb"


# ----------------------------------------------------------------- parameters
def test_declared_parameters_read_types_from_annotation_and_defaults() -> None:
    declared = declared_parameters(DOUBLE)
    assert list(declared) == ["x", "scale", "loud", "label", "env"]
    assert {n: p.type_name for n, p in declared.items()} == {
        "x": "int", "scale": "float", "loud": "bool", "label": "str", "env": "str"}
    assert declared["label"].default == "total"


@pytest.mark.parametrize(("type_name", "raw", "expected"), [
    ("int", "42", 42),
    ("float", "0.25", 0.25),
    ("float", 3, 3.0),
    ("bool", "true", True),
    ("bool", "No", False),
    ("bool", "1", True),
    ("str", "007", "007"),
    (None, "[1, 2]", [1, 2]),
    (None, "plain text", "plain text"),
])
def test_values_are_coerced_to_the_declared_type(type_name, raw, expected) -> None:
    declared = {"p": NotebookParameter("p", type_name, None)}
    value = coerce_parameters(declared, {"p": raw})["p"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("type_name", "raw", "match"), [
    ("int", "4.5", "'p' must be int. Got '4.5'"),
    ("float", "abc", "'p' must be float"),
    ("bool", "maybe", "Use true or false"),
    ("int", True, "must be int"),
    ("str", 3, r"must be str. Got 3 \(int\)"),
])
def test_bad_values_raise_config_error(type_name, raw, match) -> None:
    with pytest.raises(ConfigError, match=match):
        coerce_parameters({"p": NotebookParameter("p", type_name, None)}, {"p": raw})


@pytest.mark.parametrize("raw", ["1+" * 50000 + "1", "1+" * 5000 + "1", "-" * 20000 + "1"])
def test_an_untyped_value_too_deep_or_long_is_a_parameter_error(raw) -> None:
    """It used to end in RecursionError with a traceback."""
    with pytest.raises(ConfigError, match=r"parameter 'opt' (is nested too deeply|is \d+ characters)"):
        coerce_parameters({"opt": NotebookParameter("opt", None, None)}, {"opt": raw})
    assert coerce_parameters({"opt": NotebookParameter("opt", None, None)},
                             {"opt": "[1, {'a': 2}]"}) == {"opt": [1, {"a": 2}]}


def test_job_run_with_a_deep_untyped_value_exits_2_in_one_line(tmp_path) -> None:
    from click.testing import CliRunner

    from mlops_kit.cli import main

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("opt = None", metadata={"tags": ["parameters"]})]
    nbformat.write(nb, str(tmp_path / "untyped.ipynb"))
    result = CliRunner().invoke(main, ["job", "run", str(tmp_path / "untyped.ipynb"),
                                       "-p", "opt", "1+" * 50000 + "1"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "parameter 'opt'" in lines[0], result.output


def test_unknown_parameter_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"no parameter 'y'\. Valid names: x, scale, loud"):
        run_notebook(DOUBLE, {"y": "1"})


# ------------------------------------------------------------ notebook lookup
def test_notebooks_resolve_by_name_with_or_without_suffix(tmp_path, monkeypatch) -> None:
    (tmp_path / "jobs").mkdir()
    shutil.copy(DOUBLE, tmp_path / "jobs" / "score_batch.ipynb")
    monkeypatch.setenv("MLOPS_KIT_NOTEBOOKS", str(tmp_path))
    expected = (tmp_path / "jobs" / "score_batch.ipynb").resolve()
    assert resolve_notebook("jobs/score_batch") == expected
    assert resolve_notebook("jobs/score_batch.ipynb") == expected
    assert resolve_notebook(str(expected)) == expected
    with pytest.raises(NotFoundError, match="Did you mean: jobs/score_batch"):
        resolve_notebook("jobs/score_bach")


def test_env_conflict_between_flag_and_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="Two envs were given"):
        run_notebook(DOUBLE, {"env": "staging"}, env="prod")


def test_bad_env_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="env must be one of dev, staging, prod. Got 'qa'"):
        run_notebook(DOUBLE, env="qa")


def test_kernel_environment_carries_the_workspace(tmp_path) -> None:
    local = Workspace(root=tmp_path, user="ada", env="prod")
    env = job_environment(local, {"MLFLOW_TRACKING_URI": local.tracking_uri, "PATH": "/bin"})
    assert env["MLOPS_KIT_ENV"] == "prod" and env["MLOPS_KIT_USER"] == "ada"
    assert env["MLOPS_KIT_HOME"] == str(tmp_path)
    # the kernel re-derives the local store (and its artifact locations) from MLOPS_KIT_HOME
    assert "MLFLOW_TRACKING_URI" not in env
    shared = Workspace(root=tmp_path, user="ada", tracking_uri_override="http://mlflow:5000")
    assert job_environment(shared, {})["MLOPS_KIT_TRACKING_URI"] == "http://mlflow:5000"


def test_the_runner_does_not_pay_for_a_grammar_it_never_uses() -> None:
    """Every notebook and job starts a papermill runner; jsonschema 4.25+ would make it
    import rfc3987_syntax (2-3 s of grammar building, benchmarks/job_start.py)."""
    import subprocess
    import sys

    code = ("import sys; import mlops_kit.jobs._execute, papermill, nbformat; "
            "print(sorted(m for m in sys.modules if m.startswith(('rfc3987', 'lark'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ execution
def test_job_runs_with_coerced_parameters_in_the_requested_env(workspace) -> None:
    """The notebook asserts MLOPS_KIT_ENV equals its injected ``env`` parameter."""
    result = run_notebook("tests/notebooks/double", {"x": "21", "loud": "yes"}, env="prod")
    assert result.ok and result.parameters == {"x": 21, "loud": True, "env": "prod"}
    assert result.path.parent == workspace.with_env("prod").jobs_dir
    assert result.path.name.startswith("double-")
    executed = nbformat.read(result.path, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "total=42.0 env=prod loud=True cwd=notebooks" in text  # cwd = notebook's folder


def test_a_checked_job_runs_what_was_checked_without_reading_the_notebook_again(
        workspace, monkeypatch) -> None:
    """``mlops-kit job run`` checks its input before Spark starts, then runs that checked job."""
    import mlops_kit.jobs.runner as runner

    job = check_job("tests/notebooks/double", {"x": "21", "loud": "yes"}, env="prod")
    assert job.values == {"x": 21, "loud": True, "env": "prod"}
    assert job.workspace.env == "prod" and job.path == DOUBLE.resolve()

    def read_again(*args, **kwargs):
        raise AssertionError("the checked notebook was read a second time")

    monkeypatch.setattr(runner, "declared_parameters", read_again)
    with pytest.raises(TypeError, match="give them to check_job"):
        run_notebook(job, {"x": "1"})
    result = run_notebook(job)
    assert result.ok and result.parameters == job.values
    assert result.path.parent == workspace.with_env("prod").jobs_dir


def test_failing_cell_is_reported_with_its_source(workspace) -> None:
    with pytest.raises(JobFailedError) as info:
        run_notebook(FAILS, {"threshold": "0.9"})
    err = info.value
    assert (err.ename, err.evalue) == ("ValueError", "score 0.1 is below 0.9")
    assert "raise ValueError" in err.source
    executed = nbformat.read(err.output_path, as_version=4)
    assert executed.cells[err.cell_index].source == err.source
    assert err.exit_code == 5


def test_cell_timeout_fails_the_job_at_that_cell(workspace) -> None:
    with pytest.raises(JobFailedError, match="ran longer than 2 s") as info:
        run_notebook(SLEEPS, {"seconds": 30}, cell_timeout=2)
    assert "time.sleep" in info.value.source


def _kernels_of(home: Path) -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "ipykernel_launcher" in " ".join(proc.info["cmdline"] or []) and \
                    proc.environ().get("MLOPS_KIT_HOME") == str(home):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _wait_for(condition, seconds: float = 60.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _probe_notebook(folder: Path) -> Path:
    """Prints whether skops.io (a warm-up import no cell asks for) is loaded, and
    which warm-up names leaked into the learner's namespace."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('module = "skops.io"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import sys\n"
            "print(module in sys.modules, "
            "[n for n in ('import_common', 'importlib', 'mlops_kit', '_') if globals().get(n)])"),
    ]
    path = folder / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def _printed(result) -> str:
    cells = [c for c in nbformat.read(result.path, as_version=4).cells if c.cell_type == "code"]
    return cells[-1].outputs[0]["text"].strip()


def test_a_prepared_kernel_has_imported_before_its_first_cell_and_left_no_trace(
        tmp_path, workspace) -> None:
    probe = _probe_notebook(tmp_path)
    with prepare_notebook(probe) as job:
        assert _wait_for(lambda: len(_kernels_of(workspace.root)) == 1)  # started before run()
        result = job.run()
    assert _printed(result) == "True []"
    first = next(c for c in nbformat.read(result.path, as_version=4).cells if c.cell_type == "code")
    assert first.execution_count == 1  # the warm-up left no entry in the kernel's history
    with pytest.raises(RuntimeError, match="run already"):
        job.run()
    # run at once, a job pays for no import it did not ask for
    assert _printed(run_notebook(probe)) == "False []"


def test_a_cancelled_job_stops_its_kernel_without_running_a_cell(workspace) -> None:
    job = prepare_notebook(DOUBLE, {"x": 2})
    assert _wait_for(lambda: len(_kernels_of(workspace.root)) == 1)
    job.cancel()
    assert _wait_for(lambda: _kernels_of(workspace.root) == [], seconds=30)
    assert not job.output.exists()
    with pytest.raises(RuntimeError, match="cancelled already"):
        job.run()


def _slow_exit_notebook(folder: Path) -> Path:
    """A notebook whose kernel takes seconds to exit (an exit handler sleeps)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import atexit, time\natexit.register(time.sleep, 4)\n"
                                          "print('done')")]
    path = folder / "slow_exit.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_caller_may_go_on_while_the_kernel_shuts_down_and_then_wait_for_it(
        tmp_path, workspace) -> None:
    slow = _slow_exit_notebook(tmp_path)
    job = prepare_notebook(slow, warm_up=False)
    result = job.run(wait_for_shutdown=False)
    assert _printed(result) == "done"  # the executed copy is whole when run() returns
    assert len(_kernels_of(workspace.root)) == 1  # ... while its kernel is still exiting
    job.wait_closed()
    assert _kernels_of(workspace.root) == []
    # by default nothing of the job is left when run_notebook returns
    assert _printed(run_notebook(slow)) == "done"
    assert _kernels_of(workspace.root) == []


def test_a_failed_job_reports_its_cell_without_waiting_for_the_kernel_too(workspace) -> None:
    job = prepare_notebook(FAILS, warm_up=False)
    with pytest.raises(JobFailedError) as info:
        job.run(wait_for_shutdown=False)
    assert info.value.ename == "ValueError"
    job.wait_closed()
    assert _kernels_of(workspace.root) == []


def test_outer_timeout_kills_the_kernel(workspace) -> None:
    with pytest.raises(JobFailedError, match="notebook ran longer than 6 s") as info:
        run_notebook(SLEEPS, {"seconds": 60}, timeout=6)
    assert info.value.cell_index == 3 and "time.sleep" in info.value.source
    assert _kernels_of(workspace.root) == []


# --------------------------------------------------------------------- course
def _course_tree(root: Path, failing: str | None = None) -> None:
    files = {
        "notebooks/00-setup/01-welcome": DOUBLE,
        "notebooks/01-experimentation/01-delta-lake": DOUBLE,
        "notebooks/01-experimentation/02-feature-store": DOUBLE,
        "solutions/01-experimentation/02L-feature-store-lab": DOUBLE,
        "notebooks/jobs/train": DOUBLE,
    }
    for name, source in files.items():
        target = root / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FAILS if name == failing else source, target)


def test_course_order_mixes_demos_and_labs_and_skips_jobs(tmp_path) -> None:
    _course_tree(tmp_path)
    names = [(nb.name, nb.kind) for nb in discover_course(tmp_path)]
    assert names == [
        ("00-setup/01-welcome", "demo"),
        ("01-experimentation/01-delta-lake", "demo"),
        ("01-experimentation/02-feature-store", "demo"),
        ("01-experimentation/02L-feature-store-lab", "lab"),
    ]
    assert [nb.name for nb in discover_course(tmp_path, only="feature-store")] == [
        "01-experimentation/02-feature-store", "01-experimentation/02L-feature-store-lab"]
    assert len(discover_course(tmp_path, only="01-*")) == 3
    with pytest.raises(NotFoundError, match="No course notebook matches 'nothing'"):
        discover_course(tmp_path, only="nothing")


def test_parallel_batches_only_group_safe_notebooks_of_one_module(tmp_path) -> None:
    _course_tree(tmp_path)
    for name in ("01-delta-lake", "02-feature-store"):
        path = tmp_path / "notebooks" / "01-experimentation" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        nb.metadata["mlops_kit"] = {"parallel_safe": True}
        nbformat.write(nb, path)
    course = discover_course(tmp_path)
    assert [len(b) for b in _batches(course, parallel=2)] == [1, 2, 1]
    assert [len(b) for b in _batches(course, parallel=1)] == [1, 1, 1, 1]


def test_run_course_stops_at_the_first_failure(tmp_path, workspace) -> None:
    _course_tree(tmp_path, failing="notebooks/01-experimentation/01-delta-lake")
    seen = []
    results = run_course(root=tmp_path, only="0*-*/01-*", progress=lambda nb, r: seen.append(
        (nb.name, None if r is None else r.status)))
    assert [r.status for r in results] == ["ok", "failed"]
    assert seen[-1] == ("01-experimentation/01-delta-lake", "failed")
    failed = results[1]
    assert failed.error.ename == "ValueError"
    assert failed.path == workspace.jobs_dir / "course" / "01-experimentation" / "01-delta-lake.ipynb"
    assert failed.path.exists()


def test_the_course_prepares_the_next_notebook_and_stops_it_unused_after_a_failure(
        tmp_path, workspace) -> None:
    _course_tree(tmp_path, failing="notebooks/01-experimentation/01-delta-lake")
    results = run_course(root=tmp_path, only="01-experimentation")
    assert [r.status for r in results] == ["failed"]
    assert not (workspace.jobs_dir / "course" / "01-experimentation" / "02-feature-store.ipynb").exists()
    assert _wait_for(lambda: _kernels_of(workspace.root) == [], seconds=30)
    results = run_course(root=tmp_path, only="feature-store")
    assert [r.status for r in results] == ["ok", "ok"]  # a prepared notebook runs like any other
    assert _kernels_of(workspace.root) == []  # the course waited for the last kernels to exit


def test_the_warm_up_imports_what_it_can_and_names_what_it_could_not() -> None:
    import sys

    from mlops_kit.jobs.warmup import COMMON_MODULES, import_common

    assert "mlflow" in COMMON_MODULES and "skops.io" in COMMON_MODULES
    sys.modules.pop("colorsys", None)
    assert import_common(("json.decoder", "no_such_module_here", "colorsys")) == [
        "no_such_module_here"]
    assert "colorsys" in sys.modules  # the one after the missing one was still imported

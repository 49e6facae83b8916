"""Packaging stays honest: conda file in sync with pyproject, exports that exist."""
from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest
import yaml

import mlops_kit

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _conda() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def test_conda_python_matches_requires_python() -> None:
    requires = _pyproject()["project"]["requires-python"]
    low = re.search(r">=\s*(\d+\.\d+)", requires).group(1)
    python = next(d for d in _conda()["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == f"python={low}", (python, requires)
    assert f"<{low.split('.')[0]}.{int(low.split('.')[1]) + 1}" in requires.replace(" ", "")


def test_conda_brings_a_java_spark_supports() -> None:
    deps = [d for d in _conda()["dependencies"] if isinstance(d, str)]
    assert any(re.fullmatch(r"openjdk=(17|21)", d) for d in deps), deps


def test_conda_pip_section_installs_this_package_with_dev_extras() -> None:
    """Python packages come from pyproject only: the conda file must not pin its own copies."""
    pip = next(d["pip"] for d in _conda()["dependencies"] if isinstance(d, dict))
    assert pip == ["-e .[dev,trees]"]
    extras = _pyproject()["project"]["optional-dependencies"]
    assert "dev" in extras and "trees" in extras


def test_top_level_all_names_exist() -> None:
    missing = [name for name in mlops_kit.__all__ if not hasattr(mlops_kit, name)]
    assert not missing


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(mlops_kit.__path__, "mlops_kit.")
                  if ".cli." not in m.name and not m.name.endswith("__main__"))


@pytest.mark.parametrize("module_name", _modules())
def test_every_module_all_is_honest(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in getattr(module, "__all__", []) if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names missing objects: {missing}"


def _public_errors() -> dict[str, type]:
    from mlops_kit import exceptions

    return {name: obj for name, obj in vars(exceptions).items()
            if isinstance(obj, type) and issubclass(obj, BaseException)
            and obj.__module__ == exceptions.__name__ and not name.startswith("_")}


def test_every_public_error_is_listed_in_exceptions_all() -> None:
    """Not only do the listed names exist: every error class defined there is listed."""
    from mlops_kit import exceptions

    unlisted = sorted(set(_public_errors()) - set(exceptions.__all__))
    assert not unlisted, f"mlops_kit.exceptions defines errors missing from __all__: {unlisted}"
    assert sorted(exceptions.__all__) == sorted(_public_errors())


@pytest.mark.parametrize("module_name", _modules())
def test_every_kit_error_is_defined_in_exceptions(module_name: str) -> None:
    """A module may re-export a kit error, never define one of its own."""
    from mlops_kit.exceptions import MlopsKitError

    module = importlib.import_module(module_name)
    own = [name for name, obj in vars(module).items()
           if isinstance(obj, type) and issubclass(obj, MlopsKitError)
           and obj.__module__ == module_name]
    assert module_name == "mlops_kit.exceptions" or not own, (
        f"{module_name} defines kit errors {own}: define them in mlops_kit/exceptions.py")


_TREE_LINE = re.compile(
    r"    (?P<lead>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w+)(?: \((?P<bases>[\w, ]+)\))?(?:\s.*)?")


def _docstring_tree() -> list[tuple[int, str, list[str]]]:
    """(depth, class name, builtins in parentheses) for each line of the drawn tree."""
    from mlops_kit import exceptions

    rows = []
    for line in exceptions.__doc__.splitlines():
        match = _TREE_LINE.fullmatch(line)
        if match and (match["lead"] or match["name"] == "MlopsKitError"):
            bases = [b.strip() for b in (match["bases"] or "").split(",") if b.strip()]
            rows.append((len(match["lead"]) // 4, match["name"], bases))
    return rows


def test_exceptions_docstring_draws_every_error_under_its_parent() -> None:
    import builtins

    rows = _docstring_tree()
    errors = _public_errors()
    assert sorted(name for _, name, _ in rows) == sorted(errors)
    parents: list[str] = []
    for depth, name, bases in rows:
        parents[depth:] = [name]
        cls = errors[name]
        if depth:
            assert cls.__bases__[0] is errors[parents[depth - 1]], (name, parents)
        for base in bases:
            assert getattr(builtins, base) in cls.__mro__, (name, base)


def _run_sh(*args: str):
    import subprocess

    return subprocess.run(["bash", str(REPO / "run.sh"), *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO)


def test_run_sh_dry_run_passes_arguments_to_pytest() -> None:
    """The script parses, finds python3.11 and the venv, and changes nothing in a dry run."""
    result = _run_sh("--dry-run", "test", "-k", "nothing")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "+ .venv/bin/pytest -k nothing"
    assert "+ .venv/bin/mlops-kit setup --no-data" in result.stdout


def test_run_sh_test_runs_the_whole_suite_then_the_both_engines_pass() -> None:
    """CI's command: one main pass holds every test, the standalone-cluster test included
    (no marker left out), on two workers; then only the both_engines tests, cluster excluded,
    again on a local JVM."""
    result = _run_sh("--dry-run", "test")
    assert result.returncode == 0, result.stderr
    pytest_calls = [line for line in result.stdout.splitlines()
                    if line.startswith("+ ") and "/bin/pytest" in line]
    assert len(pytest_calls) == 2, pytest_calls
    main, again = pytest_calls
    assert "-n 2" in main and " -m " not in main and " -k " not in main
    assert "MLOPS_KIT_TEST_SPARK=local" in again
    assert "-m both_engines and not cluster" in again


def test_run_sh_refuses_an_unknown_command() -> None:
    result = _run_sh("deploy")
    assert result.returncode == 1 and "usage: ./run.sh" in result.stderr


@pytest.mark.parametrize("chosen, expected", [(None, "true"), ("false", "false")])
def test_the_kit_keeps_mlflow_telemetry_off_unless_the_user_turned_it_on(chosen, expected):
    """Outside CI and pytest MLflow starts a telemetry client at import, which calls out
    to the internet; importing the kit first (as `%load_ext mlops_kit` and the CLI do)
    turns it off, and a user's own setting wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "PYTEST_CURRENT_TEST", "MLFLOW_DISABLE_TELEMETRY")}
    if chosen is not None:
        env["MLFLOW_DISABLE_TELEMETRY"] = chosen
    # MLflow itself is imported only where telemetry must end up off: with it on, its
    # import would start a thread that calls out
    code = "import os, mlops_kit; print(os.environ['MLFLOW_DISABLE_TELEMETRY'])"
    if expected == "true":
        code += "; import mlflow.telemetry as t; print(t.get_telemetry_client())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ([expected, "None"] if expected == "true" else [expected])

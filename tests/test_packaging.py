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
    assert pip == ["-e .[dev]"]
    assert "dev" in _pyproject()["project"]["optional-dependencies"]


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


def test_run_sh_refuses_an_unknown_command() -> None:
    result = _run_sh("deploy")
    assert result.returncode == 1 and "usage: ./run.sh" in result.stderr

"""The package's imports run one way (docs/ARCHITECTURE.md, "Layers").

The rules are import-linter contracts in ``pyproject.toml``
(``[tool.importlinter]``): the layers, no cycle between the children of a
package, serving never reaching pyspark or the Spark side of table access,
the delta-rs side never reaching pyspark, delta-rs imported only by
``mlops_kit.tables``. The first test runs them (``lint-imports``) and the
second shows that a broken one fails the run. Every import counts: import-linter
reads the source (grimp), function-level and ``TYPE_CHECKING`` imports included.

What the contracts cannot say is checked here, on the same graph:

1. no cycle between files. ``acyclic_siblings`` compares the children of one
   package, so a loop through a package's own ``__init__``
   (``f -> f.client -> f.lookup -> f``) passes it;
2. imports by a literal name (``importlib.import_module("mlops_kit.x")``,
   ``__import__("mlops_kit.x")``) obey the layers and make no cycle: grimp
   does not see them, so they are added to its graph before checking.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import uuid
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "mlops_kit"


# ------------------------------------------------------------- the contracts
def lint_imports(cwd: Path, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """``lint-imports`` on ``cwd``'s pyproject.toml, as CI runs it (no cache files)."""
    command = Path(sys.executable).with_name("lint-imports")
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([str(command), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    run = lint_imports(REPO)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout
    ids = [c["id"] for c in tomllib.loads((REPO / "pyproject.toml").read_text())
           ["tool"]["importlinter"]["contracts"]]
    assert {"layers", "acyclic", "serving-no-spark", "delta-rs-no-spark", "one-door"} <= set(ids)


def test_a_bad_import_in_a_copy_of_the_package_breaks_its_contracts(tmp_path) -> None:
    """The same contracts on a copy with two bad imports, each inside a function."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    with open(copy / PACKAGE / "serving" / "app.py", "a") as app:
        app.write("\n\ndef _score_with_spark():\n"
                  "    from mlops_kit.tables.spark_side import SparkTables\n")
    with open(copy / PACKAGE / "workspace.py", "a") as ws:
        ws.write("\n\ndef _run_a_job():\n    from mlops_kit.jobs import runner\n")
    run = lint_imports(copy, pythonpath=copy)
    assert run.returncode == 1, run.stdout[-4000:]
    assert "Serving never reaches pyspark or the Spark side of table access BROKEN" in run.stdout
    assert "mlops_kit.serving.app -> mlops_kit.tables.spark_side" in run.stdout
    assert "Imports run down the layers (docs/ARCHITECTURE.md) BROKEN" in run.stdout
    assert "mlops_kit.workspace -> mlops_kit.jobs.runner" in run.stdout


# ----------------------------------------- what the contracts cannot say
def literal_imports(package: str, package_dir: Path, modules: set[str]) -> set[tuple[str, str]]:
    """``(importer, imported)`` for every ``import_module("pkg.x")`` / ``__import__("pkg.x")``."""
    root = package_dir.parent
    found = set()
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        importer = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (called in ("import_module", "__import__") and isinstance(first, ast.Constant)
                    and isinstance(first.value, str) and first.value.split(".")[0] == package):
                name = first.value
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != importer:
                    found.add((importer, name))
    return found


def full_graph(package: str, package_dir: Path) -> grimp.ImportGraph:
    """grimp's graph of the package (what import-linter checks) plus the literal imports."""
    graph = grimp.build_graph(package, cache_dir=None)
    for importer, imported in literal_imports(package, package_dir, set(graph.modules)):
        graph.add_import(importer=importer, imported=imported)
    return graph


def file_cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each import that closes a loop, shown as the loop."""
    loops = set()
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:  # imported -> ... -> importer
                nodes = [importer, *back[:-1]]
                first = nodes.index(min(nodes))
                loop = nodes[first:] + nodes[:first]
                loops.add(" -> ".join([*loop, loop[0]]))
    return sorted(loops)


def layers_of(pyproject: Path) -> list[grimp.Layer]:
    """The layers contract of ``pyproject.toml`` as grimp layers (":" = may import each other)."""
    contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["id"] == "layers"]
    return [grimp.Layer(*(t.strip() for t in line.split(":")), independent=":" not in line)
            for line in layers]


def layer_violations(graph: grimp.ImportGraph, layers: list[grimp.Layer],
                     container: str) -> list[str]:
    return sorted(f"{d.importer} -> {d.imported}"
                  for d in graph.find_illegal_dependencies_for_layers(layers=layers,
                                                                      containers={container}))


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return full_graph(PACKAGE, REPO / PACKAGE)


def test_the_graph_sees_function_level_and_literal_imports(graph) -> None:
    # routed builds its Router inside a function
    assert "mlops_kit.serving.router" in graph.find_modules_directly_imported_by(
        "mlops_kit.serving.routed")
    literal = literal_imports(PACKAGE, REPO / PACKAGE, set(graph.modules))
    assert ("mlops_kit.labs.checks.concepts_04", "mlops_kit.rollout") in literal


def test_no_import_cycle_between_files(graph) -> None:
    found = file_cycles(graph)
    assert not found, "Files import each other:\n" + "\n".join(found)


def test_literal_imports_obey_the_layers(graph) -> None:
    bad = layer_violations(graph, layers_of(REPO / "pyproject.toml"), PACKAGE)
    assert not bad, "Imports up the layers (docs/ARCHITECTURE.md):\n" + "\n".join(bad)


# ----------------------------------------------------- the checks themselves
def _tree(tmp_path: Path, files: dict[str, str]) -> tuple[str, Path]:
    """A throwaway package (unique name, importable) made of ``files``."""
    name = f"kit_{uuid.uuid4().hex[:8]}"
    for rel, text in files.items():
        path = tmp_path / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("kit.", f"{name}."))
    return name, tmp_path / name


def test_a_cycle_through_a_package_init_is_found_where_acyclic_siblings_passes(
        tmp_path, monkeypatch) -> None:
    name, folder = _tree(tmp_path, {
        "__init__.py": "",
        "f/__init__.py": "from kit.f.client import Client\n",
        "f/client.py": "def make():\n    from .lookup import join\n",
        "f/lookup.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from kit.f import Client\n"),
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.importlinter]\nroot_package = "{name}"\n'
        f'[[tool.importlinter.contracts]]\nname = "acyclic"\ntype = "acyclic_siblings"\n'
        f'ancestors = ["{name}"]\n')
    assert lint_imports(tmp_path, pythonpath=tmp_path).returncode == 0  # import-linter: fine
    assert file_cycles(full_graph(name, folder)) == [
        f"{name}.f -> {name}.f.client -> {name}.f.lookup -> {name}.f"]


def test_a_literal_import_up_the_layers_is_caught(tmp_path, monkeypatch) -> None:
    name, folder = _tree(tmp_path, {
        "__init__.py": "",
        "labs.py": "import importlib\nimportlib.import_module('kit.workspace')\n",
        "workspace.py": "def f():\n    __import__('kit.labs')\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    # grimp alone (so import-linter) does not see either import
    plain = grimp.build_graph(name, cache_dir=None)
    assert plain.find_modules_directly_imported_by(f"{name}.workspace") == set()
    graph = full_graph(name, folder)
    layers = [grimp.Layer("labs"), grimp.Layer("workspace")]
    assert layer_violations(graph, layers, name) == [f"{name}.workspace -> {name}.labs"]
    assert file_cycles(graph) == [f"{name}.labs -> {name}.workspace -> {name}.labs"]

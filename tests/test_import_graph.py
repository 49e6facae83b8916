"""The package's imports run one way (docs/ARCHITECTURE.md, "Layers").

Every module under ``mlops_kit/`` is parsed with :mod:`ast` (nothing is
imported) and every import statement counts, wherever it stands: at module
level, inside a function, under ``if TYPE_CHECKING:``, relative
(``from .x import y``), and ``importlib.import_module("mlops_kit.x")`` /
``__import__("mlops_kit.x")`` with a literal name. Three rules:

1. no cycle between packages (a subpackage such as ``serving``, or a
   top-level module such as ``training``, is one package);
2. no cycle between files;
3. runtime code never imports the lesson/UI layer;
4. delta-rs (``deltalake``) is read through ``mlops_kit.delta`` only; the two
   streaming writers (the inference log, drift reports) import it to write.

The lesson/UI layer is what only a learner at a notebook (or a person at the
command line) uses: ``labs`` (checkers, quizzes, grading), ``extension``
(``%load_ext``), ``display`` (tables and widgets), ``cli`` (``mlops-kit``)
and ``models`` (the MLflow-models lesson's custom pyfunc). Its modules may
import each other and anything of the runtime. Two entry points may import
it as well: the package's ``__init__`` (IPython looks for
``load_ipython_extension`` there) and ``__main__`` modules (``python -m``),
which count as part of ``cli``.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "mlops_kit"

#: the lesson/UI layer: runtime modules must not import these (nor anything under them)
LESSON_LAYER = ("labs", "extension", "display", "cli", "models")


# ------------------------------------------------------------------ the graph
def module_names(package_dir: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file under ``package_dir``."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name lives in (``a.b.func`` -> ``a.b``), if it is ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _literal_import(node: ast.Call) -> str | None:
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that ``module`` imports, anywhere in its file."""
    top = module.split(".")[0]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_owner(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != top:
                continue
            for alias in node.names:
                name = f"{source}.{alias.name}"
                found.add(name if name in modules else _owner(source, modules))
        elif isinstance(node, ast.Call):
            name = _literal_import(node)
            if name and name.split(".")[0] == top:
                found.add(_owner(name, modules))
    found.discard(None)
    found.discard(module)
    return found  # type: ignore[return-value]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over one package, read with ast."""
    modules = module_names(package_dir)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def package_of(module: str) -> str | None:
    """The package a module counts in; ``None`` for the package's own ``__init__``."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[-1] == "__main__":  # `python -m ...`: an entry point of the command line
        return f"{parts[0]}.cli"
    return ".".join(parts[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """``{(package, package): ["file -> file", ...]}`` for imports that cross packages."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, imported in graph.items():
        for other in imported:
            a, b = package_of(module), package_of(other)
            if a and b and a != b:
                edges.setdefault((a, b), []).append(f"{module} -> {other}")
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def in_lesson_layer(module: str) -> bool:
    top = module.split(".")[0]
    return any(module == f"{top}.{name}" or module.startswith(f"{top}.{name}.")
               for name in LESSON_LAYER)


def may_import_lessons(module: str) -> bool:
    """The lesson/UI layer itself, and the two entry points (``__init__``, ``__main__``)."""
    return in_lesson_layer(module) or "." not in module or module.endswith(".__main__")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} -> {other}" for module, imported in graph.items()
                  for other in imported
                  if in_lesson_layer(other) and not may_import_lessons(module))


def _describe(component: list[str], edges: dict[str, set[str]]) -> str:
    members = set(component)
    ties = [f"    {a} -> {b}" for a in component for b in sorted(edges.get(a, ())) if b in members]
    return "\n".join([" <-> ".join(component), *ties])


# ------------------------------------------------------------- the package
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE_DIR)


def test_the_graph_sees_the_whole_package(graph) -> None:
    assert len(graph) == len(list(PACKAGE_DIR.rglob("*.py")))
    # function-level imports are read (routed builds its Router inside a function)
    assert "mlops_kit.serving.router" in graph["mlops_kit.serving.routed"]


def test_no_import_cycle_between_packages(graph) -> None:
    edges = package_graph(graph)
    adjacency: dict[str, set[str]] = {}
    for a, b in edges:
        adjacency.setdefault(a, set()).add(b)
    found = cycles(adjacency)
    detail = []
    for component in found:
        detail.append(" <-> ".join(component))
        detail += [f"    {line}" for (a, b), lines in sorted(edges.items())
                   if a in component and b in component for line in sorted(lines)]
    assert not found, "Packages import each other:\n" + "\n".join(detail)


def test_no_import_cycle_between_files(graph) -> None:
    found = cycles(graph)
    assert not found, "Files import each other:\n" + "\n".join(_describe(c, graph) for c in found)


def test_runtime_code_never_imports_the_lesson_layer(graph) -> None:
    bad = layer_violations(graph)
    assert not bad, ("Runtime modules import the lesson/UI layer "
                     f"({', '.join(LESSON_LAYER)}):\n" + "\n".join(bad))


#: modules that may import deltalake: the one reader, and writers that append with it
DELTA_RS_MODULES = {"mlops_kit.delta": "reads and writes",
                    "mlops_kit.serving.inference_log": "appends (the endpoint's writer)",
                    "mlops_kit.monitoring.report": "appends drift results"}


def importers_of(package: str, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """Modules of the kit with any import of ``package`` (a third-party name)."""
    found = set()
    for name, path in module_names(package_dir).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == package or n.startswith(package + ".") for n in names):
                found.add(name)
    return found


def test_delta_rs_reads_go_through_the_delta_module() -> None:
    extra = importers_of("deltalake") - set(DELTA_RS_MODULES)
    assert not extra, (f"{sorted(extra)} import deltalake: read with mlops_kit.delta.read_snapshot "
                       "(or write with write_snapshot) instead")


# ----------------------------------------------------- the checker itself
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "kit" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "kit"


def test_function_level_relative_and_literal_imports_are_edges(tmp_path) -> None:
    kit = _tree(tmp_path, {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "def f():\n    from .two import g\n",
        "a/two.py": "from ..b import three\n",
        "b/__init__.py": "",
        "b/three.py": "import importlib\nimportlib.import_module('kit.a.one')\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kit.a.one import f\n",
    })
    found = import_graph(kit)
    assert found["kit.a.one"] == {"kit.a.two"}
    assert found["kit.a.two"] == {"kit.b.three"}
    assert found["kit.b.three"] == {"kit.a.one"}
    assert found["kit.c"] == {"kit.a.one"}
    assert cycles(found) == [["kit.a.one", "kit.a.two", "kit.b.three"]]
    packages = {(a, b) for a, b in package_graph(found)}
    assert packages == {("kit.a", "kit.b"), ("kit.b", "kit.a"), ("kit.c", "kit.a")}


def test_a_runtime_import_of_a_lesson_module_is_caught(tmp_path) -> None:
    kit = _tree(tmp_path, {
        "__init__.py": "def load_ipython_extension(ip):\n    from kit.extension import go\n",
        "extension.py": "from kit.labs import lab\n",
        "labs/__init__.py": "",
        "labs/lab.py": "from kit.serving import app\n",
        "serving/__init__.py": "",
        "serving/__main__.py": "from kit.cli import main\n",
        "serving/app.py": "def f():\n    from kit.models import trusted\n",
        "models.py": "",
        "cli.py": "",
    })
    assert layer_violations(import_graph(kit)) == ["kit.serving.app -> kit.models"]


def test_a_cycle_through_a_package_init_is_a_cycle(tmp_path) -> None:
    kit = _tree(tmp_path, {
        "__init__.py": "",
        "f/__init__.py": "from kit.f.client import Client\n",
        "f/client.py": "from kit.f.lookup import join\n",
        "f/lookup.py": "from kit.f import Client\n",
    })
    assert cycles(import_graph(kit)) == [["kit.f", "kit.f.client", "kit.f.lookup"]]

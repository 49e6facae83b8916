"""Generate learner labs from their solutions: one source, no drift.

Each ``solutions/**/<name>.ipynb`` becomes ``labs/**/<name>.ipynb``: in code
cells every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
becomes a ``# TODO`` comment plus ``name = FILL_IN`` for each name the region
assigns at its top level (found with :mod:`ast`), outputs and execution counts
are dropped, and cell ids are derived from the cell's position. The output is
a pure function of the solution, so ``mlops-kit labs build --check`` (CI) can
tell whether ``labs/`` is stale.

A region's first comment line, if any, becomes the TODO text::

    ### BEGIN SOLUTION
    # average price per room type, as pandas
    avg_price = listings.groupBy("room_type").avg("price").toPandas()
    ### END SOLUTION

becomes::

    # TODO: average price per room type, as pandas
    avg_price = FILL_IN
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BEGIN", "END", "BuildReport", "build_labs", "lab_source", "make_lab",
    "assigned_names", "normalise", "refresh_outputs", "KERNELSPEC", "LANGUAGE_INFO",
    "normalise_kernelspecs", "has_jupyterlab_metadata",
]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_IMPORT = re.compile(r"^(\s*)from mlops_kit\.labs import (.+)$", re.MULTILINE)
_SIMPLE_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")
#: notebook/cell metadata that records a run, not the content
_RUN_METADATA = ("papermill", "widgets", "execution")
#: the kernelspec JupyterLab writes; any other makes it rewrite (and mark modified)
#: a notebook the moment it is opened
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: the language_info ipykernel reports on the Python the kit's setup installs.
#: JupyterLab rewrites it (a modification) when it differs from the kernel's in
#: any field, the patch version included: a learner on another 3.11.x sees the
#: notebook marked modified once, and saving it settles it
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}
#: folders whose notebooks :func:`normalise_kernelspecs` fixes
NOTEBOOK_FOLDERS = ("notebooks", "labs", "solutions", "tests/notebooks")


def assigned_names(code: str) -> list[str]:
    """Names a block of code binds at its top level, in order (no duplicates).

    Assignments (also tuple targets and annotated ones), ``def`` and ``class``.
    Code ``ast`` cannot parse (IPython magics) falls back to ``name = ...`` lines.
    """
    names: list[str] = []
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        for line in textwrap.dedent(code).splitlines():
            match = _SIMPLE_ASSIGN.match(line)
            if match:
                names.append(match.group(1))
        return list(dict.fromkeys(names))
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.append(sub.id)
    return list(dict.fromkeys(names))


def _replace_region(region: list[str], indent: str) -> list[str]:
    body = "\n".join(region)
    todo = "write your solution here"
    for line in region:
        stripped = line.strip()
        if stripped.startswith("#") and stripped.strip("# "):
            todo = stripped.lstrip("# ").strip()
            break
        if stripped:
            break
    out = [f"{indent}# TODO: {todo}"]
    out += [f"{indent}{name} = FILL_IN" for name in assigned_names(body)]
    return out


def lab_source(source: str) -> str:
    """The lab version of one code cell's source (regions replaced)."""
    lines = source.split("\n")
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise ValueError(f"line {number}: {BEGIN} inside another solution region")
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if region is None:
                raise ValueError(f"line {number}: {END} without a {BEGIN} before it")
            out += _replace_region(region, indent)
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise ValueError(f"a {BEGIN} region is never closed with {END}")
    return "\n".join(out)


def has_jupyterlab_metadata(metadata) -> bool:
    """True if opening a notebook with this metadata in JupyterLab leaves it unmodified."""
    info = metadata.get("language_info") or {}
    return metadata.get("kernelspec") == KERNELSPEC and all(
        info.get(key) == value for key, value in LANGUAGE_INFO.items()
    )


def _set_kernel_metadata(nb) -> bool:
    """Give ``nb`` JupyterLab's kernelspec and language info; True if anything changed."""
    if has_jupyterlab_metadata(nb.metadata):
        return False
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    return True


def normalise(nb, *, keep_outputs: bool = False):
    """Make a notebook deterministic: ids from positions, no run metadata.

    Outputs are dropped unless ``keep_outputs``; then only cells tagged
    ``nbval-check-output`` keep theirs (the ones nbval compares). The
    kernelspec and language info become those JupyterLab writes
    (:data:`KERNELSPEC`, :data:`LANGUAGE_INFO`), so opening it changes nothing.
    """
    for key in _RUN_METADATA:
        nb.metadata.pop(key, None)
    _set_kernel_metadata(nb)
    with_ids = (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    for index, cell in enumerate(nb.cells):
        for key in _RUN_METADATA:
            cell.metadata.pop(key, None)
        if with_ids:
            cell["id"] = f"cell-{index}"
        else:
            cell.pop("id", None)
        if cell.cell_type == "code":
            cell.execution_count = None
            tags = cell.metadata.get("tags", [])
            if not (keep_outputs and "nbval-check-output" in tags):
                cell.outputs = []
            else:
                for output in cell.outputs:
                    if "execution_count" in output:
                        output["execution_count"] = None
    return nb


def _ensure_fill_in_import(nb) -> None:
    """Make ``FILL_IN`` importable in the lab: extend the labs import, or add one."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        match = _IMPORT.search(cell.source)
        if match:
            if "FILL_IN" not in match.group(2):
                names = sorted({n.strip() for n in match.group(2).split(",")} | {"FILL_IN"})
                line = f"{match.group(1)}from mlops_kit.labs import {', '.join(names)}"
                cell.source = cell.source[: match.start()] + line + cell.source[match.end():]
            return
    for cell in nb.cells:
        if cell.cell_type == "code" and "FILL_IN" in cell.source:
            cell.source = "from mlops_kit.labs import FILL_IN\n" + cell.source
            return


def make_lab(solution_path: Path, *, relative_to: Path | None = None) -> str:
    """The lab notebook text generated from one solution notebook."""
    import nbformat

    nb = nbformat.read(str(solution_path), as_version=nbformat.NO_CONVERT)
    changed = False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and BEGIN in cell.source:
            try:
                cell.source = lab_source(cell.source)
            except ValueError as err:
                from mlops_kit.exceptions import ConfigError

                raise ConfigError(
                    f"{solution_path}, cell {index}: {err}. Every {BEGIN} needs its own "
                    f"{END} in the same cell."
                ) from None
            changed = True
    if changed:
        _ensure_fill_in_import(nb)
    normalise(nb)
    source = solution_path if relative_to is None else solution_path.relative_to(relative_to)
    nb.metadata["mlops_kit"] = {
        **nb.metadata.get("mlops_kit", {}),
        "generated_from": source.as_posix(),
    }
    return nbformat.writes(nb) + "\n"


@dataclass
class BuildReport:
    """What a build wrote, or (with ``check``) what is out of date."""

    written: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    extra: list[Path] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def _notebooks(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )


def build_labs(root: Path | str = ".", *, check: bool = False) -> BuildReport:
    """Generate ``<root>/labs/**`` from ``<root>/solutions/**``.

    Parameters
    ----------
    root : path
        The repository root (holding ``solutions/`` and ``labs/``).
    check : bool
        Write nothing; report stale, missing and extra lab files instead.
    """
    root = Path(root).resolve()
    solutions, labs = root / "solutions", root / "labs"
    report = BuildReport()
    expected: set[Path] = set()
    for solution in _notebooks(solutions):
        target = labs / solution.relative_to(solutions)
        expected.add(target)
        text = make_lab(solution, relative_to=root)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if check:
            (report.stale if current is not None else report.missing).append(target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            report.written.append(target)
    for lab in _notebooks(labs):
        if lab not in expected:
            if not check:
                lab.unlink()
            report.extra.append(lab)
    return report


def normalise_kernelspecs(root: Path | str = ".", *,
                          folders: tuple[str, ...] = NOTEBOOK_FOLDERS) -> list[Path]:
    """Give every notebook under ``root/<folders>`` the kernel metadata JupyterLab writes.

    Only ``metadata.kernelspec`` and ``metadata.language_info`` change (cells,
    outputs and ids stay); files already right are not touched. Returns the
    notebooks rewritten. The one call that fixes a whole checkout::

        python -c "from mlops_kit.labs.build import normalise_kernelspecs as n; print(n())"
    """
    import nbformat

    root = Path(root).resolve()
    changed = []
    for folder in folders:
        for path in _notebooks(root / folder):
            text = path.read_text(encoding="utf-8")
            nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
            if not _set_kernel_metadata(nb):
                continue
            new = nbformat.writes(nb)
            path.write_text(new + ("\n" if text.endswith("\n") and not new.endswith("\n") else ""),
                            encoding="utf-8")
            changed.append(path)
    return changed


def refresh_outputs(path: Path | str, *, timeout: int = 600) -> Path:
    """Run a notebook in its folder and keep only the outputs nbval compares.

    An authoring aid for demos: after it, the committed notebook holds outputs
    just for cells tagged ``nbval-check-output`` (no images, no paths of the
    author's machine), ready for ``pytest --nbval-lax``.
    """
    import tempfile

    import nbformat
    import papermill

    path = Path(path).resolve()
    original = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    with tempfile.TemporaryDirectory() as tmp:
        executed_path = Path(tmp) / path.name
        papermill.execute_notebook(
            str(path), str(executed_path), cwd=str(path.parent), kernel_name="python3",
            execution_timeout=timeout, progress_bar=False,
        )
        executed = nbformat.read(str(executed_path), as_version=nbformat.NO_CONVERT)
    for kept, ran in zip(original.cells, executed.cells):
        if kept.cell_type == "code":
            kept.outputs = ran.get("outputs", [])
    normalise(original, keep_outputs=True)
    path.write_text(nbformat.writes(original) + "\n", encoding="utf-8")
    return path

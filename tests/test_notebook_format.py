"""Every committed notebook is valid nbformat 4.5 with JupyterLab's kernel metadata: cell ids included, so Jupyter and
papermill open it without "missing an id field" warnings (a hard error in future nbformat)."""
from __future__ import annotations

import json
import warnings

import nbformat
import pytest

from notebook_runner import REPO

NOTEBOOKS = sorted(
    p for folder in ("notebooks", "labs", "solutions") for p in (REPO / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO)) for p in NOTEBOOKS])
def test_notebook_is_valid_with_cell_ids(path) -> None:
    raw = json.loads(path.read_text())
    missing = [i for i, cell in enumerate(raw["cells"]) if "id" not in cell]
    assert not missing, f"cells {missing} have no id: give each a unique short id"
    ids = [cell["id"] for cell in raw["cells"]]
    assert len(ids) == len(set(ids)), "cell ids repeat"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbformat.validate(nbformat.reads(path.read_text(), as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((REPO / "tests" / "notebooks").glob("lab-*.ipynb")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_has_the_kernel_metadata_jupyterlab_writes(path) -> None:
    """Else JupyterLab rewrites it on open and the notebook shows as modified at once."""
    from mlops_kit.labs.build import KERNELSPEC, has_jupyterlab_metadata

    metadata = json.loads(path.read_text())["metadata"]
    assert has_jupyterlab_metadata(metadata), (
        f"kernelspec must be {KERNELSPEC} and language_info complete; fix every notebook with "
        "`python -c 'from mlops_kit.labs.build import normalise_kernelspecs as n; n()'`"
    )

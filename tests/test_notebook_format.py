"""Every committed notebook is valid nbformat 4.5: cell ids included, so Jupyter and
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

"""Module 02 says only what its runs show (each test failed on the notebooks it was written for).

- 02.1: the text once implied the custom model's folder is the larger one, next to a table
  where it is the smaller; the sizes are now a checked claim that says what each folder holds.
- 02.2: a promotion's reason once said "challenger won the holdout comparison" with no
  comparison computed; the notebook now scores both versions on a holdout neither was
  trained on and promotes only on a win (the helper refuses a losing challenger).
"""
from __future__ import annotations

import ast
import re
import zipfile
from pathlib import Path

import mlflow
import nbformat
import pytest

from mlops_kit import models
from notebook_runner import REPO

MODULE = REPO / "notebooks" / "02-model-management"
MLFLOW_MODELS = MODULE / "01-mlflow-models.ipynb"
REGISTRY = MODULE / "02-model-registry.ipynb"


def _cells(nb, kind):
    return [c for c in nb.cells if c.cell_type == kind]


def _parse(cell) -> ast.Module:
    """A code cell's syntax tree, IPython magics left out."""
    return ast.parse("\n".join(line for line in cell.source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))


def _calls(nb, function):
    """Every call of ``function`` in the notebook's code cells, in order."""
    found = []
    for cell in _cells(nb, "code"):
        for node in ast.walk(_parse(cell)):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name == function:
                    found.append((cell, node))
    return found


# ------------------------------------------------------------------ 02.1: model folder sizes
_SIZE_WORDS = re.compile(r"\b(larger|bigger|smaller|heavier|lighter|differ\w*)\b", re.I)


def folder_size_problems(nb) -> list[str]:
    """What the 02.1 notebook gets wrong about its model folders' sizes."""
    problems = []
    for cell in _cells(nb, "markdown"):
        for line in cell.source.replace("\n", " ").split(". "):
            if re.search(r"\bfolders?\b", line, re.I) and _SIZE_WORDS.search(line) \
                    and re.search(r"\b(KB|kilobytes?|bytes|size)\b", line, re.I):
                problems.append(f"markdown compares folder sizes in typed words: {line.strip()!r}")
    claims = [c for c in _cells(nb, "code")
              if "claim" in c.metadata.get("tags", []) and "directory_size_kb" in c.source]
    if not claims:
        problems.append("no claim states the two folders' measured sizes")
    for cell in claims:
        for needed in ("model.skops", "schema.json", "python_model.pkl", "holds="):
            if needed not in cell.source:
                problems.append(f"the size claim does not say what the folders hold ({needed} missing)")
        if not re.search(r"sizes\[\"bare\"\]\s*[<>]\s*sizes\[\"custom\"\]", cell.source):
            problems.append("the size claim does not check which folder is larger")
    return problems


def test_0201_states_what_each_model_folder_holds_from_the_measured_sizes():
    assert folder_size_problems(nbformat.read(MLFLOW_MODELS, as_version=4)) == []


def test_folder_files_and_skops_contents_are_measured(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big.bin").write_bytes(b"x" * 3072)
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "small.txt").write_bytes(b"y" * 512)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "small.txt").write_bytes(b"z" * 1024)
    table = models.folder_files_kb({"a": tmp_path / "a", "b": tmp_path / "b"})
    assert list(table.index) == ["big.bin", "small.txt", "sub/small.txt", "total"]
    assert table.loc["big.bin", "a"] == 3.0 and table.loc["big.bin", "b"] == ""
    assert table.loc["total", "a"] == 3.5 and table.loc["total", "b"] == 1.0
    archive = tmp_path / "model.skops"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("schema.json", "s" * 2048)
        zf.writestr("1.npy", b"n" * 1024)
        zf.writestr("2.npy", b"n" * 512)
    parts = models.skops_contents_kb(archive)
    assert parts["schema.json"] == 2.0 and parts["arrays"] == 1.5 and parts["file"] > 0


# ------------------------------------------------------------------ 02.2: compare, then promote
_OUTCOME_WORDS = re.compile(r"\b(won|wins|beat\w*|better|outperform\w*|comparison)\b", re.I)


def promotion_problems(nb) -> list[str]:
    """What the 02.2 notebook asserts about a promotion without computing it."""
    problems = []
    for _, call in _calls(nb, "promote"):
        args = [a.value for a in call.args if isinstance(a, ast.Constant)]
        if "champion" in args and any(isinstance(a, str) and _OUTCOME_WORDS.search(a) for a in args):
            problems.append(f"promote(...) to champion with a typed outcome: {args}")
    compares, decides = _calls(nb, "compare_on_holdout"), _calls(nb, "promote_if_better")
    if not compares or not decides:
        problems.append("no computed comparison decides the promotion")
        return problems
    order = [c.id for c in nb.cells]
    if order.index(decides[0][0].id) < order.index(compares[0][0].id):
        problems.append("promote_if_better runs before the comparison")
    holdout_sources = {
        node.value.func.value.id
        for cell in _cells(nb, "code") for node in ast.walk(_parse(cell))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "holdout" for t in node.targets)
        and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "sample" and isinstance(node.value.func.value, ast.Name)
    }
    if not holdout_sources:
        problems.append("no holdout is set aside from the data")
    for _, call in _calls(nb, "train_price_model"):
        if call.args and isinstance(call.args[0], ast.Name) and call.args[0].id in holdout_sources:
            problems.append(f"a version is trained on {call.args[0].id}, which holds the holdout rows")
    if not any("holdout-decision" in c.source and 'decision["action"]' in c.source
               for c in _cells(nb, "code")):
        problems.append("no claim checks the decision against the comparison")
    return problems


def test_0202_promotes_only_on_a_computed_holdout_comparison():
    assert promotion_problems(nbformat.read(REGISTRY, as_version=4)) == []


def test_a_losing_challenger_is_refused_with_its_numbers(workspace):
    from mlops_kit.registry.promotion import (
        audit_trail, compare_on_holdout, current_alias_version, promote, promote_if_better, register,
    )

    train, holdout = models.listings_frame(500, 42), models.listings_frame(200, 7)
    workspace.set_experiment("price")
    name = workspace.model_name("price")
    for features in (models.FEATURES, ["accommodates"]):  # v1 all columns, v2 one column
        with mlflow.start_run():
            info = models.log_price_model(models.train_price_model(train, features=features),
                                          train, features=features)
        register(info.model_uri, name, description=f"ridge on {len(features)} columns")
    promote(name, 1, "champion", "the first model")
    promote(name, 2, "challenger", "one column, to compare")
    comparison = compare_on_holdout(name, holdout)
    event = promote_if_better(comparison)
    assert event["action"] == "refuse" and current_alias_version(name, "champion") == "1"
    for number in (comparison.challenger_score, comparison.champion_score):
        assert f"{number:.2f}" in event["reason"]
    assert audit_trail(name)["action"].tolist()[-1] == "refuse"

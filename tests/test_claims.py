"""Claims (mlops_kit.claims): a lesson's numbers come from its run, and the run checks them.

Three things are tested here:

- the mechanism: a claim renders its sentence from the values, records its
  outcome in the output's metadata, and fails naming itself when a statement
  is false;
- the lint: no markdown cell of a concepts notebook or demo states a ratio,
  a percentage or an "N x" as typed text, except the facts a notebook lists,
  with a reason, under ``metadata.mlops_kit.unmeasured_facts`` (facts of the
  field that this machine cannot measure, such as the slides' industry shares);
- claim cells hide their source (tag ``claim``), so the learner reads prose.

That every claim of the executed course held is asserted where the course's
notebooks are executed (tests/test_notebooks.py, ``assert_claims_held``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlops_kit.claims import CLAIM_TAG, Claim, claim, claims_in, evaluate_claim
from mlops_kit.exceptions import ClaimNotHeldError, ConfigError
from notebook_runner import REPO

LESSONS = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb")
                 if ".ipynb_checkpoints" not in p.parts and p.parent.name != "jobs")


# ------------------------------------------------------------------ the mechanism
def test_claim_renders_the_measured_values() -> None:
    made = evaluate_claim("speed", "REST took **{rest:.1f} ms**, {ratio:.0f}x less than streaming.",
                 rest=4.26, ratio=312.7, holds={"REST is at least 10x faster": 312.7 >= 10})
    assert made.text == "REST took **4.3 ms**, 313x less than streaming."
    assert made.held and made.failed_checks == []


def test_claim_that_a_run_contradicts_fails_naming_itself() -> None:
    with pytest.raises(ClaimNotHeldError, match=r"'udf-overhead'.*'the UDF is slower' is false") as info:
        claim("udf-overhead", "The UDF took {ratio:.1f}x the time of pandas.", ratio=0.8,
              holds={"the UDF is slower": 0.8 > 1, "the ratio is finite": True})
    assert info.value.claim_id == "udf-overhead"
    assert info.value.statements == ["the UDF is slower"]
    assert isinstance(info.value, AssertionError)  # `except AssertionError` still works


@pytest.mark.parametrize("text, values, holds, match", [
    ("{ratio:.0f}x", {}, {"x": True}, r"names \['ratio'\].*no value"),
    ("{ratio:.0f}x", {"ratio": "fast"}, {"x": True}, "could not render"),
    ("{ratio:.0f}x", {"ratio": 3.0}, {}, "no statement to check"),
])
def test_claim_misuse_is_a_clear_error(text, values, holds, match) -> None:
    with pytest.raises(ConfigError, match=match):
        claim("bad", text, holds=holds, **values)


def test_a_claim_is_shown_once_even_when_a_cell_ends_on_it(capsys) -> None:
    """claim() displays its sentence itself and returns nothing a cell would show again."""
    assert claim("once", "**{n}** rows", n=3, holds={"some rows": True}) is None
    assert capsys.readouterr().out == "**3** rows\n"


def test_claim_outcome_travels_with_the_output() -> None:
    made = Claim("c1", "**3x**", {"ratio": 3.0, "n": 7}, {"at least 2x": True})
    bundle, metadata = made._repr_mimebundle_()
    assert bundle["text/markdown"] == "**3x**"
    output = new_output("display_data", data=bundle, metadata=metadata)
    nb = new_notebook(cells=[new_markdown_cell("x"), new_code_cell("c", outputs=[output])])
    listed = claims_in(json.loads(nbformat.writes(nb)))
    assert listed == [Claim("c1", "**3x**", {"ratio": 3.0, "n": 7}, {"at least 2x": True})]


def test_claim_values_are_stored_as_plain_numbers() -> None:
    import numpy as np

    made = Claim("c", "t", {"a": np.float64(1.5), "b": np.int64(2), "c": float("inf"),
                            "d": np.bool_(True)}, {"s": True})
    assert made.to_metadata()["values"] == {"a": 1.5, "b": 2, "c": "inf", "d": True}
    json.dumps(made.to_metadata())


def test_claims_in_reports_a_failed_claim() -> None:
    bad = Claim("c2", "t", {"v": 1}, {"v above 2": False})
    bundle, metadata = bad._repr_mimebundle_()
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": bundle, "metadata": metadata}]}]}
    (found,) = claims_in(nb)
    assert not found.held and found.failed_checks == ["v above 2"]


# ------------------------------------------------------------------ the lint
# A ratio ("30x", "2.5 ×", "ten times faster", "a factor of"), a percentage ("12%",
# "12 percent") or a typed measurement compared in words.
UNBOUND = re.compile(
    r"(?<![\w{.])\d[\d,.]*\s?(?:x|×)(?![\w-])"
    r"|(?<![\w{])\d[\d,.]*\s?(?:%|percent\b)"
    r"|\b(?:\d+|two|three|four|five|ten|hundred|thousand)\s+times\s+(?:faster|slower|more|less|larger|smaller|bigger)\b"
    r"|\bfactor of\b",
    re.I)


def _prose(source: str) -> str:
    """Markdown without code spans, code blocks and link targets: numbers in code are code."""
    source = re.sub(r"```.*?```", " ", source, flags=re.S)
    source = re.sub(r"`[^`]*`", " ", source)
    return re.sub(r"\]\([^)]*\)", "]", source)


def unbound_numbers(nb) -> list[tuple[int, str]]:
    """``(cell index, phrase)`` of every ratio or percentage typed into markdown."""
    allowed = [fact["text"] for fact in nb.metadata.get("mlops_kit", {}).get("unmeasured_facts", [])]
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = _prose(cell.source)
        for match in UNBOUND.finditer(text):
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            line = text[start:end if end >= 0 else len(text)]
            if not any(fact in line for fact in allowed):
                found.append((index, line.strip()))
    return found


@pytest.mark.parametrize("text, flagged", [
    ("The UDF round trip costs about 30x.", True),
    ("It was 2.5 × slower.", True),
    ("Drift fired in 12% of windows.", True),
    ("ten times faster than batch", True),
    ("each paradigm is a factor of ten from the next", True),
    ("the model version 3 of 10 rows", False),
    ("`x = 3x` in code", False),
    ("see [the docs](https://example.org/10x)", False),
    ("Step 2: read the table", False),
])
def test_lint_finds_typed_ratios_and_percentages(text: str, flagged: bool) -> None:
    nb = new_notebook(cells=[new_markdown_cell(text)])
    assert bool(unbound_numbers(nb)) is flagged


def test_lint_accepts_a_listed_unmeasured_fact() -> None:
    nb = new_notebook(cells=[new_markdown_cell("| batch | 80-90% |")])
    assert unbound_numbers(nb)
    nb.metadata["mlops_kit"] = {"unmeasured_facts": [
        {"text": "80-90%", "why": "the slides' share of deployments; not measurable here"}]}
    assert unbound_numbers(nb) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(REPO)))
def test_lesson_prose_types_no_measured_ratio(path: Path) -> None:
    """A ratio or percentage in a lesson's markdown goes through claim(), or is a listed fact."""
    nb = nbformat.read(path, as_version=4)
    found = unbound_numbers(nb)
    assert not found, (
        "state these through mlops_kit.claims.claim (rendered from what the cell measured), "
        "or, for a fact this machine cannot measure, list it under the notebook's "
        "metadata.mlops_kit.unmeasured_facts with a reason:\n"
        + "\n".join(f"  cell {i}: {line}" for i, line in found))


def test_unmeasured_facts_are_few_and_each_says_why() -> None:
    """The reviewed exception list: every entry has a reason, and the list stays short."""
    facts = [(str(p.relative_to(REPO)), fact) for p in LESSONS
             for fact in nbformat.read(p, as_version=4).metadata.get("mlops_kit", {})
             .get("unmeasured_facts", [])]
    for where, fact in facts:
        assert set(fact) == {"text", "why"} and fact["why"].strip(), (where, fact)
    assert len(facts) <= 15, [f"{w}: {f['text']}" for w, f in facts]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(REPO)))
def test_claim_cells_show_prose_not_code(path: Path) -> None:
    """A cell that states a claim is tagged ``claim`` and its source is hidden."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and re.search(r"\bclaim\(", cell.source):
            assert CLAIM_TAG in cell.metadata.get("tags", []), f"cell {index} is not tagged {CLAIM_TAG!r}"
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, (
                f"cell {index}: set metadata.jupyter.source_hidden so JupyterLab shows the sentence")

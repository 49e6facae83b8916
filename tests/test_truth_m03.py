"""Module 03 tells the truth: its sentences follow from what its cells measure.

Each test runs the lesson's own cells (the ones that turn measurements into a
plot or a sentence) on measurements like those of a real run, with no Spark,
and checks that what the learner reads is what the numbers say:

- 03.0: the paradigms are compared from a row's arrival to its prediction, so
  batch (which waits for its schedule) is the slowest, as the text says, on
  the plot and in the sentence;
- 03.1: the UDF's cost is rendered from the measured rates, never typed;
- 03.2: ``maxFilesPerTrigger`` is said to bound files per micro-batch, and the
  count of micro-batches is checked against the files the commits added.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import nbformat
import numpy as np
import pandas as pd
import pytest

import mlops_kit.claims as claims_module
from mlops_kit.deployment.plots import plot_paradigm_latency
from mlops_kit.deployment.timing import scheduled_batch_latencies
from mlops_kit.exceptions import ClaimNotHeldError
from notebook_runner import REPO

#: the module's lessons (a test may point this at another copy, e.g. HEAD's)
LESSONS = REPO / "notebooks" / "03-deployment"

#: measurements like the reviewed run's (batch job p50 165 ms, streaming 1,353 ms) and
#: like a slow laptop's and a fast one's
RUNS = {
    "reviewed": ([3900.0, 165.0, 150.0], [3800.0, 1400.0, 1353.0, 1200.0], 6.9),
    "slow laptop": ([9000.0, 1200.0, 1000.0], [6000.0, 4000.0, 3500.0, 3000.0], 25.0),
    "fast machine": ([800.0, 60.0, 55.0], [900.0, 500.0, 450.0, 400.0], 2.0),
}


def _notebook(stem: str):
    return nbformat.read(LESSONS / f"{stem}.ipynb", as_version=4)


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _claim_cell(nb, claim_id: str) -> str:
    found = [c.source for c in nb.cells
             if c.cell_type == "code" and f'claim("{claim_id}"' in c.source]
    assert found, f"no cell states the claim {claim_id!r}"
    return found[0]


@pytest.fixture
def shown(monkeypatch):
    """The claims a cell displays, in order (instead of printing them)."""
    made = []
    monkeypatch.setattr(claims_module, "_show", made.append)
    return made


def _rest(p50: float) -> list[float]:
    rng = np.random.default_rng(0)
    return list(p50 * np.exp(rng.normal(0.0, 0.15, size=97)))


# ------------------------------------------------------------------ 1. 03.0 paradigms
@pytest.mark.parametrize("run", RUNS, ids=str)
@pytest.mark.parametrize("every_hours", [24.0, 1.0])
def test_scheduled_batch_is_slower_than_streaming_which_is_slower_than_rest(run, every_hours):
    job_ms, stream_ms, rest_p50 = RUNS[run]
    batch = float(np.median(scheduled_batch_latencies(job_ms, every_hours=every_hours)))
    stream = float(np.median(stream_ms))
    assert batch > 10 * stream > 10 * 10 * rest_p50
    # the wait dominates: half the interval, plus a run
    assert batch == pytest.approx(every_hours * 3_600_000 / 2, rel=0.01)


def test_paradigm_plot_draws_batch_furthest_right_when_given_arrival_to_prediction():
    job_ms, stream_ms, rest_p50 = RUNS["reviewed"]
    fig = plot_paradigm_latency({"batch": scheduled_batch_latencies(job_ms, every_hours=24),
                                 "streaming": stream_ms, "REST": _rest(rest_p50)})
    medians = [text.xy[0] for text in fig.axes[0].texts]
    assert medians[0] > medians[1] > medians[2]
    assert [t.get_text() for t in fig.axes[0].texts][0] == "p50 12.0 h"


@pytest.mark.parametrize("run", RUNS, ids=str)
def test_concepts_notebook_compares_the_paradigms_in_the_order_its_text_states(run, shown):
    """The lesson's own cells, on a run's measurements: the plotted order is batch >
    streaming > REST and the sentence comparing them is a claim that holds."""
    nb = _notebook("00-concepts")
    job_ms, stream_ms, rest_p50 = RUNS[run]
    namespace = {"pd": pd, "batch_ms": job_ms, "stream_ms": stream_ms, "rest_ms": _rest(rest_p50),
                 "batch_every_hours": 24.0}
    building = [c.source for c in nb.cells if c.cell_type == "code" and "measured = {" in c.source]
    assert len(building) == 1
    exec(building[0], namespace)
    medians = [float(np.median(v)) for v in namespace["measured"].values()]
    assert list(namespace["measured"])[0].startswith("batch")
    assert medians[0] > medians[1] > medians[2], "the plot must draw batch slowest, as the text says"

    exec(_claim_cell(nb, "paradigm-order"), namespace)
    by_id = {c.id: c for c in shown}
    assert by_id["paradigm-order"].held and by_id["batch-wait-dominates"].held
    assert "at least ten times slower" in by_id["paradigm-order"].text


def test_concepts_notebook_types_no_paradigm_ratio():
    prose = _markdown(_notebook("00-concepts"))
    assert not re.search(r"factor of ten|ten to a thousand", prose)


# ------------------------------------------------------------------ 2. 03.1 UDF round trip
def test_batch_notebook_renders_the_udf_cost_from_the_measured_rates(shown):
    nb = _notebook("01-batch")
    assert not re.search(r"\d+\s?x\b", _markdown(nb)), "the UDF's cost is measured, not typed"
    cell = _claim_cell(nb, "udf-round-trip")
    exec(cell, {"claim": claims_module.claim, "rates": {"sql": 50_000.0, "udf": 20_000.0}})
    (made,) = shown
    assert made.held and "**2.5x**" in made.text and "50,000 rows/s" in made.text


def test_batch_notebook_fails_if_the_udf_were_not_slower(shown):
    cell = _claim_cell(_notebook("01-batch"), "udf-round-trip")
    with pytest.raises(ClaimNotHeldError, match="the UDF is slower than compiled SQL"):
        exec(cell, {"claim": claims_module.claim, "rates": {"sql": 20_000.0, "udf": 50_000.0}})


# ------------------------------------------------------------------ 3. 03.2 maxFilesPerTrigger
def _history(files_per_commit: list[int]):
    def history(table):
        versions = range(len(files_per_commit))
        return pd.DataFrame({"version": list(versions), "operation": "WRITE",
                             "rows": [100] * len(files_per_commit), "files": files_per_commit})
    return history


def _query(rows_per_batch: list[int]):
    progress = [SimpleNamespace(batchId=i, numInputRows=n) for i, n in enumerate(rows_per_batch)]
    return SimpleNamespace(recentProgress=progress)


def test_streaming_notebook_says_the_option_bounds_files_not_commits():
    prose = _markdown(_notebook("02-streaming"))
    assert "makes each arriving commit its own micro-batch" not in prose
    assert re.search(r"`maxFilesPerTrigger=1` bounds .* one new \*\*file\*\*", prose)


def test_streaming_claim_counts_one_micro_batch_per_file(shown):
    """Three commits of two files each (v1..v3; v0 was read before) -> six micro-batches."""
    cell = _claim_cell(_notebook("02-streaming"), "files-not-commits")
    exec(cell, {"history": _history([2, 2, 2, 2]), "query": _query([0, 50, 50, 50, 50, 50, 50, 0])})
    (made,) = shown
    assert made.held
    assert "**3 commits**" in made.text and "**6 files**" in made.text and "**6 micro-batches**" in made.text


def test_streaming_claim_fails_when_commits_became_micro_batches(shown):
    """What the old sentence described (one micro-batch per commit) contradicts the files."""
    cell = _claim_cell(_notebook("02-streaming"), "files-not-commits")
    with pytest.raises(ClaimNotHeldError, match="as many micro-batches as files"):
        exec(cell, {"history": _history([2, 2, 2, 2]), "query": _query([100, 100, 100])})

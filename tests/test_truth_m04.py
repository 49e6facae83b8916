"""Module 04 tells the truth: each test here failed on the lessons before they were fixed.

- 04.0 said "concept drift is invisible to every input test" next to a table
  whose concept-drift row shows the label test firing: the lesson now states
  what each test sees, as claims rendered from that table's own values;
- 04.4 retrained automatically on a unit change (0-5 stars arriving as a 0-100
  score), the case 04.0 and the monitoring lab say must be fixed upstream: the
  monitoring job now triages first, and the lesson shows both paths;
- the slides' CI/CD technologies, the meaning of CD in ML and further reading
  are taught in 04.0, the technologies checked against what this repo runs;
- the rollout lesson waited for the routed endpoint with guessed sleeps;
- two concept checks gave their answer away in the hint.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from notebook_runner import REPO

CONCEPTS = REPO / "notebooks" / "04-production" / "00-concepts.ipynb"
ROLLOUT = REPO / "notebooks" / "04-production" / "02-rollout-and-ab-testing.ipynb"
LOOP = REPO / "notebooks" / "04-production" / "04-closed-loop.ipynb"
MONITOR_JOB = REPO / "notebooks" / "jobs" / "monitor.ipynb"


def _cells(path: Path):
    return nbformat.read(path, as_version=4).cells


def _claim_cells(path: Path) -> dict[str, str]:
    """claim id -> the source of the cell that states it."""
    found = {}
    for cell in _cells(path):
        if cell.cell_type == "code":
            for claim_id in re.findall(r'claim\(\s*"([\w-]+)"', cell.source):
                found[claim_id] = cell.source
    return found


# ------------------------------------------------- 04.0: what each test sees of concept drift
def test_concepts_never_say_concept_drift_is_invisible_to_every_test() -> None:
    prose = "\n".join(c.source for c in _cells(CONCEPTS) if c.cell_type == "markdown")
    assert not re.search(r"invisible to every", prose, re.I)


def test_concept_drift_claims_hold_on_the_lessons_own_table() -> None:
    """The claims over the drift table run on the table itself, and say what each test saw."""
    from mlops_kit.claims import claim
    from mlops_kit.monitoring.drift_types import drift_type_table

    claims = _claim_cells(CONCEPTS)
    assert {"unit-bug-row", "concept-drift-seen-by"} <= set(claims)
    seen_by = claims["concept-drift-seen-by"]
    for column in ("features drifted", "prediction drifted", "label drifted", "error drifted"):
        assert f'concept["{column}"]' in seen_by, f"the concept-drift claim ignores {column!r}"
    namespace = {"drift_types": drift_type_table(1000, seed=0), "claim": claim}
    exec(claims["unit-bug-row"], namespace)  # defines row(), bug, concept
    exec(seen_by, namespace)                 # raises ClaimNotHeldError if the table disagrees


# ------------------------------------------------- 04.4: a unit change is fixed, not retrained on
def _job_source() -> str:
    return "\n".join(c.source for c in _cells(MONITOR_JOB) if c.cell_type == "code")


def test_the_monitoring_job_triages_before_it_launches_retraining() -> None:
    source = _job_source()
    assert "triage(" in source and "open_incident(" in source
    (act,) = [c.source for c in _cells(MONITOR_JOB) if "launch_retraining(" in c.source
              and c.cell_type == "code" and "import" not in c.source.split("launch_retraining(")[0][-40:]]
    guard = act.split("launch_retraining(")[0]
    assert "decision.retrain" in guard, "retraining must depend on the triage's verdict"
    assert "pipeline_bug" in guard, "a pipeline bug must be handled before retraining is considered"


def test_the_closed_loops_unit_change_is_a_pipeline_bug_and_its_market_move_is_not() -> None:
    """The lesson's own traffic: the bug opens an incident, the market's move retrains."""
    from mlops_kit.datasets import change_units, listings
    from mlops_kit.datasets.market import market_moved
    from mlops_kit.jobs.triage import triage
    from mlops_kit.monitoring import Monitor, performance_drift
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    params = next(c.source for c in _cells(LOOP) if "parameters" in c.metadata.get("tags", []))
    seed = int(re.search(r"^seed = (\d+)", params, re.M).group(1))
    traffic = int(re.search(r"^traffic = (\d+)", params, re.M).group(1))
    monitor = Monitor(listings(2000, seed=42), numeric=NUMERIC_FEATURES,
                      categorical=CATEGORICAL_FEATURES, tests=["ks", "chi2", "nulls"])
    grown = performance_drift(80.0, [0.0], [160.0], metric="rmse", tolerance=0.3)
    bug = change_units(listings(traffic, seed=seed + 1), "review_scores_rating", 20.0)
    assert triage(monitor.run(bug), performance=grown).action == "fix_pipeline"
    moved = market_moved(listings(2000, seed=seed + 5), seed=seed).head(traffic)
    assert triage(monitor.run(moved), performance=grown).action == "retrain"


def test_the_closed_loop_shows_both_paths_as_claims() -> None:
    claims = _claim_cells(LOOP)
    assert {"bug-blocks-retraining", "drift-retrains", "loop-helped"} <= set(claims)
    assert "len(versions) == 1" in claims["bug-blocks-retraining"]
    assert '"fix_pipeline"' in claims["drift-retrains"] and '"retrain"' in claims["drift-retrains"]
    runs = [c.source for c in _cells(LOOP) if 'run_notebook("jobs/monitor"' in c.source]
    assert len(runs) == 2, "one monitoring run per alarm: the bug, then the market's move"


# ------------------------------------------------- 04.0: the slides' thin sections
def test_ci_technologies_map_every_role_to_what_this_repo_runs() -> None:
    from mlops_kit.jobs.cicd import ci_technologies

    table = ci_technologies()
    assert {"version control", "CI server and triggers", "orchestration", "testing",
            "artifact and model registry", "environment management",
            "monitoring and alerting"} <= set(table.index)
    assert not table["here, checked"].str.contains("missing").any(), table["here, checked"]
    assert table.loc["testing", "here, checked"].startswith("pytest ")


def test_ci_technologies_say_missing_for_a_tool_that_is_absent(tmp_path) -> None:
    from mlops_kit.jobs.cicd import ci_technologies

    assert "missing" in ci_technologies(tmp_path).loc["version control", "here, checked"]


def test_concepts_teach_cd_as_delivering_a_training_pipeline_and_end_with_reading() -> None:
    cells = _cells(CONCEPTS)
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "training pipeline" in prose and "ci_technologies()" in "\n".join(c.source for c in cells)
    headings = [c.source.splitlines()[0] for c in cells if c.cell_type == "markdown"]
    assert "## Further reading" in headings
    assert headings.index("## Further reading") > headings.index("## Takeaways")


# ------------------------------------------------- 04.2: wait for the endpoint, not a guess
def test_the_rollout_lesson_waits_on_the_endpoint_not_on_sleeps() -> None:
    for cell in _cells(ROLLOUT):
        if re.search(r"write_config\(|switch\(|register_faulty_model\(", cell.source):
            assert "time.sleep" not in cell.source, cell.source


class _FakeEndpoint:
    """Serves the old table for ``lag`` polls, then the new one."""

    def __init__(self, lag: int) -> None:
        self.polls, self.lag = 0, lag

    def rollout(self):
        self.polls += 1
        weight = 100.0 if self.polls > self.lag else 0.0
        return {"generation": 1 + (self.polls > self.lag), "last_error": None,
                "deployments": {"green": {"weight": weight, "shadow": False, "version": "2"}}}


def test_wait_until_served_returns_once_the_endpoint_serves_the_config(tmp_path) -> None:
    from mlops_kit.exceptions import EnvironmentProblem
    from mlops_kit.rollout.routing import wait_until_served, write_config

    routing = write_config(tmp_path / "r.json", {"green": {"model": "models:/m/2", "weight": 100}})
    endpoint = _FakeEndpoint(lag=3)
    state = wait_until_served(endpoint, routing, poll=0.001)
    assert endpoint.polls == 4 and state["generation"] == 2 and state["waited_s"] >= 0
    with pytest.raises(EnvironmentProblem, match="still serves"):
        wait_until_served(_FakeEndpoint(lag=10**9), routing, timeout=0.05, poll=0.001)


# ------------------------------------------------- concept checks that gave their answer away
def test_q11_and_q13_hints_no_longer_give_the_answer() -> None:
    from mlops_kit.labs import registry

    q11, q13 = registry.get("concepts-04", "q11"), registry.get("concepts-04", "q13")
    assert not any("never answers" in h for h in q11.hints)
    assert not any("sample_size(" in h for h in q13.hints)
    assert len(q11.question.options) >= 4

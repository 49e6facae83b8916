"""A release runs the pipeline env after env and stops at the first failed gate."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.exceptions import JobFailedError
from mlops_kit.jobs import release
from mlops_kit.jobs.pipelines import PipelineFailedError
from mlops_kit.jobs.runner import JobResult


@pytest.fixture
def fake_pipeline(monkeypatch):
    """run_pipeline that fails the gate in the envs listed in ``calls['fail']``."""
    calls = {"envs": [], "params": [], "fail": set()}

    def run_pipeline(pipeline, parameters, *, env, **options):
        calls["envs"].append(env)
        calls["params"].append(dict(parameters))
        if env in calls["fail"]:
            error = JobFailedError("jobs/train", "/tmp/out.ipynb", 7, "RuntimeError",
                                   "price v3 failed validation")
            raise PipelineFailedError(pipeline.name, 2, 2, error, [])
        return [JobResult(Path(f"jobs/{s.notebook.split('/')[-1]}.ipynb"), Path("/tmp/x"), 1.0)
                for s in pipeline.steps]

    monkeypatch.setattr(release, "run_pipeline", run_pipeline)
    return calls


def test_every_env_passes_in_order(fake_pipeline):
    table = release.run_release({"rows": 10})
    assert fake_pipeline["envs"] == ["dev", "staging", "prod"]
    assert table["status"].tolist() == ["passed"] * 3
    assert table.loc["prod", "detail"] == "etl -> train"


def test_a_failed_gate_stops_the_release_before_prod(fake_pipeline):
    fake_pipeline["fail"] = {"staging"}
    table = release.run_release({"rows": 10}, overrides={"staging": {"max_rmse": 1.0}})
    assert fake_pipeline["envs"] == ["dev", "staging"]          # prod never ran
    assert table["status"].tolist() == ["passed", "stopped", "not run"]
    assert "failed validation" in table.loc["staging", "detail"]
    assert fake_pipeline["params"][1] == {"rows": 10, "max_rmse": 1.0}
    assert fake_pipeline["params"][0] == {"rows": 10}


def test_the_release_pipeline_trains_behind_the_gate():
    steps = release.RELEASE.steps
    assert [s.notebook for s in steps] == ["jobs/etl", "jobs/train"]
    assert steps[1].parameters == {"fail_on_reject": True}

"""A release runs the pipeline env after env and stops at the first failed gate.

The steps are real job notebooks (``tests/notebooks/pipeline_step.ipynb``: it
appends ``label:env`` to a log, or fails when told to), run through papermill
kernels as a release runs them.
"""
from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from mlops_kit.exceptions import ConfigError
from mlops_kit.jobs import release
from mlops_kit.jobs.pipelines import Pipeline, Step

STEP = str(Path(__file__).parent / "notebooks" / "pipeline_step.ipynb")


def _two_steps(log: Path) -> Pipeline:
    return Pipeline("release-test", (Step(STEP, {"label": "etl", "log_path": str(log)}),
                                      Step(STEP, {"label": "train", "log_path": str(log)})))


def _kernels_left(root: Path, seconds: float = 30) -> list:
    """The kernels whose environment names the workspace, once they had time to exit."""
    deadline = time.monotonic() + seconds
    while True:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if "ipykernel_launcher" in " ".join(proc.info["cmdline"] or []) and \
                        proc.environ().get("MLOPS_KIT_HOME") == str(root):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.slow
def test_every_env_passes_in_order(workspace, tmp_path):
    log = tmp_path / "log"
    table = release.run_release(pipeline=_two_steps(log))
    assert log.read_text().split() == ["etl:dev", "train:dev", "etl:staging", "train:staging",
                                       "etl:prod", "train:prod"]
    assert table["status"].tolist() == ["passed"] * 3
    assert table.loc["prod", "detail"] == "pipeline_step -> pipeline_step"
    assert _kernels_left(workspace.root) == []


@pytest.mark.slow
def test_a_failed_gate_stops_the_release_before_prod(workspace, tmp_path):
    log = tmp_path / "log"
    table = release.run_release(pipeline=_two_steps(log), overrides={"staging": {"fail": True}})
    assert log.read_text().split() == ["etl:dev", "train:dev"]  # staging failed, prod never ran
    assert table["status"].tolist() == ["passed", "stopped", "not run"]
    assert table.loc["staging", "detail"] == \
        "step 1 (pipeline_step): ValueError: step etl was told to fail"
    assert _kernels_left(workspace.root) == []  # prod's first step was started ahead, then stopped


def test_a_parameter_no_step_declares_fails_before_any_env_runs(workspace, tmp_path):
    log = tmp_path / "log"
    with pytest.raises(ConfigError, match="'max_rsme'"):
        release.run_release(pipeline=_two_steps(log), overrides={"prod": {"max_rsme": 1.0}})
    assert not log.exists()


def test_the_release_pipeline_trains_behind_the_gate():
    steps = release.RELEASE.steps
    assert [s.notebook for s in steps] == ["jobs/etl", "jobs/train"]
    assert steps[1].parameters == {"fail_on_reject": True}

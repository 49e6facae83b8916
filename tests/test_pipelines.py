"""Pipelines (order, stop on failure, parameter routing), the pipeline CLI, the
pipeline job tasks, and dev/staging/prod isolation of the training job."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_kit.cli import main
from mlops_kit.exceptions import ConfigError, DataError, NotFoundError
from mlops_kit.jobs import tasks
from mlops_kit.jobs.pipelines import (
    PIPELINES, Pipeline, PipelineFailedError, Step, get_pipeline, register_pipeline, run_pipeline,
)

STEP = str(Path(__file__).parent / "notebooks" / "pipeline_step.ipynb")


def _steps(log: Path, *labels: str, failing: str | None = None) -> Pipeline:
    return Pipeline("test", tuple(
        Step(STEP, {"label": label, "log_path": str(log), "fail": label == failing})
        for label in labels
    ))


# ------------------------------------------------------------ registry, routing
def test_course_pipelines_are_registered_in_order() -> None:
    assert list(PIPELINES)[:6] == ["etl", "featurization", "training", "scoring",
                                   "monitoring", "all"]
    assert [s.notebook for s in get_pipeline("all").steps] == [
        "jobs/etl", "jobs/featurize", "jobs/train", "jobs/score_batch", "jobs/monitor"]


def test_unknown_pipeline_lists_known_ones() -> None:
    with pytest.raises(NotFoundError, match=r"No pipeline named 'nightly'.*etl, featurization"):
        get_pipeline("nightly")


def test_empty_pipeline_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one step"):
        register_pipeline("empty", [])


def test_parameter_no_step_declares_fails_before_running(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"No step of the pipeline 'test' has .*'lable'"):
        run_pipeline(_steps(tmp_path / "log", "a"), {"lable": "x"})
    assert not (tmp_path / "log").exists()


def test_bad_env_fails_before_running(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="env must be one of"):
        run_pipeline(_steps(tmp_path / "log", "a"), env="qa")


# --------------------------------------------------------------------- the CLI
def test_cli_unknown_pipeline_exits_4() -> None:
    result = CliRunner().invoke(main, ["pipeline", "run", "nightly"])
    assert result.exit_code == 4
    assert "No pipeline named 'nightly'" in result.output


def test_cli_unknown_env_exits_2() -> None:
    result = CliRunner().invoke(main, ["pipeline", "run", "etl", "--env", "qa"])
    assert result.exit_code == 2
    assert "env must be one of dev, staging, prod" in result.output


def test_cli_unknown_parameter_exits_2() -> None:
    result = CliRunner().invoke(main, ["pipeline", "run", "etl", "-p", "rowz", "10"])
    assert result.exit_code == 2
    assert "'rowz'" in result.output


def test_cli_list_shows_steps() -> None:
    result = CliRunner().invoke(main, ["pipeline", "list"])
    assert result.exit_code == 0
    assert "all" in result.output and "jobs/etl -> jobs/featurize -> jobs/train" in result.output


# ------------------------------------------------------------- running steps
@pytest.mark.slow
def test_steps_run_in_order_in_the_given_env(tmp_path: Path) -> None:
    log = tmp_path / "log"
    results = run_pipeline(_steps(log, "a", "b", "c"), env="staging")
    assert log.read_text().split() == ["a:staging", "b:staging", "c:staging"]
    assert [r.ok for r in results] == [True, True, True]


@pytest.mark.slow
def test_first_failure_stops_the_pipeline(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with pytest.raises(PipelineFailedError, match=r"stopped at step 2/3") as info:
        run_pipeline(_steps(log, "a", "b", "c", failing="b"))
    err = info.value
    assert (err.step_index, err.ename) == (2, "ValueError")
    assert "raise ValueError" in err.source and Path(err.output_path).exists()
    assert [r.status for r in err.results] == ["ok", "failed"]
    assert log.read_text().split() == ["a:dev"]  # c never ran


@pytest.mark.slow
def test_cli_failed_step_exits_5_and_prints_the_cell(tmp_path: Path) -> None:
    log = tmp_path / "log"
    PIPELINES["test-fails"] = _steps(log, "a", "b", failing="a")
    try:
        result = CliRunner().invoke(main, ["pipeline", "run", "test-fails"])
    finally:
        del PIPELINES["test-fails"]
    assert result.exit_code == 5
    assert "stopped at step 1/2" in result.output
    assert "raise ValueError" in result.output and "step a was told to fail" in result.output
    assert not log.exists()


@pytest.mark.slow
@pytest.mark.xdist_group("pipelines_release")  # one worker builds the release, for both tests
def test_real_pipeline_run_from_the_command_line(release) -> None:
    """`mlops-kit pipeline run etl --env staging` writes staging's table, not dev's."""
    done = release["cli"]
    assert done.returncode == 0, done.stderr
    assert "[1/1] jobs/etl ok" in done.stdout and "pipeline 'etl' ok" in done.stdout
    assert release["staging_rows_after_cli"] == RELEASE_ROWS["staging"]
    assert not release["dev_table_after_cli"]


# -------------------------------------------------------------- job tasks
def test_train_and_validate_bootstraps_then_sets_challenger(workspace) -> None:
    from mlops_kit.datasets import listings

    version = tasks.land_listings(listings(400, seed=1), table="t_listings")
    first = tasks.train_and_validate(table="t_listings", model="m")
    assert first.passed and first.aliases == ["challenger", "champion"]
    assert (first.data_version, first.model_name) == (version, "dev.tester.m")
    assert first.data_source == str(workspace.table_path("t_listings"))
    second = tasks.train_and_validate(table="t_listings", model="m", trigger="drift: x")
    assert second.aliases == ["challenger"]  # the champion stays until someone promotes

    from mlflow import MlflowClient

    tags = MlflowClient().get_model_version("dev.tester.m", second.version).tags
    assert tags["trigger"] == "drift: x" and tags["validation.status"] == "passed"
    reference, lineage = tasks.champion_reference("m")
    assert lineage["version"] == first.version and len(reference) == 400


def test_missing_table_and_too_little_data_are_explained(workspace) -> None:
    from mlops_kit.datasets import listings

    with pytest.raises(NotFoundError, match=r"No Delta table 'nope' in env 'dev'.*pipeline run etl"):
        tasks.read_table_version("nope")
    tasks.land_listings(listings(20, seed=1), table="tiny")
    with pytest.raises(DataError, match="has 20 rows; training needs at least 50"):
        tasks.train_and_validate(table="tiny")
    with pytest.raises(NotFoundError, match="has no 'champion' version"):
        tasks.champion_reference("never_trained")


def test_ensure_listings_lands_only_when_missing(workspace) -> None:
    assert tasks.ensure_listings("fresh", rows=60) == 0
    assert tasks.ensure_listings("fresh", rows=999) == 0


def test_inference_log_is_none_without_traffic_and_parsed_with_it(workspace) -> None:
    import pandas as pd

    assert tasks.read_inference_log(table="no_log") is None
    rows = pd.DataFrame({
        "model_name": ["a", "b", "a"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
        "inputs": [json.dumps({"x": i}) for i in range(3)],
        "prediction": ["1.5", "2.5", "3.5"],
    })
    tasks.land_listings(rows, table="log")
    parsed = tasks.read_inference_log(table="log", model_name="a", last_rows=5)
    assert parsed["x"].tolist() == [0, 2] and parsed["prediction"].tolist() == [1.5, 3.5]


def test_retraining_runs_the_training_job_through_the_runner(monkeypatch) -> None:
    """No shelling out to the CLI: the job runner gets the notebook, parameters and env."""
    from pathlib import Path

    from mlops_kit.jobs.runner import JobResult

    calls = []

    def fake_run(notebook, parameters, *, env, timeout):
        calls.append((notebook, parameters, env, timeout))
        return JobResult(Path(notebook), Path("/jobs/train-1.ipynb"), 12.0, parameters)

    monkeypatch.setattr(tasks, "run_notebook", fake_run)
    line = tasks.launch_retraining("prod", reason="drift: a", extra={"model": "m"}, timeout=60)
    assert calls == [("jobs/train", {"trigger": "drift: a", "model": "m"}, "prod", 60)]
    assert line.startswith("jobs/train ran in prod") and line.endswith("/jobs/train-1.ipynb")


def test_count_test_layers_sees_all_three_layers() -> None:
    from mlops_kit.jobs.cicd import count_test_layers

    layers = count_test_layers()
    assert list(layers.index) == ["unit", "papermill integration", "nbval"]
    assert (layers["count"] > 0).all()


# ------------------------------------------------------ env isolation (slow)
#: the rows the release's etl writes in each env (distinct, to tell the envs' runs apart)
RELEASE_ROWS = {"dev": 300, "staging": 400, "prod": 500}


def _test_spark_settings() -> dict[str, str]:
    """Where the release's jobs send Spark: as ``conftest._spark_settings`` does for a slow test."""
    import os

    if os.environ.get("MLOPS_KIT_TEST_SPARK", "connect") == "connect":
        from notebook_runner import shared_spark_master

        return {"MLOPS_KIT_SPARK_MASTER": shared_spark_master()}
    return {"MLOPS_KIT_SPARK": "local"}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The same etl and train jobs in dev, staging and prod, run once for the tests below.

    Staging's etl runs first and from the command line (``mlops-kit pipeline run
    etl --env staging``, in a new process, as a scheduler runs it), so the
    command-line test reads its outcome; what it left (staging's row count,
    whether dev had a table) is recorded before any other job runs.
    """
    import os

    from mlops_kit.delta import row_count, table_exists
    from mlops_kit.workspace import Workspace, use_workspace

    root = tmp_path_factory.mktemp("release") / "kit"
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(("MLOPS_KIT_", "MLFLOW_"))
                and k != "MLOPS_KIT_MLFLOW_TEMPLATE"]:
        del os.environ[key]
    os.environ.update(MLOPS_KIT_HOME=str(root), MLOPS_KIT_USER="tester", **_test_spark_settings())
    use_workspace(None)
    try:
        ws = Workspace.from_env(root=root, user="tester").activate()
        cli = subprocess.run(
            [sys.executable, "-c", "from mlops_kit.cli import main; main()",
             "pipeline", "run", "etl", "--env", "staging", "-p", "rows", str(RELEASE_ROWS["staging"])],
            capture_output=True, text=True, timeout=300,
        )
        out = {"ws": ws, "cli": cli,
               "staging_rows_after_cli": (row_count(ws.with_env("staging").table_path("listings"))
                                          if cli.returncode == 0 else None),
               "dev_table_after_cli": table_exists(ws.table_path("listings"))}
        run_pipeline(Pipeline("train", (Step("jobs/train"),)), {"model": "iso"}, env="staging")
        both = Pipeline("etl+train", (Step("jobs/etl"), Step("jobs/train")))
        for env in ("dev", "prod"):
            run_pipeline(both, {"rows": RELEASE_ROWS[env], "model": "iso"}, env=env)
        yield out
    finally:
        os.environ.clear()
        os.environ.update(saved)
        use_workspace(None)


@pytest.mark.slow
@pytest.mark.xdist_group("pipelines_release")
def test_train_job_keeps_dev_staging_prod_apart(release) -> None:
    """The same train notebook in three envs: three tables, experiments, models."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit.jobs.cicd import env_overview

    ws = release["ws"].activate()
    overview = env_overview("iso", table="listings", workspace=ws)
    assert overview["model"].tolist() == ["dev.tester.iso", "staging.tester.iso", "prod.tester.iso"]
    assert overview["table"].is_unique and overview["experiment"].is_unique
    assert overview["versions"].tolist() == [1, 1, 1] and overview["runs"].tolist() == [1, 1, 1]
    client = MlflowClient()
    for env, rows in RELEASE_ROWS.items():
        env_ws = ws.with_env(env)
        version = client.get_model_version_by_alias(env_ws.model_name("iso"), "champion")
        params = client.get_run(version.run_id).data.params
        assert params["data_source"] == str(env_ws.table_path("listings"))
        assert params["rows"] == str(int(rows * 0.8))  # the holdout stays out of training
        experiment = mlflow.get_experiment(client.get_run(version.run_id).info.experiment_id)
        assert experiment.name == env_ws.experiment_name("price_training")

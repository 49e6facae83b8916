"""``mlops-kit doctor``: real checks, and a failing one does not stop the rest."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from mlops_kit.cli import main
from mlops_kit.doctor import CHECKS, run_checks
from mlops_kit.workspace import Workspace


def test_cheap_checks_pass_on_this_machine(workspace) -> None:
    results = run_checks(workspace, only=["python", "java", "delta jars", "mlflow",
                                          "papermill kernel"])
    assert [r.name for r in results] == ["python", "java", "delta jars", "mlflow",
                                         "papermill kernel"]
    failed = [(r.name, r.detail) for r in results if not r.ok]
    assert not failed
    assert all(r.seconds >= 0 and r.fix == "" for r in results)
    assert "Java 17" in results[1].detail or "Java 21" in results[1].detail


def test_a_failing_check_reports_its_fix_and_the_others_still_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    unreachable = Workspace(root=tmp_path, user="tester",
                            tracking_uri_override="http://127.0.0.1:9")  # discard port
    results = run_checks(unreachable, only=["mlflow", "papermill kernel"])
    mlflow_check, kernel_check = results
    assert not mlflow_check.ok and "MLOPS_KIT_TRACKING_URI" in mlflow_check.fix
    assert kernel_check.ok


def test_every_check_names_a_fix() -> None:
    assert all(fix for _, _, fix in CHECKS)


@pytest.mark.spark
def test_doctor_command_runs_spark_and_delta(spark, workspace) -> None:
    """Reuses the test session; the table lists every check and the start-up time."""
    result = CliRunner().invoke(main, ["doctor"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for name in ("python", "java", "delta jars", "spark", "delta round trip", "mlflow"):
        assert name in result.output
    assert "Spark start-up:" in result.output and "all checks passed" in result.output
    assert spark.range(1).count() == 1  # the caller's session is left running


def test_a_workspace_is_created_private_and_tightened(tmp_path) -> None:
    """Other users can neither list nor read a learner's tables, logs and registry."""
    fresh = Workspace(root=tmp_path / "fresh", user="tester").activate()
    assert fresh.root.stat().st_mode & 0o777 == 0o700
    opened = tmp_path / "opened"
    opened.mkdir(mode=0o755)
    opened.chmod(0o755)
    Workspace(root=opened, user="tester").activate()
    assert opened.stat().st_mode & 0o777 == 0o700


def test_doctor_warns_about_a_workspace_others_can_read(tmp_path) -> None:
    ws = Workspace(root=tmp_path / "kit", user="tester").activate()
    (privacy,) = run_checks(ws, only=["workspace privacy"])
    assert privacy.ok, privacy.detail
    ws.root.chmod(0o755)  # e.g. a folder an older kit created, or a careless chmod
    (privacy,) = run_checks(ws, only=["workspace privacy"])
    assert not privacy.ok and "open to other users (mode 0o755)" in privacy.detail
    assert "chmod 700" in privacy.fix


@pytest.mark.parametrize("total, available, warns, says", [
    (16 * 1024, 12 * 1024, False, "this machine has 16.0 GB, 12.0 GB of it free now"),
    (16 * 1024, 1536, True, "close other programs before the course"),
    (3 * 1024, 2 * 1024, True, "it will swap and run slowly"),
])
def test_doctor_says_whether_this_machine_has_the_memory_the_course_needs(
        workspace, monkeypatch, total, available, warns, says) -> None:
    from mlops_kit import doctor

    monkeypatch.setattr(doctor, "machine_memory", lambda: (total, available))
    (memory,) = run_checks(workspace, only=["memory"])
    assert memory.ok and memory.warn is warns and says in memory.detail
    assert f"needs about {doctor.COURSE_PEAK_MIB / 1024:.1f} GB" in memory.detail
    assert ("Close other programs" in memory.fix) is warns
    assert doctor.COURSE_PEAK_MIB > 1024  # MiB: a course of Spark, MLflow and kernels


def test_the_memory_check_reads_this_machines_memory() -> None:
    from mlops_kit.doctor import machine_memory

    total, available = machine_memory()
    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    assert total == int(meminfo["MemTotal"].split()[0]) // 1024
    assert 0 < available <= total


def test_the_doctor_command_shows_a_memory_warning_without_failing(monkeypatch) -> None:
    from mlops_kit import doctor

    monkeypatch.setattr(doctor, "CHECKS", [c for c in doctor.CHECKS if c[0] == "memory"])
    monkeypatch.setattr(doctor, "machine_memory", lambda: (2048, 1024))
    result = CliRunner().invoke(main, ["doctor"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "warn" in result.output and "warning: memory" in result.output
    monkeypatch.setattr(doctor, "machine_memory", lambda: (32768, 30000))
    result = CliRunner().invoke(main, ["doctor"], catch_exceptions=False)
    assert result.exit_code == 0 and "all checks passed" in result.output
    assert "warning" not in result.output

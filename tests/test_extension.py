"""The IPython extension: workspace, lazy spark, display, magics, HTML badges."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mlops_kit.display import display
from mlops_kit.extension import LazySpark

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shell(tmp_path):
    """A fresh in-process IPython shell with the extension loaded."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.extension_manager.load_extension("mlops_kit")
    yield ip
    ip.extension_manager.unload_extension("mlops_kit")
    InteractiveShell.clear_instance()


def test_load_prepares_the_namespace_and_prints_the_summary(shell, capsys, tmp_path) -> None:
    ns = shell.user_ns
    assert isinstance(ns["spark"], LazySpark) and ns["display"] is display
    shell.run_line_magic("kit", "")
    out = capsys.readouterr().out
    assert "mlops-kit ready" in out and f"{tmp_path / 'kit'}" in out and "tester" in out
    assert "sqlite:///" in out and "local[*]" in out
    assert (tmp_path / "kit" / "users" / "tester" / "dev" / "tables").is_dir()


def test_lazy_spark_starts_nothing_until_used(monkeypatch) -> None:
    started = []
    monkeypatch.setattr("mlops_kit.spark.get_spark", lambda: started.append(1) or pd)
    ns: dict = {}
    ns["spark"] = LazySpark(ns)
    assert "starts on first use" in repr(ns["spark"]) and not started
    assert ns["spark"].DataFrame is pd.DataFrame  # first use starts the session...
    assert ns["spark"] is pd and started == [1]  # ...which replaces the stand-in


@pytest.mark.spark
def test_lazy_spark_becomes_the_real_session(spark) -> None:
    ns: dict = {}
    ns["spark"] = LazySpark(ns)
    assert ns["spark"].range(3).count() == 3
    assert ns["spark"] is spark


def test_mlflow_ui_links_the_current_experiment(shell, capsys, monkeypatch) -> None:
    from mlops_kit.workspace import get_workspace

    monkeypatch.setenv("MLOPS_KIT_UI_URL", "http://127.0.0.1:9")
    experiment_id = get_workspace().set_experiment("ui_link")
    shell.run_line_magic("mlflow_ui", "")
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:9/#/experiments/{experiment_id}" in out
    assert "mlops-kit ui" in out  # not running: says how to start it


def test_reset_lesson_says_what_it_removes_then_removes_it(shell, capsys) -> None:
    from mlops_kit.workspace import get_workspace

    table = get_workspace().table_path("old_table")
    table.mkdir(parents=True)
    shell.run_line_magic("reset_lesson", "")
    out = capsys.readouterr().out
    assert "1 table(s) old_table" in out and "Removed 1 tables" in out
    assert not table.exists() and get_workspace().tables_dir.is_dir()


def test_display_limits_pandas_rows_and_says_so(capsys) -> None:
    display(pd.DataFrame({"price": range(30)}), limit=3)
    out = capsys.readouterr().out
    assert [line.strip() for line in out.split("\n")[:5]] == ["price", "0", "1", "2", "(first 3 rows shown; the frame has more (display(df, limit=n) shows more))"]
    assert "first 3 rows shown; the frame has more" in out
    display(pd.Series([1.5]), limit=3)
    assert "(1 row)" in capsys.readouterr().out


def test_display_shows_a_cells_whole_text(capsys) -> None:
    """pandas cuts text cells at 50 characters with "..."; a menu of actions must read whole."""
    long = "watch it on fresh labels and retrain on recent data if the error grows past the gate"
    display(pd.DataFrame({"action": ["retrain"], "what it means": [long]}))
    out = capsys.readouterr().out
    assert long in out and "..." not in out


def test_display_of_other_objects_prints_them(capsys) -> None:
    display({"a": 1})
    assert capsys.readouterr().out == "{'a': 1}\n"


@pytest.mark.spark
def test_display_of_a_spark_dataframe_fetches_only_the_limit(spark, capsys) -> None:
    display(spark.range(100).withColumnRenamed("id", "n"), limit=5)
    out = capsys.readouterr().out
    assert [line.strip() for line in out.split("\n")[:6]] == ["n", "0", "1", "2", "3", "4"]
    assert "first 5 rows shown; the DataFrame has more" in out


@pytest.mark.slow
def test_kernel_sends_plain_html_badges_and_a_hint(tmp_path, monkeypatch) -> None:
    """In a kernel a result is text/html + text/plain, no widget view: it survives a reopen."""
    from nbclient import NotebookClient

    monkeypatch.setenv("MLOPS_KIT_HOME", str(tmp_path / "kit"))
    nb = nbformat.read(str(REPO / "tests" / "notebooks" / "lab-badge.ipynb"), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    badge = nb.cells[2].outputs[0]["data"]
    assert set(badge) == {"text/html", "text/plain"}
    assert badge["text/plain"].startswith("✔ Exercise 1 — Name the workspace user: you work as")
    assert 'class="mlops-kit-badge mlops-kit-badge-pass"' in badge["text/html"]
    failed = nb.cells[3].outputs[0]["data"]["text/plain"]
    assert failed.startswith("✘ Exercise 1") and "Hint:" in failed
    hint = nb.cells[4].outputs[0]["data"]
    assert hint["text/plain"].startswith("Hint 1 of 2 for Exercise 1") and "mlops-kit-hint" in hint["text/html"]
    assert "your last check pointed at:" in hint["text/plain"]
    assert "widgets" not in nb.metadata


def test_loading_again_shows_the_summary_again(capsys) -> None:
    """A re-run of the first cell shows the workspace card, not IPython's "already loaded"."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    try:
        for _ in range(2):
            ip.run_cell("%load_ext mlops_kit")
            out = capsys.readouterr().out
            assert "mlops-kit ready" in out and "already loaded" not in out
        ip.run_cell("%reload_ext mlops_kit")
        assert "mlops-kit ready" in capsys.readouterr().out
    finally:
        ip.extension_manager.unload_extension("mlops_kit")
        InteractiveShell.clear_instance()

"""Logged models declare their packages instead of MLflow inferring them in a subprocess."""
from __future__ import annotations

import ast
import json
import re
from importlib.metadata import version
from pathlib import Path

import mlflow

from mlops_kit._price_model import MODEL_PACKAGES, pip_requirements

REPO = Path(__file__).resolve().parents[1]
LOG_CALL = re.compile(r"mlflow\.(sklearn|pyfunc)\.log_model\(")


def _requirements_of(model_uri: str) -> list[str]:
    folder = Path(mlflow.artifacts.download_artifacts(model_uri))
    return [line for line in (folder / "requirements.txt").read_text().splitlines() if line]


def test_requirements_pin_this_environments_versions_and_take_extras():
    pins = pip_requirements("lightgbm==4.5.0")
    assert pins[:-1] == [f"{name}=={version(name)}" for name in MODEL_PACKAGES]
    assert pins[-1] == "lightgbm==4.5.0"


def test_a_trained_price_model_lists_exactly_its_packages_and_loads_in_a_fresh_process(workspace):
    """What inference in a test process would add (pytest, rich) is absent; nothing is missing."""
    from mlops_kit import datasets, models
    from mlops_kit.training import train_price_model

    trained = train_price_model(datasets.listings(300, seed=1), model_name="price_reqs")
    listed = _requirements_of(trained.model_uri)
    assert listed == [f"mlflow=={mlflow.__version__}", *pip_requirements()]
    assert not any(line.startswith(("pytest", "rich", "psutil")) for line in listed)

    frame = models.listings_frame(300, seed=1)  # the lesson helper declares them too
    with mlflow.start_run():
        info = models.log_price_model(models.train_price_model(frame), frame)
    assert _requirements_of(info.model_uri) == listed
    predictions = models.predict_in_fresh_process(info.model_uri, frame[models.FEATURES].head(3))
    assert len(predictions) == 3


def _log_calls(where: str, source: str, *, cell: bool = False) -> list[tuple[str, ast.Call]]:
    """``mlflow.sklearn.log_model(...)`` and ``mlflow.pyfunc.log_model(...)`` calls in ``source``."""
    code = "\n".join("" if cell and line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))  # a cell's IPython magics are not Python
    return [(where, node) for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Call) and LOG_CALL.fullmatch(ast.unparse(node.func) + "(")]


def _code_sources() -> list[tuple[str, str, bool]]:
    """(where, source, is a notebook cell) for every lesson, solution and kit module."""
    found = []
    for folder in ("notebooks", "solutions"):
        for path in sorted((REPO / folder).rglob("*.ipynb")):
            cells = json.loads(path.read_text())["cells"]
            found += [(f"{path.relative_to(REPO)} cell {i}", "".join(c["source"]), True)
                      for i, c in enumerate(cells) if c["cell_type"] == "code"]
    for path in sorted((REPO / "mlops_kit").rglob("*.py")):
        found.append((str(path.relative_to(REPO)), path.read_text(), False))
    return found


def _undeclared(calls: list[tuple[str, ast.Call]]) -> list[str]:
    return [where for where, call in calls
            if not {"pip_requirements", "conda_env"} & {k.arg for k in call.keywords}]


def test_every_model_the_course_logs_declares_its_requirements():
    """One forgotten ``pip_requirements`` costs every course run seconds of a subprocess."""
    calls = [call for where, source, cell in _code_sources()
             for call in _log_calls(where, source, cell=cell)]
    assert len(calls) >= 10  # the lessons' own calls and the kit's
    assert not _undeclared(calls)


def test_the_scan_catches_a_call_without_requirements():
    cell = ('%load_ext mlops_kit\n'
            'info = mlflow.pyfunc.log_model(name="m", python_model=m,\n'
            '                               signature=sig(f(x)))\n'
            'ok = mlflow.sklearn.log_model(model, name="model", pip_requirements=reqs())\n'
            'hint = "use mlflow.sklearn.log_model(...)"\n')
    calls = _log_calls("cell", cell, cell=True)
    assert [ast.unparse(call.func) for _, call in calls] == ["mlflow.pyfunc.log_model",
                                                             "mlflow.sklearn.log_model"]
    assert _undeclared(calls) == ["cell"]

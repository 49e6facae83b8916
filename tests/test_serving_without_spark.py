"""The endpoint and its inference log run where pyspark cannot be imported.

A ``sitecustomize`` on ``PYTHONPATH`` refuses ``pyspark`` and the Spark side of
table access (``mlops_kit.spark``, ``mlops_kit.delta``,
``mlops_kit.tables.spark_side``) in every process that starts with it: the
script below and the endpoint it starts (which inherits the environment). The
script serves one prediction over HTTP on 127.0.0.1, stops the endpoint (the
log is flushed), and reads the row back through the delta-rs side.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_kit.workspace import Workspace

#: module names a process that serves must never import
REFUSED = ("pyspark", "py4j", "mlops_kit.spark", "mlops_kit.delta", "mlops_kit.tables.spark_side")

SITECUSTOMIZE = '''
import os
import sys

REFUSED = {refused!r}
MARKS = os.environ["NO_SPARK_MARKS"]


def _note(line):
    with open(MARKS, "a") as out:
        out.write(f"{{os.getpid()}} {{line}}\\n")


class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if any(name == r or name.startswith(r + ".") for r in REFUSED):
            _note("refused " + name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused by the test)",
                                      name=name)
        return None


sys.meta_path.insert(0, _Refuse())
_note("started")
'''

SCRIPT = '''
import json
import sys

import httpx

from mlops_kit.serving import Endpoint
from mlops_kit.serving.inference_log import read_inference_log
from mlops_kit.tables.delta_rs import DeltaRsTables

uri, table = sys.argv[1], sys.argv[2]
try:
    import pyspark  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("pyspark was importable: the test proves nothing")
endpoint = Endpoint(uri, log_table=table).start()
try:
    answer = httpx.post(endpoint.invocations_url,
                        json={{"dataframe_records": [{{"x": 2.0}}]}}, timeout=30)
finally:
    code = endpoint.stop()
tables = DeltaRsTables()
log = read_inference_log(table)
print(json.dumps({{
    "status": answer.status_code, "answer": answer.json(), "stop": code,
    "version": tables.version(table), "history": tables.history(table)["operation"].tolist(),
    "logged": None if log is None else log[["x", "prediction"]].to_dict("records"),
    "loaded": sorted(m for m in sys.modules if m.startswith(("pyspark", "py4j", "mlops_kit"))),
}}))
'''


def _register(ws: Workspace) -> tuple[str, float]:
    """A one-feature linear model as ``champion``; its prediction at x = 2."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from registered import register_champion

    X = pd.DataFrame({"x": [0.0, 1.0, 3.0, 4.0]})
    model = LinearRegression().fit(X, 3 * X["x"] + 1)
    ws.set_experiment("no_spark")
    uri = register_champion(model, X, ws.model_name("no_spark"))
    return uri, float(model.predict(pd.DataFrame({"x": [2.0]}))[0])


@pytest.mark.slow
def test_endpoint_and_inference_log_serve_and_log_without_pyspark(workspace, tmp_path):
    uri, expected = _register(workspace)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE.format(refused=REFUSED))
    marks = tmp_path / "marks.txt"
    env = workspace.to_environ()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(shim), str(Path(__file__).parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NO_SPARK_MARKS"] = str(marks)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT.format()), uri,
                           "no_spark_log"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert out["status"] == 200 and out["stop"] == 0
    assert out["answer"]["predictions"] == pytest.approx([expected])
    # the row the endpoint logged, read back with delta-rs
    assert out["logged"] == [{"x": 2.0, "prediction": pytest.approx(expected)}]
    assert out["version"] >= 0 and "WRITE" in out["history"]
    assert not [m for m in out["loaded"] if m.startswith(REFUSED)]

    lines = marks.read_text().splitlines()
    started = {line.split()[0] for line in lines if line.endswith(" started")}
    assert len(started) >= 2, f"the shim ran in the script only: {lines}"  # and the endpoint
    kit_refusals = [line for line in lines if " refused mlops_kit" in line]
    assert not kit_refusals, f"a serving process reached the Spark side: {kit_refusals}"

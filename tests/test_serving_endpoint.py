"""The real endpoint, as a subprocess on 127.0.0.1, serving a registered sklearn model."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_kit._price_model import pip_requirements
from mlops_kit.serving import Endpoint, free_port
from mlops_kit.workspace import Workspace

TOKEN = "test-token-0123456789abcdef"
NUMERIC = ["accommodates", "bathrooms", "review_scores_rating"]


def _register(ws: Workspace) -> str:
    """A small pipeline over string, bool, long and (nullable) double columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlops_kit.datasets.listings import listings
    from registered import register_champion

    frame = listings(300, seed=3)
    X = frame[["room_type", "host_is_superhost", *NUMERIC]]
    prep = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["room_type", "host_is_superhost"]),
        ("num", SimpleImputer(), NUMERIC),
    ])
    model = make_pipeline(prep, Ridge()).fit(X, frame["price"])
    name = ws.model_name("serving_test")
    ws.set_experiment("serving_test")
    return register_champion(model, X, name)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(workspace, model uri, endpoint with a token and a 4 KiB body limit)."""
    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    uri = _register(ws)
    endpoint = Endpoint(uri, token=TOKEN, max_body_bytes=4096).start()
    yield ws, uri, endpoint
    assert endpoint.stop() == 0
    assert not endpoint.running


@pytest.fixture
def client(served):
    with httpx.Client(base_url=served[2].url, headers=served[2].headers, timeout=30) as c:
        yield c


ROWS = [
    {"room_type": "Private room", "host_is_superhost": True, "accommodates": 2,
     "bathrooms": 1.0, "review_scores_rating": 4.8},
    {"room_type": "Entire home/apt", "host_is_superhost": False, "accommodates": 5,
     "bathrooms": 2.5, "review_scores_rating": None},
]


def _expected(served) -> list[float]:
    import mlflow

    ws, uri, _ = served
    ws.activate()  # the autouse fixture cleared MLflow's env between tests
    return mlflow.pyfunc.load_model(uri).predict(pd.DataFrame(ROWS)).tolist()


@pytest.mark.parametrize("payload", [
    {"dataframe_records": ROWS},
    {"dataframe_split": {"columns": list(ROWS[0]), "data": [list(r.values()) for r in ROWS]}},
    {"instances": ROWS},
    {"inputs": {k: [r[k] for r in ROWS] for k in ROWS[0]}},
])
def test_every_format_gives_the_predictions_of_in_process_pyfunc(served, client, payload):
    response = client.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["predictions"]
    np.testing.assert_allclose(response.json()["predictions"], _expected(served), rtol=1e-12)
    assert response.headers["x-request-id"]


BAD = [
    ("bad json", b'{"dataframe_records": [', "application/json", 400, "MALFORMED_REQUEST"),
    ("missing column", {"dataframe_records": [{"room_type": "Private room"}]}, None, 400,
     "missing column"),
    ("extra column", {"dataframe_records": [{**ROWS[0], "pool": True}]}, None, 400,
     "unexpected column"),
    ("wrong type", {"dataframe_records": [{**ROWS[0], "accommodates": "two"}]}, None, 400,
     "must hold an integer"),
    ("empty input", {"dataframe_records": []}, None, 400, "no rows"),
    ("empty body", b"", "application/json", 400, "not valid JSON"),
    ("not an object", [ROWS[0]], None, 400, "must be a JSON object"),
    ("oversized", {"dataframe_records": ROWS * 60}, None, 413, "PAYLOAD_TOO_LARGE"),
    ("content type", b"room_type\nPrivate room\n", "text/csv", 415, "application/json"),
]


@pytest.mark.parametrize("label, body, content_type, status, text", BAD,
                         ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_with_a_json_message_and_the_server_stays_up(
        client, label, body, content_type, status, text):
    if isinstance(body, bytes):
        response = client.post("/invocations", content=body,
                               headers={"Content-Type": content_type})
    else:
        response = client.post("/invocations", json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"error_code", "message"}
    assert text in response.text
    assert client.get("/ping").status_code == 200


def test_token_is_required_and_checked(served):
    url = served[2].url
    for headers in ({}, {"Authorization": "Bearer not-the-token-at-all"}):
        response = httpx.post(f"{url}/invocations", json={"inputs": ROWS}, headers=headers)
        assert response.status_code == 401
        assert TOKEN not in response.text
        assert httpx.get(f"{url}/version", headers=headers).status_code == 401
    ok = httpx.post(f"{url}/invocations", json={"inputs": ROWS},
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert httpx.get(f"{url}/ping").status_code == 200  # liveness stays open
    assert TOKEN not in served[2].log_tail(200)


def test_version_and_health_describe_the_model_and_no_pyspark(served, client):
    version = client.get("/version").json()
    assert version["model_name"].endswith(".serving_test")
    assert version["model_alias"] == "champion" and version["model_version"] == "1"
    assert version["run_id"] and version["fast_path"] is True
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["pyspark_imported"] is False


def _count(metrics: str, status: str) -> int:
    for line in metrics.splitlines():
        if line.startswith("mlops_kit_requests_total") and \
                'path="/invocations"' in line and f'status="{status}"' in line:
            return int(line.rsplit(" ", 1)[1])
    return 0


def test_metrics_count_requests_and_errors(client):
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/invocations", json={"inputs": ROWS})
    client.post("/invocations", json={"inputs": []})
    after = client.get("/metrics").text
    assert _count(after, "200") - _count(before, "200") == 3
    assert _count(after, "400") - _count(before, "400") == 1
    assert "mlops_kit_request_errors_total" in after
    assert "mlops_kit_request_duration_seconds_bucket" in after
    assert "process_resident_memory_bytes" in after


def test_inference_log_has_exactly_the_200s_after_a_clean_stop(served):
    from deltalake import DeltaTable

    ws, uri, _ = served
    ws.activate()
    endpoint = Endpoint(uri, log_table="inference_log_clean_stop").start()
    answered = []
    with httpx.Client(base_url=endpoint.url) as c:
        for i in range(7):
            r = c.post("/invocations", json={"dataframe_records": ROWS[: 1 + i % 2]},
                       headers={"X-Request-Id": f"req-{i}"})
            assert r.status_code == 200
            answered.append((f"req-{i}", 1 + i % 2))
            assert c.post("/invocations", json={"inputs": []}).status_code == 400
    assert endpoint.stop() == 0  # SIGTERM: drain, flush, exit 0
    log = DeltaTable(str(ws.table_path("inference_log_clean_stop"))).to_pandas()
    assert sorted(log["request_id"].unique()) == sorted(r for r, _ in answered)
    assert len(log) == sum(n for _, n in answered)
    assert set(log["status"]) == {200}
    assert set(log["model_alias"]) == {"champion"}
    first = log[(log.request_id == "req-1") & (log.row_index == 1)].iloc[0]
    assert '"review_scores_rating":null' in first["inputs"]
    np.testing.assert_allclose(float(first["prediction"]), _expected(served)[1], rtol=1e-12)


def test_cli_serve_flushes_the_log_on_ctrl_c(served):
    from deltalake import DeltaTable

    ws, uri, _ = served
    port = free_port()
    env = {**os.environ, "MLOPS_KIT_HOME": str(ws.root), "MLOPS_KIT_USER": ws.user}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlops-kit")), "serve", "--model",
         uri.removeprefix("models:/"), "--port", str(port), "--log-table", "cli_log"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120  # generous: CI machines are busy
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/invocations", json={"inputs": ROWS}, timeout=60)
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(DeltaTable(str(ws.table_path("cli_log"))).to_pandas()) == 2


def test_a_model_with_a_feature_spec_is_scored_from_keys_via_the_online_store(tmp_path):
    """Features missing from the request come from the SQLite online store (no Spark)."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LinearRegression

    from mlops_kit.features.online import SqliteOnlineStore

    ws = Workspace.from_env(root=tmp_path / "kit", user="tester").activate()
    X = pd.DataFrame({"f1": [1.0, 2.0, 3.0, 4.0], "f2": [0.5, 0.1, 0.7, 0.2]})
    model = LinearRegression().fit(X, [3.0, 4.0, 8.0, 7.0])
    spec = {"version": 1, "input_columns": ["f1", "f2"], "feature_columns": ["f1", "f2"],
            "lookups": [{"table_name": "listing_features", "lookup_key": ["listing_id"],
                         "feature_names": ["f1", "f2"], "rename_outputs": None,
                         "timestamp_lookup_key": None, "lookback_window_seconds": None,
                         "default_values": None}]}
    name = ws.model_name("with_features")
    ws.set_experiment("serving_features")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, metadata={"feature_spec": spec},
            signature=mlflow.models.infer_signature(X, model.predict(X)),
            pip_requirements=pip_requirements())
    MlflowClient().set_registered_model_alias(name, "champion", info.registered_model_version)
    store = SqliteOnlineStore(ws.online_store_path)
    store.write_table("listing_features", ["listing_id"],
                      [("listing_id", "INTEGER"), ("f1", "REAL"), ("f2", "REAL")],
                      [(7, 2.0, 0.1), (8, 4.0, 0.2)])
    store.close()
    with Endpoint(f"{name}@champion", log_table="features_log") as endpoint:
        keys_only = httpx.post(endpoint.invocations_url,
                               json={"dataframe_records": [{"listing_id": 8}, {"listing_id": 7}]})
        override = httpx.post(endpoint.invocations_url,
                              json={"inputs": {"listing_id": [7], "f1": [3.0]}})
    assert keys_only.status_code == 200, keys_only.text
    expected = model.predict(pd.DataFrame({"f1": [4.0, 2.0], "f2": [0.2, 0.1]}))
    np.testing.assert_allclose(keys_only.json()["predictions"], expected, rtol=1e-12)
    np.testing.assert_allclose(override.json()["predictions"],
                               model.predict(pd.DataFrame({"f1": [3.0], "f2": [0.1]})))

"""Rollout on the real endpoint: routing shares, sticky A/B, shadow, canary, blue-green, rolling."""
from __future__ import annotations

import threading
from pathlib import Path
import time

import httpx
import pytest
from scipy import stats

from mlops_kit._price_model import pip_requirements
from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.rollout.policies import CanaryPolicy, get_policy, read_audit, run_canary, switch
from mlops_kit.rollout.routing import assign, read_config, set_weights, write_config
from mlops_kit.workspace import Workspace

pytestmark = pytest.mark.timeout(120)


def _register_models(ws: Workspace) -> str:
    """Two price models (champion, challenger) and a pyfunc that fails on big listings."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlops_kit.datasets import listings
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES, train_price_model

    data = listings(300, seed=1)
    name = ws.model_name("price")
    client = MlflowClient()
    for alias, seed in (("champion", 1), ("challenger", 2)):
        trained = train_price_model(data, model_name="price", seed=seed, workspace=ws)
        client.set_registered_model_alias(name, alias, trained.version)

    class Flaky(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            if (model_input["accommodates"] >= 4).any():
                raise RuntimeError("this model cannot price big listings")
            return [100.0] * len(model_input)

    X = data[NUMERIC_FEATURES + CATEGORICAL_FEATURES]
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Flaky(), registered_model_name=name,
            signature=mlflow.models.infer_signature(X, [1.0] * len(X)),
            pip_requirements=pip_requirements())
    client.set_registered_model_alias(name, "broken", info.registered_model_version)
    return name


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """(workspace, registered name, rows of listings to send)."""
    from mlops_kit.datasets import listings
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    name = _register_models(ws)
    rows = listings(200, seed=9)[NUMERIC_FEATURES + CATEGORICAL_FEATURES].dropna()
    return ws, name, rows


def _routing(ws: Workspace, name: str, filename: str, **weights) -> Path:
    deployments = {d: {"model": f"models:/{name}@{d}", "weight": w} for d, w in weights.items()}
    return write_config(ws.root / filename, deployments, salt="exp-1")


def _record(rows, i: int) -> dict:
    return {"dataframe_records": [rows.iloc[i % len(rows)].to_dict()]}


def _small(rows):
    return rows[rows["accommodates"] < 4]


# ---------------------------------------------------------------- pure logic
def test_assignment_is_sticky_and_follows_the_weights():
    weights = {"control": 50, "treatment": 50}
    first = [assign(str(u), "salt", weights) for u in range(4000)]
    assert first == [assign(str(u), "salt", weights) for u in range(4000)]
    share = first.count("treatment") / len(first)
    low, high = stats.binom.interval(0.999, len(first), 0.5)
    assert low / len(first) <= share <= high / len(first)
    other_salt = [assign(str(u), "other", weights) for u in range(4000)]
    assert first != other_salt


def test_bad_configs_say_what_is_wrong(tmp_path):
    path = tmp_path / "routing.json"
    with pytest.raises(ConfigError, match="no live deployment a weight > 0"):
        write_config(path, {"blue": {"model": "m@champion", "weight": 0}})
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_config(path)
    with pytest.raises(NotFoundError, match="No rollout policy named 'nope'"):
        get_policy("nope")


def test_canary_policy_steps_promotes_and_rolls_back():
    policy = CanaryPolicy(min_requests=10, max_error_rate=0.05, max_p99_ms=100)
    ok = {"requests": 20, "errors": 0, "error_rate": 0.0, "p99_ms": 10.0}
    assert policy.decide(5, ok).action == "step" and policy.decide(5, ok).weight == 25
    assert policy.decide(100, ok).action == "promote"
    assert policy.decide(5, {**ok, "requests": 3}).action == "wait"
    assert policy.decide(25, {**ok, "errors": 2, "error_rate": 0.1}).action == "rollback"
    assert policy.decide(25, {**ok, "p99_ms": 500.0}).action == "rollback"


# -------------------------------------------------------------- real endpoint
def test_traffic_shares_reload_without_restart_and_shadow_is_logged(kit):
    from deltalake import DeltaTable

    from mlops_kit.serving.routed import RoutedEndpoint

    ws, name, rows = kit
    ws.activate()  # the autouse fixture cleared the environment between tests
    path = _routing(ws, name, "shares.json", champion=80, challenger=20)
    config = read_config(path)
    config["deployments"]["mirror"] = {"model": f"models:/{name}@challenger", "shadow": True}
    write_config(path, config["deployments"], salt="exp-1")
    endpoint = RoutedEndpoint(path, poll_seconds=0.2, seed=0).start()
    try:
        pid = endpoint.rollout()["pid"]
        with httpx.Client(base_url=endpoint.url, timeout=30) as client:
            seen = [client.post("/invocations", json=_record(rows, i)).json() for i in range(300)]
            share = sum(s["deployment"] == "challenger" for s in seen) / len(seen)
            low, high = stats.binom.interval(0.999, len(seen), 0.2)
            assert low / len(seen) <= share <= high / len(seen)
            assert {s["deployment"] for s in seen} == {"champion", "challenger"}
            sticky = {client.post("/invocations", json=_record(rows, 0),
                                  headers={"x-user-id": "user-7"}).json()["deployment"]
                      for _ in range(10)}
            assert sticky == {assign("user-7", "exp-1", {"champion": 80, "challenger": 20})}

            set_weights(path, champion=0, challenger=100)
            deadline = time.monotonic() + 10
            while endpoint.rollout()["deployments"]["challenger"]["weight"] != 100:
                assert time.monotonic() < deadline, "the endpoint did not reload the config"
                time.sleep(0.1)
            after = {client.post("/invocations", json=_record(rows, i)).json()["deployment"]
                     for i in range(20)}
            assert after == {"challenger"}
            assert endpoint.rollout()["pid"] == pid == endpoint.process.pid
    finally:
        assert endpoint.stop() == 0
    log = DeltaTable(str(ws.table_path("rollout_log"))).to_pandas()
    shadow = log[log["shadow"]]
    assert len(shadow) == 330 and set(shadow["deployment"]) == {"mirror"}
    assert len(log[~log["shadow"]]) == 330


def test_canary_promotes_a_good_challenger_and_rolls_back_a_broken_one(kit):
    from mlflow.tracking import MlflowClient

    from mlops_kit.serving.routed import RoutedEndpoint

    ws, name, rows = kit
    ws.activate()  # the autouse fixture cleared the environment between tests
    client = MlflowClient()
    challenger_version = client.get_model_version_by_alias(name, "challenger").version
    path = _routing(ws, name, "canary.json", champion=100, challenger=0)
    policy = CanaryPolicy(min_requests=5, max_error_rate=0.02, max_p99_ms=2000)
    audit = ws.root / "audit.jsonl"
    endpoint = RoutedEndpoint(path, poll_seconds=0.2, seed=1).start()
    try:
        with httpx.Client(base_url=endpoint.url, timeout=30) as http:
            traffic = lambda: [http.post("/invocations", json=_record(rows, i)) for i in range(80)]  # noqa: E731
            decisions = run_canary(endpoint, path, policy, traffic=traffic, audit=audit)
            assert [d.action for d in decisions if d.action != "wait"] == ["step", "step", "promote"]
            assert client.get_model_version_by_alias(name, "champion").version == challenger_version

            client.set_registered_model_alias(name, "challenger",
                                              client.get_model_version_by_alias(name, "broken").version)
            time.sleep(0.6)   # the endpoint follows the alias move
            decisions = run_canary(endpoint, path, policy, traffic=traffic, audit=audit)
            assert decisions[-1].action == "rollback"
            deadline = time.monotonic() + 15  # the endpoint polls its config: give a busy machine time
            while endpoint.rollout()["deployments"]["challenger"]["weight"] != 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert endpoint.rollout()["deployments"]["challenger"]["weight"] == 0
            answers = [http.post("/invocations", json=_record(rows, i)) for i in range(40)]
            assert {r.status_code for r in answers} == {200}
    finally:
        assert endpoint.stop() == 0
    actions = [e["action"] for e in read_audit(audit)]
    assert actions[-1] == "rollback" and "promote" in actions


def _hammer(send, stop: threading.Event, results: list, limit: int = 5000) -> threading.Thread:
    def run():
        deadline = time.monotonic() + 60
        while not stop.is_set() and len(results) < limit and time.monotonic() < deadline:
            try:
                results.append(send(len(results)).status_code)
            except httpx.HTTPError as err:
                results.append(type(err).__name__)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_blue_green_switch_and_rollback_fail_no_request(kit):
    from mlops_kit.serving.routed import RoutedEndpoint

    ws, name, rows = kit
    ws.activate()  # the autouse fixture cleared the environment between tests
    deployments = {"blue": {"model": f"models:/{name}/1", "weight": 100},
                   "green": {"model": f"models:/{name}/2", "weight": 0}}
    path = write_config(ws.root / "bluegreen.json", deployments)
    endpoint = RoutedEndpoint(path, poll_seconds=0.2).start()
    stop, results = threading.Event(), []
    try:
        with httpx.Client(base_url=endpoint.url, timeout=30) as http:
            thread = _hammer(lambda i: http.post("/invocations", json=_record(rows, i)), stop, results)
            time.sleep(0.5)
            switch(path, "green", audit=ws.root / "bg.jsonl")
            time.sleep(1.0)
            switch(path, "blue", reason="rollback", audit=ws.root / "bg.jsonl")
            time.sleep(1.0)
            stop.set()
            thread.join(10)
            assert endpoint.rollout()["deployments"]["green"]["requests"] > 0
    finally:
        assert endpoint.stop() == 0
    assert len(results) > 20 and set(results) == {200}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rolling_update_of_three_processes_fails_no_request(kit):
    from mlops_kit.rollout.fleet import Fleet

    ws, name, rows = kit
    ws.activate()  # the autouse fixture cleared the environment between tests
    old, new = "1", "2"
    stop, results = threading.Event(), []
    with Fleet(f"models:/{name}/{old}", size=3) as fleet:
        assert fleet.versions() == [old] * 3
        thread = _hammer(lambda i: fleet.post(_record(rows, i)), stop, results)
        fleet.rolling_update(f"models:/{name}/{new}")
        stop.set()
        thread.join(10)
        assert fleet.versions() == [new] * 3
    assert len(results) > 20 and set(results) == {200}


def test_the_canary_checker_refuses_a_decision_that_is_not_one():
    """The decision rule (ex2) and the ramp (ex3) are tried in tests/test_rollout_lab.py."""
    from mlops_kit.labs.checks.rollout import check_ex1

    assert not check_ex1("maybe", endpoint_url="http://127.0.0.1:9", max_error_rate=0.01,
                         max_p99_ms=100).passed


#: exercises whose checker these tests feed a right and a wrong answer
COVERS_EXERCISES = [("rollout", "ex1")]

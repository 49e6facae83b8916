"""Every server of the kit asks who is calling: a second OS user gets nothing from the first's.

The first user is the one running the tests; the second is an OS user made
here with ``useradd`` (so the tests need root, and are skipped otherwise), and
every attempt of theirs runs as that user (``setpriv`` to their uid and gid),
so file permissions are the real ones. What they try, against the first
user's workspace:

- the Spark Connect server: without a token, with a wrong one, with the token
  file or the server's environment (``/proc/<pid>/environ``) as a source;
- the MLflow server (``mlops-kit mlflow-server start``: basic-auth by default):
  anonymous calls, a wrong password, and their own account on the same server,
  against the first user's experiment and registered model, with plain HTTP.

Each test prints what it measured (``pytest -s`` shows it; docs/RELIABILITY.md
quotes the figures).
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from mlops_kit.exceptions import NotFoundError
from mlops_kit.workspace import Workspace, use_workspace

pytestmark = [pytest.mark.slow, pytest.mark.own_spark]

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# ------------------------------------------------------------------ the users
@pytest.fixture(scope="module")
def stranger() -> pwd.struct_passwd:
    """A second OS user of this machine, made for the module and removed after it."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates a second OS user (useradd) and runs as it")
    if not (shutil.which("useradd") and shutil.which("userdel") and shutil.which("setpriv")):
        pytest.skip("needs useradd, userdel and setpriv to run code as a second OS user")
    name = f"mkstranger{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", "--user-group", name],
                   check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def as_user(user: pwd.struct_passwd, code: str, *args: str, timeout: float = 300) -> dict:
    """Run ``code`` as ``user`` (its uid, gid, no other group); return the JSON it prints last."""
    command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
               "--", PYTHON, "-c", textwrap.dedent(code), *args]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
           "LANG": "C.UTF-8"}
    done = subprocess.run(command, env=env, cwd="/", capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.pop("uid") == user.pw_uid  # it really ran as them
    return result


@pytest.fixture(scope="module")
def owner_ws(tmp_path_factory) -> Workspace:
    """The first user's workspace, under a folder every user may enter (as /home is).

    The workspace root itself is made 0700 by the kit; the tests also open it to
    0755 for a moment to show the secret files hold by their own mode (0600).
    """
    base = Path(tempfile.mkdtemp(prefix="mlops-kit-security-", dir="/tmp"))
    base.chmod(0o755)
    ws = Workspace(root=base / "kit", user="ada")
    yield ws
    shutil.rmtree(base, ignore_errors=True)


def _opened(ws: Workspace):
    """Context: the workspace root 0755 (a learner who opened it), then private again."""
    import contextlib

    @contextlib.contextmanager
    def opened():
        ws.root.chmod(0o755)
        try:
            yield
        finally:
            ws.root.chmod(0o700)

    return opened()


def _kit_env(ws: Workspace, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_KIT_", "MLFLOW_", "SPARK_"))}
    env.update(MLOPS_KIT_HOME=str(ws.root), MLOPS_KIT_USER=ws.user, **extra)
    return env


# --------------------------------------------------------------- Spark Connect
@pytest.fixture(scope="module")
def spark_server(owner_ws):
    from mlops_kit.spark_server import start_server, stop_server

    started = time.perf_counter()
    info = start_server(owner_ws)
    print(f"\n[figures] Spark Connect server with a token ready in "
          f"{time.perf_counter() - started:.1f} s")
    yield info
    with __import__("contextlib").suppress(NotFoundError):
        stop_server(owner_ws)


_CONNECT_ATTEMPTS = """
    import json, os, sys, time
    from pyspark.sql.connect.session import SparkSession

    port, token_file, pid, secret = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    result = {"uid": os.getuid()}

    def attempt(url):
        started = time.perf_counter()
        try:
            spark = SparkSession.builder.remote(url).create()  # a new session each time
            rows = spark.read.text(secret).count()  # what an intruder wants: the owner's file
            outcome = f"ran: {rows} rows"
        except Exception as err:
            text = str(err)
            outcome = ("UNAUTHENTICATED" if "UNAUTHENTICATED" in text
                       else f"{type(err).__name__}: {text[:200]}")
        return outcome, round(time.perf_counter() - started, 2)

    result["no_token"] = attempt(f"sc://127.0.0.1:{port}")
    result["no_token_localhost"] = attempt(f"sc://localhost:{port}")
    result["wrong_token"] = attempt(f"sc://localhost:{port}/;token=" + "x" * 43)

    def read(path):
        try:
            with open(path) as handle:
                return "read: " + handle.read()[:8]
        except OSError as err:
            return type(err).__name__

    result["token_file"] = read(token_file)
    result["server_environ"] = read(f"/proc/{pid}/environ")
    with open(f"/proc/{pid}/cmdline", "rb") as handle:  # what ps shows every user
        result["cmdline"] = handle.read().decode(errors="replace")
    print(json.dumps(result))
"""


def test_a_second_user_cannot_use_the_first_users_spark_connect_server(
        owner_ws, spark_server, stranger):
    from mlops_kit.spark_server import read_token, token_path

    token = read_token(owner_ws)
    assert token and len(token) >= 40
    assert token_path(owner_ws).stat().st_mode & 0o777 == 0o600
    assert owner_ws.root.stat().st_mode & 0o777 == 0o700
    secret = owner_ws.root / "users" / "ada" / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("the owner's private line\n")
    secret.chmod(0o600)

    with _opened(owner_ws):  # even with the folder opened, the token's own mode holds
        tried = as_user(stranger, _CONNECT_ATTEMPTS, str(spark_server["port"]),
                        str(token_path(owner_ws)), str(spark_server["pid"]), str(secret))
    cmdline = tried.pop("cmdline")
    print(f"\n[figures] a second user's attempts on the Spark Connect server: {tried}")
    for attempt in ("no_token", "no_token_localhost", "wrong_token"):
        outcome, seconds = tried[attempt]
        assert outcome == "UNAUTHENTICATED", (attempt, outcome)
        assert seconds < 30, (attempt, seconds)
    assert tried["token_file"] == "PermissionError"
    assert tried["server_environ"] == "PermissionError"
    assert "spark-internal" in cmdline  # the server's command line, as ps shows it ...
    assert token not in cmdline and "authenticate.token" not in cmdline  # ... has no token
    # nor has any process of the server's group, nor its log
    leaking = []
    for proc in [psutil.Process(spark_server["pid"]),
                 *psutil.Process(spark_server["pid"]).children(recursive=True)]:
        try:
            leaking += [proc.pid] if token in " ".join(proc.cmdline()) else []
        except psutil.Error:  # a Python worker that has just exited
            pass
    assert leaking == []
    assert token not in Path(spark_server["log"]).read_text(errors="replace")


def test_a_kit_client_of_the_workspace_connects_with_the_token_and_runs_a_query(
        owner_ws, spark_server, tmp_path):
    from mlops_kit.spark_server import read_token

    client = textwrap.dedent("""
        import time
        from mlops_kit.spark import get_spark, is_connect, session_url
        started = time.perf_counter()
        spark = get_spark()
        assert is_connect(spark), type(spark)
        rows = spark.range(1000).selectExpr("sum(id) AS s").first().s
        print(rows, session_url(), round(time.perf_counter() - started, 2))
    """)
    done = subprocess.run([PYTHON, "-c", client], env=_kit_env(owner_ws), cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    total, url, seconds = done.stdout.split()
    assert int(total) == 499500
    port = spark_server["port"]
    assert url == f"sc://localhost:{port}/;token=***"  # shown without the token
    assert "Starting" not in done.stderr  # the running server was used
    assert read_token(owner_ws) not in done.stdout + done.stderr
    print(f"\n[figures] a kit client of the workspace: first query in {seconds} s")

    # a process of another workspace reaches the same server with MLOPS_KIT_SPARK_TOKEN
    other = Workspace(root=tmp_path / "kit", user="bob")
    explicit = ("from mlops_kit.spark import get_spark\n"
                "print(get_spark().range(7).count())\n")
    env = _kit_env(other, MLOPS_KIT_SPARK_MASTER=spark_server["url"])
    refused = subprocess.run([PYTHON, "-c", explicit], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stderr
    env["MLOPS_KIT_SPARK_TOKEN"] = read_token(owner_ws)
    allowed = subprocess.run([PYTHON, "-c", explicit], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert allowed.returncode == 0 and allowed.stdout.strip() == "7", allowed.stderr[-3000:]


def state_path_text(ws: Workspace) -> str:
    from mlops_kit.spark_server import state_path

    return state_path(ws).read_text()


def test_the_token_is_new_at_every_start_and_gone_after_a_stop(tmp_path, monkeypatch):
    """Without starting a JVM: the start writes a fresh 0600 token, the stop removes it."""
    from mlops_kit import _processes
    from mlops_kit import spark_server as srv

    ws = Workspace(root=tmp_path / "kit", user="ada")
    seen = []

    class FakePopen:  # stands in for spark-submit: records the environment it was given
        def __init__(self, command, env, **_):
            seen.append((command, env[srv.TOKEN_ENV]))
            self.pid = os.getpid()

        def poll(self):
            return None

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(_processes.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(_processes, "wait_until", lambda *a, **k: None)
    monkeypatch.setattr(srv, "server_command", lambda ws, port, master: ["spark-submit", str(port)])
    for _ in range(2):
        info = srv.start_server(ws)
        assert info["authenticated"] and seen[-1][1] not in json.dumps(info)
        assert seen[-1][1] not in state_path_text(ws)
        assert srv.read_token(ws) == seen[-1][1]
        assert srv.token_path(ws).stat().st_mode & 0o777 == 0o600
        assert srv.connect_url(ws, info) == f"sc://localhost:{info['port']}/;token={seen[-1][1]}"
        assert seen[-1][1] not in " ".join(seen[-1][0])  # not on the command line
        srv._forget(ws, info)  # what a stop does after the process is gone
        assert not srv.token_path(ws).exists()
    assert seen[0][1] != seen[1][1]


def test_an_explicit_master_without_a_token_is_used_as_it_is(tmp_path, monkeypatch):
    """A server started without a token (a shared test server, an older kit) keeps working."""
    from mlops_kit.spark import _explicit_connect_url

    ws = Workspace(root=tmp_path / "kit", user="ada", spark_master="sc://127.0.0.1:37267")
    monkeypatch.delenv("MLOPS_KIT_SPARK_TOKEN", raising=False)
    assert _explicit_connect_url(ws) == "sc://127.0.0.1:37267"
    monkeypatch.setenv("MLOPS_KIT_SPARK_TOKEN", "t0k")
    assert _explicit_connect_url(ws) == "sc://localhost:37267/;token=t0k"
    own = Workspace(root=ws.root, user="ada", spark_master="sc://h:1/;token=mine")
    assert _explicit_connect_url(own) == "sc://h:1/;token=mine"  # the URL's own wins


# ----------------------------------------------------------------------- MLflow
@pytest.fixture(scope="module")
def mlflow_server(owner_ws):
    """``mlops-kit mlflow-server start`` for the first user: basic-auth by default."""
    from mlops_kit.registry.server import start_detached, stop_detached

    started = time.perf_counter()
    info = start_detached(owner_ws)
    print(f"\n[figures] MLflow server with basic-auth ready in "
          f"{time.perf_counter() - started:.1f} s")
    yield info
    with __import__("contextlib").suppress(NotFoundError):
        stop_detached(owner_ws)


_MLFLOW_ATTEMPTS = """
    import json, os, sys
    import httpx

    url, experiment_id, model, own_password, credentials = sys.argv[1:6]
    result = {"uid": os.getuid()}
    api = url + "/api/2.0/mlflow"
    mine = ("bob", own_password)
    tries = {
        "get_experiment": ("GET", "/experiments/get", {"experiment_id": experiment_id}),
        "search_runs": ("POST", "/runs/search", {"experiment_ids": [experiment_id]}),
        "create_run": ("POST", "/runs/create", {"experiment_id": experiment_id}),
        "delete_experiment": ("POST", "/experiments/delete", {"experiment_id": experiment_id}),
        "get_model": ("GET", "/registered-models/get", {"name": model}),
        "set_alias": ("POST", "/registered-models/alias",
                      {"name": model, "alias": "champion", "version": "1"}),
        "set_model_tag": ("POST", "/registered-models/set-tag",
                          {"name": model, "key": "owner", "value": "bob"}),
        "delete_model": ("DELETE", "/registered-models/delete", {"name": model}),
    }
    for who, auth in (("anonymous", None), ("wrong_password", ("ada", "guess" * 4)),
                      ("own_account", mine)):
        for what, (method, path, body) in tries.items():
            kwargs = {"params": body} if method == "GET" else {"json": body}
            answer = httpx.request(method, api + path, auth=auth, timeout=30, **kwargs)
            outcome = answer.status_code
            if what == "search_runs" and outcome == 200:  # a search answers what one may see
                outcome = f"200 with {len(answer.json().get('runs', []))} runs"
            result[f"{who}/{what}"] = outcome
    listed = httpx.get(api + "/experiments/search", params={"max_results": 1000}, auth=mine,
                       timeout=30).json().get("experiments", [])
    result["own_account/listed"] = sorted(e["name"] for e in listed)
    models = httpx.get(api + "/registered-models/search", params={"max_results": 1000},
                       auth=mine, timeout=30).json().get("registered_models", [])
    result["own_account/models_listed"] = sorted(m["name"] for m in models)
    try:
        open(credentials).read()
        result["credentials_file"] = "read"
    except OSError as err:
        result["credentials_file"] = type(err).__name__
    print(json.dumps(result))
"""


def test_a_second_user_cannot_read_or_change_the_first_users_experiments_and_models(
        owner_ws, mlflow_server, stranger):
    from mlflow import MlflowClient

    from mlops_kit.registry.server import auth_credentials

    url = mlflow_server["url"]
    assert mlflow_server["auth"] is True
    # the first user, as a kit client: the credentials come from the workspace
    ws = Workspace.from_env(root=owner_ws.root, user="ada", environ={
        "MLOPS_KIT_TRACKING_URI": url}).activate()
    try:
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "ada"
        experiment_id = ws.set_experiment("pricing")
        client = MlflowClient()
        model = ws.model_name("price")
        client.create_registered_model(model, description="ada's model")
        with __import__("mlflow").start_run(experiment_id=experiment_id):
            __import__("mlflow").log_metric("rmse", 1.5)
    finally:
        use_workspace(None)

    creds_path = owner_ws.tracking_server_auth_path
    assert creds_path.stat().st_mode & 0o777 == 0o600
    assert owner_ws.tracking_server_auth_db_path.stat().st_mode & 0o777 == 0o600
    creds = auth_credentials(owner_ws)
    admin = (creds["admin"]["username"], creds["admin"]["password"])
    # the class's admin gives the second user an account of their own on the server
    bob_password = "bob-has-his-own-password-42"
    made = httpx.post(f"{url}/api/2.0/mlflow/users/create", auth=admin, timeout=30,
                      json={"username": "bob", "password": bob_password})
    assert made.status_code == 200, made.text

    with _opened(owner_ws):
        tried = as_user(stranger, _MLFLOW_ATTEMPTS, url, experiment_id, model, bob_password,
                        str(creds_path))
    print(f"\n[figures] a second user's attempts on the MLflow server: {tried}")
    assert tried.pop("credentials_file") == "PermissionError"
    assert "/Users/ada/dev/pricing" not in tried.pop("own_account/listed")
    assert tried.pop("own_account/models_listed") == []
    assert tried.pop("own_account/search_runs") in (403, "200 with 0 runs")
    for key, status in tried.items():
        who = key.split("/")[0]
        assert status == (403 if who == "own_account" else 401), (key, status)

    # nothing changed, and the admin can do what the second user could not
    api = f"{url}/api/2.0/mlflow"
    experiment = httpx.get(f"{api}/experiments/get", params={"experiment_id": experiment_id},
                           auth=admin, timeout=30)
    assert experiment.status_code == 200
    assert experiment.json()["experiment"]["lifecycle_stage"] == "active"
    got = httpx.get(f"{api}/registered-models/get", params={"name": model}, auth=admin,
                    timeout=30)
    assert got.status_code == 200
    assert got.json()["registered_model"].get("aliases", []) == []
    assert "tags" not in got.json()["registered_model"]
    tagged = httpx.post(f"{api}/registered-models/set-tag", auth=admin, timeout=30,
                        json={"name": model, "key": "reviewed", "value": "yes"})
    assert tagged.status_code == 200
    runs = httpx.post(f"{api}/runs/search", auth=admin, timeout=30,
                      json={"experiment_ids": [experiment_id]}).json()["runs"]
    assert [r["data"]["metrics"][0]["value"] for r in runs] == [1.5]
    # and the first user still works with their own credentials
    assert httpx.get(f"{api}/registered-models/get", params={"name": model}, timeout=30,
                     auth=("ada", creds["users"]["ada"])).status_code == 200


def test_the_cli_starts_the_server_with_auth_unless_told_not_to(tmp_path):
    """Command lines only (no server): the CLI default is basic-auth, --no-auth opts out."""
    from click.testing import CliRunner

    from mlops_kit.cli import main
    from mlops_kit.registry import server as srv

    calls = []

    def fake_start(ws, **kwargs):
        calls.append(kwargs["auth"])
        return {"pid": 1, "port": 2, "url": "http://127.0.0.1:2", "backend": "sqlite:///x",
                "startup_seconds": 0.1, "auth": kwargs["auth"], "user": ws.user,
                "credentials": str(ws.tracking_server_auth_path)}

    original = srv.start_detached
    srv.start_detached = fake_start
    try:
        env = {"MLOPS_KIT_HOME": str(tmp_path / "kit"), "MLOPS_KIT_USER": "ada"}
        use_workspace(None)
        plain = CliRunner().invoke(main, ["mlflow-server", "start"], env=env)
        use_workspace(None)
        opted_out = CliRunner().invoke(main, ["mlflow-server", "start", "--no-auth"], env=env)
    finally:
        srv.start_detached = original
        use_workspace(None)
    assert calls == [True, False], plain.output + opted_out.output
    assert "basic-auth; you are 'ada'" in plain.output
    assert "every local user can read and change it" in opted_out.output
    # the command line of an auth server names the app, and no secret
    ws = Workspace(root=tmp_path / "kit2", user="ada")
    server = srv.TrackingServer(ws, port=5999, basic_auth=True)
    env = server._env(ws)
    command = " ".join(server.command())
    assert "--app-name basic-auth" in command
    for secret in (env["MLFLOW_AUTH_ADMIN_PASSWORD"], env["MLFLOW_FLASK_SERVER_SECRET_KEY"]):
        assert secret not in command
    settings = Path(env["MLFLOW_AUTH_CONFIG_PATH"]).read_text()
    assert "default_permission = NO_PERMISSIONS" in settings
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] not in settings

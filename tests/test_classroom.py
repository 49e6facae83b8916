"""A real classroom, end to end: JupyterHub, three learners, an instructor, one MLflow.

``mlops-kit classroom up`` makes three learner accounts and an instructor, starts
PostgreSQL, the class MLflow (basic-auth) and JupyterHub on 127.0.0.1. The test
then does what a class does:

* starts the three learners' Jupyter servers through the hub's REST API (the
  classroom's service token) and checks their release (the lab in their home,
  the private workspace);
* runs two labs (each learner has typed in the answers) in the three servers'
  kernels at once, over the Jupyter server's REST API and kernel websocket: the
  code runs as each learner, in their server, never on the host. The
  mlflow-models lab logs runs and registers a model; the testing lab is graded;
* checks that each learner's runs and model exist under their own MLflow account
  only (the instructor, an admin, sees all three) and that from a learner's
  kernel another learner's experiment, run, model and workspace files are refused;
* runs a query in each learner's own Spark Connect server, on the class's
  standalone master, and checks that another learner's server refuses them;
* reads the instructor's progress table (three learners, every exercise passed),
  collects the testing lab and grades it (one CSV row per learner and exercise);
* ``classroom down --remove-users`` leaves no process and no account.

Needs root (OS accounts, the local process spawner), Java, PostgreSQL's server
binaries, setfacl, bubblewrap and the proxy (``./run.sh test`` installs them as
root); skipped with the reason otherwise, except that in CI (``$CI``) a missing
tool is a failure. Every account, process and folder it makes is removed, also
when it fails.
"""
from __future__ import annotations

import asyncio
import csv
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from mlops_kit._processes import free_port, process_alive

#: the end-to-end test makes OS accounts and servers: one at a time, in one test process
pytestmark = pytest.mark.xdist_group("classroom")

REPO = Path(__file__).resolve().parents[1]
KIT = [str(Path(sys.executable).parent / "mlops-kit")]
#: (module folder, notebook stem, lab id): the MLflow lab logs runs and registers a
#: model under each learner's account; the testing lab is the one collected and graded
#: (its checks run in the grading sandbox alone; it needs no tracking server)
MLFLOW_LAB = ("02-model-management", "01L-mlflow-models-lab", "mlflow-models-lab")
GRADED_LAB = ("04-production", "04L-testing-lab", "testing-lab")
LABS = (MLFLOW_LAB, GRADED_LAB)
LAB_DIR, LAB_STEM, LAB_ID = MLFLOW_LAB


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} ./run.sh test installs it as root; check that step.")
    pytest.skip(reason)


def _preconditions() -> None:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("The classroom makes OS accounts and runs each learner's server as that "
                    "learner: it needs root (./run.sh test as root, as CI runs it).")
    from mlops_kit.classroom.services import pg_bin_dir

    for tool, package in (("useradd", "passwd"), ("setfacl", "acl"), ("bwrap", "bubblewrap")):
        if shutil.which(tool) is None:
            _missing(f"{tool} is missing (Debian: apt-get install {package}).")
    if pg_bin_dir() is None:
        _missing("PostgreSQL's initdb/pg_ctl are missing (Debian: apt-get install postgresql).")
    import importlib.util

    if importlib.util.find_spec("jupyterhub") is None:
        _missing("JupyterHub is missing: pip install -e '.[classroom]'.")
    from mlops_kit.classroom.hub import proxy_command
    from mlops_kit.exceptions import EnvironmentProblem

    try:
        proxy_command()
    except EnvironmentProblem as err:
        _missing(str(err))


def _kit(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_KIT_", "MLFLOW_"))}
    result = subprocess.run([*KIT, *args], capture_output=True, text=True, timeout=timeout,
                            env=env, cwd=REPO)
    assert result.returncode == 0, f"mlops-kit {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


# ------------------------------------------------------------ a kernel in a learner's server
class RemoteKernel:
    """A kernel started through a learner's Jupyter server, driven over its websocket."""

    def __init__(self, hub_url: str, user: str, token: str) -> None:
        self.base = f"{hub_url}/user/{user}"
        self.headers = {"Authorization": f"token {token}"}
        self.user = user
        self.session = uuid.uuid4().hex

    async def start(self, path: str = "") -> "RemoteKernel":
        import httpx
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        async with httpx.AsyncClient(timeout=120, headers=self.headers) as http:
            answer = await http.post(f"{self.base}/api/kernels",
                                     json={"name": "python3", "path": path})
            answer.raise_for_status()
            self.id = answer.json()["id"]
        url = self.base.replace("http://", "ws://", 1) + f"/api/kernels/{self.id}/channels"
        self.ws = await websocket_connect(
            HTTPRequest(url, headers=self.headers, connect_timeout=120, request_timeout=120),
            max_message_size=2**28)
        return self

    async def run(self, code: str, timeout: float = 900) -> tuple[dict, list[dict]]:
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": self.user, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        outputs: list[dict] = []
        reply, idle = None, False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            raw = await asyncio.wait_for(self.ws.read_message(), deadline - time.monotonic())
            if raw is None:
                raise RuntimeError(f"{self.user}'s kernel closed its websocket")
            msg = json.loads(raw)
            if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif kind in ("stream", "execute_result", "display_data", "error"):
                outputs.append(msg["content"])
        return reply, outputs

    async def stop(self) -> None:
        import httpx

        self.ws.close()
        async with httpx.AsyncClient(timeout=60, headers=self.headers) as http:
            await http.delete(f"{self.base}/api/kernels/{self.id}")


def _text(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if "text" in out:
            parts.append(out["text"])
        elif "ename" in out:
            parts.append(f"{out['ename']}: {out['evalue']}")
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


# ------------------------------------------------------------ the classroom
def _cleanup(state: Path, names: list[str]) -> list[str]:
    """Whatever the test left: stop it, remove it; return what had to be removed."""
    from mlops_kit.classroom import hub, services

    left = []
    if (state / "classroom.json").exists():
        try:
            hub.down(state, remove_users=True, say=lambda line: None)
        except Exception as err:  # noqa: BLE001 - keep cleaning up
            left.append(f"down failed: {err}")
    for name in [*names, services.spark_account(services.class_group(state))]:
        if services.account_exists(name):
            left.append(f"account {name}")
            services.remove_account(name)
    group = services.class_group(state)
    try:
        import grp

        grp.getgrnam(group)
        left.append(f"group {group}")
        services.remove_class_group(group)
    except KeyError:
        pass
    return left


@pytest.fixture(scope="module")
def classroom():
    _preconditions()
    base = Path(tempfile.mkdtemp(prefix="mlops-kit-classroom-"))
    base.chmod(0o755)  # PostgreSQL's folder (run by `postgres`) sits inside
    state = base / "state"
    tag = "mk" + secrets.token_hex(2)
    learners = [f"{tag}_{name}" for name in ("ada", "bob", "cyd")]
    instructor = f"{tag}_teach"
    roster = base / "roster.csv"
    roster.write_text("username,name\n" + "".join(
        f"{name},{name.split('_')[1].title()} Learner\n" for name in learners))
    names = [*learners, instructor]
    for name in names:
        assert not _account(name), f"{name} exists before the test made it"
    port = free_port()
    try:
        started = time.perf_counter()
        _kit("classroom", "up", "--roster", str(roster), "--instructor", instructor,
             "--state", str(state), "--port", str(port))
        record = json.loads((state / "classroom.json").read_text())
        yield {"state": state, "learners": learners, "instructor": instructor,
               "record": record, "base": base, "up_seconds": time.perf_counter() - started}
    finally:
        left = _cleanup(state, names)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"the test left {left}"


def _footprint(name: str) -> dict:
    """Resident memory and CPU time of the processes running as ``name`` (their server,
    its kernels and their children, ended ones included in the CPU time)."""
    import psutil

    from mlops_kit.classroom.services import processes_of

    rss = cpu = 0.0
    for proc in processes_of(name):
        try:
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return {"rss_mb": rss / 2**20, "cpu_s": cpu}


def _account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _hub(classroom, method: str, path: str, **kwargs):
    import httpx

    record = classroom["record"]
    return httpx.request(method, f"{record['hub_url']}/hub/api{path}", timeout=60,
                         headers={"Authorization": f"token {record['token']}"}, **kwargs)


def _start_servers(classroom) -> None:
    for name in classroom["learners"]:
        answer = _hub(classroom, "POST", f"/users/{name}/server")
        assert answer.status_code in (201, 202), answer.text
    deadline = time.monotonic() + 300
    waiting = set(classroom["learners"])
    while waiting and time.monotonic() < deadline:
        for name in sorted(waiting):
            user = _hub(classroom, "GET", f"/users/{name}").json()
            if (user.get("servers") or {}).get("", {}).get("ready"):
                waiting.discard(name)
        time.sleep(1)
    assert not waiting, f"servers not ready after 300 s: {sorted(waiting)}"


def _solve_in_home(name: str, folder: str, stem: str) -> Path:
    """The learner has typed the answers into the lab the classroom released to them."""
    home = Path(pwd.getpwnam(name).pw_dir)
    lab = home / "labs" / folder / f"{stem}.ipynb"
    assert lab.exists(), f"{lab} was not released"
    assert lab.stat().st_uid == pwd.getpwnam(name).pw_uid
    shutil.copyfile(REPO / "solutions" / folder / f"{stem}.ipynb", lab)
    os.chown(lab, pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid)
    return lab


async def _run_labs(hub_url: str, token: str, name: str, labs: list[Path]) -> dict:
    """Run each lab notebook, cell after cell, in a kernel of the learner's server."""
    import nbformat

    started = time.perf_counter()
    result: dict = {}
    for lab in labs:
        nb = nbformat.read(lab, as_version=4)
        kernel = await RemoteKernel(hub_url, name, token).start(f"labs/{lab.parent.name}")
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                reply, outputs = await kernel.run(cell.source)
                if reply["status"] != "ok":
                    return {"error": f"{lab.name} cell {index}: {_text(outputs)[-1500:]}"}
            _, who = await kernel.run("import os, json; print(json.dumps([os.getuid(), "
                                      "os.environ['MLOPS_KIT_HOME'], os.getcwd()]))")
            result.setdefault("who", []).append(_text(who))
            result.setdefault("footprint", _footprint(name))  # server + kernel, while it runs
        finally:
            await kernel.stop()
    return {**result, "seconds": time.perf_counter() - started}


async def _run_in(hub_url: str, token: str, name: str, code: str) -> str:
    kernel = await RemoteKernel(hub_url, name, token).start()
    try:
        reply, outputs = await kernel.run(code)
        assert reply["status"] == "ok", _text(outputs)
        return _text(outputs)
    finally:
        await kernel.stop()


SPARK_SUM = '''
from mlops_kit.spark import get_spark
print(get_spark().range(1000).selectExpr("sum(id) AS s").first()["s"])
'''

SPARK_PROBE = '''
import json
from pyspark.sql import SparkSession
from mlops_kit import get_workspace
from mlops_kit.spark_server import read_token
outcome = {}
own = read_token(get_workspace())
for label, url in (("no_token", "sc://localhost:%(port)s"),
                   ("own_token", f"sc://localhost:%(port)s/;token={own}")):
    try:
        SparkSession.builder.remote(url).create().range(3).count()
        outcome[label] = "allowed"
    except Exception as err:
        outcome[label] = f"{type(err).__name__}: {str(err)[:120]}"
try:
    open(%(token)r).read()
    outcome["token_file"] = "allowed"
except OSError as err:
    outcome["token_file"] = type(err).__name__
print(json.dumps(outcome))
'''

PROBE = '''
import json, os
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlops_kit import get_workspace
get_workspace().activate()  # as the extension does: the class server, as this learner
client = MlflowClient()
outcome = {}
def attempt(what, call):
    try:
        call()
        outcome[what] = "allowed"
    except MlflowException as err:
        outcome[what] = err.error_code
    except OSError as err:
        outcome[what] = type(err).__name__
attempt("experiment", lambda: client.get_experiment(%(experiment_id)r))
attempt("run", lambda: client.get_run(%(run_id)r))
try:  # a search is filtered, not refused: it must find none of the other's runs
    outcome["runs_found"] = len(client.search_runs([%(experiment_id)r]))
except MlflowException as err:
    outcome["runs_found"] = err.error_code
attempt("model", lambda: client.get_registered_model(%(model)r))
attempt("model_version", lambda: client.get_model_version(%(model)r, "1"))
attempt("home", lambda: os.listdir(%(home)r))
attempt("progress", lambda: open(%(progress)r).read())
attempt("workspace", lambda: os.listdir(%(workspace)r))
attempt("own_experiment", lambda: client.get_experiment(%(own_experiment_id)r))
print(json.dumps(outcome))
'''


def _client_as(monkeypatch, url: str, user: str, password: str):
    """An MLflow client of the class server that signs in as ``user``."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    return MlflowClient(tracking_uri=url, registry_uri=url)


# ------------------------------------------------------------ the pieces, without root
def _roster(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


def test_roster_reads_learners_in_order(tmp_path):
    from mlops_kit.classroom.roster import Learner, load_roster

    path = _roster(tmp_path, "username,name\nada,Ada Lovelace\n\ngrace_h,Grace Hopper\n")
    assert load_roster(path) == [Learner("ada", "Ada Lovelace"),
                                 Learner("grace_h", "Grace Hopper")]


@pytest.mark.parametrize("text, complaint", [
    ("user,name\nada,Ada\n", "username,name"),
    ("username,name\nada,Ada\nada,Ada again\n", "appears twice"),
    ("username,name\nAda,Ada\n", "lowercase"),
    ("username,name\nada-l,Ada\n", "lowercase"),
    ("username,name\nroot,Root\n", "system account"),
    ("username,name\n", "no learner"),
])
def test_roster_refuses_what_cannot_be_an_account(tmp_path, text, complaint):
    from mlops_kit.classroom.roster import load_roster
    from mlops_kit.exceptions import ConfigError

    with pytest.raises(ConfigError, match=complaint):
        load_roster(_roster(tmp_path, text))


def test_release_copies_the_course_once_and_never_the_solutions(tmp_path):
    from mlops_kit.classroom.release import release_to

    home = tmp_path / "home"
    home.mkdir()
    copied = release_to(home, os.getuid(), os.getgid())
    lab = home / "labs" / LAB_DIR / f"{LAB_STEM}.ipynb"
    assert lab in copied and (home / "notebooks").is_dir()
    assert lab.read_bytes() == (REPO / "labs" / LAB_DIR / f"{LAB_STEM}.ipynb").read_bytes()
    assert not (home / "solutions").exists()
    assert (REPO / "notebooks" / "instructor").is_dir()
    assert not (home / "notebooks" / "instructor").exists()  # the class's progress is not theirs
    lab.write_text("the learner's work")
    assert release_to(home, os.getuid(), os.getgid()) == []  # a second start copies nothing
    assert lab.read_text() == "the learner's work"


def test_hub_config_spawns_each_learner_as_themselves(tmp_path):
    from traitlets.config import Config

    from mlops_kit._secrets import write_private_json
    from mlops_kit.classroom.hub import SERVICE_NAME, configure

    write_private_json(tmp_path / "classroom.json", {
        "learners": [{"username": "ada", "name": "Ada"}, {"username": "bob", "name": "Bob"}],
        "instructor": "teach", "hub_port": 8123, "hub_api_port": 8124, "proxy_api_port": 8125,
        "proxy": "/x/configurable-http-proxy", "token": "t" * 32})
    c = Config()
    configure(c, tmp_path)
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.JupyterHub.spawner_class == "localprocess"
    assert c.Authenticator.allowed_users == {"ada", "bob", "teach"}
    assert c.Authenticator.admin_users == {"teach"}
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.port == 8123
    assert Path(c.Spawner.cmd[0]).parent == Path(sys.executable).parent
    role, = c.JupyterHub.load_roles
    assert role["services"] == [SERVICE_NAME] and "admin:servers" in role["scopes"]


def test_class_mlflow_serves_artifacts_with_more_than_one_worker(tmp_path):
    from mlops_kit.classroom.services import ClassTracking, class_workspace

    server = ClassTracking(class_workspace(tmp_path, "teach"), basic_auth=True,
                           backend_store_uri="postgresql://mlflow@127.0.0.1:5432/mlflow")
    server.port = 5000
    command = server.command()
    assert "--serve-artifacts" in command and "--no-serve-artifacts" not in command
    assert command[command.index("--artifacts-destination") + 1] == str(tmp_path / "mlartifacts")
    assert int(command[command.index("--workers") + 1]) >= 2
    assert command[command.index("--app-name") + 1] == "basic-auth"


# ------------------------------------------------------------ the class, end to end
@pytest.mark.slow
@pytest.mark.own_spark
@pytest.mark.timeout(2400)
def test_a_class_runs_a_lab_in_three_private_servers(classroom, tmp_path, monkeypatch):
    from mlops_kit._secrets import read_private_json
    from mlops_kit.classroom.instructor import progress_table
    from mlops_kit.classroom.roster import Learner

    state, learners, record = classroom["state"], classroom["learners"], classroom["record"]
    status = json.loads(_kit("classroom", "status", "--state", str(state), "--json").stdout)
    assert status["hub"] and status["mlflow"] and status["postgres"] and status["spark"], status

    # the hub starts the three servers, each as its learner, with the course released
    started = time.perf_counter()
    _start_servers(classroom)
    spawn_seconds = time.perf_counter() - started
    labs = {}
    for name in learners:
        entry = pwd.getpwnam(name)
        home = Path(entry.pw_dir)
        assert (home.stat().st_mode & 0o777) == 0o700
        assert ((home / ".mlops-kit").stat().st_mode & 0o777) == 0o700
        assert (home / "notebooks").is_dir()
        assert not (home / "solutions").exists()
        labs[name] = [_solve_in_home(name, folder, stem) for folder, stem, _ in LABS]

    # the labs run in the three learners' kernels at once
    async def everyone():
        return await asyncio.gather(*(
            _run_labs(record["hub_url"], record["token"], name, labs[name]) for name in learners))

    started = time.perf_counter()
    results = dict(zip(learners, asyncio.run(everyone())))
    lab_seconds = time.perf_counter() - started
    for name, result in results.items():
        assert "error" not in result, f"{name}: {result['error']}"
        for (folder, _, _), who in zip(LABS, result["who"]):
            uid, ws_root, cwd = json.loads(who)
            assert uid == pwd.getpwnam(name).pw_uid  # the code ran as the learner
            assert ws_root == f"{pwd.getpwnam(name).pw_dir}/.mlops-kit"
            assert cwd == f"{pwd.getpwnam(name).pw_dir}/labs/{folder}"

    footprint = {name: results[name]["footprint"] for name in learners}

    # each learner's runs and model live under their own MLflow account only
    creds = read_private_json(state / "mlflow" / "mlflow-auth.json")
    url = record["mlflow_url"]
    owned = {}
    for name in learners:
        client = _client_as(monkeypatch, url, name, creds["users"][name])
        experiments = [e for e in client.search_experiments() if e.name != "Default"]
        assert experiments and all(e.name.startswith(f"/Users/{name}/") for e in experiments), \
            [e.name for e in experiments]
        experiment = next(e for e in experiments if e.name.endswith("/mlflow_models_lab"))
        runs = client.search_runs([experiment.experiment_id])
        assert runs, f"{name} logged no run"
        models = [m.name for m in client.search_registered_models()]
        assert models == [f"dev.{name}.price_labels"], models
        owned[name] = {"experiment_id": experiment.experiment_id, "model": models[0],
                       "runs": {r.info.run_id for r in runs}}
    teacher = _client_as(monkeypatch, url, classroom["instructor"],
                         creds["users"][classroom["instructor"]])
    seen = {e.name for e in teacher.search_experiments()}
    assert {f"/Users/{n}/dev/mlflow_models_lab" for n in learners} <= seen
    assert {f"dev.{n}.price_labels" for n in learners} <= \
        {m.name for m in teacher.search_registered_models()}
    assert len(set.union(*(o["runs"] for o in owned.values()))) == \
        sum(len(o["runs"]) for o in owned.values())  # no run is counted under two learners

    # from a learner's kernel, everything of another learner is refused
    for reader, victim in ((learners[0], learners[1]), (learners[2], learners[0])):
        victim_home = pwd.getpwnam(victim).pw_dir
        code = PROBE % {
            "experiment_id": owned[victim]["experiment_id"], "model": owned[victim]["model"],
            "run_id": sorted(owned[victim]["runs"])[0],
            "home": victim_home, "workspace": f"{victim_home}/.mlops-kit",
            "progress": f"{victim_home}/.mlops-kit/users/{victim}/lab-progress.json",
            "own_experiment_id": owned[reader]["experiment_id"]}
        printed = asyncio.run(_run_in(record["hub_url"], record["token"], reader, code))
        outcome = json.loads(printed.strip().splitlines()[-1])
        assert outcome.pop("runs_found") in (0, "PERMISSION_DENIED"), outcome
        assert outcome == {"experiment": "PERMISSION_DENIED", "run": "PERMISSION_DENIED",
                           "model": "PERMISSION_DENIED", "model_version": "PERMISSION_DENIED",
                           "home": "PermissionError", "progress": "PermissionError",
                           "workspace": "PermissionError", "own_experiment": "allowed"}, outcome

    # one Spark for the class: each learner's own Spark Connect server (as them, with
    # their token) runs its work on the class's standalone master, and refuses the others
    started = time.perf_counter()

    async def sums():
        return await asyncio.gather(*(
            _run_in(record["hub_url"], record["token"], name, SPARK_SUM) for name in learners))

    printed = asyncio.run(sums())
    spark_seconds = time.perf_counter() - started
    assert [text.strip().splitlines()[-1] for text in printed] == ["499500"] * len(learners)
    import httpx

    master = httpx.get(f"{record['spark']['ui']}/json/", timeout=10).json()
    apps = master["activeapps"] + master.get("completedapps", [])
    assert {app["user"] for app in apps} >= set(learners), apps
    with_spark = {name: _footprint(name) for name in learners}
    for reader, victim in ((learners[0], learners[1]), (learners[1], learners[2])):
        server = json.loads(
            (Path(pwd.getpwnam(victim).pw_dir) / ".mlops-kit" / "spark-connect.json").read_text())
        code = SPARK_PROBE % {
            "port": server["port"],
            "token": f"{pwd.getpwnam(victim).pw_dir}/.mlops-kit/spark-connect.token"}
        text = asyncio.run(_run_in(record["hub_url"], record["token"], reader, code))
        outcome = json.loads(text.strip().splitlines()[-1])
        assert outcome["no_token"] != "allowed" and outcome["own_token"] != "allowed", outcome
        assert outcome["token_file"] == "PermissionError", outcome

    # the instructor sees the three learners' checks
    table = progress_table([Learner(n, n) for n in learners])
    for _, _, lab_id in LABS:
        lab_rows = table[table["lab"] == lab_id]
        assert set(lab_rows["learner"]) == set(learners), table.to_string()
        exercises = sorted(set(lab_rows["exercise"]))
        assert exercises and lab_rows["passed"].all(), lab_rows.to_string()
        assert (lab_rows.groupby("learner").size() == len(exercises)).all()

    # collect + grade: one row per learner and exercise (the graded lab's, in progress)
    _, graded_stem, graded_id = GRADED_LAB
    exercises = sorted(set(table[table["lab"] == graded_id]["exercise"]))
    _kit("classroom", "collect", graded_stem, "--state", str(state))
    folder = state / "submissions" / graded_stem
    assert sorted(p.name for p in folder.glob("*.ipynb")) == sorted(f"{n}.ipynb" for n in learners)
    grades = tmp_path / "grades.csv"
    started = time.perf_counter()
    _kit("labs", "grade", str(folder), "--out", str(grades), "--jobs", "2", timeout=1200)
    grade_seconds = time.perf_counter() - started
    rows = list(csv.DictReader(grades.open()))
    pairs = [(row["learner"], row["exercise"]) for row in rows]
    assert len(pairs) == len(set(pairs)) == len(learners) * len(exercises), rows
    assert {row["learner"] for row in rows} == set(learners)
    assert sorted({row["exercise"] for row in rows}) == exercises
    assert all(row["passed"] == "True" and row["lab"] == graded_id for row in rows), rows

    # what a learner costs (docs/SCALING.md): their processes' memory and CPU time
    print(f"\nclassroom: up {classroom['up_seconds']:.0f} s, three servers {spawn_seconds:.0f} s, "
          f"two labs in three kernels at once {lab_seconds:.0f} s, three Spark Connect servers on "
          f"the class cluster and a query each {spark_seconds:.0f} s, "
          f"grading {grade_seconds:.0f} s")
    for name, cost in footprint.items():
        print(f"  {name}: {cost['rss_mb']:.0f} MB resident (server + kernel), "
              f"{cost['cpu_s']:.0f} s of CPU for server start + lab; with their Spark "
              f"Connect server {with_spark[name]['rss_mb']:.0f} MB")

    # down: no process of the classroom is left, nor its accounts
    uids = [pwd.getpwnam(n).pw_uid
            for n in [*learners, classroom["instructor"], record["spark"]["account"]]]
    hub_pid = json.loads((state / "hub.json").read_text())["pid"]
    mlflow_pid = json.loads((state / "mlflow-server.json").read_text())["pid"]
    pg_pid = json.loads((state / "classroom.json").read_text())["postgres"]["pid"]
    spark_pids = [json.loads((state / f"spark-{d}.json").read_text())["pid"]
                  for d in ("master", "worker")]
    _kit("classroom", "down", "--state", str(state), "--remove-users")
    import psutil

    left = [p.pid for p in psutil.process_iter(["uids"])
            if p.info["uids"] and p.info["uids"].real in uids]
    assert not left, f"processes of the classroom's users left: {left}"
    for pid in (hub_pid, mlflow_pid, pg_pid, *spark_pids):
        assert not process_alive(pid), f"pid {pid} still runs"
    assert not any(_account(n) for n in
                   [*learners, classroom["instructor"], record["spark"]["account"]])

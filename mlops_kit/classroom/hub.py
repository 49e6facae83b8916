"""The classroom on one machine: JupyterHub, one OS account per learner, a shared MLflow.

``mlops-kit classroom up --roster roster.csv`` (as root) makes, in order:

1. an OS account per learner and one for the instructor (``useradd``, home
   0700, a random first password in ``<state>/passwords.csv``, 0600, for the
   instructor to hand out);
2. a PostgreSQL server (``<state>-postgres/``, run by ``postgres``) and the
   kit's MLflow tracking server on it with MLflow's ``basic-auth`` app: one
   MLflow user per learner (their passwords stay in the state folder and reach
   only their own server's environment), the instructor an MLflow admin;
3. the class's Spark: a standalone master and one worker (one core and 512 MB of
   executors per learner) running as an unprivileged system account; each
   learner's own Spark Connect server (started on demand, as them, with their
   token) runs on it (``MLOPS_KIT_SPARK_SERVER_MASTER``, one core each);
4. JupyterHub on 127.0.0.1 (its proxy ``configurable-http-proxy`` from npm):
   PAM logins against those accounts, the local process spawner (each
   learner's Jupyter server runs as their own OS user, from the kit's venv),
   the instructor a hub admin, and a ``classroom`` service token with which the
   instructor's tools (and the tests) start servers through the REST API.

Before a learner's server starts, the hub (root) makes their workspace
``~/.mlops-kit`` (0700) and copies the course's notebooks and generated labs
into their home (:mod:`mlops_kit.classroom.release`); the server then gets
``MLOPS_KIT_HOME``, ``MLOPS_KIT_USER`` and the class MLflow's URL and their
own MLflow password in its environment, so ``%load_ext mlops_kit`` and every
lab work as on a laptop, against the class server.

The state folder (``--state``, default ``/var/lib/mlops-kit-classroom``,
root-owned 0700) holds ``classroom.json`` (roster, ports, URLs, the service
token), ``passwords.csv``, the hub's database and config, the MLflow
credentials and artifacts (``mlflow/``), the logs (``logs/``) and, after
``collect``, ``submissions/``. ``classroom down`` stops the hub (which stops
the learners' servers), every process left to a classroom account (their Spark
Connect servers), Spark, MLflow and PostgreSQL, and takes back the folder
permissions it gave; ``--remove-users`` also deletes the accounts ``up`` made.
"""
from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path

from mlops_kit._processes import (
    LOOPBACK, ManagedProcess, free_port, read_record, remove_record, stop_recorded, write_record,
)
from mlops_kit._secrets import new_secret, read_private_json, write_private, write_private_json
from mlops_kit.classroom.roster import Learner, check_username, learner_home, load_roster
from mlops_kit.exceptions import ConfigError, EnvironmentProblem, NotFoundError

__all__ = ["DEFAULT_STATE", "Classroom", "up", "down", "status", "configure", "proxy_command",
           "SERVICE_NAME"]

#: where a classroom keeps its state unless ``--state`` says otherwise
DEFAULT_STATE = Path("/var/lib/mlops-kit-classroom")

#: the hub service whose token the instructor's tools use
SERVICE_NAME = "classroom"

#: seconds a learner's server may take to start (a busy 2-core machine)
SPAWN_TIMEOUT = 240

_VENV_BIN = Path(sys.executable).parent

#: what each learner's Spark Connect server asks of the class's worker: one core, so
#: every learner's application gets executors, however many others run
SPARK_CONF = "spark.cores.max=1;spark.executor.cores=1;spark.executor.memory=512m"


def proxy_command() -> str:
    """The ``configurable-http-proxy`` program: the kit's own copy, else one on PATH."""
    import shutil

    own = _VENV_BIN.parent / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if own.exists():
        return str(own)
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    raise EnvironmentProblem(
        "JupyterHub's proxy is missing: npm install --prefix .venv/node configurable-http-proxy "
        "(./run.sh test does it), or npm install -g configurable-http-proxy.")


class Classroom:
    """The paths of a classroom's state folder and what ``classroom.json`` says."""

    def __init__(self, state: Path | str = DEFAULT_STATE) -> None:
        self.state = Path(state).absolute()

    # paths
    @property
    def record_path(self) -> Path:
        return self.state / "classroom.json"

    @property
    def passwords_path(self) -> Path:
        return self.state / "passwords.csv"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def mlflow_root(self) -> Path:
        return self.state / "mlflow"

    @property
    def postgres_dir(self) -> Path:
        return self.state.with_name(self.state.name + "-postgres")

    @property
    def spark_dir(self) -> Path:
        return self.state.with_name(self.state.name + "-spark")

    @property
    def hub_record(self) -> Path:
        return self.state / "hub.json"

    @property
    def mlflow_record(self) -> Path:
        return self.state / "mlflow-server.json"

    @property
    def config_path(self) -> Path:
        return self.state / "jupyterhub_config.py"

    @property
    def submissions(self) -> Path:
        return self.state / "submissions"

    # record
    def read(self) -> dict:
        data = read_private_json(self.record_path)
        if data is None:
            raise NotFoundError(f"No classroom in {self.state}: start one with "
                                "mlops-kit classroom up --roster roster.csv.")
        return data

    def learners(self) -> list[Learner]:
        return [Learner(**row) for row in self.read()["learners"]]

    def instructor(self) -> str:
        return self.read()["instructor"]

    def hub_url(self) -> str:
        return self.read()["hub_url"]

    def token(self) -> str:
        return self.read()["token"]

    def mlflow_password(self, username: str) -> str:
        creds = read_private_json(self.mlflow_root / "mlflow-auth.json") or {}
        password = (creds.get("users") or {}).get(username)
        if not password:
            raise NotFoundError(f"{username!r} has no account on the class MLflow server.")
        return password

    def user_environment(self, username: str) -> dict[str, str]:
        """What a classroom user's Jupyter server gets in its environment."""
        data = self.read()
        home = learner_home(username)
        from mlops_kit.java import m2_repository

        spark = data.get("spark") or {}
        return {
            **({"MLOPS_KIT_SPARK_SERVER_MASTER": spark["url"],
                "MLOPS_KIT_SPARK_CONF": SPARK_CONF, "MLOPS_KIT_DRIVER_MEMORY": "768m",
                "MLOPS_KIT_M2_REPO": str(m2_repository()),
                "PYSPARK_PYTHON": str(_VENV_BIN / "python")} if spark else {}),
            "MLOPS_KIT_HOME": str(home / ".mlops-kit"),
            "MLOPS_KIT_USER": username,
            "MLOPS_KIT_TRACKING_URI": data["mlflow_url"],
            "MLFLOW_TRACKING_URI": data["mlflow_url"],  # plain `mlflow` in a terminal too
            "MLFLOW_TRACKING_USERNAME": username,
            "MLFLOW_TRACKING_PASSWORD": self.mlflow_password(username),
            "PATH": f"{_VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }


# ------------------------------------------------------------------ hub config
def configure(c, state: Path) -> None:
    """Fill JupyterHub's config ``c`` from the classroom in ``state`` (the config file calls it)."""
    room = Classroom(state)
    data = room.read()
    learners = [row["username"] for row in data["learners"]]
    instructor = data["instructor"]
    c.JupyterHub.ip = LOOPBACK
    c.JupyterHub.port = data["hub_port"]
    c.JupyterHub.hub_ip = LOOPBACK
    c.JupyterHub.hub_port = data["hub_api_port"]
    c.JupyterHub.db_url = f"sqlite:///{room.state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(room.state / "jupyterhub_cookie_secret")
    c.JupyterHub.cleanup_servers = True
    c.ConfigurableHTTPProxy.command = [data["proxy"]]
    c.ConfigurableHTTPProxy.api_url = f"http://{LOOPBACK}:{data['proxy_api_port']}"
    c.ConfigurableHTTPProxy.should_start = True
    # PAM against the accounts `up` made; only the roster and the instructor may log in
    c.JupyterHub.authenticator_class = "pam"
    c.Authenticator.allowed_users = set(learners) | {instructor}
    c.Authenticator.admin_users = {instructor}
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(_VENV_BIN / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.start_timeout = SPAWN_TIMEOUT
    c.Spawner.http_timeout = SPAWN_TIMEOUT
    c.Spawner.pre_spawn_hook = lambda spawner: _before_spawn(room, spawner)
    c.JupyterHub.services = [{"name": SERVICE_NAME, "api_token": data["token"]}]
    c.JupyterHub.load_roles = [{
        "name": "classroom-instructor-tools",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users",
                   "list:users", "tokens"],
        "services": [SERVICE_NAME],
    }]


def _before_spawn(room: Classroom, spawner) -> None:
    from mlops_kit.classroom.release import prepare_home

    username = spawner.user.name
    prepare_home(username)
    spawner.environment.update(room.user_environment(username))


_CONFIG = '''# written by `mlops-kit classroom up`; the settings are mlops_kit.classroom.hub.configure's
from pathlib import Path

from mlops_kit.classroom.hub import configure

configure(get_config(), Path(__file__).resolve().parent)  # noqa: F821 - JupyterHub defines it
'''


# ------------------------------------------------------------------ up / down / status
def _m2() -> list[Path]:
    from mlops_kit.java import m2_repository

    return [m2_repository()] if m2_repository().exists() else []


def _require_root() -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "A classroom makes OS accounts and runs each learner's server as that learner: "
            "run `mlops-kit classroom` as root (sudo).")


def _write_passwords(room: Classroom, passwords: dict[str, str]) -> None:
    existing = {}
    if room.passwords_path.exists():
        existing = {row["username"]: row["password"]
                    for row in csv.DictReader(io.StringIO(room.passwords_path.read_text()))}
    existing.update(passwords)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["username", "password"])
    for name, password in existing.items():
        writer.writerow([name, password])
    write_private(room.passwords_path, out.getvalue())


def up(roster: Path | str, *, instructor: str = "instructor", state: Path | str = DEFAULT_STATE,
       port: int = 8000, say=print) -> dict:
    """Start the classroom (see the module docstring); return its public record."""
    from mlops_kit.classroom import services
    from mlops_kit.classroom.release import course_root
    from mlops_kit.workspace import make_private

    _require_root()
    learners = load_roster(roster)
    check_username(instructor, where="--instructor")
    if instructor in {learner.username for learner in learners}:
        raise ConfigError(f"The instructor {instructor!r} is also in the roster.")
    room = Classroom(state)
    room.state.mkdir(parents=True, exist_ok=True)
    make_private(room.state)
    previous = read_private_json(room.record_path)
    hub = read_record(room.hub_record)
    if previous is not None and hub is not None and hub["alive"]:
        raise EnvironmentProblem(f"A classroom already runs from {room.state} "
                                 f"({previous['hub_url']}): mlops-kit classroom down first.")
    from mlops_kit._processes import port_is_free

    if not port_is_free(port):
        raise EnvironmentProblem(f"Port {port} on {LOOPBACK} is taken: pass another --port.")
    created = list((previous or {}).get("created_users", []))
    data = {
        "learners": [{"username": x.username, "name": x.name} for x in learners],
        "instructor": instructor, "state": str(room.state), "created_users": created,
        "hub_port": port, "hub_url": f"http://{LOOPBACK}:{port}",
        "hub_api_port": free_port(), "proxy_api_port": free_port(), "proxy": proxy_command(),
        "token": (previous or {}).get("token") or new_secret(),
        "group": services.class_group(room.state),
    }
    write_private_json(room.record_path, data)
    try:
        passwords = {}
        for person in [*learners, Learner(instructor, "Instructor")]:
            if services.account_exists(person.username):
                say(f"account {person.username}: exists, kept as it is")
                services.join_class_group(person.username, data["group"])
                data["joined_group"] = sorted({*data.get("joined_group", []), person.username})
                continue
            passwords[person.username] = new_secret(12)
            services.create_account(person.username, person.name, passwords[person.username],
                                    data["group"])
            created.append(person.username)
            write_private_json(room.record_path, data)
        _write_passwords(room, passwords)
        say(f"accounts: {len(passwords)} made, first passwords in {room.passwords_path} (0600)")
        # the learners run the kit's interpreter and read its packages and the course
        data["traverse_acl"] = sorted(set(data.get("traverse_acl", [])) | set(
            services.grant_traverse([Path(os.path.realpath(sys.executable)), Path(sys.prefix),
                                     course_root(), *_m2()], data["group"])))
        write_private_json(room.record_path, data)

        started = time.perf_counter()
        pg = services.Postgres(room.postgres_dir, port=free_port()).start()
        data["postgres"] = {"folder": str(room.postgres_dir), "port": pg.port,
                            "pid": pg.pid()}
        write_private_json(room.record_path, data)
        ws = services.class_workspace(room.mlflow_root, instructor)
        server = services.ClassTracking(ws, backend_store_uri=pg.uri(), basic_auth=True).start()
        for learner in learners:
            server.add_user(learner.username)
        server.make_admin(instructor)
        data["mlflow_url"] = server.url
        write_record(room.mlflow_record, server.detach(), url=data["mlflow_url"])
        write_private_json(room.record_path, data)
        say(f"mlflow:  {data['mlflow_url']} on PostgreSQL, basic-auth "
            f"({time.perf_counter() - started:.0f} s)")

        started = time.perf_counter()
        account = services.spark_account(data["group"])
        if not services.account_exists(account):
            services.create_spark_account(account, data["group"])
            data["spark_account"] = account
        data["spark"] = services.ClassSpark(room.spark_dir, account, len(learners)).start(
            room.state, room.logs)
        write_private_json(room.record_path, data)
        say(f"spark:   {data['spark']['url']} (master + worker as {account}, "
            f"{data['spark']['cores']} cores; {time.perf_counter() - started:.0f} s)")

        room.config_path.write_text(_CONFIG)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("MLOPS_KIT_", "MLFLOW_", "JUPYTERHUB_", "SPARK_CONNECT"))}
        env["PATH"] = f"{_VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        env["CONFIGPROXY_AUTH_TOKEN"] = new_secret()
        hub_process = ManagedProcess(
            [str(_VENV_BIN / "jupyterhub"), "-f", str(room.config_path)],
            name="JupyterHub", log=room.logs / "jupyterhub.log", env=env, cwd=room.state,
            ready=f"{data['hub_url']}/hub/api/", ready_timeout=180, ready_interval=0.5,
            stop_timeout=30, outlive=True, record=room.hub_record,
            record_info={"url": data["hub_url"]})
        hub_process.start()
        hub_process.detach()
        say(f"hub:     {data['hub_url']} (PAM logins; {instructor} is the admin)")
    except BaseException:
        say("starting the classroom failed; stopping what had started")
        down(room.state, remove_users=False, say=lambda line: None)
        raise
    return status(room.state)


def down(state: Path | str = DEFAULT_STATE, *, remove_users: bool = False, say=print) -> dict:
    """Stop everything the classroom in ``state`` started; return what was stopped."""
    from mlops_kit.classroom import services

    _require_root()
    room = Classroom(state)
    data = room.read()
    stopped: dict[str, object] = {}
    hub = read_record(room.hub_record)
    if hub is not None:
        stop_recorded(hub, timeout=30)  # the hub stops the learners' servers on its way out
        remove_record(room.hub_record)
        stopped["hub"] = hub.get("pid")
    left = 0
    for name in [row["username"] for row in data["learners"]] + [data["instructor"]]:
        left += services.stop_processes_of(name)  # their Spark Connect servers too
    stopped["user_processes"] = left
    for daemon in ("spark-worker", "spark-master"):
        record = read_record(room.state / f"{daemon}.json")
        if record is not None:
            stop_recorded(record, timeout=20)
            remove_record(room.state / f"{daemon}.json")
            stopped[daemon] = record.get("pid")
    if (data.get("spark") or {}).get("account"):
        services.stop_processes_of(data["spark"]["account"])
    mlflow = read_record(room.mlflow_record)
    if mlflow is not None:
        stop_recorded(mlflow)
        remove_record(room.mlflow_record)
        stopped["mlflow"] = mlflow.get("pid")
    if "postgres" in data:
        services.Postgres(Path(data["postgres"]["folder"]), port=data["postgres"]["port"]).stop()
        stopped["postgres"] = data["postgres"].get("pid")
    group = data.get("group") or services.class_group(room.state)
    services.revoke_traverse(data.get("traverse_acl", []), group)
    data["traverse_acl"] = []
    write_private_json(room.record_path, data)
    if remove_users:
        for name in data.get("created_users", []):
            services.remove_account(name)
        if data.get("spark_account"):
            services.remove_account(data["spark_account"])
        for name in data.get("joined_group", []):
            services.leave_class_group(name, group)
        services.remove_class_group(group)
        stopped["removed_users"] = list(data.get("created_users", []))
        data["created_users"] = []
        write_private_json(room.record_path, data)
    say(f"classroom in {room.state} stopped" +
        (f"; accounts removed: {', '.join(stopped['removed_users'])}" if remove_users else ""))
    return stopped


def _alive(path: Path) -> bool:
    record = read_record(path)
    return bool(record and record["alive"])


def status(state: Path | str = DEFAULT_STATE) -> dict:
    """What runs: the hub, MLflow, PostgreSQL, and each learner's server."""
    import httpx

    from mlops_kit._processes import process_alive

    room = Classroom(state)
    data = room.read()
    pg = data.get("postgres") or {}
    info = {
        "state": str(room.state), "hub_url": data["hub_url"], "hub": _alive(room.hub_record),
        "mlflow_url": data.get("mlflow_url"), "mlflow": _alive(room.mlflow_record),
        "postgres": bool(pg.get("pid")) and process_alive(int(pg["pid"])),
        "spark_url": (data.get("spark") or {}).get("url"),
        "spark": _alive(room.state / "spark-master.json")
        and _alive(room.state / "spark-worker.json"),
        "instructor": data["instructor"], "passwords": str(room.passwords_path),
        "learners": {row["username"]: None for row in data["learners"]},
    }
    if info["hub"]:
        try:
            answer = httpx.get(f"{data['hub_url']}/hub/api/users", timeout=10,
                               headers={"Authorization": f"token {data['token']}"})
            for user in answer.json():
                if user["name"] in info["learners"]:
                    server = (user.get("servers") or {}).get("", {})
                    info["learners"][user["name"]] = "ready" if server.get("ready") else \
                        ("starting" if server else "stopped")
        except (httpx.HTTPError, ValueError):
            pass
    return info

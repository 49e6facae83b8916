"""The classroom's shared services: OS accounts, PostgreSQL, one MLflow for the class.

Everything here runs as root (``classroom up`` does) and is started detached,
recorded in the state folder, so ``classroom down`` stops it from another
process.

* :func:`create_account` / :func:`remove_account`: one OS user per learner
  (``useradd``; home 0700; a random first password set with ``chpasswd``, which
  JupyterHub's PAM login then checks).
* :class:`Postgres`: a PostgreSQL server of Debian's binaries in its own data
  folder beside the state folder, on 127.0.0.1 (``initdb`` refuses root, so it
  runs as the ``postgres`` system user).
* :class:`ClassTracking`: the kit's tracking server
  (:class:`~mlops_kit.registry.server.TrackingServer`) on that database with
  MLflow's ``basic-auth`` app: every learner is an MLflow user who sees only the
  experiments and models they created (``NO_PERMISSIONS`` by default), the
  instructor an MLflow admin. Artifacts go through the server
  (``--serve-artifacts``), which checks the same permissions, into a folder only
  root can read: a learner never touches another's artifact files.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from mlops_kit._processes import LOOPBACK, free_port, process_alive
from mlops_kit.exceptions import EnvironmentProblem
from mlops_kit.registry.server import TrackingServer
from mlops_kit.workspace import Workspace

__all__ = ["create_account", "remove_account", "account_exists", "Postgres", "ClassTracking",
           "pg_bin_dir", "processes_of", "CLASS_GROUP", "grant_traverse", "revoke_traverse"]

#: the prefix of a classroom's group (one per state folder: two classrooms on one machine
#: never undo each other's grants)
CLASS_GROUP = "mlopskit_"


def class_group(state: Path) -> str:
    """The group of every account of the classroom kept in ``state``."""
    import hashlib

    return CLASS_GROUP + hashlib.sha256(str(Path(state).absolute()).encode()).hexdigest()[:10]


# ------------------------------------------------------------------ OS accounts
def account_exists(username: str) -> bool:
    try:
        pwd.getpwnam(username)
    except KeyError:
        return False
    return True


def _run(*args: str, input: str | None = None, timeout: float = 60) -> None:
    result = subprocess.run(list(args), input=input, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise EnvironmentProblem(f"{args[0]} failed: {(result.stderr or result.stdout).strip()}")


def ensure_class_group(group: str) -> None:
    import grp

    try:
        grp.getgrnam(group)
    except KeyError:
        _run("groupadd", "--system", group)


def remove_class_group(group: str) -> None:
    import grp

    try:
        grp.getgrnam(group)
    except KeyError:
        return
    _run("groupdel", group)


def join_class_group(username: str, group: str) -> None:
    ensure_class_group(group)
    _run("usermod", "--append", "--groups", group, username)


def leave_class_group(username: str, group: str) -> None:
    if account_exists(username):
        _run("gpasswd", "--delete", username, group)


def create_account(username: str, full_name: str, password: str, group: str) -> Path:
    """Make the OS user ``username`` with a private home and ``password``; return the home."""
    if shutil.which("useradd") is None:
        raise EnvironmentProblem("useradd is missing: a classroom needs a Linux machine "
                                 "with the shadow tools (Debian: passwd).")
    ensure_class_group(group)
    comment = full_name.replace(":", " ").replace("\n", " ")[:60]
    _run("useradd", "--create-home", "--shell", "/bin/bash", "--user-group",
         "--groups", group, "--comment", comment, username)
    _run("chpasswd", input=f"{username}:{password}\n")
    home = Path(pwd.getpwnam(username).pw_dir)
    home.chmod(0o700)
    return home


def processes_of(username: str) -> list:
    """The running processes owned by the OS user ``username`` (psutil objects)."""
    import psutil

    try:
        uid = pwd.getpwnam(username).pw_uid
    except KeyError:
        return []
    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def stop_processes_of(username: str, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL, every process of ``username``; return how many there were."""
    import psutil

    procs = processes_of(username)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(procs)


def remove_account(username: str) -> None:
    """Stop the user's processes, then delete the account and its home."""
    if not account_exists(username):
        return
    stop_processes_of(username)
    _run("userdel", "--remove", username)


def _ancestors(path: Path) -> list[Path]:
    path = Path(os.path.realpath(path))
    return [*reversed(path.parents), path] if path.is_dir() else [*reversed(path.parents)]


def grant_traverse(paths: list[Path], group: str) -> list[str]:
    """Let the class group pass through every folder above ``paths`` that others cannot.

    The kit's interpreter may live where other users cannot reach it (pyenv under
    a 0700 ``/root``). Each such folder gets an ACL entry giving the class group
    the right to pass through it (``--x``: not to list or read it), nothing more
(``group`` is the classroom's own: another classroom's ``down`` leaves it alone);
    :func:`revoke_traverse` takes the entries away. Returns the folders changed.
    """
    import stat

    needed: list[Path] = []
    for path in paths:
        for folder in _ancestors(path):
            if not folder.stat().st_mode & stat.S_IXOTH and folder not in needed:
                needed.append(folder)
    if needed and shutil.which("setfacl") is None:
        raise EnvironmentProblem(
            f"The kit's environment is under {needed[0]}, which other users cannot enter, and "
            "setfacl is missing to let the class in: apt-get install acl (./run.sh test "
            "does it as root), or install the kit where every user can read it.")
    for folder in needed:
        _run("setfacl", "--modify", f"g:{group}:--x", str(folder))
    return [str(folder) for folder in needed]


def revoke_traverse(folders: list[str], group: str) -> None:
    for folder in folders:
        if Path(folder).exists():
            try:
                _run("setfacl", "--remove", f"g:{group}", folder)
            except EnvironmentProblem:  # the entry (or the group) is gone already
                pass


# ------------------------------------------------------------------ PostgreSQL
def pg_bin_dir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl`` (Debian keeps them off PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


class Postgres:
    """The class's database server in ``folder`` (owned by ``postgres``), on 127.0.0.1.

    Trust authentication on the loopback interface only; the database user is
    ``mlflow``. Started with ``pg_ctl`` (it daemonizes itself: its pid is in
    ``postmaster.pid``), stopped with ``pg_ctl stop``.
    """

    DB_USER = "mlflow"

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = port or free_port()
        self.bin_dir = pg_bin_dir()
        if self.bin_dir is None or not (self.bin_dir / "pg_ctl").exists():
            raise EnvironmentProblem(
                "PostgreSQL's initdb/pg_ctl are missing (Debian: apt-get install postgresql; "
                "./run.sh test installs it as root).")
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise EnvironmentProblem("initdb cannot run as root and there is no "
                                         "'postgres' user to run it.") from None
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _pg(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                                timeout=timeout, cwd=self.folder)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise EnvironmentProblem(f"{Path(args[0]).name} failed: {result.stdout}"
                                     f"{result.stderr}\n{log}")

    def start(self) -> "Postgres":
        fresh = not self.data.exists()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.prefix:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.folder.chmod(0o700)
        if fresh:
            self._pg(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.DB_USER,
                     "--auth=trust", "--encoding=UTF8", "--no-instructions")
        options = (f"-h {LOOPBACK} -p {self.port} -k {self.folder} "
                   "-c shared_buffers=32MB -c max_connections=60")
        self._pg(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                 "-o", options, "-w", "-t", "60", "start")
        if fresh:
            import psycopg

            with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE mlflow")
        return self

    def uri(self, database: str = "mlflow") -> str:
        return f"postgresql://{self.DB_USER}@{LOOPBACK}:{self.port}/{database}"

    def pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None or not process_alive(pid):
            return
        try:
            self._pg(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                     "-w", "-t", "30", "stop")
        except (EnvironmentProblem, subprocess.TimeoutExpired):
            import psutil

            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()
        deadline = time.monotonic() + 10
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)


# ------------------------------------------------------------------ MLflow
class ClassTracking(TrackingServer):
    """The kit's authenticated tracking server, with artifacts served by the server.

    ``workspace`` is the classroom's own (root-owned, 0700): it keeps the admin,
    instructor and learner passwords (``mlflow-auth.json``) and the artifact
    folder. ``workspace.user`` (the instructor) gets an account at start and is
    made an MLflow admin by :meth:`make_admin`.
    """

    #: server processes answering the class (the kit's own server runs one); each is
    #: about 250 MB, and one alone made three learners' lab calls wait 2 s each
    workers: int = 2

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--workers") + 1] = str(self.workers)
        at = command.index("--default-artifact-root")
        del command[at:at + 2]
        command.remove("--no-serve-artifacts")
        return [*command, "--serve-artifacts",
                "--artifacts-destination", str(self._workspace.artifacts_root)]

    #: seconds a checked password stays trusted by a server process. A class sends many
    #: requests per learner and MLflow hashes the password on each one (0.5-2 s of CPU on
    #: a busy 2-core machine); a removed user or changed password takes this long to bite
    auth_cache_seconds: int = 120

    def _env(self, ws: Workspace) -> dict[str, str]:
        env = super()._env(ws)
        path = Path(env.get("MLFLOW_AUTH_CONFIG_PATH", ""))
        if self.basic_auth and path == ws.tracking_server_auth_config_path:
            # the file the kit just wrote for this server (a settings file of the
            # instructor's own is left as it is), with the class's trust period added
            settings = [line for line in path.read_text().splitlines()
                        if not line.startswith("auth_cache_ttl_seconds")]
            settings.append(f"auth_cache_ttl_seconds = {self.auth_cache_seconds}")
            path.write_text("\n".join(settings) + "\n")
        return env

    def make_admin(self, name: str) -> None:
        import httpx

        answer = httpx.patch(f"{self.url}/api/2.0/mlflow/users/update-admin",
                             auth=self.admin_auth, json={"username": name, "is_admin": True},
                             timeout=30)
        if answer.status_code != 200:
            raise EnvironmentProblem(f"MLflow did not make {name!r} an admin "
                                     f"(HTTP {answer.status_code}: {answer.text[:200]}).")


def class_workspace(folder: Path, instructor: str) -> Workspace:
    """The workspace that holds the class server's credentials and artifacts."""
    return Workspace(root=folder, user=instructor)


# ------------------------------------------------------------------ Spark
def spark_account(group: str) -> str:
    """The system account the class's Spark master and worker (and so the executors) run as."""
    return f"{group}_spark"


def create_spark_account(name: str, group: str) -> None:
    """An unprivileged system user for the Spark daemons: learners' code on the executors
    runs as it, never as root or as another learner."""
    if account_exists(name):
        return
    ensure_class_group(group)
    _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         "--user-group", "--groups", group, name)


class ClassSpark:
    """The class's Spark engine: a standalone master and one worker on 127.0.0.1.

    Both run as ``account`` from the pip package (``spark-class``; SPARK_HOME is
    pyspark's folder), in ``folder`` (owned by that account). The worker offers
    one core and ``executor_mb`` per learner: each learner's Spark Connect server
    (their driver, running as them) asks for one core (``spark.cores.max=1``), so
    an application never holds the cores the others wait for.
    """

    def __init__(self, folder: Path, account: str, learners: int, *,
                 executor_mb: int = 512) -> None:
        self.folder = Path(folder)
        self.account = account
        self.cores = max(1, learners)
        self.memory_mb = executor_mb * self.cores
        self.port, self.ui_port, self.worker_ui_port = free_port(), free_port(), free_port()

    @property
    def url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def _env(self) -> dict[str, str]:
        from mlops_kit.java import find_java
        from mlops_kit.spark_server import spark_home

        find_java()  # sets JAVA_HOME
        keep = ("PATH", "JAVA_HOME", "LANG", "LC_ALL")
        env = {key: os.environ[key] for key in keep if key in os.environ}
        env.update(SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP=LOOPBACK,
                   SPARK_DAEMON_MEMORY="256m", SPARK_LOCAL_DIRS=str(self.folder / "local"),
                   SPARK_LOG_DIR=str(self.folder / "logs"),
                   SPARK_WORKER_DIR=str(self.folder / "work"), HOME=str(self.folder))
        return env

    def alive_workers(self) -> int:
        import httpx

        try:
            state = httpx.get(f"http://{LOOPBACK}:{self.ui_port}/json/", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return 0
        return int(state.get("aliveworkers", 0))

    def start(self, records: Path, logs: Path) -> dict:
        """Start both daemons (detached, recorded in ``records``); return their records."""
        from mlops_kit._processes import ManagedProcess
        from mlops_kit.spark_server import spark_home

        entry = pwd.getpwnam(self.account)
        for sub in ("", "local", "logs", "work"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
            os.chown(self.folder / sub, entry.pw_uid, entry.pw_gid)
        self.folder.chmod(0o700)
        spark_class = str(spark_home() / "bin" / "spark-class")
        as_account = ["runuser", "-u", self.account, "--"]
        master = ManagedProcess(
            [*as_account, spark_class, "org.apache.spark.deploy.master.Master",
             "--host", LOOPBACK, "--port", str(self.port), "--webui-port", str(self.ui_port)],
            name="The class's Spark master", log=logs / "spark-master.log", env=self._env(),
            cwd=self.folder, ready=f"http://{LOOPBACK}:{self.ui_port}/json/",
            ready_timeout=180, ready_interval=0.5, outlive=True,
            record=records / "spark-master.json", record_info={"url": self.url})
        master.start()
        master.detach()
        worker = ManagedProcess(
            [*as_account, spark_class, "org.apache.spark.deploy.worker.Worker", self.url,
             "--host", LOOPBACK, "--webui-port", str(self.worker_ui_port),
             "--cores", str(self.cores), "--memory", f"{self.memory_mb}m",
             "--work-dir", str(self.folder / "work")],
            name="The class's Spark worker", log=logs / "spark-worker.log", env=self._env(),
            cwd=self.folder, ready=lambda: self.alive_workers() >= 1, ready_timeout=180,
            ready_interval=0.5, outlive=True, record=records / "spark-worker.json")
        worker.start()
        worker.detach()
        return {"url": self.url, "ui": f"http://{LOOPBACK}:{self.ui_port}",
                "cores": self.cores, "memory_mb": self.memory_mb, "account": self.account}

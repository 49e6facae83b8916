"""MLflow on a real PostgreSQL: one tracking server, two users, two envs.

A module fixture starts a throw-away PostgreSQL (``initdb`` + ``pg_ctl``, trust
auth, 127.0.0.1, a free port, a temporary folder) and the kit's tracking server
on it. Then the registry and webhook flows run through that one server for
``ada`` and ``bob`` in ``dev`` and ``prod``: each registers, gets its version
validated by the real validation job behind a signed webhook, and resets only
its own models and experiments.

Needs PostgreSQL's server binaries (``./run.sh test`` installs Debian's
``postgresql`` as root). Without them the module is skipped, except in CI
(``$CI`` set), where a missing server is a failure.
"""
from __future__ import annotations

import os
import re
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from mlops_kit._processes import free_port
from mlops_kit.classroom.services import pg_bin_dir
from mlops_kit.exceptions import EnvironmentProblem
from mlops_kit.workspace import Workspace

#: the tests share one PostgreSQL and one tracking server (module fixtures)
pytestmark = pytest.mark.xdist_group("mlflow_postgres")

USERS = ("ada", "bob")
ENVS = ("dev", "prod")
DB_USER = "mlflow"


# ------------------------------------------------------------ a real PostgreSQL
def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} CI installs it with ./run.sh test; check that step.")
    pytest.skip(reason)


class Postgres:
    """A PostgreSQL server in a temporary folder, stopped by :meth:`stop`.

    ``initdb`` refuses to run as root, so as root the server runs as the
    ``postgres`` system user (made by Debian's package) in a folder it owns.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-kit-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                _missing("initdb cannot run as root and there is no 'postgres' user to run it.")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                                timeout=timeout, cwd=self.dir)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}\n{log}")

    def start(self) -> "Postgres":
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", DB_USER,
                  "--auth=trust", "--encoding=UTF8", "--no-instructions")
        # small and quick: a test database, nothing to keep after a crash
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off "
                   "-c shared_buffers=16MB -c max_connections=40")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")
        import psycopg

        with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE mlflow")
        return self

    def uri(self, database: str = "mlflow", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{DB_USER}{secret}@127.0.0.1:{self.port}/{database}"

    def postmaster_pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    def stop(self) -> None:
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                          "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                if psutil.pid_exists(pid):
                    psutil.Process(pid).kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    bin_dir = pg_bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        _missing("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install "
                 "postgresql; ./run.sh test does it as root).")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("The PostgreSQL driver is missing: pip install -e '.[dev]' (psycopg).")
    server = Postgres(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(postgres, tmp_path_factory):
    """The kit's tracking server on PostgreSQL, a receiver, one webhook for everyone."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit.jobs.validation import run_validation_job
    from mlops_kit.registry.server import TrackingServer
    from mlops_kit.registry.webhooks import WebhookReceiver, register_webhook

    root = tmp_path_factory.mktemp("kit")
    host = Workspace(root=root, user="admin")
    server = TrackingServer(host, backend_store_uri=postgres.uri()).start()
    workspaces = {
        (user, env): Workspace(root=root, user=user, env=env, tracking_uri_override=server.url)
        for user in USERS for env in ENVS
    }

    def validate(event, data, delivery_id):
        # the job runs as the model's owner, in the model's env (``prod.bob.price``)
        env, user, _ = data["name"].split(".", 2)
        path = run_validation_job(data["name"], str(data["version"]),
                                  workspace=workspaces[(user, env)])
        return f"validated {data['name']} v{data['version']}: {path}"

    secret = secrets.token_hex(16)
    receiver = WebhookReceiver(secret, handler=validate,
                               state_path=root / "deliveries.db").start()
    try:
        register_webhook(receiver.url, secret,
                         client=MlflowClient(server.url, registry_uri=server.url))
        yield {"server": server, "receiver": receiver, "ws": workspaces,
               "postgres": postgres, "root": root, "mlflow": mlflow}
    finally:
        receiver.stop()
        server.stop()


def _activate(stack, user: str, env: str) -> Workspace:
    ws = stack["ws"][(user, env)].activate()
    assert ws.tracking_uri == stack["server"].url
    return ws


def _log_and_register(ws: Workspace, description: str):
    import mlflow

    from mlops_kit import models
    from mlops_kit.registry.promotion import register

    frame = models.listings_frame(600, 7)
    model = models.train_price_model(frame)
    ws.set_experiment("price")
    with mlflow.start_run():
        info = models.log_price_model(model, frame)
    return register(info.model_uri, ws.model_name("price"), description=description)


def _table_rows(postgres: Postgres, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(postgres.uri()) as conn:
        return conn.execute(sql).fetchall()


# ------------------------------------------------------------------ the tests
@pytest.mark.slow
def test_server_keeps_runs_and_registry_in_postgres(stack):
    server = stack["server"]
    assert "--backend-store-uri" in server.command()
    assert server.backend_store_uri.startswith("postgresql://")
    # MLflow made its schema in PostgreSQL, not in a SQLite file in the workspace
    tables = {row[0] for row in _table_rows(
        stack["postgres"], "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"experiments", "runs", "registered_models", "model_versions", "webhooks"} <= tables
    assert not (stack["root"] / "mlflow.db").exists()


@pytest.mark.slow
def test_each_user_and_env_registers_is_validated_and_resets_only_its_own(stack):
    from mlflow import MlflowClient

    versions = {}
    for user in USERS:
        for env in ENVS:
            ws = _activate(stack, user, env)
            versions[(user, env)] = _log_and_register(ws, f"{user}'s price model in {env}")
    for (user, env), version in versions.items():
        assert version.name == f"{env}.{user}.price"
        row = stack["receiver"].wait_for("model_version.created", timeout=300,
                                         name=version.name, version=version.version)
        assert row["status"] == "done", row["detail"]
        tags = MlflowClient(stack["server"].url).get_model_version(
            version.name, version.version).tags
        assert tags["validation.status"] == "passed", tags
    # every row is in PostgreSQL: four models, four versions, one experiment each
    names = {r[0] for r in _table_rows(stack["postgres"], "SELECT name FROM registered_models")}
    assert names == {f"{env}.{user}.price" for user in USERS for env in ENVS}
    experiments = {r[0] for r in _table_rows(
        stack["postgres"], "SELECT name FROM experiments WHERE lifecycle_stage = 'active'")}
    assert {f"/Users/{u}/{e}/price" for u in USERS for e in ENVS} <= experiments

    # each user sees only its own models and resets only them (one test: the state
    # above is what this part reads, and pytest-xdist may run tests on other workers)
    client = MlflowClient(stack["server"].url, registry_uri=stack["server"].url)
    for user in USERS:
        for env in ENVS:
            mine = client.search_registered_models(filter_string=f"name LIKE '{env}.{user}.%'")
            assert [m.name for m in mine] == [f"{env}.{user}.price"]

    report = _activate(stack, "ada", "prod").reset()
    assert report.names["models"] == ["prod.ada.price"]
    # the training experiment and the one the validation job logged to
    assert sorted(report.names["experiments"]) == [
        "/Users/ada/prod/model_validation", "/Users/ada/prod/price"]

    left = {m.name for m in client.search_registered_models()}
    assert left == {"dev.ada.price", "dev.bob.price", "prod.bob.price"}
    active = {e.name for e in client.search_experiments()}
    assert not [name for name in active if name.startswith("/Users/ada/prod/")]
    assert {f"/Users/{u}/{e}/{x}" for u, e in [("ada", "dev"), ("bob", "prod"), ("bob", "dev")]
            for x in ("price", "model_validation")} <= active
    # the rows really went from the database, and a second reset finds nothing
    names = {r[0] for r in _table_rows(stack["postgres"], "SELECT name FROM registered_models")}
    assert "prod.ada.price" not in names and "prod.bob.price" in names
    again = _activate(stack, "ada", "prod").reset()
    assert again["models"] == 0 and again["experiments"] == 0
    # bob's prod model still answers by alias after ada's reset
    assert client.get_model_version_by_alias("prod.bob.price", "challenger").version


@pytest.mark.slow
def test_cli_start_with_a_password_keeps_it_out_of_ps_and_the_pid_file(postgres, tmp_path):
    from mlops_kit.cli import main

    password = "pw-" + secrets.token_hex(8)  # trust auth: accepted, never checked
    runner = CliRunner()
    started = runner.invoke(main, ["mlflow-server", "start", "--backend-store-uri",
                                   postgres.uri(password=password)])
    assert started.exit_code == 0, started.output
    try:
        assert f"backend: postgresql://{DB_USER}:***@127.0.0.1:{postgres.port}/mlflow" \
            in started.output
        status = runner.invoke(main, ["mlflow-server", "status"])
        assert status.exit_code == 0 and ":***@" in status.output
        pid = int(status.output.split("pid ")[1].split(")")[0])
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        assert all(password not in " ".join(p.cmdline()) for p in procs)
        pid_file = Path(os.environ["MLOPS_KIT_HOME"]) / "mlflow-server.json"
        assert password not in pid_file.read_text()
    finally:
        stopped = runner.invoke(main, ["mlflow-server", "stop"])
    assert stopped.exit_code == 0, stopped.output


def test_the_setting_chooses_the_backend_and_a_bad_uri_is_refused(workspace, monkeypatch):
    from mlops_kit.exceptions import ConfigError
    from mlops_kit.registry.server import TrackingServer

    monkeypatch.setenv("MLOPS_KIT_MLFLOW_BACKEND_STORE_URI",
                       "postgresql://mlflow@db.internal:5432/mlflow")
    command = TrackingServer(workspace, port=5999).command()
    assert command[command.index("--backend-store-uri") + 1] == \
        "postgresql://mlflow@db.internal:5432/mlflow"
    with pytest.raises(ConfigError, match="not one SQLAlchemy can use"):
        TrackingServer(workspace, backend_store_uri="nosuchdb://x@y/z").start()
    assert not any("nosuchdb" in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["cmdline"]))


def test_a_missing_driver_is_named_before_the_server_starts(workspace, monkeypatch):
    import sys

    from mlops_kit.exceptions import EnvironmentProblem
    from mlops_kit.registry.server import TrackingServer

    monkeypatch.setitem(sys.modules, "psycopg2", None)  # import psycopg2 -> ImportError
    server = TrackingServer(workspace, backend_store_uri="postgresql+psycopg2://m@127.0.0.1/m")
    with pytest.raises(EnvironmentProblem, match=r"driver 'psycopg2'.*\[postgres\]"):
        server.start()
    assert server.process is None


def test_sqlite_stays_the_default(workspace):
    from mlops_kit.registry.server import TrackingServer, redact_uri

    server = TrackingServer(workspace)
    assert server.backend_store_uri == f"sqlite:///{workspace.root / 'mlflow.db'}"
    assert redact_uri("postgresql://u:secret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_uri("postgresql://u@h/d") == "postgresql://u@h/d"
    assert server.process is None


@pytest.mark.parametrize("uri, cause", [
    # nothing listens on a port this test just found free: refused at once
    ("postgresql://mlflow@127.0.0.1:{free}/mlflow", "127.0.0.1:{free}: Connection refused"),
    ("postgresql://mlflow@no-such-host.invalid:5432/mlflow", "does not resolve"),
])
def test_an_unreachable_database_fails_fast_naming_the_host(workspace, uri, cause):
    """Not 90 s of silence: one line with the host, the port and why, within seconds."""
    import time

    from mlops_kit.registry.server import TrackingServer, free_port

    free = free_port()
    started = time.perf_counter()
    with pytest.raises(EnvironmentProblem, match=re.escape(cause.format(free=free))) as err:
        TrackingServer(workspace, backend_store_uri=uri.format(free=free)).start()
    assert time.perf_counter() - started < 10
    assert "\n" not in str(err.value) and "Start the database" in str(err.value)
    target = uri.format(free=free)  # no server was started for this database
    assert not any(target in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["cmdline"]))


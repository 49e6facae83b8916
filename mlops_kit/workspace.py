"""Per-user workspace: where tables, checkpoints, stores and runs live.

The workspace is the ground floor of the kit: every other module asks it for
paths and names, and it imports nothing else of the kit (except the error
types). One workspace is *active* per process (:func:`get_workspace`).

Layout under the root (``$MLOPS_KIT_HOME``, default ``~/.mlops-kit``)::

    <root>/mlflow.db                       tracking + registry (SQLite), shared by envs
    <root>/mlartifacts/<user>/<env>/       run and model artifacts
    <root>/logs/spark-driver.log           the local Spark JVM's output
    <root>/spark-connect.{json,lock}       the shared Spark Connect server's record, lock
    <root>/spark-connect.token             its token (0600, new at each start)
    <root>/spark-connect.leases/           runs that keep an on-demand server from its idle stop
    <root>/logs/spark-connect.log          its output
    <root>/spark-warehouse/                Spark's warehouse folder
    <root>/mlflow-server.{log,json}        the kit's MLflow tracking server: log, pid file
    <root>/mlflow-auth.{json,db,ini}       its credentials (0600), users and permissions,
                                           auth settings
    <root>/webhook-secret.key              key MLflow encrypts webhook secrets with
    <root>/webhook-deliveries.db           the webhook receiver's delivery log
    <root>/users/<user>/lab-progress.json  lab progress
    <root>/users/<user>/<env>/tables/      Delta tables, one folder each
    <root>/users/<user>/<env>/checkpoints/ streaming checkpoints
    <root>/users/<user>/<env>/feature_tables/  feature-table documents
    <root>/users/<user>/<env>/online.db    online feature store (SQLite)
    <root>/users/<user>/<env>/jobs/        executed job notebooks
    <root>/users/<user>/<env>/endpoints/   serving endpoints' logs
    <root>/users/<user>/<env>/spool/       inference-log write-ahead spools

Each of these is a property of :class:`Workspace`; no other module joins a
folder or file name onto the root. :meth:`Workspace.to_environ` is the one
step from a workspace to the environment variables of a child process.

User folders live only under ``users/`` and shared folders only beside it,
so no user name can reach a shared folder or another user's data. A
workspace made with the older layout (``<root>/<user>/<env>/``) is moved
into ``users/`` the first time it is activated (:func:`migrate_layout`).

User and env names are accepted only in their canonical form (lowercase
letter, then lowercase letters, digits or ``_``; at most 32 characters):
``ADA``, ``ada.x`` or ``ädä`` are refused, never folded into another name.
The default user is the OS login; a login that is not canonical is made so
by lowercasing and turning ``.``, ``-`` and spaces into ``_`` (``First.Last``
becomes ``first_last``), and refused when that is not enough: then set
``MLOPS_KIT_USER``.

Names carry the env the way a catalog does on a managed platform: the
registered model ``price`` of user ``ada`` in ``prod`` is ``prod.ada.price``,
its experiments live under ``/Users/ada/prod/``. Moving the same code from
``dev`` to ``prod`` therefore never touches another env's data.

Every location is a configuration point (environment variables, or keyword
arguments to :meth:`Workspace.from_env`):

=============================  =============================================
``MLOPS_KIT_HOME``             workspace root
``MLOPS_KIT_USER``             user namespace (default: the login name)
``MLOPS_KIT_ENV``              ``dev`` | ``staging`` | ``prod`` (default dev)
``MLOPS_KIT_TRACKING_URI``     MLflow tracking URI (else ``MLFLOW_TRACKING_URI``,
                               else SQLite in the root)
``MLOPS_KIT_REGISTRY_URI``     MLflow registry URI (default: tracking URI)
``MLOPS_KIT_SPARK_MASTER``     ``local[*]``, ``spark://host:7077`` or ``sc://host:15002``
``MLOPS_KIT_SPARK``            ``connect`` (default): with no master set, the
                               workspace's shared Spark Connect server, started on
                               demand; ``local``: a Spark JVM in the process
``MLOPS_KIT_SPARK_TOKEN``      the token of the Spark Connect server that
                               ``MLOPS_KIT_SPARK_MASTER`` names, when it asks for
                               one (or put it in the URL: ``sc://host:port/;token=...``);
                               the workspace's own server needs none set: its
                               token is read from ``spark-connect.token``
=============================  =============================================

The kit's servers ask who is calling: the Spark Connect server wants the token
of ``<root>/spark-connect.token`` (new at each start) and the kit's ``mlflow
server`` a user and password from ``<root>/mlflow-auth.json``; both files are
0600, the root 0700. ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``
set by hand win over the file (a class server run by someone else).

``MLOPS_KIT_MLFLOW_BACKEND_STORE_URI`` sets the database behind the kit's own
``mlflow server`` (``mlops-kit mlflow-server start``), e.g.
``postgresql://user@host:5432/mlflow`` (default: SQLite in the root); clients
then use the server's URL as their tracking URI.

``MLOPS_KIT_MLFLOW_TEMPLATE`` names an empty, migrated SQLite store
(:func:`make_mlflow_template`): a workspace whose local store does not exist yet
starts from a copy of it instead of creating and migrating its own (about 2 s),
which pays where many workspaces are made (a test suite, a classroom image).
"""
from __future__ import annotations

import getpass
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, MutableMapping

from mlops_kit.exceptions import ConfigError

__all__ = ["ENVS", "Workspace", "ResetReport", "check_name", "check_user", "default_user",
           "get_workspace", "make_mlflow_template", "make_private", "migrate_layout",
           "readable_by_others", "use_workspace"]

#: the environments of the deploy-code pattern, in promotion order
ENVS: tuple[str, ...] = ("dev", "staging", "prod")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_USER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: where Spark runs when nothing says otherwise: this machine, every core (a local JVM
#: or, by default, the workspace's shared Spark Connect server running local[*])
DEFAULT_SPARK_MASTER = "local[*]"

#: folders of the root that are not user folders (never moved by the migration)
SHARED_FOLDERS: frozenset[str] = frozenset(
    {"users", "mlartifacts", "mlflow", "logs", "spark-warehouse"})


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 70 else text[:60] + f"...' ({len(str(name))} characters)"


def check_user(user: str, *, source: str = "MLOPS_KIT_USER") -> str:
    """Return ``user`` if it is a canonical user name, else raise :class:`ConfigError`.

    Canonical: a lowercase letter, then lowercase letters, digits or ``_``, at
    most 32 characters. Nothing is folded: ``Ada`` is refused, not read as ``ada``.
    """
    if not isinstance(user, str) or not _USER.fullmatch(user):
        near = re.sub(r"[.\- ]", "_", user.lower()) if isinstance(user, str) else ""
        hint = f" (did you mean {near!r}?)" if _USER.fullmatch(near) else ""
        raise ConfigError(
            f"The user name must be a lowercase letter followed by lowercase letters, "
            f"digits or '_' (at most 32 characters, e.g. 'ada_lovelace'). Got "
            f"{_shown(user)} from {source}{hint}."
        )
    return user


def default_user() -> str:
    """The OS login in canonical form: lowercased, '.', '-' and spaces as '_'.

    Deterministic; raises :class:`ConfigError` (set ``MLOPS_KIT_USER``) when
    that does not give a canonical name (e.g. a login with accents).
    """
    login = getpass.getuser()
    derived = re.sub(r"[.\- ]", "_", login.lower())
    if not _USER.fullmatch(derived):
        raise ConfigError(
            f"Your login {_shown(login)} does not make a valid mlops-kit user name. Set "
            "MLOPS_KIT_USER to a lowercase letter followed by lowercase letters, digits "
            "or '_' (at most 32 characters), e.g. export MLOPS_KIT_USER=ada."
        )
    return derived


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a canonical identifier, else raise :class:`ConfigError`.

    Table, model and experiment names end up in paths and SQL, so only
    lowercase letters, digits and underscores are allowed, starting with a
    letter; nothing is folded (``Price`` is refused, not read as ``price``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"The {kind} name must be lowercase letters, digits and underscores, starting "
            f"with a letter (at most 64 characters, e.g. 'price_model'). Got {_shown(name)} "
            "instead."
        )
    return name


def make_private(root: Path) -> None:
    """Create the workspace root readable by its owner only (0700), or tighten it.

    A workspace holds the learner's tables (inference logs carry request
    inputs), their registry and the servers' secrets: on a shared machine no
    other user may list or read them. A folder that belongs to someone else
    (a shared mount an admin set up) is left alone; ``mlops-kit doctor`` says so.
    """
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        root.chmod(0o700)


#: an empty, migrated MLflow SQLite store a new workspace's store is copied from
MLFLOW_TEMPLATE_SETTING = "MLOPS_KIT_MLFLOW_TEMPLATE"


def make_mlflow_template(path: str | os.PathLike[str]) -> Path:
    """Create an empty MLflow SQLite store at ``path`` with every migration applied.

    No experiment is made in it: MLflow adds its default experiment (whose
    artifact location depends on the process) when a workspace first opens its
    copy, exactly as it does in a store it created. Written under another name
    and renamed, so processes racing to make the same template never read half a
    file. Returns ``path``.
    """
    path = Path(path)
    if path.exists():
        return path
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"sqlite:///{partial}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    partial.replace(path)
    return path


def readable_by_others(root: Path) -> bool:
    """Whether users other than the owner can enter the workspace root."""
    return root.exists() and bool(root.stat().st_mode & 0o077)


def migrate_layout(root: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """Move user folders of the older layout (``<root>/<user>/<env>``) under ``users/``.

    Feature-table documents that recorded the old absolute paths are
    rewritten. Returns the ``(old, new)`` moves made; raises
    :class:`ConfigError` when a user exists in both layouts (merge by hand).
    """
    root = Path(root)
    moves: list[tuple[Path, Path]] = []
    if not root.is_dir():
        return moves
    for old in sorted(root.iterdir()):
        if (old.name in SHARED_FOLDERS or not old.is_dir() or not _USER.fullmatch(old.name)
                or not any((old / env).is_dir() for env in ENVS)):
            continue
        new = root / "users" / old.name
        if new.exists():
            raise ConfigError(
                f"The workspace {root} holds user {old.name!r} twice: in the old layout "
                f"({old}) and in the new one ({new}). Move what you need from {old} into "
                f"{new} and delete {old}, or delete one of them."
            )
        new.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old, new)
        for doc in new.glob("*/feature_tables/*.json"):
            text = doc.read_text()
            doc.write_text(text.replace(f"{old}{os.sep}", f"{new}{os.sep}"))
        moves.append((old, new))
    return moves


@dataclass(frozen=True)
class Workspace:
    """Paths and names for one user in one environment.

    Build it with :meth:`from_env`; the constructor only stores arguments.

    Examples
    --------
    >>> ws = Workspace(root=Path("/tmp/kit"), user="ada", env="prod")
    >>> ws.model_name("price")
    'prod.ada.price'
    >>> ws.experiment_name("training")
    '/Users/ada/prod/training'
    """

    root: Path
    user: str
    env: str = "dev"
    tracking_uri_override: str | None = field(default=None, repr=False)
    registry_uri_override: str | None = field(default=None, repr=False)
    spark_master: str = "local[*]"  # DEFAULT_SPARK_MASTER

    def __post_init__(self) -> None:
        check_user(self.user, source="the user argument")
        if self.env not in ENVS:
            raise ConfigError(
                f"The env must be one of {', '.join(ENVS)}. Got {self.env!r} instead. "
                "Set MLOPS_KIT_ENV or pass --env."
            )

    # ----------------------------------------------------------- construction
    @classmethod
    def from_env(
        cls,
        env: str | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
        user: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "Workspace":
        """Build the workspace from arguments, then environment variables, then defaults.

        ``environ`` (default ``os.environ``) lets a caller ask what a process
        with other settings would see, without changing this process's.
        """
        environ = os.environ if environ is None else environ
        root_path = Path(
            root or environ.get("MLOPS_KIT_HOME") or Path.home() / ".mlops-kit"
        ).expanduser().resolve()
        if user is not None:
            user = check_user(user, source="the user argument")
        elif environ.get("MLOPS_KIT_USER"):
            user = check_user(environ["MLOPS_KIT_USER"])
        else:
            user = default_user()
        return cls(
            root=root_path,
            user=user,
            env=env or environ.get("MLOPS_KIT_ENV") or "dev",
            tracking_uri_override=environ.get("MLOPS_KIT_TRACKING_URI")
            or environ.get("MLFLOW_TRACKING_URI"),
            registry_uri_override=environ.get("MLOPS_KIT_REGISTRY_URI"),
            spark_master=environ.get("MLOPS_KIT_SPARK_MASTER") or DEFAULT_SPARK_MASTER,
        )

    def with_env(self, env: str) -> "Workspace":
        """The same user and root in another environment."""
        return replace(self, env=env)

    # ------------------------------------------------------------------ paths
    @property
    def user_dir(self) -> Path:
        """This user's folder (all envs): ``<root>/users/<user>``."""
        return self.root / "users" / self.user

    @property
    def env_dir(self) -> Path:
        """Everything this user owns in this env (and only that) lives here."""
        return self.user_dir / self.env

    @property
    def tables_dir(self) -> Path:
        return self.env_dir / "tables"

    @property
    def checkpoints_dir(self) -> Path:
        return self.env_dir / "checkpoints"

    @property
    def jobs_dir(self) -> Path:
        """Executed job notebooks are kept here, one per run."""
        return self.env_dir / "jobs"

    @property
    def online_store_path(self) -> Path:
        return self.env_dir / "online.db"

    @property
    def feature_tables_dir(self) -> Path:
        """Feature-table documents (one JSON file per table) of this env."""
        return self.env_dir / "feature_tables"

    @property
    def endpoints_dir(self) -> Path:
        """Logs of the serving endpoints started in this env, one per port."""
        return self.env_dir / "endpoints"

    @property
    def progress_path(self) -> Path:
        """This user's lab progress (all envs)."""
        return self.user_dir / "lab-progress.json"

    @property
    def artifacts_root(self) -> Path:
        """Every user's MLflow artifacts (the tracking server's default artifact root)."""
        return self.root / "mlartifacts"

    @property
    def artifacts_dir(self) -> Path:
        return self.artifacts_root / self.user / self.env

    # ------------------------------------------------- shared files of the root
    @property
    def mlflow_db_path(self) -> Path:
        """The kit's SQLite tracking and registry store, shared by all users and envs."""
        return self.root / "mlflow.db"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def spark_driver_log_path(self) -> Path:
        """Where the local Spark JVM's stdout and stderr go."""
        return self.logs_dir / "spark-driver.log"

    @property
    def spark_connect_state_path(self) -> Path:
        """The record (pid, port) of the workspace's Spark Connect server."""
        return self.root / "spark-connect.json"

    @property
    def spark_connect_lock_path(self) -> Path:
        """Lock file: one process at a time starts or stops the Spark Connect server."""
        return self.root / "spark-connect.lock"

    @property
    def spark_connect_token_path(self) -> Path:
        """The token the Spark Connect server asks every client for (0600, fresh at each start)."""
        return self.root / "spark-connect.token"

    @property
    def spark_connect_leases_dir(self) -> Path:
        """One file per course or job run that keeps an on-demand server from its idle stop."""
        return self.root / "spark-connect.leases"

    @property
    def spark_connect_log_path(self) -> Path:
        """The Spark Connect server's stdout and stderr."""
        return self.logs_dir / "spark-connect.log"

    @property
    def warehouse_dir(self) -> Path:
        """Spark's ``spark.sql.warehouse.dir``."""
        return self.root / "spark-warehouse"

    @property
    def tracking_server_log_path(self) -> Path:
        """Output of the kit's ``mlflow server`` process."""
        return self.root / "mlflow-server.log"

    @property
    def tracking_server_pid_path(self) -> Path:
        """Pid file that keeps the kit's ``mlflow server`` alive between commands."""
        return self.root / "mlflow-server.json"

    @property
    def tracking_server_auth_path(self) -> Path:
        """Credentials of the kit's authenticated ``mlflow server``: admin and users (0600)."""
        return self.root / "mlflow-auth.json"

    @property
    def tracking_server_auth_db_path(self) -> Path:
        """MLflow's user and permission store of that server (SQLite)."""
        return self.root / "mlflow-auth.db"

    @property
    def tracking_server_auth_config_path(self) -> Path:
        """The ``basic-auth`` app's settings file of that server (no secret in it)."""
        return self.root / "mlflow-auth.ini"

    @property
    def webhook_key_path(self) -> Path:
        """The Fernet key MLflow encrypts webhook secrets with (made once)."""
        return self.root / "webhook-secret.key"

    @property
    def webhook_deliveries_path(self) -> Path:
        """SQLite delivery log of the webhook receiver."""
        return self.root / "webhook-deliveries.db"

    def table_path(self, name: str) -> Path:
        """Folder of the Delta table ``name`` in this env."""
        return self.tables_dir / check_name("table", name)

    def checkpoint_path(self, name: str) -> Path:
        return self.checkpoints_dir / check_name("checkpoint", name)

    def spool_path(self, name: str) -> Path:
        """Write-ahead spool of the inference log table ``name``."""
        return self.env_dir / "spool" / check_name("table", name)

    # ------------------------------------------------------------------ names
    def model_name(self, name: str) -> str:
        """Registered-model name carrying env and user: ``<env>.<user>.<name>``."""
        return f"{self.env}.{self.user}.{check_name('model', name)}"

    def experiment_name(self, name: str) -> str:
        """Experiment path carrying user and env: ``/Users/<user>/<env>/<name>``."""
        return f"/Users/{self.user}/{self.env}/{check_name('experiment', name)}"

    # ----------------------------------------------------------------- mlflow
    @property
    def uses_local_mlflow(self) -> bool:
        """True for the kit's own SQLite store, also when it came back via
        ``MLFLOW_TRACKING_URI`` (which :meth:`activate` exports to child processes)."""
        return self.tracking_uri_override in (None, self._local_tracking_uri)

    @property
    def _local_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db_path}"

    @property
    def tracking_uri(self) -> str:
        """SQLite in the root by default; a shared server when configured."""
        return self.tracking_uri_override or self._local_tracking_uri

    @property
    def registry_uri(self) -> str:
        return self.registry_uri_override or self.tracking_uri

    def activate(self) -> "Workspace":
        """Create the folders and point MLflow (and child processes) at this workspace.

        Sets ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI`` in ``os.environ`` so
        papermill kernels, Spark workers and servers started from here agree.
        """
        make_private(self.root)
        migrate_layout(self.root)
        for path in (self.tables_dir, self.checkpoints_dir, self.jobs_dir, self.artifacts_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._seed_local_store()
        _apply(os.environ, self._variables())
        self._apply_spark_master(os.environ)
        # this process (and Spark workers, started with its environment) talks to
        # MLflow directly; children started by the kit get to_environ() instead
        os.environ["MLFLOW_TRACKING_URI"] = self.tracking_uri
        os.environ["MLFLOW_REGISTRY_URI"] = self.registry_uri
        for key, value in self.mlflow_credentials().items():  # credentials set by hand win
            os.environ.setdefault(key, value)
        # progress bars for every artifact download drown notebook output
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import mlflow  # local: importing mlflow costs ~1 s

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        use_workspace(self)
        return self

    # ------------------------------------------------------------ environment
    def _variables(self) -> dict[str, str | None]:
        """What a process needs to rebuild this workspace with :meth:`from_env`
        (None: the variable must be absent)."""
        local = self.uses_local_mlflow
        return {
            "MLOPS_KIT_HOME": str(self.root),
            "MLOPS_KIT_USER": self.user,
            "MLOPS_KIT_ENV": self.env,
            "MLOPS_KIT_TRACKING_URI": None if local else self.tracking_uri,
            "MLOPS_KIT_REGISTRY_URI": self.registry_uri_override,
            "MLFLOW_TRACKING_URI": None,
            "MLFLOW_REGISTRY_URI": None,
        }

    def _apply_spark_master(self, environ: MutableMapping[str, str]) -> None:
        """Set ``MLOPS_KIT_SPARK_MASTER`` in ``environ`` unless nothing needs saying.

        The default master is left unset (or as the user set it): an unset
        master lets the process pick the engine itself, by default the
        workspace's shared Spark Connect server (:mod:`mlops_kit.spark`), while
        an explicit ``local[*]`` means a JVM in the process.
        """
        current = environ.get("MLOPS_KIT_SPARK_MASTER") or DEFAULT_SPARK_MASTER
        if self.spark_master != DEFAULT_SPARK_MASTER or current != DEFAULT_SPARK_MASTER:
            environ["MLOPS_KIT_SPARK_MASTER"] = self.spark_master

    def to_environ(self, base: Mapping[str, str] | None = None, *,
                   plain_mlflow: bool = False) -> dict[str, str]:
        """The environment of a child process that works in this workspace.

        ``base`` (default ``os.environ``) with the workspace's variables set, so
        that :meth:`from_env` in the child builds this same workspace. With the
        kit's local SQLite store the MLflow URI variables are left out: the
        child derives the same store (and its artifact locations) from
        ``MLOPS_KIT_HOME``. A configured tracking or registry server travels as
        ``MLOPS_KIT_TRACKING_URI`` / ``MLOPS_KIT_REGISTRY_URI``.

        ``plain_mlflow=True`` is for a child that talks to MLflow without the
        kit (``mlflow models serve``, Spark's Python workers): it gets MLflow's
        own ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` too, since it
        would otherwise look for models in a ``mlruns/`` folder of its own.

        Examples
        --------
        >>> ws = Workspace(root=Path("/tmp/kit"), user="ada", env="prod")
        >>> env = ws.to_environ({"PATH": "/bin", "MLFLOW_TRACKING_URI": "sqlite:///x.db"})
        >>> env["MLOPS_KIT_ENV"], env["PATH"], "MLFLOW_TRACKING_URI" in env
        ('prod', '/bin', False)
        """
        env = dict(os.environ if base is None else base)
        # PySpark marks a process whose session is a Spark Connect client with this
        # variable; inherited, it would make a child that is to start a JVM of its
        # own (MLOPS_KIT_SPARK=local) refuse to. A child picks its engine itself.
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        _apply(env, self._variables())
        self._apply_spark_master(env)
        if plain_mlflow:
            env["MLFLOW_TRACKING_URI"] = self.tracking_uri
            env["MLFLOW_REGISTRY_URI"] = self.registry_uri
            for key, value in self.mlflow_credentials().items():
                env.setdefault(key, value)
        return env

    def mlflow_credentials(self) -> dict[str, str]:
        """``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` for the kit's authenticated server.

        Given when the tracking URI is the ``mlflow server`` this workspace runs
        with authentication (``mlops-kit mlflow-server start``): the user's
        password is read from the workspace's 0600 credentials file. Empty for
        any other store: a class server run by someone else takes the
        credentials its admin gave (set the two variables).
        """
        if self.uses_local_mlflow:
            return {}
        import json

        try:
            server = json.loads(self.tracking_server_pid_path.read_text())
            creds = json.loads(self.tracking_server_auth_path.read_text())
        except (OSError, ValueError):
            return {}

        def same(url: str) -> str:
            return url.rstrip("/").replace("://localhost:", "://127.0.0.1:")

        password = (creds.get("users") or {}).get(self.user)
        if not server.get("auth") or not password or \
                same(str(server.get("url", ""))) != same(self.tracking_uri):
            return {}
        return {"MLFLOW_TRACKING_USERNAME": self.user, "MLFLOW_TRACKING_PASSWORD": password}

    def set_experiment(self, name: str) -> str:
        """Create (if needed) and select the experiment ``name``; return its id.

        With the local SQLite backend, artifacts go to the workspace, never to a
        ``mlruns/`` folder in whatever directory the notebook runs from.
        """
        import mlflow

        full_name = self.experiment_name(name)
        experiment = mlflow.get_experiment_by_name(full_name)
        if experiment is None:
            location = None
            if self.uses_local_mlflow:
                location = (self.artifacts_dir / name).as_uri()
            experiment_id = mlflow.create_experiment(full_name, artifact_location=location)
        else:
            experiment_id = experiment.experiment_id
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def _seed_local_store(self) -> None:
        """Copy ``MLOPS_KIT_MLFLOW_TEMPLATE`` into a local store that does not exist yet."""
        template = os.environ.get(MLFLOW_TEMPLATE_SETTING)
        if not template or not self.uses_local_mlflow or self.mlflow_db_path.exists():
            return
        if not Path(template).is_file():
            return  # MLflow creates and migrates the store itself, as without a template
        partial = self.mlflow_db_path.with_name(f"mlflow.db.{os.getpid()}.partial")
        shutil.copyfile(template, partial)
        partial.chmod(0o600)
        try:
            os.link(partial, self.mlflow_db_path)  # never over a store another process made
        except FileExistsError:
            pass
        except OSError:  # no hard links here: a rename, unless a store appeared meanwhile
            if not self.mlflow_db_path.exists():
                partial.replace(self.mlflow_db_path)
        finally:
            partial.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reset
    def reset(self) -> "ResetReport":
        """Delete this user's tables, experiments and models in this env, nothing else.

        Idempotent. Experiments are renamed before deletion so their names are
        free again at once (MLflow keeps deleted experiments' names otherwise).

        Returns
        -------
        ResetReport
            A dict of how many ``tables``, ``experiments`` and ``models`` were
            removed; ``.names`` lists them and ``.folders`` the folders deleted.
        """
        migrate_layout(self.root)
        report = ResetReport({"tables": 0, "experiments": 0, "models": 0})
        if self.tables_dir.is_dir():
            report.names["tables"] = sorted(
                p.name for p in self.tables_dir.iterdir()
                if p.is_dir() and not p.name.startswith("."))
        for path in (self.env_dir, self.artifacts_dir):
            if path.exists():
                shutil.rmtree(path)
                report.folders.append(path)
        if not (self.uses_local_mlflow and not self.mlflow_db_path.exists()):
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=self.tracking_uri,
                                  registry_uri=self.registry_uri)
            prefix = f"/Users/{self.user}/{self.env}/"
            for experiment in client.search_experiments(
                filter_string=f"name LIKE '{prefix}%'"
            ):
                if not experiment.name.startswith(prefix):  # LIKE treats _ as a wildcard
                    continue
                client.rename_experiment(
                    experiment.experiment_id, f"deleted-{uuid.uuid4().hex}"
                )
                client.delete_experiment(experiment.experiment_id)
                report.names["experiments"].append(experiment.name)
            model_prefix = f"{self.env}.{self.user}."
            for model in client.search_registered_models(
                filter_string=f"name LIKE '{model_prefix}%'"
            ):
                if model.name.startswith(model_prefix):
                    client.delete_registered_model(model.name)
                    report.names["models"].append(model.name)
        for kind, names in report.names.items():
            report[kind] = len(names)
        return report


def _apply(environ: MutableMapping[str, str], variables: Mapping[str, str | None]) -> None:
    """Set each variable, or remove it where its value is None."""
    for key, value in variables.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value


class ResetReport(dict):
    """What :meth:`Workspace.reset` removed: counts (the dict), names and folders."""

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__(counts)
        self.names: dict[str, list[str]] = {kind: [] for kind in counts}
        self.folders: list[Path] = []

    def describe(self) -> str:
        """One line per kind: ``1 table: listings``; then the folders deleted."""
        lines = []
        for kind, names in self.names.items():
            label = kind if len(names) != 1 else kind[:-1]
            lines.append(f"{len(names)} {label}" + (f": {', '.join(names)}" if names else ""))
        lines.append("folders deleted: " + (", ".join(map(str, self.folders)) or "none"))
        return "\n".join(lines)


_active: Workspace | None = None


def get_workspace() -> Workspace:
    """The active workspace; built from the environment on first use."""
    global _active
    if _active is None:
        _active = Workspace.from_env()
    return _active


def use_workspace(workspace: Workspace | None) -> None:
    """Make ``workspace`` the active one (``None`` rebuilds from the environment)."""
    global _active
    _active = workspace

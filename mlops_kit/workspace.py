"""Per-user workspace: where tables, checkpoints, stores and runs live.

The workspace is the ground floor of the kit: every other module asks it for
paths and names, and it imports nothing else of the kit (except the error
types). One workspace is *active* per process (:func:`get_workspace`).

Layout under the root (``$MLOPS_KIT_HOME``, default ``~/.mlops-kit``)::

    <root>/mlflow.db                 tracking + registry (SQLite), shared by envs
    <root>/mlartifacts/<user>/<env>/ run and model artifacts
    <root>/<user>/<env>/tables/      Delta tables, one folder each
    <root>/<user>/<env>/checkpoints/ streaming checkpoints
    <root>/<user>/<env>/online.db    online feature store (SQLite)
    <root>/<user>/<env>/jobs/        executed job notebooks

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
=============================  =============================================
"""
from __future__ import annotations

import getpass
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlops_kit.exceptions import ConfigError

__all__ = ["ENVS", "Workspace", "get_workspace", "use_workspace"]

#: the environments of the deploy-code pattern, in promotion order
ENVS: tuple[str, ...] = ("dev", "staging", "prod")

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _clean_user(user: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]", "_", user.lower()).strip("_")
    return cleaned or "user"


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a safe identifier, else raise :class:`ConfigError`.

    Table, model and experiment names end up in paths and SQL, so only letters,
    digits and underscores are allowed, starting with a letter.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"The {kind} name must be letters, digits and underscores, starting "
            f"with a letter (at most 64 characters). Got {name!r} instead."
        )
    return name


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
    spark_master: str = "local[*]"

    def __post_init__(self) -> None:
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
    ) -> "Workspace":
        """Build the workspace from arguments, then environment variables, then defaults."""
        root_path = Path(
            root or os.environ.get("MLOPS_KIT_HOME") or Path.home() / ".mlops-kit"
        ).expanduser().resolve()
        return cls(
            root=root_path,
            user=_clean_user(user or os.environ.get("MLOPS_KIT_USER") or getpass.getuser()),
            env=env or os.environ.get("MLOPS_KIT_ENV") or "dev",
            tracking_uri_override=os.environ.get("MLOPS_KIT_TRACKING_URI")
            or os.environ.get("MLFLOW_TRACKING_URI"),
            registry_uri_override=os.environ.get("MLOPS_KIT_REGISTRY_URI"),
            spark_master=os.environ.get("MLOPS_KIT_SPARK_MASTER") or "local[*]",
        )

    def with_env(self, env: str) -> "Workspace":
        """The same user and root in another environment."""
        return replace(self, env=env)

    # ------------------------------------------------------------------ paths
    @property
    def env_dir(self) -> Path:
        """Everything this user owns in this env (and only that) lives here."""
        return self.root / self.user / self.env

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
    def artifacts_dir(self) -> Path:
        return self.root / "mlartifacts" / self.user / self.env

    def table_path(self, name: str) -> Path:
        """Folder of the Delta table ``name`` in this env."""
        return self.tables_dir / check_name("table", name)

    def checkpoint_path(self, name: str) -> Path:
        return self.checkpoints_dir / check_name("checkpoint", name)

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
        return f"sqlite:///{self.root / 'mlflow.db'}"

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
        for path in (self.tables_dir, self.checkpoints_dir, self.jobs_dir, self.artifacts_dir):
            path.mkdir(parents=True, exist_ok=True)
        os.environ["MLFLOW_TRACKING_URI"] = self.tracking_uri
        os.environ["MLFLOW_REGISTRY_URI"] = self.registry_uri
        os.environ["MLOPS_KIT_HOME"] = str(self.root)
        os.environ["MLOPS_KIT_USER"] = self.user
        os.environ["MLOPS_KIT_ENV"] = self.env
        # progress bars for every artifact download drown notebook output
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import mlflow  # local: importing mlflow costs ~1 s

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        use_workspace(self)
        return self

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

    # ------------------------------------------------------------------ reset
    def reset(self) -> dict[str, int]:
        """Delete this user's tables, experiments and models in this env, nothing else.

        Idempotent. Experiments are renamed before deletion so their names are
        free again at once (MLflow keeps deleted experiments' names otherwise).

        Returns
        -------
        dict
            How many ``tables``, ``experiments`` and ``models`` were removed.
        """
        removed = {"tables": 0, "experiments": 0, "models": 0}
        if self.tables_dir.exists():
            removed["tables"] = sum(1 for p in self.tables_dir.iterdir() if p.is_dir())
        for path in (self.env_dir, self.artifacts_dir):
            shutil.rmtree(path, ignore_errors=True)
        if self.uses_local_mlflow and not (self.root / "mlflow.db").exists():
            return removed
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
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
            removed["experiments"] += 1
        model_prefix = f"{self.env}.{self.user}."
        for model in client.search_registered_models(
            filter_string=f"name LIKE '{model_prefix}%'"
        ):
            if model.name.startswith(model_prefix):
                client.delete_registered_model(model.name)
                removed["models"] += 1
        return removed


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

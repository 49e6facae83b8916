"""Promotion by aliases, with an audit trail, and copies between environments.

Stages (``Staging``/``Production``) are deprecated in MLflow; a version's role
is an *alias* (``champion``, ``challenger``) that points at it and moves.
Moving an alias changes what every ``models:/name@champion`` consumer loads,
so :func:`promote` records who moved it, when, from which version and why:

* on the version, a tag ``promotion.<alias>`` with that record (JSON);
* on the registered model, one tag per event ``audit.<000001>`` (JSON), a
  history that survives when the alias moves on; :func:`audit_trail` reads
  it back as a DataFrame.

Environments follow the deploy-code pattern of the workspace: the same code
registers ``dev.<user>.price``, and a version that earned it is *copied*
(``MlflowClient.copy_model_version``) to ``staging.<user>.price`` and then
``prod.<user>.price`` (:func:`copy_to_env`). With one central registry all
envs are names in the same store; with a registry per environment, point
``MLOPS_KIT_REGISTRY_URI`` of each env at its own store and copy the same way.
"""
from __future__ import annotations

import getpass
import json
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from mlflow import MlflowClient

__all__ = [
    "register",
    "promote", "audit_trail", "archive", "copy_to_env", "current_alias_version", "ALIASES",
]

#: aliases the course uses; any valid alias name works
ALIASES: tuple[str, ...] = ("champion", "challenger")
_AUDIT_PREFIX = "audit."
_AUDIT_COLUMNS = ["seq", "at", "actor", "action", "alias", "version", "from_version", "reason"]


def _client(client: "MlflowClient | None") -> "MlflowClient":
    from mlflow import MlflowClient

    return client or MlflowClient()


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("MLOPS_KIT_USER") or getpass.getuser()


def _check_reason(reason: str) -> str:
    if not isinstance(reason, str) or len(reason.strip()) < 5:
        raise ConfigError(
            "A promotion needs a reason of at least 5 characters (it goes into the audit "
            f"trail). Got {reason!r} instead, e.g. reason='beats champion on holdout RMSE'."
        )
    return reason.strip()


def _model_version(client: "MlflowClient", name: str, version: str | int):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as err:
        raise NotFoundError(
            f"No version {version} of registered model {name!r}. "
            "List versions with client.search_model_versions(f\"name='{name}'\")."
        ) from err


def current_alias_version(name: str, alias: str, *, client: "MlflowClient | None" = None) -> str | None:
    """The version ``alias`` points at, or None when it is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client(client).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def register(
    model_uri: str,
    name: str,
    *,
    description: str,
    tags: dict[str, str] | None = None,
    client: "MlflowClient | None" = None,
) -> Any:
    """Register ``model_uri`` as a new version of ``name``, description included.

    ``mlflow.register_model`` creates the version first and lets you describe
    it afterwards; a webhook fires in between, so the validation job would see
    a version without a description. This creates the registered model if
    needed and the version *with* its description in one call.

    Returns
    -------
    ModelVersion
    """
    from mlflow.exceptions import MlflowException

    client = _client(client)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    run_id = model_id = None
    if model_uri.startswith("runs:/"):
        run_id = model_uri.split("/")[1]
    else:
        import mlflow

        info = mlflow.models.get_model_info(model_uri)
        run_id, model_id = info.run_id, info.model_id
    return client.create_model_version(
        name, model_uri, run_id=run_id, tags=tags, description=description, model_id=model_id
    )


def _append_audit(client: "MlflowClient", name: str, event: dict[str, Any]) -> dict[str, Any]:
    existing = client.get_registered_model(name).tags
    seq = 1 + sum(1 for key in existing if key.startswith(_AUDIT_PREFIX))
    event = {"seq": seq, **event}
    client.set_registered_model_tag(name, f"{_AUDIT_PREFIX}{seq:06d}", json.dumps(event))
    return event


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def promote(
    name: str,
    version: str | int,
    alias: str,
    reason: str,
    *,
    actor: str | None = None,
    client: "MlflowClient | None" = None,
) -> dict[str, Any]:
    """Point ``alias`` at ``version`` and record who, when, from which version, why.

    Parameters
    ----------
    name : str
        Registered model name (``dev.ada.price``).
    version : str or int
        The version that gets the alias.
    alias : str
        ``champion``, ``challenger`` or any alias name.
    reason : str
        Why (at least 5 characters): goes into the audit trail.
    actor : str, optional
        Who; defaults to the workspace user.

    Returns
    -------
    dict
        The audit event written (``seq``, ``at``, ``actor``, ``action``,
        ``alias``, ``version``, ``from_version``, ``reason``).

    Raises
    ------
    NotFoundError
        The model or version does not exist.
    ConfigError
        No (or a too short) reason.
    """
    client = _client(client)
    reason = _check_reason(reason)
    version = str(_model_version(client, name, version).version)
    previous = current_alias_version(name, alias, client=client)
    client.set_registered_model_alias(name, alias, version)
    event = {
        "at": _now(), "actor": _actor(actor), "action": "set_alias", "alias": alias,
        "version": version, "from_version": previous, "reason": reason,
    }
    client.set_model_version_tag(name, version, f"promotion.{alias}", json.dumps(event))
    return _append_audit(client, name, event)


def archive(
    name: str,
    version: str | int,
    reason: str,
    *,
    actor: str | None = None,
    client: "MlflowClient | None" = None,
) -> dict[str, Any]:
    """Retire a version: remove the aliases on it and tag it ``archived=true``.

    The version stays loadable by number (``models:/name/3``) for audits and
    rollbacks; consumers that load by alias stop seeing it.
    """
    client = _client(client)
    reason = _check_reason(reason)
    model_version = _model_version(client, name, version)
    for alias in list(model_version.aliases):
        client.delete_registered_model_alias(name, alias)
    client.set_model_version_tag(name, model_version.version, "archived", "true")
    return _append_audit(client, name, {
        "at": _now(), "actor": _actor(actor), "action": "archive",
        "alias": ",".join(model_version.aliases) or None,
        "version": str(model_version.version), "from_version": None, "reason": reason,
    })


def audit_trail(name: str, *, client: "MlflowClient | None" = None) -> "pd.DataFrame":
    """Every promotion, archive and copy of ``name``, oldest first."""
    import pandas as pd

    tags = _client(client).get_registered_model(name).tags
    events = [json.loads(v) for k, v in tags.items() if k.startswith(_AUDIT_PREFIX)]
    frame = pd.DataFrame(events, columns=_AUDIT_COLUMNS)
    return frame.sort_values("seq", ignore_index=True)


def copy_to_env(
    name: str,
    version: str | int,
    *,
    from_env: str,
    to_env: str,
    reason: str,
    actor: str | None = None,
    alias: str | None = None,
    workspace: Workspace | None = None,
    client: "MlflowClient | None" = None,
) -> Any:
    """Copy ``<from_env>.<user>.<name>`` version ``version`` to ``<to_env>.<user>.<name>``.

    The copy is a new version in the target model (created if needed) with
    the same artifacts, tagged with where it came from; the copy is recorded
    in the target model's audit trail, and ``alias`` (if given) is set on it
    through :func:`promote`.

    Returns
    -------
    ModelVersion
        The new version in the target environment.
    """
    from mlflow.exceptions import MlflowException

    client = _client(client)
    reason = _check_reason(reason)
    ws = workspace or get_workspace()
    source_name = ws.with_env(from_env).model_name(name)
    target_name = ws.with_env(to_env).model_name(name)
    if source_name == target_name:
        raise ConfigError(
            f"from_env and to_env are both {from_env!r}; copy between two environments, "
            "e.g. from_env='dev', to_env='staging'."
        )
    source = _model_version(client, source_name, version)
    try:
        client.get_registered_model(target_name)
    except MlflowException:
        client.create_registered_model(
            target_name, description=f"{name} in {to_env}, copied from {from_env}"
        )
    copied = client.copy_model_version(f"models:/{source_name}/{source.version}", target_name)
    client.set_model_version_tag(target_name, copied.version, "copied_from",
                                 f"{source_name}/{source.version}")
    if source.description:
        client.update_model_version(target_name, copied.version, source.description)
    _append_audit(client, target_name, {
        "at": _now(), "actor": _actor(actor), "action": "copy", "alias": None,
        "version": str(copied.version), "from_version": f"{source_name}/{source.version}",
        "reason": reason,
    })
    if alias:
        promote(target_name, copied.version, alias, reason, actor=actor, client=client)
    return client.get_model_version(target_name, copied.version)

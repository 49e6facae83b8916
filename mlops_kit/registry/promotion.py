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

A promotion's reason should be evidence, not a wish: :func:`compare_on_holdout`
scores the challenger and the champion on the same holdout rows and
:func:`promote_if_better` moves the alias only when the challenger wins,
with the measured numbers as the reason; a losing challenger is refused, and
the refusal is recorded in the audit trail too.
"""
from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlops_kit.exceptions import ConfigError, DataError, NotFoundError
from mlops_kit.workspace import Workspace, get_workspace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from mlflow import MlflowClient

__all__ = [
    "register",
    "promote", "audit_trail", "archive", "copy_to_env", "current_alias_version", "ALIASES",
    "HoldoutComparison", "compare_on_holdout", "promote_if_better",
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


# ------------------------------------------------------------ compare, then promote
#: metrics a comparison can rank by, and whether higher is better
_METRICS: dict[str, bool] = {"rmse": False, "mae": False, "r2": True}


@dataclass(frozen=True)
class HoldoutComparison:
    """A challenger and the champion, scored on the same holdout rows.

    Built by :func:`compare_on_holdout`; :func:`promote_if_better` acts on it.
    ``scores`` has one row per role (``challenger``, ``champion``) with the
    version and every metric (``rmse``, ``mae``, ``r2``).
    """

    name: str
    challenger: str
    champion: str | None
    metric: str
    challenger_score: float
    champion_score: float | None
    rows: int
    margin: float = 0.0
    scores: "pd.DataFrame | None" = field(default=None, repr=False, compare=False)

    @property
    def challenger_wins(self) -> bool:
        """Better than the champion by more than ``margin`` (or no champion yet)."""
        if self.champion_score is None:
            return True
        if _METRICS[self.metric]:
            return self.challenger_score > self.champion_score + self.margin
        return self.challenger_score < self.champion_score - self.margin

    @property
    def reason(self) -> str:
        """The comparison in one line, with its numbers: what the audit trail records."""
        metric = self.metric.upper() if self.metric != "r2" else "R2"
        mine = f"challenger v{self.challenger} holdout {metric} {self.challenger_score:.2f}"
        if self.champion_score is None:
            return f"{mine} on {self.rows} rows; no champion to beat yet"
        better = "above" if _METRICS[self.metric] else "below"
        theirs = f"champion v{self.champion}'s {self.champion_score:.2f}"
        margin = f" by more than {self.margin:g}" if self.margin else ""
        verdict = "is" if self.challenger_wins else "is not"
        return f"{mine} {verdict} {better} {theirs}{margin}, on the same {self.rows} holdout rows"


def _version_of(client: "MlflowClient", name: str, ref: str | int) -> str | None:
    """A version number for ``ref`` (a version or an alias); None for an unset alias."""
    text = str(ref)
    if text.isdigit():
        return str(_model_version(client, name, text).version)
    return current_alias_version(name, text, client=client)


def _holdout_scores(name: str, version: str, holdout: "pd.DataFrame", target: str) -> dict[str, float]:
    """``rmse``, ``mae`` and ``r2`` of version ``version`` on ``holdout``, on the columns it declares."""
    from mlops_kit._price_model import regression_metrics
    from mlops_kit.registry.loading import load_pyfunc

    model = load_pyfunc(f"models:/{name}/{version}")
    schema = model.metadata.get_input_schema()
    columns = list(schema.input_names()) if schema is not None else [
        c for c in holdout.columns if c != target]
    missing = [c for c in columns if c not in holdout.columns]
    if missing:
        raise DataError(
            f"{name} v{version} needs the columns {missing}, which the holdout lacks: the "
            "versions cannot be compared on the same rows. Pass a holdout with every input "
            "column of both versions.")
    return regression_metrics(holdout[target], model.predict(holdout[columns]))


def compare_on_holdout(
    name: str,
    holdout: "pd.DataFrame",
    *,
    challenger: str | int = "challenger",
    champion: str | int = "champion",
    target: str = "price",
    metric: str = "rmse",
    margin: float = 0.0,
    client: "MlflowClient | None" = None,
) -> HoldoutComparison:
    """Score the challenger and the champion on the same holdout rows.

    Parameters
    ----------
    name : str
        Registered model name.
    holdout : pandas.DataFrame
        Rows neither version was trained on, with their input columns and ``target``.
    challenger, champion : str or int
        An alias or a version number each (default: the two aliases).
    metric : str
        What decides: ``rmse`` or ``mae`` (lower is better) or ``r2`` (higher is better).
    margin : float
        How much better than the champion, in the metric's units, the challenger
        must be to win (0: any improvement).

    Returns
    -------
    HoldoutComparison

    Raises
    ------
    NotFoundError
        The challenger alias or version does not exist.
    ConfigError
        An unknown metric, a negative margin, no target column, or the
        challenger and the champion are the same version.
    DataError
        The holdout lacks a column one of the versions needs, or has no rows.
    """
    import pandas as pd

    if metric not in _METRICS:
        raise ConfigError(f"The metric must be one of {sorted(_METRICS)}. Got {metric!r} instead.")
    if margin < 0:
        raise ConfigError(f"The margin must be >= 0 (in {metric} units). Got {margin!r} instead.")
    if target not in holdout.columns:
        raise ConfigError(f"The holdout has no target column {target!r}. Got columns "
                          f"{list(holdout.columns)}. Pass target=<label column>.")
    if len(holdout) == 0:
        raise DataError("The holdout has no rows: there is nothing to compare on.")
    client = _client(client)
    challenger_version = _version_of(client, name, challenger)
    if challenger_version is None:
        raise NotFoundError(f"{name} has no alias {challenger!r}: nothing to compare. "
                            f"Set it with promote({name!r}, <version>, {str(challenger)!r}, reason).")
    champion_version = _version_of(client, name, champion)
    if champion_version == challenger_version:
        raise ConfigError(f"The challenger and the champion are both version {champion_version} "
                          f"of {name}: compare two different versions.")
    rows = {"challenger": {"version": challenger_version,
                           **_holdout_scores(name, challenger_version, holdout, target)}}
    if champion_version is not None:
        rows["champion"] = {"version": champion_version,
                            **_holdout_scores(name, champion_version, holdout, target)}
    scores = pd.DataFrame.from_dict(rows, orient="index")
    return HoldoutComparison(
        name=name, challenger=challenger_version, champion=champion_version, metric=metric,
        challenger_score=float(rows["challenger"][metric]),
        champion_score=float(rows["champion"][metric]) if champion_version else None,
        rows=len(holdout), margin=float(margin), scores=scores)


def promote_if_better(
    comparison: HoldoutComparison,
    *,
    alias: str = "champion",
    actor: str | None = None,
    client: "MlflowClient | None" = None,
) -> dict[str, Any]:
    """Move ``alias`` to the challenger only if it won ``comparison``; else refuse.

    Either way the decision is written to the audit trail with the measured
    numbers as its reason (``comparison.reason``): action ``set_alias`` when
    the alias moved, ``refuse`` when it stayed.

    Returns
    -------
    dict
        The audit event (``action`` says which).

    Raises
    ------
    ConfigError
        ``alias`` moved since the comparison was made: compare again.
    """
    client = _client(client)
    now = current_alias_version(comparison.name, alias, client=client)
    if now not in (comparison.champion, comparison.challenger):
        was = f"v{comparison.champion}" if comparison.champion else "no version"
        raise ConfigError(
            f"{comparison.name}@{alias} is version {now} now, not {was} as when the "
            "challenger was compared: compare again before promoting.")
    if comparison.challenger_wins:
        return promote(comparison.name, comparison.challenger, alias, comparison.reason,
                       actor=actor, client=client)
    return _append_audit(client, comparison.name, {
        "at": _now(), "actor": _actor(actor), "action": "refuse", "alias": alias,
        "version": comparison.challenger, "from_version": comparison.champion,
        "reason": comparison.reason,
    })

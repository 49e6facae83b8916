"""How a registered model version is named: one type, :class:`ModelReference`.

Every entry point that takes a model (``mlops-kit serve --model``,
``python -m mlops_kit.serving``, :class:`~mlops_kit.serving.Endpoint`, batch
scoring, the cached model metadata) reads it with :meth:`ModelReference.parse`,
so they all accept the same strings and give them the same meaning:

=================================  ==============================================
``models:/NAME@ALIAS``             exactly the registered model ``NAME``, as
``models:/NAME/VERSION``           ``mlflow models serve -m`` reads it
``NAME@ALIAS``, ``NAME/VERSION``   the same, when ``NAME`` is a full name with
                                   dots (``dev.ada.price@champion``)
``price@champion``, ``price/3``    a *short* name: :meth:`~ModelReference.expand`
                                   makes it the workspace's ``<env>.<user>.price``
=================================  ==============================================

A ``models:/`` URI is never rewritten: a model registered in MLflow as
``iris`` is served by ``--model models:/iris@champion``.

Examples
--------
>>> ref = ModelReference.parse("price@champion")
>>> ref.short
True
>>> from pathlib import Path
>>> from mlops_kit.workspace import Workspace
>>> ref.expand(Workspace(root=Path("/tmp/kit"), user="ada", env="prod")).as_uri()
'models:/prod.ada.price@champion'
>>> str(ModelReference.parse("models:/iris/3"))
'models:/iris/3'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mlops_kit.exceptions import ConfigError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.entities.model_registry import ModelVersion

    from mlops_kit.workspace import Workspace

__all__ = ["ModelReference", "URI_PREFIX"]

#: the scheme of registry URIs
URI_PREFIX = "models:/"

#: what every error about a reference lists
FORMS = ("models:/NAME@ALIAS, models:/NAME/VERSION, or a short NAME@ALIAS / NAME/VERSION "
         "(e.g. price@champion, expanded to <env>.<user>.price)")

_ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_SHORT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:70] + "...'"


@dataclass(frozen=True)
class ModelReference:
    """One registered model version, by alias or by version number.

    Build it with :meth:`parse`; the constructor checks its fields only.

    Parameters
    ----------
    name : str
        The registered model's name (a short name when ``short``).
    alias, version : str or None
        Exactly one is set: ``champion`` or ``"3"``.
    short : bool
        ``name`` is a short name that :meth:`expand` turns into the
        workspace's ``<env>.<user>.<name>``.

    Raises
    ------
    ConfigError
        A field that cannot name a model version; the message lists the
        accepted forms.
    """

    name: str
    alias: str | None = None
    version: str | None = None
    short: bool = False

    def __post_init__(self) -> None:
        if self.version is not None and not isinstance(self.version, str):
            object.__setattr__(self, "version", str(self.version))
        what = f"the model reference {self._text()}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"{what.capitalize()} has no model name. Use {FORMS}.")
        if self.name != self.name.strip() or "/" in self.name or "@" in self.name:
            raise ConfigError(
                f"The model name {_shown(self.name)} in {what} must not contain '/', '@' or "
                f"surrounding spaces. Use {FORMS}.")
        if (self.alias is None) == (self.version is None):
            raise ConfigError(
                f"{what.capitalize()} needs exactly one of an alias or a version. Use {FORMS}.")
        if self.alias is not None and not _ALIAS.fullmatch(self.alias):
            raise ConfigError(
                f"The alias {_shown(self.alias)} in {what} must be letters, digits, '_' or "
                f"'-' (e.g. champion). Use {FORMS}.")
        if self.version is not None and not _VERSION.fullmatch(self.version):
            raise ConfigError(
                f"The version {_shown(self.version)} in {what} must be a number from 1 up "
                f"(e.g. 3). Use {FORMS}.")
        if self.short and not _SHORT.fullmatch(self.name):
            raise ConfigError(
                f"The short model name {_shown(self.name)} in {what} must be lowercase "
                "letters, digits and underscores, starting with a letter (it becomes "
                f"<env>.<user>.{self.name.lower()}). To name a model registered as "
                f"{_shown(self.name)} in MLflow, write "
                f"models:/{self.name}{self._selector()}.")

    def _selector(self) -> str:
        return f"@{self.alias}" if self.alias is not None else f"/{self.version}"

    def _text(self) -> str:
        if (self.alias is None) == (self.version is None):  # not a reference yet
            return _shown(f"{'' if self.short else URI_PREFIX}{self.name}")
        return _shown(str(self))

    # ---------------------------------------------------------------- parse
    @classmethod
    def parse(cls, text: "str | ModelReference") -> "ModelReference":
        """Read ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``NAME@ALIAS`` or ``NAME/VERSION``.

        A bare name without dots is *short* (see :meth:`expand`); a ``models:/``
        URI or a bare name with dots names the registered model as written.

        Raises
        ------
        ConfigError
            Anything else; the message says what came and lists the forms.

        Examples
        --------
        >>> ModelReference.parse("models:/iris@champion")
        ModelReference(name='iris', alias='champion', version=None, short=False)
        >>> ModelReference.parse("dev.ada.price/3")
        ModelReference(name='dev.ada.price', alias=None, version='3', short=False)
        """
        if isinstance(text, cls):
            return text
        if not isinstance(text, str):
            raise ConfigError(
                f"A model reference must be a string, {FORMS}. Got {type(text).__name__} "
                f"{_shown(text)} instead.")
        is_uri = text.startswith(URI_PREFIX)
        rest = text[len(URI_PREFIX):] if is_uri else text
        if "://" in text or (":" in rest.split("@", 1)[0].split("/", 1)[0]):
            raise ConfigError(
                f"{_shown(text)} does not name a registered model version. Give one as "
                f"{FORMS}; other MLflow URIs (runs:/, a logged model id) must be "
                "registered first.")
        if "@" in rest:
            name, _, alias = rest.partition("@")
            version = None
        elif rest.count("/") == 1:
            name, _, version = rest.partition("/")
            alias = None
        else:
            raise ConfigError(
                f"{_shown(text)} names no model version: add an alias or a version. "
                f"Use {FORMS}.")
        return cls(name=name, alias=alias, version=version,
                   short=not is_uri and "." not in name)

    # --------------------------------------------------------------- expand
    def expand(self, workspace: "Workspace | None" = None) -> "ModelReference":
        """The same reference with a short name made ``<env>.<user>.<name>``.

        ``workspace`` defaults to the active one. A reference that is not
        short comes back unchanged.
        """
        if not self.short:
            return self
        if workspace is None:
            from mlops_kit.workspace import get_workspace

            workspace = get_workspace()
        return replace(self, name=workspace.model_name(self.name), short=False)

    def at_version(self, version: "str | int") -> "ModelReference":
        """The same model pinned to ``version`` (what an alias resolved to)."""
        return replace(self, alias=None, version=str(version))

    # --------------------------------------------------------------- format
    def as_uri(self) -> str:
        """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``, as MLflow reads it.

        Raises
        ------
        ConfigError
            For a short reference: as a URI ``price`` would name another model;
            :meth:`expand` it first.
        """
        if self.short:
            raise ConfigError(
                f"The model reference {str(self)!r} uses a short name; expand it with a "
                "workspace first (ModelReference.expand) so it names <env>.<user>."
                f"{self.name}, not the MLflow model {self.name!r}.")
        return f"{URI_PREFIX}{self.name}{self._selector()}"

    def __str__(self) -> str:
        """The text :meth:`parse` reads back as this same reference."""
        if self.short:
            return f"{self.name}{self._selector()}"
        return f"{URI_PREFIX}{self.name}{self._selector()}"

    # -------------------------------------------------------------- resolve
    def resolve(self, client: Any = None) -> "ModelVersion":
        """The registered model version this names (one registry query).

        Raises
        ------
        NotFoundError
            No such model, alias or version in the registry.
        ConfigError
            A short reference (:meth:`expand` it first).
        """
        import mlflow
        from mlflow.exceptions import MlflowException

        uri = self.as_uri()
        client = client or mlflow.MlflowClient()
        try:
            if self.alias is not None:
                return client.get_model_version_by_alias(self.name, self.alias)
            return client.get_model_version(self.name, self.version)
        except MlflowException as err:
            reason = (err.message or str(err)).strip().splitlines()[0]
            raise NotFoundError(
                f"No registered model version for {uri} in the registry at "
                f"{mlflow.get_registry_uri()}: {reason} Check the model name (the kit's "
                "models carry env and user, e.g. dev.ada.price; a short name such as "
                "price@champion is expanded to that), the alias or version, and that a "
                "version was registered and given the alias."
            ) from None

"""Load a registered model by alias and give the endpoint its fastest predict path.

``models:/prod.ada.price@champion`` is resolved once, at start-up, to a version
and run id (shown by ``/version`` and written to the inference log), the
artifacts are downloaded, and the model is loaded with pyfunc, which works
for every flavor.

Per request the endpoint does not call ``PyFuncModel.predict``: that method
re-validates the input with pandas (a few milliseconds for one row, more than
the model itself for a linear pipeline). The endpoint validates the JSON
against the signature itself (:mod:`.schema`), builds the DataFrame with the
promised dtypes, and calls the flavor's own predict function underneath pyfunc
(for scikit-learn: ``pipeline.predict``). Models whose pyfunc does more than
enforce the schema (signatures from Python type hints) keep the full pyfunc
path.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from mlops_kit.registry.loading import load_pyfunc
from mlops_kit.registry.reference import ModelReference
from mlops_kit.serving.schema import InputSchema, ParsedInput

if TYPE_CHECKING:  # pragma: no cover
    from mlops_kit.workspace import Workspace

__all__ = ["ServedModel", "load_served_model"]


@dataclass
class ServedModel:
    """A loaded model plus what the endpoint reports about it.

    ``predict`` takes :class:`~mlops_kit.serving.schema.ParsedInput` and returns
    whatever the model returns (array, Series, DataFrame, list).
    """

    name: str
    version: str
    alias: str | None
    run_id: str | None
    uri: str
    flavor: str
    schema: InputSchema
    pyfunc: Any = field(repr=False)
    fast_path: bool = True
    load_seconds: float = 0.0
    _predict_fn: Callable[..., Any] | None = field(default=None, repr=False)
    _takes_params: bool = field(default=False, repr=False)

    def predict(self, parsed: ParsedInput) -> Any:
        """Score validated input; the flavor's function directly when safe."""
        frame = parsed.to_frame(self.schema.names or None)
        if self._predict_fn is None:
            return self.pyfunc.predict(frame, params=parsed.params)
        if self._takes_params:
            return self._predict_fn(frame, params=parsed.params)
        return self._predict_fn(frame)

    def describe(self) -> dict[str, Any]:
        """What ``/version`` answers."""
        return {
            "model_name": self.name,
            "model_version": self.version,
            "model_alias": self.alias,
            "run_id": self.run_id,
            "model_uri": self.uri,
            "flavor": self.flavor,
            "fast_path": self.fast_path,
            "inputs": self.schema.names,
        }


def _fast_predict_fn(pyfunc: Any) -> tuple[Callable[..., Any] | None, bool]:
    """The function under ``PyFuncModel.predict``, or None where skipping it is unsafe."""
    meta = pyfunc.metadata
    fn = getattr(pyfunc, "_predict_fn", None)
    type_hinted = getattr(meta, "_is_signature_from_type_hint", lambda: True)()
    example_hinted = getattr(meta, "_is_type_hint_from_example", lambda: True)()
    if fn is None or type_hinted or example_hinted:
        return None, False
    try:
        params = inspect.signature(fn).parameters.get("params")
    except (TypeError, ValueError):
        return None, False
    return fn, bool(params and params.kind != inspect.Parameter.VAR_KEYWORD)


def load_served_model(model: "str | ModelReference", *, fast_path: bool = True,
                      workspace: "Workspace | None" = None) -> ServedModel:
    """Resolve ``model`` in the registry, load it, and pick its predict path.

    Parameters
    ----------
    model : str or ModelReference
        ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (that registered
        model, as MLflow reads it), or ``NAME@ALIAS`` / ``NAME/VERSION`` where
        a short NAME means ``<env>.<user>.NAME``
        (:class:`~mlops_kit.registry.reference.ModelReference`).
    fast_path : bool
        Call the flavor's predict function directly (default). ``False`` always
        goes through ``PyFuncModel.predict``, e.g. to compare the two.
    workspace : Workspace, optional
        Expands a short name (default: the active workspace).

    Raises
    ------
    ConfigError
        ``model`` is not a model reference.
    NotFoundError
        No such registered model, alias or version.
    """
    started = time.perf_counter()
    ref = ModelReference.parse(model).expand(workspace)
    mv = ref.resolve()
    pyfunc = load_pyfunc(ref.at_version(mv.version).as_uri())
    flavors = pyfunc.metadata.flavors
    flavor = next((f for f in flavors if f != "python_function"), "python_function")
    predict_fn, takes_params = _fast_predict_fn(pyfunc) if fast_path else (None, False)
    return ServedModel(
        name=ref.name,
        version=str(mv.version),
        alias=ref.alias,
        run_id=mv.run_id,
        uri=ref.as_uri() if ref.alias else ref.at_version(mv.version).as_uri(),
        flavor=flavor,
        schema=InputSchema.from_signature(pyfunc.metadata.signature),
        pyfunc=pyfunc,
        fast_path=predict_fn is not None,
        load_seconds=time.perf_counter() - started,
        _predict_fn=predict_fn,
        _takes_params=takes_params,
    )

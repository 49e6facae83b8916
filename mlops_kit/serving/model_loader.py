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

A scikit-learn tree ensemble (a random forest, gradient boosting; bare or at
the end of a pipeline) is predicted through Treelite when it is installed and
predicts exactly what scikit-learn does on the model's input example and on
probes of its split thresholds (:mod:`.tree_runtime`): per-tree dispatch is
most of a forest's one-row latency. Otherwise scikit-learn predicts, and
``/version`` (``runtime``, ``runtime_reason``) and the endpoint's log say why.
``$MLOPS_KIT_TREE_RUNTIME=off`` (or ``tree_runtime=False``) keeps scikit-learn.
"""
from __future__ import annotations

import inspect
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from mlops_kit.registry.loading import load_pyfunc
from mlops_kit.registry.reference import ModelReference
from mlops_kit.serving.schema import InputSchema, ParsedInput
from mlops_kit.serving.tree_runtime import TreeRuntimeStatus, compile_tree_model

if TYPE_CHECKING:  # pragma: no cover
    from mlops_kit.workspace import Workspace

__all__ = ["ServedModel", "load_served_model", "TREE_RUNTIME_ENV"]

_log = logging.getLogger("mlops_kit.serving")
#: ``off`` (or ``0``, ``false``, ``no``) keeps scikit-learn for tree ensembles
TREE_RUNTIME_ENV = "MLOPS_KIT_TREE_RUNTIME"


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
    #: which runtime predicts a tree ensemble and why (None: not checked, e.g. pyfunc path)
    runtime: TreeRuntimeStatus | None = None
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
            "runtime": self.runtime_name,
            "runtime_reason": self.runtime.reason if self.runtime else None,
            "inputs": self.schema.names,
        }

    @property
    def runtime_name(self) -> str:
        """``treelite`` when the compiled tree runtime predicts, else the flavor's library."""
        if self.runtime is not None:
            return self.runtime.runtime
        return "scikit-learn" if self.flavor == "sklearn" else self.flavor


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


def _tree_runtime_wanted(tree_runtime: bool | None) -> bool:
    if tree_runtime is not None:
        return tree_runtime
    return os.environ.get(TREE_RUNTIME_ENV, "on").strip().lower() not in {"off", "0", "false", "no"}


def _compiled_tree_predict(pyfunc: Any, name: str) -> tuple[Callable[..., Any] | None,
                                                             TreeRuntimeStatus]:
    """The compiled ensemble's predict for a scikit-learn model, or None and why not."""
    served_fn = pyfunc.metadata.flavors.get("python_function", {}).get("predict_fn", "predict")
    if served_fn != "predict":
        return None, TreeRuntimeStatus(
            "scikit-learn", f"the model is served by its {served_fn}(); the runtime compiles predict()")
    example = getattr(pyfunc, "input_example", None)
    try:
        raw = pyfunc.get_raw_model()
    except Exception as err:  # noqa: BLE001 - no raw model: nothing to compile
        return None, TreeRuntimeStatus("scikit-learn", f"no scikit-learn model to compile ({err})")
    if example is not None and not hasattr(example, "columns"):
        import pandas as pd

        example = pd.DataFrame(example)
    compiled, status = compile_tree_model(raw, example)
    if compiled is None:
        level = logging.WARNING if "not a tree-ensemble" not in status.reason else logging.INFO
        _log.log(level, "%s: scikit-learn predicts: %s", name, status.reason)
        return None, status
    _log.info("%s: %s", name, status.reason)
    return compiled.predict, status


def load_served_model(model: "str | ModelReference", *, fast_path: bool = True,
                      workspace: "Workspace | None" = None,
                      tree_runtime: bool | None = None) -> ServedModel:
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
    tree_runtime : bool, optional
        Predict a tree ensemble through Treelite when it converts exactly
        (:mod:`.tree_runtime`); default on unless ``$MLOPS_KIT_TREE_RUNTIME``
        is ``off``. Needs ``fast_path``.

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
    runtime = None
    if predict_fn is not None and flavor == "sklearn":
        if _tree_runtime_wanted(tree_runtime):
            compiled_fn, runtime = _compiled_tree_predict(pyfunc, ref.name)
            if compiled_fn is not None:
                predict_fn, takes_params = compiled_fn, False
        else:
            runtime = TreeRuntimeStatus("scikit-learn", f"the compiled tree runtime is off "
                                        f"(tree_runtime=False or ${TREE_RUNTIME_ENV}=off)")
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
        runtime=runtime,
        _predict_fn=predict_fn,
        _takes_params=takes_params,
    )

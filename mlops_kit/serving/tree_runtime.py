"""A compiled runtime for tree ensembles, used only where it predicts exactly what scikit-learn does.

A random forest's ``predict`` walks its trees one by one from Python: for one
row, 100 trees cost milliseconds of dispatch and almost nothing of arithmetic.
Treelite (``pip install 'mlops-kit[trees]'``) imports the fitted ensemble and
predicts every tree in one call of its C++ library (GTIL), in microseconds.

The runtime replaces only the ensemble: a pipeline's earlier steps (imputing,
scaling, encoding) still run in scikit-learn, and their output is what the
compiled ensemble sees. It is used only when, at load, it gives the same
predictions as scikit-learn within ``1e-9`` relative on

- the model's input example (the whole pipeline, end to end), and
- a validation sample in the ensemble's own input space: rows put exactly on
  the model's split thresholds and on the next representable value either side
  of them (where a rounding difference would send a row down the other
  branch), and missing values where the model has learnt where they go.

Otherwise the endpoint keeps scikit-learn, and :class:`TreeRuntimeStatus` says
why (not an ensemble, the package missing, a prediction that differs).

Exactness needs one detail of scikit-learn's: trees built by
``DecisionTreeRegressor`` (random forests, extra trees, gradient boosting)
compare ``float32(x)`` with a double threshold, so inputs are rounded to
float32 before the compiled model sees them; histogram gradient boosting
compares the double itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RTOL", "CompiledTreeModel", "TreeRuntimeStatus", "compile_tree_model"]

#: the largest relative difference from scikit-learn's prediction that counts as equal
RTOL = 1e-9
#: ensembles whose trees see ``float32(x)`` (scikit-learn's ``DTYPE``) ...
_FLOAT32_INPUT = ("RandomForestRegressor", "ExtraTreesRegressor", "GradientBoostingRegressor")
#: ... and those that compare the double itself
_FLOAT64_INPUT = ("HistGradientBoostingRegressor",)
_INSTALL = "pip install 'mlops-kit[trees]'"
#: validation rows probing split thresholds (at most; sampled, seeded)
_PROBE_ROWS = 3000


@dataclass(frozen=True)
class TreeRuntimeStatus:
    """Which runtime predicts, and why.

    ``runtime`` is ``"treelite"`` or ``"scikit-learn"``; ``reason`` is one
    sentence; ``max_relative_error`` and ``checked_rows`` describe the
    equality check (None and 0 when it did not run).
    """

    runtime: str
    reason: str
    max_relative_error: float | None = None
    checked_rows: int = 0

    @property
    def compiled(self) -> bool:
        return self.runtime != "scikit-learn"

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "reason": self.reason,
                "max_relative_error": self.max_relative_error, "checked_rows": self.checked_rows}


class CompiledTreeModel:
    """A fitted pipeline whose final tree ensemble predicts through Treelite.

    ``predict(X)`` takes what the scikit-learn model takes (a DataFrame with
    its columns) and returns a float64 array of one prediction per row.
    """

    def __init__(self, model: Any, compiled: Any, *, prefix: Any, ensemble: Any) -> None:
        self.model = model
        self.compiled_ = compiled
        self.prefix_ = prefix
        names = getattr(ensemble, "feature_names_in_", None)
        self.columns_ = list(names) if prefix is None and names is not None else []
        self.float32_input_ = type(ensemble).__name__ in _FLOAT32_INPUT

    def ensemble_input(self, X: Any) -> Any:
        """What the ensemble sees: the pipeline's earlier steps applied, a dense float64 matrix."""
        import numpy as np

        if self.prefix_ is not None:
            X = self.prefix_.transform(X)
        elif self.columns_ and hasattr(X, "columns"):
            # ``X[columns]`` costs ~0.5 ms for one row: more than the trees; index the array
            if list(X.columns) == self.columns_:
                return np.ascontiguousarray(X.to_numpy(dtype=np.float64))
            order = X.columns.get_indexer(self.columns_)
            if (order < 0).any():
                X = X[self.columns_]  # a missing column: the error scikit-learn gives
            return np.ascontiguousarray(X.to_numpy(dtype=np.float64)[:, order])
        if hasattr(X, "toarray"):
            X = X.toarray()
        return np.asarray(X, dtype=np.float64)

    def predict_ensemble(self, matrix: Any) -> Any:
        """Predict from the ensemble's input matrix (see :meth:`ensemble_input`)."""
        import numpy as np
        import treelite.gtil

        if self.float32_input_:
            matrix = matrix.astype(np.float32).astype(np.float64)
        # one row: one thread (no pool hand-off); a batch: every core
        nthread = 1 if matrix.shape[0] <= 64 else -1
        return treelite.gtil.predict(self.compiled_, np.ascontiguousarray(matrix),
                                     nthread=nthread).reshape(matrix.shape[0])

    def predict(self, X: Any) -> Any:
        return self.predict_ensemble(self.ensemble_input(X))


def _split(model: Any) -> tuple[Any, Any]:
    """(earlier steps or None, final estimator) of a pipeline or a bare estimator."""
    steps = getattr(model, "steps", None)
    if steps:
        return (model[:-1] if len(steps) > 1 else None), steps[-1][1]
    return None, model


def _max_relative_error(got: Any, expected: Any) -> tuple[float, int]:
    """(largest relative difference, row where it is); NaN against NaN counts as equal."""
    import numpy as np

    got = np.asarray(got, dtype=np.float64).reshape(-1)
    expected = np.asarray(expected, dtype=np.float64).reshape(-1)
    if got.shape != expected.shape:
        return float("inf"), 0
    both_nan = np.isnan(got) & np.isnan(expected)
    scale = np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    rel = np.where(both_nan, 0.0, np.abs(got - expected) / scale)
    rel = np.where(np.isnan(rel), np.inf, rel)
    if rel.size == 0:
        return 0.0, 0
    row = int(np.argmax(rel))
    return float(rel[row]), row


def threshold_probes(ensemble: Any, base: Any, *, rows: int = _PROBE_ROWS, seed: int = 0) -> Any:
    """Rows of the ensemble's input space placed on and beside its split thresholds.

    Each row is a row of ``base`` (the ensemble's input for the model's
    example) with one feature set to a threshold, or to the next float64 or
    float32 value below or above it, or to NaN; the ``(feature, threshold)``
    pairs are a seeded sample of every split in the ensemble.
    """
    import numpy as np

    splits = []
    for tree in _trees(ensemble):
        internal = tree.children_left >= 0
        splits.append(np.column_stack([tree.feature[internal], tree.threshold[internal]]))
    if not splits:
        return base[:0]
    pairs = np.unique(np.vstack(splits), axis=0)
    rng = np.random.default_rng(seed)
    per_pair = 5
    pairs = pairs[rng.permutation(len(pairs))[: max(1, rows // per_pair)]]
    features = pairs[:, 0].astype(int)
    t = pairs[:, 1]
    t32 = t.astype(np.float32)
    values = np.column_stack([
        t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
        np.nextafter(t32, np.float32(-np.inf)).astype(np.float64),
        np.nextafter(t32, np.float32(np.inf)).astype(np.float64),
    ]).reshape(-1)
    features = np.repeat(features, per_pair)
    out = base[np.arange(len(values)) % len(base)].copy()
    out[np.arange(len(values)), features] = values
    if not _allows_nan(ensemble):
        return out
    # missing values, one feature at a time, where the model routes them
    missing = base[np.arange(base.shape[1]) % len(base)].copy()
    missing[np.arange(base.shape[1]), np.arange(base.shape[1])] = np.nan
    return np.vstack([out, missing])


def _allows_nan(ensemble: Any) -> bool:
    """Whether scikit-learn's ensemble takes NaN (it has learnt where missing values go)."""
    try:
        return bool(ensemble.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:
        return False


def _trees(ensemble: Any) -> list[Any]:
    """The ``tree_`` structures (or HistGB's node arrays as the same fields) of an ensemble."""
    from types import SimpleNamespace

    trees = []
    if hasattr(ensemble, "_predictors"):  # histogram gradient boosting
        for predictors in ensemble._predictors:
            for predictor in predictors:
                nodes = predictor.nodes
                leaf = nodes["is_leaf"].astype(bool)
                trees.append(SimpleNamespace(
                    children_left=nodes["left"].astype(int) * (~leaf) - leaf,
                    feature=nodes["feature_idx"], threshold=nodes["num_threshold"]))
        return trees
    for estimator in getattr(ensemble, "estimators_", []):
        for est in (estimator if hasattr(estimator, "__len__") else [estimator]):
            if hasattr(est, "tree_"):
                trees.append(est.tree_)
    return trees


def _convert(ensemble: Any) -> Any:
    """Treelite's model of a fitted scikit-learn ensemble."""
    import treelite.sklearn

    return treelite.sklearn.import_model(ensemble)


def compile_tree_model(model: Any, example: Any, *, validation: Any = None,
                       rtol: float = RTOL) -> tuple[CompiledTreeModel | None, TreeRuntimeStatus]:
    """Compile ``model``'s tree ensemble with Treelite if it then predicts exactly as before.

    Parameters
    ----------
    model : estimator
        A fitted scikit-learn regressor ensemble, or a pipeline ending in one.
    example : DataFrame
        Input the model accepts (the logged input example): checked end to end
        and the base of the threshold probes.
    validation : DataFrame, optional
        More input rows to check end to end.
    rtol : float
        Largest relative difference accepted (``1e-9``).

    Returns
    -------
    (CompiledTreeModel or None, TreeRuntimeStatus)
        None and the reason when scikit-learn keeps predicting.
    """
    prefix, ensemble = _split(model)
    kind = type(ensemble).__name__
    if kind not in _FLOAT32_INPUT + _FLOAT64_INPUT:
        return None, TreeRuntimeStatus(
            "scikit-learn", f"the model's final estimator is {kind}, not a tree-ensemble "
            f"regressor the compiled runtime takes ({', '.join(_FLOAT32_INPUT + _FLOAT64_INPUT)})")
    if getattr(ensemble, "n_outputs_", 1) != 1:
        return None, TreeRuntimeStatus(
            "scikit-learn", f"{kind} predicts {ensemble.n_outputs_} outputs; the runtime serves one")
    if example is None or len(example) == 0:
        return None, TreeRuntimeStatus(
            "scikit-learn", "the model was logged without an input example to check it on")
    try:
        import treelite
    except ImportError:
        return None, TreeRuntimeStatus(
            "scikit-learn", f"treelite is not installed ({_INSTALL})")
    try:
        compiled = CompiledTreeModel(model, _convert(ensemble), prefix=prefix, ensemble=ensemble)
        checks = [("the input example", example)]
        if validation is not None and len(validation):
            checks.append(("the validation sample", validation))
        worst, rows = 0.0, 0
        for what, frame in checks:
            error, row = _max_relative_error(compiled.predict(frame), model.predict(frame))
            rows += len(frame)
            if error > rtol:
                return None, TreeRuntimeStatus(
                    "scikit-learn", f"Treelite's prediction for row {row} of {what} differs from "
                    f"scikit-learn's by {error:.3g} relative (more than {rtol:g})", error, rows)
            worst = max(worst, error)
        base = compiled.ensemble_input(example)
        probes = threshold_probes(ensemble, base)
        error, row = _max_relative_error(compiled.predict_ensemble(probes),
                                         ensemble.predict(_as_named(probes, ensemble, prefix)))
        rows += len(probes)
        if error > rtol:
            return None, TreeRuntimeStatus(
                "scikit-learn", f"Treelite's prediction for row {row} of the split-threshold "
                f"probes differs from scikit-learn's by {error:.3g} relative (more than {rtol:g})",
                error, rows)
    except Exception as err:  # noqa: BLE001 - any failure to convert means: keep scikit-learn
        return None, TreeRuntimeStatus(
            "scikit-learn", f"Treelite could not compile {kind}: {type(err).__name__}: "
            f"{' '.join(str(err).split())[:300]}")
    worst = max(worst, error)
    return compiled, TreeRuntimeStatus(
        "treelite", f"{kind} compiled with Treelite {treelite.__version__}; equal to scikit-learn within {rtol:g} "
        f"relative on {rows} rows", worst, rows)


def _as_named(matrix: Any, ensemble: Any, prefix: Any) -> Any:
    """``matrix`` as the ensemble was fitted: a DataFrame when it knows feature names."""
    names = getattr(ensemble, "feature_names_in_", None)
    if names is None:
        return matrix
    import pandas as pd

    return pd.DataFrame(matrix, columns=list(names))

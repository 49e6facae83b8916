"""Linear scikit-learn pipelines compiled into one Spark SQL expression.

Why: ``spark_udf`` moves every row from the JVM to a Python worker and back,
about 1 us a row on a laptop whatever the model. A fitted linear pipeline
costs some 30 times less than that in numpy, so under ``spark_udf`` the
transfer *is* the job. Yet such a pipeline is only arithmetic on its inputs:
imputing replaces a missing value by a constant, scaling subtracts and
divides, one-hot encoding compares, and the linear model is a weighted sum.
Written as a Spark expression it runs in Spark's generated JVM code with no
Python worker at all, at the speed of a ``select``.

What compiles (anything else raises :class:`NotCompilableError` naming the
step, and batch scoring falls back to ``spark_udf``):

- ``Pipeline`` and ``ColumnTransformer`` (columns by name, position, mask or
  slice; ``drop`` and ``passthrough``, also as the remainder);
- ``SimpleImputer`` (any strategy; missing = NaN/None), ``StandardScaler``,
  ``MinMaxScaler`` (no clipping), ``MaxAbsScaler``, ``RobustScaler``;
- ``OneHotEncoder`` (unknowns ignored or an error; ``drop``; a seen missing
  value as a category; no infrequent categories);
- single-output linear regressors (``LinearRegression``, ``Ridge``,
  ``Lasso``, ``ElasticNet``, their CV variants, ``SGDRegressor``, ...).

The expression reproduces ``predict`` to floating-point rounding, errors
included: a missing value that reaches the linear model without an imputer,
or an unknown category for an encoder set to ``handle_unknown="error"``, fails
the Spark job with a message naming the column, as scikit-learn would fail
``spark_udf``; it does not turn into a silent null. One difference is left:
an infinite input gives an infinite prediction, where scikit-learn refuses it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

from mlops_kit._cache import LRUCache
from mlops_kit.exceptions import NotCompilableError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

__all__ = ["compile_estimator", "compiled_sql", "compiled_prediction"]

#: linear regressors whose ``predict`` is ``X @ coef_ + intercept_``
LINEAR_REGRESSORS = (
    "LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV",
    "Lars", "LarsCV", "LassoLars", "LassoLarsCV", "LassoLarsIC", "OrthogonalMatchingPursuit",
    "OrthogonalMatchingPursuitCV", "BayesianRidge", "ARDRegression", "HuberRegressor",
    "SGDRegressor", "TheilSenRegressor", "QuantileRegressor", "PassiveAggressiveRegressor",
)


@dataclass(frozen=True)
class _Feature:
    """One column of the matrix a pipeline step sees, as Spark SQL text.

    SQL text rather than ``Column`` objects: each ``Column`` operation is a
    round trip to the JVM, and a pipeline's expression has hundreds of them
    (0.1-0.2 s a job here); text is parsed by Spark in one call, and reads
    back as the model in SQL.

    The value is ``column * scale + shift``: scalers only change ``scale`` and
    ``shift``, and the linear model folds them into its weights, so scaling
    costs nothing per row (one multiply-add per feature in all, as in numpy).
    ``missing`` is the condition under which the value is NaN/null (None when
    it cannot be); ``source`` names the input column it derives from, for
    error messages. A one-hot column's ``column`` is its 0/1 ``indicator``;
    it keeps the ``group`` of its encoded input, so a linear model can fold a
    whole group into one ``CASE WHEN`` instead of a sum of comparisons.
    """

    column: str
    source: str
    numeric: bool
    missing: str | None
    indicator: str | None = None
    group: tuple[int, int] | None = None
    scale: float = 1.0
    shift: float = 0.0

    @property
    def value(self) -> str:
        """The feature's value as SQL (scale and shift applied)."""
        text = self.column
        if self.scale != 1.0:
            text = f"{text} * {_number(self.scale)}"
        if self.shift != 0.0:
            text = f"{text} + {_number(self.shift)}"
        return f"({text})" if text != self.column else text

    def affine(self, scale: float, shift: float) -> "_Feature":
        """This feature times ``scale`` plus ``shift``, still as one multiply-add."""
        return replace(self, scale=self.scale * scale, shift=self.shift * scale + shift)


class _Compiler:
    """Walks a fitted estimator, turning each step into Spark expressions.

    ``guards`` collects (condition, message) pairs: rows on which scikit-learn
    would raise. The final expression raises the same error on them.
    """

    def __init__(self) -> None:
        self.guards: list[tuple[str, str]] = []

    # -- estimators ---------------------------------------------------------

    def predict(self, estimator: Any, features: list[_Feature]) -> str:
        from sklearn.pipeline import Pipeline

        if isinstance(estimator, Pipeline):
            for _, step in estimator.steps[:-1]:
                features = self.transform(step, features)
            return self.predict(estimator.steps[-1][1], features)
        if _is_linear(estimator):
            return self._linear(estimator, features)
        raise _not_linear(estimator)

    def transform(self, step: Any, features: list[_Feature]) -> list[_Feature]:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import (
            FunctionTransformer, MaxAbsScaler, MinMaxScaler, OneHotEncoder, RobustScaler,
            StandardScaler,
        )

        if step is None or (isinstance(step, str) and step == "passthrough"):
            return features
        if isinstance(step, Pipeline):
            for _, inner in step.steps:
                features = self.transform(inner, features)
            return features
        if isinstance(step, ColumnTransformer):
            return self._column_transformer(step, features)
        if isinstance(step, FunctionTransformer) and step.func is None:
            return features
        if isinstance(step, SimpleImputer):
            return self._impute(step, features)
        if isinstance(step, StandardScaler):  # mean_ is fitted even when not used
            return self._affine(step, features, shift=step.mean_ if step.with_mean else None,
                                scale=step.scale_ if step.with_std else None)
        if isinstance(step, RobustScaler):
            return self._affine(step, features, shift=step.center_ if step.with_centering else None,
                                scale=step.scale_ if step.with_scaling else None)
        if isinstance(step, MaxAbsScaler):
            return self._affine(step, features, shift=None, scale=step.scale_)
        if isinstance(step, MinMaxScaler):
            if step.clip:
                raise NotCompilableError("MinMaxScaler(clip=True) has no SQL form here.")
            return [  # scikit-learn's own form: X * scale_ + min_
                self._numeric(step, f).affine(float(s), float(m))
                for f, s, m in zip(features, step.scale_, step.min_, strict=True)
            ]
        if isinstance(step, OneHotEncoder):
            return self._one_hot(step, features)
        raise NotCompilableError(f"{type(step).__name__} has no SQL form.")

    # -- steps ----------------------------------------------------------------

    def _column_transformer(self, step: Any, features: list[_Feature]) -> list[_Feature]:
        names = list(getattr(step, "feature_names_in_", []))
        if names and len(names) != len(features):
            raise NotCompilableError("A ColumnTransformer after a step that renames columns has no SQL form here.")
        out: list[_Feature] = []
        for name, transformer, columns in step.transformers_:
            if isinstance(transformer, str) and transformer == "drop":
                continue
            chosen = _select(columns, features, names, where=f"ColumnTransformer step {name!r}")
            if chosen:
                out.extend(self.transform(transformer, chosen))
        return out

    def _impute(self, step: Any, features: list[_Feature]) -> list[_Feature]:
        if step.add_indicator:
            raise NotCompilableError("SimpleImputer(add_indicator=True) has no SQL form here.")
        if not _is_nan_marker(step.missing_values):
            raise NotCompilableError(
                f"SimpleImputer(missing_values={step.missing_values!r}) has no SQL form: "
                "only NaN/None as the missing marker compiles."
            )
        out = []
        for feature, value in zip(features, step.statistics_, strict=True):
            value = value.item() if hasattr(value, "item") else value
            if _is_nan_marker(value):
                raise NotCompilableError(
                    f"SimpleImputer dropped the all-missing column {feature.source!r}; "
                    "that has no SQL form here."
                )
            if feature.numeric != isinstance(value, (int, float)):
                raise NotCompilableError(
                    f"SimpleImputer fills {feature.source!r} with {value!r}, a value of "
                    "another kind than the column."
                )
            if feature.missing is None:
                out.append(feature)
                continue
            literal = _number(value) if feature.numeric else _text(value)
            value = feature.value if feature.numeric else feature.column
            out.append(_Feature(
                column=f"CASE WHEN {feature.missing} THEN {literal} ELSE {value} END",
                source=feature.source, numeric=feature.numeric, missing=None,
            ))
        return out

    def _affine(self, step: Any, features: list[_Feature], *, shift: Any, scale: Any) -> list[_Feature]:
        shifts = [None] * len(features) if shift is None else [float(v) for v in shift]
        scales = [None] * len(features) if scale is None else [float(v) for v in scale]
        if len(shifts) != len(features) or len(scales) != len(features):
            raise NotCompilableError(f"{type(step).__name__} was fitted on another number of columns.")

        # (x - m) / s  ==  x * (1 / s) + (-m / s)
        return [
            self._numeric(step, f).affine(1.0 / (s or 1.0), -(m or 0.0) / (s or 1.0))
            for f, m, s in zip(features, shifts, scales)
        ]

    def _one_hot(self, step: Any, features: list[_Feature]) -> list[_Feature]:
        if getattr(step, "_infrequent_enabled", False):
            raise NotCompilableError("OneHotEncoder with infrequent categories has no SQL form here.")
        if step.handle_unknown not in ("ignore", "error", "infrequent_if_exist"):
            raise NotCompilableError(f"OneHotEncoder(handle_unknown={step.handle_unknown!r}) has no SQL form.")
        drops = step.drop_idx_ if step.drop_idx_ is not None else [None] * len(features)
        out = []
        for index, (feature, categories, drop) in enumerate(
            zip(features, step.categories_, drops, strict=True)
        ):
            conditions = [self._equals(feature, value) for value in categories]
            if step.handle_unknown == "error":
                known = " OR ".join(conditions)
                self.guards.append((f"NOT ({known})", (
                    f"concat({_text('Found unknown category ')}, coalesce(CAST({feature.value} AS STRING), "
                    f"'null'), {_text(f' in column {feature.source!r} during transform: the model knows ')}"
                    f", {_text(str([_plain(v) for v in categories]))})"
                )))
            group = (id(step), index)
            for position, condition in enumerate(conditions):
                if drop is not None and position == int(drop):
                    continue
                out.append(_Feature(
                    column=f"CAST({condition} AS DOUBLE)",
                    source=feature.source, numeric=True, missing=None,
                    indicator=condition, group=group,
                ))
        return out

    def _linear(self, model: Any, features: list[_Feature]) -> str:
        import numpy as np

        coef = np.asarray(model.coef_, dtype=float)
        intercept = np.asarray(model.intercept_, dtype=float).ravel()
        if coef.ndim == 2 and coef.shape[0] == 1:
            coef = coef[0]
        if coef.ndim != 1 or intercept.size > 1:
            raise NotCompilableError(f"{type(model).__name__} predicts several outputs; only one compiles.")
        if coef.size != len(features):
            raise NotCompilableError(
                f"{type(model).__name__} has {coef.size} coefficients for {len(features)} columns."
            )
        if not np.all(np.isfinite(coef)) or not np.all(np.isfinite(intercept)):
            raise NotCompilableError(f"{type(model).__name__} has non-finite coefficients.")
        constant = float(intercept[0]) if intercept.size else 0.0
        terms: list[str] = []
        groups: dict[tuple[int, int], list[tuple[str, float]]] = {}
        for feature, weight in zip(features, coef):
            if not feature.numeric:
                raise NotCompilableError(
                    f"The column {feature.source!r} reaches {type(model).__name__} as text; "
                    "encode it first (OneHotEncoder)."
                )
            if feature.missing is not None:
                self.guards.append((feature.missing, _text(
                    f"Input X contains NaN: the column {feature.source!r} has a missing value and "
                    "the model has no imputer for it. Impute it or drop such rows before scoring."
                )))
            if weight == 0.0:
                continue
            constant += float(weight) * feature.shift
            weight = float(weight) * feature.scale
            if feature.group is not None:
                groups.setdefault(feature.group, []).append((feature.indicator, weight))
            else:
                terms.append(f"{feature.column} * {_number(weight)}")
        for cases in groups.values():
            whens = " ".join(f"WHEN {condition} THEN {_number(weight)}" for condition, weight in cases)
            terms.append(f"CASE {whens} ELSE 0.0D END")
        return self._guarded("\n  + ".join([_number(constant), *terms]))

    # -- helpers --------------------------------------------------------------

    def _guarded(self, prediction: str) -> str:
        if not self.guards:
            return prediction
        whens = "\n".join(f"  WHEN {condition} THEN raise_error({message})"
                          for condition, message in self.guards)
        return f"CASE\n{whens}\n  ELSE {prediction}\nEND"

    def _numeric(self, step: Any, feature: _Feature) -> _Feature:
        if not feature.numeric:
            raise NotCompilableError(
                f"{type(step).__name__} gets the text column {feature.source!r}; scikit-learn "
                "would fail on it too."
            )
        return feature

    def _equals(self, feature: _Feature, value: Any) -> str:
        value = _plain(value)
        if _is_nan_marker(value):
            return feature.missing if feature.missing is not None else "false"
        if feature.numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"coalesce({feature.value} = {_number(value)}, false)"
        if not feature.numeric and isinstance(value, str):
            return f"coalesce({feature.column} = {_text(value)}, false)"
        raise NotCompilableError(
            f"OneHotEncoder's category {value!r} does not match the type of column {feature.source!r}."
        )


def _from_sklearn(estimator: Any) -> bool:
    """True for scikit-learn's own classes: a subclass may override ``predict``."""
    return type(estimator).__module__.startswith("sklearn.")


def _number(value: Any) -> str:
    """A double literal that round-trips exactly (``repr``), with Spark's ``D`` suffix.

    Without the suffix Spark reads ``0.1`` as a DECIMAL, and decimal
    arithmetic would not match numpy's float64.
    """
    text = f"{float(value)!r}D"
    return f"({text})" if text.startswith("-") else text


def _text(value: str) -> str:
    """A Spark SQL string literal (backslash escapes, Spark's default)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _is_nan_marker(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _select(columns: Any, features: list[_Feature], names: list[str], *, where: str) -> list[_Feature]:
    """The features a ColumnTransformer entry picks, as scikit-learn resolves ``columns``."""
    import numpy as np

    if isinstance(columns, slice):
        return features[columns]
    if callable(columns) or isinstance(columns, (str, int)):
        raise NotCompilableError(f"{where}: a scalar or callable column selection has no SQL form here.")
    picked = list(columns)
    if not picked:
        return []
    if all(isinstance(c, (bool, np.bool_)) for c in picked):
        return [f for f, keep in zip(features, picked, strict=True) if keep]
    if all(isinstance(c, (int, np.integer)) for c in picked):
        return [features[int(c)] for c in picked]
    if all(isinstance(c, str) for c in picked) and names:
        positions = {name: i for i, name in enumerate(names)}
        return [features[positions[c]] for c in picked]
    raise NotCompilableError(f"{where}: the column selection {picked!r} has no SQL form here.")


def _input_features(schema: "StructType", columns: Sequence[str]) -> list[_Feature]:
    """Features for the model's input columns, typed as pyfunc would hand them over."""
    from pyspark.sql.types import BooleanType, DoubleType, IntegralType, NumericType, StringType

    features = []
    for name in columns:
        field = schema[name]
        column = _identifier(name)
        if isinstance(field.dataType, NumericType) and not isinstance(field.dataType, BooleanType):
            if not isinstance(field.dataType, DoubleType):
                column = f"CAST({column} AS DOUBLE)"
            if isinstance(field.dataType, IntegralType):
                missing = f"{column} IS NULL" if field.nullable else None
            else:
                missing = f"({column} IS NULL OR isnan({column}))"
            features.append(_Feature(column, name, True, missing))
        elif isinstance(field.dataType, StringType):
            features.append(_Feature(column, name, False, f"{column} IS NULL" if field.nullable else None))
        else:
            raise NotCompilableError(
                f"The input column {name!r} is {field.dataType.simpleString()}; only numbers "
                "and strings compile."
            )
    return features


def compile_estimator(estimator: Any, schema: "StructType", columns: Sequence[str]) -> str:
    """The prediction of a fitted scikit-learn ``estimator`` as one Spark SQL expression.

    Parameters
    ----------
    estimator
        A fitted linear pipeline (see the module docstring for what compiles).
    schema : StructType
        The schema of the DataFrame to score: it decides how each input is cast.
    columns : sequence of str
        The model's input columns in the order it was fitted on (ignored when
        the estimator knows its ``feature_names_in_``).

    Raises
    ------
    NotCompilableError
        Naming the step with no SQL form; score with ``spark_udf`` instead.
    """
    names = list(getattr(estimator, "feature_names_in_", columns))
    unknown = [n for n in names if n not in schema.fieldNames()]
    if unknown:
        raise NotCompilableError(f"The DataFrame lacks the model's input columns {unknown}.")
    return _Compiler().predict(estimator, _input_features(schema, names))


#: fitted linear models by MLflow ``model_uuid`` (a logged model never changes),
#: or the NotCompilableError of a model that is not one. Loading (download,
#: skops) costs more than a warm Spark pass over a million rows, so jobs that
#: score the same model again load it once; a large forest is loaded once on
#: the driver to find out it does not compile, and only the reason is kept.
_ESTIMATORS: LRUCache[Any] = LRUCache(8)


def _linear_estimator(key: str | None, load) -> Any:
    """The linear estimator ``load()`` returns (cached under ``key``), else raise why not."""
    def checked() -> Any:
        estimator = load()
        return estimator if _is_linear(estimator) else _not_linear(estimator)

    item = _ESTIMATORS.get(key, checked) if key else checked()
    if isinstance(item, NotCompilableError):
        raise NotCompilableError(str(item))
    return item


def _final_step(estimator: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def _not_linear(estimator: Any) -> NotCompilableError:
    return NotCompilableError(
        f"{type(_final_step(estimator)).__name__} has no SQL form: only linear regressors "
        f"compile ({', '.join(LINEAR_REGRESSORS[:5])}, ...)."
    )


def _is_linear(estimator: Any) -> bool:
    final = _final_step(estimator)
    return type(final).__name__ in LINEAR_REGRESSORS and _from_sklearn(final)


def compiled_sql(model_uri: str, df: "DataFrame", *, model_info: Any = None) -> str:
    """The MLflow model at ``model_uri`` as Spark SQL text over ``df``'s columns.

    Only scikit-learn models served by ``predict`` qualify; the fitted model is
    loaded once per logged model and compiled by :func:`compile_estimator`.
    Print it to read the model: constants, weights and the error checks.

    Raises
    ------
    NotCompilableError
        When the model is not scikit-learn or has a step with no SQL form.
    """
    from mlops_kit.registry.info import model_info as read_model_info

    info = model_info or read_model_info(model_uri)
    pyfunc = info.flavors.get("python_function", {})
    if "sklearn" not in info.flavors or pyfunc.get("loader_module") != "mlflow.sklearn":
        flavor = ", ".join(sorted(info.flavors)) or "no flavor"
        raise NotCompilableError(f"The model {model_uri} is not a scikit-learn model ({flavor}).")
    if pyfunc.get("predict_fn", "predict") != "predict":
        raise NotCompilableError(f"The model {model_uri} predicts with {pyfunc['predict_fn']!r}, not 'predict'.")

    def load() -> Any:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(model_uri)

    estimator = _linear_estimator(info.model_uuid, load)
    columns = info.signature.inputs.input_names() if info.signature is not None else []
    return compile_estimator(estimator, df.schema, columns)


def compiled_prediction(model_uri: str, df: "DataFrame", *, model_info: Any = None) -> "Column":
    """:func:`compiled_sql` as a Spark ``Column`` (one call into the JVM).

    Examples
    --------
    >>> df.withColumn("prediction", compiled_prediction("models:/price@champion", df))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    return F.expr(compiled_sql(model_uri, df, model_info=model_info))

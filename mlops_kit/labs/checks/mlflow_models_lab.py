"""Checks of the MLflow models lab (``solutions/02-model-management/01L-mlflow-models-lab.ipynb``).

The lab wraps a price regressor in a custom pyfunc that answers
``"Expensive"`` for a predicted price above 100 and ``"Not Expensive"``
otherwise (100 itself is not expensive), and that accepts a *raw* request as
the pricing app sends it (:func:`raw_request`: columns shuffled, numbers as
text, extra fields). The checkers never trust the learner's regressor to
land near the threshold: they swap it for a stub that returns prices chosen
around 100, and that refuses input the real regressor could not score.

- ex1: built with the stub, the class labels a raw request (per-learner
  shuffle) and the boundary right, and hands the regressor each field's own
  values (columns relabelled by position price listings from the wrong fields);
- ex2: logged with an input example and a signature that describes what
  callers send (raw requests) and get back (labels, strings), it loads back
  and labels a raw request right;
- ex3 (decision): teammates already register under the same name
  (:func:`prepare_team`: one to three versions per learner, one of them the
  team's ``champion``, which the team's app loads). The learner registers
  their model and gives their own staging app a ``models:/`` URI that names
  their version and keeps naming it whatever teammates register next,
  without moving what the team's app serves: a version number, or an alias of
  their own. ``latest`` (moves with the next registration), ``@champion``
  (a teammate's version, or the team's app switched to an unreviewed model)
  and a version number typed from a neighbour's notebook fail. The version
  must come from the run of ex2, its own regressor must price a raw request
  as it prices the request's features matched by name, and a fresh process
  must load it and label the same way.
"""
from __future__ import annotations

from typing import Any

from mlops_kit.labs import CheckResult, checker

__all__ = ["LAB_ID", "MODEL", "TEAM_ALIAS", "THRESHOLD", "prepare_team", "raw_request",
           "request_features", "team_registry"]

LAB_ID = "mlflow-models-lab"
THRESHOLD = 100.0
#: the registered model's short name (the workspace prefixes env and user)
MODEL = "price_labels"
#: stub prices and the labels they must get (100 exactly is "Not Expensive")
PROBES: list[tuple[float, str]] = [
    (20.0, "Not Expensive"), (99.99, "Not Expensive"), (100.0, "Not Expensive"),
    (100.01, "Expensive"), (750.0, "Expensive"),
]
LABELS = {"Expensive", "Not Expensive"}
#: fields the app sends that are not model features
EXTRA_FIELDS = ("listing_url", "host_name")
#: the alias the team's app loads (the team moves it after a review)
TEAM_ALIAS = "champion"
#: the tag that marks the versions teammates registered (exercise 3)
TEAM_TAG = "registered_by"


def raw_request(n: int = 5, seed: int | None = None):
    """Rows as the pricing app sends them: every value a string, fields in any order.

    The features are all there, but as text (``"3"``, ``"4.5"``, ``None`` for
    a missing score), in an order that depends on ``seed`` (default: the
    learner's), next to fields the model never saw (a URL, the host's name).
    """
    import numpy as np

    from mlops_kit.labs.seeds import learner_seed
    from mlops_kit.models import FEATURES, listings_frame

    seed = learner_seed(LAB_ID) if seed is None else seed
    rng = np.random.default_rng(seed)
    frame = listings_frame(max(n, 5), seed=seed % 10_000)[FEATURES].head(n).reset_index(drop=True)
    frame.loc[rng.integers(0, n), "review_scores_rating"] = np.nan
    text = frame.astype(object).where(frame.notna(), None)
    text = text.apply(lambda column: column.map(lambda v: None if v is None else f"{v:g}"))
    text["listing_url"] = [f"https://example.com/rooms/{i}" for i in rng.integers(1_000, 99_999, n)]
    text["host_name"] = rng.choice(["Ana", "Ben", "Chloé", "Dev", "Eun"], n)
    order = list(text.columns)
    while order[: len(FEATURES)] == FEATURES:
        order = list(rng.permutation(order))
    return text[order]


class _BadInput(ValueError):
    """The stub regressor refused what the pyfunc passed it."""


def request_features(request: Any):
    """What the regressor must be given for ``request``: its features by name, as numbers."""
    import pandas as pd

    from mlops_kit.models import FEATURES

    return request[FEATURES].apply(pd.to_numeric, errors="coerce").astype(float)


def _same_values(frame: Any, expected: Any) -> None:
    """Raise :class:`_BadInput` when ``frame`` does not hold ``expected``'s values, column by column."""
    import numpy as np

    if len(frame) != len(expected):
        raise _BadInput(f"the regressor was given {len(frame)} rows for a request of {len(expected)}")
    wrong = [c for c in expected.columns
             if not np.allclose(frame[c].to_numpy(dtype=float), expected[c].to_numpy(dtype=float),
                                rtol=1e-9, atol=1e-9, equal_nan=True)]
    if wrong:
        raise _BadInput(f"the regressor was given other values than the request's under "
                        f"{wrong[:3]}{' and more' if len(wrong) > 3 else ''}: it would price "
                        f"these listings from the wrong fields")


class _StubRegressor:
    """Returns the probe prices, whatever the rows: the checker decides the price.

    Like the fitted pipeline, it only accepts the training features, in the
    training order, as numbers; anything else raises :class:`_BadInput`.
    Given the request's ``expected`` features, it also refuses a frame whose
    columns carry other values than the request's fields of the same name
    (columns relabelled by position, a feature scaled or filled in).
    """

    def __init__(self, expected: Any = None) -> None:
        self.expected = expected

    def predict(self, frame: Any):
        import numpy as np
        import pandas as pd

        from mlops_kit.models import FEATURES

        if isinstance(frame, pd.DataFrame):
            columns = [str(c) for c in frame.columns]
            if columns != FEATURES:
                extra = [c for c in columns if c not in FEATURES]
                what = (f"extra column(s) {extra}" if extra else
                        "the features in another order than in training" if sorted(columns) == sorted(FEATURES)
                        else f"only {len(columns)} of the {len(FEATURES)} features")
                raise _BadInput(f"the regressor was given {what}")
            text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
            if text:
                raise _BadInput(f"the regressor was given non-numeric column(s) {text[:3]} "
                                f"(dtype {frame[text[0]].dtype})")
            if self.expected is not None:
                _same_values(frame, self.expected)
        prices = [price for price, _ in PROBES]
        return np.array([prices[i % len(prices)] for i in range(len(frame))])


def _as_list(predictions: Any) -> list:
    if hasattr(predictions, "tolist"):
        predictions = predictions.tolist()
    if predictions and isinstance(predictions[0], list):  # one column frame
        predictions = [row[0] for row in predictions]
    return list(predictions)


def _probe_frame(n: int):
    from mlops_kit.models import FEATURES, listings_frame

    return listings_frame(max(n, 5), seed=3)[FEATURES].head(n)


def _labels_verdict(labels: list) -> CheckResult:
    expected = [label for _, label in PROBES]
    if labels == expected:
        return CheckResult.ok(
            "prices 20, 99.99, 100, 100.01, 750 got the right labels (100 is Not Expensive)"
        )
    if len(labels) != len(expected):
        return CheckResult.fail(f"{len(expected)} rows got {len(labels)} label(s)",
                                hint="return one label per input row")
    wrong = [f"{price} -> {got!r} (expected {want!r})"
             for (price, want), got in zip(PROBES, labels) if got != want]
    return CheckResult.fail(
        "wrong labels: " + "; ".join(wrong or [f"got {labels!r}"]),
        hint="look at which side of the threshold a price of exactly 100 falls: "
             "only prices strictly above it are expensive",
    )


def _regressor_attribute(python_model: Any) -> str | None:
    """The name of the attribute holding the regressor, if any."""
    for name, value in vars(python_model).items():
        if hasattr(value, "predict") and not isinstance(value, type):
            return name
    return None


def _swap_regressor(python_model: Any, expected: Any = None) -> str | None:
    """Replace the attribute holding the regressor by the stub; return its name."""
    name = _regressor_attribute(python_model)
    if name is not None:
        setattr(python_model, name, _StubRegressor(expected))
    return name


class _Recording:
    """The learner's own regressor, checking what it is given and keeping the prices."""

    def __init__(self, model: Any, expected: Any) -> None:
        self.model, self.expected, self.prices = model, expected, None

    def predict(self, frame: Any):
        _same_values(frame, self.expected)
        self.prices = self.model.predict(frame)
        return self.prices


_PREPROCESS_HINT = ("compare raw_request.columns and raw_request.dtypes with X: "
                    "the regressor needs exactly its training columns, in that order, as numbers")


@checker(LAB_ID, "ex1", title="A pyfunc that scores a raw request",
         hints=["call your model's predict on raw_request and read what goes wrong: "
                "what does the regressor expect that the app does not send?",
                "inside predict, keep only the model's features in training order "
                "and turn the text into numbers before calling the regressor; "
                "then compare each price with the threshold"])
def check_ex1(value: Any, **context: Any) -> CheckResult:
    """``value`` is the PythonModel class; built with a stub regressor, it labels a raw request."""
    import mlflow.pyfunc

    if not (isinstance(value, type) and issubclass(value, mlflow.pyfunc.PythonModel)):
        return CheckResult.fail(
            f"expected a subclass of mlflow.pyfunc.PythonModel (a class), got {type(value).__name__}",
            hint="define class PriceLabelModel(mlflow.pyfunc.PythonModel) and pass the class itself",
        )
    request = raw_request(len(PROBES))
    try:
        instance = value(_StubRegressor(request_features(request)))
    except TypeError as err:
        return CheckResult.fail(f"the class could not be built with a model: {err}",
                                hint="give __init__ one argument: the fitted regressor")
    try:
        labels = _as_list(instance.predict(None, request))
    except _BadInput as err:
        return CheckResult.fail(f"a raw request did not score: {err}", hint=_PREPROCESS_HINT)
    except Exception as err:  # the learner's code failed on the raw request
        return CheckResult.fail(
            f"predict failed on a raw request ({type(err).__name__}: {str(err).splitlines()[0][:160]})",
            hint=_PREPROCESS_HINT)
    return _labels_verdict(labels)


def _output_type(signature: Any) -> str | None:
    outputs = getattr(signature, "outputs", None)
    if outputs is None:
        return None
    types = [getattr(getattr(spec, "type", None), "name", str(getattr(spec, "type", "")))
             for spec in outputs.inputs]
    return types[0] if len(types) == 1 else ", ".join(types)


@checker(LAB_ID, "ex2", title="Log it with a signature and an input example",
         hints=["a signature describes what goes in and what comes out of *this* model, "
                "as a caller sees it",
                "infer the output part from what your PriceLabelModel returns, not from the "
                "regressor inside it"])
def check_ex2(value: Any, **context: Any) -> CheckResult:
    """``value`` is the ModelInfo of the logged model."""
    import mlflow

    uri = getattr(value, "model_uri", None)
    if not isinstance(uri, str):
        return CheckResult.fail(f"expected the ModelInfo that log_model returns, got {type(value).__name__}",
                                hint="keep what mlflow.pyfunc.log_model(...) returns")
    info = mlflow.models.get_model_info(uri)
    if info.signature is None:
        return CheckResult.fail("the model was logged without a signature",
                                hint="pass signature= to log_model, inferred from an input and an output")
    output = _output_type(info.signature)
    if output is None:
        return CheckResult.fail("the signature has no output schema",
                                hint="infer the signature from an input AND the model's output")
    if output != "string":
        return CheckResult.fail(
            f"the signature says the model returns {output}, but this model returns labels",
            hint="the output schema must describe what the PythonModel returns, "
                 "not what the regressor inside it returns")
    if info.saved_input_example_info is None:
        return CheckResult.fail("the model was logged without an input example",
                                hint="pass input_example= a few rows of the input")
    loaded = mlflow.pyfunc.load_model(uri)
    request = raw_request(len(PROBES))
    if _swap_regressor(loaded.unwrap_python_model(), request_features(request)) is None:
        return CheckResult.fail("the logged model keeps no regressor as an attribute",
                                hint="store the fitted model in __init__: self.model = model")
    try:
        predictions = loaded.predict(request)
    except _BadInput as err:
        return CheckResult.fail(f"loaded back, a raw request did not score: {err}",
                                hint=_PREPROCESS_HINT)
    except Exception as err:  # MLflow's schema enforcement refused the request
        return CheckResult.fail(
            f"loaded back, the model refused a raw request ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160]})",
            hint="MLflow checks every request against the signature's input part: "
                 "it must describe what callers send, not what the regressor sees")
    verdict = _labels_verdict(_as_list(predictions))
    if not verdict.passed:
        return verdict
    return CheckResult.ok("signature (labels out) and input example logged; loaded back, it "
                          "labels the boundary right (100 -> Not Expensive)")


# ------------------------------------------------------ ex3: the team's registry
def team_versions(user: str | None = None) -> tuple[int, int]:
    """How many versions teammates register before the learner (1-3), and which holds the alias."""
    from mlops_kit.labs.seeds import learner_seed

    seed = learner_seed(LAB_ID + "-team", user=user)
    count = 1 + seed % 3
    return count, 1 + (seed // 3) % count


def _team_model():
    """A teammate's label model (its own threshold; no regressor of the learner's)."""
    import mlflow.pyfunc
    import pandas as pd

    class TeammateLabels(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return ["Not Expensive"] * len(model_input)

        # the type itself, not its name (this module postpones annotations)
        predict.__annotations__["model_input"] = pd.DataFrame

    return TeammateLabels()


def prepare_team() -> Any:
    """Register the teammates' versions under the workspace's ``price_labels`` name.

    One to three versions (per learner), from a run of their own; the team's
    ``champion`` alias goes on one of them. Returns :func:`team_registry`.
    """
    import mlflow
    from mlflow.models import infer_signature

    from mlops_kit._price_model import pip_requirements
    from mlops_kit.workspace import get_workspace

    name = get_workspace().model_name(MODEL)
    count, champion = team_versions()
    request = raw_request(3)
    with mlflow.start_run(run_name="a teammate's price labels",
                          nested=mlflow.active_run() is not None):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_team_model(),
            signature=infer_signature(request, ["Not Expensive"] * len(request)),
            input_example=request, pip_requirements=pip_requirements())
    client = mlflow.MlflowClient()
    registered = [mlflow.register_model(info.model_uri, name) for _ in range(count)]
    for version in registered:
        client.set_model_version_tag(name, version.version, TEAM_TAG, "a teammate")
    client.set_registered_model_alias(name, TEAM_ALIAS, registered[champion - 1].version)
    return team_registry()


def team_registry() -> Any:
    """The versions registered under the workspace's ``price_labels`` name, newest first."""
    import mlflow
    import pandas as pd

    from mlops_kit.workspace import get_workspace

    name = get_workspace().model_name(MODEL)
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    aliases: dict[str, list[str]] = {}
    if versions:  # a search leaves the aliases out: the registered model has them
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
    rows = [{"version": int(v.version), "aliases": ", ".join(sorted(aliases.get(str(v.version), []))),
             "registered by": (v.tags or {}).get(TEAM_TAG, "you"), "run_id": v.run_id}
            for v in versions]
    return pd.DataFrame(rows, columns=["version", "aliases", "registered by", "run_id"]) \
        .sort_values("version", ascending=False).reset_index(drop=True)


def _resolve(uri: str) -> tuple[Any, str | None]:
    """The model version a ``models:/name/version`` or ``models:/name@alias`` URI names."""
    from mlops_kit.exceptions import ConfigError, NotFoundError
    from mlops_kit.registry.reference import ModelReference

    try:
        reference = ModelReference.parse(uri)
    except ConfigError:
        return None, f"{uri!r} names no version (models:/<name>/<version> or models:/<name>@<alias>)"
    try:
        return reference.resolve(), None
    except NotFoundError:
        return None, f"the registry has no model version at {uri!r}"


def _champion_run(name: str) -> str | None:
    """The run of the version the team's alias points at (None: no such alias)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, TEAM_ALIAS).run_id
    except MlflowException:
        return None


@checker(LAB_ID, "ex3", title="Give your staging app a URI that stays on your version",
         hints=["teammates keep registering under the same name, and the team moves its alias "
                "after each review: which kinds of reference keep naming one version?",
                "register model_info.model_uri under the workspace's model name; then name the "
                "new version so that neither a teammate's next registration nor the team's "
                "alias changes what your app loads, and leave the team's alias where it is"])
def check_ex3(value: Any, *, model_info: Any = None, **context: Any) -> CheckResult:
    """``value``: a ``models:/`` URI; ``model_info``: the ModelInfo of ex2."""
    from mlops_kit.models import predict_in_fresh_process
    from mlops_kit.workspace import get_workspace

    if not isinstance(value, str):
        return CheckResult.fail(f"expected a model URI (str), got {type(value).__name__}",
                                hint="build the URI as an f-string from the registered name and version")
    logged_uri = getattr(model_info, "model_uri", None)
    if value.startswith("runs:/") or value == logged_uri or value.startswith("models:/m-"):
        return CheckResult.fail("this URI points at the logged model itself: the model is not registered",
                                hint="register the logged model, then load it through the registry")
    if not value.startswith("models:/"):
        return CheckResult.fail(f"{value!r} is not a registry URI",
                                hint="registered models are addressed as models:/...")
    if value.rstrip("/").lower().endswith("/latest"):
        return CheckResult.fail(
            "'latest' names whatever version was registered last: your teammates' next "
            "registration would change what your app loads",
            hint="name one version in a way no one else's registration changes")
    version, problem = _resolve(value)
    if problem:
        return CheckResult.fail(problem, hint="use the name and version that register_model returned")
    expected_name = get_workspace().model_name(MODEL)
    if version.name != expected_name:
        return CheckResult.fail(
            f"the model is registered as {version.name!r}, not under this workspace's {MODEL!r} name",
            hint=f"ask the workspace for the full name of {MODEL!r}")
    run_id = getattr(model_info, "run_id", None)
    team_run = _champion_run(expected_name)
    if run_id is not None and team_run == run_id:
        return CheckResult.fail(
            f"the team's {TEAM_ALIAS!r} alias now points at your version: the team's app would "
            "serve a model nobody reviewed",
            hint="the team moves its own alias after a review; give your app a reference of its own")
    if run_id is not None and version.run_id != run_id:
        return CheckResult.fail("this version was registered from another run than the model you logged",
                                hint="register model_info.model_uri, the model of exercise 2, and look "
                                     "at the registry: which version is yours?")
    if "@" in value and value.rsplit("@", 1)[1] == TEAM_ALIAS:
        return CheckResult.fail(
            f"{TEAM_ALIAS!r} is the team's alias: when the team moves it, your app would load "
            "another model", hint="give your app a reference of its own")
    request = raw_request(10)
    priced = _prices_on(value, request)
    if isinstance(priced, CheckResult):
        return priced
    expected = ["Expensive" if price > THRESHOLD else "Not Expensive" for price in priced]
    labels = predict_in_fresh_process(value, request)
    if len(labels) != 10 or not set(labels) <= LABELS:
        return CheckResult.fail(f"a fresh process predicted {labels!r}",
                                hint="the registered model must return one label per row")
    if list(labels) != expected:
        wrong = sum(a != b for a, b in zip(labels, expected))
        return CheckResult.fail(f"in a fresh process, {wrong} of 10 listings got another label than "
                                f"the regressor's own price gives them",
                                hint=_PREPROCESS_HINT)
    return CheckResult.ok(f"version {version.version} of {MODEL} loads in a new Python process "
                          f"and labels 10 rows from the prices of their own fields "
                          f"({min(priced):,.0f} to {max(priced):,.0f}); the team's "
                          f"{TEAM_ALIAS!r} stays where the team put it")


def _prices_on(uri: str, request: Any) -> Any:
    """The registered model's regressor's prices on ``request``, checked against the request's fields.

    Loads the version in this process, lets its own regressor price what the
    pyfunc hands it, and compares that with the reference: the same regressor
    on the request's features, matched by name.
    """
    import mlflow
    import numpy as np

    python_model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    name = _regressor_attribute(python_model)
    if name is None:
        return CheckResult.fail("the registered model keeps no regressor as an attribute",
                                hint="store the fitted model in __init__: self.model = model")
    regressor = getattr(python_model, name)
    reference = np.asarray(regressor.predict(request_features(request)), dtype=float)
    recording = _Recording(regressor, request_features(request))
    setattr(python_model, name, recording)
    try:
        python_model.predict(None, request)
    except _BadInput as err:
        return CheckResult.fail(f"the registered model prices a raw request wrongly: {err}",
                                hint=_PREPROCESS_HINT)
    except Exception as err:  # the learner's code failed on the raw request
        return CheckResult.fail(f"the registered model failed on a raw request ({type(err).__name__})",
                                hint=_PREPROCESS_HINT)
    prices = np.asarray(recording.prices, dtype=float)
    if prices.shape != reference.shape or not np.allclose(prices, reference, rtol=1e-6, equal_nan=True):
        return CheckResult.fail("the registered model's prices differ from its regressor's on the "
                                "request's fields", hint=_PREPROCESS_HINT)
    return reference

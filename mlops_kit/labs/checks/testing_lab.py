"""Lab 4.4, the tests, data checks and gates of the price pipeline (``testing-lab``).

The learner's pipeline reads listings from a partner feed whose review score is
on the partner's scale (per learner: 0-100, 0-10 or a 0-1 fraction), converts
it to stars (the feature code, :class:`FeatureCode`), validates the training
table, trains the price model and releases it. The learner writes the tests of
each layer; the checkers *run* them:

- ex1: the unit tests, against the right feature code and against the bugs a
  pipeline really ships (no conversion: the unit bug of the closed-loop lesson,
  the wrong scale, a clip that hides the bug, a missing rating turned into 0, the
  other columns lost);
- ex2: the data suite (a pandera schema), against clean batches that must pass
  and batches broken with the course's injectors that must fail;
- ex3: the behaviour tests, against the right model, a retrained one, a model
  that reads the listing's id and one whose capacity effect is reversed;
- ex4: the release gate, on changes whose defect only one suite can see, and
  whether it trains a model on a batch its data suite rejected.

A suite that passes everything, or fails on the right code, does not pass.
"""
from __future__ import annotations

import copy
import functools
import inspect
import random
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from mlops_kit.exceptions import ExerciseError
from mlops_kit.labs import CheckResult, checker
from mlops_kit.labs.fill_in import contains_fill_in, fill_in_error

RATING = "review_scores_rating"
#: the partner feed's review-score scale, per learner (stars = score * 5 / scale)
FEED_SCALES: tuple[float, ...] = (100.0, 10.0, 1.0)
#: a scale a buggy conversion uses instead of the feed's
_WRONG_SCALE = {100.0: 10.0, 10.0: 100.0, 1.0: 100.0}
#: the capacity column whose effect on the price the learner's directional test guards
CAPACITY = ("accommodates", "bedrooms", "bathrooms")
#: rows of the learner's training table
TABLE_ROWS = 800
#: listings handed to behaviour tests as the ``listings`` fixture
SAMPLE_ROWS = 200


def feed_scale(learner: int) -> float:
    """The partner's review-score scale for ``learner`` (100, 10 or 1)."""
    return FEED_SCALES[learner % len(FEED_SCALES)]


def capacity_feature(learner: int) -> str:
    """The capacity column of ``learner``'s directional test."""
    return CAPACITY[(learner // 3) % len(CAPACITY)]


# ---------------------------------------------------------------- feature code
class FeatureCode:
    """The feature code of the pipeline: partner feed -> model units.

    Called on a feed frame, returns a copy whose ``review_scores_rating`` is in
    stars (``score * 5 / scale``); a missing score stays missing and every other
    column passes through. ``bug`` builds the broken versions the checkers use.
    """

    def __init__(self, scale: float, *, bug: str | None = None, name: str = "feature code") -> None:
        self.scale = float(scale)
        self._bug = bug
        self._name = name

    def __call__(self, feed: pd.DataFrame) -> pd.DataFrame:
        out = feed.copy()
        score = out[RATING].astype("float64")
        if self._bug == "unit":        # the conversion is forgotten
            stars = score
        elif self._bug == "scale":     # the conversion of another feed
            stars = score * 5.0 / _WRONG_SCALE[self.scale]
        elif self._bug == "clip":      # out-of-range values hidden, not converted
            stars = score.clip(upper=5.0)
        elif self._bug == "zero":      # no reviews read as zero stars
            stars = (score * 5.0 / self.scale).fillna(0.0)
        else:
            stars = score * 5.0 / self.scale
        out[RATING] = stars
        if self._bug == "columns":     # a refactor that keeps the score and loses the rest
            return out[[RATING]]
        return out

    def __repr__(self) -> str:
        return f"<{self._name}>"


#: the bugs of ex1, and how a failed check names the one a suite let through
CODE_BUGS: dict[str, str] = {
    "unit": "leaves the score on the partner's scale (the conversion is missing)",
    "scale": "converts with another feed's scale",
    "clip": "caps the score at 5 instead of converting it",
    "zero": "turns a missing score (a listing without reviews) into 0 stars",
    "columns": "converts the score and drops every other column of the feed",
}


def partner_feed(learner: int, n: int = TABLE_ROWS, *, seed: int | None = None) -> pd.DataFrame:
    """Listings as the partner sends them: the review score on the partner's scale."""
    from mlops_kit.datasets import listings
    from mlops_kit.datasets.drift import change_units

    frame = listings(n, seed=learner % 10_000 if seed is None else seed)
    return change_units(frame, RATING, feed_scale(learner) / 5.0)


def training_table(learner: int, n: int = TABLE_ROWS, *, seed: int | None = None) -> pd.DataFrame:
    """The learner's training table: the partner feed through the right feature code."""
    return _training_table(learner, n, seed).copy()


@functools.lru_cache(maxsize=8)
def _training_table(learner: int, n: int, seed: int | None) -> pd.DataFrame:
    return FeatureCode(feed_scale(learner))(partner_feed(learner, n, seed=seed))


# ------------------------------------------------------------------ test runs
@dataclass
class SuiteRun:
    """What :func:`run_tests` found: one row per test, and whether all passed."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when there is at least one test and every test passed."""
        return bool(self.rows) and all(outcome == "passed" for _, outcome, _ in self.rows)

    @property
    def failed(self) -> list[str]:
        """Names of the tests that failed or raised."""
        return [name for name, outcome, _ in self.rows if outcome != "passed"]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["test", "outcome", "message"])

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)

    def __repr__(self) -> str:
        return self.to_frame().to_string(index=False)


def _where(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    return f" (at `{frames[-1].line}`)" if frames and frames[-1].line else ""


def _refuse_fill_in(value: Any) -> None:
    """Stop at the kit's FILL_IN message (never report an unfilled answer as a verdict)."""
    if contains_fill_in(value):
        raise fill_in_error()


def _test_functions(tests: Any) -> list[Callable[..., Any]]:
    _refuse_fill_in(tests)
    return [tests] if callable(tests) else list(tests)


def run_tests(tests: Any, **fixtures: Any) -> SuiteRun:
    """Run pytest-style test functions with ``fixtures``, as pytest would.

    Each test gets a fresh copy of the fixtures its parameters name (a test
    cannot change what the next one sees); an ``AssertionError`` fails it, any
    other exception is an error. A list of functions, or one function.
    """
    run = SuiteRun()
    for test in _test_functions(tests):
        name = getattr(test, "__name__", repr(test))
        if not callable(test):
            run.rows.append((name, "error", f"{name} is not a function"))
            continue
        wanted = list(inspect.signature(test).parameters)
        unknown = [p for p in wanted if p not in fixtures]
        if unknown:
            run.rows.append((name, "error", f"unknown fixture {unknown[0]!r}; the fixtures here are "
                                            f"{', '.join(sorted(fixtures))}"))
            continue
        try:
            test(**{p: copy.deepcopy(fixtures[p]) for p in wanted})
        except ExerciseError:
            raise
        except AssertionError as err:
            run.rows.append((name, "failed", f"{err}".strip()[:200] + _where(err)))
        except Exception as err:  # noqa: BLE001 - the learner's test
            run.rows.append((name, "error", f"{type(err).__name__}: {err}"[:200] + _where(err)))
        else:
            run.rows.append((name, "passed", ""))
    return run


def _quiet_run(tests: Any, **fixtures: Any) -> SuiteRun:
    with warnings.catch_warnings():  # the broken variants may warn; the verdict is what counts
        warnings.simplefilter("ignore")
        return run_tests(tests, **fixtures)


def _suite_problem(tests: Any, what: str) -> CheckResult | None:
    funcs = [tests] if callable(tests) else tests
    if not isinstance(funcs, (list, tuple)) or not funcs or not all(callable(f) for f in funcs):
        return CheckResult.fail(f"{what} should be a list of test functions; got "
                                f"{type(tests).__name__}",
                                hint="Define functions `def test_...(fixture): ...` and list them.")
    named = [getattr(f, "__name__", "") for f in funcs]
    stray = [n for n in named if not n.startswith("test_")]
    if stray:
        return CheckResult.fail(f"pytest only collects functions named test_*; {stray[0]!r} would "
                                "never run in CI", hint="Name every test function test_<what it checks>.")
    return None


def _fails_right_code(run: SuiteRun, what: str) -> CheckResult:
    name, outcome, message = next(r for r in run.rows if r[1] != "passed")
    return CheckResult.fail(f"{name} {outcome} on the right {what}: {message}",
                            hint="A test must pass on correct code: check what it expects, and "
                                 "compare floats with a tolerance (pytest.approx).")


# ---------------------------------------------------------------- data batches
def _swap(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    out = frame.copy()
    out[a], out[b] = frame[b], frame[a]
    return out


def clean_batches(learner: int) -> dict[str, pd.DataFrame]:
    """Batches a data suite must accept: nothing in them is broken."""
    from mlops_kit.datasets.drift import change_category_mix, shift_feature

    table = training_table(learner)
    return {
        "your training table": table,
        "next month's listings (another sample)": training_table(learner, 600, seed=learner % 10_000 + 1),
        "a market where every price rose by a fifth": shift_feature(table, "price", factor=1.2),
        "a month with more private rooms": change_category_mix(
            table, "room_type", {"Entire home/apt": 0.45, "Private room": 0.5, "Shared room": 0.02,
                                 "Hotel room": 0.03}, seed=learner % 997),
    }


def broken_batches(learner: int) -> dict[str, pd.DataFrame]:
    """Batches a data suite must reject, each broken by one of the course's injectors."""
    from mlops_kit.datasets.drift import change_category_mix, change_units, inject_nulls

    table = training_table(learner)
    renamed = {"Entire home": 0.62, "Private room": 0.33, "Shared room": 0.02, "Hotel room": 0.03}
    return {
        "the review score still on the partner's scale": change_units(table, RATING,
                                                                       feed_scale(learner) / 5.0),
        "prices in cents": change_units(table, "price", "USD->cents"),
        "capacity missing for some listings": inject_nulls(table, "accommodates", 0.05,
                                                           seed=learner % 991),
        "a room type renamed upstream": change_category_mix(table, "room_type", renamed,
                                                            seed=learner % 983),
        "latitude and longitude swapped": _swap(table, "latitude", "longitude"),
        "the bedrooms column dropped": table.drop(columns=["bedrooms"]),
    }


def accepts(schema: Any, batch: pd.DataFrame) -> tuple[bool, str]:
    """Whether ``schema`` (pandera) validates ``batch``, and the first reason if not."""
    _refuse_fill_in(schema)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema.validate(batch.copy(), lazy=True)
    except ExerciseError:
        raise
    except Exception as err:  # noqa: BLE001 - SchemaErrors, or the learner's check raising
        failures = getattr(err, "failure_cases", None)
        if failures is not None and len(failures):
            first = failures.iloc[0]
            return False, f"{first.get('column')}: {first.get('check')}"
        return False, f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    return True, ""


# ---------------------------------------------------------------------- models
def _features() -> list[str]:
    from mlops_kit._price_model import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    return NUMERIC_FEATURES + CATEGORICAL_FEATURES


def train_model(table: pd.DataFrame, *, bug: str | None = None, seed: int = 0):
    """The price model trained on ``table`` (ridge, as the course's release trains it).

    ``bug="id"`` trains on ids handed out in an order that follows the price (the
    id leaks the price, while capacity still raises it);
    ``bug="reversed:<column>"`` trains on that column upside down.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlops_kit._price_model import (CATEGORICAL_FEATURES, NUMERIC_FEATURES, numeric_steps,
                                        price_pipeline, regressor)

    data = table.copy()
    features = _features()
    if bug == "id":  # ids handed out in an order that follows the price (newer, pricier)
        import numpy as np

        order = np.log(data["price"]) + np.random.default_rng(seed).normal(0, 0.5, len(data))
        ranks = order.rank(method="first").astype(int).to_numpy() - 1
        data["id"] = np.sort(data["id"].to_numpy())[ranks]
        prepare = ColumnTransformer([
            ("num", make_pipeline(*numeric_steps()), NUMERIC_FEATURES + ["id"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES)])
        model = Pipeline([("prepare", prepare), ("model", regressor("ridge"))])
        return model.fit(data[features + ["id"]], data["price"])
    if bug and bug.startswith("reversed:"):
        column = bug.split(":", 1)[1]
        data[column] = data[column].max() + data[column].min() - data[column]
    return price_pipeline("ridge", seed=seed).fit(data[features], data["price"])


@functools.lru_cache(maxsize=4)
def model_variants(learner: int) -> dict[str, Any]:
    """Right models (two) and broken ones, trained on the learner's training table.

    Cached: tests receive deep copies (:func:`run_tests`), so none can change them.
    """
    table = training_table(learner)
    other = training_table(learner, 600, seed=learner % 10_000 + 2)
    return {
        "good": train_model(table),
        "retrained": train_model(other, seed=1),
        "id": train_model(table, bug="id"),
        "reversed": train_model(table, bug=f"reversed:{capacity_feature(learner)}"),
    }


MODEL_BUGS: dict[str, str] = {
    "id": "prices a listing differently when only its id changes (the id leaks into the model)",
    "reversed": "lowers the price when a listing gets more {capacity}",
}


# ---------------------------------------------------------------------- release
_MESSAGES = ("weekly retrain", "new partner batch", "refactor the feed parser", "more training rows",
             "tidy the training code", "dependency update", "retrain after a partner fix")


class Change:
    """A candidate change of the pipeline: its feature code, the feed batch, its training code.

    ``change.table()`` runs the change's feature code on its feed;
    ``change.train(table)`` trains the change's model on a table (each call is
    counted: a release should not train on what an earlier stage rejected).
    """

    def __init__(self, version: int, message: str, prepare: FeatureCode, feed: pd.DataFrame,
                 *, model_bug: str | None = None) -> None:
        self.version = version
        self.message = message
        self.prepare = prepare
        self.feed = feed
        self._model_bug = model_bug
        self.trained_on: list[pd.DataFrame] = []

    def table(self) -> pd.DataFrame:
        return self.prepare(self.feed)

    def train(self, table: pd.DataFrame):
        self.trained_on.append(table)
        return train_model(table, bug=self._model_bug, seed=self.version)

    def __repr__(self) -> str:
        return f"Change(v{self.version}: {self.message})"


def _change(learner: int, version: int, kind: str, message: str) -> Change:
    from mlops_kit.datasets.drift import change_units, inject_nulls

    scale = feed_scale(learner)
    feed = partner_feed(learner, 500, seed=(learner + 31 * version) % 10_000)
    code = FeatureCode(scale, name=f"feature code of v{version}")
    model_bug = None
    if kind.startswith("code:"):
        bug = kind.split(":")[1]
        code = FeatureCode(scale, bug=bug, name=f"feature code of v{version}")
        if bug == "zero":  # a batch in which every listing has reviews: the bug hides in it
            feed = feed[feed[RATING].notna()].reset_index(drop=True)
    elif kind == "data:nulls":
        feed = inject_nulls(feed, "accommodates", 0.05, seed=version)
    elif kind == "data:cents":
        feed = change_units(feed, "price", "USD->cents")
    elif kind == "model:id":
        model_bug = "id"
    elif kind == "model:reversed":
        model_bug = f"reversed:{capacity_feature(learner)}"
    return Change(version, message, code, feed, model_bug=model_bug)


#: what each kind of change breaks, said without naming the suite that catches it
CHANGE_KINDS: dict[str, str] = {
    "good": "",
    "code:zero": "its feature code turns a missing score into 0 stars (this batch has none)",
    "code:unit": "its feature code leaves the score on the partner's scale",
    "code:clip": "its feature code caps the score instead of converting it",
    "data:nulls": "its batch lacks the capacity of some listings",
    "data:cents": "its batch has prices in cents",
    "model:id": "its model reads the listing's id",
    "model:reversed": "its model lowers the price of bigger listings",
}


def release_history(learner: int) -> list[Change]:
    """The learner's candidate changes, versions 2-7, in the order they arrive."""
    rng = random.Random(learner)
    kinds = ["good", "good", "code:clip", "data:nulls", "model:id", "model:reversed"]
    rng.shuffle(kinds)
    messages = rng.sample(_MESSAGES, len(kinds))
    return [_change(learner, v, kind, msg) for v, (kind, msg) in enumerate(zip(kinds, messages), 2)]


def _verdict(gate: Callable[[Change], Any], change: Change) -> tuple[bool, str]:
    """Whether ``gate`` promotes ``change``; a gate that raises stops the release, as a failed step."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verdict = gate(change)
    except ExerciseError:
        raise
    except Exception as err:  # noqa: BLE001 - a failing step stops the release
        return False, f"stopped: {type(err).__name__}: {str(err)[:120]}"
    if not isinstance(verdict, bool):
        return bool(verdict), f"the gate returned a {type(verdict).__name__}, not True or False"
    return verdict, ""


def release(history: list[Change], gate: Callable[[Change], Any]) -> pd.DataFrame:
    """Replay ``history`` through ``gate``: a change that passes becomes the champion.

    One row per change, as :func:`mlops_kit.jobs.release.run_release` reports
    envs: ``status`` (``promoted`` or ``stopped``), ``detail`` and the champion
    after it (version 1 is the champion before the first change).
    """
    _refuse_fill_in(gate)
    champion, rows = 1, []
    for change in history:
        promoted, detail = _verdict(gate, change)
        if promoted:
            champion = change.version
        rows.append({"version": change.version, "message": change.message,
                     "status": "promoted" if promoted else "stopped", "detail": detail,
                     "champion": champion})
    columns = ["version", "message", "status", "detail", "champion"]
    report = pd.DataFrame(rows, columns=columns).set_index("version")
    return report if report["detail"].astype(bool).any() else report.drop(columns="detail")


# -------------------------------------------------------------------- checkers
@checker("testing-lab", "ex1", title="Unit-test the feature code", hints=[
    "Build a tiny feed by hand whose right answer you know (a score at the bottom, the middle and "
    "the top of the partner's scale), run `prepare` on it and compare with the stars you expect.",
    "The contract has three parts: the conversion, what happens to a listing without reviews, and "
    "the other columns. A range check alone lets a function through that caps values.",
])
def check_ex1(value: Any, *, learner: int, **context: Any) -> CheckResult:
    problem = _suite_problem(value, "unit_tests")
    if problem:
        return problem
    scale = feed_scale(learner)
    good = _quiet_run(value, prepare=FeatureCode(scale))
    if not good.passed:
        return _fails_right_code(good, "feature code")
    for bug, says in CODE_BUGS.items():
        if _quiet_run(value, prepare=FeatureCode(scale, bug=bug)).passed:
            return CheckResult.fail(f"your tests pass feature code that {says}",
                                    hint="Add a test whose expected values only the right "
                                         "conversion gives, calling the `prepare` your test "
                                         "receives as a parameter.")
    return CheckResult.ok(f"{len(good.rows)} test(s) pass on the right code and catch all "
                          f"{len(CODE_BUGS)} broken versions")


@checker("testing-lab", "ex2", title="Write the data suite", hints=[
    "Run `accepts(schema, batch)` on the broken batches above: which one gets through, and what "
    "is wrong in its values (not its types)?",
    "Bounds come from what the columns can mean (a star rating, a price in dollars, San "
    "Francisco's coordinates), not from the training table's min and max: next month's data "
    "must pass too. Think about which columns may be missing.",
])
def check_ex2(value: Any, *, learner: int, **context: Any) -> CheckResult:
    if not callable(getattr(value, "validate", None)):
        return CheckResult.fail(f"schema should be a pandera DataFrameSchema; got a {type(value).__name__}",
                                hint="schema = pa.DataFrameSchema({'price': pa.Column(float, ...), ...})")
    for name, batch in clean_batches(learner).items():
        ok, why = accepts(value, batch)
        if not ok:
            return CheckResult.fail(f"your suite rejects {name}, which is not broken ({why})",
                                    hint="A data suite guards against broken data, not against a "
                                         "world that changed: widen what you derived from one sample.")
    for name, batch in broken_batches(learner).items():
        ok, _ = accepts(value, batch)
        if ok:
            return CheckResult.fail(f"your suite accepts the batch with {name}",
                                    hint="Look at that batch's values next to your training table's, "
                                         "and write the check that tells them apart.")
    return CheckResult.ok(f"accepts {len(clean_batches(learner))} clean batches and rejects all "
                          f"{len(broken_batches(learner))} broken ones")


@checker("testing-lab", "ex3", title="Test the model's behaviour", hints=[
    "An invariance test changes something that must not matter and compares the predictions; a "
    "directional test changes something in a known direction and checks the sign of the change.",
    "Change the ids as much as a real new listing's id differs (not by one), and compare with a "
    "tolerance; for the direction, allow a tiny tolerance but not a drop a guest would notice.",
])
def check_ex3(value: Any, *, learner: int, **context: Any) -> CheckResult:
    problem = _suite_problem(value, "behaviour_tests")
    if problem:
        return problem
    sample = training_table(learner).head(SAMPLE_ROWS)
    models = model_variants(learner)
    for name in ("good", "retrained"):
        run = _quiet_run(value, model=models[name], listings=sample)
        if not run.passed:
            what = "model" if name == "good" else "model retrained on another sample"
            return _fails_right_code(run, what)
    for bug, says in MODEL_BUGS.items():
        if _quiet_run(value, model=models[bug], listings=sample).passed:
            return CheckResult.fail(
                f"your tests pass a model that {says.format(capacity=capacity_feature(learner))}",
                hint="Which of the two kinds of behaviour test would see that? Write it, or make "
                     "it strict enough.")
    return CheckResult.ok("your tests pass two right models and stop both broken ones")


def _gate_cases(learner: int) -> list[tuple[str, Change]]:
    return [(kind, _change(learner, 20 + i, kind, "check"))
            for i, kind in enumerate(["good", "code:zero", "code:unit", "data:nulls", "data:cents",
                                      "model:id", "model:reversed", "good"])]


@checker("testing-lab", "ex4", title="Wire the suites as release gates", hints=[
    "A change passes only if every suite passes on *it*: its feature code, the table its code "
    "makes from its feed, and the model trained on that table.",
    "A test run is an object: what decides is whether it passed. And a stage runs only on what the "
    "stages before it accepted.",
])
def check_ex4(value: Any, *, learner: int, **context: Any) -> CheckResult:
    if not callable(value):
        return CheckResult.fail(f"gate should be a function of a change; got a {type(value).__name__}",
                                hint="def gate(change): ... return True to promote, False to stop")
    cases = _gate_cases(learner)
    for kind, change in cases:
        promoted, detail = _verdict(value, change)
        if kind == "good" and not promoted:
            return CheckResult.fail(f"your gate stops a change with nothing wrong in it ({detail})",
                                    hint="Run each suite on the change's own code, table and model.")
        if kind != "good" and promoted:
            return CheckResult.fail(f"your gate promotes a change where {CHANGE_KINDS[kind]}",
                                    hint="Which suite sees that defect? Make its failure stop the "
                                         "change.")
        if kind.startswith("data:") and change.trained_on:
            return CheckResult.fail(f"your gate trained a model for a change where "
                                    f"{CHANGE_KINDS[kind]}",
                                    hint="Order the stages: a model is trained only on a table the "
                                         "data suite accepted.")
    return CheckResult.ok(f"your gate promotes the good changes and stops all "
                          f"{len(cases) - 2} bad ones, each before promotion")

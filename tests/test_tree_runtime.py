"""The compiled tree runtime: used only when it predicts exactly as scikit-learn, else a reason."""
from __future__ import annotations

import copy
import sys

import numpy as np
import pytest

from mlops_kit.serving import tree_runtime
from mlops_kit.serving.tree_runtime import RTOL, compile_tree_model

pytest.importorskip("treelite", reason="the `trees` extra: pip install 'mlops-kit[trees]'")

FEATURES = ["accommodates", "bedrooms", "bathrooms", "beds", "minimum_nights",
            "number_of_reviews", "review_scores_rating", "latitude", "longitude"]


@pytest.fixture(scope="module")
def listings_data():
    from mlops_kit.datasets.listings import listings

    frame = listings(600, seed=5)
    return frame, listings(300, seed=11)


def _forest(X, y, trees=30):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=trees, max_depth=10, n_jobs=1,
                                 random_state=0).fit(X, y)


def _boosted(X, y):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X, y)


def _relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b) / np.abs(b))


@pytest.mark.parametrize("make", [_forest, _boosted], ids=["forest", "boosted"])
def test_forest_and_boosted_model_pass_the_equality_check(listings_data, make):
    """Compiled, checked on the example and the threshold probes, equal on unseen rows."""
    train, unseen = listings_data
    model = make(train[FEATURES], train["price"])
    compiled, status = compile_tree_model(model, train[FEATURES].head(3))
    assert compiled is not None, status.reason
    assert status.runtime == "treelite" and status.compiled
    assert status.max_relative_error <= RTOL
    assert status.checked_rows > 100  # the split-threshold probes ran, not only 3 rows
    assert _relative(compiled.predict(unseen[FEATURES]), model.predict(unseen[FEATURES])) <= RTOL


def test_a_pipeline_ending_in_a_forest_compiles_its_last_step(listings_data):
    """The kit's served pipeline: scikit-learn encodes, the compiled forest predicts."""
    from mlops_kit._price_model import price_pipeline

    train, unseen = listings_data
    model = price_pipeline("forest").fit(train, train["price"])
    compiled, status = compile_tree_model(model, train.head(3))
    assert compiled is not None, status.reason
    assert _relative(compiled.predict(unseen), model.predict(unseen)) <= RTOL


def test_a_perturbed_conversion_falls_back_with_its_reason(listings_data, monkeypatch):
    """A compiled model that predicts differently (one tree lost) is refused at load."""
    train, _ = listings_data
    model = _forest(train[FEATURES], train["price"])
    real_convert = tree_runtime._convert

    def lose_a_tree(ensemble):
        perturbed = copy.deepcopy(ensemble)
        perturbed.estimators_ = perturbed.estimators_[:-1]
        perturbed.n_estimators = len(perturbed.estimators_)
        return real_convert(perturbed)

    monkeypatch.setattr(tree_runtime, "_convert", lose_a_tree)
    compiled, status = compile_tree_model(model, train[FEATURES].head(3))
    assert compiled is None
    assert status.runtime == "scikit-learn" and not status.compiled
    assert "differs from scikit-learn's" in status.reason and status.max_relative_error > RTOL


def test_threshold_probes_catch_a_rounding_difference_the_example_misses(listings_data,
                                                                         monkeypatch):
    """Without scikit-learn's float32 rounding, rows exactly on float32 values still agree;
    the probes beside the split thresholds do not."""
    train, _ = listings_data
    X = train[FEATURES].fillna(4.5)
    model = _forest(X, train["price"])
    example = (X.head(3) * 4).round() / 4  # every value exact in float32
    assert tree_runtime.compile_tree_model(model, example)[0] is not None
    monkeypatch.setattr(tree_runtime, "_FLOAT32_INPUT", ())
    monkeypatch.setattr(tree_runtime, "_FLOAT64_INPUT", ("RandomForestRegressor",))
    compiled, status = compile_tree_model(model, example)
    assert compiled is None
    assert "split-threshold probes" in status.reason, status.reason


@pytest.mark.parametrize("kind", ["ridge", "knn"])
def test_an_unsupported_estimator_falls_back_with_its_reason(listings_data, kind):
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.impute import SimpleImputer

    train, _ = listings_data
    last = Ridge() if kind == "ridge" else KNeighborsRegressor()
    model = make_pipeline(SimpleImputer(), last).fit(train[FEATURES], train["price"])
    compiled, status = compile_tree_model(model, train[FEATURES].head(3))
    assert compiled is None and status.runtime == "scikit-learn"
    assert type(last).__name__ in status.reason and "not a tree-ensemble" in status.reason


def test_treelite_missing_falls_back_with_a_clear_reason(listings_data, monkeypatch):
    train, _ = listings_data
    model = _forest(train[FEATURES], train["price"], trees=5)
    monkeypatch.setitem(sys.modules, "treelite", None)  # import treelite -> ImportError
    compiled, status = compile_tree_model(model, train[FEATURES].head(3))
    assert compiled is None
    assert "treelite is not installed" in status.reason
    assert "mlops-kit[trees]" in status.reason


# ------------------------------------------------------------------ the endpoint


@pytest.fixture(scope="module")
def registered_forest(tmp_path_factory, listings_data):
    from mlops_kit.workspace import Workspace
    from registered import register_champion

    ws = Workspace.from_env(root=tmp_path_factory.mktemp("kit"), user="tester").activate()
    train, unseen = listings_data
    model = _forest(train[FEATURES], train["price"])
    ws.set_experiment("tree_runtime")
    uri = register_champion(model, train[FEATURES], ws.model_name("forest"))
    return ws, uri, unseen[FEATURES].head(20)


def _serve(ws, uri, rows):
    """(predictions, /version, the endpoint's log) from a real endpoint process."""
    import httpx

    from mlops_kit.serving import Endpoint

    ws.activate()
    records = [{k: (None if v != v else v) for k, v in row.items()}
               for row in rows.to_dict(orient="records")]
    endpoint = Endpoint(uri, log_table=None).start()
    try:
        with httpx.Client(base_url=endpoint.url, headers=endpoint.headers, timeout=30) as client:
            answer = client.post("/invocations", json={"dataframe_records": records})
            assert answer.status_code == 200, answer.text
            predictions, version = answer.json()["predictions"], client.get("/version").json()
    finally:
        assert endpoint.stop() == 0
    return predictions, version, endpoint.log_path.read_text()


def test_the_endpoint_serves_the_same_predictions_with_and_without_the_runtime(
        registered_forest, monkeypatch):
    ws, uri, rows = registered_forest
    compiled, version, _ = _serve(ws, uri, rows)
    assert version["runtime"] == "treelite", version["runtime_reason"]
    monkeypatch.setenv("MLOPS_KIT_TREE_RUNTIME", "off")
    plain, plain_version, _ = _serve(ws, uri, rows)
    assert plain_version["runtime"] == "scikit-learn"
    assert "off" in plain_version["runtime_reason"]
    assert len(compiled) == len(rows)
    assert _relative(compiled, plain) <= RTOL


def test_the_endpoint_says_why_it_fell_back(registered_forest, monkeypatch, tmp_path):
    """treelite missing in the endpoint: scikit-learn serves; /version and one log line say why."""
    ws, uri, rows = registered_forest
    (tmp_path / "treelite").mkdir()
    (tmp_path / "treelite" / "__init__.py").write_text(
        "raise ImportError('No module named treelite')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    predictions, version, log = _serve(ws, uri, rows)
    assert version["runtime"] == "scikit-learn"
    assert "treelite is not installed" in version["runtime_reason"]
    assert len([line for line in log.splitlines() if "treelite is not installed" in line]) == 1
    import mlflow

    expected = mlflow.sklearn.load_model(uri).predict(rows)
    assert _relative(predictions, expected) <= RTOL

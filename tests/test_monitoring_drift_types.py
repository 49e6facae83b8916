"""Each planted kind of drift shows up where the lesson says, and nowhere else."""
from __future__ import annotations

from mlops_kit.monitoring.drift_types import ACTIONS, drift_type_table


def test_each_kind_of_drift_fires_its_own_signals():
    table = drift_type_table(1000, seed=0)   # what the concepts notebook shows
    row = table.loc
    assert row["no drift"][["features drifted", "label drifted", "prediction drifted", "error drifted"]].tolist() == \
        ["-", False, False, False]
    assert row["feature drift (flavour mix)", "features drifted"] == "flavour"
    assert not row["feature drift (flavour mix)", "prediction drifted"]
    bug = row["feature + prediction drift (°F bug)"]
    assert "temperature" in bug["features drifted"] and bug["prediction drifted"] and bug["error drifted"]
    assert not bug["label drifted"]
    label = row["label drift (promotion campaign)"]   # more cones by the same relation
    assert label["features drifted"] == "-" and label["label drifted"] and label["prediction drifted"]
    assert not label["error drifted"]
    concept = row["concept drift (fewer cones when hot)"]
    assert concept["features drifted"] == "-" and not concept["prediction drifted"]
    assert concept["error drifted"]


def test_every_kind_has_an_action():
    assert list(ACTIONS.index) == ["feature", "label", "prediction", "concept"]
    assert ACTIONS.notna().all().all()

"""A fleet of endpoints: started from a notebook cell it is one fleet, and a rolling update
under traffic reports each step."""
from __future__ import annotations

import pytest

from mlops_kit.exceptions import ConfigError, EndpointStopped
from mlops_kit.rollout.fleet import Fleet
from mlops_kit.workspace import Workspace


def test_a_fleet_needs_an_instance():
    with pytest.raises(ConfigError, match="size >= 1. Got 0"):
        Fleet("models:/dev.ada.price/1", size=0)


def test_versions_of_a_fleet_that_is_not_running_says_so():
    with pytest.raises(EndpointStopped, match="not running; start the fleet again"):
        Fleet("models:/dev.ada.price/1", size=2).versions()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_fleet_started_in_a_notebook_cell_rolls_to_the_new_version_under_traffic(tmp_path):
    """Endpoints started from a cell replace the same cell's earlier ones: a fleet's must not."""
    from IPython.core.interactiveshell import InteractiveShell

    from mlops_kit.datasets import listings
    from mlops_kit.training import CATEGORICAL_FEATURES, NUMERIC_FEATURES, train_price_model

    ws = Workspace.from_env(root=tmp_path / "kit", user="tester").activate()
    data = listings(200, seed=3)
    old, new = (train_price_model(data, model_name="price", seed=s, workspace=ws) for s in (0, 1))
    shell = InteractiveShell.instance()
    shell.user_ns.update(Fleet=Fleet, old=f"models:/{old.name}/{old.version}",
                         new=f"models:/{new.name}/{new.version}",
                         rows=data[NUMERIC_FEATURES + CATEGORICAL_FEATURES].dropna())
    try:
        result = shell.run_cell(
            "fleet = Fleet(old, size=2, log_table=None).start()\n"
            "before = fleet.versions()\n"
            "steps = fleet.rolling_update(new, traffic=rows)\n",
            store_history=False)
        result.raise_error()
        ns = shell.user_ns
        assert ns["before"] == [old.version] * 2
        steps = ns["steps"]
        assert list(steps["on_new"]) == [0, 1, 2]
        assert list(steps["versions"]) == [[old.version] * 2, [new.version, old.version],
                                           [new.version] * 2]
        assert steps["replaced"].isna().tolist() == [True, False, False]
        assert (steps["requests"].iloc[1:] > 0).all() and steps["errors"].sum() == 0
    finally:
        fleet = shell.user_ns.get("fleet")
        if fleet is not None:
            fleet.stop()
        InteractiveShell.clear_instance()

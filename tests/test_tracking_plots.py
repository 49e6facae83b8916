"""The metric-history plot draws exactly what the run logged."""
from __future__ import annotations

import matplotlib
import pytest

from mlops_kit.exceptions import NotFoundError
from mlops_kit.tracking_plots import plot_metric_history

matplotlib.use("Agg")


def test_plot_metric_history_draws_the_logged_steps(workspace) -> None:
    import mlflow

    # an experiment of this test's own workspace: the process-wide active
    # experiment may belong to an earlier test's (deleted) store
    experiment = mlflow.set_experiment(workspace.experiment_name("plots"))
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        for step, value in ((10, 3.0), (5, 4.0), (15, 2.5)):
            mlflow.log_metric("rmse", value, step=step)
    fig = plot_metric_history(run.info.run_id, "rmse", xlabel="trees")
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [5, 10, 15]
    assert list(line.get_ydata()) == [4.0, 3.0, 2.5]
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("trees", "rmse")
    with pytest.raises(NotFoundError, match="logged no metric 'mae'"):
        plot_metric_history(run.info.run_id, "mae")

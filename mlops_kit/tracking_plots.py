"""Plots of what a run logged: a metric's history over its steps.

``mlflow.log_metric(key, value, step=...)`` records a curve, not a point; the
MLflow UI draws it, and :func:`plot_metric_history` draws it in the notebook,
read back from the tracking store (so the picture shows what was logged).
"""
from __future__ import annotations

from mlops_kit.exceptions import NotFoundError

__all__ = ["plot_metric_history"]


def plot_metric_history(run_id: str, key: str, *, xlabel: str = "step"):
    """Line plot of the logged values of metric ``key`` of run ``run_id`` against their steps.

    Returns the matplotlib Figure. Raises ``NotFoundError`` when the run
    logged no such metric.
    """
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    history = sorted(MlflowClient().get_metric_history(run_id, key), key=lambda m: m.step)
    if not history:
        raise NotFoundError(f"Run {run_id} logged no metric {key!r}: log it with "
                            f"mlflow.log_metric({key!r}, value, step=...).")
    fig, ax = plt.subplots(figsize=(4.5, 2.6), dpi=90)
    ax.plot([m.step for m in history], [m.value for m in history], marker="o", ms=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(key)
    ax.set_title(f"{key} by {xlabel}", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig

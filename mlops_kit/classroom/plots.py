"""Plots of a class's lab progress, from :func:`mlops_kit.classroom.instructor.progress_table`.

>>> fig = plot_progress(progress_table(learners))             # doctest: +SKIP
"""
from __future__ import annotations

__all__ = ["passed_shares", "plot_progress"]

_DPI = 90


def passed_shares(table):
    """Share of each lab's exercises a learner passed: learners (roster order) x labs, in [0, 1].

    The denominator is the lab's registered exercises (as in
    :func:`~mlops_kit.classroom.instructor.progress_summary`), so a learner who
    never opened a lab scores 0 there.
    """
    from mlops_kit.classroom.instructor import progress_summary

    summary = progress_summary(table).drop(columns="note")
    return summary.apply(lambda column: column.map(_share)).astype(float)


def _share(cell: str) -> float:
    passed, total = (int(part) for part in cell.split("/"))
    return passed / total if total else 0.0


def plot_progress(table, *, title: str = "Exercises passed per lab"):
    """One panel per lab, one bar per learner: the share of the lab's exercises passed.

    Learners whose progress could not be read are named with a ``?`` (their
    bar is 0), so a missing learner is not mistaken for one who passed
    nothing. Before anyone checked an exercise the figure says so.
    """
    import matplotlib.pyplot as plt

    shares = passed_shares(table)
    if not len(shares.columns):  # the start of a class: say so rather than fail
        fig, ax = plt.subplots(figsize=(4.0, 1.2), dpi=_DPI)
        ax.text(0.5, 0.5, "No learner has checked an exercise yet.", ha="center", va="center")
        ax.set_axis_off()
        plt.close(fig)
        return fig
    from mlops_kit.classroom.instructor import NO_PROGRESS

    problems = {name for name, why in (table.attrs.get("problems") or {}).items()
                if why != NO_PROGRESS}
    labels = [f"{name}?" if name in problems else name for name in shares.index]
    labs = list(shares.columns)
    fig, axes = plt.subplots(1, len(labs), figsize=(max(3.2, 2.6 * len(labs)), 2.8),
                             dpi=_DPI, sharey=True, squeeze=False)
    for ax, lab in zip(axes[0], labs):
        values = shares[lab].to_numpy()
        colours = ["tab:green" if v == 1 else "tab:blue" if v > 0 else "tab:gray" for v in values]
        bars = ax.bar(labels, values, color=colours)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=7)
        ax.set_ylim(0, 1.15)
        ax.set_title(lab, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes[0][0].set_ylabel("share of exercises passed")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig

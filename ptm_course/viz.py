"""Plots the chapters share. Nothing here trains; the training loop never plots.

    >>> from ptm_course.train import History
    >>> fig = plot_history(History(train=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]))
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["plot_history"]


def plot_history(history, keys: Sequence[str] | None = None, title: str | None = None, logy: bool = False):
    """One panel per metric: training curve, plus the evaluation curve when it has that key.

    ``keys`` defaults to ``["loss"]`` plus every evaluation metric. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if keys is None:
        keys = ["loss"] + [k for k in history.keys("eval") if k != "loss"]
    keys = [k for k in keys if k in history.keys("train") or k in history.keys("eval")]
    if not keys:
        raise ValueError("nothing to plot: the history has no logged values (did training run?)")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for split, style in (("train", "-"), ("eval", "o-")):
            steps, values = history.series(key, split)
            if steps:
                ax.plot(steps, values, style, label=split, markersize=3)
        ax.set_xlabel("step")
        ax.set_title(key)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

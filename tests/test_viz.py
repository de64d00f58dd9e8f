"""The shared plots: what they draw, and the errors they give."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from ptm_course.viz import plot_bars  # noqa: E402


def test_plot_bars_draws_one_bar_per_value_and_leaves_gaps_for_missing_series():
    groups = {"case 1": {"random": 0.5, "ours": 0.6, "MiniLM": 0.8}, "case 2": {"random": 0.3, "MiniLM": 0.9}}
    ax = plot_bars(groups, "accuracy", title="t", reference=(0.5, "chance"), ylim=(0, 1))
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == [0.3, 0.5, 0.6, 0.8, 0.9]  # five values, no bar for the missing one
    assert [t.get_text() for t in ax.get_xticklabels()] == ["case 1", "case 2"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance", "random", "ours", "MiniLM"]
    assert ax.get_ylim() == (0, 1)
    # bars of one group sit around its tick, in series order
    xs = {round(p.get_height(), 3): p.get_x() + p.get_width() / 2 for p in ax.patches}
    assert xs[0.5] < xs[0.6] < xs[0.8] and abs((xs[0.5] + xs[0.8]) / 2 - 0) < 1e-9


def test_plot_bars_rejects_nothing_to_plot():
    with pytest.raises(ValueError, match="empty"):
        plot_bars({}, "accuracy")

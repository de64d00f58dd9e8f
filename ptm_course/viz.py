"""Plots the chapters share. Nothing here trains; the training loop never plots.

    >>> from ptm_course.train import History
    >>> fig = plot_history(History(train=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]))
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["plot_history", "sampling_playground"]


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


def _samples(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float, top_p: float,
             n: int, seed: int) -> list[str]:
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(prompt).ids], device=device)
    if ids.size(1) == 0:
        raise ValueError("the prompt is empty: type a few words")
    ids = ids[:, -(model.config.max_len - max_new_tokens):]  # room for the new tokens
    g = torch.Generator(device).manual_seed(seed)
    out = model.generate(ids.expand(n, -1), max_new_tokens, temperature=temperature,
                         top_p=None if top_p >= 1.0 else top_p, generator=g)
    return [tokenizer.decode(row[ids.size(1):].tolist()) for row in out]


def sampling_playground(model, tokenizer, prompt: str = " The", max_new_tokens: int = 30, n_samples: int = 3,
                        seed: int = 0, use_widgets: bool | None = None):
    """A prompt box and temperature / top-p sliders over a decoder's samples (``model.generate``).

    ``tokenizer`` is a ``tokenizers.Tokenizer``. It prints ``n_samples`` samples for the default
    settings first (what a reader without a widget front-end sees), then returns the widget:
    display it as a cell's last value. ``use_widgets=False`` only prints.
    """
    texts = _samples(model, tokenizer, prompt, max_new_tokens, 1.0, 0.9, n_samples, seed)
    print(f"prompt {prompt!r}, temperature 1.0, top-p 0.9:")
    for t in texts:
        print("  ", repr(t))
    if use_widgets is False:
        return None
    try:
        import ipywidgets as widgets
    except ImportError:
        if use_widgets:
            raise
        return None
    import html

    box = widgets.Text(value=prompt, description="prompt:", continuous_update=False, layout=widgets.Layout(width="420px"))
    temp = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="temperature", continuous_update=False)
    top_p = widgets.FloatSlider(value=0.9, min=0.05, max=1.0, step=0.05, description="top-p", continuous_update=False)
    out = widgets.HTML()

    def render(_=None) -> None:
        try:
            rows = _samples(model, tokenizer, box.value, max_new_tokens, temp.value, top_p.value, n_samples, seed)
        except ValueError as err:
            out.value = f"<span style='color:#a00'>{html.escape(str(err))}</span>"
            return
        note = "greedy: every sample is the same" if temp.value == 0 else f"{n_samples} samples, seed {seed}"
        out.value = f"<i>{note}</i><ol>" + "".join(f"<li><code>{html.escape(r)}</code></li>" for r in rows) + "</ol>"

    for w in (box, temp, top_p):
        w.observe(render, names="value")
    render()
    return widgets.VBox([box, widgets.HBox([temp, top_p]), out])

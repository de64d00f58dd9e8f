"""Plots the chapters share. Nothing here trains; the training loop never plots.

    >>> from ptm_course.train import History
    >>> fig = plot_history(History(train=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]))

Chinese labels (chapter 09) need a CJK font, which matplotlib does not ship::

    use_cjk_font()                                   # "Noto Sans CJK SC" with mplfonts installed
    ax.set_title(cjk_label("知识掩码", "knowledge masking"))   # English where no CJK font was found
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Sequence

__all__ = ["MASK_LEVELS", "attention_weights", "cjk_label", "fill_mask", "fill_mask_playground", "masking_playground",
           "plot_attention", "plot_bars", "plot_history", "plot_paradigms", "prompt_playground", "prompt_table",
           "sampling_playground", "show_masking", "use_cjk_font"]

# substrings of the family names (and, lower-cased, the file names) of fonts that cover Chinese
_CJK_NAME_HINTS = ("CJK", "Source Han", "WenQuanYi", "SimHei", "Noto Sans SC")
_CJK_FILE_HINTS = ("cjk", "sourcehan", "wqy", "simhei", "notosanssc")


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


def plot_bars(groups, ylabel: str, title: str | None = None, reference: tuple[float, str] | None = None,
              ylim: tuple[float, float] | None = None, ax=None):
    """Grouped bars: one group per outer key of ``groups``, one coloured bar per inner key.

    ``groups`` maps a group label to ``{series: value}``; a series missing from a group leaves a
    gap (chapter 08's third start runs on two of the four cases). ``reference=(y, label)`` draws a
    dotted line (chance, or the starting value). Returns the axes.

        plot_bars({"case 1": {"random": 0.55, "pre-trained": 0.78}, "case 2": {...}}, "accuracy",
                  reference=(0.5, "chance"))
    """
    import matplotlib.pyplot as plt

    if not groups:
        raise ValueError("nothing to plot: groups is empty")
    series = list(dict.fromkeys(name for row in groups.values() for name in row))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(groups) + 1.5), 3.4))
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = [j + width * (i - (len(series) - 1) / 2) for j, row in enumerate(groups.values()) if name in row]
        ax.bar(xs, [row[name] for row in groups.values() if name in row], width=width, label=name)
    if reference is not None:
        ax.axhline(reference[0], color="gray", ls=":", label=reference[1])
    ax.set_xticks(range(len(groups)), list(groups), fontsize=8)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


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


# --------------------------------------------------------------------------------------------
# Chapter 09: what each kind of masking hides
# --------------------------------------------------------------------------------------------

MASK_LEVELS = ("char", "word", "phrase", "entity")


def show_masking(words, tags, level: str, mlm_prob: float = 0.15, seed: int = 0, blank: str = "＿") -> str:
    """The sentence with the characters of the units chosen at ``level`` replaced by ``blank``.

    One draw per unit (:func:`ptm_course.data.masking.select_units`) over the units of
    :func:`ptm_course.data.chinese.char_units`; no 80/10/10, so that the reader sees exactly what
    the model is asked to restore.
    """
    import torch

    from .data.chinese import char_units
    from .data.masking import select_units

    text = "".join(words)
    units = torch.tensor([char_units(words, level, tags)])
    chosen = select_units(units, mlm_prob, torch.Generator().manual_seed(seed))[0]
    return "".join(blank if c else ch for ch, c in zip(text, chosen.tolist()))


def masking_playground(sentence: str = "新华社北京十二月三十一日电,江泽民主席在人民大会堂发表新年讲话。",
                       mlm_prob: float = 0.15, seed: int = 0, use_widgets: bool | None = None):
    """Type a Chinese sentence, choose character / word / phrase / entity masking, see what is hidden.

    The sentence is segmented and POS-tagged with jieba (``jieba.posseg``: nr/ns/nt mark person,
    place and organisation names, as in People's Daily's tags), then masked at the chosen level.
    It prints every level for the default sentence first (what a reader without a widget
    front-end sees) and returns the widget; ``use_widgets=False`` only prints.
    """
    import html

    from .data.chinese import jieba_tagged

    def lines(text: str, level_seed: int) -> list[tuple[str, str]]:
        words, tags = jieba_tagged(text)
        return [(lv, show_masking(words, tags, lv, mlm_prob, level_seed)) for lv in MASK_LEVELS]

    words, tags = jieba_tagged(sentence)
    print("jieba:", " / ".join(f"{w}:{t}" for w, t in zip(words, tags)))
    for lv, masked in lines(sentence, seed):
        print(f"  {lv:7s} {masked}")
    if use_widgets is False:
        return None
    try:
        import ipywidgets as widgets
    except ImportError:
        if use_widgets:
            raise
        return None
    box = widgets.Text(value=sentence, description="句子:", continuous_update=False, layout=widgets.Layout(width="560px"))
    level = widgets.ToggleButtons(options=list(MASK_LEVELS), value="word", description="masking:")
    draw = widgets.IntSlider(value=seed, min=0, max=20, description="draw (seed)", continuous_update=False)
    out = widgets.HTML()

    def render(_=None) -> None:
        text = box.value.strip()
        if not text:
            out.value = "<i>type a Chinese sentence</i>"
            return
        ws, ts = jieba_tagged(text)
        masked = show_masking(ws, ts, level.value, mlm_prob, draw.value)
        seg = " / ".join(f"{html.escape(w)}<sub>{html.escape(t)}</sub>" for w, t in zip(ws, ts))
        out.value = (f"<div style='font-size:1.3em'>{html.escape(masked)}</div>"
                     f"<div style='color:#555'>jieba: {seg}</div>")

    for w in (box, level, draw):
        w.observe(render, names="value")
    render()
    return widgets.VBox([box, level, draw, out])


# --------------------------------------------------------------------------------------------
# Chapter 07: where a BERT layer looks, and what its MLM head puts in a blank
# --------------------------------------------------------------------------------------------


def _encoder(model):
    """The :class:`~ptm_course.models.bert.BertModel` inside ``model`` (a head's ``.bert``) or ``model`` itself."""
    return getattr(model, "bert", model)


def attention_weights(model, input_ids, attention_mask=None, token_type_ids=None):
    """The attention probabilities of every layer and head: a tensor (n_layers, B, n_heads, T, T).

    Row i of ``[l, b, h]`` is how query token i of layer l, head h distributes its attention over
    the keys: softmax(q_i·Kᵀ/√d_head + M), M = −∞ on padding keys. The model runs unchanged (its
    fused attention never materialises these numbers); a forward pre-hook on each layer's
    ``attn`` module records the module's input and mask, and the probabilities are recomputed
    from its ``q_proj`` and ``k_proj`` exactly as the module uses them. ``model``: a
    ``BertModel`` or any head with a ``.bert`` (the model is put in eval mode: no dropout).
    """
    import math

    import torch

    from .models.transformer import split_heads

    enc = _encoder(model)
    seen = []

    def record(module, args, kwargs):
        seen.append((module, args[0] if args else kwargs["x"], kwargs.get("mask")))

    hooks = [layer.attn.register_forward_pre_hook(record, with_kwargs=True) for layer in enc.layers]
    enc.eval()
    try:
        with torch.no_grad():
            enc(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)
    finally:
        for h in hooks:
            h.remove()
    out = []
    with torch.no_grad():
        for attn, x, mask in seen:
            q = split_heads(attn.q_proj(x), attn.n_heads)  # (B, nh, T, hs)
            k = split_heads(attn.k_proj(x), attn.n_heads)
            scores = q @ k.transpose(-2, -1) / math.sqrt(attn.d_head)  # (B, nh, T, T)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            out.append(scores.softmax(dim=-1))
    return torch.stack(out)


def plot_attention(model, tokenizer, text: str, layer: int = -1, heads: Sequence[int] = (0,), pair: str | None = None):
    """Heat maps of the attention of ``layer`` (one panel per head in ``heads``) on ``text``.

    Rows are queries, columns keys, both the tokens of ``[CLS] text [SEP]`` (``[CLS] text [SEP]
    pair [SEP]`` with ``pair``); a row sums to 1. ``tokenizer``: a Hugging Face ``tokenizers``
    tokenizer with BERT's post-processor. Returns the figure.
    """
    import matplotlib.pyplot as plt
    import torch

    enc = tokenizer.encode(text, pair) if pair is not None else tokenizer.encode(text)
    device = next(model.parameters()).device
    ids = torch.tensor([enc.ids], device=device)
    types = torch.tensor([enc.type_ids], device=device)
    w = attention_weights(model, ids, token_type_ids=types)  # (L, 1, nh, T, T)
    n_layers = w.shape[0]
    layer_no = layer % n_layers
    heads = list(heads)
    T = len(enc.tokens)
    size = max(3.0, 0.28 * T + 1.2)
    fig, axes = plt.subplots(1, len(heads), figsize=(size * len(heads), size), squeeze=False)
    for ax, h in zip(axes[0], heads):
        ax.imshow(w[layer_no, 0, h].cpu().numpy(), cmap="viridis", vmin=0.0)
        ax.set_xticks(range(T), enc.tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(T), enc.tokens, fontsize=8)
        ax.set_xlabel("key (attended to)")
        ax.set_title(f"layer {layer_no + 1} of {n_layers}, head {h}", fontsize=9)
    axes[0][0].set_ylabel("query (attending)")
    fig.tight_layout()
    return fig


def fill_mask(model, tokenizer, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    """The MLM head's top-``k`` tokens and probabilities at every ``[MASK]`` of ``text``.

    ``model``: a ``BertForMaskedLM`` or ``BertForPreTraining`` (its MLM logits are used);
    ``tokenizer``: a ``tokenizers`` WordPiece tokenizer whose vocabulary has ``[MASK]``. Returns
    one list of (token, probability) per ``[MASK]``, left to right; raises ``ValueError`` when the
    text has no ``[MASK]``.
    """
    import torch

    mask_id = tokenizer.token_to_id("[MASK]")
    enc = tokenizer.encode(text)
    positions = [i for i, t in enumerate(enc.ids) if t == mask_id]
    if not positions:
        raise ValueError(f"no [MASK] in {text!r}: write [MASK] where the model should fill in a word")
    ids = torch.tensor([enc.ids], device=next(model.parameters()).device)
    model.eval()
    with torch.no_grad():
        logits = model(ids)
    logits = logits[0] if isinstance(logits, tuple) else logits  # BertForPreTraining: (mlm, nsp)
    probs = logits[0, positions].float().softmax(-1)  # (n_masks, V)
    top = probs.topk(k, dim=-1)
    return [[(tokenizer.id_to_token(int(i)), float(p)) for p, i in zip(ps, ix)]
            for ps, ix in zip(top.values, top.indices)]


def fill_mask_playground(model, tokenizer, text: str = "the game was released in [MASK] .", k: int = 8,
                         use_widgets: bool | None = None):
    """Type a sentence with ``[MASK]``, see the model's top-``k`` fillers for each blank.

    It prints the predictions for ``text`` first (what a reader without a widget front-end sees),
    then returns the widget: display it as a cell's last value. ``use_widgets=False`` only prints.
    """
    import html

    def line(preds) -> str:
        return "  ".join(f"{w} {p:.3f}" for w, p in preds)

    print(f"sentence: {text!r}")
    for n, preds in enumerate(fill_mask(model, tokenizer, text, k), 1):
        print(f"  [MASK] {n}: {line(preds)}")
    if use_widgets is False:
        return None
    try:
        import ipywidgets as widgets
    except ImportError:
        if use_widgets:
            raise
        return None
    box = widgets.Text(value=text, description="sentence:", continuous_update=False, layout=widgets.Layout(width="560px"))
    out = widgets.HTML()

    def render(_=None) -> None:
        try:
            all_preds = fill_mask(model, tokenizer, box.value, k)
        except ValueError as err:
            out.value = f"<span style='color:#a00'>{html.escape(str(err))}</span>"
            return
        blocks = []
        for n, preds in enumerate(all_preds, 1):
            bars = "".join(f"<div>{html.escape(w)}: <span style='display:inline-block;background:#4a90d9;height:0.9em;"
                           f"width:{300 * p:.0f}px'></span> {p:.3f}</div>" for w, p in preds)
            blocks.append(f"<div><b>[MASK] {n}</b>{bars}</div>")
        out.value = "".join(blocks)

    box.observe(render, names="value")
    render()
    return widgets.VBox([box, out])


# --------------------------------------------------------------------------------------------
# Chapter 15: what a masked LM puts in the blank of a prompt
# --------------------------------------------------------------------------------------------


def prompt_table(model, tok, text: str, templates: dict, verbalizers: dict) -> list[dict]:
    """For one ``text``, every template × verbalizer: the label words' probabilities at the [MASK]
    (renormalised over the label words) and the predicted label. One forward pass per template.

    ``templates``: name -> :class:`~ptm_course.tuning.prompts.Template`; ``verbalizers``: name ->
    :class:`~ptm_course.tuning.prompts.Verbalizer` of single-token words (the rule "single").
    """
    from .tuning.prompts import Verbalizer, mlm_label_scores

    if not text.strip():
        raise ValueError("the review is empty: type a sentence")
    words = sorted({w for v in verbalizers.values() for w in v.words})
    every = Verbalizer(words)  # all label words at once: one pass, then each verbalizer's columns
    rows = []
    for t_name, template in templates.items():
        logp = mlm_label_scores(model, tok, [text], template, every)[0]  # (n_words,) log P over the vocabulary
        for v_name, v in verbalizers.items():
            lp = logp[[words.index(w) for w in v.words]]
            probs = lp.softmax(-1)
            rows.append({"template": t_name, "verbalizer": v_name, "words": list(v.words),
                         "log_p": lp.tolist(), "p": probs.tolist(), "label": int(probs.argmax())})
    return rows


def prompt_playground(model, tok, templates: dict, verbalizers: dict, text: str = "I love this movie.",
                      label_names: Sequence[str] = ("negative", "positive"), use_widgets: bool | None = None):
    """Type a review, pick a template and a verbalizer, see the label words' probabilities at [MASK].

    It prints the table of every template × verbalizer for ``text`` first (what a reader without a
    widget front-end sees), then returns the widget: display it as a cell's last value.
    ``use_widgets=False`` only prints.
    """
    import html

    def line(r) -> str:
        shown = "  ".join(f"{w} {p:.2f} (log P {lp:.2f})" for w, p, lp in zip(r["words"], r["p"], r["log_p"]))
        return f"{r['template']:>16s} | {r['verbalizer']:>18s} | {shown} -> {label_names[r['label']]}"

    print(f"review: {text!r}")
    for r in prompt_table(model, tok, text, templates, verbalizers):
        print(line(r))
    if use_widgets is False:
        return None
    try:
        import ipywidgets as widgets
    except ImportError:
        if use_widgets:
            raise
        return None
    box = widgets.Text(value=text, description="review:", continuous_update=False, layout=widgets.Layout(width="560px"))
    pick_t = widgets.Dropdown(options=list(templates), description="template:")
    pick_v = widgets.Dropdown(options=list(verbalizers), description="verbalizer:")
    out = widgets.HTML()

    def render(_=None) -> None:
        try:
            r = prompt_table(model, tok, box.value, {pick_t.value: templates[pick_t.value]},
                             {pick_v.value: verbalizers[pick_v.value]})[0]
        except ValueError as err:
            out.value = f"<span style='color:#a00'>{html.escape(str(err))}</span>"
            return
        prompt = html.escape(templates[pick_t.value].fill(box.value))
        bars = "".join(f"<div>{html.escape(w)}: <span style='display:inline-block;background:#4a90d9;height:0.9em;"
                       f"width:{300 * p:.0f}px'></span> {p:.2f} <span style='color:#777'>(log P {lp:.2f})</span></div>"
                       for w, p, lp in zip(r["words"], r["p"], r["log_p"]))
        out.value = (f"<div><code>{prompt}</code></div>{bars}"
                     f"<div>prediction: <b>{html.escape(label_names[r['label']])}</b></div>")

    for w in (box, pick_t, pick_v):
        w.observe(render, names="value")
    render()
    return widgets.VBox([box, widgets.HBox([pick_t, pick_v]), out])


# --------------------------------------------------------------------------------------------
# Chapter 15: every paradigm on one task (benchmarks/paradigms.py's results)
# --------------------------------------------------------------------------------------------


def plot_paradigms(results: dict, title: str | None = None):
    """Accuracy against bytes stored per task (log x) for every row of ``benchmarks/paradigms.py``'s JSON.

    One colour per paradigm: a filled circle for the full training set, an open one for k examples
    per class, bars ± 1 sample std over the seeds; the dotted line is the majority class. Rows that
    store the same number of bytes (the whole model: full fine-tuning, TAPT, the auxiliary loss,
    PET few-shot) are drawn slightly apart so that none hides another. Returns the figure.

        fig = plot_paradigms(json.loads(Path("benchmarks/results/paradigms_cpu.json").read_text()))
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = results.get("rows") or {}
    if not rows:
        raise ValueError("no rows to plot: pass the JSON that benchmarks/paradigms.py wrote")
    k = results.get("settings", {}).get("k", "k")
    fig, ax = plt.subplots(figsize=(10.5, 5))
    seen: dict[int, int] = {}  # bytes -> rows already drawn there
    for i, row in enumerate(rows.values()):
        stored = max(int(row["stored_bytes"]), 1)
        x = stored * 1.25 ** seen.get(stored, 0)  # rows at one size: a little to the right each
        seen[stored] = seen.get(stored, 0) + 1
        color = f"C{i % 10}"
        # open (k-shot) first and larger, filled (full set) on top: one number in both reads as a dot in a ring
        for part, face, size in (("k_shot", "white", 10), ("full_data", color, 6)):
            r = row[part]
            ax.errorbar(x, 100 * r["acc_mean"], yerr=100 * r["acc_std"], fmt="o", color=color, mfc=face, ms=size,
                        capsize=3, label=row["label"] if part == "full_data" else None)
    ax.set_xscale("log")
    majority = results.get("task", {}).get("majority")
    if majority is not None:
        ax.axhline(100 * majority, color="gray", ls=":", lw=1)
        ax.annotate("majority class", xy=(0.01, 100 * majority), xycoords=("axes fraction", "data"), xytext=(0, 3),
                    textcoords="offset points", fontsize=8, color="gray")
    ax.set_xlabel("bytes stored per task (fp32, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    n_train = results.get("task", {}).get("n_train")
    fig.legend(*ax.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(0.7, 0.93), fontsize=8,
               title="paradigm")
    fig.legend(handles=[Line2D([], [], marker="o", ls="", color="k", ms=6, label="full training set"
                               + (f" ({n_train:,})" if n_train else "")),
                        Line2D([], [], marker="o", ls="", color="k", mfc="white", ms=10, label=f"k = {k} per class")],
               loc="lower left", bbox_to_anchor=(0.7, 0.1), fontsize=8)
    ax.set_title(title or f"Every paradigm on Rotten Tomatoes, one backbone (preset {results.get('preset', '?')})")
    fig.tight_layout(rect=(0, 0, 0.69, 1))
    return fig


# --------------------------------------------------------------------------------------------
# Chinese labels
# --------------------------------------------------------------------------------------------


def use_cjk_font() -> str | None:
    """Make matplotlib draw Chinese text; returns the font family it uses, or None (with a warning).

    The font is, in order: Noto Sans CJK SC from the ``mplfonts`` package; else a CJK font that
    matplotlib's font manager already knows (its name contains CJK, Source Han, WenQuanYi, SimHei
    or Noto Sans SC); else such a font among the system's font files (installed after matplotlib
    built its font cache, e.g. by ``apt-get install fonts-noto-cjk``). Font files are registered
    with ``font_manager.fontManager.addfont``, in this process only: nothing is written to the
    user's matplotlibrc. The family goes first in ``rcParams["font.sans-serif"]``, the previous
    entries after it (Latin text keeps working), and ``axes.unicode_minus`` is switched off (CJK
    fonts often lack U+2212, the minus sign); ``matplotlib.rc_context()`` around the call undoes
    both. Without a CJK font Chinese characters render as empty boxes: label plots with
    :func:`cjk_label`, which then gives the English text.
    """
    import matplotlib

    family = _add_font(_mplfonts_cjk_file()) or _known_cjk_family() or _add_system_cjk_fonts()
    if family is None:
        warnings.warn(
            "no CJK font found: Chinese labels will fall back to their English/pinyin text (cjk_label) "
            "and Chinese characters render as empty boxes. Fix: `pip install mplfonts` "
            "(or `apt-get install fonts-noto-cjk`), then call use_cjk_font() again.",
            UserWarning,
            stacklevel=2,
        )
        return None
    others = [f for f in matplotlib.rcParams["font.sans-serif"] if f != family]
    matplotlib.rcParams["font.sans-serif"] = [family, *others]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family


def cjk_label(chinese: str, fallback: str) -> str:
    """``chinese`` when a CJK font is active (after :func:`use_cjk_font`), else ``fallback``
    (English or pinyin), so that a plot never shows empty boxes::

        ax.set_xlabel(cjk_label("词", "word"))
    """
    return chinese if _cjk_font_active() else fallback


def _is_cjk_name(family: str) -> bool:
    return any(hint.lower() in family.lower() for hint in _CJK_NAME_HINTS)


def _cjk_font_active() -> bool:
    """Whether the first font matplotlib would draw text with is a CJK one."""
    import matplotlib

    first = matplotlib.rcParams["font.family"][0]
    if f"font.{first}" in matplotlib.rcParams:  # a generic family: "sans-serif", "serif", ...
        first = next(iter(matplotlib.rcParams[f"font.{first}"]), "")
    return _is_cjk_name(first)


def _add_font(path: Path | None) -> str | None:
    """Register a font file with matplotlib (once); its family name, or None if it is unreadable."""
    from matplotlib import font_manager

    if path is None:
        return None
    try:
        family = font_manager.get_font(str(path)).family_name
        if not any(f.fname == str(path) for f in font_manager.fontManager.ttflist):
            font_manager.fontManager.addfont(str(path))
    except (OSError, RuntimeError):  # a truncated download, a Git LFS pointer, not a font
        return None
    return family


def _mplfonts_cjk_file() -> Path | None:
    """Noto Sans CJK SC as shipped by the ``mplfonts`` package, found without importing it (its
    helpers rewrite the user's matplotlibrc on disk; here the font is only added in-process)."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    return path if path.is_file() else None


def _known_cjk_family() -> str | None:
    """A CJK family among the fonts matplotlib's font manager knows: sans-serif, Simplified
    Chinese and regular weight preferred."""
    from matplotlib import font_manager

    found = [f for f in font_manager.fontManager.ttflist if _is_cjk_name(f.name)]
    if not found:
        return None

    def rank(f) -> tuple:
        return ("Sans" not in f.name and "Hei" not in f.name, "Mono" in f.name, "SC" not in f.name,
                f.weight not in (400, "normal", "regular"), f.style != "normal", f.name)

    return min(found, key=rank).name


def _system_cjk_font_files() -> list[Path]:
    from matplotlib import font_manager

    paths = (Path(p) for p in font_manager.findSystemFonts())
    return [p for p in paths if any(hint in p.name.lower() for hint in _CJK_FILE_HINTS)]


def _add_system_cjk_fonts() -> str | None:
    """Register the system's CJK font files that matplotlib's cached font list misses; the best family."""
    for path in _system_cjk_font_files():
        _add_font(path)
    return _known_cjk_family()

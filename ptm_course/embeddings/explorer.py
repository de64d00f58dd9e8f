"""An interactive word-vector explorer: type a word for its neighbours, or ``a - b + c`` for an analogy.

In Jupyter (with ipywidgets) :func:`explorer` returns a text box and a live answer table.
Without widgets (a plain console, nbval, a kernel without the extension) it prints the
answers to a few example queries instead, so the notebook still shows something useful.

    >>> import numpy as np
    >>> from ptm_course.embeddings.evaluate import Embeddings
    >>> emb = Embeddings(["king", "queen", "man", "woman"], np.array([[1, 1], [1, -1], [0.2, 1], [0.2, -1.0]]))
    >>> answer(emb, "king - man + woman")[0][0]
    'queen'
    >>> parse_query("paris - france + italy")
    (['paris', 'italy'], ['france'])
"""

from __future__ import annotations

import re
from typing import Sequence

from .evaluate import Embeddings

__all__ = ["answer", "explorer", "format_answer", "parse_query"]

def parse_query(text: str) -> tuple[list[str], list[str]]:
    """``"king - man + woman"`` → (positive ``[king, woman]``, negative ``[man]``). Words are separated by + or −."""
    text = text.strip().replace("−", "-")
    if not text:
        raise ValueError("empty query: type a word, or an expression such as 'king - man + woman'")
    if text.endswith(("+", "-")):
        raise ValueError(f"query {text!r} ends with an operator: add a word after it")
    positive: list[str] = []
    negative: list[str] = []
    parts = re.split(r"\s*([+-])\s*", text)
    sign = "+"
    for i, part in enumerate(parts):
        if i % 2 == 1:
            sign = part
            continue
        if not part:
            if i == 0:
                continue  # a leading sign: "-man + woman"
            raise ValueError(f"query {text!r} has two operators in a row")
        if " " in part:
            raise ValueError(f"{part!r}: separate words with + or -")
        (positive if sign == "+" else negative).append(part)
    if not positive and not negative:
        raise ValueError(f"no word in query {text!r}")
    return positive, negative


def answer(emb: Embeddings, text: str, topn: int = 5) -> list[tuple[str, float]]:
    """Nearest words to mean(+ words) − mean(− words) (unit vectors, cosine); query words left out."""
    positive, negative = parse_query(text)
    return emb.most_similar(positive, negative, topn=topn)


def format_answer(emb: Embeddings, text: str, topn: int = 5) -> str:
    """The answer as one readable line; unknown words and malformed queries give a message, not an error."""
    try:
        hits = answer(emb, text, topn)
    except KeyError as e:
        return f"{text}: {e.args[0]}"
    except ValueError as e:
        return f"{text}: {e}"
    return f"{text} → " + ", ".join(f"{w} ({s:.2f})" for w, s in hits)


def explorer(
    emb: Embeddings,
    topn: int = 8,
    use_widgets: bool | None = None,
    examples: Sequence[str] = ("king", "king - man + woman", "paris - france + italy", "good"),
):
    """A text box for queries with the answer underneath; or, without widgets, printed examples.

    ``use_widgets=None`` uses ipywidgets when it can be imported. Returns the widget (display it
    as a cell's last value) or ``None`` after printing.
    """
    if use_widgets is None or use_widgets:
        try:
            import ipywidgets as widgets
        except ImportError:
            if use_widgets:
                raise
            widgets = None
    else:
        widgets = None
    if widgets is None:
        for q in examples:
            print(format_answer(emb, q, topn))
        return None

    box = widgets.Text(value=examples[0] if examples else "", description="query:",
                       placeholder="a word, or king - man + woman", continuous_update=False,
                       layout=widgets.Layout(width="420px"))
    out = widgets.HTML()

    def render(_=None) -> None:
        text = box.value.strip()
        if not text:
            out.value = "<i>type a word, or an expression such as <code>king - man + woman</code></i>"
            return
        try:
            hits = answer(emb, text, topn)
        except (KeyError, ValueError) as e:
            out.value = f"<span style='color:#a00'>{e.args[0] if isinstance(e, KeyError) else e}</span>"
            return
        rows = "".join(f"<tr><td>{w}</td><td style='text-align:right'>{s:.3f}</td></tr>" for w, s in hits)
        out.value = f"<table><tr><th>word</th><th>cosine</th></tr>{rows}</table>"

    box.observe(render, names="value")
    render()
    return widgets.VBox([box, out])

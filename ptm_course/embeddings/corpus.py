"""The corpus chapters 02-03 train on: WikiText-2 as lower-cased sentences (one per non-empty line).

    >>> sentences = wikitext_sentences(max_lines=50)
    >>> sentences[0][:4]
    ['=', 'valkyria', 'chronicles', 'iii']
"""

from __future__ import annotations

__all__ = ["wikitext_sentences"]


def wikitext_sentences(split: str = "train", max_lines: int | None = None, lower: bool = True) -> list[list[str]]:
    """Token lists of WikiText-2 ``split``, one per non-empty line (the text is already tokenised).

    Lower-casing merges "The" and "the" (the evaluation sets are case-insensitive anyway);
    ``max_lines`` takes the first lines only (quick runs).
    """
    from ..data import load

    if max_lines is not None and max_lines < 1:
        raise ValueError(f"max_lines must be >= 1, got {max_lines}")
    lines = load("wikitext-2", split=split)["text"]
    if max_lines is not None:
        lines = lines[:max_lines]
    return [(line.lower() if lower else line).split() for line in lines if line.strip()]

"""Word tokenisation and a vocabulary that keeps its counts.

    >>> tokens = word_tokenize("The cat sat. The cat ran!")
    >>> tokens
    ['the', 'cat', 'sat', '.', 'the', 'cat', 'ran', '!']
    >>> vocab = Vocab.build([tokens], min_count=2)
    >>> vocab.itos
    ['<unk>', 'the', 'cat']
    >>> vocab.encode(["the", "dog"])
    [1, 0]
    >>> vocab.counts.tolist()       # kept for samplers (word2vec's unigram table, subsampling)
    [4, 2, 2]

The counts of words dropped by ``min_count`` are folded into ``<unk>``: a language model then
sees ``<unk>`` as often as the rare words it stands for.

Sub-word tokenisers (WordPiece for BERT, byte-level BPE for GPT) come from Hugging Face
``tokenizers`` in the chapters that need them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..io import atomic_write_json

__all__ = ["Vocab", "word_tokenize", "wikitext_tokens"]

# words (with inner apostrophes or hyphens), numbers, WikiText's <unk> and @-@ style markers,
# and any other single non-space character
_TOKEN_RE = re.compile(r"<unk>|@[-.,]@|\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)


def word_tokenize(text: str, lower: bool = True) -> list[str]:
    """Split text into words and punctuation.

    >>> word_tokenize("Don't stop-and-go, 3.5 km!")
    ["don't", 'stop-and-go', ',', '3', '.', '5', 'km', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"word_tokenize expects a string, got {type(text).__name__}")
    if lower:
        text = text.lower()
    return _TOKEN_RE.findall(text)


def wikitext_tokens(lines: Iterable[str], lower: bool = False, eos: str | None = "<eos>") -> list[str]:
    """Tokens of WikiText lines: the text is already tokenised, so split on spaces.

    Empty lines are skipped; every other line ends with ``eos`` (as in the usual WikiText LM
    set-up). Headings (`` = Title = ``) are kept: they are part of the corpus.

    >>> wikitext_tokens([" = Title = \\n", " \\n", " A b . \\n"])
    ['=', 'Title', '=', '<eos>', 'A', 'b', '.', '<eos>']
    """
    out: list[str] = []
    for line in lines:
        words = line.split()
        if not words:
            continue
        if lower:
            words = [w.lower() for w in words]
        out.extend(words)
        if eos is not None:
            out.append(eos)
    return out


class Vocab:
    """Maps tokens to ids and back, with the count of every token.

    Ids are ordered: specials first (``<unk>`` is id 0 by default), then tokens by descending
    count, ties in order of first appearance.
    """

    def __init__(self, itos: Sequence[str], counts: Sequence[int], unk_token: str | None = "<unk>"):
        if len(itos) != len(counts):
            raise ValueError(f"itos has {len(itos)} tokens but counts has {len(counts)} entries")
        if len(set(itos)) != len(itos):
            dup = next(t for t, c in Counter(itos).items() if c > 1)
            raise ValueError(f"token {dup!r} appears twice in the vocabulary")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts: np.ndarray = np.asarray(counts, dtype=np.int64)
        if unk_token is not None and unk_token not in self.stoi:
            raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary; add it to specials")
        self.unk_token = unk_token
        self.unk_id: int | None = self.stoi[unk_token] if unk_token is not None else None

    @classmethod
    def build(
        cls,
        sentences: Iterable[Iterable[str]],
        min_count: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<unk>",),
        unk_token: str | None = "<unk>",
    ) -> "Vocab":
        """Count tokens in ``sentences`` (an iterable of token lists) and keep the frequent ones.

        ``min_count`` drops tokens seen fewer times; ``max_size`` keeps at most that many
        tokens besides the specials. Dropped tokens' counts go to ``unk_token``.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counter: Counter[str] = Counter()
        for sent in sentences:
            if isinstance(sent, str):
                raise TypeError("Vocab.build expects an iterable of token lists, got a string; "
                                "wrap a single token list in [ ]: Vocab.build([tokens])")
            counter.update(sent)
        return cls.from_counter(counter, min_count=min_count, max_size=max_size, specials=specials, unk_token=unk_token)

    @classmethod
    def from_counter(
        cls,
        counter: Counter[str] | dict[str, int],
        min_count: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<unk>",),
        unk_token: str | None = "<unk>",
    ) -> "Vocab":
        if unk_token is not None and unk_token not in specials:
            specials = (unk_token, *specials)
        # sorted() is stable: ties keep first-appearance order of the Counter
        ranked = sorted(((t, c) for t, c in counter.items() if t not in specials), key=lambda tc: -tc[1])
        kept = [(t, c) for t, c in ranked if c >= min_count]
        if max_size is not None:
            kept = kept[:max_size]
        kept_set = {t for t, _ in kept}
        dropped = sum(c for t, c in counter.items() if t not in kept_set and t not in specials)
        special_counts = [counter.get(s, 0) for s in specials]
        if unk_token is not None:
            special_counts[list(specials).index(unk_token)] += dropped
        itos = list(specials) + [t for t, _ in kept]
        counts = special_counts + [c for _, c in kept]
        return cls(itos, counts, unk_token=unk_token)

    # ---- lookups -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """Id of ``token``; unknown tokens map to ``<unk>`` (KeyError if there is none)."""
        idx = self.stoi.get(token)
        if idx is not None:
            return idx
        if self.unk_id is None:
            raise KeyError(f"{token!r} is not in the vocabulary and it has no unknown token")
        return self.unk_id

    def encode(self, tokens: Iterable[str]) -> list[int]:
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of tokens, not a string; tokenize it first")
        return [self[t] for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise IndexError(f"id {i} is outside the vocabulary (size {len(self.itos)})")
            out.append(self.itos[i])
        return out

    def frequencies(self) -> np.ndarray:
        """Relative frequency of every id (counts / total)."""
        total = self.counts.sum()
        return self.counts / total if total else self.counts.astype(float)

    def __repr__(self) -> str:
        head = ", ".join(self.itos[:5])
        return f"Vocab(size={len(self)}, unk={self.unk_token!r}, first=[{head}{', …' if len(self) > 5 else ''}])"

    # ---- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically)."""
        return atomic_write_json(path, {"itos": self.itos, "counts": self.counts.tolist(), "unk_token": self.unk_token})

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(obj["itos"], obj["counts"], unk_token=obj.get("unk_token"))
        except (json.JSONDecodeError, KeyError) as e:
            raise ValueError(f"{path} is not a vocabulary file written by Vocab.save ({e})") from None

"""From token lists to what the embedding trainers read: a count-ordered vocabulary, the corpus as
one id stream, and word2vec's shrinking context windows.

Word2vec (chapter 02) and GloVe (chapter 03) share these, so they live with the data:

    vocab = build_vocab(sentences, min_count=5)      # by descending count, gensim's tie order
    corpus = encode_corpus(sentences, vocab)         # ids, the sentence of each id, raw counts
    ctx, mask = context_windows(corpus.ids, corpus.sentence, window=5)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from .vocab import Vocab

__all__ = ["EncodedCorpus", "build_vocab", "context_windows", "encode_corpus"]


def build_vocab(sentences: Iterable[Sequence[str]], min_count: int = 5) -> Vocab:
    """Words seen at least ``min_count`` times, by descending count; no ``<unk>`` (unknown words are dropped).

    Ties are ordered as gensim orders them (``np.lexsort((-first_seen, -count))``): of two words
    with the same count, the one first seen later comes first. The Huffman tree depends on this
    order, so matching it lets the tests compare codes with gensim's.

    >>> build_vocab([["a", "b", "b", "c", "c", "d"]], min_count=1).itos
    ['c', 'b', 'd', 'a']
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counter: Counter[str] = Counter()  # insertion order = order of first appearance
    for sent in sentences:
        if isinstance(sent, str):
            raise TypeError("build_vocab expects an iterable of token lists, got a string; split it into tokens first")
        counter.update(sent)
    words = [w for w, c in counter.items() if c >= min_count]
    if not words:
        raise ValueError(f"no word occurs {min_count} times or more; lower min_count")
    counts = np.array([counter[w] for w in words], dtype=np.int64)
    order = np.lexsort((-np.arange(len(words)), -counts))  # count desc, then first-seen desc
    return Vocab([words[i] for i in order], counts[order], unk_token=None)


@dataclass
class EncodedCorpus:
    """Sentences as one id stream: ``ids`` (N,) with the ``sentence`` (N,) each id belongs to.

    Unknown words are dropped before windows are built (as in word2vec.c and gensim), so a
    window reaches over them. ``raw_words`` counts every word, known or not: it drives the
    learning-rate schedule and words/s, as in gensim.
    """

    ids: torch.Tensor
    sentence: torch.Tensor
    offsets: np.ndarray  # (S+1,) start of each sentence in ids
    raw_cum: np.ndarray  # (S+1,) raw words before each sentence

    @property
    def raw_words(self) -> int:
        return int(self.raw_cum[-1])

    def chunks(self, words: int) -> list[tuple[int, int]]:
        """Sentence ranges [lo, hi) of about ``words`` ids each (never cutting a sentence)."""
        n = int(self.offsets[-1])
        cuts = np.unique(np.searchsorted(self.offsets, np.arange(0, n, max(words, 1)), side="right") - 1)
        cuts = np.append(cuts, len(self.offsets) - 1)
        return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def encode_corpus(sentences: Iterable[Sequence[str]], vocab: Vocab) -> EncodedCorpus:
    """Map token lists to ids, dropping words not in ``vocab``."""
    stoi = vocab.stoi
    ids: list[int] = []
    lens: list[int] = []
    raw: list[int] = []
    for sent in sentences:
        if isinstance(sent, str):
            raise TypeError("expected an iterable of token lists, got a string; split it into tokens first")
        row = [stoi[w] for w in sent if w in stoi]
        ids.extend(row)
        lens.append(len(row))
        raw.append(len(sent))
    if not ids:
        raise ValueError("no word of the corpus is in the vocabulary")
    lens_t = torch.tensor(lens, dtype=torch.long)
    return EncodedCorpus(
        ids=torch.tensor(ids, dtype=torch.long),
        sentence=torch.repeat_interleave(torch.arange(len(lens)), lens_t),
        offsets=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        raw_cum=np.concatenate([[0], np.cumsum(raw)]).astype(np.int64),
    )


def context_windows(
    ids: torch.Tensor, sentence: torch.Tensor, window: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The context of every position, with word2vec's shrinking window: (ctx (N, 2W), mask (N, 2W)).

    Each position i draws b_i uniformly in {1..W} and sees the words at i±1..i±b_i of its own
    sentence (so near words count more on average). ``ctx[i]`` lists the words at offsets
    −W..−1, +1..+W; ``mask`` says which of them are in the (shrunk) window.

    >>> ctx, mask = context_windows(torch.tensor([7, 8, 9]), torch.tensor([0, 0, 1]), window=1)
    >>> ctx.tolist(), mask.tolist()
    ([[7, 8], [7, 9], [8, 9]], [[False, True], [True, False], [False, False]])
    """
    if ids.shape != sentence.shape or ids.dim() != 1:
        raise ValueError(f"ids and sentence must be 1-D and equal in shape, got {tuple(ids.shape)}, {tuple(sentence.shape)}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    N, dev = ids.numel(), ids.device
    b = window - torch.randint(0, window, (N,), generator=generator, device=dev)  # shrunk window, 1..W
    offsets = torch.cat([torch.arange(-window, 0, device=dev), torch.arange(1, window + 1, device=dev)])  # (2W,)
    pos = torch.arange(N, device=dev).unsqueeze(1) + offsets  # (N, 2W)
    inside = (pos >= 0) & (pos < N)
    pos = pos.clamp(0, max(N - 1, 0))
    mask = inside & (offsets.abs() <= b.unsqueeze(1)) & (sentence[pos] == sentence.unsqueeze(1))
    return ids[pos], mask

"""Turning a token-id stream into language-model training examples.

    >>> import torch
    >>> ids = torch.tensor([5, 6, 7, 8])
    >>> x, y = ngram_examples(ids, context=2)
    >>> x.tolist(), y.tolist()
    ([[5, 6], [6, 7]], [7, 8])
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset

__all__ = ["LMWindows", "as_id_tensor", "ngram_examples"]


def as_id_tensor(ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """A 1-D int64 tensor of token ids."""
    t = torch.as_tensor(ids, dtype=torch.long)
    if t.dim() != 1:
        raise ValueError(f"expected a 1-D sequence of token ids, got shape {tuple(t.shape)}")
    return t


def ngram_examples(ids: Sequence[int] | torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All (context, next token) pairs of a stream: ``x`` is (N, context), ``y`` is (N,).

    ``context=1`` gives bigram pairs, ``context=n-1`` the inputs of an n-gram model (NNLM).
    Built with ``unfold`` (a view, no Python loop).
    """
    t = as_id_tensor(ids)
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    if t.numel() <= context:
        raise ValueError(f"a stream of {t.numel()} tokens has no example with context {context}")
    windows = t.unfold(0, context + 1, 1)  # (N, context + 1)
    return windows[:, :context], windows[:, context]


class LMWindows(Dataset):
    """Fixed-length windows of a token stream, for causal-LM training: item i is
    ``{"input_ids": ids[i·stride : i·stride + block_size]}`` (a view, no copy).

    ``stride`` defaults to ``block_size`` (windows side by side, every token used once). With
    ``DataLoader(LMWindows(...), batch_size=B, shuffle=True)`` each batch is ``{"input_ids": (B, T)}``,
    what :func:`ptm_course.models.gpt.lm_loss` takes (position t predicts token t + 1).

    >>> w = LMWindows(torch.arange(10), block_size=4)
    >>> len(w), w[1]["input_ids"].tolist()
    (2, [4, 5, 6, 7])
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, block_size: int, stride: int | None = None):
        self.ids = as_id_tensor(ids)
        self.block_size = block_size
        self.stride = block_size if stride is None else stride
        if block_size < 2 or self.stride < 1:
            raise ValueError(f"block_size must be ≥ 2 and stride ≥ 1, got {block_size} and {self.stride}")
        if self.ids.numel() < block_size:
            raise ValueError(f"a stream of {self.ids.numel()} tokens is shorter than one window of {block_size}")

    def __len__(self) -> int:
        return (self.ids.numel() - self.block_size) // self.stride + 1

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} of {len(self)}")
        start = i * self.stride
        return {"input_ids": self.ids[start : start + self.block_size]}

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

__all__ = ["ngram_examples", "as_id_tensor"]


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

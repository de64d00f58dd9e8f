"""Metrics shared by the chapters.

    >>> import math
    >>> round(perplexity(math.log(50.0)), 6)
    50.0
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = ["bits_per_character", "causal_lm_nll", "lm_mean_nll", "perplexity"]


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """exp of the mean negative log-likelihood (in nats): ppl = exp(-1/N · Σ log P(w_t | context))."""
    return float(math.exp(float(mean_nll)))


@torch.no_grad()
def lm_mean_nll(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean cross-entropy of ``model(x[i]) -> logits`` against next tokens ``y``, in batches.

    ``x``: (N, ...) model inputs, ``y``: (N,) targets. Runs on the model's device; returns a float.
    """
    if x.size(0) != y.size(0):
        raise ValueError(f"x has {x.size(0)} examples but y has {y.size(0)}")
    if y.numel() == 0:
        raise ValueError("no examples to evaluate")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, y.size(0), batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = y[start : start + batch_size].to(device)
        logits = model(xb)
        total += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
    model.train(was_training)
    return total / y.size(0)


def bits_per_character(total_nll: float, n_chars: int) -> float:
    """Bits per character: the total negative log-likelihood of a text (in nats) / ln 2 / its characters.

    Perplexities of models with different tokenisers are not comparable (a token of one is not a
    token of the other); the cost of the same text in bits per character is.

    >>> round(bits_per_character(math.log(2) * 300, 100), 6)   # 300 bits for 100 characters
    3.0
    """
    if n_chars <= 0:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    return float(total_nll) / math.log(2) / n_chars


@torch.no_grad()
def causal_lm_nll(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batch_size: int = 16) -> tuple[float, int]:
    """(total NLL in nats, tokens predicted) of a causal LM ``model(input_ids) -> logits (B, T, V)`` on a stream.

    The stream is cut into windows of ``block_size`` that overlap by one token, so every token
    after the first is predicted exactly once, from the tokens before it in its window.
    """
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    if ids.numel() < 2 or block_size < 2:
        raise ValueError(f"need at least 2 tokens and block_size ≥ 2, got {ids.numel()} tokens, block_size {block_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    windows = [ids[s : s + block_size] for s in range(0, ids.numel() - 1, block_size - 1)]
    full = [w for w in windows if w.numel() == block_size]
    batches = [torch.stack(full[b : b + batch_size]) for b in range(0, len(full), batch_size)]
    batches += [w[None] for w in windows if w.numel() < block_size]  # the last, shorter window
    total, count = 0.0, 0
    for x in batches:
        x = x.to(device)  # (B, T)
        logits = model(x)  # (B, T, V): position t predicts token t + 1
        total += float(F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), x[:, 1:].flatten(), reduction="sum"))
        count += x[:, 1:].numel()
    model.train(was_training)
    return total, count

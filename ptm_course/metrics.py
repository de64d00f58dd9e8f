"""Metrics shared by the chapters.

    >>> import math
    >>> round(perplexity(math.log(50.0)), 6)
    50.0
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = ["lm_mean_nll", "perplexity"]


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

"""Scaling experiments for chapter 10 ("very, very large"): train GPTs of several sizes on the
same tokens, and fit a power law to what they reach.

    runs = [train_for_tokens(GPTConfig(...), train_ids, valid_ids, tokens=1_000_000) for ...]
    a, alpha = fit_power_law([r["params"] for r in runs], [r["valid_loss"] for r in runs])

Kaplan et al. (2020) found that a language model's test loss falls as a power of its size,
L(N) ≈ (N_c / N)^α_N with N the *non-embedding* parameters, when data and compute are not the
bottleneck; and that training compute is C ≈ 6·N·D FLOPs for D tokens (2 per multiply-add in
the forward pass, 4 in the backward). These helpers measure that at laptop scale.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from .data.lm import LMWindows
from .metrics import causal_lm_nll
from .models.gpt import GPT, GPTConfig, gpt_param_count, lm_loss
from .train import fit

__all__ = ["fit_power_law", "non_embedding_params", "train_for_tokens", "training_flops"]


def non_embedding_params(cfg: GPTConfig) -> int:
    """Parameters outside the token and position embeddings (Kaplan's N)."""
    return gpt_param_count(cfg, embeddings=False)


def training_flops(cfg: GPTConfig, tokens: int, block_size: int) -> float:
    """Training FLOPs for ``tokens`` tokens: 6 per weight (non-embedding, plus the tied output head)
    and per token, plus the attention scores, 6·2·L·T·d per token (Q·Kᵀ and A·V, forward + backward)."""
    per_token = 6 * (non_embedding_params(cfg) + cfg.d_model * cfg.vocab_size) + 12 * cfg.n_layers * block_size * cfg.d_model
    return float(per_token) * tokens


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least squares in log-log space: y ≈ a · x^(−α). Returns (a, α).

    >>> a, alpha = fit_power_law([1, 10, 100], [8.0, 4.0, 2.0])
    >>> round(a, 3), round(alpha, 4)
    (8.0, 0.301)
    """
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if lx.size < 2 or not np.isfinite(lx).all() or not np.isfinite(ly).all():
        raise ValueError("fit_power_law needs at least two positive (x, y) points")
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(math.exp(intercept)), float(-slope)


def train_for_tokens(cfg: GPTConfig, train_ids: torch.Tensor, valid_ids: torch.Tensor, tokens: int,
                     batch_size: int = 16, block_size: int = 128, lr: float = 2e-3, n_evals: int = 6,
                     device: str | torch.device = "cpu", seed: int = 0, progress: bool = False) -> dict:
    """Train ``GPT(cfg)`` on ``tokens`` training tokens (random windows of ``train_ids``) and
    record the validation loss (nats per token) ``n_evals`` times along the way.

    Returns a dict: ``params`` (non-embedding), ``flops``, ``valid_loss`` (at the end),
    ``curve`` (a list of (tokens seen, FLOPs, validation loss)), ``seconds``.
    """
    steps = max(1, tokens // (batch_size * block_size))
    torch.manual_seed(seed)
    model = GPT(cfg)
    loader = DataLoader(LMWindows(train_ids, block_size), batch_size=batch_size, shuffle=True, drop_last=True)
    curve: list[tuple[int, float, float]] = []
    every = max(1, steps // n_evals)

    def evaluate(m):
        nll, n = causal_lm_nll(m, valid_ids, block_size)
        return {"valid_loss": nll / n}

    t0 = time.time()
    history = fit(model, loader, lm_loss, max_steps=steps, lr=lr, warmup_steps=max(1, steps // 20), schedule="cosine",
                  min_lr_ratio=0.1, weight_decay=0.1, eval_fn=evaluate, eval_every=every, log_every=every,
                  device=device, seed=seed, progress=progress, desc=f"GPT d={cfg.d_model} L={cfg.n_layers}")
    seconds = time.time() - t0
    seen_per_step = batch_size * block_size
    for row in history.eval:
        seen = row["step"] * seen_per_step
        curve.append((seen, training_flops(cfg, seen, block_size), row["valid_loss"]))
    return {"d_model": cfg.d_model, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
            "params": non_embedding_params(cfg), "params_with_embeddings": gpt_param_count(cfg),
            "tokens": steps * seen_per_step, "flops": training_flops(cfg, steps * seen_per_step, block_size),
            "valid_loss": curve[-1][2], "curve": curve, "seconds": seconds,
            "train_loss": history.last("loss")}

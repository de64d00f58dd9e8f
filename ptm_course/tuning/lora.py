"""LoRA (Hu et al. 2021): a frozen projection W plus a trainable low-rank update, W + (α/r)·B·A.

    model = apply_lora(BertForSequenceClassification(cfg, 2), rank=8, alpha=16)  # q_proj, v_proj
    ...train...                       # only every A, B and the classifier have requires_grad
    merge_lora(model)                 # W ← W + (α/r)·B·A: plain nn.Linear again, no extra cost

A (r, in) starts Kaiming-uniform (a = √5, as nn.Linear's own init), B (out, r) starts at zero,
so at step 0 the model is exactly the frozen one. Only A and B train: r·(in + out) numbers per
projection instead of in·out. The targets default to the query and value projections, the
paper's choice (§7.1: with a fixed budget, adapting W_q and W_v together beat any single matrix
and matched all four); pass ``targets=`` for others.

The names follow PEFT's (``lora_A``, ``lora_B``, ``scaling``, dropout on the input of A), and a
parity test checks the outputs against PEFT's LoRA on Hugging Face's BERT with the same factors.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .core import (DEFAULT_HEADS, _is_head, _require_fresh, _set_spec, freeze_except, register_method, replace_linears,
                   tuning_spec)

__all__ = ["LORA_TARGETS", "LoRALinear", "apply_lora", "merge_lora"]

LORA_TARGETS = ("q_proj", "v_proj")


class LoRALinear(nn.Module):
    """y = base(x) + (α/r) · dropout(x) · Aᵀ · Bᵀ, with ``base`` frozen.

    ``merge()`` adds (α/r)·B·A into ``base.weight`` (then forward is ``base`` alone) and
    ``unmerge()`` takes it out again; both give the same outputs up to rounding.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def added_parameters(self):
        return (self.lora_A, self.lora_B)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (α/r)·B·A, (out, in): what merging adds to the base weight."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        return y + F.linear(F.linear(self.lora_dropout(x), self.lora_A), self.lora_B) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}, merged={self.merged}"


def apply_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0, targets: Iterable[str] = LORA_TARGETS,
               dropout: float = 0.0, heads: Iterable[str] = DEFAULT_HEADS) -> nn.Module:
    """Wrap every ``nn.Linear`` named one of ``targets`` (the last part of its name) in a LoRALinear.

    Freezes everything except the LoRA factors and the task head(s); returns the model.
    """
    _require_fresh(model)
    targets, heads = tuple(targets), tuple(heads)
    replace_linears(model, lambda name: name.rsplit(".", 1)[-1] in targets and not _is_head(name, heads),
                    lambda lin: LoRALinear(lin, rank, alpha, dropout))
    freeze_except(model, lambda name, p: ".lora_A" in name or ".lora_B" in name, heads)
    _set_spec(model, {"method": "lora", "rank": rank, "alpha": alpha, "targets": list(targets), "dropout": dropout,
                      "heads": list(heads)})
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRALinear's ΔW into its base weight and put the plain ``nn.Linear`` back; returns the model."""
    wrapped = [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    if not wrapped:
        raise ValueError(f"merge_lora: {type(model).__name__} has no LoRALinear (apply_lora first)")
    for name, m in wrapped:
        m.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, m.base)
    if tuning_spec(model) is not None:
        object.__delattr__(model, "_ptm_tuning")
    return model


register_method("lora", apply_lora)

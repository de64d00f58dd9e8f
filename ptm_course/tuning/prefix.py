"""Prefix-tuning (Li & Liang 2021): trained keys and values in front of every layer's own.

    model = apply_prefix(model, length=10)      # backbone frozen; every block's attention sees the prefix
    ... train ...
    export_prefix(model)                        # keep only the prefix tensors the MLP computes
    save_delta(model, "task.prefix.safetensors")   # L · 2 · P · d numbers (+ the head)

Each layer ℓ gets P extra keys and values, (P, d) each, that every token attends to as if P
tokens came before the input — but they are free parameters, not the keys of any word. Li & Liang
found that optimising them directly is unstable, so during training they are produced by a small
reparameterisation network, P_ℓ = MLP(E) with E an (P, d) embedding and MLP = Linear → Tanh →
Linear to L · 2 · d; after training only its output is kept (:func:`export_prefix`).

**How the prefix enters attention.** Through the blocks' one mechanism for keys and values that
come before the current tokens, ``past_kv`` (:mod:`ptm_course.models.transformer`):
:class:`WithPrefix` is put in place of each block's ``attn`` and calls it with a
:class:`~ptm_course.models.transformer.StaticKV` of the prefix (composed with a KV cache during
generation), and with the attention mask widened by P always-visible columns. No model file
changes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Mapping, Sequence

import torch
from torch import nn

from ..models.transformer import MultiHeadAttention, StaticKV
from .core import DEFAULT_HEADS, _require_fresh, _set_spec, freeze_except, register_method, tuning_spec

__all__ = ["PrefixBank", "PrefixEncoder", "PrefixKV", "WithPrefix", "apply_prefix", "attach_prefix_bank", "export_prefix",
           "prefix_blocks"]


class PrefixEncoder(nn.Module):
    """The reparameterised prefix: E (P, d) → Linear(d, hidden) → Tanh → Linear(hidden, L·2·d).

    ``forward()`` returns the prefix keys and values of every layer, (L, 2, n_heads, P, d_head).
    """

    def __init__(self, n_layers: int, n_heads: int, d_head: int, length: int, hidden: int = 512):
        super().__init__()
        if length < 1 or hidden < 1:
            raise ValueError(f"prefix length and hidden size must be >= 1, got length={length}, hidden={hidden}")
        self.shape = (n_layers, 2, n_heads, length, d_head)
        d = n_heads * d_head
        self.embedding = nn.Embedding(length, d)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, n_layers * 2 * d))

    def forward(self) -> torch.Tensor:
        L, _, nh, P, hs = self.shape
        out = self.mlp(self.embedding.weight)  # (P, L·2·d)
        return out.view(P, L, 2, nh, hs).permute(1, 2, 3, 0, 4)  # (L, 2, nh, P, hs)

    def added_parameters(self):
        return list(self.parameters())


class PrefixKV(nn.Module):
    """The prefix as plain tensors, (L, 2, n_heads, P, d_head): what a task keeps after training
    (:func:`export_prefix`), or a prefix optimised directly (``apply_prefix(..., hidden=None)``)."""

    def __init__(self, kv: torch.Tensor):
        super().__init__()
        if kv.dim() != 5 or kv.size(1) != 2:
            raise ValueError(f"a prefix is (n_layers, 2, n_heads, P, d_head), got shape {tuple(kv.shape)}")
        self.kv = nn.Parameter(kv.detach().clone())
        self.shape = tuple(kv.shape)

    def forward(self) -> torch.Tensor:
        return self.kv

    def added_parameters(self):
        return [self.kv]


class _PrefixThenCache:
    """``past_kv`` for generation with a prefix: the prefix first, then the cache (which grows)."""

    def __init__(self, prefix: StaticKV, cache):
        self.prefix, self.cache = prefix, cache

    def __len__(self) -> int:
        return len(self.prefix) + len(self.cache)

    def extend(self, k: torch.Tensor, v: torch.Tensor):
        return self.prefix.extend(*self.cache.extend(k, v))


class WithPrefix(nn.Module):
    """``attn`` with layer ``layer``'s prefix keys and values placed before the tokens' own.

    The prefix source (shared by all layers, owned by the model as ``model.prefix``) is held by
    reference, not as a submodule, so its parameters appear once in the model.
    """

    def __init__(self, attn: MultiHeadAttention, source: nn.Module, layer: int):
        super().__init__()
        self.attn = attn
        self.layer = layer
        object.__setattr__(self, "_source", source)

    def set_source(self, source: nn.Module) -> None:
        object.__setattr__(self, "_source", source)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False, past_kv=None):
        kv = self._source()[self.layer]  # (2, nh, P, hs), or (2, B, nh, P, hs): one prefix per row
        prefix = StaticKV(kv[0].to(x.dtype), kv[1].to(x.dtype))
        if mask is not None:  # P more key columns, visible to every query
            mask = torch.cat([mask.new_ones(*mask.shape[:-1], len(prefix)), mask], dim=-1)
        extra = prefix if past_kv is None else _PrefixThenCache(prefix, past_kv)
        return self.attn(x, mask=mask, is_causal=is_causal, past_kv=extra)


def prefix_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's Transformer blocks: every module whose ``attn`` is a MultiHeadAttention, in order."""
    return [m for m in model.modules() if not isinstance(m, WithPrefix)
            and isinstance(getattr(m, "attn", None), (MultiHeadAttention, WithPrefix))]


def apply_prefix(model: nn.Module, length: int = 10, hidden: int | None = 512,
                 heads=DEFAULT_HEADS) -> nn.Module:
    """Give every block of ``model`` a trainable prefix of ``length`` keys/values; freeze the rest.

    ``hidden``: the reparameterisation MLP's width (Li & Liang's setting); ``None`` optimises the
    prefix tensors directly. The task head (``classifier``, ...) stays trainable. Returns the model.
    """
    _require_fresh(model)
    blocks = prefix_blocks(model)
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no Transformer blocks (no module with an `attn` "
                         "MultiHeadAttention): prefix-tuning needs the course's BERT or GPT")
    if hasattr(model, "prefix"):
        raise ValueError(f"{type(model).__name__} already has an attribute `prefix`")
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"prefix length must be an int >= 1, got {length!r}")
    attn = blocks[0].attn
    L, nh, hs = len(blocks), attn.n_heads, attn.d_head
    if hidden is None:
        g = torch.Generator().manual_seed(0)
        source: nn.Module = PrefixKV(0.02 * torch.randn(L, 2, nh, length, hs, generator=g))
    else:
        source = PrefixEncoder(L, nh, hs, length, hidden)
    ref = next(model.parameters())
    model.prefix = source.to(device=ref.device, dtype=ref.dtype)
    for i, block in enumerate(blocks):
        block.attn = WithPrefix(block.attn, model.prefix, i)
    freeze_except(model, lambda name, p: name.startswith("prefix."), heads)
    _set_spec(model, {"method": "prefix", "length": length, "hidden": hidden, "heads": list(heads)})
    return model


def export_prefix(model: nn.Module) -> nn.Module:
    """Replace the reparameterisation MLP by the prefix it computes (the same outputs, fewer bytes).

    After this, ``save_delta`` stores L · 2 · P · d numbers per task (plus the head), and
    ``load_delta`` rebuilds the model from them alone. Returns the model.
    """
    spec = tuning_spec(model)
    if spec is None or spec.get("method") != "prefix":
        raise ValueError("export_prefix needs a model that apply_prefix prepared")
    if isinstance(model.prefix, PrefixKV):
        return model  # already plain tensors
    with torch.no_grad():
        kv = PrefixKV(model.prefix())
    model.prefix = kv
    for block in prefix_blocks(model):
        block.attn.set_source(kv)
    object.__setattr__(model, "_ptm_tuning", {**spec, "hidden": None})
    return model


class PrefixBank(nn.Module):
    """Many tasks' prefixes for one frozen backbone: each row of a batch attends to its own task's.

    The notes' point of prefix-tuning — store one large Transformer and one small prefix per task —
    served as one batch::

        bank = PrefixBank({"sentiment": export_prefix(a).prefix.kv, "topic": export_prefix(b).prefix.kv})
        model = attach_prefix_bank(copy.deepcopy(backbone), bank)
        with bank.rows(["sentiment", "topic", "sentiment"]):
            h, _ = model.bert(ids, None, mask)      # row i computed with its task's prefix

    All prefixes must have one shape (the same backbone and the same length P).
    """

    def __init__(self, prefixes: Mapping[str, torch.Tensor]):
        super().__init__()
        if not prefixes:
            raise ValueError("PrefixBank needs at least one task's prefix")
        shapes = {name: tuple(t.shape) for name, t in prefixes.items()}
        if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 5:
            raise ValueError(f"every prefix must be one (n_layers, 2, n_heads, P, d_head) shape; got {shapes} "
                             "(prefixes of different lengths cannot share a batch)")
        self.names = list(prefixes)
        self.register_buffer("kv", torch.stack([t.detach() for t in prefixes.values()]))  # (N, L, 2, nh, P, hs)
        self._rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.names)

    @contextmanager
    def rows(self, tasks: Sequence[str]):
        """Within the block, batch row i uses the prefix of task ``tasks[i]``."""
        unknown = sorted(set(tasks) - set(self.names))
        if unknown:
            raise ValueError(f"no prefix for task(s) {unknown}; the bank has {self.names}")
        self._rows = torch.tensor([self.names.index(t) for t in tasks], device=self.kv.device)
        try:
            yield self
        finally:
            self._rows = None

    def forward(self) -> torch.Tensor:
        if self._rows is None:
            raise RuntimeError("say which task each row is: run the model inside `with bank.rows(task_per_row):`")
        return self.kv[self._rows].permute(1, 2, 0, 3, 4, 5)  # (L, 2, B, nh, P, hs)


def attach_prefix_bank(model: nn.Module, bank: PrefixBank) -> nn.Module:
    """Put ``bank`` in front of every block's attention of ``model`` (a fresh backbone, all frozen)."""
    _require_fresh(model)
    blocks = prefix_blocks(model)
    L = bank.kv.size(1)
    if len(blocks) != L:
        raise ValueError(f"the bank's prefixes have {L} layers, the model {len(blocks)} blocks")
    model.prefix = bank.to(next(model.parameters()).device)
    for i, block in enumerate(blocks):
        block.attn = WithPrefix(block.attn, bank, i)
    for p in model.parameters():
        p.requires_grad_(False)
    _set_spec(model, {"method": "prefix-bank", "tasks": list(bank.names)})
    return model


register_method("prefix", apply_prefix)

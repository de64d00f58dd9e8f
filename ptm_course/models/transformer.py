"""Transformer building blocks shared by BERT (encoder) and the decoders that follow (GPT, ...).

    attn = MultiHeadAttention(d_model=64, n_heads=4)
    y = attn(x, mask=padding_mask(attention_mask))          # BERT: every token sees every real token
    y = attn(x, is_causal=True)                              # GPT: token t sees tokens <= t

Attention is Vaswani et al. (2017), eq. 1: Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k + M)·V,
with M = 0 where attending is allowed and −∞ where it is not. It runs through
``torch.nn.functional.scaled_dot_product_attention`` (SDPA), which picks a fused kernel
(FlashAttention / memory-efficient) on GPUs. Q, K and V come from ONE fused Linear
(d_model → 3·d_model): one matmul instead of three, and no Python loop over heads.

Masks are boolean and broadcast to (B, n_heads, T_q, T_k): ``True`` = may attend.

Two block layouts, two small classes rather than a flag:

* :class:`PostLNBlock` — x = LN(x + Attn(x)); x = LN(x + FFN(x))    (BERT, GPT-1, ERNIE)
* :class:`PreLNBlock`  — x = x + Attn(LN(x)); x = x + FFN(LN(x))    (GPT-2 and later)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "FeedForward",
    "LayerNorm",
    "MultiHeadAttention",
    "PostLNBlock",
    "PreLNBlock",
    "attention_reference",
    "causal_mask",
    "gather_positions",
    "padding_mask",
]


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    # GELU(x) ≈ 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  — the TF BERT / GPT-2 form ("gelu_new")
    return F.gelu(x, approximate="tanh")


# name -> function. "gelu" is the exact erf form, x·Φ(x), which HF's BertModel uses by default.
ACTIVATIONS = {"gelu": F.gelu, "gelu_tanh": _gelu_tanh, "relu": F.relu}


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` that, under autocast, returns the autocast dtype (bf16/fp16).

    Autocast runs LayerNorm in float32 and hands back a float32 tensor, so a post-LN residual
    stream would stay float32: twice the bytes through every add, norm and their backward, and
    a cast before each matmul. Here the statistics are still computed in float32 and only the
    output is rounded, as the matmuls that read it would round it anyway. Without autocast it
    is exactly ``nn.LayerNorm`` (same parameters, same result).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        kind = x.device.type
        if torch.is_autocast_enabled(kind):
            y = y.to(torch.get_autocast_dtype(kind))
        return y


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 1 = real token, 0 = padding  ->  (B, 1, 1, T) bool, True where a key may be attended.

    >>> padding_mask(torch.tensor([[1, 1, 0]])).tolist()
    [[[[True, True, False]]]]

    Only keys are masked: a padding query still attends to the real tokens (its output is
    ignored later), so no row of the softmax is ever all −∞.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, seq_len), got shape {tuple(attention_mask.shape)}")
    return attention_mask.bool()[:, None, None, :]


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) bool lower-triangular: query t may attend to keys 0..t.

    >>> causal_mask(3).int().tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def gather_positions(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The rows of x (B, T, C) at positions (B, P): (B, P, C), i.e. x[b, positions[b, p]].

    >>> gather_positions(torch.arange(6.).view(1, 3, 2), torch.tensor([[2, 0]])).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    return x.gather(1, positions[:, :, None].expand(-1, -1, x.size(-1)))


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention written out, for teaching and tests: softmax(Q·Kᵀ/√d_k + M)·V.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v), mask: bool broadcastable to (..., T_q, T_k).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v  # (..., T_q, d_v)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention with a fused QKV projection and SDPA.

    MultiHead(X) = Concat(head_1, ..., head_h)·W_O,  head_i = Attention(X·W_Q^i, X·W_K^i, X·W_V^i)
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # [W_Q; W_K; W_V] stacked on the output dim
        self.proj = nn.Linear(d_model, d_model, bias=bias)  # W_O

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False,
                query: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C).

        ``query`` (B, P, C): only these rows ask (keys and values still come from all of x), and
        the output is (B, P, C). A position's output depends on the other positions only through
        their keys and values, so a layer whose outputs are needed at a few positions only (the
        last one, under a masked-LM loss) need not compute the rest. Not with ``is_causal``.
        """
        B, T, C = x.shape  # batch, sequence length, d_model
        if query is None:
            q, k, v = self.qkv(x).split(C, dim=-1)  # 3 × (B, T, C)
        else:
            if is_causal:
                raise ValueError("query= selects rows of a bidirectional layer; it cannot be combined with is_causal")
            if query.dim() != 3 or query.shape[0] != B or query.shape[2] != C:
                raise ValueError(f"query must be (batch={B}, P, d_model={C}), got shape {tuple(query.shape)}")
            w, b = self.qkv.weight, self.qkv.bias  # rows [W_Q; W_K; W_V]
            q = F.linear(query, w[:C], None if b is None else b[:C])  # (B, P, C)
            k, v = F.linear(x, w[C:], None if b is None else b[C:]).split(C, dim=-1)  # 2 × (B, T, C)
        q = q.view(B, q.size(1), self.n_heads, self.d_head).transpose(1, 2)  # (B, nh, T or P, hs)
        k = k.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, nh, T, hs)
        if mask is not None and is_causal:
            # SDPA takes one or the other: combine them into one boolean mask
            mask = mask & causal_mask(T, x.device)
            is_causal = False
        # softmax(Q·Kᵀ/√d_k + M)·V, fused
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, q.size(2), C)  # re-assemble the heads side by side
        return self.proj(y)


class FeedForward(nn.Module):
    """Position-wise feed-forward network: FFN(x) = act(x·W_1 + b_1)·W_2 + b_2."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "gelu", dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.act = ACTIVATIONS[activation]
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.act(self.fc1(x))))


class PostLNBlock(nn.Module):
    """The original Transformer / BERT layer: the LayerNorm comes after each residual sum.

    h = LN(x + Dropout(MultiHead(x)));  out = LN(h + FFN(h))
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, attn_dropout: float = 0.1,
                 activation: str = "gelu", norm_eps: float = 1e-12):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=attn_dropout)
        self.drop = nn.Dropout(dropout)
        self.norm1 = LayerNorm(d_model, eps=norm_eps)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, dropout=dropout)
        self.norm2 = LayerNorm(d_model, eps=norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C), or (B, P, C) at ``positions`` (B, P) only (see MultiHeadAttention)."""
        q = None if positions is None else gather_positions(x, positions)  # (B, P, C)
        x = self.norm1((x if q is None else q) + self.drop(self.attn(x, mask=mask, is_causal=is_causal, query=q)))
        x = self.norm2(x + self.ffn(x))  # (B, T or P, C)
        return x


class PreLNBlock(nn.Module):
    """The GPT-2 layer: LayerNorm before each sub-layer, the residual path stays un-normalised.

    h = x + Dropout(MultiHead(LN(x)));  out = h + FFN(LN(h))
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, attn_dropout: float = 0.1,
                 activation: str = "gelu_tanh", norm_eps: float = 1e-5):
        super().__init__()
        self.norm1 = LayerNorm(d_model, eps=norm_eps)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=attn_dropout)
        self.drop = nn.Dropout(dropout)
        self.norm2 = LayerNorm(d_model, eps=norm_eps)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, dropout=dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask=mask, is_causal=is_causal))  # (B, T, C)
        x = x + self.ffn(self.norm2(x))  # (B, T, C)
        return x

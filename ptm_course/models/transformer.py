"""Transformer building blocks shared by BERT (encoder) and the decoders that follow (GPT, ...).

    attn = MultiHeadAttention(d_model=64, n_heads=4)
    y = attn(x, mask=padding_mask(attention_mask))          # BERT: every token sees every real token
    y = attn(x, is_causal=True)                              # GPT: token t sees tokens <= t
    cache = KVCache()
    y = attn(x_new, past_kv=cache, is_causal=True)           # generation: earlier tokens' K, V kept

Attention is Vaswani et al. (2017), eq. 1: Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k + M)·V,
with M = 0 where attending is allowed and −∞ where it is not. It runs through
``torch.nn.functional.scaled_dot_product_attention`` (SDPA), which picks a fused kernel
(FlashAttention / memory-efficient) on GPUs.

**Composition.** The four projections W_Q, W_K, W_V, W_O are four ``nn.Linear`` modules
(``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``), and ``forward`` only ever *calls* them: it never
reads their weight tensors. So any of them can be swapped for a module with the same call
signature — a LoRA wrapper, an adapter, a frozen copy — and every model built from these blocks
(BERT, GPT, ...) uses the replacement everywhere.

**Keys and values that come before the current tokens** enter attention through ONE argument,
``past_kv``: an object with a method ``extend(k, v) -> (k, v)`` that receives the current tokens'
keys and values, (B, n_heads, T, d_head), and returns the keys and values to attend over,
(B, n_heads, P + T, d_head), the P earlier ones first. Two such objects are defined here:

* :class:`KVCache` — grows: it stores what it returns, so the next call sees these tokens too
  (generation: each new token attends to every earlier one without recomputing them);
* :class:`StaticKV` — fixed keys and values of length P, broadcast over the batch and never
  stored into (a learned prefix for prefix-tuning; a memory of earlier segments).

With P > 0 the query length T differs from the key length P + T, and the mask must say which
keys each query may see: :func:`causal_mask` (T_q, T_k) aligns the triangle to the *bottom right*
(query i sits at absolute position P + i and sees keys 0..P + i). SDPA's own ``is_causal=True``
aligns it to the top left, which for T_q < T_k hides the cached keys from the new tokens — the
classic cache bug — so attention passes ``is_causal`` to SDPA only when there is no ``past_kv``.

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
    "KVCache",
    "LayerNorm",
    "MultiHeadAttention",
    "PostLNBlock",
    "PreLNBlock",
    "StaticKV",
    "attention_reference",
    "causal_mask",
    "decoder_positions_and_mask",
    "gather_positions",
    "merge_heads",
    "padding_mask",
    "split_heads",
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


# --------------------------------------------------------------------------------------------
# Masks and small helpers
# --------------------------------------------------------------------------------------------


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


def causal_mask(T_q: int, T_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """(T_q, T_k) bool: query i may attend to keys 0..(T_k − T_q) + i. ``T_k`` defaults to ``T_q``.

    The triangle is aligned to the bottom right: the T_q queries are the *last* T_q positions of
    the T_k keys (the first T_k − T_q keys are cached tokens, a memory or a prefix).

    >>> causal_mask(3).int().tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    >>> causal_mask(2, 4).int().tolist()          # 2 new tokens after 2 cached ones
    [[1, 1, 1, 0], [1, 1, 1, 1]]
    """
    T_k = T_q if T_k is None else T_k
    if T_k < T_q:
        raise ValueError(f"causal_mask: {T_q} queries cannot be the last positions of only {T_k} keys")
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril(diagonal=T_k - T_q)


def decoder_positions_and_mask(B: int, T: int, P: int, attention_mask: torch.Tensor | None = None,
                                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Positions (B, T) of T new tokens after P earlier ones, and the key mask for a causal decoder.

    Without ``attention_mask``: positions P..P + T − 1 and no mask (causality alone). With it,
    (B, P + T) or (B, T) (then the P earlier entries count as real): 1 = real token, 0 = left
    padding. Positions count real tokens only, so a padded prompt gets the positions it would
    have alone; the mask (B, 1, T, P + T) hides padding keys, except from padding queries, which
    may see every key (their outputs are never used, and an all-hidden row would give NaN).
    Attention ANDs it with the causal mask.

    >>> pos, mask = decoder_positions_and_mask(1, 3, 0, torch.tensor([[0, 1, 1]]))
    >>> pos.tolist(), mask[0, 0].int().tolist()
    ([[0, 0, 1]], [[1, 1, 1], [0, 1, 1], [0, 1, 1]])
    """
    if attention_mask is None:
        return torch.arange(P, P + T, device=device).expand(B, T), None
    if attention_mask.shape == (B, T) and P > 0:  # nothing said about the earlier entries: all real
        attention_mask = torch.cat([attention_mask.new_ones(B, P), attention_mask], dim=1)
    if attention_mask.shape != (B, P + T):
        raise ValueError(f"attention_mask must be (batch={B}, {P} earlier + {T} new tokens), "
                         f"got shape {tuple(attention_mask.shape)}")
    pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, P:]  # (B, T): left padding skipped
    real_query = attention_mask[:, P:].bool()[:, None, :, None]  # (B, 1, T, 1)
    return pos, padding_mask(attention_mask) | ~real_query  # (B, 1, T, P + T)


def gather_positions(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The rows of x (B, T, C) at positions (B, P): (B, P, C), i.e. x[b, positions[b, p]].

    >>> gather_positions(torch.arange(6.).view(1, 3, 2), torch.tensor([[2, 0]])).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    return x.gather(1, positions[:, :, None].expand(-1, -1, x.size(-1)))


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, n_heads·d_head) -> (B, n_heads, T, d_head): each head's slice of the features."""
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)


def merge_heads(y: torch.Tensor) -> torch.Tensor:
    """(B, n_heads, T, d_head) -> (B, T, n_heads·d_head): the heads side by side again."""
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).reshape(B, T, nh * hs)


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention written out, for teaching and tests: softmax(Q·Kᵀ/√d_k + M)·V.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v), mask: bool broadcastable to (..., T_q, T_k).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v  # (..., T_q, d_v)


# --------------------------------------------------------------------------------------------
# Keys and values before the current tokens: the one mechanism (see the module docstring)
# --------------------------------------------------------------------------------------------


class KVCache:
    """The keys and values of every token one attention layer has seen so far (one per layer).

    ``extend(k, v)`` appends the new tokens' (B, nh, T, hs) keys and values and returns all of
    them, (B, nh, P + T, hs). Generation feeds the prompt once, then one token per step: each
    step costs O(P) instead of recomputing O(P²) attention and every projection of the prefix.

    >>> c = KVCache(); k = torch.zeros(1, 2, 3, 4)
    >>> [t.shape[2] for t in c.extend(k, k)], len(c), [t.shape[2] for t in c.extend(k[:, :, :1], k[:, :, :1])]
    ([3, 3], 3, [4, 4])
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.size(2)

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is not None:
            if self.k.shape[:2] != k.shape[:2]:
                raise ValueError(f"KVCache holds (batch, heads) {tuple(self.k.shape[:2])}, got {tuple(k.shape[:2])}")
            k = torch.cat([self.k, k], dim=2)  # (B, nh, P + T, hs)
            v = torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (beam search, or dropping finished sequences)."""
        if self.k is not None:
            self.k, self.v = self.k[index], self.v[index]


class StaticKV:
    """Fixed keys and values placed before the current tokens' own: k, v of (nh, P, hs) or (B, nh, P, hs).

    A learned prefix (prefix-tuning) or a memory of earlier segments. Nothing is stored: two
    calls with the same StaticKV see the same P entries.

    >>> p = StaticKV(torch.ones(2, 5, 4), torch.ones(2, 5, 4)); x = torch.zeros(3, 2, 7, 4)
    >>> p.extend(x, x)[0].shape, len(p)
    (torch.Size([3, 2, 12, 4]), 5)
    """

    def __init__(self, k: torch.Tensor, v: torch.Tensor) -> None:
        if k.shape != v.shape or k.dim() not in (3, 4):
            raise ValueError(f"StaticKV needs k and v of one shape (n_heads, P, d_head) or (batch, n_heads, P, d_head); "
                             f"got {tuple(k.shape)} and {tuple(v.shape)}")
        self.k, self.v = k, v

    def __len__(self) -> int:
        return self.k.size(-2)

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = k.size(0)
        pk = self.k.expand(B, *self.k.shape[-3:]).to(k.dtype)  # (B, nh, P, hs), shared over the batch
        pv = self.v.expand(B, *self.v.shape[-3:]).to(v.dtype)
        return torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)  # (B, nh, P + T, hs)


# --------------------------------------------------------------------------------------------
# Attention, feed-forward, blocks
# --------------------------------------------------------------------------------------------


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: four projection modules and SDPA.

    MultiHead(X) = Concat(head_1, ..., head_h)·W_O,  head_i = Attention(X·W_Q^i, X·W_K^i, X·W_V^i)
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # W_Q: all heads at once
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)  # W_K
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)  # W_V
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False,
                past_kv: KVCache | StaticKV | None = None) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C).

        mask: bool, broadcastable to (B, n_heads, T, P + T) (P = 0 without ``past_kv``).
        is_causal: token t sees only keys up to its own position (bottom-right aligned with
            ``past_kv``; combined with ``mask`` by AND).
        past_kv: keys/values before the current tokens (see the module docstring).
        """
        if x.dim() != 3:
            raise ValueError(f"attention input must be (batch, seq_len, d_model), got shape {tuple(x.shape)}")
        q = split_heads(self.q_proj(x), self.n_heads)  # (B, nh, T, hs)
        k = split_heads(self.k_proj(x), self.n_heads)  # (B, nh, T, hs)
        v = split_heads(self.v_proj(x), self.n_heads)  # (B, nh, T, hs)
        if past_kv is not None:
            k, v = past_kv.extend(k, v)  # (B, nh, P + T, hs): earlier keys first
        if is_causal and (mask is not None or k.size(2) != q.size(2)):
            # SDPA takes a mask or is_causal, and its is_causal is top-left aligned: build the
            # bottom-right causal mask explicitly and AND it with the given one
            causal = causal_mask(q.size(2), k.size(2), x.device)
            mask = causal if mask is None else mask & causal
            is_causal = False
        # softmax(Q·Kᵀ/√d_k + M)·V, fused
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal
        )  # (B, nh, T, hs)
        return self.o_proj(merge_heads(y))  # (B, T, C)


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
    """The original Transformer / BERT / GPT-1 layer: the LayerNorm comes after each residual sum.

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
                past_kv: KVCache | StaticKV | None = None) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attn(x, mask=mask, is_causal=is_causal, past_kv=past_kv)))  # (B, T, C)
        return self.norm2(x + self.ffn(x))  # (B, T, C)


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

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False,
                past_kv: KVCache | StaticKV | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask=mask, is_causal=is_causal, past_kv=past_kv))  # (B, T, C)
        return x + self.ffn(self.norm2(x))  # (B, T, C)

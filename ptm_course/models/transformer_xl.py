"""Transformer-XL (Dai et al. 2019): relative positions and segment-level recurrence.

    cfg = TransformerXLConfig(vocab_size=4096, d_model=128, n_layers=4, n_heads=4, mem_len=64)
    model = TransformerXL(cfg)
    logits, mems = model(segment_1)                 # (B, T, V), one (B, M, d) memory per layer
    logits, mems = model(segment_2, mems=mems)      # segment 2 attends to segment 1's states

A vanilla Transformer language model reads text in fixed windows: the first token of a window
sees nothing of the window before (context fragmentation), and an absolute position embedding
says "position 0" for every window's first token. Transformer-XL keeps, per layer, the hidden
states of the last ``mem_len`` tokens it processed (the **memory**, detached: no gradient flows
into earlier segments) and lets the next segment attend to them. The segments must therefore be
read **in order** — the model is recurrent and serial across segments (循环+串行) while staying
parallel inside one.

Absolute positions cannot work with a memory (the memory's token 0 and the segment's token 0 would
share one position), so attention scores use the **relative distance** i − j instead
(section 3.3, eq. 4): with E_x the token's state, R the sinusoid embedding of a distance,

    A_ij = (W_q E_i + u)ᵀ W_k E_j   +   (W_q E_i + v)ᵀ W_r R_{i−j}
           (a)+(c): content               (b)+(d): position

u (``r_w_bias``) and v (``r_r_bias``) are learned per head and shared by all positions: a query
does not carry its own position any more, so "how much does any query like this key / this
distance" needs its own parameters. The position term is computed for every (query, distance)
pair and moved into (query, key) order by :func:`rel_shift`.

**The one mechanism.** Memory enters attention as keys and values before the current tokens,
through the same ``past_kv`` argument the KV cache and prefixes use
(:class:`~ptm_course.models.transformer.StaticKV`): each layer's memory states are projected by
that layer's own W_k, W_v and placed in front of the segment's keys and values. Projecting them
anew each time (rather than caching keys) is what the paper does: W_k and W_v are trained
through the memory positions too, while the states themselves stay detached.

The blocks are post-LN as in the paper's code (``pre_lnorm=False``) and reuse the shared
:class:`~ptm_course.models.transformer.FeedForward` and
:class:`~ptm_course.models.transformer.LayerNorm`; the attention is its own class,
:class:`RelativeMultiHeadAttention`, with no flag added to the shared blocks. XLNet
(:mod:`ptm_course.models.xlnet`) builds on the same attention.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .transformer import FeedForward, LayerNorm, StaticKV, causal_mask, merge_heads, split_heads

__all__ = [
    "MemoryLoss",
    "RelativeMultiHeadAttention",
    "TransformerXL",
    "TransformerXLConfig",
    "TransformerXLLayer",
    "evaluate_with_memory",
    "rel_shift",
    "rel_shift_reference",
    "relative_distances",
    "segment_recurrence_mask",
    "sinusoid_embedding",
    "update_memory",
]


# --------------------------------------------------------------------------------------------
# Relative positions
# --------------------------------------------------------------------------------------------


def relative_distances(k_len: int, q_len: int, bidirectional: bool = False,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """The distances i − j that the R matrix holds, largest first: (k_len − 1, ..., 0), or down to −(q_len − 1).

    The q_len queries are the last positions of the k_len keys (the first k_len − q_len keys are
    the memory). A causal model (Transformer-XL) only ever looks back: distances k_len − 1 .. 0.
    XLNet's content stream looks both ways: down to −(q_len − 1).

    >>> relative_distances(4, 2).tolist(), relative_distances(4, 2, bidirectional=True).tolist()
    ([3, 2, 1, 0], [3, 2, 1, 0, -1])
    """
    end = -(q_len - 1) if bidirectional else 0
    return torch.arange(k_len - 1, end - 1, -1, device=device)


def sinusoid_embedding(distances: torch.Tensor, d_model: int) -> torch.Tensor:
    """(R,) distances -> (R, d_model): [sin(d·ω_k), cos(d·ω_k)] with ω_k = 10000^(−2k/d_model).

    The Transformer's sinusoids (Vaswani et al. 2017), evaluated at a distance instead of an
    absolute position, in the layout of Transformer-XL's and XLNet's code (all sines, then all
    cosines). Fixed, not learned: a distance never seen in training still gets an embedding.
    """
    if d_model % 2:
        raise ValueError(f"sinusoid_embedding needs an even d_model, got {d_model}")
    inv_freq = 1.0 / 10000 ** (torch.arange(0, d_model, 2, device=distances.device).float() / d_model)
    angles = distances.float()[:, None] * inv_freq[None, :]  # (R, d/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (R, d)


def rel_shift(x: torch.Tensor) -> torch.Tensor:
    """(..., T_q, R) scores per (query, distance column) -> (..., T_q, R) per (query, key).

    Column c of ``x`` belongs to distance ``relative_distances(...)[c]``, largest first. Query i
    (the i-th of the last T_q positions) and key j are at distance (R_k − T_q) + i − j, which sits
    in column c = j + T_q − 1 − i: each row must move left by T_q − 1 − i places. The trick of
    the paper's code does all rows at once, without an index tensor: pad one zero column on the
    left, read the (T_q, R + 1) block as (R + 1, T_q), drop the first row, and read it back as
    (T_q, R). Result: ``out[..., i, j] = x[..., i, j + T_q − 1 − i]`` wherever that column exists;
    the other entries (the upper right, j > i + R − T_q) hold other rows' values and must be
    masked (causality hides them in Transformer-XL; XLNet keeps only the first k_len columns).

    >>> x = torch.arange(12.).view(3, 4)          # 3 queries, 4 distances (3, 2, 1, 0)
    >>> rel_shift(x)[torch.ones(3, 4).tril(1).bool()].tolist()
    [2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    """
    *lead, T_q, R = x.shape
    padded = F.pad(x, (1, 0))  # (..., T_q, R + 1): a zero column on the left
    padded = padded.reshape(*lead, R + 1, T_q)  # the same numbers, read in rows of T_q
    return padded[..., 1:, :].reshape(*lead, T_q, R)  # drop the first row, read back


def rel_shift_reference(x: torch.Tensor, k_len: int) -> torch.Tensor:
    """What :func:`rel_shift` computes, by index: out[..., i, j] = x[..., i, j + T_q − 1 − i] (0 where outside).

    (..., T_q, R) -> (..., T_q, k_len). Slow and obvious; for teaching and tests.
    """
    T_q, R = x.shape[-2:]
    i = torch.arange(T_q, device=x.device)[:, None]
    j = torch.arange(k_len, device=x.device)[None, :]
    col = j + T_q - 1 - i  # (T_q, k_len)
    inside = (col >= 0) & (col < R)
    out = x.gather(-1, col.clamp(0, R - 1).expand(*x.shape[:-1], k_len))
    return out * inside


# --------------------------------------------------------------------------------------------
# Attention with relative positions
# --------------------------------------------------------------------------------------------


class RelativeMultiHeadAttention(nn.Module):
    """Multi-head attention scored by content and relative distance (Dai et al. 2019, eq. 4).

    Five projections, each an ``nn.Linear`` without bias (``q_proj``, ``k_proj``, ``v_proj``,
    ``o_proj`` as in the shared attention — LoRA and adapters wrap them the same way — and
    ``r_proj``, W_r, for the distance embeddings), and the two global biases ``r_w_bias`` (u) and
    ``r_r_bias`` (v), one d_head vector per head.
    """

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.r_proj = nn.Linear(d_model, d_model, bias=False)  # W_{k,R}: distance embedding -> key
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        self.r_w_bias = nn.Parameter(torch.zeros(n_heads, self.d_head))  # u: content bias
        self.r_r_bias = nn.Parameter(torch.zeros(n_heads, self.d_head))  # v: position bias
        self.drop = nn.Dropout(attn_dropout)

    def memory_kv(self, mem: torch.Tensor) -> StaticKV:
        """Memory states (B, M, d) -> their keys and values under this layer's W_k, W_v (for ``past_kv``)."""
        return StaticKV(split_heads(self.k_proj(mem), self.n_heads), split_heads(self.v_proj(mem), self.n_heads))

    def keys_values(self, x: torch.Tensor, past_kv: StaticKV | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (B, nh, P + T, hs) of the P earlier entries and the T tokens of x."""
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        return (k, v) if past_kv is None else past_kv.extend(k, v)

    def scores(self, q: torch.Tensor, k: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Unscaled scores (B, nh, T_q, K): content (q + u)·k plus position (q + v)·W_r R, shifted.

        q (B, nh, T_q, hs), k (B, nh, K, hs), r (R, d): the distance embeddings, R ≥ K, largest
        distance first (:func:`relative_distances`).
        """
        K = k.size(2)
        r_k = self.r_proj(r).view(-1, self.n_heads, self.d_head).transpose(0, 1)  # (nh, R, hs)
        content = (q + self.r_w_bias[:, None]) @ k.transpose(-2, -1)  # (B, nh, T_q, K): terms (a) + (c)
        position = (q + self.r_r_bias[:, None]) @ r_k.transpose(-2, -1)  # (B, nh, T_q, R): (b) + (d)
        return content + rel_shift(position)[..., :K]  # position moved from distance to key order

    def attend(self, scores: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """softmax(scores/√d_head, masked)·V, heads merged and projected: (B, T_q, d).

        mask: bool broadcastable to the scores, True = may attend. A row with nothing visible
        gets uniform weights (never NaN), as in the reference code.
        """
        scores = scores / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = self.drop(scores.softmax(dim=-1))
        return self.o_proj(merge_heads(weights @ v))

    def forward(self, x: torch.Tensor, r: torch.Tensor, mask: torch.Tensor | None = None,
                past_kv: StaticKV | None = None) -> torch.Tensor:
        """x (B, T, d), r (R, d) distance embeddings -> (B, T, d). mask: True = may attend, (…, T, P + T)."""
        if x.dim() != 3:
            raise ValueError(f"attention input must be (batch, seq_len, d_model), got shape {tuple(x.shape)}")
        q = split_heads(self.q_proj(x), self.n_heads)  # (B, nh, T, hs)
        k, v = self.keys_values(x, past_kv)  # (B, nh, P + T, hs)
        return self.attend(self.scores(q, k, r), v, mask)


class TransformerXLLayer(nn.Module):
    """One post-LN layer: h = LN(x + Attn_rel(x, memory)); out = LN(h + FFN(h))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, attn_dropout: float = 0.0,
                 activation: str = "relu", norm_eps: float = 1e-5):
        super().__init__()
        self.attn = RelativeMultiHeadAttention(d_model, n_heads, attn_dropout)
        self.drop = nn.Dropout(dropout)
        self.norm1 = LayerNorm(d_model, eps=norm_eps)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, dropout=dropout)
        self.norm2 = LayerNorm(d_model, eps=norm_eps)

    def forward(self, x: torch.Tensor, r: torch.Tensor, mask: torch.Tensor | None = None,
                mem: torch.Tensor | None = None) -> torch.Tensor:
        past_kv = None if mem is None else self.attn.memory_kv(mem)  # memory: keys/values before x
        x = self.norm1(x + self.drop(self.attn(x, r, mask=mask, past_kv=past_kv)))
        return self.norm2(x + self.ffn(x))


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass
class TransformerXLConfig:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None  # default 4·d_model
    mem_len: int = 64  # states kept per layer for the next segment (0: a vanilla segment model)
    dropout: float = 0.0
    attn_dropout: float = 0.0
    activation: str = "relu"  # the paper's code uses ReLU
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        for name in ("vocab_size", "d_model", "n_layers", "n_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TransformerXLConfig.{name} must be positive, got {getattr(self, name)}")
        if self.mem_len < 0:
            raise ValueError(f"TransformerXLConfig.mem_len must be ≥ 0, got {self.mem_len}")
        if self.d_model % self.n_heads or self.d_model % 2:
            raise ValueError(f"d_model ({self.d_model}) must be even and divisible by n_heads ({self.n_heads})")

    @classmethod
    def tiny(cls, vocab_size: int = 64, **kw) -> "TransformerXLConfig":
        return cls(**{**dict(vocab_size=vocab_size, d_model=32, n_layers=2, n_heads=2, mem_len=8), **kw})

    def to_dict(self) -> dict:
        return asdict(self)


def update_memory(mem: torch.Tensor | None, h: torch.Tensor, mem_len: int) -> torch.Tensor | None:
    """The next segment's memory: the last ``mem_len`` states of [memory; this segment], detached.

    Detached: the next segment reads these states, but no gradient flows back into the segment
    that made them (the paper's stop-gradient, SG(·) in eq. 2). ``mem_len = 0`` keeps nothing.
    """
    if mem_len == 0:
        return None
    both = h if mem is None else torch.cat([mem, h], dim=1)  # (B, M + T, d)
    return both[:, -mem_len:].detach()


class TransformerXL(nn.Module):
    """Transformer-XL language model: ``model(ids, mems) -> (logits (B, T, V), new mems)``.

    Token embeddings (no position embedding: positions enter every layer's attention as
    distances) → n_layers :class:`TransformerXLLayer` → an output layer tied to the embeddings.
    ``mems`` is a list with one (B, M, d) tensor per layer: the inputs that layer saw in the
    last M tokens before this segment.
    """

    def __init__(self, cfg: TransformerXLConfig):
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            TransformerXLLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.attn_dropout, cfg.activation,
                               cfg.norm_eps)
            for _ in range(cfg.n_layers)
        )
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.lm_head.weight = self.embed.weight  # tied, as in the paper's code
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.init_std
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, RelativeMultiHeadAttention):
            nn.init.normal_(module.r_w_bias, std=std)
            nn.init.normal_(module.r_r_bias, std=std)

    def forward(self, input_ids: torch.Tensor, mems: Sequence[torch.Tensor] | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """(B, T) ids and the memory of the previous segment -> logits (B, T, V) and the new memory.

        mask: optional extra bool mask (T, M + T) or (B, 1, T, M + T), True = may attend, ANDed
            with causality (:func:`segment_recurrence_mask` uses it to replay recurrence in one pass).
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if mems is not None and len(mems) != len(self.layers):
            raise ValueError(f"mems needs one tensor per layer ({len(self.layers)}), got {len(mems)}")
        if mems is not None and mems[0].size(0) != B:
            raise ValueError(f"the memory holds {mems[0].size(0)} streams but the segment has {B} rows: "
                             "keep the batch size fixed across segments (or start again with mems=None)")
        M = 0 if mems is None else mems[0].size(1)
        visible = causal_mask(T, M + T, input_ids.device)  # query i (position M + i) sees keys 0..M + i
        if mask is not None:
            visible = visible & mask
        r = self.drop(sinusoid_embedding(relative_distances(M + T, T, device=input_ids.device), self.config.d_model))
        h = self.drop(self.embed(input_ids))  # (B, T, d)
        new_mems = []
        for i, layer in enumerate(self.layers):
            mem = None if mems is None else mems[i]
            new_mems.append(update_memory(mem, h, self.config.mem_len))  # this layer's input, for next time
            h = layer(h, r.to(h.dtype), mask=visible, mem=mem)
        logits = self.lm_head(self.drop(h))
        return logits, (None if self.config.mem_len == 0 else new_mems)


def segment_recurrence_mask(n_segments: int, seg_len: int, mem_len: int,
                            device: torch.device | str | None = None) -> torch.Tensor:
    """(L, L) bool, L = n_segments·seg_len: what segment-by-segment reading with memory lets each token see.

    Token p of segment s = p // seg_len sees keys j with s·seg_len − mem_len ≤ j ≤ p: its own
    segment up to itself and the last mem_len tokens before the segment. One pass of
    :class:`TransformerXL` over the whole text with this mask gives the same outputs as reading
    the segments one after another with memory (memory = recompute).
    """
    L = n_segments * seg_len
    p = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    start = (p // seg_len) * seg_len
    return (j <= p) & (j >= start - mem_len)


# --------------------------------------------------------------------------------------------
# Training and evaluation, segment after segment
# --------------------------------------------------------------------------------------------


class MemoryLoss:
    """``loss_fn(model, batch)`` for :func:`ptm_course.train.fit` that carries the memory.

    For :class:`~ptm_course.encoders.BPTTBatches` batches: row b of batch k + 1 continues row b
    of batch k, so the memory left by one batch is the right context for the next. It starts
    empty when ``batch.reset`` is true (a new pass over the text). Returns (mean cross-entropy,
    {"ppl": exp(loss)}).
    """

    def __init__(self) -> None:
        self.mems: list[torch.Tensor] | None = None

    def __call__(self, model: TransformerXL, batch):
        x, y, reset = batch
        if reset or (self.mems is not None and self.mems[0].size(0) != x.size(0)):
            self.mems = None
        logits, self.mems = model(x, self.mems)  # update_memory detached them already
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
        return loss, {"ppl": torch.exp(loss.detach())}


def _segments(ids: torch.Tensor, batch_size: int, seg_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from ..encoders import BPTTBatches

    for x, y, _ in BPTTBatches(ids, batch_size, seg_len):
        yield x, y


@torch.no_grad()
def evaluate_with_memory(model: TransformerXL, ids: torch.Tensor, seg_len: int, mem_len: int | None = None,
                         batch_size: int = 8) -> float:
    """Mean NLL per token (nats) of a stream, read in segments of ``seg_len`` with ``mem_len`` memory.

    ``mem_len`` overrides the model's own for this evaluation (0: every segment starts blind —
    a vanilla Transformer's view of the text). Relative positions let a model trained with
    one memory length be evaluated with a longer one.
    """
    was_training, old_mem = model.training, model.config.mem_len
    if mem_len is not None:
        if mem_len < 0:
            raise ValueError(f"mem_len must be ≥ 0, got {mem_len}")
        model.config.mem_len = mem_len
    model.eval()
    device = next(model.parameters()).device
    mems, total, count = None, 0.0, 0
    try:
        for x, y in _segments(torch.as_tensor(ids), batch_size, seg_len):
            logits, mems = model(x.to(device), mems)
            total += float(F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), reduction="sum"))
            count += y.numel()
    finally:
        model.config.mem_len = old_mem
        model.train(was_training)
    return total / count

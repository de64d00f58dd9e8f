"""XLNet (Yang et al. 2019): the permutation language model with two-stream attention.

    cfg = XLNetConfig(vocab_size=4096, d_model=128, n_layers=4, n_heads=4)
    model = XLNetLMHeadModel(cfg)
    batch = permutation_batch(input_ids, K=6)          # an order, perm_mask, target_mapping, labels
    loss, metrics = xlnet_loss(model, batch)           # for ptm_course.train.fit

BERT predicts masked tokens independently of each other and sees [MASK] symbols that never
occur at fine-tuning time; GPT sees only the left context. XLNet keeps the autoregressive
product rule but over a **random factorisation order** z of the positions:

    log p(x) = Σ_t log p(x_{z_t} | x_{z_<t})

so in expectation over orders every token is predicted from context on both sides, and the
tokens predicted together depend on each other. Only the attention masks change — the text
keeps its order and its relative positions:

* ``perm_mask[b, i, j] = 1`` means position i may **not** attend to position j: j comes at or
  after i in the order (Hugging Face's and the paper code's convention). See :func:`permutation_masks`.
* **Partial prediction**: only the last n/K positions of the order are targets (K ≈ 6); the
  others come first, see each other freely and are never predicted, so each target has a
  long context. ``target_mapping[b, m, j] = 1`` marks target m's position j.
* **Two streams**: to predict x_{z_t} the model must know *where* it predicts but not *what* is
  there. The content stream h (every position) sees itself, as in a normal Transformer; the
  query stream g (targets only) starts from one learned vector, ``mask_emb``, and attends to
  the content of the positions before it in the order — never to its own. Both streams share
  every weight; the query stream's last layer feeds the output layer.
* **Relative segment encodings**: whether two tokens are in the same segment is a learned per-head
  bias (``seg_embed``, with its own global bias ``r_s_bias``), not an absolute segment embedding.
* The backbone is Transformer-XL's (:mod:`ptm_course.models.transformer_xl`): relative
  positions (here looking both ways) and a memory entering attention as earlier keys/values.

Hugging Face interop: :func:`load_hf_xlnet_weights` copies an ``XLNetLMHeadModel`` (or, for a
:class:`~ptm_course.models.transformer_xl.TransformerXL`, one built with ``attn_type="uni"``) into
the course's modules; HF keeps q, k, v, o, r as einsum tensors (d_model, n_head, d_head).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .transformer import FeedForward, LayerNorm, StaticKV, split_heads
from .transformer_xl import (
    RelativeMultiHeadAttention,
    TransformerXL,
    relative_distances,
    sinusoid_embedding,
    update_memory,
)

__all__ = [
    "TwoStreamAttention",
    "XLNetConfig",
    "XLNetLMHeadModel",
    "XLNetLayer",
    "XLNetModel",
    "content_stream_mask",
    "load_hf_xlnet_weights",
    "permutation_batch",
    "permutation_masks",
    "query_stream_mask",
    "sample_order",
    "score_targets",
    "target_masks",
    "xlnet_loss",
]


# --------------------------------------------------------------------------------------------
# Factorisation orders and the masks they give
# --------------------------------------------------------------------------------------------


def sample_order(seq_len: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random factorisation order: a permutation z of 0..seq_len − 1 (z[t] = the t-th position predicted)."""
    return torch.randperm(seq_len, generator=generator)


def permutation_masks(order: torch.Tensor, n_predict: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(perm_mask (T, T) bool, target_mapping (n_predict, T) float) for one order (T,).

    The targets are the last ``n_predict`` positions of the order (partial prediction). Rank a
    target by its place in the order and every non-target by −1 (they all come first, together);
    then ``perm_mask[i, j] = True`` (i may NOT attend to j) iff j is a target whose rank is ≥ i's:

    * a non-target sees every non-target and no target;
    * a target sees the non-targets and the targets before it in the order, not itself
      (in the query stream; the content stream adds itself back, :func:`content_stream_mask`).

    ``target_mapping`` lists the targets by position (row m is one-hot at target m's position).

    >>> pm, tm = permutation_masks(torch.tensor([2, 0, 3, 1]), n_predict=2)   # targets: 3, then 1
    >>> pm.int().tolist(), tm.argmax(-1).tolist()
    ([[0, 1, 0, 1], [0, 1, 0, 0], [0, 1, 0, 1], [0, 1, 0, 1]], [1, 3])
    """
    T = order.numel()
    if not 1 <= n_predict < T:
        raise ValueError(f"n_predict must be in 1..seq_len − 1 = {T - 1} (something must stay visible), got {n_predict}")
    rank = torch.empty(T, dtype=torch.long)
    rank[order] = torch.arange(T)  # rank[position] = its place in the order
    is_target = rank >= T - n_predict
    rank = torch.where(is_target, rank, torch.full_like(rank, -1))  # non-targets: all first, together
    perm_mask = is_target[None, :] & (rank[None, :] >= rank[:, None])  # (T, T): [i, j] = i may not see j
    targets = is_target.nonzero().flatten()  # by position
    target_mapping = F.one_hot(targets, T).float()  # (n_predict, T)
    return perm_mask, target_mapping


def query_stream_mask(perm_mask: torch.Tensor) -> torch.Tensor:
    """Who the query stream g may attend to (True = may): the complement of ``perm_mask``."""
    return ~perm_mask.bool()


def content_stream_mask(perm_mask: torch.Tensor) -> torch.Tensor:
    """Who the content stream h may attend to: the query stream's view plus each position itself."""
    T = perm_mask.size(-1)
    return ~perm_mask.bool() | torch.eye(T, dtype=torch.bool, device=perm_mask.device)


def target_masks(seq_len: int, targets: torch.Tensor, in_order: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(perm_mask (T, T) bool, target_mapping (n, T)) that predict the given positions, for evaluation.

    ``in_order=True``: the non-targets come first, then the targets left to right, so each
    target also sees the targets before it — the log-probabilities add up to the joint
    log p(targets | rest) by the chain rule. ``in_order=False``: every target sees the
    non-targets only, none of the other targets — the information BERT has when the same
    positions are [MASK]ed (each target predicted on its own).

    >>> pm, tm = target_masks(4, torch.tensor([3, 1]), in_order=False)
    >>> pm.int().tolist(), tm.argmax(-1).tolist()
    ([[0, 1, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1]], [1, 3])
    """
    targets = torch.as_tensor(targets, dtype=torch.long).flatten().sort().values
    is_target = torch.zeros(seq_len, dtype=torch.bool)
    is_target[targets] = True
    n = int(is_target.sum())
    if n != targets.numel() or not 1 <= n < seq_len:
        raise ValueError(f"targets must be 1..{seq_len - 1} distinct positions in 0..{seq_len - 1}, got {targets.tolist()}")
    if in_order:
        return permutation_masks(torch.cat([(~is_target).nonzero().flatten(), targets]), n)
    return is_target[None, :].expand(seq_len, seq_len).clone(), F.one_hot(targets, seq_len).float()


@torch.no_grad()
def score_targets(model: "XLNetLMHeadModel", input_ids: torch.Tensor, targets: torch.Tensor,
                  in_order: bool = True) -> torch.Tensor:
    """log p of the true token at each target, (B, n): targets (B, n) positions per row, sorted per row.

    See :func:`target_masks` for what ``in_order`` lets each target see.
    """
    if input_ids.dim() != 2 or targets.dim() != 2 or targets.size(0) != input_ids.size(0):
        raise ValueError(f"input_ids (B, T) and targets (B, n) with the same B, got {tuple(input_ids.shape)} "
                         f"and {tuple(targets.shape)}")
    T = input_ids.size(1)
    masks = [target_masks(T, t.cpu(), in_order) for t in targets]
    dev = input_ids.device
    perm_mask = torch.stack([m[0] for m in masks]).float().to(dev)
    target_mapping = torch.stack([m[1] for m in masks]).to(dev)
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(input_ids, perm_mask, target_mapping)
    finally:
        model.train(was_training)
    labels = input_ids.gather(1, targets.sort(dim=1).values.to(dev))  # target_mapping lists them by position
    return logits.float().log_softmax(-1).gather(-1, labels[..., None]).squeeze(-1)


def permutation_batch(input_ids: torch.Tensor, K: int = 6, generator: torch.Generator | None = None) -> dict:
    """A batch for :func:`xlnet_loss`: one random order per row, the last T // K positions of it predicted.

    Returns ``input_ids``, ``perm_mask`` (B, T, T) float (1 = may not attend), ``target_mapping``
    (B, n, T) float, ``labels`` (B, n) (the tokens at the targets) and ``order`` (B, T).
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
    B, T = input_ids.shape
    if K < 2 or T // K < 1:
        raise ValueError(f"K must be ≥ 2 and seq_len ≥ K (T // K targets per row), got K={K}, seq_len={T}")
    n = T // K
    orders, masks, maps = [], [], []
    for _ in range(B):
        order = sample_order(T, generator)
        pm, tm = permutation_masks(order, n)
        orders.append(order), masks.append(pm), maps.append(tm)
    target_mapping = torch.stack(maps)  # (B, n, T)
    labels = (target_mapping @ input_ids.cpu()[:, :, None].float()).squeeze(-1).round().long()  # (B, n)
    return {"input_ids": input_ids, "perm_mask": torch.stack(masks).float(), "target_mapping": target_mapping,
            "labels": labels.to(input_ids.device), "order": torch.stack(orders)}


# --------------------------------------------------------------------------------------------
# Two-stream attention
# --------------------------------------------------------------------------------------------


class TwoStreamAttention(RelativeMultiHeadAttention):
    """Transformer-XL's relative attention, run for two query streams over one set of keys/values.

    Keys and values come from the content stream h (and the memory) only. The content stream's
    queries are h; the query stream's are g. Adds the relative segment term
    (q + b_s)·s_ij, s_ij = ``seg_embed[0 or 1]`` for same / different segment.
    """

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float = 0.0):
        super().__init__(d_model, n_heads, attn_dropout)
        self.r_s_bias = nn.Parameter(torch.zeros(n_heads, self.d_head))  # b: segment bias
        self.seg_embed = nn.Parameter(torch.zeros(2, n_heads, self.d_head))  # s_+ (same), s_- (different)

    def segment_scores(self, q: torch.Tensor, seg_diff: torch.Tensor) -> torch.Tensor:
        """(q + b)·s_ij: q (B, nh, T_q, hs), seg_diff (B, T_q, K) bool -> (B, nh, T_q, K)."""
        e = (q + self.r_s_bias[:, None]) @ self.seg_embed.permute(1, 2, 0)  # (B, nh, T_q, 2)
        return torch.where(seg_diff[:, None], e[..., 1:2], e[..., 0:1])

    def _stream(self, x_q: torch.Tensor, k, v, r, mask, seg_diff, target_mapping=None) -> torch.Tensor:
        q = split_heads(self.q_proj(x_q), self.n_heads)  # (B, nh, T_q, hs)
        if target_mapping is not None:  # put target m's query at its position: (B, nh, T, hs)
            q = target_mapping.transpose(1, 2)[:, None].to(q.dtype) @ q
        s = self.scores(q, k, r)
        if seg_diff is not None:
            s = s + self.segment_scores(q, seg_diff)
        out = self.attend(s, v, mask)  # (B, T, d)
        if target_mapping is not None:  # and read the targets' rows back: (B, n, d)
            out = target_mapping.to(out.dtype) @ out
        return out

    def forward(self, h: torch.Tensor, g: torch.Tensor | None, r: torch.Tensor, mask_h=None, mask_g=None,
                seg_diff: torch.Tensor | None = None, past_kv: StaticKV | None = None,
                target_mapping: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        k, v = self.keys_values(h, past_kv)  # (B, nh, M + T, hs): content only
        out_h = self._stream(h, k, v, r, mask_h, seg_diff)
        out_g = None if g is None else self._stream(g, k, v, r, mask_g, seg_diff, target_mapping)
        return out_h, out_g


class XLNetLayer(nn.Module):
    """One post-LN layer applied to both streams with the same weights."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, attn_dropout: float = 0.0,
                 activation: str = "gelu", norm_eps: float = 1e-12):
        super().__init__()
        self.attn = TwoStreamAttention(d_model, n_heads, attn_dropout)
        self.drop = nn.Dropout(dropout)
        self.norm1 = LayerNorm(d_model, eps=norm_eps)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, dropout=dropout)
        self.norm2 = LayerNorm(d_model, eps=norm_eps)

    def _post(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(a))
        return self.norm2(x + self.ffn(x))

    def forward(self, h, g, r, mask_h=None, mask_g=None, seg_diff=None, mem=None, target_mapping=None):
        past_kv = None if mem is None else self.attn.memory_kv(mem)
        a_h, a_g = self.attn(h, g, r, mask_h, mask_g, seg_diff, past_kv, target_mapping)
        return self._post(h, a_h), (None if g is None else self._post(g, a_g))


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass
class XLNetConfig:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None  # default 4·d_model
    mem_len: int = 0  # states kept per layer for the next segment (0: none)
    dropout: float = 0.0
    attn_dropout: float = 0.0
    activation: str = "gelu"
    norm_eps: float = 1e-12
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        for name in ("vocab_size", "d_model", "n_layers", "n_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"XLNetConfig.{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_heads or self.d_model % 2:
            raise ValueError(f"d_model ({self.d_model}) must be even and divisible by n_heads ({self.n_heads})")

    @classmethod
    def tiny(cls, vocab_size: int = 64, **kw) -> "XLNetConfig":
        return cls(**{**dict(vocab_size=vocab_size, d_model=32, n_layers=2, n_heads=2), **kw})

    def to_dict(self) -> dict:
        return asdict(self)


class XLNetModel(nn.Module):
    """The two-stream encoder: ``model(ids, perm_mask, target_mapping, ...) -> (states, new mems)``.

    Returns the query stream's last states (B, n, d) when ``target_mapping`` is given, else the
    content stream's (B, T, d) (fine-tuning reads those).
    """

    def __init__(self, cfg: XLNetConfig):
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.mask_emb = nn.Parameter(torch.zeros(cfg.d_model))  # the query stream's start: "a token here"
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            XLNetLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.attn_dropout, cfg.activation, cfg.norm_eps)
            for _ in range(cfg.n_layers)
        )

    def forward(self, input_ids: torch.Tensor, perm_mask: torch.Tensor | None = None,
                target_mapping: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                mems: Sequence[torch.Tensor] | None = None):
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        dev = input_ids.device
        if perm_mask is not None and perm_mask.shape != (B, T, T):
            raise ValueError(f"perm_mask must be (batch, seq_len, seq_len) = {(B, T, T)}, got {tuple(perm_mask.shape)}")
        if target_mapping is not None and (target_mapping.dim() != 3 or target_mapping.shape[0] != B
                                           or target_mapping.shape[2] != T):
            raise ValueError(f"target_mapping must be (batch={B}, n_predict, seq_len={T}), "
                             f"got {tuple(target_mapping.shape)}")
        if mems is not None and len(mems) != len(self.layers):
            raise ValueError(f"mems needs one tensor per layer ({len(self.layers)}), got {len(mems)}")
        M = 0 if mems is None else mems[0].size(1)
        # masks, True = may attend; the memory is visible to every query
        mask_h = mask_g = None
        if perm_mask is not None:
            see_mem = torch.ones(B, T, M, dtype=torch.bool, device=dev)
            mask_g = torch.cat([see_mem, query_stream_mask(perm_mask > 0.5)], dim=-1)[:, None]  # (B, 1, T, M + T)
            mask_h = torch.cat([see_mem, content_stream_mask(perm_mask > 0.5)], dim=-1)[:, None]
        seg_diff = None
        if token_type_ids is not None:  # memory counts as segment 0, as in the reference code
            keys_seg = torch.cat([token_type_ids.new_zeros(B, M), token_type_ids], dim=1)
            seg_diff = token_type_ids[:, :, None] != keys_seg[:, None, :]  # (B, T, M + T)
        r = self.drop(sinusoid_embedding(relative_distances(M + T, T, bidirectional=True, device=dev),
                                         self.config.d_model))
        h = self.drop(self.embed(input_ids))
        g = None
        if target_mapping is not None:
            g = self.drop(self.mask_emb.to(h.dtype).expand(B, target_mapping.size(1), -1))  # (B, n, d)
        new_mems = []
        for i, layer in enumerate(self.layers):
            mem = None if mems is None else mems[i]
            new_mems.append(update_memory(mem, h, self.config.mem_len))
            h, g = layer(h, g, r.to(h.dtype), mask_h, mask_g, seg_diff, mem, target_mapping)
        out = self.drop(h if g is None else g)
        return out, (None if self.config.mem_len == 0 else new_mems)


class XLNetLMHeadModel(nn.Module):
    """XLNet with the output layer tied to the token embeddings: ``(logits, new mems)``.

    With ``target_mapping``: logits (B, n, V) for the n targets, from the query stream.
    """

    def __init__(self, cfg: XLNetConfig):
        super().__init__()
        self.config = cfg
        self.transformer = XLNetModel(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.lm_head.weight = self.transformer.embed.weight
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.init_std
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, TwoStreamAttention):
            for p in (module.r_w_bias, module.r_r_bias, module.r_s_bias, module.seg_embed):
                nn.init.normal_(p, std=std)
        if isinstance(module, XLNetModel):
            nn.init.normal_(module.mask_emb, std=std)

    def forward(self, input_ids, perm_mask=None, target_mapping=None, token_type_ids=None, mems=None):
        out, new_mems = self.transformer(input_ids, perm_mask, target_mapping, token_type_ids, mems)
        return self.lm_head(out), new_mems


def xlnet_loss(model: XLNetLMHeadModel, batch: Mapping[str, torch.Tensor]):
    """Cross-entropy of the targets of a :func:`permutation_batch`; metrics: ``acc`` (top-1 on the targets)."""
    logits, _ = model(batch["input_ids"], batch["perm_mask"], batch["target_mapping"], batch.get("token_type_ids"))
    labels = batch["labels"]
    loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten())
    acc = (logits.argmax(-1) == labels).float().mean()
    return loss, {"acc": acc}


# --------------------------------------------------------------------------------------------
# Hugging Face interop
# --------------------------------------------------------------------------------------------


def load_hf_xlnet_weights(model: XLNetLMHeadModel | TransformerXL,
                          hf_state_dict: Mapping[str, torch.Tensor]) -> XLNetLMHeadModel | TransformerXL:
    """Copy a Hugging Face ``XLNetLMHeadModel`` state dict into the course's model (in place).

    HF keeps q, k, v, r as (d_model, n_head, d_head) tensors used as ``einsum("ibh,hnd->ibnd")``:
    the ``nn.Linear`` weight (out, in) is that tensor reshaped to (d_model, n_head·d_head) and
    transposed. ``o`` is used as ``einsum("ibnd,hnd->ibh")``: reshaped, not transposed. A
    :class:`~ptm_course.models.transformer_xl.TransformerXL` takes the weights of an XLNet built
    with ``attn_type="uni"`` (the same layer without the segment term and the query stream).
    """
    sd = {k: v.detach() for k, v in hf_state_dict.items()}
    is_xlnet = isinstance(model, XLNetLMHeadModel)
    core = model.transformer if is_xlnet else model
    d = core.embed.weight.size(1)
    expected_layers = sum(1 for k in sd if k.endswith(".rel_attn.q"))
    if expected_layers != len(core.layers):
        raise ValueError(f"the state dict has {expected_layers} XLNet layers, the model {len(core.layers)}")
    with torch.no_grad():
        core.embed.weight.copy_(sd["transformer.word_embedding.weight"])
        if is_xlnet:
            core.mask_emb.copy_(sd["transformer.mask_emb"].reshape(d))
        model.lm_head.bias.copy_(sd["lm_loss.bias"])
        for i, layer in enumerate(core.layers):
            p = f"transformer.layer.{i}."
            a = layer.attn
            for name in ("q", "k", "v", "r"):
                getattr(a, f"{name}_proj").weight.copy_(sd[p + f"rel_attn.{name}"].reshape(d, -1).T)
            a.o_proj.weight.copy_(sd[p + "rel_attn.o"].reshape(d, -1))
            a.r_w_bias.copy_(sd[p + "rel_attn.r_w_bias"])
            a.r_r_bias.copy_(sd[p + "rel_attn.r_r_bias"])
            if is_xlnet:
                a.r_s_bias.copy_(sd[p + "rel_attn.r_s_bias"])
                a.seg_embed.copy_(sd[p + "rel_attn.seg_embed"])
            for ours, theirs in ((layer.norm1, "rel_attn.layer_norm"), (layer.norm2, "ff.layer_norm"),
                                 (layer.ffn.fc1, "ff.layer_1"), (layer.ffn.fc2, "ff.layer_2")):
                ours.weight.copy_(sd[p + theirs + ".weight"])
                ours.bias.copy_(sd[p + theirs + ".bias"])
    return model

"""The shared Transformer blocks compose: wrapped projections, extra keys/values, explicit masks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ptm_course.models.bert import BertConfig, BertForPreTraining, BertModel, mlm_loss
from ptm_course.models.transformer import (
    KVCache,
    MultiHeadAttention,
    PostLNBlock,
    PreLNBlock,
    StaticKV,
    attention_reference,
    causal_mask,
    merge_heads,
    split_heads,
)


class ZeroDelta(nn.Module):
    """A LoRA-shaped wrapper: base(x) + B·A·x with B = 0 at the start, so it changes nothing until trained."""

    def __init__(self, base: nn.Linear, r: int = 2):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.randn(r, base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.base(x) + x @ self.a.T @ self.b.T


def _wrap(model: nn.Module, names=("q_proj", "k_proj", "v_proj", "o_proj")) -> list[ZeroDelta]:
    wrappers = []
    for attn in [m for m in model.modules() if isinstance(m, MultiHeadAttention)]:
        for name in names:
            w = ZeroDelta(getattr(attn, name))
            setattr(attn, name, w)
            wrappers.append(w)
    return wrappers


def test_causal_mask_is_bottom_right_aligned():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(1, 4).int().tolist() == [[1, 1, 1, 1]]  # one new token sees every cached one
    assert causal_mask(2, 5).int().tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    with pytest.raises(ValueError, match="cannot be the last positions"):
        causal_mask(4, 2)


def test_sdpa_is_causal_is_top_left_aligned_which_is_why_attention_builds_the_mask():
    """The classic cache bug, shown: SDPA's is_causal with T_q < T_k hides the cached keys."""
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 1, 1, 4), torch.randn(1, 1, 5, 4), torch.randn(1, 1, 5, 4)
    top_left = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(top_left, v[:, :, :1], atol=1e-6)  # the new token saw key 0 only
    right = attention_reference(q, k, v, causal_mask(1, 5))
    assert not torch.allclose(top_left, right, atol=1e-3)


@pytest.mark.parametrize("block_cls", [PreLNBlock, PostLNBlock])
def test_kv_cache_one_token_at_a_time_equals_recompute(block_cls):
    torch.manual_seed(0)
    block = block_cls(16, 4, 32, dropout=0.0, attn_dropout=0.0).eval()
    x = torch.randn(2, 7, 16)
    full = block(x, is_causal=True)
    cache = KVCache()
    steps = [block(x[:, :3], is_causal=True, past_kv=cache)]  # a prompt of 3, then 4 single tokens
    for t in range(3, 7):
        steps.append(block(x[:, t:t + 1], is_causal=True, past_kv=cache))
    assert len(cache) == 7
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


def test_static_kv_is_the_same_as_prepending_keys_and_values():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(3, 5, 16)
    pk, pv = torch.randn(4, 2, 4), torch.randn(4, 2, 4)  # (n_heads, P=2, d_head), shared by the batch
    y = attn(x, past_kv=StaticKV(pk, pv))
    q, k, v = (split_heads(p(x), 4) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    k = torch.cat([pk.expand(3, -1, -1, -1), k], 2)
    v = torch.cat([pv.expand(3, -1, -1, -1), v], 2)
    ref = attn.o_proj(merge_heads(attention_reference(q, k, v)))
    assert torch.allclose(y, ref, atol=1e-5)
    # causal with a prefix: every query sees the whole prefix, then keys up to itself
    yc = attn(x, is_causal=True, past_kv=StaticKV(pk, pv))
    refc = attn.o_proj(merge_heads(attention_reference(q, k, v, causal_mask(5, 7))))
    assert torch.allclose(yc, refc, atol=1e-5)
    with pytest.raises(ValueError, match="StaticKV needs"):
        StaticKV(pk, pv[:, :1])


def test_attention_rejects_a_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(batch, seq_len, d_model\)"):
        MultiHeadAttention(16, 4)(torch.randn(5, 16))


def test_a_wrapped_projection_is_used_everywhere_in_bert():
    """Swap every projection for a zero-initialised wrapper: same outputs (the full pass and the
    last-layer-at-the-masked-positions pass), and once the wrapper changes, both paths change."""
    torch.manual_seed(0)
    cfg = BertConfig.tiny(vocab_size=50, max_len=32, dropout=0.0, attn_dropout=0.0)
    model = BertModel(cfg).eval()
    ids = torch.randint(5, 50, (2, 9))
    pos = torch.tensor([[1, 4], [2, 8]])
    ref_full, _ = model(ids)
    ref_part, _ = model(ids, output_positions=pos)
    wrappers = _wrap(model)
    full, _ = model(ids)
    part, _ = model(ids, output_positions=pos)
    assert torch.allclose(full, ref_full, atol=1e-6) and torch.allclose(part, ref_part, atol=1e-6)
    assert all(w.calls > 0 for w in wrappers)
    last = wrappers[-4:]  # the last layer's four projections: the output_positions path calls them
    with torch.no_grad():
        for w in last:
            w.b.normal_()
    full2, _ = model(ids)
    part2, _ = model(ids, output_positions=pos)
    assert not torch.allclose(part2, ref_part, atol=1e-3)
    assert torch.allclose(part2, full2.gather(1, pos[:, :, None].expand(-1, -1, cfg.d_model)), atol=1e-5)


def test_a_wrapped_projection_trains_while_the_base_is_frozen():
    torch.manual_seed(0)
    cfg = BertConfig.tiny(vocab_size=50, max_len=32)
    model = BertForPreTraining(cfg)
    for p in model.parameters():
        p.requires_grad_(False)
    wrappers = _wrap(model, names=("q_proj", "v_proj"))
    ids = torch.randint(5, 50, (2, 9))
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    loss, _ = mlm_loss(model, {"input_ids": ids, "mlm_labels": labels})
    loss.backward()
    assert all(w.b.grad is not None and w.b.grad.abs().sum() > 0 for w in wrappers)
    assert all(p.grad is None for n, p in model.named_parameters() if not n.endswith((".a", ".b")))

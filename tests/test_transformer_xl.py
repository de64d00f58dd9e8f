"""Transformer-XL: rel_shift, relative attention by its formula, memory = recompute, causality,
detached memory, training with memory, evaluation with longer memory, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from ptm_course.encoders import BPTTBatches
from ptm_course.models.transformer_xl import (
    MemoryLoss,
    RelativeMultiHeadAttention,
    TransformerXL,
    TransformerXLConfig,
    evaluate_with_memory,
    rel_shift,
    rel_shift_reference,
    relative_distances,
    segment_recurrence_mask,
    sinusoid_embedding,
    update_memory,
)
from ptm_course.train import fit


@pytest.mark.parametrize("T_q,R,K", [(3, 4, 4), (5, 9, 9), (4, 11, 8), (1, 6, 6), (6, 6, 6)])
def test_rel_shift_equals_the_index_computation_where_defined(T_q, R, K):
    x = torch.randn(2, 3, T_q, R)
    i = torch.arange(T_q)[:, None]
    j = torch.arange(K)[None, :]
    inside = (j + T_q - 1 - i) < R
    assert torch.equal(rel_shift(x)[..., :K][..., inside], rel_shift_reference(x, K)[..., inside])
    # and by hand: out[i, j] = x[i, j + T_q - 1 - i]
    for a in range(T_q):
        for b in range(K):
            if b + T_q - 1 - a < R:
                assert rel_shift(x)[1, 2, a, b] == x[1, 2, a, b + T_q - 1 - a]


def test_relative_attention_equals_eq4_written_per_pair():
    torch.manual_seed(0)
    d, nh, M, T = 16, 2, 3, 4
    attn = RelativeMultiHeadAttention(d, nh)
    for p in (attn.r_w_bias, attn.r_r_bias):
        torch.nn.init.normal_(p)
    x, mem = torch.randn(1, T, d), torch.randn(1, M, d)
    dist = relative_distances(M + T, T)
    r = sinusoid_embedding(dist, d)
    scores = attn.scores(attn.q_proj(x).view(1, T, nh, -1).transpose(1, 2),
                         attn.memory_kv(mem).extend(*[attn.k_proj(x).view(1, T, nh, -1).transpose(1, 2)] * 2)[0], r)
    hs = d // nh
    keys = torch.cat([mem, x], 1)[0]
    for h in range(nh):
        sl = slice(h * hs, (h + 1) * hs)
        for i in range(T):
            for j in range(M + i + 1):  # the causal part: distance M + i - j ≥ 0
                q = attn.q_proj.weight[sl] @ x[0, i]
                k = attn.k_proj.weight[sl] @ keys[j]
                rr = attn.r_proj.weight[sl] @ sinusoid_embedding(torch.tensor([M + i - j]), d)[0]
                want = (q + attn.r_w_bias[h]) @ k + (q + attn.r_r_bias[h]) @ rr
                assert torch.allclose(scores[0, h, i, j], want, atol=1e-5)


def test_sinusoid_embedding_layout():
    e = sinusoid_embedding(torch.tensor([0, 3]), 8)
    assert torch.equal(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert math.isclose(e[1, 1].item(), math.sin(3 / 10000 ** (2 / 8)), rel_tol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoid_embedding(torch.tensor([1]), 7)


@pytest.mark.parametrize("mem_len", [4, 8, 13])
def test_memory_equals_recompute(mem_len):
    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.tiny(mem_len=mem_len)).eval()
    ids = torch.randint(0, 64, (2, 32))
    one_pass, _ = model(ids, mask=segment_recurrence_mask(4, 8, mem_len))
    mems, outs = None, []
    for s in range(4):
        logits, mems = model(ids[:, 8 * s: 8 * (s + 1)], mems)
        outs.append(logits)
    assert (torch.cat(outs, 1) - one_pass).abs().max() <= 1e-5
    plain, _ = model(ids)  # full causal attention is NOT what the recurrence computes
    assert (torch.cat(outs, 1) - plain).abs().max() > 1e-4


def test_causal_within_and_across_segments():
    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.tiny(mem_len=8)).eval()
    a, b = torch.randint(0, 64, (1, 8)), torch.randint(0, 64, (1, 8))
    logits_a, mems = model(a)
    logits_b, _ = model(b, mems)
    b2 = b.clone()
    b2[0, 5] = (b[0, 5] + 1) % 64  # change a later token of segment b
    logits_b2, _ = model(b2, mems)
    assert torch.allclose(logits_b[:, :5], logits_b2[:, :5], atol=1e-6)  # earlier positions unchanged
    assert not torch.allclose(logits_b[:, 5:], logits_b2[:, 5:])
    # segment b depends on segment a only through the memory, and a never on b
    a2 = a.clone()
    a2[0, 7] = (a[0, 7] + 1) % 64
    _, mems2 = model(a2)
    assert not torch.allclose(model(b, mems2)[0], logits_b)
    assert torch.allclose(model(a)[0], logits_a)


def test_memory_is_detached_no_gradient_into_the_previous_segment():
    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.tiny(mem_len=8))
    emb = model.embed(torch.randint(0, 64, (1, 8)))
    mem = update_memory(None, emb, 8)
    assert not mem.requires_grad and emb.requires_grad
    logits, mems = model(torch.randint(0, 64, (1, 8)))
    assert all(not m.requires_grad for m in mems)
    loss = model(torch.randint(0, 64, (1, 8)), mems)[0].sum()
    loss.backward()  # works, and the memory's own graph is gone
    assert model.layers[0].attn.k_proj.weight.grad is not None  # W_k is trained through the memory keys too
    assert update_memory(None, emb, 0) is None


def test_update_memory_keeps_the_last_mem_len_states():
    h1, h2 = torch.arange(6.).view(1, 6, 1), torch.arange(6., 10.).view(1, 4, 1)
    m = update_memory(update_memory(None, h1, 5), h2, 5)
    assert m.flatten().tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_overfit_one_batch():
    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.tiny(mem_len=8))
    x = torch.randint(0, 64, (4, 9))
    batch = {"x": x[:, :-1], "y": x[:, 1:]}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits, _ = model(batch["x"])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
        opt.zero_grad(), loss.backward(), opt.step()
    assert loss.item() < 0.05


def test_training_with_memory_then_longer_memory_helps_on_a_copy_text():
    """A text that repeats with period 12 read in segments of 8: only the memory holds the answer."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    period = torch.randint(0, 32, (12,), generator=g)
    ids = period.repeat(120)
    model = TransformerXL(TransformerXLConfig.tiny(vocab_size=32, mem_len=16))
    fit(model, BPTTBatches(ids, batch_size=4, bptt=8), MemoryLoss(), max_steps=300, lr=3e-3, progress=False)
    blind = evaluate_with_memory(model, ids[:480], seg_len=8, mem_len=0, batch_size=4)
    seen = evaluate_with_memory(model, ids[:480], seg_len=8, mem_len=16, batch_size=4)
    assert seen < 0.2 < blind, (seen, blind)
    assert model.config.mem_len == 16 and model.training  # restored after evaluation


def test_memory_loss_resets_with_a_new_pass():
    model = TransformerXL(TransformerXLConfig.tiny(mem_len=8))
    loss_fn = MemoryLoss()
    batches = list(BPTTBatches(torch.randint(0, 64, (100,)), batch_size=2, bptt=8))
    loss_fn(model, batches[0])
    assert loss_fn.mems[0].shape == (2, 8, 32)
    loss_fn(model, batches[1])
    assert loss_fn.mems[0].shape == (2, 8, 32)
    loss_fn.mems = [m[:1] for m in loss_fn.mems]
    loss_fn(model, batches[0])  # reset: a new pass starts without memory
    assert loss_fn.mems[0].shape == (2, 8, 32)


def test_clear_errors():
    model = TransformerXL(TransformerXLConfig.tiny(mem_len=4))
    with pytest.raises(ValueError, match="batch, seq_len"):
        model(torch.zeros(8, dtype=torch.long))
    _, mems = model(torch.zeros(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="keep the batch size fixed"):
        model(torch.zeros(3, 8, dtype=torch.long), mems)
    with pytest.raises(ValueError, match="one tensor per layer"):
        model(torch.zeros(2, 8, dtype=torch.long), mems[:1])
    with pytest.raises(ValueError, match="mem_len"):
        TransformerXLConfig(vocab_size=10, mem_len=-1)
    with pytest.raises(ValueError, match="divisible"):
        TransformerXLConfig(vocab_size=10, d_model=30, n_heads=4)

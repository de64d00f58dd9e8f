"""Prefix-tuning: the prefix enters attention as P extra keys/values (checked against the formula),
the mask is widened for it, the KV cache composes with it, only the prefix trains, and the
exported tensors reproduce the reparameterised model."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from ptm_course.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification, mlm_loss
from ptm_course.models.gpt import GPT, GPTConfig
from ptm_course.models.transformer import merge_heads, split_heads
from ptm_course.tuning import count_parameters, load_delta, save_delta
from ptm_course.tuning.prefix import PrefixEncoder, PrefixKV, WithPrefix, apply_prefix, export_prefix

CFG = BertConfig.tiny(vocab_size=50, max_len=32)  # d 32, 2 layers, 4 heads


def _bert(seed=0):
    torch.manual_seed(seed)
    return BertForSequenceClassification(CFG, 3).eval()


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 50, (3, 9), generator=g)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    return ids, mask


def _randomise(model, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.prefix.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


def test_prefix_attention_is_attention_over_prefix_then_tokens():
    torch.manual_seed(0)
    model = _randomise(apply_prefix(_bert(), length=4, hidden=16))
    wrapper = model.bert.layers[0].attn
    assert isinstance(wrapper, WithPrefix)
    attn, kv = wrapper.attn, model.prefix()[0]  # (2, nh, P, hs)
    x = torch.randn(2, 5, 32)
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[1, ..., 3:] = False
    q, k, v = (split_heads(p(x), 4) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    k = torch.cat([kv[0].expand(2, -1, -1, -1), k], 2)
    v = torch.cat([kv[1].expand(2, -1, -1, -1), v], 2)
    full = torch.cat([torch.ones(2, 1, 1, 4, dtype=torch.bool), mask], -1)
    scores = (q @ k.transpose(-1, -2)) / 8 ** 0.5
    want = attn.o_proj(merge_heads(scores.masked_fill(~full, float("-inf")).softmax(-1) @ v))
    assert torch.allclose(wrapper(x, mask=mask), want, atol=1e-5)


def test_prefix_changes_outputs_but_padding_stays_invisible():
    ids, mask = _batch()
    base = _bert()
    model = _randomise(apply_prefix(copy.deepcopy(base), length=3, hidden=8))
    with torch.no_grad():
        assert not torch.allclose(model(ids, None, mask), base(ids, None, mask))
        other = ids.clone()
        other[1, 6:] = 7  # change only the padded tokens of row 1
        assert torch.allclose(model(other, None, mask)[1], model(ids, None, mask)[1], atol=1e-6)


def test_only_the_prefix_and_the_head_train():
    ids, mask = _batch()
    model = apply_prefix(_bert().train(), length=5, hidden=16)
    F.cross_entropy(model(ids, None, mask), torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        trains = name.startswith(("prefix.", "classifier."))
        assert p.requires_grad == trains, name
        assert (p.grad is not None and p.grad.abs().sum() > 0) == trains, name
    c = count_parameters(model)
    d, L, P, hidden = 32, 2, 5, 16
    prefix_params = P * d + (d * hidden + hidden) + (hidden * L * 2 * d + L * 2 * d)
    assert c.trainable == prefix_params + d * 3 + 3
    assert c.backbone == count_parameters(_bert()).backbone  # the prefix is added, not part of the backbone


def test_export_keeps_the_outputs_and_stores_only_the_prefix_tensors(tmp_path):
    ids, mask = _batch()
    model = _randomise(apply_prefix(_bert(), length=4, hidden=16))
    with torch.no_grad():
        before = model(ids, None, mask)
    export_prefix(model)
    assert isinstance(model.prefix, PrefixKV) and model.prefix.kv.shape == (2, 2, 4, 4, 8)
    with torch.no_grad():
        assert torch.allclose(model(ids, None, mask), before, atol=1e-6)
    path = save_delta(model, tmp_path / "task.prefix.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert sorted(f.keys()) == ["classifier.bias", "classifier.weight", "prefix.kv"]
    restored = load_delta(_bert(), path)
    with torch.no_grad():
        assert torch.equal(restored(ids, None, mask), model(ids, None, mask))


def test_bert_mlm_shortcut_agrees_with_the_full_path_under_a_prefix():
    torch.manual_seed(0)
    model = _randomise(apply_prefix(BertForMaskedLM(CFG).eval(), length=3, hidden=8))
    ids, mask = _batch()
    labels = torch.full_like(ids, -100)
    labels[:, 2], labels[0, 4] = ids[:, 2], ids[0, 4]
    positions = torch.tensor([[2, 4], [2, 0], [2, 0]])
    with torch.no_grad():
        full, _ = mlm_loss(model, {"input_ids": ids, "attention_mask": mask, "mlm_labels": labels})
        fast, _ = mlm_loss(model, {"input_ids": ids, "attention_mask": mask, "mlm_labels": labels,
                                   "mlm_positions": positions})
    assert torch.allclose(full, fast, atol=1e-5)


def test_gpt_generation_with_cache_equals_recompute_under_a_prefix():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig.tiny(vocab_size=40, dropout=0.0, attn_dropout=0.0)).eval()
    model = _randomise(apply_prefix(gpt, length=3, hidden=8))
    ids = torch.randint(0, 40, (2, 6))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        first = model(ids[:, :4], past_kv=cache)
        step = model(ids[:, 4:], past_kv=cache)
    logits = full[0] if isinstance(full, tuple) else full
    a = first[0] if isinstance(first, tuple) else first
    b = step[0] if isinstance(step, tuple) else step
    assert torch.allclose(torch.cat([a, b], 1), logits, atol=1e-5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="length"):
        apply_prefix(_bert(), length=0)
    with pytest.raises(ValueError, match="no Transformer blocks"):
        apply_prefix(torch.nn.Sequential(torch.nn.Linear(3, 3)))
    model = apply_prefix(_bert(), length=2)
    with pytest.raises(ValueError, match="already has prefix"):
        apply_prefix(model, length=2)
    with pytest.raises(ValueError, match="export_prefix needs"):
        export_prefix(_bert())
    with pytest.raises(ValueError, match="n_layers, 2"):
        PrefixKV(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=">= 1"):
        PrefixEncoder(2, 4, 8, length=0)


def test_one_batch_mixing_tasks_equals_each_task_run_alone():
    from ptm_course.tuning.prefix import PrefixBank, attach_prefix_bank

    backbone = _bert()
    tasks = {}
    for name, seed in (("sentiment", 3), ("topic", 4)):
        m = export_prefix(_randomise(apply_prefix(copy.deepcopy(backbone), length=4, hidden=8), seed=seed))
        tasks[name] = m
    bank = PrefixBank({name: m.prefix.kv for name, m in tasks.items()})
    served = attach_prefix_bank(copy.deepcopy(backbone), bank)
    ids, mask = _batch()
    order = ["sentiment", "topic", "sentiment"]
    with torch.no_grad(), bank.rows(order):
        mixed, _ = served.bert(ids, None, mask)
    with torch.no_grad():
        for i, name in enumerate(order):
            alone, _ = tasks[name].bert(ids[i:i + 1], None, mask[i:i + 1])
            assert torch.allclose(mixed[i:i + 1], alone, atol=1e-5), name
        other, _ = tasks["topic"].bert(ids[:1], None, mask[:1])
        assert not torch.allclose(mixed[:1], other, atol=1e-3)  # row 0 really used the sentiment prefix
    assert not any(p.requires_grad for p in served.parameters())


def test_prefix_bank_errors():
    from ptm_course.tuning.prefix import PrefixBank, attach_prefix_bank

    with pytest.raises(ValueError, match="one \\(n_layers"):
        PrefixBank({"a": torch.zeros(2, 2, 4, 3, 8), "b": torch.zeros(2, 2, 4, 5, 8)})
    bank = PrefixBank({"a": torch.zeros(2, 2, 4, 3, 8)})
    model = attach_prefix_bank(_bert(), bank)
    ids, mask = _batch()
    with pytest.raises(RuntimeError, match="bank.rows"):
        model(ids, None, mask)
    with pytest.raises(ValueError, match="no prefix for task"):
        with bank.rows(["a", "zzz", "a"]):
            pass
    with pytest.raises(ValueError, match="layers"):
        attach_prefix_bank(BertForSequenceClassification(BertConfig.tiny(vocab_size=50, n_layers=3), 2),
                           PrefixBank({"a": torch.zeros(2, 2, 4, 3, 8)}))

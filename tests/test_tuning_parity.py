"""The course's LoRA equals PEFT's LoRA on Hugging Face's BERT, with the same weights and the same factors;
its prefix-tuning equals PEFT's on GPT-2 and on a plain BertModel (the same reparameterisation MLP, HF's positions).

Runs only with the `parity` extra (transformers + peft); marked `parity`. Adapters have no oracle
here (the `adapters` library pins an older transformers): tests/test_tuning.py checks their
formula, identity at init, placement and parameter count instead.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="parity tests need transformers: pip install -e '.[parity]'")
peft = pytest.importorskip("peft", reason="LoRA parity needs peft: pip install -e '.[parity]'")

from ptm_course.models.bert import BertConfig, BertForSequenceClassification  # noqa: E402
from ptm_course.models.hf_loading import bert_config_to_hf, load_hf_weights  # noqa: E402
from ptm_course.tuning import LoRALinear, apply_lora, count_parameters, merge_lora  # noqa: E402

pytestmark = pytest.mark.parity

CFG = BertConfig.tiny(vocab_size=99, max_len=64, d_model=48, n_heads=4, d_ff=96, n_layers=3)
HF_NAME = {"q_proj": "query", "k_proj": "key", "v_proj": "value"}


def _pair(rank, alpha, targets):
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(transformers.BertConfig(**bert_config_to_hf(CFG), num_labels=3))
    ours = BertForSequenceClassification(CFG, 3)
    load_hf_weights(ours, hf.state_dict())
    cfg = peft.LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=alpha, lora_dropout=0.0,
                          target_modules=[HF_NAME[t] for t in targets])
    hf = peft.get_peft_model(hf, cfg).eval()
    ours = apply_lora(ours, rank=rank, alpha=alpha, targets=targets).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-zero B (at init B = 0 would make any A look right), copied into PEFT's
        for i, layer in enumerate(ours.bert.layers):
            for t in targets:
                lora = getattr(layer.attn, t)
                lora.lora_B.normal_(generator=g)
                theirs = getattr(hf.base_model.model.bert.encoder.layer[i].attention.self, HF_NAME[t])
                theirs.lora_A["default"].weight.copy_(lora.lora_A)
                theirs.lora_B["default"].weight.copy_(lora.lora_B)
    return hf, ours


def _batch():
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 99, (3, 17), generator=g)
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[1, 11:] = 0
    return ids, mask


@pytest.mark.parametrize("rank, alpha, targets", [(4, 8, ("q_proj", "v_proj")), (2, 16, ("q_proj", "k_proj", "v_proj"))])
def test_lora_equals_peft(rank, alpha, targets):
    hf, ours = _pair(rank, alpha, targets)
    ids, mask = _batch()
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, None, mask)
        assert (got - want).abs().max() <= 1e-5
        with hf.disable_adapter():
            base = hf(input_ids=ids, attention_mask=mask).logits
    assert (want - base).abs().max() > 1e-3  # the factors matter: the comparison is not of two frozen models
    trainable, _ = hf.get_nb_trainable_parameters()
    assert count_parameters(ours).trainable == trainable  # LoRA factors + the classifier, as PEFT counts
    scaling = getattr(hf.base_model.model.bert.encoder.layer[0].attention.self, HF_NAME[targets[0]]).scaling["default"]
    assert ours.bert.layers[0].attn.q_proj.scaling == scaling == alpha / rank


def test_merged_equals_unmerged_and_peft_merge():
    hf, ours = _pair(4, 8, ("q_proj", "v_proj"))
    ids, mask = _batch()
    with torch.no_grad():
        unmerged = ours(ids, None, mask)
        theirs = hf.merge_and_unload()(input_ids=ids, attention_mask=mask).logits
        merged = merge_lora(ours)(ids, None, mask)
    assert not any(isinstance(m, LoRALinear) for m in ours.modules())
    assert (merged - unmerged).abs().max() <= 1e-5 and (merged - theirs).abs().max() <= 1e-5


def test_b_zero_is_the_frozen_model():
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(transformers.BertConfig(**bert_config_to_hf(CFG), num_labels=3)).eval()
    ours = BertForSequenceClassification(CFG, 3)
    load_hf_weights(ours, hf.state_dict())
    ids, mask = _batch()
    with torch.no_grad():
        frozen = hf(input_ids=ids, attention_mask=mask).logits
        got = apply_lora(ours.eval(), rank=8, alpha=32)(ids, None, mask)
    assert (got - frozen).abs().max() <= 1e-5


def test_prefix_tuning_equals_peft_on_gpt2():
    """PEFT's PrefixTuningConfig(prefix_projection=True) on HF GPT-2 vs the course's apply_prefix on
    GPT, the same weights and the same reparameterisation MLP. HF gives the input tokens positions
    P..P+T-1 (the prefix counts as a cache of length P); the course's prefix has no position, so
    the tokens start at 0 — equal outputs once the course's GPT is given HF's positions."""
    from ptm_course.models.gpt import GPT, GPTConfig, gpt_config_to_hf, load_hf_gpt2_weights
    from ptm_course.tuning import apply_prefix

    cfg = GPTConfig.tiny(vocab_size=99, dropout=0.0, attn_dropout=0.0)
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**gpt_config_to_hf(cfg), bos_token_id=0,
                                                              eos_token_id=0)).eval()
    ours = load_hf_gpt2_weights(GPT(cfg), hf.state_dict()).eval()
    P = 5
    hf = peft.get_peft_model(hf, peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P,
                                                         prefix_projection=True, encoder_hidden_size=16)).eval()
    ours = apply_prefix(ours, length=P, hidden=16).eval()
    theirs = hf.prompt_encoder["default"].state_dict()
    mine = ours.prefix.state_dict()
    assert [tuple(v.shape) for v in theirs.values()] == [tuple(v.shape) for v in mine.values()]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for a, b in zip(theirs.values(), mine.values()):
            a.copy_(torch.randn(a.shape, generator=g))
            b.copy_(a)
    ids = torch.randint(0, 99, (3, 12), generator=g)
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        got = ours(ids, position_ids=torch.arange(P, P + 12).expand(3, 12))
        unshifted = ours(ids)
    got = got[0] if isinstance(got, tuple) else got
    unshifted = unshifted[0] if isinstance(unshifted, tuple) else unshifted
    assert (got - want).abs().max() < 1e-5
    assert (unshifted - want).abs().max() > 1e-3  # the positions are the one difference


def test_prefix_tuning_equals_peft_on_bert_model():
    """PEFT's PrefixTuningConfig(prefix_projection=True) on a plain HF BertModel (a feature extractor:
    PEFT's prefix-tuning of BertForSequenceClassification fails under transformers 5) vs the course's
    apply_prefix on BertModel, the same weights and MLP. As on GPT-2, PEFT gives the tokens positions
    P..P+T-1: its forward equals HF's BertModel given PEFT's prefix as the cache with those positions,
    and the course's output equals the same call with positions 0..T-1, padding included."""
    from ptm_course.models.bert import BertModel
    from ptm_course.tuning import apply_prefix

    torch.manual_seed(0)
    hf = transformers.BertModel(transformers.BertConfig(**bert_config_to_hf(CFG))).eval()
    ours = BertModel(CFG)
    load_hf_weights(ours, hf.state_dict())
    P = 5
    hf = peft.get_peft_model(hf, peft.PrefixTuningConfig(task_type="FEATURE_EXTRACTION", num_virtual_tokens=P,
                                                         prefix_projection=True, encoder_hidden_size=16)).eval()
    ours = apply_prefix(ours, length=P, hidden=16).eval()
    theirs, mine = hf.prompt_encoder["default"].state_dict(), ours.prefix.state_dict()
    assert [tuple(v.shape) for v in theirs.values()] == [tuple(v.shape) for v in mine.values()]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for a, b in zip(theirs.values(), mine.values()):
            a.copy_(torch.randn(a.shape, generator=g))
            b.copy_(a)
    ids, mask = _batch()
    B, T = ids.shape
    wide = torch.cat([torch.ones(B, P, dtype=mask.dtype), mask], dim=1)  # PEFT's mask: P visible columns first
    keep = mask.bool()
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask).last_hidden_state
        shifted = hf.base_model(input_ids=ids, attention_mask=wide, cache=hf.get_prompt(batch_size=B)).last_hidden_state
        from_zero = hf.base_model(input_ids=ids, attention_mask=wide, cache=hf.get_prompt(batch_size=B),
                                  position_ids=torch.arange(T).expand(B, T)).last_hidden_state
        got, _ = ours(ids, None, mask)
    assert (shifted - want)[keep].abs().max() < 1e-6  # what PEFT's forward does
    assert (got - from_zero)[keep].abs().max() < 1e-5  # the course = PEFT's prefix, positions from 0
    assert (got - want)[keep].abs().max() > 1e-3  # the positions are the one difference

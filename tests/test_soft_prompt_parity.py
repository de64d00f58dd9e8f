"""The course's soft prompt equals PEFT's prompt tuning (PromptTuningConfig) on Hugging Face's BERT and
GPT-2, with the same weights and the same prompt vectors.

PEFT's layout, read from ``peft_model.py`` and checked here: the prompt's P vectors are concatenated
in front of the word embeddings (``inputs_embeds = [prompt; E[x]]``), the attention mask gets P ones
on the left, token_type_ids (when given) P zeros, and the base model is called with
``inputs_embeds`` — so the prompt takes positions 0..P−1 and the tokens P..P+T−1, and the outputs
have P + T positions. The course does the same and returns the last T: they agree there.

Two differences, both shown below: (1) PEFT on ``BertForSequenceClassification`` pools position 0,
the first soft token; the course pools the real [CLS] (position P). (2) HF's GPT-2 counts
positions from the cache position and ignores left padding; the course counts them over the real
tokens (as everywhere in the course), so left-padded rows agree once HF is given those positions.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers", reason="parity tests need transformers: pip install -e '.[parity]'")
peft = pytest.importorskip("peft", reason="prompt-tuning parity needs peft: pip install -e '.[parity]'")

from ptm_course.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification  # noqa: E402
from ptm_course.models.gpt import GPT, GPTConfig, gpt_config_to_hf, load_hf_gpt2_weights  # noqa: E402
from ptm_course.models.hf_loading import bert_config_to_hf, load_hf_weights  # noqa: E402
from ptm_course.tuning import apply_soft_prompt, count_parameters  # noqa: E402

pytestmark = pytest.mark.parity

CFG = BertConfig.tiny(vocab_size=99, max_len=64, d_model=48, n_heads=4, d_ff=96, n_layers=3)
P = 5


def _copy_prompt(theirs, ours_prompt, seed=1):
    """Random vectors (N(0, 1), PEFT's RANDOM init scale) into PEFT's prompt, and the same into ours."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        theirs.prompt_encoder["default"].embedding.weight.copy_(torch.randn(ours_prompt.embedding.weight.shape,
                                                                            generator=g))
        ours_prompt.embedding.weight.copy_(theirs.prompt_encoder["default"].embedding.weight)


def _batch():
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 99, (3, 17), generator=g)
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[1, 11:] = 0
    types = torch.zeros(3, 17, dtype=torch.long)
    types[:, 9:] = 1
    return ids, mask, types


def test_soft_prompt_equals_peft_on_bert_classifier():
    """PEFT SEQ_CLS on HF BertForSequenceClassification: the tokens' hidden states agree (padding,
    segments and all); the logits differ only in which position the pooler reads."""
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(transformers.BertConfig(**bert_config_to_hf(CFG), num_labels=3))
    ours = BertForSequenceClassification(CFG, 3)
    load_hf_weights(ours, hf.state_dict())
    hf = peft.get_peft_model(hf.eval(), peft.PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=P)).eval()
    ours = apply_soft_prompt(ours.eval(), P, init="random")
    _copy_prompt(hf, ours.bert.soft_prompt)
    ids, mask, types = _batch()
    keep = mask.bool()
    base = hf.base_model
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        last = out.hidden_states[-1]  # (B, P + T, C): PEFT keeps the prompt's positions
        h, pooled = ours.bert(ids, types, mask)
        logits = ours(ids, types, mask)
        at_cls = base.classifier(base.bert.pooler(last[:, P:]))  # HF's pooler on the real [CLS]
        at_prompt = base.classifier(base.bert.pooler(last))  # ... on position 0, the first soft token
    assert last.shape == (3, P + 17, CFG.d_model) and h.shape == (3, 17, CFG.d_model)
    assert (h - last[:, P:])[keep].abs().max() <= 1e-5
    assert (logits - at_cls).abs().max() <= 1e-5  # the course pools the real [CLS]
    assert (out.logits - at_prompt).abs().max() <= 1e-6  # PEFT pools the first soft token
    assert (logits - out.logits).abs().max() > 1e-3  # the one difference
    trainable, _ = hf.get_nb_trainable_parameters()
    assert count_parameters(ours).trainable == trainable == P * CFG.d_model + 3 * CFG.d_model + 3


def test_soft_prompt_equals_peft_on_bert_model():
    """PEFT FEATURE_EXTRACTION on a plain HF BertModel vs the course's masked LM's encoder, including the
    masked-LM shortcut (output_positions name the input's positions; shifted by P inside)."""
    torch.manual_seed(0)
    hf = transformers.BertModel(transformers.BertConfig(**bert_config_to_hf(CFG))).eval()
    ours = BertForMaskedLM(CFG)
    load_hf_weights(ours.bert, hf.state_dict())
    hf = peft.get_peft_model(hf, peft.PromptTuningConfig(task_type="FEATURE_EXTRACTION", num_virtual_tokens=P)).eval()
    ours = apply_soft_prompt(ours.eval(), P, init="random")
    _copy_prompt(hf, ours.bert.soft_prompt)
    ids, mask, _ = _batch()
    keep = mask.bool()
    pos = torch.tensor([[3, 4], [2, 9], [0, 16]])
    with torch.no_grad():
        last = hf(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, P + T, C)
        h, _ = ours.bert(ids, None, mask)
        h_at, _ = ours.bert(ids, None, mask, output_positions=pos)
        # the frozen model alone (PEFT 0.21's disable_adapter() fails here: BertModel has no
        # prepare_inputs_for_generation); for prompt learning base_model is HF's BertModel itself
        plain = hf.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    want_at = last[:, P:].gather(1, pos[:, :, None].expand(-1, -1, CFG.d_model))
    assert (h - last[:, P:])[keep].abs().max() <= 1e-5
    assert (h_at - want_at).abs().max() <= 1e-5
    assert (h - plain)[keep].abs().max() > 1e-3  # the prompt matters: not two frozen models compared


def _gpt_pair(cfg):
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**gpt_config_to_hf(cfg), bos_token_id=0,
                                                              eos_token_id=0)).eval()
    ours = load_hf_gpt2_weights(GPT(cfg), hf.state_dict()).eval()
    return hf, ours


def test_soft_prompt_equals_peft_on_gpt2():
    """PEFT CAUSAL_LM on HF GPT2LMHeadModel: the tokens' logits agree with right padding; with left
    padding they agree once HF gets the course's positions (counted over real tokens)."""
    cfg = GPTConfig.tiny(vocab_size=99, dropout=0.0, attn_dropout=0.0)
    hf, ours = _gpt_pair(cfg)
    hf = peft.get_peft_model(hf, peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P)).eval()
    ours = apply_soft_prompt(ours, P, init="random").eval()
    _copy_prompt(hf, ours.soft_prompt)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 99, (3, 12), generator=g)
    right = torch.ones_like(ids)
    right[1, 8:] = 0
    left = torch.ones_like(ids)
    left[1, :4] = 0
    wide = torch.cat([torch.ones(3, P, dtype=torch.long), left], dim=1)  # PEFT's mask: P ones first
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=right).logits  # (B, P + T, V)
        got = ours(ids, attention_mask=right)  # (B, T, V)
        with hf.disable_adapter():
            plain = hf(input_ids=ids, attention_mask=right).logits
        want_left = hf(input_ids=ids, attention_mask=left).logits
        prompt = hf.prompt_encoder["default"].embedding.weight.expand(3, -1, -1)
        x = torch.cat([prompt, hf.base_model.transformer.wte(ids)], dim=1)  # what PEFT feeds GPT-2
        counted = (wide.cumsum(-1) - 1).clamp(min=0)  # positions over real tokens: prompt 0..P-1, tokens P..
        hf_counted = hf.base_model(inputs_embeds=x, attention_mask=wide, position_ids=counted).logits
        got_left = ours(ids, attention_mask=left)
    assert want.shape == (3, P + 12, 99) and got.shape == (3, 12, 99)
    assert (got - want[:, P:])[right.bool()].abs().max() <= 1e-5
    assert (got - plain)[right.bool()].abs().max() > 1e-3
    assert (got_left - hf_counted[:, P:])[left.bool()].abs().max() <= 1e-5
    assert (want_left - hf_counted)[0].abs().max() <= 1e-5  # unpadded rows: the same positions either way
    assert (got_left - want_left[:, P:])[1, 4:].abs().max() > 1e-3  # HF's positions ignore the left padding


def test_causal_lm_loss_counts_one_more_prediction_in_peft():
    """PEFT prefixes the labels with P × −100, so HF's shifted loss also scores the first token as
    predicted from the last soft token; the course's lm_loss sees the input's T positions only (T − 1
    predictions per row). Both are the same logits, only averaged over different sets."""
    from ptm_course.models.gpt import lm_loss

    cfg = GPTConfig.tiny(vocab_size=99, dropout=0.0, attn_dropout=0.0)
    hf, ours = _gpt_pair(cfg)
    hf = peft.get_peft_model(hf, peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P)).eval()
    ours = apply_soft_prompt(ours, P, init="random").eval()
    _copy_prompt(hf, ours.soft_prompt)
    ids = torch.randint(0, 99, (2, 10), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = hf(input_ids=ids, labels=ids)
        theirs = F.cross_entropy(out.logits[:, P - 1:-1].flatten(0, 1), ids.flatten())  # T predictions per row
        mine, _ = lm_loss(ours, {"input_ids": ids})
        mine_by_hand = F.cross_entropy(out.logits[:, P:-1].flatten(0, 1), ids[:, 1:].flatten())  # T − 1
    assert abs(out.loss - theirs) <= 1e-5
    assert abs(mine - mine_by_hand) <= 1e-5


def test_text_init_equals_peft(tmp_path):
    """PromptTuningInit.TEXT: tokenizer(text) repeated/cut to P, looked up in the word embeddings. With a
    tokenizer that adds no special tokens (byte-level BPE, as GPT-2's) it is the course's "text" init
    exactly; BERT's tokenizer(text) would add [CLS] … [SEP], which the course leaves out."""
    from ptm_course.data.bpe import train_bpe

    corpus = ["I love this movie. The movie is great.", "I hate this film. The film is terrible."] * 5
    with pytest.warns(UserWarning, match="train_bpe"):  # a small corpus gives fewer merges than asked
        bpe = train_bpe(corpus, vocab_size=300, min_frequency=1)
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe).save_pretrained(tmp_path)
    cfg = GPTConfig.tiny(vocab_size=bpe.get_vocab_size(), dropout=0.0, attn_dropout=0.0)
    hf, ours = _gpt_pair(cfg)
    text = "The movie is"  # 4 tokens: repeated, then cut to P = 7
    hf = peft.get_peft_model(hf, peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=7,
                                                         prompt_tuning_init="TEXT", prompt_tuning_init_text=text,
                                                         tokenizer_name_or_path=str(tmp_path)))
    ours = apply_soft_prompt(ours, 7, init="text", tok=bpe, text=text)
    assert len(bpe.encode(text).ids) == 4
    assert torch.equal(hf.prompt_encoder["default"].embedding.weight, ours.soft_prompt.embedding.weight)

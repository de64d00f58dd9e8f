"""The course's BERT: shapes, masks, heads, losses, span decoding, save/load, overfitting."""

from __future__ import annotations

import math

import pytest
import torch

from ptm_course.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    best_span,
    mlm_loss,
    pretraining_loss,
    qa_loss,
    sequence_classification_loss,
    token_classification_loss,
)
from ptm_course.metrics import squad_em_f1
from ptm_course.models.transformer import (
    LayerNorm,
    MultiHeadAttention,
    PostLNBlock,
    PreLNBlock,
    attention_reference,
    causal_mask,
    padding_mask,
)
from ptm_course.train import fit, load_model_weights, save_model_weights

CFG = BertConfig.tiny(vocab_size=50, max_len=32)


def _ids(B=2, T=10, seed=0, vocab=50):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, vocab, (B, T), generator=g)


# ---------------------------------------------------------------- attention and blocks


def test_sdpa_attention_equals_reference_with_padding_mask():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 7, 16)
    am = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    y = attn(x, mask=padding_mask(am))
    q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
    heads = lambda t: t.view(2, 7, 4, 4).transpose(1, 2)  # noqa: E731
    ref = attention_reference(heads(q), heads(k), heads(v), padding_mask(am)).transpose(1, 2).reshape(2, 7, 16)
    assert torch.allclose(y, attn.o_proj(ref), atol=1e-6)


def test_causal_attention_does_not_look_ahead():
    torch.manual_seed(0)
    for block in (PreLNBlock(16, 4, 32, dropout=0.0, attn_dropout=0.0), PostLNBlock(16, 4, 32, dropout=0.0, attn_dropout=0.0)):
        block.eval()
        x = torch.randn(1, 6, 16)
        y1 = block(x, is_causal=True)
        x2 = x.clone()
        x2[:, 4:] = torch.randn(1, 2, 16)
        y2 = block(x2, is_causal=True)
        assert torch.allclose(y1[:, :4], y2[:, :4], atol=1e-6)
        assert not torch.allclose(y1[:, 4:], y2[:, 4:], atol=1e-3)
        # a padding mask and the causal mask combine
        am = torch.ones(1, 6, dtype=torch.long)
        assert torch.allclose(block(x, mask=padding_mask(am), is_causal=True), y1, atol=1e-6)


def test_layernorm_rounds_its_output_to_the_autocast_dtype_only_under_autocast():
    torch.manual_seed(0)
    ours, ref = LayerNorm(16), torch.nn.LayerNorm(16)
    with torch.no_grad():
        ours.weight.normal_(), ours.bias.normal_()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 16)
    assert torch.equal(ours(x), ref(x))  # no autocast: nn.LayerNorm exactly
    with torch.autocast("cpu", dtype=torch.bfloat16):  # (CUDA autocast also upcasts a bf16 input to float32)
        y, y_ref = ours(x), ref(x)
    assert y_ref.dtype == torch.float32 and y.dtype == torch.bfloat16
    assert torch.equal(y, y_ref.bfloat16())  # statistics in float32, only the output rounded


def test_masks_shapes_and_errors():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert padding_mask(torch.tensor([[1, 0]])).shape == (1, 1, 1, 2)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="batch, seq_len"):
        padding_mask(torch.ones(3))


# ---------------------------------------------------------------- the model


def test_config_presets_and_roundtrip():
    for cfg in (BertConfig.tiny(), BertConfig.small(), BertConfig.base()):
        assert BertConfig.from_dict(cfg.to_dict()) == cfg
    assert BertConfig.base().d_model == 768 and BertConfig.base().n_layers == 12
    with pytest.raises(ValueError, match="unknown BertConfig fields"):
        BertConfig.from_dict({"hidden_size": 3})
    with pytest.raises(ValueError, match="activation"):
        BertConfig.tiny(activation="swishy")


def test_bert_base_parameter_count():
    n = sum(p.numel() for p in BertModel(BertConfig.base()).parameters())
    assert n == 109_482_240  # BERT-base, as HF counts BertModel


def test_shapes_and_errors():
    model = BertForPreTraining(CFG).eval()
    ids = _ids()
    mlm, nsp = model(ids)
    assert mlm.shape == (2, 10, 50) and nsp.shape == (2, 2)
    assert model.mlm.decoder.weight is model.bert.embeddings.word_embeddings.weight  # tied
    with pytest.raises(ValueError, match="max_len"):
        model(_ids(T=40))
    with pytest.raises(ValueError, match="batch, seq_len"):
        model(ids[0])


def test_padding_invariance():
    """Extra [PAD] tokens (masked out) leave the outputs of the real tokens unchanged."""
    torch.manual_seed(0)
    model = BertModel(CFG).eval()
    ids = _ids(B=1, T=8)
    h, pooled = model(ids, attention_mask=torch.ones_like(ids))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], 1)
    am = torch.cat([torch.ones(1, 8), torch.zeros(1, 5)], 1).long()
    h2, pooled2 = model(padded, attention_mask=am)
    assert torch.allclose(h, h2[:, :8], atol=1e-5) and torch.allclose(pooled, pooled2, atol=1e-5)
    # without the mask the padding leaks into the real tokens: the test can fail
    h3, _ = model(padded)
    assert not torch.allclose(h, h3[:, :8], atol=1e-3)


def test_bidirectional():
    """Unlike a decoder, changing a later token changes the earlier outputs."""
    torch.manual_seed(0)
    model = BertModel(CFG).eval()
    ids = _ids(B=1, T=8)
    ids2 = ids.clone()
    ids2[0, -1] = (ids[0, -1] + 1) % 50
    assert not torch.allclose(model(ids)[0][:, 0], model(ids2)[0][:, 0], atol=1e-4)


def test_heads_shapes():
    ids = _ids()
    assert BertForSequenceClassification(CFG, 3)(ids).shape == (2, 3)
    assert BertForTokenClassification(CFG, 7)(ids).shape == (2, 10, 7)
    s, e = BertForQuestionAnswering(CFG)(ids)
    assert s.shape == e.shape == (2, 10)
    assert BertForMaskedLM(CFG)(ids).shape == (2, 10, 50)


def _pretraining_batch():
    ids = _ids(B=4, T=12)
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    labels[:, 7] = ids[:, 7]
    masked = ids.clone()
    masked[:, [3, 7]] = 4
    return {"input_ids": masked, "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids),
            "mlm_labels": labels, "nsp_labels": torch.tensor([0, 1, 0, 1])}


def test_pretraining_loss_equals_full_logits_loss():
    torch.manual_seed(0)
    model = BertForPreTraining(CFG).eval()
    batch = _pretraining_batch()
    loss, metrics = pretraining_loss(model, batch)
    mlm, nsp = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    ref = torch.nn.functional.cross_entropy(mlm.flatten(0, 1), batch["mlm_labels"].flatten(), ignore_index=-100) \
        + torch.nn.functional.cross_entropy(nsp, batch["nsp_labels"])
    assert torch.allclose(loss, ref, atol=1e-5)
    assert abs(loss.item() - (math.log(50) + math.log(2))) < 0.5  # at init: uniform guesses
    assert set(metrics) == {"mlm_loss", "mlm_acc", "nsp_loss", "nsp_acc"}


def test_static_masked_positions_give_the_same_loss_and_gradients():
    from ptm_course.data.masking import masked_positions

    batch = _pretraining_batch()
    grads = []
    for static in (False, True):
        torch.manual_seed(0)
        model = BertForPreTraining(CFG).eval()
        b = dict(batch, mlm_positions=masked_positions(batch["mlm_labels"], 9)) if static else batch
        loss, metrics = pretraining_loss(model, b)
        loss.backward()
        grads.append((loss.detach(), metrics["mlm_acc"], [p.grad.clone() for p in model.parameters()]))
    (l0, a0, g0), (l1, a1, g1) = grads
    assert torch.allclose(l0, l1, atol=1e-6) and torch.allclose(a0, a1)
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(g0, g1))
    mlm = BertForMaskedLM(CFG).eval()
    b = dict(batch, mlm_positions=masked_positions(batch["mlm_labels"], 9))
    assert torch.allclose(mlm_loss(mlm, b)[0], mlm_loss(mlm, batch)[0], atol=1e-6)
    with pytest.raises(ValueError, match="output_positions must be"):
        mlm_loss(mlm, dict(batch, mlm_positions=b["mlm_positions"][:1]))


def test_output_positions_equal_the_full_output_gathered():
    torch.manual_seed(0)
    model = BertModel(CFG).eval()
    ids = _ids(B=3, T=12)
    am = torch.ones_like(ids)
    am[1, 9:] = 0
    pos = torch.tensor([[0, 5, 11], [2, 3, 8], [7, 7, 1]])  # any positions, [CLS] and repeats included
    full, pooled = model(ids, attention_mask=am)
    part, pooled_p = model(ids, attention_mask=am, output_positions=pos)
    assert part.shape == (3, 3, CFG.d_model)
    assert torch.allclose(part, full.gather(1, pos[:, :, None].expand(-1, -1, CFG.d_model)), atol=1e-5)
    assert torch.allclose(pooled_p, pooled, atol=1e-6)


def test_overfit_one_batch_every_head():
    torch.manual_seed(0)
    cfg = BertConfig.tiny(vocab_size=50, max_len=32, dropout=0.0, attn_dropout=0.0)
    ids = _ids(B=4, T=12)
    base = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids)}
    cases = [
        (BertForPreTraining(cfg), pretraining_loss, _pretraining_batch()),
        (BertForSequenceClassification(cfg, 3), sequence_classification_loss, {**base, "labels": torch.tensor([0, 1, 2, 1])}),
        (BertForTokenClassification(cfg, 5), token_classification_loss, {**base, "labels": ids % 5}),
        (BertForQuestionAnswering(cfg), qa_loss, {**base, "start_positions": torch.tensor([1, 2, 3, 4]),
                                                  "end_positions": torch.tensor([2, 2, 5, 9])}),
    ]
    for model, loss_fn, batch in cases:
        first = loss_fn(model, batch)[0].item()
        fit(model, [batch], loss_fn, max_steps=150, lr=3e-3, log_every=80, progress=False, device="cpu")
        model.eval()
        with torch.no_grad():
            last = loss_fn(model, batch)[0].item()
        assert last < 0.1 * first, (type(model).__name__, first, last)


def test_save_load_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = BertForPreTraining(CFG).eval()
    save_model_weights(model, tmp_path / "bert", CFG.to_dict())
    import json

    cfg2 = BertConfig.from_dict(json.loads((tmp_path / "bert" / "config.json").read_text()))
    torch.manual_seed(1)
    model2 = load_model_weights(BertForPreTraining(cfg2), tmp_path / "bert").eval()
    assert model2.mlm.decoder.weight is model2.bert.embeddings.word_embeddings.weight  # still tied
    ids = _ids()
    for a, b in zip(model(ids), model2(ids)):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- span decoding and SQuAD metrics


def test_best_span_edge_cases():
    s = torch.tensor([0.0, 5.0, 1.0, 0.0])
    e = torch.tensor([9.0, 0.0, 1.0, 2.0])
    # the unconstrained argmaxes (start 1, end 0) are an invalid span: end before start
    start, end, score = best_span(s, e)
    assert (int(start), int(end)) == (0, 0) and float(score) == 9.0
    start, end, _ = best_span(s, e, allowed=torch.tensor([False, True, True, True]))
    assert (int(start), int(end)) == (1, 3)
    # max answer length: a span of length 3 is too long for max_answer_len=2
    start, end, _ = best_span(s, e, allowed=torch.tensor([False, True, True, True]), max_answer_len=2)
    assert (int(start), int(end)) == (1, 2)
    # single-token spans (start == end) are allowed; batches work
    s2 = torch.stack([s, torch.tensor([0.0, 0.0, 8.0, 0.0])])
    e2 = torch.stack([e, torch.tensor([0.0, 0.0, 8.0, 0.0])])
    start, end, _ = best_span(s2, e2)
    assert start.tolist() == [0, 2] and end.tolist() == [0, 2]
    with pytest.raises(ValueError, match="no valid span"):
        best_span(s, e, allowed=torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        best_span(s, e[:3])


def test_best_span_equals_brute_force():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        s, e = torch.randn(2, 9, generator=g)
        allowed = torch.rand(9, generator=g) > 0.3
        if not allowed.any():
            continue
        L = 4
        best = max(((i, j) for i in range(9) for j in range(i, min(9, i + L)) if allowed[i] and allowed[j]),
                   key=lambda ij: float(s[ij[0]] + e[ij[1]]))
        start, end, _ = best_span(s, e, allowed, max_answer_len=L)
        assert (int(start), int(end)) == best


def test_squad_em_f1():
    assert squad_em_f1("The Eiffel Tower.", ["eiffel tower"]) == (1.0, 1.0)
    em, f1 = squad_em_f1("Eiffel", ["Eiffel Tower", "the tower"])
    assert em == 0.0 and abs(f1 - 2 / 3) < 1e-9
    assert squad_em_f1("Paris", ["London"]) == (0.0, 0.0)


# ---------------------------------------------------------------- loaders


def test_online_checkpoint_offline_gives_a_clear_error(monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from ptm_course.models.hf_loading import PretrainedNotAvailableError, load_pretrained_bert

    def offline(*args, **kwargs):
        raise OSError("we are offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(PretrainedNotAvailableError, match="all-MiniLM-L6-v2"):
        load_pretrained_bert("bert-base-uncased")
    with pytest.raises(PretrainedNotAvailableError, match="unknown checkpoint"):
        load_pretrained_bert("roberta-huge")


def test_hf_key_mapping_and_shape_errors():
    from ptm_course.models.hf_loading import convert_hf_state_dict, hf_to_course_key, load_hf_weights

    assert hf_to_course_key("bert.encoder.layer.1.attention.self.key.weight") == "bert.layers.1.attn.k_proj.weight"
    assert hf_to_course_key("bert.embeddings.LayerNorm.gamma") == "bert.embeddings.norm.weight"  # old TF names
    assert hf_to_course_key("cls.predictions.decoder.weight") is None  # tied to the word embeddings
    with pytest.raises(KeyError):
        hf_to_course_key("bert.encoder.layer.0.crossattention.weight")
    model = BertModel(CFG)
    sd = {"embeddings.word_embeddings.weight": torch.zeros(7, 32)}
    with pytest.raises(ValueError, match="shape"):
        load_hf_weights(model, sd)
    assert list(convert_hf_state_dict({"encoder.layer.0.attention.self.query.weight": torch.zeros(2, 2)})) == [
        "bert.layers.0.attn.q_proj.weight"]
    only_q = {"encoder.layer.0.attention.self.query.weight": model.layers[0].attn.q_proj.weight.detach()}
    with pytest.raises(KeyError, match="missing encoder tensors"):
        load_hf_weights(model, only_q)  # a partial checkpoint is an error, not a silently fresh encoder


def test_course_checkpoint_into_a_task_head(tmp_path):
    from ptm_course.models.hf_loading import load_bert_checkpoint, save_bert_checkpoint

    torch.manual_seed(0)
    pre = BertForPreTraining(CFG).eval()
    save_bert_checkpoint(pre, tmp_path / "ckpt", card={"steps": 0})
    clf, tok = load_bert_checkpoint(tmp_path / "ckpt", BertForSequenceClassification, verbose=False, n_classes=3)
    assert tok is None
    ids = _ids()
    with torch.no_grad():
        assert torch.equal(clf.bert(ids)[0], pre.bert(ids)[0])  # the encoder came across, the classifier is new
    with pytest.raises(FileNotFoundError, match="07"):
        load_bert_checkpoint(tmp_path / "nothing")
    # fine-tuning with another dropout than pre-training: the same weights, the config as asked
    clf, _ = load_bert_checkpoint(tmp_path / "ckpt", BertForSequenceClassification, verbose=False, n_classes=3,
                                  config={"dropout": 0.3, "attn_dropout": 0.2})
    assert (clf.config.dropout, clf.config.attn_dropout) == (0.3, 0.2) and clf.drop.p == 0.3
    with torch.no_grad():
        assert torch.equal(clf.bert(ids)[0], pre.bert(ids)[0])  # eval mode: dropout plays no part
    with pytest.raises(ValueError, match="unknown BertConfig fields"):
        load_bert_checkpoint(tmp_path / "ckpt", verbose=False, config={"drop_out": 0.1})

"""The course's BERT equals Hugging Face's BERT with copied weights (offline, random init).

Runs only with the `parity` extra installed (`pip install -e .[parity]`); marked `parity`.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip(
    "transformers", reason="parity tests need Hugging Face transformers: pip install -e '.[parity]'"
)

from ptm_course.models.bert import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from ptm_course.models.hf_loading import bert_config_to_hf, load_hf_weights  # noqa: E402

pytestmark = pytest.mark.parity

TOL = 1e-5


def _batch(cfg: BertConfig, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B, T = 3, 17
    ids = torch.randint(5, cfg.vocab_size, (B, T), generator=g)
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, 9:] = 1
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 12:] = 0  # padded rows of different lengths
    mask[2, 5:] = 0
    ids[mask == 0] = cfg.pad_token_id
    return ids, types, mask


def _pair(hf_cls, ours_cls, cfg: BertConfig, **kw):
    torch.manual_seed(0)
    hf_cfg = transformers.BertConfig(**bert_config_to_hf(cfg), num_labels=kw.get("n_classes", 2))
    hf = hf_cls(hf_cfg).eval()
    ours = ours_cls(cfg, **kw).eval()
    missing = load_hf_weights(ours, hf.state_dict())
    return hf, ours, missing


CONFIGS = [
    BertConfig.tiny(vocab_size=99, max_len=64),
    BertConfig.tiny(vocab_size=120, d_model=48, n_heads=6, d_ff=80, n_layers=3, activation="gelu_tanh"),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["gelu", "gelu_tanh"])
def test_bert_model_parity(cfg):
    hf, ours, missing = _pair(transformers.BertModel, BertModel, cfg)
    assert missing == []
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        ref = hf(input_ids=ids, token_type_ids=types, attention_mask=mask)
        h, pooled = ours(ids, types, mask)
    assert (h - ref.last_hidden_state).abs().max() <= TOL
    assert (pooled - ref.pooler_output).abs().max() <= TOL


@pytest.mark.parametrize("cfg", CONFIGS, ids=["gelu", "gelu_tanh"])
def test_masked_lm_parity(cfg):
    hf, ours, missing = _pair(transformers.BertForMaskedLM, BertForMaskedLM, cfg)
    assert missing == ["bert.pooler.weight", "bert.pooler.bias"]  # HF's MLM model has no pooler
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        diff = (ours(ids, types, mask) - hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits).abs().max()
    assert diff <= TOL
    # the decoder is tied to the word embeddings in both
    assert ours.mlm.decoder.weight.data_ptr() == ours.bert.embeddings.word_embeddings.weight.data_ptr()


def test_pretraining_parity():
    cfg = CONFIGS[0]
    hf, ours, missing = _pair(transformers.BertForPreTraining, BertForPreTraining, cfg)
    assert missing == []
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        ref = hf(input_ids=ids, token_type_ids=types, attention_mask=mask)
        mlm, nsp = ours(ids, types, mask)
    assert (mlm - ref.prediction_logits).abs().max() <= TOL
    assert (nsp - ref.seq_relationship_logits).abs().max() <= TOL


@pytest.mark.parametrize("cfg", CONFIGS, ids=["gelu", "gelu_tanh"])
def test_sequence_classification_parity(cfg):
    hf, ours, missing = _pair(transformers.BertForSequenceClassification, BertForSequenceClassification, cfg, n_classes=3)
    assert missing == []
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        diff = (ours(ids, types, mask) - hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits).abs().max()
    assert diff <= TOL


def test_token_classification_parity():
    cfg = CONFIGS[0]
    hf, ours, missing = _pair(transformers.BertForTokenClassification, BertForTokenClassification, cfg, n_classes=5)
    assert missing == ["bert.pooler.weight", "bert.pooler.bias"]  # HF's token classifier has no pooler
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        diff = (ours(ids, types, mask) - hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits).abs().max()
    assert diff <= TOL


def test_question_answering_parity():
    cfg = CONFIGS[0]
    hf, ours, missing = _pair(transformers.BertForQuestionAnswering, BertForQuestionAnswering, cfg)
    assert missing == ["bert.pooler.weight", "bert.pooler.bias"]
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        ref = hf(input_ids=ids, token_type_ids=types, attention_mask=mask)
        start, end = ours(ids, types, mask)
    assert (start - ref.start_logits).abs().max() <= TOL
    assert (end - ref.end_logits).abs().max() <= TOL


def test_parity_detects_a_wrong_weight():
    """The comparison can fail: swap Q and K of one layer and the outputs differ."""
    cfg = CONFIGS[0]
    hf, ours, _ = _pair(transformers.BertModel, BertModel, cfg)
    with torch.no_grad():
        q, k = ours.layers[0].attn.q_proj.weight, ours.layers[0].attn.k_proj.weight
        q[:], k[:] = k.clone(), q.clone()
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        diff = (ours(ids, types, mask)[0] - hf(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state).abs().max()
    assert diff > 10 * TOL


def test_minilm_loader_matches_hf():
    """MiniLM loaded through the course's loader gives HF's hidden states (local files only)."""
    from ptm_course.data import DataNotAvailableError, file_paths
    from ptm_course.models.hf_loading import load_pretrained_bert

    try:
        folder = file_paths("all-minilm-l6-v2", auto_prepare=False)["config.json"].parent
    except DataNotAvailableError as err:
        pytest.skip(f"MiniLM weights not prepared here: {err}")
    ours, tok = load_pretrained_bert(str(folder), verbose=False)
    hf = transformers.BertModel.from_pretrained(str(folder)).eval()
    enc = tok.encode_batch(["The cat sat on the mat.", "Pre-trained encoders solve polysemy, mostly."])
    T = max(len(e.ids) for e in enc)
    ids = torch.tensor([e.ids + [0] * (T - len(e.ids)) for e in enc])
    mask = torch.tensor([[1] * len(e.ids) + [0] * (T - len(e.ids)) for e in enc])
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state
        h, _ = ours(ids, torch.zeros_like(ids), mask)
    real = mask.bool()
    # real tokens agree to fp32 precision; outputs at padding positions are never used (both
    # implementations compute them, with a different summation order) and are only close
    assert (h - ref)[real].abs().max() <= 1e-5
    assert (h - ref)[~real].abs().max() <= 1e-3
    assert enc[0].tokens[0] == "[CLS]" and enc[0].tokens[-1] == "[SEP]"

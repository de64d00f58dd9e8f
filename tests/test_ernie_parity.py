"""ERNIE 1.0 is the course's BERT with ReLU: equal to Hugging Face's ``ErnieForMaskedLM`` with
copied weights (offline, random init).

HF ERNIE is BERT's layout under an ``ernie.`` prefix; with ``use_task_id=False`` (ERNIE 1.0 has
no task-type embeddings) its state dict loads through the same ``load_hf_weights`` table.
Runs only with the `parity` extra installed (`pip install -e .[parity]`); marked `parity`.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip(
    "transformers", reason="parity tests need Hugging Face transformers: pip install -e '.[parity]'"
)

from ptm_course.models.bert import BertConfig, BertForMaskedLM  # noqa: E402
from ptm_course.models.hf_loading import bert_config_from_hf, bert_config_to_hf, load_hf_weights  # noqa: E402

pytestmark = pytest.mark.parity

TOL = 1e-5

# ERNIE's vocabulary and positions, but two narrow layers: the parity test runs in a second
SMALL = dict(n_layers=2, d_model=64, n_heads=4, d_ff=128)


def _batch(cfg: BertConfig, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B, T = 3, 21
    ids = torch.randint(5, cfg.vocab_size, (B, T), generator=g)
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, 11:] = 1
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 14:] = 0  # padded rows of different lengths
    mask[2, 6:] = 0
    ids[mask == 0] = cfg.pad_token_id
    return ids, types, mask


def _pair(cfg: BertConfig):
    torch.manual_seed(0)
    hf_cfg = transformers.ErnieConfig(**bert_config_to_hf(cfg), use_task_id=False)
    hf = transformers.ErnieForMaskedLM(hf_cfg).eval()
    ours = BertForMaskedLM(cfg).eval()
    missing = load_hf_weights(ours, hf.state_dict())
    return hf, ours, missing


def test_ernie_config_has_the_documented_sizes():
    cfg = BertConfig.ernie()
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff) == (12, 768, 12, 3072)
    assert (cfg.vocab_size, cfg.max_len, cfg.type_vocab_size) == (18000, 513, 2)
    assert cfg.activation == "relu" and cfg.norm_eps == 1e-5
    # overrides win, the rest stays ERNIE's
    small = BertConfig.ernie(**SMALL)
    assert (small.n_layers, small.d_model, small.vocab_size, small.activation) == (2, 64, 18000, "relu")


def test_ernie_config_round_trips_through_hf():
    cfg = BertConfig.ernie()
    hf_cfg = transformers.ErnieConfig(**bert_config_to_hf(cfg))
    assert hf_cfg.hidden_act == "relu" and hf_cfg.max_position_embeddings == 513 and hf_cfg.vocab_size == 18000
    assert bert_config_from_hf(hf_cfg.to_dict()) == cfg


def test_wrong_activation_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'.*'relu'"):
        BertConfig.ernie(activation="rleu")


def test_ernie_masked_lm_parity():
    cfg = BertConfig.ernie(**SMALL)
    hf, ours, missing = _pair(cfg)
    assert missing == ["bert.pooler.weight", "bert.pooler.bias"]  # HF's MLM model has no pooler
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        ref = hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
        logits = ours(ids, types, mask)
    assert logits.shape == (3, 21, 18000)
    diff = (logits - ref).abs().max().item()
    assert diff <= TOL, f"max |Δlogit| = {diff:.2e}"
    # the decoder is tied to the word embeddings in both
    assert ours.mlm.decoder.weight.data_ptr() == ours.bert.embeddings.word_embeddings.weight.data_ptr()


def test_ernie_parity_needs_relu():
    """The comparison can fail: the same weights under GELU give different logits."""
    cfg = BertConfig.ernie(**SMALL)
    hf, _, _ = _pair(cfg)
    gelu = BertForMaskedLM(BertConfig.ernie(**SMALL, activation="gelu")).eval()
    load_hf_weights(gelu, hf.state_dict())
    ids, types, mask = _batch(cfg)
    with torch.no_grad():
        diff = (gelu(ids, types, mask) - hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits).abs().max()
    assert diff > 10 * TOL


def test_task_type_embeddings_are_refused():
    """ERNIE 2.0/3.0 checkpoints (use_task_id=True) carry task-type embeddings the course's BERT lacks."""
    cfg = BertConfig.ernie(**SMALL)
    hf_cfg = transformers.ErnieConfig(**bert_config_to_hf(cfg), use_task_id=True)
    with pytest.raises(ValueError, match="use_task_id"):
        bert_config_from_hf(hf_cfg.to_dict())
    hf = transformers.ErnieForMaskedLM(hf_cfg)
    with pytest.raises(KeyError, match="task-type embeddings"):
        load_hf_weights(BertForMaskedLM(cfg), hf.state_dict())

"""The course's XLNet equals Hugging Face's ``XLNetLMHeadModel`` (random init, copied weights),
with ``perm_mask``, ``target_mapping``, relative segments, and with and without ``mems``; the
course's Transformer-XL equals HF XLNet built with ``attn_type="uni"`` (the same relative
attention, causal, content stream only — HF removed its own Transfo-XL in v5), memory included.

Runs only with the `parity` extra installed (`pip install -e .[parity]`); marked `parity`.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip(
    "transformers", reason="parity tests need Hugging Face transformers: pip install -e '.[parity]'"
)

from ptm_course.models.transformer_xl import TransformerXL, TransformerXLConfig  # noqa: E402
from ptm_course.models.xlnet import XLNetConfig, XLNetLMHeadModel, load_hf_xlnet_weights, permutation_batch  # noqa: E402

pytestmark = pytest.mark.parity

TOL = 1e-5
V, D, L, H, FF, MEM = 60, 32, 2, 4, 64, 6


def _hf(attn_type: str):
    torch.manual_seed(0)
    cfg = transformers.XLNetConfig(vocab_size=V, d_model=D, n_layer=L, n_head=H, d_inner=FF, mem_len=MEM,
                                   dropout=0.0, ff_activation="gelu", attn_type=attn_type)
    return transformers.XLNetLMHeadModel(cfg).eval()


def _inputs(seed: int, T: int = 12, B: int = 3):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (B, T), generator=g)
    return ids, torch.randint(0, 2, (B, T), generator=g), permutation_batch(ids, K=4, generator=g)


@pytest.fixture(scope="module")
def xlnet_pair():
    hf = _hf("bi")
    ours = XLNetLMHeadModel(XLNetConfig(vocab_size=V, d_model=D, n_layers=L, n_heads=H, d_ff=FF, mem_len=MEM))
    return hf, load_hf_xlnet_weights(ours, hf.state_dict()).eval()


@torch.no_grad()
def test_xlnet_two_streams_segments_and_memory_equal_hf(xlnet_pair):
    hf, ours = xlnet_pair
    ids, seg, b = _inputs(1)
    ref = hf(ids, perm_mask=b["perm_mask"], target_mapping=b["target_mapping"], token_type_ids=seg, use_mems=True)
    logits, mems = ours(ids, b["perm_mask"], b["target_mapping"], seg)
    assert logits.shape == (3, 3, V)  # 12 // 4 targets per row, from the query stream
    assert (logits - ref.logits).abs().max() <= TOL
    for theirs, mine in zip(ref.mems, mems):  # HF keeps memory as (M, B, d)
        assert (theirs.transpose(0, 1) - mine).abs().max() <= TOL
    # the next segment, reading the memory of the first
    ids2, seg2, b2 = _inputs(2)
    ref2 = hf(ids2, perm_mask=b2["perm_mask"], target_mapping=b2["target_mapping"], token_type_ids=seg2,
              mems=ref.mems, use_mems=True)
    logits2, _ = ours(ids2, b2["perm_mask"], b2["target_mapping"], seg2, mems=mems)
    assert (logits2 - ref2.logits).abs().max() <= TOL
    assert (logits2 - ours(ids2, b2["perm_mask"], b2["target_mapping"], seg2)[0]).abs().max() > 1e-4  # memory matters


@torch.no_grad()
def test_xlnet_content_stream_equals_hf(xlnet_pair):
    hf, ours = xlnet_pair
    ids, _, b = _inputs(3)
    assert (ours(ids)[0] - hf(ids).logits).abs().max() <= TOL
    assert (ours(ids, b["perm_mask"])[0] - hf(ids, perm_mask=b["perm_mask"]).logits).abs().max() <= TOL


def test_xlnet_gradients_equal_hf(xlnet_pair):
    hf, ours = xlnet_pair
    ids, seg, b = _inputs(4)
    labels = b["labels"]
    ref = hf(ids, perm_mask=b["perm_mask"], target_mapping=b["target_mapping"], token_type_ids=seg, labels=labels)
    logits, _ = ours(ids, b["perm_mask"], b["target_mapping"], seg)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
    assert abs(loss.item() - ref.loss.item()) <= TOL
    hf.zero_grad(), ours.zero_grad()
    ref.loss.backward(), loss.backward()
    theirs = hf.transformer.layer[0].rel_attn.q.grad.reshape(D, -1).T
    assert (ours.transformer.layers[0].attn.q_proj.weight.grad - theirs).abs().max() <= TOL


@torch.no_grad()
def test_transformer_xl_equals_hf_xlnet_uni_with_memory():
    hf = _hf("uni")
    cfg = TransformerXLConfig(vocab_size=V, d_model=D, n_layers=L, n_heads=H, d_ff=FF, mem_len=MEM,
                              activation="gelu", norm_eps=1e-12)
    ours = load_hf_xlnet_weights(TransformerXL(cfg), hf.state_dict()).eval()
    ids, _, _ = _inputs(5)
    ids2, _, _ = _inputs(6)
    ref = hf(ids, use_mems=True)
    logits, mems = ours(ids)
    assert (logits - ref.logits).abs().max() <= TOL
    ref2 = hf(ids2, mems=ref.mems, use_mems=True)
    logits2, _ = ours(ids2, mems)
    assert (logits2 - ref2.logits).abs().max() <= TOL


def test_loading_refuses_a_model_of_another_depth():
    hf = _hf("bi")
    with pytest.raises(ValueError, match="3 layers|2 XLNet layers"):
        load_hf_xlnet_weights(XLNetLMHeadModel(XLNetConfig(vocab_size=V, d_model=D, n_layers=3, n_heads=H, d_ff=FF)),
                              hf.state_dict())

"""MLM corruption statistics and NSP pair construction."""

from __future__ import annotations

import pytest
import torch

from ptm_course.data.masking import (
    SpecialTokens,
    collate_pretraining,
    make_nsp_examples,
    mask_tokens,
    masked_positions,
    pack_pair,
    pad_batch,
)

SP = SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)
V = 200


def _batch(B=400, T=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    ids[:, 0] = SP.cls
    ids[:, 30] = SP.sep
    ids[:, -1] = SP.sep
    lengths = torch.randint(10, T, (B,), generator=g)
    for r, n in enumerate(lengths.tolist()):
        ids[r, n:] = SP.pad
    return ids


def test_mask_statistics_80_10_10():
    ids = _batch()
    out, labels = mask_tokens(ids, SP, V, generator=torch.Generator().manual_seed(1))
    sel = labels != -100
    special = (ids == SP.cls) | (ids == SP.sep) | (ids == SP.pad)
    assert not (sel & special).any(), "special tokens must never be selected"
    assert torch.equal(labels[sel], ids[sel])
    assert torch.equal(out[~sel], ids[~sel]), "unselected tokens must be untouched"
    # 15 % of the candidates of every row, at least one
    n_cand = (~special).sum(1).float()
    assert torch.equal(sel.sum(1), (n_cand * 0.15).round().long().clamp(min=1))
    frac = sel.sum() / (~special).sum()
    assert abs(frac - 0.15) < 0.01
    masked = (out[sel] == SP.mask).float().mean()
    same = (out[sel] == ids[sel]).float().mean()
    rand = 1 - masked - same
    assert abs(masked - 0.8) < 0.03 and abs(same - 0.1) < 0.02 and abs(rand - 0.1) < 0.02
    # random replacements are ordinary tokens, never special ones
    replaced = sel & (out != SP.mask) & (out != ids)
    assert not torch.isin(out[replaced], torch.tensor(SP.ids)).any()


def test_at_least_one_mask_per_sequence_and_reproducible():
    ids = torch.tensor([[2, 9, 3, 0, 0], [2, 7, 8, 3, 0]])
    out, labels = mask_tokens(ids, SP, V, generator=torch.Generator().manual_seed(0))
    assert ((labels != -100).sum(1) == 1).all()  # round(0.15·1) = 0 and round(0.15·2) = 0 → 1 each
    out2, labels2 = mask_tokens(ids, SP, V, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, out2) and torch.equal(labels, labels2)
    only_special = torch.tensor([[2, 3, 0]])
    out3, labels3 = mask_tokens(only_special, SP, V)
    assert (labels3 == -100).all() and torch.equal(out3, only_special)
    with pytest.raises(ValueError):
        mask_tokens(ids, SP, V, mlm_prob=0.0)


def test_pack_pair_truncates_the_longer_side():
    ids, types = pack_pair(list(range(10, 20)), [30, 31], SP, max_len=8)
    assert len(ids) == 8
    assert ids[0] == SP.cls and ids.count(SP.sep) == 2 and ids[-1] == SP.sep
    assert types == [0] * (ids.index(SP.sep) + 1) + [1] * (len(ids) - ids.index(SP.sep) - 1)
    assert ids[-3:] == [30, 31, 3]  # the short B survives whole
    assert pack_pair([5, 6], None, SP, 10) == ([2, 5, 6, 3], [0, 0, 0, 0])


def _docs(n_docs=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    docs = []
    for d in range(n_docs):
        # every sentence of document d uses token ids from its own range: a pair's origin is visible
        base = 5 + 4 * d
        docs.append([[base + int(t) for t in torch.randint(0, 4, (int(n),), generator=g)]
                     for n in torch.randint(3, 12, (8,), generator=g)])
    return docs


def test_nsp_balance_and_labels_are_true():
    docs = _docs()
    ex = make_nsp_examples(docs, max_len=32, special=SP, seed=0)
    assert len(ex) > 50
    labels = torch.tensor([e["nsp_label"] for e in ex]).float()
    assert abs(labels.mean() - 0.5) < 0.15
    for e in ex:
        ids, types = e["input_ids"], e["token_type_ids"]
        assert len(ids) <= 32 and ids[0] == SP.cls and ids[-1] == SP.sep and len(ids) == len(types)
        first_sep = ids.index(SP.sep)
        a, b = ids[1:first_sep], ids[first_sep + 1:-1]
        assert types == [0] * (first_sep + 1) + [1] * (len(b) + 1)
        doc_a = {(t - 5) // 4 for t in a}
        doc_b = {(t - 5) // 4 for t in b}
        assert len(doc_a) == 1 and len(doc_b) == 1
        # IsNext: B is from the same document; NotNext: from another one
        assert (doc_a == doc_b) == (e["nsp_label"] == 0)


def test_nsp_needs_two_documents_and_collate():
    with pytest.raises(ValueError, match="two documents"):
        make_nsp_examples(_docs(1), 32, SP)
    ex = make_nsp_examples(_docs(), 32, SP, seed=1)[:8]
    batch = collate_pretraining(ex, SP, V, generator=torch.Generator().manual_seed(0))
    B, T = batch["input_ids"].shape
    assert B == 8 and batch["attention_mask"].shape == (B, T)
    assert ((batch["mlm_labels"] != -100).sum(1) >= 1).all()
    assert (batch["input_ids"][batch["attention_mask"] == 0] == SP.pad).all()
    ids, mask = pad_batch([[5, 6], [7]], pad_id=0)
    assert ids.tolist() == [[5, 6], [7, 0]] and mask.tolist() == [[1, 1], [1, 0]]


def test_masked_positions_list_every_masked_token_then_pad_with_ignored_ones():
    ids = _batch(B=50, T=64, seed=3)
    _, labels = mask_tokens(ids, SP, V, generator=torch.Generator().manual_seed(0))
    P = int((labels != -100).sum(1).max()) + 2
    pos = masked_positions(labels, P)
    assert pos.shape == (50, P) and pos.dtype == torch.long
    targets = labels.gather(1, pos)
    for r in range(50):
        want = (labels[r] != -100).nonzero().flatten().tolist()
        n = len(want)
        assert pos[r, :n].tolist() == want  # every masked position, in order
        assert (targets[r, n:] == -100).all()  # the padding costs nothing in the loss
        assert len(set(pos[r].tolist())) == P  # no position twice


def test_masked_positions_errors_and_collate():
    labels = torch.tensor([[-100, 7, 8, 9]])
    with pytest.raises(ValueError, match="3 masked tokens, more than max_predictions=2"):
        masked_positions(labels, 2)
    with pytest.raises(ValueError, match="max_predictions must be in"):
        masked_positions(labels, 5)
    ex = make_nsp_examples(_docs(), 32, SP, seed=1)[:8]
    batch = collate_pretraining(ex, SP, V, generator=torch.Generator().manual_seed(0), max_len=32, max_predictions=6)
    assert batch["input_ids"].shape == (8, 32) and batch["mlm_positions"].shape == (8, 6)
    assert (batch["mlm_labels"].gather(1, batch["mlm_positions"]) != -100).sum() == (batch["mlm_labels"] != -100).sum()

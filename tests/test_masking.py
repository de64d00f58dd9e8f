"""MLM corruption statistics and NSP pair construction."""

from __future__ import annotations

import pytest
import torch

from ptm_course.data.masking import (
    SpecialTokens,
    collate_pretraining,
    corrupt,
    make_nsp_examples,
    mask_tokens,
    mask_units,
    masked_positions,
    pack_pair,
    pad_batch,
    select_tokens,
    select_units,
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


# --- ERNIE: one draw per unit, then BERT's 80/10/10 -------------------------------------------


def _word_units(ids, seed=0, max_len=4):
    """Random words of 1..max_len tokens over the non-special positions; −1 elsewhere."""
    g = torch.Generator().manual_seed(seed)
    units = torch.full_like(ids, -1)
    for r in range(ids.shape[0]):
        t, uid = 0, 0
        while t < ids.shape[1]:
            n = int(torch.randint(1, max_len + 1, (1,), generator=g))
            for k in range(t, min(t + n, ids.shape[1])):
                if ids[r, k] not in SP.ids:
                    units[r, k] = uid
            t, uid = t + n, uid + 1
    return units


def test_mask_units_masks_each_unit_whole_and_15_percent_of_units():
    ids = _batch(B=300)
    units = _word_units(ids)
    out, labels = mask_units(ids, units, SP, V, generator=torch.Generator().manual_seed(2))
    sel = labels != -100
    for r in range(ids.shape[0]):
        row_units = units[r][units[r] >= 0]
        picked = set(units[r][sel[r]].tolist())
        for u in row_units.unique().tolist():  # all or nothing
            assert sel[r][units[r] == u].all() == (u in picked) and sel[r][units[r] == u].any() == (u in picked)
        n_units = len(row_units.unique())
        assert len(picked) == max(1, round(0.15 * n_units))  # one draw per unit: ≈ 15 % of units
    special = (ids == SP.cls) | (ids == SP.sep) | (ids == SP.pad)
    assert not (sel & special).any()
    assert torch.equal(labels[sel], ids[sel]) and torch.equal(out[~sel], ids[~sel])
    masked = (out[sel] == SP.mask).float().mean()
    same = (out[sel] == ids[sel]).float().mean()
    assert abs(masked - 0.8) < 0.03 and abs(same - 0.1) < 0.02 and abs(1 - masked - same - 0.1) < 0.02
    # 15 % of the units, drawn uniformly, cover about 15 % of the tokens too (in expectation)
    assert abs(sel.sum() / (~special).sum() - 0.15) < 0.02


def test_mask_units_with_one_unit_per_token_is_bert_masking():
    ids = _batch(B=200)
    per_token = torch.arange(ids.numel()).view_as(ids) % ids.shape[1]  # every token its own unit
    per_token = per_token.masked_fill(torch.isin(ids, torch.tensor(SP.ids)), -1)
    _, labels_u = mask_units(ids, per_token, SP, V, generator=torch.Generator().manual_seed(0))
    _, labels_t = mask_tokens(ids, SP, V, generator=torch.Generator().manual_seed(0))
    assert torch.equal((labels_u != -100).sum(1), (labels_t != -100).sum(1))  # the same count per row


def test_mask_units_never_selects_special_tokens_whatever_their_unit_id():
    ids = torch.tensor([[2, 9, 9, 3, 0], [2, 7, 3, 0, 0]])
    units = torch.tensor([[0, 1, 1, 2, 3], [5, 5, 5, 5, 5]])  # specials given ids on purpose
    for seed in range(20):
        out, labels = mask_units(ids, units, SP, V, generator=torch.Generator().manual_seed(seed))
        assert (labels[0] != -100).tolist() == [False, True, True, False, False]  # the one word, whole
        assert (labels[1] != -100).tolist() == [False, True, False, False, False]  # a unit split by specials
        assert (out[:, [0, 3]] == ids[:, [0, 3]]).all()


def test_a_unit_whose_tokens_are_apart_is_still_one_draw():
    ids = torch.tensor([[2, 10, 11, 12, 13, 14, 15, 16, 3]])
    units = torch.tensor([[-1, 0, 1, 0, 2, 3, 4, 5, -1]])  # unit 0 at positions 1 and 3
    seen = set()
    for seed in range(200):
        _, labels = mask_units(ids, units, SP, V, generator=torch.Generator().manual_seed(seed))
        sel = labels[0] != -100
        assert sel[1] == sel[3]
        seen.add(tuple(units[0][sel].unique().tolist()))
    assert seen == {(u,) for u in range(6)}  # exactly one of the 6 units each time, every one drawn


def test_mask_units_is_reproducible_and_follows_the_tensor_device():
    ids = _batch(B=8)
    units = _word_units(ids)
    a = mask_units(ids, units, SP, V, generator=torch.Generator().manual_seed(5))
    b = mask_units(ids, units, SP, V, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    c = mask_units(ids, units, SP, V, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(a[1], c[1])


def test_mask_units_rejects_bad_unit_ids_with_the_fix():
    ids = _batch(B=2, T=40)
    with pytest.raises(ValueError, match="shape of input_ids"):
        mask_units(ids, torch.zeros(2, 39, dtype=torch.long), SP, V)
    with pytest.raises(ValueError, match="integer tensor"):
        mask_units(ids, torch.zeros(2, 40), SP, V)
    with pytest.raises(ValueError, match="-1 for tokens never predicted"):
        mask_units(ids, torch.full((2, 40), -2), SP, V)
    with pytest.raises(ValueError, match="mlm_prob"):
        mask_units(ids, torch.zeros(2, 40, dtype=torch.long), SP, V, mlm_prob=1.5)
    with pytest.raises(ValueError, match="bool tensor"):
        corrupt(ids, torch.zeros(2, 40, dtype=torch.long), SP, V)


def test_select_then_corrupt_is_mask_tokens():
    ids = _batch(B=16)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    out, labels = mask_tokens(ids, SP, V, generator=g1)
    out2, labels2 = corrupt(ids, select_tokens(ids, SP, generator=g2), SP, V, generator=g2)
    assert torch.equal(out, out2) and torch.equal(labels, labels2)
    assert torch.equal(select_units(torch.full((2, 4), -1)), torch.zeros(2, 4, dtype=torch.bool))

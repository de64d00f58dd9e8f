"""XLNet: perm_mask / target_mapping construction, the two streams' visibility, overfitting one
batch, clear errors (HF parity is in test_xlnet_parity.py)."""

from __future__ import annotations

import pytest
import torch

from ptm_course.models.xlnet import (
    XLNetConfig,
    XLNetLMHeadModel,
    content_stream_mask,
    permutation_batch,
    permutation_masks,
    query_stream_mask,
    sample_order,
    score_targets,
    target_masks,
    xlnet_loss,
)


@pytest.mark.parametrize("seed", range(5))
def test_perm_mask_properties(seed):
    g = torch.Generator().manual_seed(seed)
    T, n = 12, 3
    order = sample_order(T, g)
    pm, tm = permutation_masks(order, n)
    targets = set(order[-n:].tolist())
    assert set(tm.argmax(-1).tolist()) == targets and tm.sum().item() == n
    assert sorted(tm.argmax(-1).tolist()) == tm.argmax(-1).tolist()  # listed by position
    rank = {p: t for t, p in enumerate(order.tolist())}
    for i in range(T):
        for j in range(T):
            if j not in targets:
                assert not pm[i, j]  # non-targets are visible to all
            elif i in targets:
                assert pm[i, j] == (rank[j] >= rank[i])  # a target sees earlier targets only
            else:
                assert pm[i, j]  # non-targets never see a target
    q, c = query_stream_mask(pm), content_stream_mask(pm)
    for t in targets:
        assert not q[t, t] and c[t, t]  # the query stream never sees its own token; content does
    assert torch.equal(c & ~torch.eye(T, dtype=torch.bool), q & ~torch.eye(T, dtype=torch.bool))


def test_perm_mask_is_an_autoregressive_order_on_the_targets():
    order = torch.tensor([4, 1, 0, 3, 2, 5])
    pm, _ = permutation_masks(order, 3)  # targets 3, 2, 5 in that order
    sees = query_stream_mask(pm)
    assert sees[3].nonzero().flatten().tolist() == [0, 1, 4]
    assert sees[2].nonzero().flatten().tolist() == [0, 1, 3, 4]
    assert sees[5].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]


def test_permutation_batch_labels_and_sizes():
    ids = torch.arange(24).view(2, 12) + 10
    b = permutation_batch(ids, K=6, generator=torch.Generator().manual_seed(0))
    assert b["perm_mask"].shape == (2, 12, 12) and b["target_mapping"].shape == (2, 2, 12)
    pos = b["target_mapping"].argmax(-1)
    assert torch.equal(b["labels"], ids.gather(1, pos))
    assert torch.equal(b["order"][:, -2:].sort(-1).values, pos)  # the last T // K of each order
    with pytest.raises(ValueError, match="K must be"):
        permutation_batch(ids[:, :4], K=6)
    with pytest.raises(ValueError, match="n_predict"):
        permutation_masks(torch.arange(4), 4)


@torch.no_grad()
def test_query_stream_does_not_see_its_own_token_or_later_targets():
    torch.manual_seed(0)
    model = XLNetLMHeadModel(XLNetConfig.tiny()).eval()
    order = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])  # targets 6 then 7
    pm, tm = permutation_masks(order, 2)
    ids = torch.randint(0, 64, (1, 8))
    logits, _ = model(ids, pm[None].float(), tm[None])
    for pos, row in ((6, 0), (7, 1)):
        other = ids.clone()
        other[0, pos] = (ids[0, pos] + 1) % 64
        changed, _ = model(other, pm[None].float(), tm[None])
        assert torch.allclose(changed[0, row], logits[0, row], atol=1e-6)  # its own token is hidden
    other = ids.clone()
    other[0, 7] = (ids[0, 7] + 1) % 64  # target 6 comes before 7 in the order: 6 cannot see 7 ...
    assert torch.allclose(model(other, pm[None].float(), tm[None])[0][0, 0], logits[0, 0], atol=1e-6)
    other = ids.clone()
    other[0, 6] = (ids[0, 6] + 1) % 64  # ... but 7 sees 6
    assert not torch.allclose(model(other, pm[None].float(), tm[None])[0][0, 1], logits[0, 1])
    other = ids.clone()
    other[0, 0] = (ids[0, 0] + 1) % 64  # both see the non-targets
    changed = model(other, pm[None].float(), tm[None])[0]
    assert not torch.allclose(changed[0, 0], logits[0, 0]) and not torch.allclose(changed[0, 1], logits[0, 1])


def test_overfit_one_batch():
    torch.manual_seed(0)
    model = XLNetLMHeadModel(XLNetConfig.tiny())
    ids = torch.randint(0, 64, (4, 12))
    batch = permutation_batch(ids, K=3, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss, metrics = xlnet_loss(model, batch)
        opt.zero_grad(), loss.backward(), opt.step()
    assert loss.item() < 0.05 and metrics["acc"] == 1.0


def test_memory_is_detached_and_read():
    model = XLNetLMHeadModel(XLNetConfig.tiny(mem_len=6)).eval()
    ids = torch.randint(0, 64, (2, 8))
    _, mems = model(ids)
    assert len(mems) == 2 and mems[0].shape == (2, 6, 32) and not mems[0].requires_grad
    b = permutation_batch(ids, K=4)
    with_mem = model(ids, b["perm_mask"], b["target_mapping"], mems=mems)[0]
    without = model(ids, b["perm_mask"], b["target_mapping"])[0]
    assert not torch.allclose(with_mem, without)


def test_clear_errors():
    model = XLNetLMHeadModel(XLNetConfig.tiny())
    ids = torch.zeros(2, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="perm_mask must be"):
        model(ids, torch.zeros(2, 8, 7))
    with pytest.raises(ValueError, match="target_mapping must be"):
        model(ids, torch.zeros(2, 8, 8), torch.zeros(2, 3, 9))
    with pytest.raises(ValueError, match="batch, seq_len"):
        model(ids[0])


def test_target_masks_in_order_and_independent():
    targets = torch.tensor([5, 1, 3])
    pm, tm = target_masks(7, targets, in_order=False)
    assert tm.argmax(-1).tolist() == [1, 3, 5]
    assert pm.int().tolist() == [[0, 1, 0, 1, 0, 1, 0]] * 7  # every row: the targets hidden
    pm, tm = target_masks(7, targets, in_order=True)
    assert pm[1].nonzero().flatten().tolist() == [1, 3, 5]  # the first target sees no target
    assert pm[3].nonzero().flatten().tolist() == [3, 5]  # the second sees the first
    assert pm[5].nonzero().flatten().tolist() == [5]
    assert pm[0].nonzero().flatten().tolist() == [1, 3, 5]  # a non-target sees no target
    with pytest.raises(ValueError, match="distinct positions"):
        target_masks(4, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="distinct positions"):
        target_masks(4, torch.arange(4))


def test_score_targets_sees_earlier_targets_only_in_order():
    torch.manual_seed(0)
    model = XLNetLMHeadModel(XLNetConfig.tiny())
    ids = torch.randint(0, 64, (1, 10))
    targets = torch.tensor([[2, 5, 8]])
    other = ids.clone()
    other[0, 5] = (ids[0, 5] + 1) % 64  # change the middle target
    for in_order in (False, True):
        a, b = score_targets(model, ids, targets, in_order), score_targets(model, other, targets, in_order)
        assert a.shape == (1, 3) and (a <= 0).all()
        assert torch.allclose(a[0, 0], b[0, 0], atol=1e-6)  # the first target never sees the second
        assert torch.allclose(a[0, 2], b[0, 2], atol=1e-6) != in_order  # the third sees it only in order
    assert model.training  # the mode is restored

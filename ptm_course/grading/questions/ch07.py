"""Exercise 07: attention with a padding mask, the 80/10/10 corruption, an NSP input.

Notebook: ``exercises/07_bert_pretraining_exercises.ipynb`` (master: ``solutions/``). Three questions:

- ``07.attention`` — ``masked_attention(q, k, v, attention_mask)``: softmax(QKᵀ/√d + M)·V with M = −∞
  on padding keys; compared with :func:`ptm_course.models.transformer.attention_reference`;
- ``07.corrupt`` — ``corrupt(ids, selected, u, mask_id, random_ids)``: BERT's 80/10/10 rule applied
  to given random draws, returning (corrupted ids, labels with −100);
- ``07.nsp_input`` — ``nsp_input(a, b, cls_id, sep_id, max_len)``: [CLS] A [SEP] B [SEP] with segment
  ids, the longer side truncated; compared with :func:`ptm_course.data.masking.pack_pair`;
- ``07.mlm_loss`` — ``masked_lm_loss(logits, labels)``: the mean cross-entropy over the masked
  positions only (label −100 elsewhere); ln V for a model that knows nothing.
"""

from __future__ import annotations

from typing import Callable

from ..core import Exercise, Mismatch, Question, Test, expect_tensor

__all__ = ["EXERCISE"]


# ---- 07.attention ---------------------------------------------------------------------------


def _attention_case(B: int, T: int, d: int, lengths: list[int], seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.transformer import attention_reference, padding_mask

        g = torch.Generator().manual_seed(seed)
        q, k, v = torch.randn(3, B, T, d, generator=g).unbind(0)
        am = torch.tensor([[1] * n + [0] * (T - n) for n in lengths])
        expected = attention_reference(q, k, v, padding_mask(am)[:, 0])
        expect_tensor(fn(q, k, v, am), expected, f"masked_attention(q, k, v of shape ({B}, {T}, {d}), attention_mask with lengths {lengths})")

    return test


ATTENTION = Question(
    "07.attention",
    "masked_attention",
    "Scaled dot-product attention with a padding mask",
    tests=(
        Test("no padding: softmax(QKᵀ/√d)·V", _attention_case(1, 4, 8, [4], 0), points=1,
             hint="scores = q @ k.transpose(-2, -1) / math.sqrt(d); weights = scores.softmax(-1); return weights @ v"),
        Test("padding keys get zero weight", _attention_case(2, 6, 4, [6, 3], 1), points=2,
             hint="scores.masked_fill(attention_mask[:, None, :] == 0, float('-inf')) before the softmax: mask KEYS (columns), not queries"),
        Test("scaled by √d, d = 16", _attention_case(3, 5, 16, [5, 2, 1], 2), points=1,
             hint="divide by the square root of the last dimension of q"),
    ),
)

# ---- 07.corrupt ------------------------------------------------------------------------------


def _reference_corrupt(ids, selected, u, mask_id, random_ids):
    import torch

    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    out = torch.where(selected & (u < 0.8), torch.full_like(ids, mask_id), ids)
    out = torch.where(selected & (u >= 0.8) & (u < 0.9), random_ids, out)
    return out, labels


def _corrupt_case(B: int, T: int, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(5, 100, (B, T), generator=g)
        selected = torch.rand(B, T, generator=g) < 0.3
        u = torch.rand(B, T, generator=g)
        random_ids = torch.randint(5, 100, (B, T), generator=g)
        e_out, e_lab = _reference_corrupt(ids, selected, u, 4, random_ids)
        call = f"corrupt(ids ({B}, {T}), selected, u, mask_id=4, random_ids)"
        got = fn(ids.clone(), selected, u, 4, random_ids)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (corrupted, labels), got {type(got).__name__}", call=call)
        expect_tensor(got[1], e_lab, call + "[1] (labels)", exact=True)
        expect_tensor(got[0], e_out, call + "[0] (corrupted ids)", exact=True)

    return test


def _corrupt_untouched(fn: Callable) -> None:
    import torch

    ids = torch.tensor([[7, 8, 9, 10]])
    selected = torch.tensor([[False, True, True, True]])
    u = torch.tensor([[0.1, 0.95, 0.85, 0.5]])
    random_ids = torch.tensor([[50, 51, 52, 53]])
    call = "corrupt([[7, 8, 9, 10]], selected=[[F, T, T, T]], u=[[0.1, 0.95, 0.85, 0.5]], mask_id=4, random_ids=[[50, 51, 52, 53]])"
    got = fn(ids.clone(), selected, u, 4, random_ids)
    expect_tensor(got[0], torch.tensor([[7, 8, 52, 4]]), call + "[0]", exact=True)
    expect_tensor(got[1], torch.tensor([[-100, 8, 9, 10]]), call + "[1]", exact=True)


CORRUPT = Question(
    "07.corrupt",
    "corrupt",
    "The 80/10/10 rule of Masked LM",
    tests=(
        Test("labels: the original token where selected, −100 elsewhere", _corrupt_case(2, 8, 0), points=1,
             hint="labels = torch.where(selected, ids, -100): the loss only looks at selected positions"),
        Test("u < 0.8 → [MASK], 0.8 ≤ u < 0.9 → random token, else unchanged", _corrupt_case(4, 16, 1), points=2,
             hint="three cases per selected token, decided by u; unselected tokens never change"),
        Test("a hand-made example: unselected, unchanged, random, [MASK]", _corrupt_untouched, points=1,
             hint="an unselected token stays even when its u < 0.8"),
    ),
)

# ---- 07.nsp_input ---------------------------------------------------------------------------


def _nsp_case(a: list[int], b: list[int], max_len: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.data.masking import SpecialTokens, pack_pair

        expected = pack_pair(a, b, SpecialTokens(0, 1, 2, 3, 4), max_len)
        call = f"nsp_input({a}, {b}, cls_id=2, sep_id=3, max_len={max_len})"
        got = fn(list(a), list(b), 2, 3, max_len)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (input_ids, token_type_ids), got {type(got).__name__}", call=call)
        got = (list(got[0]), list(got[1]))
        if got != expected:
            raise Mismatch("wrong (input_ids, token_type_ids)", call=call, expected=str(expected), got=str(got))

    return test


NSP_INPUT = Question(
    "07.nsp_input",
    "nsp_input",
    "Building an NSP input: [CLS] A [SEP] B [SEP]",
    tests=(
        Test("short sentences fit as they are", _nsp_case([10, 11], [20, 21, 22], 16), points=1,
             hint="ids = [cls] + a + [sep] + b + [sep]; segment 0 for [CLS], A and the first [SEP], 1 for B and the last [SEP]"),
        Test("the longer side is truncated first", _nsp_case(list(range(10, 20)), [30, 31], 9), points=2,
             hint="while len(a) + len(b) > max_len - 3: pop the last token of the longer one (A when equal)"),
        Test("both sides truncated", _nsp_case(list(range(10, 18)), list(range(30, 38)), 10), points=1,
             hint="the three special tokens count towards max_len"),
    ),
)

# ---- 07.mlm_loss ----------------------------------------------------------------------------


def _mlm_loss_case(B: int, T: int, V: int, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(B, T, V, generator=g) * 3
        labels = torch.randint(0, V, (B, T), generator=g)
        labels[torch.rand(B, T, generator=g) > 0.3] = -100
        labels[0, 0] = 1  # at least one masked position
        expected = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)
        expect_tensor(torch.as_tensor(fn(logits, labels)), expected, f"masked_lm_loss(logits ({B}, {T}, {V}), labels with -100)")

    return test


def _mlm_uniform(fn: Callable) -> None:
    import math

    import torch

    labels = torch.tensor([[-100, 3, -100, 7], [5, -100, -100, -100]])
    got = float(fn(torch.zeros(2, 4, 50), labels))
    if abs(got - math.log(50)) > 1e-5:
        raise Mismatch("a model with all logits equal (it knows nothing) must score ln V", call="masked_lm_loss(zeros (2, 4, 50), labels)",
                       expected=f"{math.log(50):.6f} (ln 50)", got=f"{got:.6f}")


def _mlm_ignores_unmasked(fn: Callable) -> None:
    import torch

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 5, 20, generator=g)
    labels = torch.tensor([[-100, 4, -100, -100, 9], [-100, -100, 2, -100, -100]])
    other = logits.clone()
    other[labels == -100] = torch.randn(7, 20, generator=g) * 100  # change only the unmasked positions
    a, b = float(fn(logits, labels)), float(fn(other, labels))
    if abs(a - b) > 1e-5:
        raise Mismatch("the loss changed when only the logits at unmasked positions (label -100) changed",
                       call="masked_lm_loss(logits, labels) vs the same with other logits where labels == -100",
                       expected=f"{a:.6f} both times", got=f"{b:.6f}")


MLM_LOSS = Question(
    "07.mlm_loss",
    "masked_lm_loss",
    "The Masked LM loss, over the masked positions only",
    tests=(
        Test("all logits equal: ln V", _mlm_uniform, points=1,
             hint="softmax of equal logits is 1/V for every token, so -log p = ln V; average over the masked positions"),
        Test("unmasked positions do not count", _mlm_ignores_unmasked, points=1,
             hint="sel = labels != -100; use logits[sel] (n_masked, V) and labels[sel] only"),
        Test("random logits, ~30 % masked", _mlm_loss_case(3, 8, 40, 0), points=2,
             hint="-logits[sel].log_softmax(-1).gather(1, labels[sel][:, None]).mean(); "
                  "or F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)"),
    ),
)

EXERCISE = Exercise("07", "Attention with a padding mask, MLM corruption, NSP inputs, the MLM loss",
                    (ATTENTION, CORRUPT, NSP_INPUT, MLM_LOSS))

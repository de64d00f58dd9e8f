"""Exercise 14's questions: answers written with the package get full marks, and the typical mistakes lose points."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from ptm_course.grading import get_exercise
from ptm_course.grading.core import run_question
from ptm_course.grading.questions import ch14
from ptm_course.models.bert import BertConfig, BertMeanPoolClassifier
from ptm_course.models.gpt import lm_loss
from ptm_course.models.transformer import StaticKV
from ptm_course.tuning import PrefixEncoder, PrefixKV, apply_prefix, count_parameters, export_prefix


def test_exercise_14_lists_its_questions_with_points():
    ex = get_exercise("14")
    assert [q.id for q in ex.questions] == ["14.prefix_attention", "14.reparam", "14.count", "14.storage",
                                            "14.measure"]
    assert [q.name for q in ex.questions] == ["prefix_attention", "prefix_from_mlp", "prefix_parameters",
                                              "storage_bytes", "prefix_loss"]
    assert [q.max_points for q in ex.questions] == [4, 4, 4, 4, 4]


# ---- reference answers -------------------------------------------------------------------------


def _attention(q, k, v, pk, pv, mask, prefix_first=True, widen="ones", scale=True, use_mask=True):
    B, P = q.size(0), pk.size(1)
    pk, pv = pk.expand(B, -1, -1, -1), pv.expand(B, -1, -1, -1)  # (B, nh, P, hs)
    k = torch.cat([pk, k], 2) if prefix_first else torch.cat([k, pk], 2)
    v = torch.cat([pv, v], 2) if prefix_first else torch.cat([v, pv], 2)
    m = mask.bool()
    if widen == "ones":
        m = torch.cat([m.new_ones(B, P), m], 1)  # always the prefix columns first: right only if prefix_first
    elif widen == "zeros":
        m = torch.cat([m.new_zeros(B, P), m], 1)
    scores = q @ k.transpose(-1, -2) / (math.sqrt(q.size(-1)) if scale else 1.0)  # (B, nh, T, K)
    if use_mask:
        scores = scores.masked_fill(~m[:, None, None, :], float("-inf"))
    return scores.softmax(-1) @ v


def _sdpa_attention(q, k, v, pk, pv, mask):
    B, P = q.size(0), pk.size(1)
    k = torch.cat([k, pk.expand(B, -1, -1, -1)], 2)  # the prefix after the tokens, the mask widened to match
    v = torch.cat([v, pv.expand(B, -1, -1, -1)], 2)
    m = torch.cat([mask.bool(), mask.new_ones(B, P).bool()], 1)[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=m)


def _reparam(out, n_layers, n_heads):
    P = out.size(0)
    hs = out.size(1) // (2 * n_layers * n_heads)
    return out.view(P, n_layers, 2, n_heads, hs).permute(1, 2, 3, 0, 4)


def _package_counts(n_layers, d_model, length, hidden):
    enc = PrefixEncoder(n_layers, 1, d_model, length, hidden)
    return count_parameters(enc).total, count_parameters(PrefixKV(enc())).total


def _counts(L, d, P, h):
    return P * d + (d * h + h) + (h * L * 2 * d + L * 2 * d), L * 2 * P * d


def _storage(b, L, d, P, c, n):
    head = d * c + c
    return 4 * (b + n * (L * 2 * P * d + head)), 4 * n * (b + head)


def _loss(model, prefix, ids, mask):
    m = copy.deepcopy(model).eval()
    batch = {"input_ids": ids, "attention_mask": mask}
    with torch.no_grad():
        without = lm_loss(m, batch)[0].item()
        m = apply_prefix(m, length=prefix.shape[3], hidden=None)
        m.prefix.kv.copy_(prefix)
        return without, lm_loss(m, batch)[0].item()


def test_package_answers_are_full_marks():
    assert run_question(ch14.PREFIX_ATTENTION, _attention).points == 4
    assert run_question(ch14.PREFIX_ATTENTION, _sdpa_attention).points == 4  # after the tokens, widened to match
    assert run_question(ch14.REPARAM, _reparam).points == 4
    assert run_question(ch14.COUNT, _package_counts).points == 4
    assert run_question(ch14.COUNT, _counts).points == 4
    assert run_question(ch14.STORAGE, _storage).points == 4
    assert run_question(ch14.MEASURE, _loss).points == 4


def test_storage_formula_is_the_package_count():
    # the bytes a task adds are what count_parameters reports as trainable after apply_prefix(hidden=None)
    cfg = BertConfig.tiny(vocab_size=30, max_len=16)
    torch.manual_seed(0)
    base = BertMeanPoolClassifier(cfg, 3)
    backbone = count_parameters(base).backbone
    tuned = apply_prefix(copy.deepcopy(base), length=4, hidden=None)
    one = _storage(backbone, cfg.n_layers, cfg.d_model, 4, 3, 1)
    assert one[0] == 4 * backbone + count_parameters(tuned).trainable_bytes
    assert one[1] == count_parameters(base).trainable_bytes
    # exported from the reparameterisation, the same numbers
    tuned = export_prefix(apply_prefix(copy.deepcopy(base), length=4, hidden=16))
    assert count_parameters(tuned).trainable == _counts(cfg.n_layers, cfg.d_model, 4, 16)[1] + 3 * cfg.d_model + 3


def test_minilm_backbone_has_the_parameters_the_question_states():
    cfg = BertConfig(vocab_size=30522, d_model=384, n_layers=6, n_heads=12, d_ff=1536, max_len=512)  # all-MiniLM-L6-v2
    assert count_parameters(BertMeanPoolClassifier(cfg, 2)).backbone == ch14.MINILM["backbone_params"] == 22_713_216


def _failed(result):
    return [t.description for t in result.tests if t.status != "passed"]


# ---- 14.prefix_attention -----------------------------------------------------------------------


def test_prefix_attention_mistakes():
    appended = run_question(ch14.PREFIX_ATTENTION, lambda *a: _attention(*a, prefix_first=False))
    assert appended.points == 1 and appended.tests[0].status == "passed"  # no padding: the columns do not matter
    hidden = run_question(ch14.PREFIX_ATTENTION, lambda *a: _attention(*a, widen="zeros"))
    assert hidden.points == 0
    not_widened = run_question(ch14.PREFIX_ATTENTION, lambda *a: _attention(*a, widen="no"))
    assert not_widened.points == 0 and not_widened.tests[0].status == "error"  # (T) columns for P + T keys
    unscaled = run_question(ch14.PREFIX_ATTENTION, lambda *a: _attention(*a, scale=False))
    assert unscaled.points == 0
    sees_padding = run_question(ch14.PREFIX_ATTENTION, lambda *a: _attention(*a, use_mask=False))
    assert sees_padding.points == 1 and sees_padding.tests[0].status == "passed"
    assert "widen" in sees_padding.tests[1].hint
    swapped = run_question(ch14.PREFIX_ATTENTION, lambda q, k, v, pk, pv, m: _attention(q, k, v, pv, pk, m))
    assert swapped.points == 0

    def sdpa_unwidened(q, k, v, pk, pv, mask):
        B = q.size(0)
        k, v = torch.cat([pk.expand(B, -1, -1, -1), k], 2), torch.cat([pv.expand(B, -1, -1, -1), v], 2)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask.bool()[:, None, None, :])

    assert run_question(ch14.PREFIX_ATTENTION, sdpa_unwidened).points == 0

    def long_mask_only(q, k, v, pk, pv, mask):  # (1 - mask) breaks on a bool mask
        B, P = q.size(0), pk.size(1)
        k, v = torch.cat([pk.expand(B, -1, -1, -1), k], 2), torch.cat([pv.expand(B, -1, -1, -1), v], 2)
        bias = torch.cat([mask.new_zeros(B, P), (1 - mask)], 1)[:, None, None, :] * -1e9
        return (q @ k.transpose(-1, -2) / q.size(-1) ** 0.5 + bias).softmax(-1) @ v

    bool_fails = run_question(ch14.PREFIX_ATTENTION, long_mask_only)
    assert bool_fails.points == 3 and bool_fails.tests[2].status == "error"


# ---- 14.reparam --------------------------------------------------------------------------------


def test_reparam_mistakes():
    def hs(out, L, nh):
        return out.size(1) // (2 * L * nh)

    plain_view = run_question(ch14.REPARAM, lambda out, L, nh: out.view(L, 2, nh, out.size(0), hs(out, L, nh)))
    assert plain_view.points == 0 and "values differ" in plain_view.tests[0].message
    kv_first = run_question(ch14.REPARAM, lambda out, L, nh: out.view(out.size(0), 2, L, nh, hs(out, L, nh))
                            .permute(2, 1, 3, 0, 4))
    assert kv_first.points == 1 and kv_first.tests[0].status == "passed"  # one layer: (L, 2) = (2, L)
    swapped_kv = run_question(ch14.REPARAM, lambda out, L, nh: _reparam(out, L, nh).flip(1))
    assert swapped_kv.points == 0
    heads_last = run_question(ch14.REPARAM, lambda out, L, nh: out.view(out.size(0), L, 2, hs(out, L, nh), nh)
                              .permute(1, 2, 4, 0, 3))
    assert heads_last.points == 0
    no_permute = run_question(ch14.REPARAM, lambda out, L, nh: out.view(out.size(0), L, 2, nh, hs(out, L, nh)))
    assert no_permute.points == 0 and "wrong shape" in no_permute.tests[0].message
    detached = run_question(ch14.REPARAM, lambda out, L, nh: _reparam(out.detach(), L, nh))
    assert detached.points == 3 and _failed(detached) == [ch14.REPARAM.tests[2].description]
    assert "detached" in detached.tests[2].message
    rebuilt = run_question(ch14.REPARAM, lambda out, L, nh: torch.tensor(_reparam(out, L, nh).tolist()))
    assert rebuilt.points == 3


# ---- 14.count ----------------------------------------------------------------------------------


def test_count_mistakes():
    def count(L, d, P, h, biases=True, embedding=True, kv=2, exported_mlp=False):
        train = (P * d if embedding else 0) + d * h + h * L * 2 * d + ((h + L * 2 * d) if biases else 0)
        kept = L * kv * P * d + (train - P * d if exported_mlp else 0)
        return train, kept

    no_biases = run_question(ch14.COUNT, lambda *a: count(*a, biases=False))
    assert no_biases.points == 1 and no_biases.tests[1].status == "passed"
    no_embedding = run_question(ch14.COUNT, lambda *a: count(*a, embedding=False))
    assert no_embedding.points == 1
    keys_only = run_question(ch14.COUNT, lambda *a: count(*a, kv=1))
    assert keys_only.points == 2 and keys_only.tests[0].status == "passed"
    keeps_mlp = run_question(ch14.COUNT, lambda *a: count(*a, exported_mlp=True))
    assert keeps_mlp.points == 2
    swapped = run_question(ch14.COUNT, lambda *a: count(*a)[::-1])
    assert swapped.points == 0
    per_layer_mlp = run_question(ch14.COUNT, lambda L, d, P, h: (P * d + d * h + h + h * 2 * d + 2 * d,
                                                                  L * 2 * P * d))
    assert per_layer_mlp.points == 1  # Linear(hidden, 2·d) instead of L·2·d: only the exported count is right
    as_floats = run_question(ch14.COUNT, lambda *a: tuple(float(x) for x in count(*a)))
    assert as_floats.points == 0 and "int" in as_floats.tests[2].message
    as_int = run_question(ch14.COUNT, lambda *a: sum(count(*a)))
    assert as_int.points == 0 and "pair" in as_int.tests[2].message


# ---- 14.storage --------------------------------------------------------------------------------


def test_storage_mistakes():
    def storage(b, L, d, P, c, n, nbytes=4, kv=2, shared=True, head=True, copies=None):
        hd = d * c + c if head else 0
        prefixes = nbytes * ((b if shared else n * b) + n * (L * kv * P * d + hd))
        n_copies = n if copies is None else copies(n)
        return prefixes, nbytes * n_copies * (b + (d * c + c))

    assert run_question(ch14.STORAGE, lambda *a: storage(*a, nbytes=1)).points == 0  # parameters, not bytes
    assert run_question(ch14.STORAGE, lambda *a: storage(*a, nbytes=2)).points == 0  # fp16
    assert run_question(ch14.STORAGE, lambda *a: storage(*a, kv=1)).points == 0  # keys only
    assert run_question(ch14.STORAGE, lambda *a: storage(*a, head=False)).points == 0  # the task's head
    per_task_backbone = run_question(ch14.STORAGE, lambda *a: storage(*a, shared=False))
    assert per_task_backbone.points == 1 and per_task_backbone.tests[0].status == "passed"  # N = 1
    plus_original = run_question(ch14.STORAGE, lambda *a: storage(*a, copies=lambda n: n + 1))
    assert plus_original.points == 0
    as_floats = run_question(ch14.STORAGE, lambda *a: tuple(x * 1.0 for x in storage(*a)))
    assert as_floats.points == 0 and "int" in as_floats.tests[0].message
    two_classes = run_question(ch14.STORAGE, lambda b, L, d, P, c, n: storage(b, L, d, P, 2, n))
    assert two_classes.points == 2  # the first and MiniLM's cases have 2 classes


# ---- 14.measure --------------------------------------------------------------------------------


def _token_losses(logits, ids, mask, shift=True):
    """Per-token cross-entropy (B, T') and which entries are real next tokens."""
    if shift:
        logits, ids, mask = logits[:, :-1], ids[:, 1:], mask[:, 1:]
    ce = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
    return ce, mask.bool()


def _measure(model, prefix, ids, mask, deepcopy=True, eval_mode=True, shift=True, per_row=False, use_mask=True,
             via_past_kv=False):
    m = copy.deepcopy(model) if deepcopy else model
    if eval_mode:
        m.eval()

    def loss(past_kv=None):
        with torch.no_grad():
            logits = m(ids, attention_mask=mask, past_kv=past_kv) if past_kv is not None else m(ids, attention_mask=mask)
        ce, real = _token_losses(logits, ids, mask, shift)
        if not use_mask:
            real = torch.ones_like(real)
        if per_row:
            return ((ce * real).sum(1) / real.sum(1)).mean().item()
        return (ce[real].sum() / real.sum()).item()

    without = loss()
    if via_past_kv:  # the prefix as earlier tokens: the tokens' positions start at P
        return without, loss([StaticKV(layer[0], layer[1]) for layer in prefix])
    m = apply_prefix(m, length=prefix.shape[3], hidden=None)
    with torch.no_grad():
        m.prefix.kv.copy_(prefix)
    return without, loss()


def test_measure_by_hand_is_full_marks():
    assert run_question(ch14.MEASURE, _measure).points == 4


def test_measure_mistakes():
    no_shift = run_question(ch14.MEASURE, lambda *a: _measure(*a, shift=False))
    assert no_shift.points == 0
    per_row = run_question(ch14.MEASURE, lambda *a: _measure(*a, per_row=True))
    assert per_row.points == 1 and per_row.tests[0].status == "passed"  # rows of one length: the same mean
    assert per_row.tests[1].status == "failed" and "per-row" in per_row.tests[1].hint
    padding_counted = run_question(ch14.MEASURE, lambda *a: _measure(*a, use_mask=False))
    assert padding_counted.points == 1 and padding_counted.tests[0].status == "passed"
    train_mode = run_question(ch14.MEASURE, lambda *a: _measure(*a, eval_mode=False))
    assert train_mode.points == 0  # dropout
    mutates = run_question(ch14.MEASURE, lambda *a: _measure(*a, deepcopy=False))
    assert mutates.points == 3 and _failed(mutates) == [ch14.MEASURE.tests[2].description]
    assert "changed the model" in mutates.tests[2].message
    past_kv = run_question(ch14.MEASURE, lambda *a: _measure(*a, via_past_kv=True))
    assert past_kv.points == 0  # the positions shift by P
    swapped = run_question(ch14.MEASURE, lambda *a: _measure(*a)[::-1])
    assert swapped.points == 0

    def one_number(model, prefix, ids, mask):
        return _measure(model, prefix, ids, mask)[1]

    single = run_question(ch14.MEASURE, one_number)
    assert single.points == 0 and "pair" in single.tests[0].message

    def copy_without_no_grad(model, prefix, ids, mask):
        m = apply_prefix(copy.deepcopy(model).eval(), length=prefix.shape[3], hidden=None)
        m.prefix.kv.copy_(prefix)  # a leaf that requires grad: RuntimeError
        return 0.0, 0.0

    assert run_question(ch14.MEASURE, copy_without_no_grad).tests[0].status == "error"


def test_measure_checks_a_prefix_that_changes_the_loss():
    for lengths, T, seed in (((10, 10), 10, 0), ((12, 5, 8), 12, 10), ((9, 6), 9, 20)):
        model = ch14._gpt(seed)
        prefix, ids, mask = ch14._measure_inputs(seed, lengths, T)
        without, with_prefix = ch14._reference_losses(model, prefix, ids, mask)
        assert abs(without - with_prefix) > 0.01
        train_mode = _measure(model, prefix, ids, mask, eval_mode=False)
        assert abs(train_mode[0] - without) > 1e-3 * without  # dropout is visible at the checks' tolerance
        assert model.training  # the check hands the model over in train mode

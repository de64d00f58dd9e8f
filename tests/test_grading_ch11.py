"""Exercise 11's questions: the package's own functions get full marks, and the typical mistakes lose points."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ptm_course.grading import get_exercise
from ptm_course.grading.core import run_question
from ptm_course.grading.questions import ch11
from ptm_course.models.transformer_xl import evaluate_with_memory, rel_shift
from ptm_course.models.xlnet import content_stream_mask, permutation_masks, query_stream_mask


def test_exercise_11_lists_its_questions_with_points():
    ex = get_exercise("11")
    assert [q.name for q in ex.questions] == ["shift_to_keys", "xlnet_masks", "visible_positions",
                                              "perplexity_with_and_without_memory"]
    assert [q.max_points for q in ex.questions] == [4, 4, 4, 4]


def _package_masks(order, n_predict):
    pm, _ = permutation_masks(order, n_predict)
    return content_stream_mask(pm), query_stream_mask(pm)


def _package_visible(order, n_predict, target):
    return query_stream_mask(permutation_masks(order, n_predict)[0])[target].nonzero().flatten().tolist()


def _package_memory(model, ids, seg_len):
    return (math.exp(evaluate_with_memory(model, ids, seg_len, mem_len=0, batch_size=1)),
            math.exp(evaluate_with_memory(model, ids, seg_len, batch_size=1)))


def test_package_functions_are_full_marks():
    assert run_question(ch11.SHIFT, rel_shift).points == 4
    assert run_question(ch11.MASKS, _package_masks).points == 4
    assert run_question(ch11.VISIBLE, _package_visible).points == 4
    assert run_question(ch11.MEMORY_PPL, _package_memory).points == 4


def test_shift_mistakes():
    def by_gather(x, sign):  # out[i, j] = x[i, j + sign · (T_q − 1 − i)], clamped: the right formula for sign = 1
        T_q, R = x.shape[-2:]
        col = (torch.arange(R)[None, :] + sign * (T_q - 1 - torch.arange(T_q)[:, None])).clamp(0, R - 1)
        return x.gather(-1, col.expand(x.shape))

    assert run_question(ch11.SHIFT, lambda x: by_gather(x, 1)).points == 4  # the index answer is fine too
    assert run_question(ch11.SHIFT, lambda x: by_gather(x, -1)).points == 0  # shifting the wrong way
    by_i = run_question(ch11.SHIFT, lambda x: x.gather(-1, (torch.arange(x.shape[-1])[None, :]
                                                           + torch.arange(x.shape[-2])[:, None]).clamp(
                                                               max=x.shape[-1] - 1).expand(x.shape)))
    assert by_i.points < 4  # moving row i by i instead of T_q − 1 − i
    unshifted = run_question(ch11.SHIFT, lambda x: x.clone())
    assert unshifted.points == 0
    two_d_only = run_question(ch11.SHIFT, lambda x: F.pad(x, (1, 0)).reshape(x.shape[-1] + 1, x.shape[-2])[1:]
                              .reshape(x.shape))
    assert two_d_only.points == 2 and "lead" in " ".join(t.hint for t in two_d_only.tests if t.status != "passed")


def test_mask_mistakes():
    def by_place(order, n):  # masks indexed by place in the order, not by position
        T = order.numel()
        c, q = _package_masks(torch.arange(T), n)
        return c, q

    def all_ordered(order, n):  # every position ordered, as if all T were predicted: non-targets lose each other
        return _package_masks(order, order.numel() - 1)

    def as_float(order, n):
        c, q = _package_masks(order, n)
        return c.float(), q.float()

    def swapped(order, n):
        c, q = _package_masks(order, n)
        return q, c

    assert run_question(ch11.MASKS, by_place).points == 0
    ordered = run_question(ch11.MASKS, all_ordered)
    assert ordered.points <= 2 and not ordered.tests[1].status == "passed"
    flt = run_question(ch11.MASKS, as_float)
    assert flt.points == 0 and "torch.bool" in flt.tests[0].message
    assert run_question(ch11.MASKS, swapped).points == 0


def test_visible_mistakes():
    def with_itself(order, n, target):
        return sorted(_package_visible(order, n, target) + [target])

    def places(order, n, target):  # the places in the order instead of the positions
        o = order.tolist()
        return sorted(o.index(p) for p in _package_visible(order, n, target))

    def unsorted(order, n, target):
        vis = set(_package_visible(order, n, target))
        return [int(p) for p in order if int(p) in vis]

    def all_non_targets(order, n, target):  # forgets the earlier targets
        return sorted(int(p) for p in order[:-n])

    assert run_question(ch11.VISIBLE, with_itself).points == 0
    assert run_question(ch11.VISIBLE, places).points < 4
    assert run_question(ch11.VISIBLE, unsorted).points < 4
    forgot = run_question(ch11.VISIBLE, all_non_targets)
    assert forgot.tests[0].status == "passed" and forgot.tests[1].status != "passed" and forgot.points < 4


def _segments(ids, seg_len):
    for start in range(0, len(ids) - 1, seg_len):
        end = min(start + seg_len, len(ids) - 1)
        yield ids[None, start:end], ids[None, start + 1:end + 1]


@torch.no_grad()
def _read(model, ids, seg_len, keep_mems=True, mean_of_means=False):
    model.eval()
    mems, total, count, means = None, 0.0, 0, []
    for x, y in _segments(ids, seg_len):
        logits, new_mems = model(x, mems)
        mems = new_mems if keep_mems else None
        nll = F.cross_entropy(logits[0], y[0], reduction="sum").item()
        total, count = total + nll, count + y.numel()
        means.append(nll / y.numel())
    return math.exp(sum(means) / len(means) if mean_of_means else total / count)


def test_memory_mistakes():
    never_passed = run_question(ch11.MEMORY_PPL, lambda m, ids, s: (_read(m, ids, s, False), _read(m, ids, s, False)))
    assert never_passed.points == 0  # "with memory" that never passes the mems back in
    means = run_question(ch11.MEMORY_PPL, lambda m, ids, s: (_read(m, ids, s, False, True), _read(m, ids, s, True, True)))
    assert means.tests[1].status != "passed" and means.points <= 2  # the mean of the segments' means

    def zeroes_mem_len(m, ids, s):  # "without" by setting mem_len = 0, and leaving it there
        with_memory = _read(m, ids, s)
        m.config.mem_len = 0
        return _read(m, ids, s), with_memory

    left = run_question(ch11.MEMORY_PPL, zeroes_mem_len)
    assert left.points == 0 and "mem_len" in left.tests[0].message

    def log2(m, ids, s):
        return tuple(math.exp(math.log(p) / math.log(2)) for p in _package_memory(m, ids, s))  # exp of bits, not nats

    assert run_question(ch11.MEMORY_PPL, log2).points == 0

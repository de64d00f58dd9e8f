"""Exercise 13's questions: answers written with the package get full marks, and the typical mistakes lose points."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptm_course.grading import get_exercise
from ptm_course.grading.core import run_question
from ptm_course.grading.questions import ch13
from ptm_course.models.bert import BertConfig, BertForSequenceClassification
from ptm_course.tuning import LoRALinear, apply_bitfit, apply_lora, count_parameters, is_bias


def test_exercise_13_lists_its_questions_with_points():
    ex = get_exercise("13")
    assert [q.id for q in ex.questions] == ["13.lora_linear", "13.merge", "13.count", "13.bitfit"]
    assert [q.name for q in ex.questions] == ["lora_forward", "merge_lora_weight", "lora_trainable_parameters",
                                              "bitfit_trainable"]
    assert [q.max_points for q in ex.questions] == [4, 4, 4, 4]


# ---- reference answers, written with the package ---------------------------------------------


def _layer(weight, bias, A, B, alpha):
    base = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    layer = LoRALinear(base, rank=A.shape[0], alpha=alpha)
    with torch.no_grad():
        base.weight.copy_(weight)
        if bias is not None:
            base.bias.copy_(bias)
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    return layer


@torch.no_grad()
def _package_forward(x, weight, bias, A, B, alpha):
    return _layer(weight, bias, A, B, alpha)(x)


def _package_merge(weight, A, B, alpha):
    layer = _layer(weight, None, A, B, alpha)
    layer.merge()
    return layer.base.weight.detach()


def _package_count(d_model, n_layers, rank, n_targets, n_classes):
    cfg = BertConfig.tiny(vocab_size=20, d_model=d_model, n_layers=n_layers, d_ff=d_model, max_len=8)
    model = apply_lora(BertForSequenceClassification(cfg, n_classes), rank=rank,
                       targets=("q_proj", "v_proj", "k_proj", "o_proj")[:n_targets])
    return count_parameters(model).trainable


_BITFIT = {name: p.requires_grad for name, p in
           apply_bitfit(BertForSequenceClassification(BertConfig.tiny(vocab_size=20, max_len=8), 2)).named_parameters()}


def _package_bitfit(name):
    return is_bias(name) or name.split(".", 1)[0] == "classifier"


def test_package_answers_are_full_marks():
    assert run_question(ch13.LORA_LINEAR, _package_forward).points == 4
    assert run_question(ch13.MERGE, _package_merge).points == 4
    assert run_question(ch13.COUNT, _package_count).points == 4
    assert run_question(ch13.BITFIT, _package_bitfit).points == 4
    assert all(_package_bitfit(n) == trained for n, trained in _BITFIT.items())  # the filter is apply_bitfit's


def test_formula_answers_are_full_marks():
    def forward(x, weight, bias, A, B, alpha):
        return F.linear(x, weight, bias) + (alpha / A.shape[0]) * (x @ A.T @ B.T)

    def count(d, n_layers, rank, n_targets, n_classes):
        return n_layers * n_targets * rank * (d + d) + d * n_classes + n_classes

    assert run_question(ch13.LORA_LINEAR, forward).points == 4
    assert run_question(ch13.MERGE, lambda w, A, B, alpha: w + (alpha / A.shape[0]) * (B @ A)).points == 4
    assert run_question(ch13.COUNT, count).points == 4


def _failed(result):
    return [t.description for t in result.tests if t.status != "passed"]


# ---- 13.lora_linear ----------------------------------------------------------------------------


def test_lora_forward_mistakes():
    def forward(x, weight, bias, A, B, alpha, scaling=None, order="right", use_bias=True):
        r = A.shape[0]
        s = alpha / r if scaling is None else scaling(alpha, A, B)
        update = x @ A.T @ B.T if order == "right" else x @ (B @ A)
        return F.linear(x, weight, bias if use_bias else None) + s * update

    alpha_only = run_question(ch13.LORA_LINEAR, lambda *a: forward(*a, scaling=lambda al, A, B: al))
    assert alpha_only.points == 1 and alpha_only.tests[0].status == "passed"  # rank 1: alpha = alpha / r
    assert "alpha / r" in alpha_only.tests[1].hint and alpha_only.tests[1].status == "failed"

    transposed = run_question(ch13.LORA_LINEAR, lambda *a: forward(*a, order="wrong"))
    assert transposed.points == 0 and transposed.tests[2].status == "failed"  # in = out: values, not shapes
    assert transposed.tests[0].status == "error"  # not square: the shapes do not fit

    no_bias = run_question(ch13.LORA_LINEAR, lambda *a: forward(*a, use_bias=False))
    assert no_bias.points == 1 and no_bias.tests[2].status == "passed"  # only the bias=None test passes

    bias_none_crashes = run_question(ch13.LORA_LINEAR, lambda x, w, b, A, B, al: x @ w.T + b + (al / A.shape[0]) * (x @ A.T @ B.T))
    assert bias_none_crashes.points == 3 and bias_none_crashes.tests[2].status == "error"

    for wrong_rank in (lambda al, A, B: al / A.shape[1], lambda al, A, B: al / B.shape[0]):
        assert run_question(ch13.LORA_LINEAR, lambda *a: forward(*a, scaling=wrong_rank)).points == 0

    unscaled = run_question(ch13.LORA_LINEAR, lambda *a: forward(*a, scaling=lambda al, A, B: 1.0))
    assert unscaled.points == 0


# ---- 13.merge ----------------------------------------------------------------------------------


def test_merge_mistakes():
    alpha_only = run_question(ch13.MERGE, lambda w, A, B, al: w + al * (B @ A))
    assert alpha_only.points == 1 and alpha_only.tests[0].status == "passed"
    transposed = run_question(ch13.MERGE, lambda w, A, B, al: w + (al / A.shape[0]) * (A.T @ B.T))
    assert transposed.points == 0 and transposed.tests[0].status == "error"  # (in, out) does not add to (out, in)
    assert transposed.tests[2].status == "failed" and "values differ" in transposed.tests[2].message  # in = out
    delta_only = run_question(ch13.MERGE, lambda w, A, B, al: (al / A.shape[0]) * (B @ A))
    assert delta_only.points == 0

    def in_place(w, A, B, al):
        w += (al / A.shape[0]) * (B @ A)
        return w

    touched = run_question(ch13.MERGE, in_place)
    assert touched.points == 3 and _failed(touched) == [ch13.MERGE.tests[2].description]
    assert "in place" in touched.tests[2].message

    def scales_a(w, A, B, al):
        A.mul_(al / A.shape[0])
        return w + B @ A

    assert run_question(ch13.MERGE, scales_a).points == 3


# ---- 13.count ----------------------------------------------------------------------------------


def test_count_mistakes():
    def count(d, n_layers, rank, n_targets, n_classes, per_proj=None, head=None, layers=True):
        per = rank * (d + d) if per_proj is None else per_proj(d, rank)
        hd = d * n_classes + n_classes if head is None else head(d, n_classes)
        return (n_layers if layers else 1) * n_targets * per + hd

    assert run_question(ch13.COUNT, lambda *a: count(*a, head=lambda d, c: 0)).points == 0  # forgets the head
    assert run_question(ch13.COUNT, lambda *a: count(*a, per_proj=lambda d, r: r * d)).points == 0  # r·d once
    for wrong_head in (lambda d, c: d * c, lambda d, c: d * c + d, lambda d, c: d * c + 1):
        assert run_question(ch13.COUNT, lambda *a: count(*a, head=wrong_head)).points == 0  # the head's bias
    one_layer = run_question(ch13.COUNT, lambda *a: count(*a, layers=False))
    assert one_layer.points == 2 and _failed(one_layer) == [ch13.COUNT.tests[1].description]
    two_classes = run_question(ch13.COUNT, lambda d, L, r, t, c: count(d, L, r, t, 2))
    assert two_classes.points == 1 and two_classes.tests[0].status == "passed"
    with_biases = run_question(ch13.COUNT, lambda *a: count(*a, per_proj=lambda d, r: r * (d + d) + d))
    assert with_biases.points == 0  # the frozen projections' biases do not train
    as_float = run_question(ch13.COUNT, lambda *a: float(count(*a)))
    assert as_float.points == 0 and "int" in as_float.tests[0].message


# ---- 13.bitfit ---------------------------------------------------------------------------------


def test_bitfit_mistakes():
    head = lambda n: n.split(".", 1)[0] == "classifier"  # noqa: E731
    contains = run_question(ch13.BITFIT, lambda n: "bias" in n or head(n))
    assert contains.points == 3 and _failed(contains) == [ch13.BITFIT.tests[1].description]
    ends = run_question(ch13.BITFIT, lambda n: n.endswith("bias") or head(n))
    assert ends.points == 3 and _failed(ends) == [ch13.BITFIT.tests[1].description]  # r_w_bias ends with "bias"
    dotted = run_question(ch13.BITFIT, lambda n: n.endswith(".bias") or head(n))
    assert dotted.points == 3 and _failed(dotted) == [ch13.BITFIT.tests[2].description]
    no_head = run_question(ch13.BITFIT, is_bias)
    assert no_head.points == 1 and no_head.tests[1].status == "passed"
    head_weight_only = run_question(ch13.BITFIT, lambda n: is_bias(n) or n == "classifier.weight")
    assert head_weight_only.points == 3 and head_weight_only.tests[2].status == "failed"
    not_weight = run_question(ch13.BITFIT, lambda n: not n.endswith("weight"))
    assert not_weight.points == 0
    as_int = run_question(ch13.BITFIT, lambda n: int(_package_bitfit(n)))
    assert as_int.points == 0 and "bool" in as_int.tests[0].message

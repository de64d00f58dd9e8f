"""Exercise 13: a LoRA layer, merging it, counting what trains, BitFit's filter (delta-tuning).

Notebook: ``exercises/13_delta_tuning_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``13.lora_linear`` — ``lora_forward(x, weight, bias, A, B, alpha)``: the output of a LoRA layer,
  ``x·Wᵀ + b + (α/r)·x·Aᵀ·Bᵀ`` with r = ``A.shape[0]``; compared with
  :class:`ptm_course.tuning.LoRALinear` holding the same tensors (a non-zero B);
- ``13.merge`` — ``merge_lora_weight(weight, A, B, alpha)``: the merged weight ``W + (α/r)·B·A``,
  (out, in), without modifying the inputs; compared with :meth:`~ptm_course.tuning.LoRALinear.merge`,
  and a plain ``nn.Linear`` with the merged weight must give the unmerged LoRALinear's outputs;
- ``13.count`` — ``lora_trainable_parameters(d_model, n_layers, rank, n_targets, n_classes)``: the
  exact number of trainable parameters of a course BERT classifier after
  :func:`ptm_course.tuning.apply_lora` on ``n_targets`` of (q_proj, k_proj, v_proj, o_proj);
  compared with :func:`ptm_course.tuning.count_parameters` on tiny models built on the spot;
- ``13.bitfit`` — ``bitfit_trainable(name)``: whether BitFit trains the parameter of that qualified
  name (a bias, or the task head ``classifier``); compared with what
  :func:`ptm_course.tuning.apply_bitfit` leaves trainable in a tiny BERT classifier, plus names
  that merely contain "bias".
"""

from __future__ import annotations

from typing import Callable

from ..core import Exercise, Mismatch, Question, Test, expect, expect_tensor

__all__ = ["EXERCISE"]

# the d×d projections of a course Transformer block that LoRA may target, in the order 13.count takes them:
# n_targets = 2 is apply_lora's default (q_proj, v_proj), 4 is all of them
PROJECTIONS = ("q_proj", "v_proj", "k_proj", "o_proj")


def _randn(shape: tuple[int, ...], seed: int):
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _lora_layer(weight, bias, A, B, alpha):
    """A LoRALinear holding copies of these tensors (unmerged)."""
    import torch
    from torch import nn

    from ptm_course.tuning import LoRALinear

    out_f, in_f = weight.shape
    base = nn.Linear(in_f, out_f, bias=bias is not None)
    layer = LoRALinear(base, rank=A.shape[0], alpha=alpha)
    with torch.no_grad():
        base.weight.copy_(weight)
        if bias is not None:
            base.bias.copy_(bias)
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    return layer


def _factors(out_f: int, in_f: int, rank: int, seed: int, bias: bool = True):
    weight, A, B = _randn((out_f, in_f), seed), _randn((rank, in_f), seed + 1), _randn((out_f, rank), seed + 2)
    return weight, (_randn((out_f,), seed + 3) if bias else None), A, B


def _shapes(weight, bias, A, B, with_bias: bool = True) -> str:
    b = ("bias None, " if bias is None else f"bias ({bias.shape[0]},), ") if with_bias else ""
    return f"weight {tuple(weight.shape)}, {b}A {tuple(A.shape)}, B {tuple(B.shape)}"


# ---- 13.lora_linear ----------------------------------------------------------------------------


def _forward_case(out_f: int, in_f: int, rank: int, alpha: float, lead: tuple[int, ...], bias: bool,
                  seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        weight, b, A, B = _factors(out_f, in_f, rank, seed, bias)
        x = _randn((*lead, in_f), seed + 4)
        with torch.no_grad():
            want = _lora_layer(weight, b, A, B, alpha)(x)
        call = f"lora_forward(x {tuple(x.shape)}, {_shapes(weight, b, A, B)}, alpha={alpha})"
        got = fn(x.clone(), weight.clone(), None if b is None else b.clone(), A.clone(), B.clone(), alpha)
        expect_tensor(got, want, call, atol=1e-5, rtol=1e-5)

    return test


LORA_LINEAR = Question(
    "13.lora_linear",
    "lora_forward",
    "A LoRA layer's output",
    tests=(
        Test("rank 1, alpha 2, 3 inputs of 6 features, 4 outputs", _forward_case(4, 6, 1, 2.0, (3,), True, 0),
             points=1,
             hint="the frozen layer's output x·Wᵀ + b plus the low-rank path x·Aᵀ·Bᵀ (x (…, in) · Aᵀ (in, r) · "
                  "Bᵀ (r, out)) times alpha / r; r is the rank, A.shape[0] (not A.shape[1], that is in); "
                  "F.linear(x, weight, bias) computes x·Wᵀ + b"),
        Test("rank 4, alpha 8, a batch (2, 5) of inputs", _forward_case(6, 5, 4, 8.0, (2, 5), True, 10),
             points=2,
             hint="the low-rank path is scaled by alpha / r (here 8 / 4 = 2), not by alpha; and x has batch "
                  "dimensions in front: use x @ A.T (or F.linear), which works on the last dimension only"),
        Test("no bias (bias=None), rank 3, in = out = 5", _forward_case(5, 5, 3, 6.0, (4,), False, 20),
             points=1,
             hint="with bias=None the frozen layer is x·Wᵀ alone (F.linear(x, weight, None) handles both); when "
                  "in = out a wrong order of the factors no longer fails on the shapes: the update is "
                  "x·Aᵀ·Bᵀ, i.e. x·(B·A)ᵀ, not x·(B·A)"),
    ),
)

# ---- 13.merge ----------------------------------------------------------------------------------


def _merged_by_package(weight, A, B, alpha):
    layer = _lora_layer(weight, None, A, B, alpha)
    layer.merge()
    return layer.base.weight.detach().clone()


def _check_merged(got, weight, A, B, alpha, call: str) -> None:
    expect_tensor(got, _merged_by_package(weight, A, B, alpha), call + "  [against LoRALinear.merge()]",
                  atol=1e-5, rtol=1e-5)


def _merge_case(out_f: int, in_f: int, rank: int, alpha: float, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        weight, _, A, B = _factors(out_f, in_f, rank, seed, bias=False)
        call = f"merge_lora_weight({_shapes(weight, None, A, B, with_bias=False)}, alpha={alpha})"
        _check_merged(fn(weight.clone(), A.clone(), B.clone(), alpha), weight, A, B, alpha, call)

    return test


def _merged_linear_case(fn: Callable) -> None:
    import torch
    from torch import nn

    out_f, in_f, rank, alpha = 7, 9, 4, 16.0
    weight, bias, A, B = _factors(out_f, in_f, rank, 30)
    call = f"merge_lora_weight({_shapes(weight, None, A, B, with_bias=False)}, alpha={alpha})"
    got = fn(weight.clone(), A.clone(), B.clone(), alpha)
    _check_merged(got, weight, A, B, alpha, call)
    x = _randn((3, in_f), 34)
    merged = nn.Linear(in_f, out_f)
    with torch.no_grad():
        merged.weight.copy_(got)
        merged.bias.copy_(bias)
        expect_tensor(merged(x), _lora_layer(weight, bias, A, B, alpha)(x),
                      call + "  [nn.Linear with the merged weight vs the unmerged LoRALinear, on x (3, 9)]",
                      atol=1e-4, rtol=1e-5)


def _untouched_case(fn: Callable) -> None:
    import torch

    weight, _, A, B = _factors(6, 6, 3, 40, bias=False)
    args = {"weight": weight.clone(), "A": A.clone(), "B": B.clone()}
    call = f"merge_lora_weight({_shapes(weight, None, A, B, with_bias=False)}, alpha=6.0)"
    got = fn(args["weight"], args["A"], args["B"], 6.0)
    for name, original in (("weight", weight), ("A", A), ("B", B)):
        if not torch.equal(args[name], original):
            raise Mismatch(f"merge_lora_weight changed its argument {name} in place: compute a new tensor "
                           "(W + ...), do not add into W (W += ...) or scale A or B in place", call=call)
    _check_merged(got, weight, A, B, 6.0, call)


MERGE = Question(
    "13.merge",
    "merge_lora_weight",
    "Merging the update into the weight",
    tests=(
        Test("rank 1, alpha 2, (out, in) = (4, 6)", _merge_case(4, 6, 1, 2.0, 0), points=1,
             hint="the merged weight is W + (alpha / r)·B·A: B (out, r) @ A (r, in) is (out, in), the shape of W; "
                  "A.T @ B.T is its transpose (in, out). Return the whole merged weight, not the update alone"),
        Test("rank 4, alpha 16: a Linear with the merged weight gives the LoRA layer's outputs", _merged_linear_case,
             points=2,
             hint="scale the update by alpha / r with r = A.shape[0] (here 16 / 4 = 4), not by alpha: then "
                  "x·(W + ΔW)ᵀ + b = x·Wᵀ + b + (alpha/r)·x·Aᵀ·Bᵀ, the unmerged layer's output"),
        Test("the inputs are left as they were (rank 3, alpha 6, in = out = 6)", _untouched_case, points=1,
             hint="return a new tensor, weight + scaling * (B @ A); `weight += ...` (or add_) changes the "
                  "caller's frozen weight, and a second call would add the update twice"),
    ),
)

# ---- 13.count ----------------------------------------------------------------------------------


def _count_case(configs: tuple[tuple[int, int, int, int, int], ...]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.bert import BertConfig, BertForSequenceClassification
        from ptm_course.tuning import apply_lora, count_parameters

        for d, n_layers, rank, n_targets, n_classes in configs:
            torch.manual_seed(0)
            cfg = BertConfig.tiny(vocab_size=30, d_model=d, n_layers=n_layers, n_heads=4, d_ff=2 * d, max_len=16)
            model = apply_lora(BertForSequenceClassification(cfg, n_classes), rank=rank,
                               targets=PROJECTIONS[:n_targets])
            want = count_parameters(model).trainable
            call = (f"lora_trainable_parameters(d_model={d}, n_layers={n_layers}, rank={rank}, "
                    f"n_targets={n_targets}, n_classes={n_classes})  [targets {', '.join(PROJECTIONS[:n_targets])}]")
            expect(fn(d, n_layers, rank, n_targets, n_classes), want, call=call)

    return test


COUNT = Question(
    "13.count",
    "lora_trainable_parameters",
    "Counting what LoRA trains",
    tests=(
        Test("one layer, q_proj and v_proj, rank 2, 2 classes, d_model 32", _count_case(((32, 1, 2, 2, 2),)),
             points=1,
             hint="each targeted d×d projection gets A (r, d) and B (d, r): r·(d + d) = 2·r·d trainable numbers, "
                  "not r·d; the frozen W and its bias do not count. Add the task head, which is always trained: "
                  "Linear(d, n_classes), a weight d·n_classes and a bias n_classes. Return an int"),
        Test("2 to 4 layers, 1 to 4 targets, ranks 1 to 8", _count_case(((16, 2, 4, 4, 3), (24, 3, 1, 1, 5),
                                                                        (8, 4, 8, 3, 2))),
             points=2,
             hint="every layer has its own LoRA factors: n_layers · n_targets · r·(d + d), plus the head once"),
        Test("the head, whatever the number of classes (1 and 10)", _count_case(((32, 1, 1, 2, 1), (32, 1, 1, 2, 10))),
             points=1,
             hint="the classifier maps d features to n_classes scores: d·n_classes weights and one bias per class "
                  "(n_classes, not d, not 1); use the n_classes argument, not a fixed 2"),
    ),
)

# ---- 13.bitfit ---------------------------------------------------------------------------------


def _judge(fn: Callable, names_and_answers) -> None:
    for name, want in names_and_answers:
        expect(fn(name), want, call=f"bitfit_trainable({name!r})")


def _every_parameter_case(fn: Callable) -> None:
    import torch

    from ptm_course.models.bert import BertConfig, BertForSequenceClassification
    from ptm_course.tuning import apply_bitfit

    torch.manual_seed(0)
    model = apply_bitfit(BertForSequenceClassification(BertConfig.tiny(vocab_size=30, max_len=16), 3))
    _judge(fn, [(name, p.requires_grad) for name, p in model.named_parameters()])


TRICKY_FALSE = ("bert.layers.0.attn.r_w_bias", "my_bias_table.weight", "bert.layers.1.attn.bias_proj.weight",
                "bert.embeddings.unbiased.weight", "layers.2.attn.r_r_bias")
TRICKY_TRUE = ("classifier.dense.weight", "classifier.out_proj.bias", "bias")


BITFIT = Question(
    "13.bitfit",
    "bitfit_trainable",
    "BitFit's filter",
    tests=(
        Test("every parameter of a tiny BertForSequenceClassification, as apply_bitfit leaves them",
             _every_parameter_case, points=2,
             hint="True for a bias (q_proj.bias, fc1.bias, norm1.bias, pooler.bias, ...) and for everything in "
                  "the task head `classifier` (its weight too: the head is new for every task); False for every "
                  "other weight and embedding. Return a bool"),
        Test("names that merely contain 'bias' are not biases", lambda fn: _judge(fn, [(n, False) for n in TRICKY_FALSE]),
             points=1,
             hint="a bias is a parameter whose own name, the LAST part of the dotted name, is exactly 'bias': "
                  "name.rsplit('.', 1)[-1] == 'bias'. 'bias' in name, or name.endswith('bias'), also catches "
                  "r_w_bias (Transformer-XL's u) and my_bias_table.weight"),
        Test("a head with layers of its own, and a bare layer's 'bias'", lambda fn: _judge(fn, [(n, True) for n in TRICKY_TRUE]),
             points=1,
             hint="the head is the top-level module: name.split('.', 1)[0] == 'classifier' covers classifier.dense.* "
                  "too; and a name without any dot ('bias', a bare nn.Linear's) is a bias as well — test the last "
                  "part of the name, not '.bias'"),
    ),
)

EXERCISE = Exercise("13", "a LoRA layer, the merge, counting what trains, BitFit's filter",
                    (LORA_LINEAR, MERGE, COUNT, BITFIT))

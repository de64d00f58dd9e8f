"""Exercise 12: the auxiliary loss, forgetting on the same blanks, how far each block moved, the seed spread.

Notebook: ``exercises/12_fine_tuning_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``12.aux_loss`` — ``combined_loss(class_logits, labels, mlm_logits, mlm_labels, lam)``: the
  classifier's cross-entropy plus ``lam`` times the masked-LM cross-entropy averaged over the
  blanks only (``mlm_labels == -100`` elsewhere); compared with what
  :func:`ptm_course.tuning.auxiliary_loss` computes on a tiny BERT's batch masked the same way;
- ``12.forgetting`` — ``forgetting(model_before, model_after, tensors, masker, seed)``: the MLM loss
  of ``model_after`` minus that of ``model_before`` on the same blanks (one masking, drawn with
  ``torch.Generator().manual_seed(seed)``); compared with two calls of
  :func:`ptm_course.models.mlm_backbone.mlm_score` with that seed. Written by hand: an answer that
  calls ``mlm_score`` is refused;
- ``12.layer_drift`` — ``layer_drift(before, after)``: for each encoder block of ``model.bert.layers``,
  ‖θ_after − θ_before‖ / ‖θ_before‖ over all the block's parameters together (one norm over their
  concatenation); embeddings and heads do not count;
- ``12.seed_spread`` — ``exceeds_spread(a, b)``: the course's rule (:func:`ptm_course.tuning.separated`),
  |mean(a) − mean(b)| > std(a) + std(b) with the sample standard deviation, graded on cases where
  the population standard deviation, or one std alone, decides differently. Written by hand: an
  answer that calls ``separated`` or ``mean_std`` is refused.

Every model here is ``BertMeanPoolClassifierWithMLM(BertConfig.tiny(vocab_size=60, max_len=32), 2)``
or a 3-block variant, and every masking the course's :class:`~ptm_course.models.mlm_backbone.Masker`
for the special ids 0-4 of a 60-word vocabulary: each question grades in about a second or less.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

from ..core import Exercise, Mismatch, Question, Test, _as_number, approx, expect, expect_tensor, short_repr

__all__ = ["EXERCISE"]

VOCAB = 60
IGNORE = -100


def _special():
    from ptm_course.data.masking import SpecialTokens

    return SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)


def _masker():
    from ptm_course.models.mlm_backbone import Masker

    return Masker(_special(), VOCAB)


def _model(seed: int, n_layers: int = 2):
    import torch

    from ptm_course.models.bert import BertConfig, BertMeanPoolClassifierWithMLM

    torch.manual_seed(seed)
    return BertMeanPoolClassifierWithMLM(BertConfig.tiny(vocab_size=VOCAB, max_len=32, n_layers=n_layers), 2)


def _texts(n: int, T: int, seed: int, pad_every: int = 3, pad_from: int = 8) -> dict:
    """``n`` rows ``[CLS] w … w [SEP]`` of random words 5..59; every ``pad_every``-th row (0: none) ends at
    ``pad_from`` and is padded after it."""
    import torch

    g = torch.Generator().manual_seed(seed)
    sp = _special()
    ids = torch.randint(5, VOCAB, (n, T), generator=g)
    ids[:, 0], ids[:, -1] = sp.cls, sp.sep
    mask = torch.ones(n, T, dtype=torch.long)
    if pad_every:
        ids[::pad_every, pad_from:] = sp.pad
        ids[::pad_every, pad_from - 1] = sp.sep
        mask[::pad_every, pad_from:] = 0
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask,
            "labels": (ids[:, 1] % 2).long()}


def _names_in(fn: Callable) -> set[str]:
    """The global and attribute names ``fn``'s code (and the functions defined in it) refers to."""
    code = getattr(fn, "__code__", None)
    names: set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        names.update(c.co_freevars)  # a name from an enclosing function (an import inside it)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    return names


def _written_by_hand(fn: Callable, forbidden: Sequence[str], why: str) -> None:
    used = sorted(set(forbidden) & _names_in(fn))
    if used:
        raise Mismatch(f"your function calls {', '.join(used)}: {why}")


# ---- 12.aux_loss ---------------------------------------------------------------------------------


def _randn(shape: tuple[int, ...], seed: int, scale: float = 1.0):
    import torch

    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _formula(class_logits, labels, mlm_logits, mlm_labels, lam):
    import torch.nn.functional as F

    return (F.cross_entropy(class_logits.double(), labels)
            + lam * F.cross_entropy(mlm_logits.double().flatten(0, 1), mlm_labels.flatten(), ignore_index=IGNORE))


def _shapes(class_logits, labels, mlm_logits, mlm_labels, lam) -> str:
    n_blanks = int((mlm_labels != IGNORE).sum())
    return (f"combined_loss(class_logits {tuple(class_logits.shape)}, labels {tuple(labels.shape)}, mlm_logits "
            f"{tuple(mlm_logits.shape)}, mlm_labels {tuple(mlm_labels.shape)} with {n_blanks} blank"
            f"{'s' if n_blanks != 1 else ''}, lam={lam})")


def _call_combined(fn: Callable, args: tuple, want) -> None:
    import torch

    call = _shapes(*args)
    copies = tuple(a.clone().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a for a in args)
    got = fn(*copies)
    expect_tensor(got, want.to(torch.float32), call, atol=1e-5, rtol=1e-5)
    if not got.requires_grad:
        raise Mismatch("the loss has no gradient: keep it a tensor of the computation (no .item(), float(), "
                       ".detach() or torch.tensor(...) around it), or fit cannot train with it", call=call)


def _hand_case(B: int, T: int, blanks: Sequence[tuple[int, int]], lam: float, seed: int) -> Callable[[Callable], None]:
    """Random logits; ``blanks`` are the (row, position) pairs that carry a word, -100 everywhere else."""

    def test(fn: Callable) -> None:
        import torch

        class_logits = _randn((B, 3), seed, 2.0)
        labels = torch.randint(3, (B,), generator=torch.Generator().manual_seed(seed + 1))
        mlm_logits = _randn((B, T, 7), seed + 2, 2.0)
        mlm_labels = torch.full((B, T), IGNORE)
        words = torch.randint(7, (len(blanks),), generator=torch.Generator().manual_seed(seed + 3))
        for (b, t), w in zip(blanks, words):
            mlm_labels[b, t] = w
        args = (class_logits, labels, mlm_logits, mlm_labels, lam)
        _call_combined(fn, args, _formula(*args))

    return test


def _package_case(lam: float, seed: int) -> Callable[[Callable], None]:
    """A tiny BERT's batch: what ``auxiliary_loss(masker, lam)`` returns, and the logits it came from."""

    def test(fn: Callable) -> None:
        import torch

        from ptm_course.tuning import auxiliary_loss

        masker, model = _masker(), _model(seed).eval()
        batch = _texts(6, 12, seed)
        with torch.no_grad():
            torch.manual_seed(seed)  # auxiliary_loss masks with the global generator: the same blanks below
            want, _ = auxiliary_loss(masker, lam)(model, batch)
            torch.manual_seed(seed)
            ids, mlm_labels = masker(batch["input_ids"])
            class_logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
            h, _ = model.bert(ids, batch["token_type_ids"], batch["attention_mask"])
            mlm_logits = model.mlm(h)
        args = (class_logits, batch["labels"], mlm_logits, mlm_labels, lam)
        _call_combined(fn, args, want)

    return test


AUX_LOSS = Question(
    "12.aux_loss",
    "combined_loss",
    "The auxiliary loss L = L_task + λ·L_MLM",
    tests=(
        Test("λ = 0.3 weighs the masked-LM term, not the task's (one example, one blank)",
             _hand_case(1, 1, [(0, 0)], 0.3, 0), points=1,
             hint="L = CE(class_logits, labels) + lam · CE(MLM): lam multiplies the masked-LM term only, the task's "
                  "loss stays as it is. F.cross_entropy wants (N, classes) scores: flatten mlm_logits (B, T, V) to "
                  "(B·T, V) and mlm_labels to (B·T,). Return the tensor itself (no .item())"),
        Test("only the blanks count: one blank among 6 positions, λ = 1", _hand_case(1, 6, [(0, 3)], 1.0, 10),
             points=1,
             hint="positions whose label is -100 are not blanks: they must not enter the MLM average at all, not even "
                  "as zeros — the mean is over the blanks (F.cross_entropy(..., ignore_index=-100) does it; so does "
                  "selecting the rows with mlm_labels != -100 first). Do not clamp or replace the -100s"),
        Test("a tiny BERT's batch masked by the course's Masker, λ = 0.5: what auxiliary_loss computes",
             _package_case(0.5, 20), points=2,
             hint="both terms are means: the task's over the examples, the MLM's over the blanks; a "
                  "sum grows with the batch and the number of blanks. Then task + lam · MLM, lam on the MLM "
                  "term"),
    ),
)

# ---- 12.forgetting -------------------------------------------------------------------------------


def _perturbed(model, seed: int, scale: float):
    """A copy whose encoder blocks and MLM head moved: a stand-in for a fine-tuned model."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = copy.deepcopy(model)
    with torch.no_grad():
        for p in list(out.bert.layers.parameters()) + list(out.mlm.dense.parameters()):
            p.add_(scale * p.detach().std().clamp(min=0.02) * torch.randn(p.shape, generator=g))
    return out


def _confident(model, seed: int):
    """Give the model opinions: longer word vectors (the MLM decoder is tied to them) and a random output
    bias, so that what the encoder computes moves the MLM loss visibly (BERT's 0.02 would barely)."""
    import torch

    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.copy_(_randn((VOCAB, model.config.d_model), seed, 0.5))
        model.mlm.bias.copy_(_randn((VOCAB,), seed + 1))
    return model


def _expected_forgetting(before, after, tensors, masker, seed: int) -> float:
    from ptm_course.models.mlm_backbone import mlm_score

    return mlm_score(after, tensors, masker, seed=seed).loss - mlm_score(before, tensors, masker, seed=seed).loss


def _forgetting_call(fn: Callable, before, after, tensors, seed: int, what: str) -> None:
    _written_by_hand(fn, ("mlm_score",), "write the measurement with the masker and the two models' encoders and "
                     "MLM heads — mlm_score is what this check compares with")
    masker = _masker()
    want = _expected_forgetting(before, after, tensors, masker, seed)
    n = len(tensors["input_ids"])
    call = (f"forgetting({what}, tensors ({n} rows of {tensors['input_ids'].shape[1]} tokens, some padded), "
            f"masker, seed={seed})")
    got = fn(copy.deepcopy(before).train(), copy.deepcopy(after).train(), {k: v.clone() for k, v in tensors.items()},
             masker, seed)
    expect(got, want, call=call, compare=approx(rel=1e-4, abs=1e-5))


def _same_model_case(fn: Callable) -> None:
    model = _confident(_model(1), 2)
    for seed in (0, 5):
        _forgetting_call(fn, model, model, _texts(16, 16, 3, 2, 6), seed, "model_before=m, model_after=a copy of m")


def _changed_model_case(seed: int, data_seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        before = _confident(_model(4 + data_seed), 5 + data_seed)
        after = _perturbed(before, 6 + data_seed, 0.5)
        _forgetting_call(fn, before, after, _texts(24, 16, data_seed, 2, 6), seed,
                         "model_before, model_after (its encoder and MLM head changed)")

    return test


def _seeds_case(fn: Callable) -> None:
    before = _confident(_model(8), 9)
    after = _perturbed(before, 10, 0.5)
    for seed in (3, 11):
        _forgetting_call(fn, before, after, _texts(20, 16, 12, 2, 6), seed,
                         "model_before, model_after (its encoder and MLM head changed)")


FORGETTING = Question(
    "12.forgetting",
    "forgetting",
    "Forgetting, measured on the same blanks",
    tests=(
        Test("a model compared with itself has forgotten nothing (0.0), with seeds 0 and 5", _same_model_case,
             points=1,
             hint="both models must fill the very same blanks: mask the tensors ONCE, with one "
                  "torch.Generator().manual_seed(seed), and score both models on that one corrupted copy. A second "
                  "masking — another generator, the same generator drawn again, or none — gives other blanks and a "
                  "difference that is only noise. Score in eval mode (model.eval(), under torch.no_grad()): "
                  "dropout makes even one model disagree with itself"),
        Test("a changed model: its MLM loss minus the one before (seed 0)", _changed_model_case(0, 13), points=2,
             hint="forgetting = loss after − loss before (positive = the model got worse at filling blanks), each the "
                  "cross-entropy averaged over the blanks (labels != -100) — the loss, not the accuracy. Pass the "
                  "attention mask (and token types) to model.bert: some rows are padded; then model.mlm on the hidden "
                  "states"),
        Test("the seed chooses the blanks: seeds 3 and 11", _seeds_case, points=1,
             hint="seed the generator with the seed argument, torch.Generator().manual_seed(seed), and hand it to "
                  "masker(input_ids, generator): a fixed seed, or masking with the global generator, gives another "
                  "set of blanks than the one asked for"),
    ),
)

# ---- 12.layer_drift ------------------------------------------------------------------------------


def _randomised(model, seed: int):
    """Every parameter drawn afresh (no zero biases, no unit LayerNorm gains): all tensors non-zero."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return model


def _move_block(model, index: int, sizes: Sequence[float], seed: int):
    """Add noise of a fixed absolute size to each tensor of block ``index`` (sizes cycle over the tensors)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, p in enumerate(model.bert.layers[index].parameters()):
            p.add_(sizes[i % len(sizes)] * torch.randn(p.shape, generator=g))


def _expected_drift(before, after) -> list[float]:
    import torch

    out = []
    for lb, la in zip(before.bert.layers, after.bert.layers):
        b = torch.cat([p.detach().double().flatten() for p in lb.parameters()])
        a = torch.cat([p.detach().double().flatten() for p in la.parameters()])
        out.append(float((a - b).norm() / b.norm()))
    return out


def _compare_drifts(expected: list[float], got) -> str | None:
    if not isinstance(got, (list, tuple)):
        return f"wrong return type: expected a list (one number per encoder block), got {type(got).__name__}"
    if len(got) != len(expected):
        return (f"expected {len(expected)} numbers, one per block of model.bert.layers, got {len(got)} "
                "(the embeddings and the heads are not blocks)")
    close = approx(rel=1e-4, abs=1e-7)
    for i, (e, g) in enumerate(zip(expected, got)):
        problem = close(e, g)
        if problem is not None:
            value = _as_number(g)
            return f"block {i}: {problem}" + (f" (expected {e:.6g}, got {value:.6g})" if value is not None else "")
    return None


def _drift_call(fn: Callable, before, after, what: str) -> None:
    got = fn(copy.deepcopy(before), copy.deepcopy(after))
    want = _expected_drift(before, after)
    expect(got, want, call=f"layer_drift(before, after)  [{what}]", compare=_compare_drifts)


def _one_block_case(fn: Callable) -> None:
    before = _randomised(_model(20), 21)
    after = copy.deepcopy(before)
    _move_block(after, 1, (0.05,), 22)
    _drift_call(fn, before, after, "2 blocks; block 1 moved, block 0 as it was")


def _uneven_case(fn: Callable) -> None:
    before = _randomised(_model(30, n_layers=3), 31)
    after = copy.deepcopy(before)
    for i, sizes in enumerate(((0.01, 0.2), (0.1,), (0.3, 0.0, 0.02))):
        _move_block(after, i, sizes, 32 + i)
    _drift_call(fn, before, after, "3 blocks, each moved by its own amount, some tensors far more than others")


def _fresh_model_case(fn: Callable) -> None:
    import torch

    before = _model(40)  # BERT's initialisation: biases and LayerNorm shifts start at exactly 0
    after = copy.deepcopy(before)
    g = torch.Generator().manual_seed(41)
    with torch.no_grad():
        for p in after.parameters():  # fine-tuning moves everything: embeddings, blocks, heads
            p.add_(0.01 * torch.randn(p.shape, generator=g))
        after.bert.embeddings.word_embeddings.weight.mul_(3.0)  # the embeddings moved most of all
    _drift_call(fn, before, after, "a freshly initialised model, everything moved, the embeddings and heads most")


LAYER_DRIFT = Question(
    "12.layer_drift",
    "layer_drift",
    "How far each encoder block moved",
    tests=(
        Test("two blocks, only the second one moved", _one_block_case, points=1,
             hint="one number per block of model.bert.layers (zip the two models' blocks): the norm of the "
                  "difference divided by the norm before, ‖θ_after − θ_before‖ / ‖θ_before‖ — not the bare norm of "
                  "the difference, not the difference of the two norms. Return a list of floats, block 0 first"),
        Test("three blocks, each moved by its own amount, some tensors far more than others", _uneven_case, points=2,
             hint="ONE norm per block, over all its parameters at once: concatenate them (torch.cat of the flattened "
                  "tensors; or take the square root of the summed squares over the tensors). The mean of per-tensor "
                  "ratios weighs a 32-number bias like a 1,024-number weight matrix"),
        Test("a freshly initialised model whose embeddings and heads moved too", _fresh_model_case, points=1,
             hint="only the encoder blocks count: model.bert.layers, not model.bert.embeddings, the pooler or the "
                  "heads. And a ratio per tensor breaks on BERT's initialisation: biases start at 0, so their own "
                  "ratio is a division by zero; the block's norm is not"),
    ),
)

# ---- 12.seed_spread ------------------------------------------------------------------------------

# three seeds each, clearly apart or clearly not: every rule agrees
CLEAR = (([0.80, 0.81, 0.79], [0.70, 0.71, 0.69]), ([0.80, 0.85, 0.75], [0.79, 0.84, 0.76]),
         ([3.10, 3.20, 3.15], [3.40, 3.42, 3.38, 3.41]))
# the sample standard deviation decides: the means differ by more than the two population stds,
# less than the two sample stds (and cases just beyond the sample stds, so that "always False" fails)
SAMPLE_VS_POPULATION = (([1.0, 2.0, 3.0], [2.8, 3.8, 4.8]), ([0.70, 0.74], [0.75, 0.79]),
                        ([0.50, 0.52, 0.54, 0.56, 0.58], [0.56, 0.58, 0.60, 0.62, 0.64]),
                        ([1.0, 2.0, 3.0], [3.1, 4.1, 5.1]), ([0.70, 0.74], [0.77, 0.81]))
# both stds count: the means differ by more than either std alone, less than their sum (and less than
# the sum of the population stds, so that only this decides); plus cases beyond the sum
BOTH_STDS = (([0.0, 1.0, 2.0], [1.3, 2.3, 3.3]), ([1.3, 2.3, 3.3], [0.0, 1.0, 2.0]),
             ([0.0, 1.0, 2.0], [1.6, 2.1, 2.6]), ([1.6, 2.1, 2.6], [0.0, 1.0, 2.0]),
             ([0.0, 1.0, 2.0], [2.5, 3.5, 4.5]), ([0.0, 1.0, 2.0], [2.1, 2.6, 3.1]))


def _as_bool(x) -> bool | None:
    """``x`` as a bool if it is one: also a NumPy bool or a one-element bool tensor (what comparisons give)."""
    import sys

    if isinstance(x, bool):
        return x
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.bool_):
        return bool(x)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor) and x.dtype == torch.bool and x.numel() == 1:
        return bool(x)
    return None


def _compare_bool(expected: bool, got) -> str | None:
    value = _as_bool(got)
    if value is None:
        return f"wrong return type: expected a bool (True or False), got {type(got).__name__}"
    return None if value == expected else "wrong value"


def _spread_case(pairs) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.tuning import separated

        _written_by_hand(fn, ("separated", "mean_std"), "write the rule yourself (statistics, NumPy or torch) — "
                         "separated and mean_std are what this check compares with")
        for a, b in pairs:
            expect(fn(list(a), list(b)), separated(a, b), call=f"exceeds_spread({short_repr(list(a))}, "
                   f"{short_repr(list(b))})", compare=_compare_bool)

    return test


SEED_SPREAD = Question(
    "12.seed_spread",
    "exceeds_spread",
    "Does a difference exceed the seed spread?",
    tests=(
        Test("clearly apart, clearly not", _spread_case(CLEAR), points=1,
             hint="True when |mean(a) − mean(b)| > std(a) + std(b), else False; a and b may hold different numbers of "
                  "runs. Return a bool"),
        Test("the sample standard deviation, with n − 1", _spread_case(SAMPLE_VS_POPULATION), points=2,
             hint="with a few seeds, the spread is the SAMPLE standard deviation, √(Σ(x − mean)² / (n − 1)): "
                  "statistics.stdev, np.std(x, ddof=1), torch.std. np.std's default (ddof=0) and statistics.pstdev "
                  "divide by n and make the spread look smaller than it is — with 3 seeds by a factor 0.82"),
        Test("both spreads count, whichever is the larger", _spread_case(BOTH_STDS), points=1,
             hint="the bound is the SUM of the two standard deviations, std(a) + std(b) (the ±1 std bands of the two "
                  "do not overlap), not the std of one of them, nor the larger one"),
    ),
)

EXERCISE = Exercise("12",
                    "the auxiliary loss, forgetting on the same blanks, how far each block moved, the seed spread",
                    (AUX_LOSS, FORGETTING, LAYER_DRIFT, SEED_SPREAD))

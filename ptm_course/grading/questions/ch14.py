"""Exercise 14: attention with a prefix, the reparameterisation's layout, counting, storage, measuring a prefix.

Notebook: ``exercises/14_prefix_tuning_exercises.ipynb`` (master: ``solutions/``). Five questions:

- ``14.prefix_attention`` — ``prefix_attention(q, k, v, pk, pv, mask)``: scaled dot-product
  attention of q (B, nh, T, hs) over the P prefix keys/values (nh, P, hs), always visible, and the
  tokens' own keys, with padded keys hidden; compared with :class:`ptm_course.tuning.WithPrefix`
  around a :class:`~ptm_course.models.transformer.MultiHeadAttention` whose projections computed q,
  k and v (and whose output projection is the identity);
- ``14.reparam`` — ``prefix_from_mlp(out, n_layers, n_heads)``: the reparameterisation MLP's output
  (P, L·2·d) laid out as the per-layer prefix (L, 2, nh, P, hs), as
  :class:`ptm_course.tuning.PrefixEncoder` does (HF/PEFT's view(P, L, 2, nh, hs) then permute);
  compared with ``PrefixEncoder.forward()``, gradients included;
- ``14.count`` — ``prefix_parameters(n_layers, d_model, length, hidden)``: the pair (parameters
  trained with the reparameterisation, parameters kept after :func:`~ptm_course.tuning.export_prefix`),
  the prefix alone; compared with :class:`~ptm_course.tuning.PrefixEncoder` and
  :class:`~ptm_course.tuning.PrefixKV` built on the spot;
- ``14.storage`` — ``storage_bytes(backbone_params, n_layers, d_model, length, n_classes, n_tasks)``:
  the pair (bytes of one fp32 backbone + n_tasks prefixes and heads, bytes of n_tasks fine-tuned
  copies, each a backbone and a head), exact ints, including all-MiniLM-L6-v2's sizes;
- ``14.measure`` — ``prefix_loss(model, prefix, input_ids, attention_mask)``: the pair (mean
  next-token loss of a tiny course GPT without the prefix, with it), over every real next token of
  the batch, in eval mode, the prefix entering as :func:`~ptm_course.tuning.apply_prefix` puts it,
  and the caller's model left as it was; compared with ``lm_loss`` on a deep copy.

Every model here is tiny (d 8 to 32, at most 3 layers): each question grades in well under a second.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

from ..core import Exercise, Mismatch, Question, Test, _as_number, approx, expect, expect_tensor, short_repr

__all__ = ["EXERCISE"]

BYTES_FP32 = 4
MINILM = dict(backbone_params=22_713_216, n_layers=6, d_model=384)  # all-MiniLM-L6-v2 without a head


def _randn(shape: tuple[int, ...], seed: int, scale: float = 1.0):
    import torch

    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _expect_close(got, want, call: str, axes: Sequence[str], atol: float, rtol: float) -> None:
    """``expect_tensor``, but a difference in values is shown where it is largest: ``axes`` names the
    leading dimensions, and expected/got are the last dimension's numbers there."""
    import torch

    try:
        expect_tensor(got, want, call, atol=atol, rtol=rtol)
    except Mismatch as m:
        if not m.message.startswith("values differ"):
            raise
        diff = (got.detach().double() - want.detach().double()).abs().nan_to_num(float("inf"))
        where = [int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)][:-1]
        at = ", ".join(f"{name} {i}" for name, i in zip(axes, where))
        raise Mismatch(f"{m.message}, e.g. at {at}", call=call, expected=short_repr(want[tuple(where)][:8].tolist()),
                       got=short_repr(got.detach()[tuple(where)][:8].tolist())) from None


# ---- 14.prefix_attention -----------------------------------------------------------------------


def _attention_inputs(B: int, nh: int, T: int, hs: int, P: int, seed: int):
    """x (B, T, d), a MultiHeadAttention with random q/k/v projections and o_proj = identity, and
    the q, k, v (B, nh, T, hs) it computes from x, plus a prefix pk, pv (nh, P, hs)."""
    import torch

    from ptm_course.models.transformer import MultiHeadAttention, split_heads

    d = nh * hs
    attn = MultiHeadAttention(d, nh).eval()
    with torch.no_grad():
        for i, proj in enumerate((attn.q_proj, attn.k_proj, attn.v_proj)):
            proj.weight.copy_(_randn((d, d), seed + i, d ** -0.5))
            proj.bias.copy_(_randn((d,), seed + 10 + i, 0.1))
        attn.o_proj.weight.copy_(torch.eye(d))
        attn.o_proj.bias.zero_()
        x = _randn((B, T, d), seed + 20)
        q, k, v = (split_heads(p(x), nh) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    pk, pv = _randn((nh, P, hs), seed + 30), _randn((nh, P, hs), seed + 31)
    return attn, x, q, k, v, pk, pv


def _package_attention(attn, x, pk, pv, mask, nh: int):
    """WithPrefix(attn) on x with the prefix (pk, pv) and the padding mask (B, T): (B, nh, T, hs)."""
    import torch

    from ptm_course.models.transformer import split_heads
    from ptm_course.tuning import PrefixKV, WithPrefix

    source = PrefixKV(torch.stack([pk, pv])[None])  # (L = 1, 2, nh, P, hs)
    key_mask = mask.bool()[:, None, None, :]  # (B, 1, 1, T): which keys are real tokens
    with torch.no_grad():
        y = WithPrefix(attn, source, 0)(x, mask=key_mask)  # (B, T, d); o_proj is the identity
    return split_heads(y, nh)  # (B, nh, T, hs)


def _attention_case(B: int, nh: int, T: int, hs: int, P: int, lengths: Sequence[int], as_bool: bool,
                    seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        attn, x, q, k, v, pk, pv = _attention_inputs(B, nh, T, hs, P, seed)
        mask = (torch.arange(T)[None, :] < torch.tensor(list(lengths))[:, None])  # (B, T): 1 on real tokens
        mask = mask if as_bool else mask.long()
        want = _package_attention(attn, x, pk, pv, mask, nh)
        call = (f"prefix_attention(q, k, v {tuple(q.shape)}, pk, pv {tuple(pk.shape)}, mask {tuple(mask.shape)} "
                f"{'bool' if as_bool else 'of 1/0'} with {list(lengths)} real tokens per row)")
        args = [t.clone() for t in (q, k, v, pk, pv, mask)]
        _expect_close(fn(*args), want, call, ("row", "head", "query"), atol=1e-5, rtol=1e-4)

    return test


PREFIX_ATTENTION = Question(
    "14.prefix_attention",
    "prefix_attention",
    "Attention with a prefix",
    tests=(
        Test("one row, no padding: every query sees the P prefix keys and the T tokens",
             _attention_case(1, 2, 4, 4, 3, (4,), False, 0), points=1,
             hint="put the prefix in front of the tokens' keys and values along the key axis: "
                  "torch.cat([pk.expand(B, -1, -1, -1), k], dim=2) (B, nh, P + T, hs), the same for v; scores "
                  "q·kᵀ / √hs with hs = q.shape[-1], softmax over the last axis (P + T keys), times the values. "
                  "F.scaled_dot_product_attention(q, k, v, attn_mask=...) does the scaling and the softmax"),
        Test("rows of different lengths: padded keys are hidden, the prefix is always visible",
             _attention_case(3, 2, 6, 8, 2, (6, 3, 5), False, 10), points=2,
             hint="widen the mask by P columns of ones on the side where the prefix keys are: "
                  "torch.cat([mask.new_ones(B, P), mask], dim=1) when the prefix comes first; then "
                  "[:, None, None, :].bool() makes it (B, 1, 1, P + T) for every head and query (True = may "
                  "attend). A mask not widened, or widened on the other side, lines up the wrong columns"),
        Test("a bool mask, P = 1, one head of 16, and a row that is all padding (it sees the prefix alone)",
             _attention_case(2, 1, 5, 16, 1, (4, 0), True, 20), points=1,
             hint="a row with no real token still has the prefix to attend to, so nothing is NaN: its output is "
                  "the prefix value pv at every query. Accept a bool mask as well as 1/0 (mask.bool() handles "
                  "both); masked_fill(~visible, float('-inf')) before the softmax, or SDPA's bool attn_mask"),
    ),
)

# ---- 14.reparam --------------------------------------------------------------------------------


def _encoder(L: int, nh: int, hs: int, P: int, hidden: int, seed: int):
    import torch

    from ptm_course.tuning import PrefixEncoder

    torch.manual_seed(seed)
    enc = PrefixEncoder(L, nh, hs, P, hidden)
    with torch.no_grad():  # a spread of values, as after training
        for p in enc.parameters():
            p.copy_(_randn(tuple(p.shape), seed + p.numel()))
    return enc


def _reparam_case(L: int, nh: int, hs: int, P: int, seed: int, grads: bool = False) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        enc = _encoder(L, nh, hs, P, 6, seed)
        with torch.no_grad():
            out = enc.mlp(enc.embedding.weight)  # (P, L·2·d)
            want = enc()  # (L, 2, nh, P, hs)
        call = f"prefix_from_mlp(out {tuple(out.shape)}, n_layers={L}, n_heads={nh})  [P={P}, d_head={hs}]"
        mine = out.clone().requires_grad_(grads)
        got = fn(mine, L, nh)
        _expect_close(got, want, call + "  [against PrefixEncoder.forward()]", ("layer", "key/value", "head", "position"),
                      atol=1e-6, rtol=1e-5)
        if not grads:
            return
        if not got.requires_grad:
            raise Mismatch("the result does not depend on `out` for autograd (it was detached or rebuilt), so "
                           "training could not reach the MLP: only reshape and permute `out`", call=call)
        w = _randn(tuple(want.shape), seed + 99)
        (g,) = torch.autograd.grad((got * w).sum(), mine)
        g_want = w.permute(3, 0, 1, 2, 4).reshape(P, L * 2 * nh * hs)  # the layout is a permutation: w read back
        _expect_close(g, g_want, call + "  [the gradient that reaches out]", ("row",), atol=1e-6, rtol=1e-5)

    return test


REPARAM = Question(
    "14.reparam",
    "prefix_from_mlp",
    "The reparameterisation's layout",
    tests=(
        Test("one layer, 2 heads of 4, P = 3", _reparam_case(1, 2, 4, 3, 0), points=1,
             hint="row p of `out` holds everything about prefix position p, in the order layer, key/value, head, "
                  "feature: out.view(P, L, 2, nh, hs), then .permute(1, 2, 3, 0, 4) to (L, 2, nh, P, hs). A plain "
                  "out.view(L, 2, nh, P, hs) has the right shape but reads the numbers in the wrong order; "
                  "hs = out.shape[1] // (2 * n_layers * n_heads)"),
        Test("3 layers, 4 heads of 2, P = 5: each layer's keys, then its values", _reparam_case(3, 4, 2, 5, 10),
             points=2,
             hint="within a row the layer comes first, then key/value: view(P, L, 2, nh, hs), not view(P, 2, L, "
                  "nh, hs) (with one layer the two agree); result[l, 0] are layer l's keys, result[l, 1] its values"),
        Test("gradients reach the MLP (2 layers, 2 heads of 3, P = 4)", _reparam_case(2, 2, 3, 4, 20, grads=True),
             points=1,
             hint="only view/reshape/permute `out`: .detach(), .data, .numpy() or torch.tensor(...) cut the graph, "
                  "and the MLP would never train"),
    ),
)

# ---- 14.count ----------------------------------------------------------------------------------


def _package_counts(L: int, d: int, P: int, hidden: int) -> tuple[int, int]:
    import torch

    from ptm_course.tuning import PrefixEncoder, PrefixKV, count_parameters

    enc = PrefixEncoder(L, 1, d, P, hidden)  # n_heads does not change the count
    with torch.no_grad():
        exported = PrefixKV(enc())
    return count_parameters(enc).total, count_parameters(exported).total


def _pair(name: str, kinds: str = "int"):
    def compare(expected: tuple, got) -> str | None:
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return (f"wrong return type: expected a pair ({name}), got {type(got).__name__}"
                    + (f" of {len(got)} items" if isinstance(got, (tuple, list)) else ""))
        for what, e, g in zip(name.split(", "), expected, got):
            if kinds == "int":
                if isinstance(g, bool) or not isinstance(g, int):
                    return f"{what}: wrong type, expected an int, got {type(g).__name__}"
                if g != e:
                    return f"{what}: expected {e:,}, got {g:,}"
            else:
                problem = approx(rel=1e-4, abs=1e-6)(e, g)
                if problem is not None:
                    value = _as_number(g)
                    return f"{what}: {problem}" + (f" (expected {e:.6g}, got {value:.6g})" if value is not None else "")
        return None

    return compare


def _count_case(configs: Sequence[tuple[int, int, int, int]], part: int | None) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        for L, d, P, hidden in configs:
            want = _package_counts(L, d, P, hidden)
            call = f"prefix_parameters(n_layers={L}, d_model={d}, length={P}, hidden={hidden})"
            got = fn(L, d, P, hidden)
            if part is None:
                expect(got, want, call=call, compare=_pair("training, exported"))
                continue
            what = ("trained with the reparameterisation", "kept after export_prefix")[part]
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise Mismatch(f"return a pair (training, exported), got {short_repr(got, 80)}", call=call)
            expect(got[part], want[part], call=f"{call}[{part}]  [{what}]")

    return test


COUNT = Question(
    "14.count",
    "prefix_parameters",
    "What trains, what is kept",
    tests=(
        Test("during training: the embedding E and the two Linear layers, biases included",
             _count_case(((1, 8, 2, 4), (2, 16, 5, 32), (3, 12, 1, 7)), 0), points=2,
             hint="E is (P, d): P·d; Linear(d, hidden): d·hidden + hidden; Linear(hidden, L·2·d): hidden·L·2·d + "
                  "L·2·d (every Linear has a bias); the Tanh has none. The first number of the pair is their sum"),
        Test("after export_prefix: every layer's P keys and P values",
             _count_case(((1, 8, 2, 4), (2, 16, 5, 32), (3, 12, 1, 7)), 1), points=1,
             hint="the exported prefix is a tensor (L, 2, n_heads, P, d_head): L·2·P·d numbers (keys AND values, "
                  "2, for each layer); the MLP and E are dropped. Return (training, exported)"),
        Test("all-MiniLM-L6-v2's sizes (6 layers, d 384, P 10, hidden 512): a pair of ints",
             _count_case(((6, 384, 10, 512), (6, 384, 1, 1)), None), points=1,
             hint="return a tuple of two ints, (training, exported), in that order; use // or int arithmetic, "
                  "not /, which gives floats"),
    ),
)

# ---- 14.storage --------------------------------------------------------------------------------


def _storage(backbone_params: int, L: int, d: int, P: int, n_classes: int, n_tasks: int) -> tuple[int, int]:
    head = d * n_classes + n_classes  # each task's classifier: weight and bias
    prefix = L * 2 * P * d  # each task's exported prefix: keys and values of every layer
    with_prefixes = BYTES_FP32 * (backbone_params + n_tasks * (prefix + head))
    with_copies = BYTES_FP32 * n_tasks * (backbone_params + head)
    return with_prefixes, with_copies


def _storage_case(configs: Sequence[tuple[int, int, int, int, int, int]]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        for config in configs:
            b, L, d, P, c, n = config
            call = (f"storage_bytes(backbone_params={b:_}, n_layers={L}, d_model={d}, length={P}, n_classes={c}, "
                    f"n_tasks={n})")
            expect(fn(*config), _storage(*config), call=call, compare=_pair("with prefixes, with copies"))

    return test


STORAGE = Question(
    "14.storage",
    "storage_bytes",
    "One backbone and many prefixes",
    tests=(
        Test("one task: the backbone, one prefix and one head, vs one fine-tuned copy",
             _storage_case(((10_000, 2, 8, 3, 2, 1),)), points=1,
             hint="bytes, not parameters: fp32 is 4 bytes a number. With prefixes: 4·(backbone + prefix + head), "
                  "the prefix L·2·P·d (keys and values), the head d·n_classes + n_classes; one copy: "
                  "4·(backbone + head)"),
        Test("N tasks share one backbone; N fine-tuned copies do not",
             _storage_case(((50_000, 4, 16, 5, 3, 7), (123_456, 3, 32, 1, 10, 20), (7_000, 1, 8, 2, 1, 2))),
             points=2,
             hint="with prefixes the backbone is stored ONCE: 4·(backbone + N·(prefix + head)); fine-tuning stores "
                  "N whole models: 4·N·(backbone + head). Each task has its own head (n_classes from the arguments)"),
        Test("all-MiniLM-L6-v2: 22,713,216 backbone parameters, 6 layers, d 384, P 10, 2 classes, 100 tasks",
             _storage_case(((MINILM["backbone_params"], 6, 384, 10, 2, 100),
                            (MINILM["backbone_params"], 6, 384, 1, 2, 1000))), points=1,
             hint="return a tuple of two ints (with prefixes, with copies), in that order; int arithmetic only"),
    ),
)

# ---- 14.measure --------------------------------------------------------------------------------

VOCAB, P_MEASURE = 50, 3


def _gpt(seed: int):
    import torch

    from ptm_course.models.gpt import GPT, GPTConfig

    torch.manual_seed(seed)
    return GPT(GPTConfig.tiny(vocab_size=VOCAB, max_len=32, init_std=0.1))  # in train mode, as after training


def _measure_inputs(seed: int, lengths: Sequence[int], T: int):
    import torch

    cfg_layers, nh, hs = 2, 4, 8
    prefix = _randn((cfg_layers, 2, nh, P_MEASURE, hs), seed + 1)  # (L, 2, nh, P, hs)
    ids = torch.randint(0, VOCAB, (len(lengths), T), generator=torch.Generator().manual_seed(seed + 2))
    mask = (torch.arange(T)[None, :] < torch.tensor(list(lengths))[:, None]).long()  # (B, T), right padding
    return prefix, ids, mask


def _reference_losses(model, prefix, ids, mask) -> tuple[float, float]:
    import torch

    from ptm_course.models.gpt import lm_loss
    from ptm_course.tuning import apply_prefix

    m = copy.deepcopy(model).eval()
    batch = {"input_ids": ids, "attention_mask": mask}
    with torch.no_grad():
        without = lm_loss(m, batch)[0].item()
        m = apply_prefix(m, length=prefix.shape[3], hidden=None)
        m.prefix.kv.copy_(prefix)
        with_prefix = lm_loss(m, batch)[0].item()
    return without, with_prefix


def _model_untouched(model, before: dict, call: str) -> None:
    import torch

    from ptm_course.models.transformer import MultiHeadAttention
    from ptm_course.tuning import tuning_spec

    problems = []
    if hasattr(model, "prefix") or tuning_spec(model) is not None:
        problems.append("it now has a prefix attached (apply_prefix changed it)")
    if not all(isinstance(b.attn, MultiHeadAttention) for b in model.blocks):
        problems.append("its blocks' attention is wrapped")
    if not all(p.requires_grad for p in model.parameters()):
        problems.append("some of its parameters are frozen")
    after = model.state_dict()
    if set(after) != set(before) or any(not torch.equal(after[k], before[k]) for k in before):
        problems.append("its weights changed")
    if problems:
        raise Mismatch("prefix_loss changed the model it was given: " + "; ".join(problems) + ". Work on a copy",
                       call=call)


def _measure_case(lengths: Sequence[int], T: int, seed: int, untouched: bool = False) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        model = _gpt(seed)
        prefix, ids, mask = _measure_inputs(seed, lengths, T)
        want = _reference_losses(model, prefix, ids, mask)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        call = (f"prefix_loss(model [tiny GPT, 2 layers, 4 heads of 8, in train mode], prefix {tuple(prefix.shape)}, "
                f"input_ids {tuple(ids.shape)}, attention_mask with {list(lengths)} real tokens per row)")
        got = fn(model, prefix.clone(), ids.clone(), mask.clone())
        expect(got, want, call=call, compare=_pair("without the prefix, with it", kinds="float"))
        if untouched:
            _model_untouched(model, before, call)
            if not torch.equal(prefix, _measure_inputs(seed, lengths, T)[0]):
                raise Mismatch("prefix_loss changed the prefix tensor it was given", call=call)

    return test


MEASURE = Question(
    "14.measure",
    "prefix_loss",
    "Measuring what a prefix changes",
    tests=(
        Test("no padding: the mean next-token loss without and with the prefix",
             _measure_case((10, 10), 10, 0), points=1,
             hint="logits at position t predict token t + 1: logits[:, :-1] against input_ids[:, 1:] (lm_loss "
                  "does the shift); measure in eval mode (the tiny GPT has dropout) under torch.no_grad(); put the "
                  "prefix in with apply_prefix(copy, length=P, hidden=None) and copy the tensor into the copy's "
                  "prefix.kv (past_kv= would also shift the tokens' positions by P). Return (without, with)"),
        Test("rows of different lengths: the mean over every real next token of the batch",
             _measure_case((12, 5, 8), 12, 10), points=2,
             hint="predictions of padding do not count (labels -100 where attention_mask is 0, or pass the batch "
                  "{'input_ids': ..., 'attention_mask': ...} to lm_loss), and the mean is over all the batch's "
                  "real next tokens together: a mean of per-row means weighs a short row as much as a long one"),
        Test("the caller's model is left as it was (no prefix attached, nothing frozen)",
             _measure_case((9, 6), 9, 20, untouched=True), points=1,
             hint="the losses first (as in the tests above); then the model: apply_prefix wraps every block's "
                  "attention and freezes the parameters of the model it is given, so apply it to "
                  "copy.deepcopy(model), never to `model` itself (switching to eval mode is fine)"),
    ),
)

EXERCISE = Exercise("14", "attention with a prefix, the reparameterisation, counting, storage, measuring",
                    (PREFIX_ATTENTION, REPARAM, COUNT, STORAGE, MEASURE))

"""Exercise 11: Transformer-XL's rel_shift and memory, XLNet's masks from a factorisation order.

Notebook: ``exercises/11_transformer_xl_xlnet_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``11.rel_shift`` — ``shift_to_keys(x)``: (..., T_q, R) scores by (query, distance column) into
  (query, key) order, ``out[..., i, j] = x[..., i, j + T_q − 1 − i]``; graded on every entry a
  causal model keeps (key j at or before query i), against
  :func:`ptm_course.models.transformer_xl.rel_shift_reference`;
- ``11.xlnet_masks`` — ``xlnet_masks(order, n_predict)``: the content-stream and query-stream
  masks (True = may attend) of one factorisation order with partial prediction; compared with
  :func:`ptm_course.models.xlnet.permutation_masks`, :func:`~ptm_course.models.xlnet.content_stream_mask`
  and :func:`~ptm_course.models.xlnet.query_stream_mask`;
- ``11.visible`` — ``visible_positions(order, n_predict, target)``: the positions whose content the
  query stream of one target may read, sorted; from the same masks;
- ``11.memory_ppl`` — ``perplexity_with_and_without_memory(model, ids, seg_len)``: a measurement, the
  perplexity of a stream read as one sequence in segments, without memory and with the model's own
  ``mem_len``; compared with :func:`ptm_course.models.transformer_xl.evaluate_with_memory`
  (``batch_size=1``) on tiny Transformer-XLs built on the spot.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core import Exercise, Mismatch, Question, Test, approx, expect, expect_tensor, short_repr

__all__ = ["EXERCISE"]


def _randn(shape: tuple[int, ...], seed: int):
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---- 11.rel_shift ------------------------------------------------------------------------------


def _shift_case(make_x: Callable[[], Any], what: str) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.transformer_xl import rel_shift_reference

        x = make_x()
        T_q, R = x.shape[-2:]
        call = f"shift_to_keys({what})"
        got = fn(x.clone())
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"wrong return type: expected a torch.Tensor, got {type(got).__name__}", call=call,
                           got=short_repr(got))
        if tuple(got.shape) != tuple(x.shape):
            raise Mismatch(f"wrong shape: expected {tuple(x.shape)} (the input's), got {tuple(got.shape)}", call=call)
        expected = rel_shift_reference(x, R)
        i = torch.arange(T_q)[:, None]
        j = torch.arange(R)[None, :]
        kept = j <= i + (R - T_q)  # key j at or before query i (query i is position R − T_q + i)
        expect_tensor(got[..., kept], expected[..., kept], call + "  [entries with key j at or before query i]",
                      atol=1e-6, rtol=0)

    return test


def _labelled():
    import torch

    return torch.arange(15.0).view(3, 5)


SHIFT = Question(
    "11.rel_shift",
    "shift_to_keys",
    "rel_shift: from distance columns to key columns",
    tests=(
        Test("3 queries, 5 keys (2 of them memory): x = arange(15).view(3, 5)", _shift_case(_labelled, "arange(15.).view(3, 5)"),
             points=1,
             hint="row i must move LEFT by T_q − 1 − i places: the last row (i = T_q − 1) stays as it is, the first "
                  "row moves by T_q − 1. out[i, j] = x[i, j + T_q − 1 − i]; moving right, or by i, puts every "
                  "distance under the wrong key"),
        Test("batch and heads in front: (2, 3, 4, 9)", _shift_case(lambda: _randn((2, 3, 4, 9), 0), "x of shape (2, 3, 4, 9)"),
             points=2,
             hint="work on the last two dimensions only and keep the others as they are (*lead, T_q, R = x.shape): "
                  "pad one zero column on the LEFT of the last dimension, reshape the last two to (R + 1, T_q), "
                  "drop the first row, reshape back to (T_q, R)"),
        Test("no memory: T_q = R = 6", _shift_case(lambda: _randn((6, 6), 1), "x of shape (6, 6)"), points=1,
             hint="with as many distances as keys the first query keeps one column only (distance 0, its own "
                  "key); the same formula must hold, nothing special-cased"),
    ),
)

# ---- 11.xlnet_masks ----------------------------------------------------------------------------


def _as_bool_mask(got: Any, T: int, call: str, what: str):
    import torch

    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"wrong return type for the {what}: expected a torch.Tensor of bools, got {type(got).__name__}",
                       call=call, got=short_repr(got))
    if tuple(got.shape) != (T, T):
        raise Mismatch(f"wrong shape of the {what}: expected ({T}, {T}), got {tuple(got.shape)}", call=call)
    if got.dtype != torch.bool:
        raise Mismatch(f"wrong dtype of the {what}: expected torch.bool (True = may attend), got {got.dtype}", call=call)
    return got


def _masks_case(order: list[int], n_predict: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.xlnet import content_stream_mask, permutation_masks, query_stream_mask

        o = torch.tensor(order)
        pm, _ = permutation_masks(o, n_predict)
        call = f"xlnet_masks(torch.tensor({order}), n_predict={n_predict})"
        got = fn(o.clone(), n_predict)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (content_mask, query_mask), got {type(got).__name__}",
                           call=call, got=short_repr(got))
        for m, want, what in ((got[0], content_stream_mask(pm), "content mask"), (got[1], query_stream_mask(pm), "query mask")):
            m = _as_bool_mask(m, len(order), call, what)
            if not torch.equal(m, want):
                bad = (m != want).nonzero()[0].tolist()
                raise Mismatch(f"the {what} is wrong, first at row (query) {bad[0]}, column (key) {bad[1]}", call=call,
                               expected=str(want.int().tolist()), got=str(m.int().tolist()))

    return test


def _random_masks_case(fn: Callable) -> None:
    import torch

    g = torch.Generator().manual_seed(5)
    for T, n in ((7, 2), (10, 3), (12, 11)):
        _masks_case(torch.randperm(T, generator=g).tolist(), n)(fn)


MASKS = Question(
    "11.xlnet_masks",
    "xlnet_masks",
    "The two streams' masks from a factorisation order",
    tests=(
        Test("order [2, 0, 3, 1], the last 2 predicted", _masks_case([2, 0, 3, 1], 2), points=1,
             hint="rank every position by its place in the order (rank[order[t]] = t); position i may read the "
                  "content of j when j comes BEFORE i in the order. Index the masks by position, not by place "
                  "in the order: row i is position i"),
        Test("partial prediction: the non-targets see each other, not the targets", _masks_case([4, 1, 5, 0, 3, 2], 2),
             points=1,
             hint="only the last n_predict positions of the order are targets; all the others count as coming "
                  "first, TOGETHER: a non-target sees every non-target (before or after it in the order) and no "
                  "target"),
        Test("random orders of 7, 10, 12 positions (n_predict up to T − 1)", _random_masks_case, points=2,
             hint="the content stream h adds each position itself (the diagonal) to what the query stream g sees; "
                  "a target's query stream sees the non-targets and the targets before it in the order, never "
                  "itself"),
    ),
)

# ---- 11.visible --------------------------------------------------------------------------------


def _visible_case(order: list[int], n_predict: int, target: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.xlnet import permutation_masks, query_stream_mask

        pm, _ = permutation_masks(torch.tensor(order), n_predict)
        want = query_stream_mask(pm)[target].nonzero().flatten().tolist()
        call = f"visible_positions(torch.tensor({order}), n_predict={n_predict}, target={target})"
        got = fn(torch.tensor(order), n_predict, target)
        try:
            got = [int(x) for x in got]
        except (TypeError, ValueError):
            raise Mismatch("expected a list of ints (positions)", call=call, expected=str(want), got=short_repr(got)) from None
        expect(got, want, call=call)

    return test


VISIBLE = Question(
    "11.visible",
    "visible_positions",
    "What a target may see",
    tests=(
        Test("order [3, 1, 4, 0, 2], 2 predicted: the first target", _visible_case([3, 1, 4, 0, 2], 2, 0), points=1,
             hint="the targets are order[-n_predict:] = [0, 2]; target 0 comes first of them, so it reads the "
                  "non-targets only: every position that is not a target. Return them sorted by position"),
        Test("the same order: the second target also sees the first", _visible_case([3, 1, 4, 0, 2], 2, 2), points=1,
             hint="a target reads the non-targets AND the targets that come before it in the order, never its own "
                  "content (that is what it must predict)"),
        Test("8 positions, 3 predicted, each target in turn",
             lambda fn: [_visible_case([6, 2, 7, 0, 5, 1, 4, 3], 3, t)(fn) for t in (1, 4, 3)], points=2,
             hint="positions, not places in the order: 'target 4' is the token at position 4; the answer lists "
                  "positions in increasing order"),
    ),
)

# ---- 11.memory_ppl -----------------------------------------------------------------------------


def _tiny_txl(seed: int, mem_len: int):
    import torch

    from ptm_course.models.transformer_xl import TransformerXL, TransformerXLConfig

    # init_std 0.2, not the training default 0.02: at 0.02 the attention is so flat that the memory moves the
    # perplexity by < 1e-4 and an answer that never passes the mems would pass; at 0.2 it moves it by 2–20 %
    torch.manual_seed(seed)
    return TransformerXL(TransformerXLConfig.tiny(vocab_size=40, mem_len=mem_len, init_std=0.2)).eval()


def _memory_case(seed: int, mem_len: int, n_tokens: int, seg_len: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import math

        import torch

        from ptm_course.models.transformer_xl import evaluate_with_memory

        model = _tiny_txl(seed, mem_len)
        ids = torch.randint(0, 40, (n_tokens,), generator=torch.Generator().manual_seed(seed))
        want = (math.exp(evaluate_with_memory(model, ids, seg_len, mem_len=0, batch_size=1)),
                math.exp(evaluate_with_memory(model, ids, seg_len, batch_size=1)))
        call = (f"perplexity_with_and_without_memory(<tiny Transformer-XL, mem_len={mem_len}>, "
                f"<{n_tokens} token ids>, seg_len={seg_len})")
        got = fn(model, ids.clone(), seg_len)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (without, with), got {type(got).__name__}", call=call,
                           expected=str(want), got=short_repr(got))
        if model.config.mem_len != mem_len:
            raise Mismatch(f"the model's mem_len was left at {model.config.mem_len}: put it back to {mem_len}", call=call)
        expect(got[0], want[0], call=call + "[0] (without memory)", compare=approx(rel=1e-4))
        expect(got[1], want[1], call=call + "[1] (with memory)", compare=approx(rel=1e-4))

    return test


MEMORY_PPL = Question(
    "11.memory_ppl",
    "perplexity_with_and_without_memory",
    "Measuring what the memory buys",
    tests=(
        Test("64 tokens in segments of 8, mem_len 8", _memory_case(0, 8, 65, 8), points=1,
             hint="read the stream in order: segment s is ids[s·seg_len : (s+1)·seg_len] and its targets the same "
                  "slice shifted by one; pass the mems the model returned for the previous segment into the next "
                  "call, and start with mems=None. Without memory, every segment starts with mems=None"),
        Test("a last segment shorter than the others: a mean over tokens", _memory_case(1, 12, 50, 8), points=2,
             hint="perplexity = exp(total NLL / number of predicted tokens): the mean over all tokens, not the mean "
                  "of the segments' means (the last segment holds fewer tokens); use the natural log "
                  "(cross_entropy with reduction='sum')"),
        Test("mem_len 4 < seg_len 6: the model's own memory length", _memory_case(2, 4, 61, 6), points=1,
             hint="'with memory' uses the model's own config.mem_len; for 'without', a memory of 0 (set "
                  "model.config.mem_len = 0, or never pass the mems) — and leave the model's mem_len as you found it"),
    ),
)

EXERCISE = Exercise("11", "rel_shift, XLNet's masks from an order, what a target sees, what the memory buys",
                    (SHIFT, MASKS, VISIBLE, MEMORY_PPL))

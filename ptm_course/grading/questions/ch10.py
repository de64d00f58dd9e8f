"""Exercise 10: causal attention, one KV-cache step, nucleus sampling, GPT's size, BPE.

Notebook: ``exercises/10_gpt_exercises.ipynb`` (master: ``solutions/``). Six questions:

- ``10.causal_attention`` — ``causal_attention(q, k, v)``: softmax(QKᵀ/√d + M)·V with M = −∞ above
  the diagonal; compared with :func:`ptm_course.models.transformer.attention_reference` and
  :func:`~ptm_course.models.transformer.causal_mask`;
- ``10.cached_step`` — ``attend_new_token(q_new, k_cache, v_cache, k_new, v_new)``: one new token
  attends over the cached keys and values plus its own; compared with the last row of full causal
  attention over the whole sequence (what the KV cache must reproduce);
- ``10.top_p`` — ``top_p_filter(logits, p)``: the nucleus filter; compared with
  :func:`ptm_course.models.generation.top_p_filter`;
- ``10.param_count`` — ``gpt_params(vocab_size, max_len, d_model, n_layers, d_ff)``: the parameters
  of a GPT-2-layout model with a tied head; compared with :func:`ptm_course.models.gpt.gpt_param_count`
  and with a real :class:`~ptm_course.models.gpt.GPT`;
- ``10.tokens_per_char`` — ``tokens_per_character(tokenizer, texts)``: a measurement, total tokens
  over total characters; graded with byte-level BPE tokenizers trained on the spot by
  :func:`ptm_course.data.bpe.train_bpe`, so no prepared data is needed;
- ``10.bpe_merge`` — ``bpe_merge_step(ids, new_id)``: one step of BPE training, the most frequent
  adjacent pair (ties: the smallest pair) and the ids with it merged; compared with
  :func:`ptm_course.data.bpe.get_stats` and :func:`~ptm_course.data.bpe.merge`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from ..core import Exercise, Mismatch, Question, Test, expect, expect_tensor

__all__ = ["EXERCISE"]


def _randn(shape: tuple[int, ...], seed: int):
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---- 10.causal_attention ----------------------------------------------------------------------


def _causal_case(shape: tuple[int, ...], seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.models.transformer import attention_reference, causal_mask

        q, k, v = (_randn(shape, seed + i) for i in range(3))
        T = shape[-2]
        expected = attention_reference(q, k, v, causal_mask(T))
        expect_tensor(fn(q.clone(), k.clone(), v.clone()), expected,
                      f"causal_attention(q, k, v of shape {shape})")

    return test


CAUSAL_ATTENTION = Question(
    "10.causal_attention",
    "causal_attention",
    "Causal (masked) self-attention",
    tests=(
        Test("one sequence, q of shape (T, d) = (4, 8)", _causal_case((4, 8), 0), points=1,
             hint="the scores are the dot products of every query with every key over the LAST dimension, "
                  "a (T, T) table; transpose only the last two dimensions of k, so the same code works with "
                  "or without batch and head dimensions in front"),
        Test("batch and heads (B, nh, T, d) = (2, 3, 5, 4): token t sees only tokens ≤ t",
             _causal_case((2, 3, 5, 4), 1), points=2,
             hint="row i of the score table is query i, column j is key j: the future keys are the entries "
                  "ABOVE the diagonal (j > i); they get −∞ before the softmax, and the softmax runs over the "
                  "keys (the last dimension), not over the queries"),
        Test("scaled by √d, d = 16, T = 7", _causal_case((3, 7, 16), 2), points=1,
             hint="divide the scores by the square root of d, the size of the last dimension of q "
                  "(the head size), not by T"),
    ),
)

# ---- 10.cached_step ----------------------------------------------------------------------------


def _full_causal(B: int, nh: int, T: int, d: int, seed: int):
    from ptm_course.models.transformer import attention_reference, causal_mask

    q, k, v = (_randn((B, nh, T, d), seed + i) for i in range(3))
    return q, k, v, attention_reference(q, k, v, causal_mask(T))


def _step_case(B: int, nh: int, P: int, d: int, seed: int) -> Callable[[Callable], None]:
    """The new token is position P of a sequence of P + 1: its output is the last row of full attention."""

    def test(fn: Callable) -> None:
        q, k, v, full = _full_causal(B, nh, P + 1, d, seed)
        call = (f"attend_new_token(q_new ({B}, {nh}, 1, {d}), k_cache, v_cache ({B}, {nh}, {P}, {d}), "
                f"k_new, v_new ({B}, {nh}, 1, {d}))")
        got = fn(q[:, :, P:].clone(), k[:, :, :P].clone(), v[:, :, :P].clone(), k[:, :, P:].clone(), v[:, :, P:].clone())
        expect_tensor(got, full[:, :, P:], call + "  [vs the last row of full causal attention]")

    return test


def _generation_case(fn: Callable) -> None:
    """A prompt of 3 tokens, then 5 generation steps, each checked against full attention."""
    B, nh, T, d = 2, 4, 8, 16
    q, k, v, full = _full_causal(B, nh, T, d, 20)
    for t in range(3, T):
        call = (f"step {t - 2} of generation: attend_new_token(q[:, :, {t}:{t + 1}], k[:, :, :{t}], v[:, :, :{t}], "
                f"k[:, :, {t}:{t + 1}], v[:, :, {t}:{t + 1}]) with (B, nh, d) = ({B}, {nh}, {d})")
        got = fn(q[:, :, t:t + 1].clone(), k[:, :, :t].clone(), v[:, :, :t].clone(),
                 k[:, :, t:t + 1].clone(), v[:, :, t:t + 1].clone())
        expect_tensor(got, full[:, :, t:t + 1], call)


CACHED_STEP = Question(
    "10.cached_step",
    "attend_new_token",
    "One KV-cache step equals recomputing",
    tests=(
        Test("empty cache: the first token attends only to itself", _step_case(1, 2, 0, 8, 10), points=1,
             hint="the new token's own key and value must be among the keys it attends to: add them to the "
                  "cache along the sequence dimension (dim 2) first; with an empty cache (length 0 on dim 2) "
                  "the output is then v_new"),
        Test("5 cached tokens: equals the last row of full causal attention", _step_case(2, 3, 5, 4, 11), points=2,
             hint="the new token is the LAST position, so every cached key is in its past: it attends to all "
                  "P + 1 keys with no mask at all. Do not pass is_causal=True to scaled_dot_product_attention "
                  "here: with 1 query and P + 1 keys its triangle is aligned to the top left, so the query "
                  "would see only key 0 (the oldest cached token) and return its value"),
        Test("a prompt of 3 tokens, then 5 generation steps, d = 16", _generation_case, points=1,
             hint="return a (B, nh, 1, d) tensor, one row for the one new query; scale the scores by the square "
                  "root of the head size d, as in full attention"),
    ),
)

# ---- 10.top_p ----------------------------------------------------------------------------------


def _expect_filtered(got: Any, logits, expected, call: str) -> None:
    import torch

    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"wrong return type: expected a torch.Tensor, got {type(got).__name__}", call=call,
                       expected=f"tensor of shape {tuple(expected.shape)}", got=repr(got)[:200])
    if got.shape != expected.shape:
        raise Mismatch(f"wrong shape: expected {tuple(expected.shape)} (the same shape as logits), "
                       f"got {tuple(got.shape)}", call=call)
    if torch.isnan(got).any():
        raise Mismatch("the result contains NaN", call=call)
    keep_e, keep_g = expected > float("-inf"), got > float("-inf")
    for row in range(expected.size(0)):
        e = keep_e[row].nonzero().flatten().tolist()
        g = keep_g[row].nonzero().flatten().tolist()
        if e != g:
            raise Mismatch(f"row {row}: wrong tokens kept (indices in vocabulary order)", call=call,
                           expected=f"keep {e}", got=f"keep {g}")
    if not torch.allclose(got[keep_g].double(), logits[keep_g].double(), atol=1e-6, rtol=1e-6):
        raise Mismatch("the kept logits must be the input's, unchanged and in vocabulary order (only the others become −inf)", call=call,
                       expected=str(logits[keep_e][:8].tolist()), got=str(got[keep_g][:8].tolist()))


def _top_p_case(make_logits: Callable[[], Any], ps: tuple[float, ...], what: str) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.models.generation import top_p_filter

        logits = make_logits()
        for p in ps:
            expected = top_p_filter(logits.clone(), p)
            got = fn(logits.clone(), p)
            _expect_filtered(got, logits, expected, f"top_p_filter({what}, p={p:g})")

    return test


def _example_logits():
    import torch

    return torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))


def _unsorted_logits():
    return _randn((4, 12), 30) * 2.0


def _small_logits():
    return _randn((3, 8), 31)


TOP_P = Question(
    "10.top_p",
    "top_p_filter",
    "Nucleus (top-p) filtering",
    tests=(
        Test("probabilities [0.5, 0.3, 0.15, 0.05]: the token that crosses p is kept",
             _top_p_case(_example_logits, (0.6, 0.85), "log([[0.5, 0.3, 0.15, 0.05]])"), points=1,
             hint="walk down the tokens from the most likely; a token is kept while the probability of the "
                  "tokens ranked ABOVE it is still below p. With p = 0.6 that keeps 0.5 AND 0.3: stopping when "
                  "the running sum including the token reaches p drops the token that crosses p"),
        Test("unsorted logits, a batch of 4 rows, p = 0.9 and 0.5",
             _top_p_case(_unsorted_logits, (0.9, 0.5), "logits (4, 12) in vocabulary order"), points=2,
             hint="sort each row along the last dimension (descending) to decide which tokens to keep, then put "
                  "that decision back at each token's ORIGINAL position, using the order the sort returned; "
                  "the result is in vocabulary order, like the input, and the probabilities come from a "
                  "softmax over each row"),
        Test("p = 1.0 keeps every token; a tiny p keeps only the most likely one",
             _top_p_case(_small_logits, (1.0, 1e-3), "logits (3, 8)"), points=1,
             hint="the most likely token of every row always stays, even when its probability alone exceeds p; "
                  "with p = 1.0 no token is removed"),
    ),
)

# ---- 10.param_count ----------------------------------------------------------------------------


def _params_case(V: int, max_len: int, d: int, L: int, d_ff: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.models.gpt import GPTConfig, gpt_param_count

        cfg = GPTConfig(vocab_size=V, max_len=max_len, d_model=d, n_layers=L, n_heads=1, d_ff=d_ff)
        call = f"gpt_params(vocab_size={V}, max_len={max_len}, d_model={d}, n_layers={L}, d_ff={d_ff})"
        expect(fn(V, max_len, d, L, d_ff), gpt_param_count(cfg), call=call)

    return test


def _real_gpt_case(fn: Callable) -> None:
    from ptm_course.models.gpt import GPT, GPTConfig

    V, max_len, d, L, d_ff = 50, 16, 8, 3, 20
    model = GPT(GPTConfig(vocab_size=V, max_len=max_len, d_model=d, n_layers=L, n_heads=2, d_ff=d_ff))
    n = sum(p.numel() for p in model.parameters())  # the tied head is one shared tensor, counted once
    call = f"gpt_params(vocab_size={V}, max_len={max_len}, d_model={d}, n_layers={L}, d_ff={d_ff})"
    expect(fn(V, max_len, d, L, d_ff), n, call=call + "  [vs sum(p.numel() for p in GPT(...).parameters())]")


PARAM_COUNT = Question(
    "10.param_count",
    "gpt_params",
    "Counting GPT-2's parameters",
    tests=(
        Test("one layer, tiny sizes (V = 10, max_len = 4, d = 2, d_ff = 8)", _params_case(10, 4, 2, 1, 8), points=1,
             hint="list the tensors of one block: W_Q, W_K, W_V, W_O (d × d each, with a bias of d each), the two "
                  "feed-forward matrices (d × d_ff and d_ff × d, with biases of d_ff and d), and two LayerNorms "
                  "(a weight and a bias of d each); add the token and position embeddings; return an int"),
        Test("GPT-2 small: 124,439,808", _params_case(50257, 1024, 768, 12, 3072), points=2,
             hint="the output layer is tied to the token embedding (the same matrix), so it adds nothing; "
                  "positions are learned (max_len × d); GPT-2 adds one final LayerNorm after the last block "
                  "(2·d)"),
        Test("d_ff ≠ 4·d, three layers: equals the parameters of a real GPT", _real_gpt_case, points=1,
             hint="use the d_ff argument rather than 4·d, and count every layer: n_layers times the per-layer "
                  "count"),
    ),
)

# ---- 10.tokens_per_char ------------------------------------------------------------------------

_TOY_CORPUS = ("the lower the newer, the lowest the newest; low and lower and lowest",
               "a newer low, a lower new, the widest and the wider")


@lru_cache(maxsize=None)
def _byte_tokenizer():
    """A byte-level BPE with no merges: every UTF-8 byte is one token."""
    from ptm_course.data.bpe import train_bpe

    return train_bpe(["abc"], vocab_size=257)


@lru_cache(maxsize=None)
def _toy_tokenizer():
    """A byte-level BPE with 23 merges learnt from a few English sentences."""
    from ptm_course.data.bpe import train_bpe

    return train_bpe(list(_TOY_CORPUS) * 4, vocab_size=280)


def _tpc_case(make_tok: Callable[[], Any], texts: tuple[str, ...], what: str) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ..core import approx

        tok = make_tok()
        expected = sum(len(tok.encode(t).ids) for t in texts) / sum(len(t) for t in texts)
        call = f"tokens_per_character({what}, {list(texts)!r})"
        expect(fn(tok, list(texts)), expected, call=call, compare=approx(rel=1e-9))

    return test


TOKENS_PER_CHAR = Question(
    "10.tokens_per_char",
    "tokens_per_character",
    "Measuring tokens per character",
    tests=(
        Test("no merges: one token per UTF-8 byte ('é' is 2 bytes)",
             _tpc_case(_byte_tokenizer, ("hello", "café"), "<byte-level BPE without merges>"), points=1,
             hint="the tokens of a text are the ids of its encoding; its characters are the length of the "
                  "Python string, not of its UTF-8 bytes: 'café' is 4 characters (5 bytes, so 5 tokens here)"),
        Test("texts of very different lengths: total tokens / total characters",
             _tpc_case(_toy_tokenizer, ("the", "the lower the newer, the lowest the newest and the widest", "a"),
                       "<a small trained BPE>"), points=2,
             hint="add up the tokens of all texts and divide by all their characters together; the mean of the "
                  "per-text ratios would weigh a one-letter text as much as a whole sentence"),
        Test("each text encoded on its own; Chinese and an emoji",
             _tpc_case(_toy_tokenizer, ("low", "est", "the", "new", "er", "東京 🙂"), "<a small trained BPE>"),
             points=1,
             hint="encode every text separately: gluing them together first lets tokens merge across the "
                  "boundary ('low' + 'est'); a Chinese character is 3 UTF-8 bytes and an emoji 4, so they cost "
                  "several byte-level tokens each but still count as one character"),
    ),
)

# ---- 10.bpe_merge ------------------------------------------------------------------------------


def _reference_merge_step(ids: list[int], new_id: int) -> tuple[tuple[int, int], list[int]]:
    from ptm_course.data.bpe import get_stats, merge

    stats = get_stats(ids)
    best = max(stats.values())
    pair = min(p for p, c in stats.items() if c == best)  # ties: the smallest (left, right)
    return pair, merge(ids, pair, new_id)


def _merge_case(ids: list[int], new_id: int, what: str = "") -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        pair, merged = _reference_merge_step(list(ids), new_id)
        call = f"bpe_merge_step({what or ids}, new_id={new_id})"
        got = fn(list(ids), new_id)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (pair, new_ids), got {type(got).__name__}",
                           call=call, expected=str((pair, merged))[:300], got=repr(got)[:200])
        try:
            got_pair = tuple(int(x) for x in got[0])
            got_ids = [int(x) for x in got[1]]
        except (TypeError, ValueError):
            raise Mismatch("the pair must be two ints and new_ids a list of ints", call=call,
                           expected=str((pair, merged))[:300], got=repr(got)[:200]) from None
        if got_pair != pair:
            raise Mismatch("wrong pair merged", call=call, expected=str(pair), got=str(got_pair))
        expect(got_ids, merged, call=call + "[1] (the ids after the merge)")

    return test


def _random_ids() -> list[int]:
    import random

    rng = random.Random(7)
    return [rng.choice([3, 5, 8, 13]) for _ in range(60)]


def _random_merge_case(fn: Callable) -> None:
    _merge_case(_random_ids(), 256, "<60 ids drawn from {3, 5, 8, 13}>")(fn)


BPE_MERGE = Question(
    "10.bpe_merge",
    "bpe_merge_step",
    "One step of BPE training",
    tests=(
        Test("a clear winner: [1, 2, 3, 1, 2]", _merge_case([1, 2, 3, 1, 2], 4), points=1,
             hint="count every adjacent pair (ids[i], ids[i+1]); the pair that occurs most often is merged, "
                  "every occurrence of it becomes the one new id"),
        Test("overlapping pairs: 7 7 7 counts (7, 7) twice and merges left to right",
             _merge_case([7, 7, 7, 3, 7, 7], 8), points=1,
             hint="overlapping occurrences all count (7 7 7 holds the pair twice), but the merge scans left "
                  "to right and, after replacing a pair, continues AFTER its second symbol: 7 7 7 becomes 8 7"),
        Test("ties: the smallest pair wins (left id first, then right id)",
             _merge_case([9, 8, 1, 2, 9, 8, 1, 2], 10), points=1,
             hint="(9, 8), (8, 1) and (1, 2) all occur twice: take the smallest pair, comparing left ids first, "
                  "then right ids, as the `tokenizers` trainer does; the pair seen first in the text, which "
                  "max over a dict of counts returns, is not the rule here"),
        Test("60 random ids from a small alphabet", _random_merge_case, points=1,
             hint="return a tuple (pair, new_ids): the pair as a tuple of two ints, new_ids as a list that is "
                  "shorter by the number of non-overlapping occurrences merged"),
    ),
)

EXERCISE = Exercise("10", "Causal attention, the KV cache, top-p, GPT's size, BPE",
                    (CAUSAL_ATTENTION, CACHED_STEP, TOP_P, PARAM_COUNT, TOKENS_PER_CHAR, BPE_MERGE))

"""Exercise 02: word2vec's tables and losses, written by hand.

Notebook: ``exercises/02_word2vec_exercises.ipynb`` (master: ``solutions/``). Five questions:

- ``02.huffman`` — ``huffman_codes(counts)``: the binary code and the inner nodes (root first)
  of every word, with gensim's heap and tie-breaking; compared with
  :func:`ptm_course.embeddings.word2vec.huffman_tree`;
- ``02.keep`` — ``keep_prob(counts, sample)``: word2vec.c's subsampling probability
  (√(c/(s·N)) + 1)·(s·N/c), capped at 1; compared with ``keep_probability``;
- ``02.noise`` — ``noise_distribution(counts, power)``: the unigram^0.75 distribution the
  negatives are drawn from;
- ``02.ns_loss`` — ``ns_loss(h, v_pos, v_neg)``: −log σ(v_o·h) − Σ_k log σ(−v_k·h) per example;
  compared with ``negative_sampling_loss``;
- ``02.ns_grads`` — ``ns_grads(h, v_pos, v_neg)``: the gradients of that loss with respect to the
  centre vector, the true context vector and the negatives, written by hand (the CS224n
  exercise); compared with autograd;
- ``02.reflection`` — an open question on hierarchical softmax against negative sampling.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test

__all__ = ["EXERCISE"]


def _as_float_list(got: Any) -> list[float] | None:
    try:
        import numpy as np

        arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
    except Exception:
        return None
    return arr.tolist() if arr.ndim == 1 else None


def _expect_floats(got: Any, expected: list[float], call: str, rel: float = 1e-6, abs_: float = 1e-9) -> None:
    values = _as_float_list(got)
    shown = [round(v, 6) for v in expected]
    if values is None:
        raise Mismatch(f"wrong return type: expected a 1-D list, array or tensor of {len(expected)} numbers, "
                       f"got {type(got).__name__}", call=call, expected=str(shown), got=repr(got)[:200])
    if len(values) != len(expected):
        raise Mismatch(f"expected {len(expected)} numbers, got {len(values)}", call=call,
                       expected=str(shown), got=str([round(v, 6) for v in values]))
    for i, (g, e) in enumerate(zip(values, expected)):
        if not abs(g - e) <= max(rel * abs(e), abs_):
            raise Mismatch(f"wrong value at index {i}: expected {e:.6g}, got {g:.6g}", call=call,
                           expected=str(shown), got=str([round(v, 6) for v in values]))


# ---- 02.huffman -----------------------------------------------------------------------------


def _huffman_case(counts: list[int]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.embeddings.word2vec import huffman_tree

        tree = huffman_tree(counts)
        codes = [[int(v) for v in c] for c in tree.codes]
        points = [[int(v) for v in p] for p in tree.points]
        call = f"huffman_codes({counts})"
        out = fn(list(counts))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (codes, points), got {type(out).__name__}", call=call)
        for name, got, exp in (("codes", out[0], codes), ("points", out[1], points)):
            try:
                got = [[int(v) for v in row] for row in got]
            except TypeError:
                raise Mismatch(f"{name} must be a list of lists of ints", call=call, expected=str(exp),
                               got=repr(got)[:200]) from None
            if len(got) != len(exp):
                raise Mismatch(f"{name}: expected one entry per word ({len(exp)}), got {len(got)}", call=call,
                               expected=str(exp), got=str(got))
            for w, (g, e) in enumerate(zip(got, exp)):
                if g != e:
                    raise Mismatch(f"{name} of word {w} (count {counts[w]}): expected {e}, got {g}", call=call,
                                   expected=str(exp), got=str(got))

    return test


HUFFMAN = Question(
    "02.huffman",
    "huffman_codes",
    "Huffman codes and inner nodes",
    tests=(
        Test("four words with distinct counts", _huffman_case([5, 3, 2, 1]), points=1,
             hint="merge the two rarest nodes until one is left; the first node popped is the left child "
                  "(code 0), the second the right child (code 1)"),
        Test("the inner nodes on the path, root first", _huffman_case([40, 22, 12, 7, 2]), points=1,
             hint="the i-th merge creates inner node i (0, 1, …, V−2), so the root is V−2; "
                  "points[w] lists the inner nodes from the root down to w's parent"),
        Test("eight words, frequent words get short codes", _huffman_case([90, 50, 31, 17, 9, 5, 3, 1]), points=1,
             hint="walk down from the root with a stack, appending 0 for the left and 1 for the right child"),
        Test("ties: equal counts break like gensim", _huffman_case([4, 4, 2, 2, 2, 1, 1]), points=1,
             hint="use heapq on nodes compared by count ONLY (a small class with __lt__ comparing counts): "
                  "heapify the leaves in word order, push each new node; tuples (count, id) break ties differently"),
    ),
)

# ---- 02.keep --------------------------------------------------------------------------------


def _keep_case(counts: list[int], sample: float) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import numpy as np

        from ptm_course.embeddings.word2vec import keep_probability

        expected = keep_probability(np.array(counts), sample).tolist()
        _expect_floats(fn(list(counts), sample), expected, f"keep_prob({counts}, sample={sample:g})")

    return test


def _keep_random(fn: Callable) -> None:
    import numpy as np

    from ptm_course.embeddings.word2vec import keep_probability

    counts = sorted(np.random.default_rng(0).zipf(1.3, size=30).clip(1, 10**6).tolist(), reverse=True)
    expected = keep_probability(np.array(counts), 1e-3).tolist()
    _expect_floats(fn(list(counts), 1e-3), expected, "keep_prob(<30 Zipf counts>, sample=0.001)")


KEEP = Question(
    "02.keep",
    "keep_prob",
    "Subsampling frequent words",
    tests=(
        Test("three words, sample = 0.01", _keep_case([1000, 100, 10], 0.01), points=1,
             hint="with N = sum(counts) and t = sample·N: keep = (sqrt(c / t) + 1) · t / c"),
        Test("rare words are always kept (capped at 1)", _keep_case([5, 3, 2, 1], 0.2), points=1,
             hint="the formula exceeds 1 for rare words: take min(keep, 1.0)"),
        Test("sample = 0 switches subsampling off", _keep_case([7, 7, 1], 0.0), points=1,
             hint="with sample = 0 every word is kept: return 1.0 for every word (and do not divide by 0)"),
        Test("30 Zipf-distributed counts, sample = 1e-3", _keep_random, points=1,
             hint="compute N once over ALL counts, not per word; return one probability per word"),
    ),
)

# ---- 02.noise -------------------------------------------------------------------------------


def _noise_case(counts: list[int], power: float, expected: list[float] | None = None) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        exp = expected
        if exp is None:
            weights = [c**power for c in counts]
            exp = [w / sum(weights) for w in weights]
        _expect_floats(fn(list(counts), power), exp, f"noise_distribution({counts}, power={power:g})", rel=1e-5)

    return test


NOISE = Question(
    "02.noise",
    "noise_distribution",
    "The unigram^0.75 noise distribution",
    tests=(
        Test("[16, 1, 1] with power 0.75 gives [0.8, 0.1, 0.1]", _noise_case([16, 1, 1], 0.75, [0.8, 0.1, 0.1]),
             points=1, hint="P(w) = c_w^0.75 / Σ_v c_v^0.75; 16^0.75 = 8"),
        Test("power 1 is the unigram distribution, power 0 the uniform one",
             lambda fn: (_noise_case([6, 3, 1], 1.0, [0.6, 0.3, 0.1])(fn), _noise_case([6, 3, 1], 0.0, [1 / 3] * 3)(fn)),
             points=1, hint="raise each count to `power` (use the argument, not a fixed 0.75), then normalise"),
        Test("Zipf-like counts: rare words get more than their share", _noise_case([1000, 300, 100, 30, 10, 3, 1], 0.75),
             points=1, hint="return one probability per word, in the order of counts, summing to 1"),
    ),
)

# ---- 02.ns_loss -----------------------------------------------------------------------------


def _ns_case(B: int, K: int, d: int, seed: int, scale: float) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.embeddings.word2vec import negative_sampling_loss

        g = torch.Generator().manual_seed(seed)
        h = torch.randn(B, d, generator=g) * scale
        v_pos = torch.randn(B, d, generator=g) * scale
        v_neg = torch.randn(B, K, d, generator=g) * scale
        expected = negative_sampling_loss(h.double(), v_pos.double(), v_neg.double())
        call = f"ns_loss(h ({B}, {d}), v_pos ({B}, {d}), v_neg ({B}, {K}, {d}))"
        if scale != 1:
            call += f"  [entries × {scale:g}]"
        got = fn(h.clone(), v_pos.clone(), v_neg.clone())
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"wrong return type: expected a torch.Tensor of shape ({B},), got {type(got).__name__}",
                           call=call, got=repr(got)[:200])
        if got.shape != expected.shape:
            raise Mismatch(f"wrong shape: expected ({B},) (one loss per example), got {tuple(got.shape)}", call=call,
                           expected=str(tuple(expected.shape)), got=str(tuple(got.shape)))
        if not torch.isfinite(got).all():
            raise Mismatch("the loss contains inf or NaN", call=call, expected=str(expected.tolist()),
                           got=str(got.tolist()))
        if not torch.allclose(got.double(), expected, rtol=1e-4, atol=1e-4):
            raise Mismatch("values differ", call=call, expected=str([round(v, 5) for v in expected.tolist()]),
                           got=str([round(v, 5) for v in got.double().tolist()]))

    return test


NS_LOSS = Question(
    "02.ns_loss",
    "ns_loss",
    "The negative-sampling loss",
    tests=(
        Test("one negative per example", _ns_case(4, 1, 5, 0, 1.0), points=1,
             hint="loss = −log σ(h·v_pos) − Σ_k log σ(−h·v_neg[k]); h·v_pos is (h * v_pos).sum(-1)"),
        Test("five negatives per example", _ns_case(6, 5, 8, 1, 1.0), points=2,
             hint="the dot products with the negatives: (v_neg @ h.unsqueeze(-1)).squeeze(-1) is (B, K); "
                  "sum over K, keep B"),
        Test("large dot products: no inf", _ns_case(3, 4, 16, 2, 8.0), points=1,
             hint="torch.log(torch.sigmoid(z)) is −inf once σ(z) rounds to 0: use F.logsigmoid(z)"),
    ),
)

# ---- 02.ns_grads ----------------------------------------------------------------------------

_GRAD_NAMES = ("grad_h", "grad_pos", "grad_neg")


def _grads_case(B: int, K: int, d: int, seed: int, scale: float, check: tuple[str, ...]) -> Callable[[Callable], None]:
    """Compare the named entries of ``ns_grads``'s answer with autograd's gradients of Σ_b ℓ_b."""

    def test(fn: Callable) -> None:
        import torch

        from ptm_course.embeddings.word2vec import negative_sampling_loss

        g = torch.Generator().manual_seed(seed)
        h = torch.randn(B, d, generator=g, dtype=torch.float64) * scale
        v_pos = torch.randn(B, d, generator=g, dtype=torch.float64) * scale
        v_neg = torch.randn(B, K, d, generator=g, dtype=torch.float64) * scale
        leaves = [t.clone().requires_grad_(True) for t in (h, v_pos, v_neg)]
        negative_sampling_loss(*leaves).sum().backward()
        expected = dict(zip(_GRAD_NAMES, (t.grad for t in leaves)))
        call = f"ns_grads(h ({B}, {d}), v_pos ({B}, {d}), v_neg ({B}, {K}, {d}))"
        if scale != 1:
            call += f"  [entries × {scale:g}]"
        with torch.no_grad():
            out = fn(h.clone(), v_pos.clone(), v_neg.clone())
        if not (isinstance(out, tuple) and len(out) == 3):
            raise Mismatch(f"wrong return type: expected a tuple (grad_h, grad_pos, grad_neg), got {type(out).__name__}",
                           call=call)
        for name, got in zip(_GRAD_NAMES, out):
            if name not in check:
                continue
            exp = expected[name]
            if not isinstance(got, torch.Tensor):
                raise Mismatch(f"{name}: expected a torch.Tensor of shape {tuple(exp.shape)}, got {type(got).__name__}",
                               call=call, got=repr(got)[:200])
            if got.shape != exp.shape:
                raise Mismatch(f"{name}: wrong shape, expected {tuple(exp.shape)}, got {tuple(got.shape)}", call=call)
            if not torch.allclose(got.double(), exp, rtol=1e-4, atol=1e-6):
                flipped = torch.allclose(-got.double(), exp, rtol=1e-4, atol=1e-6)
                raise Mismatch(f"{name} differs from autograd" + (" (it has the opposite sign)" if flipped else ""),
                               call=call, expected=str([round(v, 5) for v in exp.flatten()[:6].tolist()]) + " …",
                               got=str([round(v, 5) for v in got.double().flatten()[:6].tolist()]) + " …")

    return test


NS_GRADS = Question(
    "02.ns_grads",
    "ns_grads",
    "The negative-sampling gradients by hand",
    tests=(
        Test("the true context vector: ∂ℓ/∂v_o", _grads_case(4, 3, 5, 10, 1.0, ("grad_pos",)), points=1,
             hint="d/dx [−log σ(x)] = σ(x) − 1 (negative: the loss falls as the score grows), so "
                  "grad_pos = (torch.sigmoid(s_pos) − 1).unsqueeze(-1) * h with s_pos = (h * v_pos).sum(-1)"),
        Test("the negatives: ∂ℓ/∂v_k", _grads_case(4, 3, 5, 11, 1.0, ("grad_neg",)), points=1,
             hint="d/dx [−log σ(−x)] = σ(x), NOT σ(−x): grad_neg = torch.sigmoid(s_neg).unsqueeze(-1) * "
                  "h.unsqueeze(1) with s_neg = torch.einsum('bkd,bd->bk', v_neg, h), shape (B, K, d)"),
        Test("the centre vector: ∂ℓ/∂h", _grads_case(4, 3, 5, 12, 1.0, ("grad_h",)), points=1,
             hint="h appears in every score: grad_h = (σ(s_pos) − 1)·v_pos + Σ_k σ(s_k)·v_k; the sum over k is "
                  "torch.einsum('bk,bkd->bd', torch.sigmoid(s_neg), v_neg)"),
        Test("all three, five negatives, large scores", _grads_case(6, 5, 16, 13, 3.0, _GRAD_NAMES), points=1,
             hint="return the tuple (grad_h, grad_pos, grad_neg) with the shapes of h, v_pos, v_neg; every "
                  "gradient is of the loss of its own example (the batch's losses are summed)"),
    ),
)

# ---- 02.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "02.reflection",
    "reflection",
    "Hierarchical softmax or negative sampling? (open question)",
    rubric=Rubric((
        Criterion("States the cost per training pair: the full softmax touches all V output vectors, hierarchical "
                  "softmax about log2 V inner nodes (the Huffman path), negative sampling K + 1 vectors.", 2),
        Criterion("Explains why the Huffman tree helps: frequent words get short codes, so the average path "
                  "length is small where most of the training pairs are.", 1),
        Criterion("Explains what subsampling or the 0.75 power does (fewer updates for 'the', rare words drawn "
                  "more often as negatives) and why that helps the vectors.", 1),
    )),
)

EXERCISE = Exercise("02", "Huffman codes, subsampling, negative sampling", (HUFFMAN, KEEP, NOISE, NS_LOSS, NS_GRADS, REFLECTION))
